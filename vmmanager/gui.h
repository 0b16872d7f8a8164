/*
 * The host side of a qube's GUI: when the qube's agent says hello, bulkheadd asks the
 * compositor's control socket for a connector bound to that qube and starts the Wayland proxy's
 * host half with exactly two descriptors, the qube's GUI port (fd 3) and the connector (fd 4).
 * One host half per running qube; it is killed when the qube stops, and a new one starts with
 * the next start. A host half that exits while its qube runs (it refused a hostile stream) stays
 * gone until the qube restarts.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

struct daemon;
struct qube;
struct vm;

/* Whether the qube gets a GUI port: yes unless its feature "gui" is "", "0", "false" or "no". */
bool gui_qube_enabled(const struct qube *q);
/* Where QEMU listens for the qube's GUI port: RUN_DIR/qubes/gui/NAME.sock. */
char *gui_channel_path(struct daemon *d, const char *qube_name);
/* The directory of those sockets, made at start-up like the control channels' one. */
char *gui_channel_dir(struct daemon *d);

/* Logs once at start whether windows of qubes will be shown, and where from. */
void gui_init(struct daemon *d);

/* The compositor of a login session registers its control socket (admin.gui.Register), so that
 * nothing has to be configured: path must be absolute, fit a socket address, and be a socket
 * owned by uid (the caller's: nobody can point bulkheadd at another user's compositor). Refused
 * (-EBUSY) while another compositor is registered or when --gui-control fixed one (-EEXIST);
 * -EINVAL, -ENOENT, -EPERM for a bad path, with *ret_msg saying why. On success every running
 * qube's GUI is (re)started towards it. */
int gui_register(struct daemon *d, const char *path, uid_t uid, char **ret_msg);
/* The registered compositor's connection ended: qubes' windows are not shown until the next
 * registration (their host halves end with the compositor's sockets). */
void gui_unregister(struct daemon *d);
/* The qube's agent said hello: start its host half unless one runs or it gave up this run. */
void gui_qube_ready(struct daemon *d, struct vm *vm);
/* The qube stopped: kill its host half and forget the give-up, so the next start starts anew. */
void gui_qube_stopped(struct daemon *d, struct vm *vm);
/* The vm goes away (qube removed, daemon exit): like stopped, and frees the state. */
void gui_vm_free(struct daemon *d, struct vm *vm);
