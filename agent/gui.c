/*
 * The qube's GUI: while the qube has the org.bulkhead.gui port, the Wayland proxy's guest half
 * runs as our child and serves AGENT_GUI_SOCKET; every command the agent starts gets it as
 * WAYLAND_DISPLAY, and a private XDG_RUNTIME_DIR.
 *
 * The guest half is started once the host end of the port is connected (bulkheadd connects the
 * host half only after our hello): a port without its host end reads as end of file, on which
 * the guest half would just exit. One that dies is restarted the same way, after a backoff, so
 * a host half that refused the stream (and left) does not make it spin.
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
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define SYSFS_PORTS	   "/sys/class/virtio-ports"
#define LOOK_INTERVAL_MS   1000
#define LOOK_FOR_MS	   60000 /* the port exists at boot; modules may take a moment */
#define HOST_POLL_MS	   500	 /* how often the port is checked for its host end */
#define BACKOFF_FIRST_MS   1000
#define BACKOFF_MAX_MS	   30000
#define RAN_LONG_ENOUGH_MS 60000 /* a guest half that ran this long starts a new backoff */

static struct {
	bool active; /* gui_start was called: we are a qube's init */
	bool looking;
	bool have_port;
	int64_t look_until, next_look;
	pid_t pid;
	int pidfd;
	int64_t started;
	int64_t next_start; /* 0: none; else look for the host end from then on, and start */
	int64_t backoff;
} gui = {.pidfd = -1};

/* Where udev would have put the port's name: a minimal qube has no udev, so we link it. */
static int find_port(void)
{
	struct stat st;
	if (stat(AGENT_GUI_LINK, &st) == 0 && S_ISCHR(st.st_mode))
		return 0;
	_cleanup_free_ char *dev = NULL;
	int r = port_find(SYSFS_PORTS, AGENT_GUI_PORT_NAME, &dev);
	if (r < 0)
		return r;
	if (mkdir("/dev/virtio-ports", 0755) < 0 && errno != EEXIST)
		return -errno;
	unlink(AGENT_GUI_LINK);
	if (symlink(dev, AGENT_GUI_LINK) < 0)
		return -errno;
	return 0;
}

/* 1 when bulkheadd holds the host end of the port, 0 when not, -errno when unknown. */
static int host_connected(void)
{
	_cleanup_close_ int fd = port_open(AGENT_GUI_LINK);
	if (fd < 0)
		return fd;
	return port_connected(fd);
}

static void spawn_guest_half(void)
{
	/* Commands reach the socket through this directory; only root writes in it. */
	if (mkdir(AGENT_GUI_DIR, 0755) < 0 && errno != EEXIST) {
		log_warn("cannot create %s: %m", AGENT_GUI_DIR);
		return;
	}
	unlink(AGENT_GUI_SOCKET);

	pid_t pid = fork();
	if (pid < 0) {
		log_warn("cannot start the Wayland proxy: %m");
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
		/* Every user of the qube may show windows (the qube is one trust domain): the
		 * socket is made 0666. */
		umask(0111);
		if (clearenv() != 0 || setenv("PATH", "/usr/bin:/bin:/usr/sbin:/sbin", 1) < 0)
			_exit(127);
		execl(AGENT_GUI_PROXY, AGENT_GUI_PROXY, "guest", "--link", AGENT_GUI_LINK,
		      "--socket", AGENT_GUI_SOCKET, (char *)NULL);
		fprintf(stderr, "bulkhead-agent: cannot run %s: %s\n", AGENT_GUI_PROXY,
			strerror(errno));
		_exit(127);
	}
	int pidfd = pidfd_open(pid, 0);
	if (pidfd < 0) {
		/* No way to watch it (a kernel before 5.3): let it run unsupervised. */
		log_warn("cannot watch the Wayland proxy (pid %d): %m", (int)pid);
		return;
	}
	gui.pid = pid;
	gui.pidfd = pidfd;
	gui.started = monotonic_ms();
	log_info("started the Wayland proxy (pid %d) on %s", (int)pid, AGENT_GUI_SOCKET);
}

