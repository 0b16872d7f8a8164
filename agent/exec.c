/* Starting a command: fork, switch to the user, exec. Failures after fork are reported to the
 * parent over a CLOEXEC status pipe, which reads EOF when exec succeeded. */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define AGENT_PATH "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"

static _Noreturn void child_fail(int status_fd, int stage, int err)
{
	struct exec_status st = {.stage = stage, .err = err};

	(void)!write(status_fd, &st, sizeof(st));
	_exit(stage == EXEC_STAGE_EXEC && err == ENOENT ? 127 : 126);
}

/* A socket service: the qube's own daemon listens on /etc/bulkhead/rpc/NAME. We stand between
 * it and the pipes, as qrexec does: header first, then both directions until both end. */
static _Noreturn void relay_socket(int status_fd, const char *path, const char *header)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		child_fail(status_fd, EXEC_STAGE_EXEC, ENAMETOOLONG);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		child_fail(status_fd, EXEC_STAGE_EXEC, errno);
	if (write_all(fd, header, strlen(header) + 1) < 0)
		child_fail(status_fd, EXEC_STAGE_EXEC, errno);
	close(status_fd); /* "exec" succeeded */
	/* Without an exec, CLOEXEC closes nothing: drop the agent's fds (among them the write
	 * end of our own stdin pipe, which would keep stdin from ever reaching EOF). */
	if (fd > 3)
		close_range(3, (unsigned)fd - 1, 0);
	close_range((unsigned)fd + 1, ~0u, 0);

	struct pollfd p[2] = {{.fd = 0, .events = POLLIN}, {.fd = fd, .events = POLLIN}};
	char buf[16384];
	while (p[0].fd >= 0 || p[1].fd >= 0) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !p[i].revents)
				continue;
			ssize_t n = read(p[i].fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				if (i == 0)
					shutdown(fd, SHUT_WR);
				else
					_exit(0); /* the service is done talking */
				p[i].fd = -1;
				continue;
			}
			if (write_all(i == 0 ? fd : 1, buf, (size_t)n) < 0)
				_exit(1);
		}
	}
	_exit(0);
}

int exec_become_user(const struct agent_user *u)
{
	/* Without root we can only run as ourselves; setgroups() then fails for anyone else. */
	if (getuid() == 0 || u->uid != getuid()) {
		if (setgroups(u->n_groups, u->groups) < 0 || setgid(u->gid) < 0 ||
		    setuid(u->uid) < 0)
			return -errno;
	}
	if (chdir(u->home) < 0)
		(void)!chdir("/");
	return 0;
}

int exec_user_env(const struct agent_user *u, const char *runtime_dir)
{
	if (clearenv() != 0 || setenv("HOME", u->home, 1) < 0 || setenv("USER", u->name, 1) < 0 ||
	    setenv("LOGNAME", u->name, 1) < 0 || setenv("SHELL", u->shell, 1) < 0 ||
	    setenv("PATH", AGENT_PATH, 1) < 0 ||
	    /* UTF-8 text by default, as on any desktop (templates carry glibc's C.UTF-8). */
	    setenv("LANG", "C.UTF-8", 1) < 0)
		return -ENOMEM;
	if (runtime_dir && setenv("XDG_RUNTIME_DIR", runtime_dir, 1) < 0)
		return -ENOMEM;
	return 0;
}

static _Noreturn void child(int in_fd, int out_fd, int err_fd, int status_fd,
			    const struct agent_user *u, char *const *argv,
			    const struct exec_opts *opts)
{
	sigset_t all;

	/* The agent blocks SIGCHLD and ignores SIGPIPE; the command gets a clean slate. */
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);

	/* Own session and process group, so SIGNAL and disconnects reach the whole command. */
	setsid();

	if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
		child_fail(status_fd, EXEC_STAGE_USER, errno);

	/* Made while still root; a command runs without it rather than not at all. */
	char runtime_dir[64];
	bool have_runtime_dir =
	    gui_runtime_dir(u->uid, u->gid, runtime_dir, sizeof(runtime_dir)) == 0;

	int r = exec_become_user(u);
	if (r < 0)
		child_fail(status_fd, EXEC_STAGE_USER, -r);
	r = exec_user_env(u, have_runtime_dir ? runtime_dir : NULL);
	if (r < 0)
		child_fail(status_fd, EXEC_STAGE_USER, -r);
	/* Absolute: libwayland then ignores XDG_RUNTIME_DIR for the display. */
	if (gui_display() && setenv("WAYLAND_DISPLAY", gui_display(), 1) < 0)
		child_fail(status_fd, EXEC_STAGE_USER, ENOMEM);
	for (char *const *e = opts && opts->env ? opts->env : NULL; e && *e; e++)
		if (putenv(*e) != 0)
			child_fail(status_fd, EXEC_STAGE_USER, ENOMEM);
	if (opts && opts->socket_path)
		relay_socket(status_fd, opts->socket_path, opts->socket_header);

	execvp(argv[0], argv);
	child_fail(status_fd, EXEC_STAGE_EXEC, errno);
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

int exec_spawn(struct stream *s, const struct agent_user *u, char *const *argv,
	       const struct exec_opts *opts)
{
	int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, st[2] = {-1, -1};
	int r = 0;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
	    pipe2(st, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}
	if (set_nonblock(in[1]) < 0 || set_nonblock(out[0]) < 0 || set_nonblock(err[0]) < 0 ||
	    set_nonblock(st[0]) < 0) {
		r = -errno;
		goto fail;
	}

	pid_t pid = fork();
	if (pid < 0) {
		r = -errno;
		goto fail;
	}
	if (pid == 0)
		child(in[0], out[1], err[1], st[1], u, argv, opts);

	close(in[0]);
	close(out[1]);
	close(err[1]);
	close(st[1]);
	s->pid = pid;
	s->in_fd = in[1];
	s->out_fd = out[0];
	s->err_fd = err[0];
	s->status_fd = st[0];
	return 0;

fail:
	for (int i = 0; i < 2; i++) {
		closep(&in[i]);
		closep(&out[i]);
		closep(&err[i]);
		closep(&st[i]);
	}
	return r;
}
