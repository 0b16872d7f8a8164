/* The host half's engine: one qube's link, its Wayland client connections to the compositor,
 * their shm pools and clipboard pipes. Everything from the link is checked here (wire.h for the
 * messages, the caps of link.h for everything else); a violation on one connection ends that
 * connection only, a violation of the link itself is returned to the caller, which exits.
 * host.c runs it in the sandbox; the fuzz target runs it on given frames. */
#pragma once

#include "link-io.h"

struct host;

/* A new compositor connection for the qube: its fd, or -errno. A failure ends the link
 * (host_handle_frame returns -ENOTCONN): the connector is gone for good. */
typedef int (*host_connect_fn)(void *userdata);

int host_new(const char *qube, int link_fd, host_connect_fn connect, void *userdata,
	     struct host **ret);
void host_free(struct host *h);

/* One frame from the guest half. 0, or a negative errno for a link-level violation or a link
 * that cannot be written: the caller ends the link. */
int host_handle_frame(struct host *h, const struct link_frame *f);

/* Waits up to timeout_ms (-1: no limit) for the link, the compositor connections and pipes,
 * and handles what is ready. 0 to go on, 1 when the link ended, negative errno as
 * host_handle_frame. */
int host_dispatch(struct host *h, int timeout_ms);

/* Open connections, for tests. */
unsigned host_conn_count(const struct host *h);
