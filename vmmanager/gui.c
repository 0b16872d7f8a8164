/*
 * One Wayland proxy host half per running qube (see gui.h). The compositor is asked for the
 * qube's connector asynchronously, so a slow or hung compositor never stalls the daemon; the
 * child is watched through a pidfd, so it is reaped by its own pid and never confused with the
 * other programs bulkheadd waits for (spawn_wait, template builds).
 */
#include "gui.h"

#include <fcntl.h>
#include <stdarg.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "audio.h"
#include "daemon.h"
#include "host-proc.h"
#include "log.h"
#include "qchan.h"
#include "qube.h"
#include "util.h"

#define GUI_RETRY_MS	 3000
#define GUI_FD_PORT	 3
#define GUI_FD_CONNECTOR 4

struct gui_host {
	struct vm *vm;
	int timer;		       /* retry; -1 when none */
	struct compositor_request req; /* a pending `connector` request */
	struct host_proc proc;	       /* the running host half */
	bool given_up; /* exited or could not start: not again until the qube restarts */
	bool warned;   /* the compositor's absence was logged once for this run */
	bool no_port_logged;
	unsigned session;   /* d->gui_session when the running host half started */
	uint64_t exited_ms; /* when the last host half exited (monotonic), 0: none yet */
};

bool gui_qube_enabled(const struct qube *q)
{
	const char *v = qube_feature_get(q, "gui");
	if (!v)
		return true;
	return !(streq(v, "") || streq(v, "0") || strcasecmp(v, "false") == 0 ||
		 strcasecmp(v, "no") == 0);
}

char *gui_channel_dir(struct daemon *d)
{
	return xasprintf("%s/qubes/gui", d->run_dir);
}

/* A directory of its own: NAME.gui.sock beside the control sockets could be qube NAME.gui's. */
char *gui_channel_path(struct daemon *d, const char *qube_name)
{
	return xasprintf("%s/qubes/gui/%s.sock", d->run_dir, qube_name);
}

void gui_init(struct daemon *d)
{
	if (!d->gui_control) {
		log_info("qubes' windows are shown once a compositor registers (or start with "
			 "--gui-control)");
		return;
	}
	if (access(d->wayland_proxy, X_OK) < 0) {
		int err = errno;
		log_warn("the Wayland proxy %s is not executable (%s); qubes' windows cannot be "
			 "shown (set --wayland-proxy or $BULKHEAD_WAYLAND_PROXY)",
			 d->wayland_proxy, strerror(err));
	}
	log_info("qubes' windows go to the compositor at %s", d->gui_control);
}

static void proc_exited(struct host_proc *p, const siginfo_t *si, const char *how);
static void connector_done(struct compositor_request *r, int fd, const char *error);

static struct gui_host *gui_get(struct vm *vm)
{
	if (!vm->gui) {
		struct gui_host *g = xcalloc(1, sizeof(*g));
		g->vm = vm;
		g->timer = -1;
		compositor_request_init(&g->req, connector_done);
		host_proc_init(&g->proc, vm, "gui", "its GUI proxy", proc_exited);
		vm->gui = g;
	}
	return vm->gui;
}

static void timer_clear(struct gui_host *g)
{
	if (g->timer >= 0) {
		virEventRemoveTimeout(g->timer);
		g->timer = -1;
	}
}

static void request_clear(struct gui_host *g)
{
	compositor_request_cancel(&g->req);
}

static bool qube_up(const struct vm *vm)
{
	return vm->state == VM_RUNNING || vm->state == VM_PAUSED;
}

static void attempt(struct gui_host *g);

static void retry_fired(int timer, void *opaque)
{
	struct gui_host *g = opaque;
	timer_clear(g);
	request_clear(g);
	if (qube_up(g->vm) && !host_proc_running(&g->proc) && !g->given_up)
		attempt(g);
}

static void retry_later(struct gui_host *g)
{
	timer_clear(g);
	g->timer = virEventAddTimeout(GUI_RETRY_MS, retry_fired, g, NULL);
}

