/* The per-qube helper processes and the compositor's control requests (see host-proc.h). */
#include "host-proc.h"

#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <libvirt/libvirt.h>

#include "daemon.h"
#include "fd-pass.h"
#include "log.h"
#include "qube.h"
#include "util.h"

#define FD_FIRST 3

extern char **environ;

void host_proc_init(struct host_proc *p, struct vm *vm, const char *tag, const char *what,
		    void (*exited)(struct host_proc *p, const siginfo_t *si, const char *how))
{
	*p = (struct host_proc){
	    .vm = vm,
	    .tag = tag,
	    .what = what,
	    .exited = exited,
	    .pidfd = -1,
	    .pid_watch = -1,
	    .err_fd = -1,
	    .err_watch = -1,
	};
}

/* The child's output, a line at a time into our log. It may quote what a qube sent: it is
 * escaped, so nothing can forge or garble log lines. */
static void err_flush_line(struct host_proc *p)
{
	char line[HOST_PROC_LOG_LINE_MAX + 1];

	if (p->err_len == 0)
		return;
	memcpy(line, p->err_line, p->err_len);
	line[p->err_len] = '\0';
	log_info("qube %s: %s: %s", p->vm->q->name, p->tag, LOG_ESC(line));
	p->err_len = 0;
}

static void err_read(struct host_proc *p)
{
	char buf[4096];

	for (;;) {
		ssize_t n = read(p->err_fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0 || errno != EAGAIN) {
				err_flush_line(p);
				virEventRemoveHandle(p->err_watch);
				p->err_watch = -1;
				closep(&p->err_fd);
				p->err_fd = -1;
			}
			return;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				err_flush_line(p);
				continue;
			}
			if (p->err_len == sizeof(p->err_line))
				err_flush_line(p);
			p->err_line[p->err_len++] = buf[i];
		}
	}
}

static void err_io(int watch, int fd, int events, void *opaque)
{
	err_read(opaque);
}

/* Forgets the reaped child: its last output, its pidfd. */
static void proc_clear(struct host_proc *p)
{
	if (p->err_fd >= 0)
		err_read(p);
	if (p->err_watch >= 0)
		virEventRemoveHandle(p->err_watch);
	p->err_watch = -1;
	closep(&p->err_fd);
	p->err_fd = -1;
	if (p->pid_watch >= 0)
		virEventRemoveHandle(p->pid_watch);
	p->pid_watch = -1;
	closep(&p->pidfd);
	p->pidfd = -1;
	p->pid = 0;
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
	struct host_proc *p = opaque;
	siginfo_t si = {0};
	char how[64];

	if (waitid((idtype_t)P_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOHANG) < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return;
		snprintf(how, sizeof(how), "unknown status (%s)", strerror(errno));
		si.si_code = CLD_KILLED;
		si.si_status = 0;
	} else if (si.si_pid == 0) {
		return; /* not yet */
	} else {
		describe_status(&si, how, sizeof(how));
	}
	pid_t pid = p->pid;
	proc_clear(p);
	si.si_pid = pid;
	p->exited(p, &si, how);
}