void gui_start(void)
{
	gui.active = true;
	gui.looking = true;
	gui.look_until = monotonic_ms() + LOOK_FOR_MS;
	gui.next_look = 0;
	gui_tick();
}

int gui_poll_fd(void)
{
	return gui.pidfd;
}

void gui_child_exited(void)
{
	siginfo_t si = {0};
	char how[64];

	if (gui.pidfd < 0)
		return;
	if (waitid((idtype_t)P_PIDFD, (id_t)gui.pidfd, &si, WEXITED | WNOHANG) == 0) {
		if (si.si_pid == 0)
			return; /* spurious */
		snprintf(how, sizeof(how), "%s %d",
			 si.si_code == CLD_EXITED ? "exit status" : "signal", si.si_status);
	} else {
		/* ECHILD: stream_reap() reaped it first; the status went with it. */
		snprintf(how, sizeof(how), "an unknown status");
	}
	closep(&gui.pidfd);
	gui.pidfd = -1;
	/* Until the next guest half listens, a command finds no display rather than a dead one. */
	unlink(AGENT_GUI_SOCKET);
	int64_t now = monotonic_ms();
	if (now - gui.started >= RAN_LONG_ENOUGH_MS)
		gui.backoff = 0;
	gui.backoff = gui.backoff ? gui.backoff * 2 : BACKOFF_FIRST_MS;
	if (gui.backoff > BACKOFF_MAX_MS)
		gui.backoff = BACKOFF_MAX_MS;
	gui.next_start = now + gui.backoff;
	log_warn("the Wayland proxy (pid %d) exited with %s; restarting it in %lld ms, once the "
		 "host is connected",
		 (int)gui.pid, how, (long long)gui.backoff);
	gui.pid = 0;
}

int gui_timeout_ms(void)
{
	int64_t at;
	if (gui.next_start)
		at = gui.next_start;
	else if (gui.looking)
		at = gui.next_look;
	else
		return -1;
	int64_t left = at - monotonic_ms();
	return left < 0 ? 0 : left > 60000 ? 60000 : (int)left;
}

void gui_tick(void)
{
	int64_t now = monotonic_ms();

	if (gui.looking && now >= gui.next_look) {
		if (find_port() == 0) {
			gui.looking = false;
			gui.have_port = true;
			gui.next_start = now;
		} else if (now >= gui.look_until) {
			gui.looking = false; /* no GUI port: the qube runs without windows */
		} else {
			gui.next_look = now + LOOK_INTERVAL_MS;
		}
	}
	if (gui.next_start && now >= gui.next_start) {
		if (host_connected() > 0) {
			gui.next_start = 0;
			spawn_guest_half();
		} else {
			gui.next_start = now + HOST_POLL_MS;
		}
	}
}

const char *gui_display(void)
{
	return gui.have_port ? AGENT_GUI_SOCKET : NULL;
}

int gui_runtime_dir(uid_t uid, gid_t gid, char *buf, size_t size)
{
	struct stat st;

	/* Only a qube's init manages /run; an agent run by tests on a host leaves it alone. */
	if (!gui.active)
		return -ENOTSUP;
	if (mkdir("/run/user", 0755) < 0 && errno != EEXIST)
		return -errno;
	int n = snprintf(buf, size, "/run/user/%u", (unsigned)uid);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return -errno;
	/* Through a descriptor opened without following links, so a link planted in its place
	 * cannot hand someone else's directory to this user. */
	_cleanup_close_ int fd = open(buf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	if ((st.st_uid != uid || st.st_gid != gid) && fchown(fd, uid, gid) < 0)
		return -errno;
	if ((st.st_mode & 07777) != 0700 && fchmod(fd, 0700) < 0)
		return -errno;
	return 0;
}