static void proc_exited(struct host_proc *p, const siginfo_t *si, const char *how)
{
	struct gui_host *g = p->vm->gui;
	pid_t pid = si->si_pid;
	struct daemon *d = g->vm->daemon;
	g->exited_ms = monotonic_ms();
	if (qube_up(g->vm) && d->gui_control && g->session != d->gui_session) {
		/* It served a compositor that has gone; a new one registered meanwhile. Not at
		 * once: the qube's guest half of the old link must notice its end and exit first,
		 * or the new host half would read the rest of the old stream. */
		log_info("qube %s: the GUI proxy (pid %d) of the last compositor exited with %s; "
			 "starting one for the new compositor in %d s",
			 g->vm->q->name, (int)pid, how, GUI_RETRY_MS / 1000);
		retry_later(g);
	} else if (qube_up(g->vm)) {
		/* It ended this qube's GUI on purpose (or crashed): a new one would read the same
		 * stream. The qube's next start brings a new host half. */
		log_warn("qube %s: the GUI proxy (pid %d) exited with %s while the qube runs; its "
			 "windows stay closed until it restarts",
			 g->vm->q->name, (int)pid, how);
		g->given_up = true;
	} else {
		log_info("qube %s: the GUI proxy (pid %d) exited with %s", g->vm->q->name, (int)pid,
			 how);
	}
}

/* Takes both descriptors, whatever happens. */
static int spawn_host_half(struct gui_host *g, int port_fd, int connector_fd)
{
	char uid[16];
	snprintf(uid, sizeof(uid), "%u", (unsigned)qchan_qube_uid(g->vm->daemon, g->vm));
	const char *argv[] = {
	    g->vm->daemon->wayland_proxy, "host", "--qube", g->vm->q->name, "--uid", uid, NULL};
	int fds[] = {[GUI_FD_PORT - 3] = port_fd, [GUI_FD_CONNECTOR - 3] = connector_fd};

	int r = host_proc_spawn(&g->proc, argv, fds, ARRAY_SIZE(fds));
	if (r == 0)
		g->session = g->vm->daemon->gui_session;
	return r;
}

/* The compositor gave us a connector: join it with the qube's GUI port in a new host half. */
static void start_with_connector(struct gui_host *g, int connector_fd)
{
	struct daemon *d = g->vm->daemon;
	const char *name = g->vm->q->name;
	_cleanup_free_ char *path = gui_channel_path(d, name);
	int port_fd = -1;

	int r = host_connect_unix(path, &port_fd);
	if (r < 0) {
		closep(&connector_fd);
		if (r == -ENOENT) {
			/* Started with the feature off, or by an older bulkheadd. */
			if (!g->no_port_logged)
				log_info(
				    "qube %s has no GUI port (%s); its windows cannot be shown "
				    "until it restarts",
				    name, path);
			g->no_port_logged = true;
			g->given_up = true;
			return;
		}
		log_warn("qube %s: cannot connect its GUI port %s: %s; retrying", name, path,
			 strerror(-r));
		retry_later(g);
		return;
	}
	/* The host half does its own non-blocking setup; hand both over as blocking sockets. */
	fcntl(port_fd, F_SETFL, 0);
	r = spawn_host_half(g, port_fd, connector_fd);
	if (r < 0) {
		log_error("qube %s: cannot start the GUI proxy %s: %s", name, d->wayland_proxy,
			  strerror(-r));
		g->given_up = true;
		return;
	}
	g->warned = false;
	log_info("qube %s: GUI proxy started (pid %d)", name, (int)g->proc.pid);
}

static void request_failed(struct gui_host *g, const char *msg)
{
	/* Once per run of failures: a compositor that is not up yet is normal for a while. */
	if (!g->warned)
		log_warn("qube %s: %s; retrying every %d s while it runs", g->vm->q->name, msg,
			 GUI_RETRY_MS / 1000);
	else
		log_debug("qube %s: %s", g->vm->q->name, msg);
	g->warned = true;
	retry_later(g);
}

/* The compositor's answer: a connector, or why not. */
static void connector_done(struct compositor_request *r, int fd, const char *error)
{
	struct gui_host *g = (struct gui_host *)((char *)r - offsetof(struct gui_host, req));

	if (fd < 0) {
		request_failed(g, error);
		return;
	}
	timer_clear(g);
	start_with_connector(g, fd);
}

