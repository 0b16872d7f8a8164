/*
 * One Wayland proxy host half per running qube (see gui.h). The compositor is asked for the
 * qube's connector asynchronously, so a slow or hung compositor never stalls the daemon; the
 * child is watched through a pidfd, so it is reaped by its own pid and never confused with the
 * other programs bulkheadd waits for (spawn_wait, template builds).
 */
#include "gui.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <strings.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "daemon.h"
#include "fd-pass.h"
#include "log.h"
#include "qchan.h"
#include "qube.h"
#include "util.h"

#define GUI_RETRY_MS	  3000
#define GUI_REQUEST_MS	  10000 /* a compositor that does not answer within this is retried */
#define GUI_REPLY_MAX	  256	/* control.h: lines are at most 256 bytes */
#define GUI_LOG_LINE_MAX  512
#define GUI_FD_PORT	  3
#define GUI_FD_CONNECTOR  4
#define GUI_FD_FIRST_FREE 5

extern char **environ;

struct gui_host {
	struct vm *vm;
	int timer; /* retry, or the deadline of a pending request; -1 when none */
	/* A pending `connector` request to the compositor. */
	int ctl_fd, ctl_watch;
	char reply[GUI_REPLY_MAX];
	size_t reply_len;
	int connector_fd;
	/* The running host half. */
	pid_t pid;
	int pidfd, pid_watch;
	int err_fd, err_watch;
	char err_line[GUI_LOG_LINE_MAX];
	size_t err_len;
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

static struct gui_host *gui_get(struct vm *vm)
{
	if (!vm->gui) {
		struct gui_host *g = xcalloc(1, sizeof(*g));
		*g = (struct gui_host){
		    .vm = vm,
		    .timer = -1,
		    .ctl_fd = -1,
		    .ctl_watch = -1,
		    .connector_fd = -1,
		    .pidfd = -1,
		    .pid_watch = -1,
		    .err_fd = -1,
		    .err_watch = -1,
		};
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
	if (g->ctl_watch >= 0)
		virEventRemoveHandle(g->ctl_watch);
	g->ctl_watch = -1;
	closep(&g->ctl_fd);
	g->ctl_fd = -1;
	closep(&g->connector_fd);
	g->connector_fd = -1;
	g->reply_len = 0;
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
	/* Also the deadline of a request the compositor left unanswered. */
	request_clear(g);
	if (qube_up(g->vm) && !g->pid && !g->given_up)
		attempt(g);
}

static void retry_later(struct gui_host *g)
{
	timer_clear(g);
	g->timer = virEventAddTimeout(GUI_RETRY_MS, retry_fired, g, NULL);
}

/* The host half's output, a line at a time into our log. It may quote what a qube sent: it is
 * escaped, so nothing can forge or garble log lines. */
static void err_flush_line(struct gui_host *g)
{
	char line[GUI_LOG_LINE_MAX + 1];

	if (g->err_len == 0)
		return;
	memcpy(line, g->err_line, g->err_len);
	line[g->err_len] = '\0';
	log_info("qube %s: gui: %s", g->vm->q->name, LOG_ESC(line));
	g->err_len = 0;
}

static void err_read(struct gui_host *g)
{
	char buf[4096];

	for (;;) {
		ssize_t n = read(g->err_fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0 || errno != EAGAIN) {
				err_flush_line(g);
				virEventRemoveHandle(g->err_watch);
				g->err_watch = -1;
				closep(&g->err_fd);
				g->err_fd = -1;
			}
			return;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				err_flush_line(g);
				continue;
			}
			if (g->err_len == sizeof(g->err_line))
				err_flush_line(g);
			g->err_line[g->err_len++] = buf[i];
		}
	}
}

static void err_io(int watch, int fd, int events, void *opaque)
{
	err_read(opaque);
}

/* Forgets the reaped child: its last output, its pidfd. */
static void proc_clear(struct gui_host *g)
{
	if (g->err_fd >= 0)
		err_read(g);
	if (g->err_watch >= 0)
		virEventRemoveHandle(g->err_watch);
	g->err_watch = -1;
	closep(&g->err_fd);
	g->err_fd = -1;
	if (g->pid_watch >= 0)
		virEventRemoveHandle(g->pid_watch);
	g->pid_watch = -1;
	closep(&g->pidfd);
	g->pidfd = -1;
	g->pid = 0;
}

static void describe_status(const siginfo_t *si, char *buf, size_t size)
{
	if (si->si_code == CLD_EXITED)
		snprintf(buf, size, "exit status %d", si->si_status);
	else
		snprintf(buf, size, "signal %d", si->si_status);
}