void host_proc_kill(struct host_proc *p)
{
	if (!p->pid)
		return;
	siginfo_t si;
	if (pidfd_send_signal(p->pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH) {
		int err = errno;
		log_warn("qube %s: cannot kill %s (pid %d): %s", p->vm->q->name, p->what,
			 (int)p->pid, strerror(err));
	}
	/* SIGKILL is prompt: reaping here keeps every child owned by exactly one live qube. */
	while (waitid((idtype_t)P_PIDFD, (id_t)p->pidfd, &si, WEXITED) < 0 && errno == EINTR)
		;
	log_info("qube %s: stopped %s (pid %d)", p->vm->q->name, p->what, (int)p->pid);
	proc_clear(p);
}

int host_connect_unix(const char *path, int *ret_fd)
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

/* fd moved above those the child gets, so no dup2 onto 3, 4, ... meets itself. */
static int move_up(int *fd, int first_free)
{
	if (*fd >= first_free)
		return 0;
	int n = fcntl(*fd, F_DUPFD_CLOEXEC, first_free);
	if (n < 0)
		return -errno;
	close(*fd);
	*fd = n;
	return 0;
}

static void close_all(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

int host_proc_spawn(struct host_proc *p, const char *const argv[], int *fds, size_t n_fds)
{
	const int first_free = FD_FIRST + (int)n_fds;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, defaults;
	int errp[2];
	pid_t pid;
	int r;

	if (n_fds > HOST_PROC_FDS_MAX || p->pid) {
		close_all(fds, n_fds);
		return -EINVAL;
	}
	if (pipe2(errp, O_CLOEXEC) < 0) {
		r = -errno;
		close_all(fds, n_fds);
		return r;
	}
	_cleanup_close_ int err_r = errp[0], err_w = errp[1];
	for (size_t i = 0; i < n_fds; i++)
		if ((r = move_up(&fds[i], first_free)) < 0) {
			close_all(fds, n_fds);
			return r;
		}
	if ((r = move_up(&err_w, first_free)) < 0) {
		close_all(fds, n_fds);
		return r;
	}

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
	for (size_t i = 0; i < n_fds; i++)
		posix_spawn_file_actions_adddup2(&fa, fds[i], FD_FIRST + (int)i);
	/* Exactly these descriptors (and stdio): everything else is CLOEXEC anyway, this makes it
	 * true even for a library's descriptor that is not. */
	posix_spawn_file_actions_addclosefrom_np(&fa, first_free);
	r = posix_spawn(&pid, argv[0], &fa, &attr, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close_all(fds, n_fds);
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
	p->pid = pid;
	p->pidfd = pidfd;
	p->err_fd = TAKE_FD(err_r);
	p->err_len = 0;
	p->pid_watch = virEventAddHandle(pidfd, VIR_EVENT_HANDLE_READABLE, pid_io, p, NULL);
	p->err_watch = virEventAddHandle(p->err_fd, VIR_EVENT_HANDLE_READABLE, err_io, p, NULL);
	return 0;
}

/* --- the compositor's control socket ----------------------------------------------------- */

void compositor_request_init(struct compositor_request *r,
			     void (*done)(struct compositor_request *r, int fd, const char *error))
{
	*r = (struct compositor_request){
	    .done = done,
	    .ctl_fd = -1,
	    .ctl_watch = -1,
	    .timer = -1,
	    .fd = -1,
	};
}

void compositor_request_cancel(struct compositor_request *r)
{
	if (r->timer >= 0)
		virEventRemoveTimeout(r->timer);
	r->timer = -1;
	if (r->ctl_watch >= 0)
		virEventRemoveHandle(r->ctl_watch);
	r->ctl_watch = -1;
	closep(&r->ctl_fd);
	r->ctl_fd = -1;
	closep(&r->fd);
	r->fd = -1;
	r->reply_len = 0;
}

static void request_failed(struct compositor_request *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void request_failed(struct compositor_request *r, const char *fmt, ...)
{
	char msg[COMPOSITOR_REPLY_MAX + 128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	compositor_request_cancel(r);
	r->done(r, -1, msg);
}

static void deadline_fired(int timer, void *opaque)
{
	struct compositor_request *r = opaque;
	request_failed(r, "the compositor did not answer within %d s",
		       COMPOSITOR_REQUEST_MS / 1000);
}

/* The answer line, and with it (on its first byte) the descriptor. */
static void ctl_io(int watch, int fd, int events, void *opaque)
{
	struct compositor_request *r = opaque;
	int got;

	ssize_t n = receive_one_fd(r->ctl_fd, r->reply + r->reply_len,
				   sizeof(r->reply) - 1 - r->reply_len, &got, 0);
	if (n == -EAGAIN)
		return;
	/* One descriptor per answer: one taken by an earlier read of it stays, a later one goes. */
	if (got >= 0 && r->fd >= 0)
		close(got);
	else if (got >= 0)
		r->fd = got;
	if (n < 0) {
		errno = (int)-n;
		request_failed(r, "reading the compositor's answer: %m");
		return;
	}
	if (n == 0) {
		request_failed(r, "the compositor closed the control connection without answering");
		return;
	}
	r->reply_len += (size_t)n;
	char *nl = memchr(r->reply, '\n', r->reply_len);
	if (!nl) {
		if (r->reply_len == sizeof(r->reply) - 1)
			request_failed(r, "the compositor's answer is too long");
		return;
	}
	*nl = '\0';
	for (char *c = r->reply; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = '?';
	if ((streq(r->reply, "ok") || strncmp(r->reply, "ok ", 3) == 0) && r->fd >= 0) {
		int got_fd = TAKE_FD(r->fd);
		compositor_request_cancel(r);
		r->done(r, got_fd, NULL);
		return;
	}
	const char *why = strncmp(r->reply, "error ", 6) == 0 ? r->reply + 6 : r->reply;
	request_failed(r, "the compositor refused: %s", why);
}

void compositor_request_start(struct compositor_request *r, const char *control, const char *line)
{
	size_t len = strlen(line);

	compositor_request_cancel(r);
	int e = host_connect_unix(control, &r->ctl_fd);
	if (e < 0) {
		r->ctl_fd = -1;
		request_failed(r, "the compositor is not reachable at %s (%s)", control,
			       strerror(-e));
		return;
	}
	/* A fresh socket's buffer takes a short line whole. */
	if (send(r->ctl_fd, line, len, MSG_NOSIGNAL) != (ssize_t)len) {
		request_failed(r, "sending to the compositor: %m");
		return;
	}
	r->ctl_watch = virEventAddHandle(r->ctl_fd, VIR_EVENT_HANDLE_READABLE, ctl_io, r, NULL);
	if (r->ctl_watch < 0) {
		request_failed(r, "cannot watch the control connection");
		return;
	}
	r->timer = virEventAddTimeout(COMPOSITOR_REQUEST_MS, deadline_fired, r, NULL);
}