/* Asks the compositor for a connector; the answer arrives in connector_done. */
static void attempt(struct gui_host *g)
{
	struct daemon *d = g->vm->daemon;
	const char *label = qube_label_to_string(g->vm->q->label);
	char req[128];

	if (!d->gui_control)
		return; /* the registered compositor went away */
	timer_clear(g);
	/* Name and label are checked when they are set: no spaces, no newlines. */
	int len = snprintf(req, sizeof(req), "connector %s %s\n", g->vm->q->name, label);
	if (len < 0 || (size_t)len >= sizeof(req)) {
		request_failed(g, "the connector request does not fit");
		return;
	}
	compositor_request_start(&g->req, d->gui_control, req);
}

void gui_qube_ready(struct daemon *d, struct vm *vm)
{
	if (!d->gui_control || !gui_qube_enabled(vm->q))
		return;
	struct gui_host *g = gui_get(vm);
	/* The agent says hello again after a channel reconnect: nothing new for the GUI. */
	if (host_proc_running(&g->proc) || compositor_request_pending(&g->req) || g->timer >= 0 ||
	    g->given_up)
		return;
	attempt(g);
}

int gui_register(struct daemon *d, const char *path, uid_t uid, char **ret_msg)
{
	struct stat st;

	*ret_msg = NULL;
	if (d->gui_control_fixed) {
		*ret_msg =
		    xasprintf("bulkheadd was started with --gui-control %s; qubes' windows go "
			      "there",
			      d->gui_control);
		return -EEXIST;
	}
	bool printable = true;
	for (const char *p = path; *p; p++)
		printable = printable && (unsigned char)*p >= 0x20 && *p != 0x7f;
	if (path[0] != '/' || !printable ||
	    strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		*ret_msg = xstrdup("the control socket must be an absolute path without control "
				   "characters that fits a socket address");
		return -EINVAL;
	}
	if (lstat(path, &st) < 0) {
		int err = errno;
		*ret_msg = xasprintf("%s: %s", path, strerror(err));
		return -err;
	}
	/* Only the compositor's own socket: an API client must not send qubes' windows to a
	 * socket of someone else's. */
	if (!S_ISSOCK(st.st_mode) || st.st_uid != uid) {
		*ret_msg = xasprintf("%s is not a socket owned by the caller (uid %u)", path,
				     (unsigned)uid);
		return -EPERM;
	}
	if (d->gui_control) {
		*ret_msg = xasprintf("another compositor is registered (%s)", d->gui_control);
		return -EBUSY;
	}
	d->gui_control = xstrdup(path);
	d->gui_session++;
	log_info("a compositor registered: qubes' windows go to %s", path);
	for (size_t i = 0; i < d->n_vms; i++) {
		struct vm *vm = d->vms[i];
		/* A new session gets every running qube's windows, those whose proxy ended with the
		 * last compositor too. */
		struct gui_host *g = vm->gui;
		if (g)
			g->given_up = false;
		if (!qube_up(vm) || !qchan_ready(vm))
			continue;
		/* As above: a link that just ended needs its guest half gone first. */
		if (g && !host_proc_running(&g->proc) && g->timer < 0 &&
		    !compositor_request_pending(&g->req) && g->exited_ms &&
		    monotonic_ms() - g->exited_ms < GUI_RETRY_MS)
			retry_later(g);
		else
			gui_qube_ready(d, vm);
	}
	audio_compositor_registered(d);
	return 0;
}

void gui_unregister(struct daemon *d)
{
	if (d->gui_control_fixed || !d->gui_control)
		return;
	log_info("the compositor at %s went away: qubes' windows are not shown until one registers",
		 d->gui_control);
	for (size_t i = 0; i < d->n_vms; i++) {
		struct gui_host *g = d->vms[i]->gui;
		/* Attempts towards the old socket stop; running host halves end with its sockets.
		 */
		if (g && !host_proc_running(&g->proc)) {
			timer_clear(g);
			request_clear(g);
		}
	}
	free(d->gui_control);
	d->gui_control = NULL;
}

void gui_qube_stopped(struct daemon *d, struct vm *vm)
{
	struct gui_host *g = vm->gui;
	if (!g)
		return;
	timer_clear(g);
	request_clear(g);
	host_proc_kill(&g->proc);
	g->given_up = false;
	g->warned = false;
	g->no_port_logged = false;
}

void gui_vm_free(struct daemon *d, struct vm *vm)
{
	gui_qube_stopped(d, vm);
	free(vm->gui);
	vm->gui = NULL;
}
