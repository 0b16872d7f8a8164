/*
 * A helper program kept running while the qube has a virtio-serial port: the Wayland proxy's
 * guest half (gui.c) and the audio guest half (audio.c). The port is looked for for a while
 * after boot (modules may take a moment), linked where udev would have put it, and the program
 * started; one that exits is restarted after a backoff, so one that exits at once (a host half
 * that refused it, a broken install) does not make it spin.
 *
 * The child is watched through a pidfd: stream_reap() reaps every child with waitpid(-1), and
 * the pidfd still reports the exit when it got there first.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define SYSFS_PORTS	   "/sys/class/virtio-ports"
#define LOOK_INTERVAL_MS   1000
#define LOOK_FOR_MS	   60000 /* the port exists at boot; modules may take a moment */
#define HOST_POLL_MS	   500	 /* how often the port is checked for its host end */
#define BACKOFF_FIRST_MS   1000
#define BACKOFF_MAX_MS	   30000
#define RAN_LONG_ENOUGH_MS 60000 /* a child that ran this long starts a new backoff */

/* Where udev would have put the port's name: a minimal qube has no udev, so we link it. */
static int find_port(const struct port_child_ops *ops)
{
	struct stat st;
	if (stat(ops->link, &st) == 0 && S_ISCHR(st.st_mode))
		return 0;
	_cleanup_free_ char *dev = NULL;
	int r = port_find(SYSFS_PORTS, ops->port_name, &dev);
	if (r < 0)
		return r;
	if (mkdir("/dev/virtio-ports", 0755) < 0 && errno != EEXIST)
		return -errno;
	unlink(ops->link);
	if (symlink(dev, ops->link) < 0)
		return -errno;
	return 0;
}

/* 1 when bulkheadd holds the host end of the port, 0 when not, -errno when unknown. */
static int host_connected(const struct port_child_ops *ops)
{
	_cleanup_close_ int fd = port_open(ops->link);
	if (fd < 0)
		return fd;
	return port_connected(fd);
}

static void spawn(struct port_child *pc)
{
	const struct port_child_ops *ops = pc->ops;

	if (ops->prepare && ops->prepare() < 0)
		return; /* it said why; not tried again */

	pid_t pid = fork();
	if (pid < 0) {
		log_warn("cannot start %s: %m", ops->what);
		return;
	}
	if (pid == 0) {
		sigset_t none;
		for (int sig = 1; sig < NSIG; sig++)
			if (sig != SIGKILL && sig != SIGSTOP)
				signal(sig, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setsid();
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (null >= 0)
			dup2(null, 0);
		/* stdout and stderr stay the agent's: the child's messages join its log. */
		ops->run();
		_exit(127);
	}
	int pidfd = pidfd_open(pid, 0);
	if (pidfd < 0) {
		/* No way to watch it (a kernel before 5.3): let it run unsupervised. */
		log_warn("cannot watch %s (pid %d): %m", ops->what, (int)pid);
		return;
	}
	pc->pid = pid;
	pc->pidfd = pidfd;
	pc->started = monotonic_ms();
	log_info("started %s (pid %d)%s", ops->what, (int)pid, ops->started_detail ?: "");
}

void port_child_start(struct port_child *pc)
{
	pc->pidfd = -1;
	pc->looking = true;
	pc->look_until = monotonic_ms() + LOOK_FOR_MS;
	pc->next_look = 0;
	port_child_tick(pc);
}

int port_child_poll_fd(const struct port_child *pc)
{
	return pc->pidfd;
}

void port_child_exited(struct port_child *pc)
{
	const struct port_child_ops *ops = pc->ops;
	siginfo_t si = {0};
	char how[64];

	if (pc->pidfd < 0)
		return;
	if (waitid((idtype_t)P_PIDFD, (id_t)pc->pidfd, &si, WEXITED | WNOHANG) == 0) {
		if (si.si_pid == 0)
			return; /* spurious */
		snprintf(how, sizeof(how), "%s %d",
			 si.si_code == CLD_EXITED ? "exit status" : "signal", si.si_status);
	} else {
		/* ECHILD: stream_reap() reaped it first; the status went with it. */
		snprintf(how, sizeof(how), "an unknown status");
	}
	closep(&pc->pidfd);
	pc->pidfd = -1;
	if (ops->exited)
		ops->exited();
	int64_t now = monotonic_ms();
	if (now - pc->started >= RAN_LONG_ENOUGH_MS)
		pc->backoff = 0;
	pc->backoff = pc->backoff ? pc->backoff * 2 : BACKOFF_FIRST_MS;
	if (pc->backoff > BACKOFF_MAX_MS)
		pc->backoff = BACKOFF_MAX_MS;
	pc->next_start = now + pc->backoff;
	log_warn("%s (pid %d) exited with %s; restarting it in %lld ms%s", ops->what, (int)pc->pid,
		 how, (long long)pc->backoff,
		 ops->wait_for_host ? ", once the host is connected" : "");
	pc->pid = 0;
}

int port_child_timeout_ms(const struct port_child *pc)
{
	int64_t at;
	if (pc->next_start)
		at = pc->next_start;
	else if (pc->looking)
		at = pc->next_look;
	else
		return -1;
	int64_t left = at - monotonic_ms();
	return left < 0 ? 0 : left > 60000 ? 60000 : (int)left;
}

void port_child_tick(struct port_child *pc)
{
	int64_t now = monotonic_ms();

	if (pc->looking && now >= pc->next_look) {
		if (find_port(pc->ops) == 0) {
			pc->looking = false;
			pc->have_port = true;
			pc->next_start = now;
		} else if (now >= pc->look_until) {
			pc->looking = false; /* no such port: the qube runs without it */
		} else {
			pc->next_look = now + LOOK_INTERVAL_MS;
		}
	}
	if (pc->next_start && now >= pc->next_start) {
		if (!pc->ops->wait_for_host || host_connected(pc->ops) > 0) {
			pc->next_start = 0;
			spawn(pc);
		} else {
			pc->next_start = now + HOST_POLL_MS;
		}
	}
}