static void pid_io(int watch, int fd, int events, void *opaque)
{
	struct gui_host *g = opaque;
	siginfo_t si = {0};
	char how[64];

	if (waitid((idtype_t)P_PIDFD, (id_t)g->pidfd, &si, WEXITED | WNOHANG) < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return;
		snprintf(how, sizeof(how), "unknown status (%s)", strerror(errno));
	} else if (si.si_pid == 0) {
		return; /* not yet */
	} else {
		describe_status(&si, how, sizeof(how));
	}
	pid_t pid = g->pid;
	struct daemon *d = g->vm->daemon;
	proc_clear(g);
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

static void proc_kill(struct gui_host *g)
{
	if (!g->pid)
		return;
	siginfo_t si;
	if (pidfd_send_signal(g->pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH) {
		int err = errno;
		log_warn("qube %s: cannot kill the GUI proxy (pid %d): %s", g->vm->q->name,
			 (int)g->pid, strerror(err));
	}
	/* SIGKILL is prompt: reaping here keeps every child owned by exactly one live qube. */
	while (waitid((idtype_t)P_PIDFD, (id_t)g->pidfd, &si, WEXITED) < 0 && errno == EINTR)
		;
	log_info("qube %s: stopped its GUI proxy (pid %d)", g->vm->q->name, (int)g->pid);
	proc_clear(g);
}

static int connect_unix(const char *path, int *ret_fd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* fd moved above the two the child gets, so the dup2 onto 3 and 4 never meets itself. */
static int move_up(int *fd)
{
	if (*fd >= GUI_FD_FIRST_FREE)
		return 0;
	int n = fcntl(*fd, F_DUPFD_CLOEXEC, GUI_FD_FIRST_FREE);
	if (n < 0)
		return -errno;
	close(*fd);
	*fd = n;
	return 0;
}

/* Takes both descriptors, whatever happens. */
static int spawn_host_half(struct gui_host *g, int port_fd_in, int connector_fd_in)
{
	_cleanup_close_ int port_fd = port_fd_in, connector_fd = connector_fd_in;
	const char *name = g->vm->q->name;
	char uid[16];
	snprintf(uid, sizeof(uid), "%u", (unsigned)qchan_qube_uid(g->vm->daemon, g->vm));
	const char *argv[] = {
	    g->vm->daemon->wayland_proxy, "host", "--qube", name, "--uid", uid, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, defaults;
	int errp[2];
	pid_t pid;
	int r;

	if (pipe2(errp, O_CLOEXEC) < 0)
		return -errno;
	_cleanup_close_ int err_r = errp[0], err_w = errp[1];
	if ((r = move_up(&port_fd)) < 0 || (r = move_up(&connector_fd)) < 0 ||
	    (r = move_up(&err_w)) < 0)
		return r;

	/* bulkheadd ignores SIGPIPE, which exec would keep; the child starts clean. */
	sigemptyset(&none);
	sigfillset(&defaults);
	sigdelset(&defaults, SIGKILL);
	sigdelset(&defaults, SIGSTOP);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &defaults);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, err_w, 1);
	posix_spawn_file_actions_adddup2(&fa, err_w, 2);
	posix_spawn_file_actions_adddup2(&fa, port_fd, GUI_FD_PORT);
	posix_spawn_file_actions_adddup2(&fa, connector_fd, GUI_FD_CONNECTOR);
	/* Exactly the two descriptors (and stdio): everything else is CLOEXEC anyway, this makes
	 * it true even for a library's descriptor that is not. */
	posix_spawn_file_actions_addclosefrom_np(&fa, GUI_FD_FIRST_FREE);
	r = posix_spawn(&pid, argv[0], &fa, &attr, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r != 0)
		return -r;

	int pidfd = pidfd_open(pid, 0);
	if (pidfd < 0) {
		r = -errno;
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		return r;
	}
	fcntl(err_r, F_SETFL, O_NONBLOCK);
	g->pid = pid;
	g->session = g->vm->daemon->gui_session;
	g->pidfd = pidfd;
	g->err_fd = TAKE_FD(err_r);
	g->err_len = 0;
	g->pid_watch = virEventAddHandle(pidfd, VIR_EVENT_HANDLE_READABLE, pid_io, g, NULL);
	g->err_watch = virEventAddHandle(g->err_fd, VIR_EVENT_HANDLE_READABLE, err_io, g, NULL);
	return 0;
}

/* The compositor gave us a connector: join it with the qube's GUI port in a new host half. */
static void start_with_connector(struct gui_host *g)
{
	struct daemon *d = g->vm->daemon;
	const char *name = g->vm->q->name;
	_cleanup_free_ char *path = gui_channel_path(d, name);
	int port_fd = -1;
	int connector_fd = TAKE_FD(g->connector_fd);

	int r = connect_unix(path, &port_fd);
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
	log_info("qube %s: GUI proxy started (pid %d)", name, (int)g->pid);
}

static void request_failed(struct gui_host *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void request_failed(struct gui_host *g, const char *fmt, ...)
{
	char msg[GUI_REPLY_MAX + 128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Once per run of failures: a compositor that is not up yet is normal for a while. */
	if (!g->warned)
		log_warn("qube %s: %s; retrying every %d s while it runs", g->vm->q->name, msg,
			 GUI_RETRY_MS / 1000);
	else
		log_debug("qube %s: %s", g->vm->q->name, msg);
	g->warned = true;
	request_clear(g);
	retry_later(g);
}

/* The answer line, and with it (on its first byte) the connector. */
static void ctl_io(int watch, int fd, int events, void *opaque)
{
	struct gui_host *g = opaque;
	int got;

	ssize_t n = receive_one_fd(g->ctl_fd, g->reply + g->reply_len,
				   sizeof(g->reply) - 1 - g->reply_len, &got, 0);
	if (n == -EAGAIN)
		return;
	/* One connector per answer: one taken by an earlier read of it stays, a later one goes. */
	if (got >= 0 && g->connector_fd >= 0)
		close(got);
	else if (got >= 0)
		g->connector_fd = got;
	if (n < 0) {
		errno = (int)-n;
		request_failed(g, "reading the compositor's answer: %m");
		return;
	}
	if (n == 0) {
		request_failed(g, "the compositor closed the control connection without answering");
		return;
	}
	g->reply_len += (size_t)n;
	char *nl = memchr(g->reply, '\n', g->reply_len);
	if (!nl) {
		if (g->reply_len == sizeof(g->reply) - 1)
			request_failed(g, "the compositor's answer is too long");
		return;
	}
	*nl = '\0';
	for (char *p = g->reply; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
	if ((streq(g->reply, "ok") || strncmp(g->reply, "ok ", 3) == 0) && g->connector_fd >= 0) {
		timer_clear(g);
		virEventRemoveHandle(g->ctl_watch);
		g->ctl_watch = -1;
		closep(&g->ctl_fd);
		g->ctl_fd = -1;
		start_with_connector(g);
		closep(&g->connector_fd);
		g->connector_fd = -1;
		return;
	}
	request_failed(g, "the compositor refused a connection: %s", g->reply);
}

/* Connects the control socket and sends the request; the answer arrives in ctl_io. */
static void attempt(struct gui_host *g)
{
	struct daemon *d = g->vm->daemon;
	const char *label = qube_label_to_string(g->vm->q->label);
	char req[128];

	if (!d->gui_control)
		return; /* the registered compositor went away */
	int r = connect_unix(d->gui_control, &g->ctl_fd);
	if (r < 0) {
		request_failed(g, "the compositor is not reachable at %s (%s)", d->gui_control,
			       strerror(-r));
		return;
	}
	/* Name and label are checked when they are set: no spaces, no newlines. */
	int len = snprintf(req, sizeof(req), "connector %s %s\n", g->vm->q->name, label);
	if (len < 0 || (size_t)len >= sizeof(req)) {
		request_failed(g, "the connector request does not fit");
		return;
	}
	/* A fresh socket's buffer takes a short line whole. */
	if (send(g->ctl_fd, req, (size_t)len, MSG_NOSIGNAL) != len) {
		request_failed(g, "sending to the compositor: %m");
		return;
	}
	g->ctl_watch = virEventAddHandle(g->ctl_fd, VIR_EVENT_HANDLE_READABLE, ctl_io, g, NULL);
	if (g->ctl_watch < 0) {
		request_failed(g, "cannot watch the control connection");
		return;
	}
	timer_clear(g);
	g->timer = virEventAddTimeout(GUI_REQUEST_MS, retry_fired, g, NULL);
}

void gui_qube_ready(struct daemon *d, struct vm *vm)
{
	if (!d->gui_control || !gui_qube_enabled(vm->q))
		return;
	struct gui_host *g = gui_get(vm);
	/* The agent says hello again after a channel reconnect: nothing new for the GUI. */
	if (g->pid || g->ctl_fd >= 0 || g->timer >= 0 || g->given_up)
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
		if (g && !g->pid && g->timer < 0 && g->ctl_fd < 0 && g->exited_ms &&
		    monotonic_ms() - g->exited_ms < GUI_RETRY_MS)
			retry_later(g);
		else
			gui_qube_ready(d, vm);
	}
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
		if (g && !g->pid) {
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
	proc_kill(g);
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
