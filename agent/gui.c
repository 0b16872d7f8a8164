/*
 * The qube's GUI: while the qube has the org.bulkhead.gui port, the Wayland proxy's guest half
 * runs as our child (port-child.c) and serves AGENT_GUI_SOCKET; every command the agent starts
 * gets it as WAYLAND_DISPLAY, and a private XDG_RUNTIME_DIR.
 *
 * The guest half is started once the host end of the port is connected (bulkheadd connects the
 * host half only after our hello): a port without its host end reads as end of file, on which
 * the guest half would just exit. One that dies is restarted the same way, after a backoff, so
 * a host half that refused the stream (and left) does not make it spin.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static bool gui_active; /* gui_start was called: we are a qube's init */

static int prepare(void)
{
	/* Commands reach the socket through this directory; only root writes in it. */
	if (mkdir(AGENT_GUI_DIR, 0755) < 0 && errno != EEXIST) {
		int r = -errno;
		log_warn("cannot create %s: %m", AGENT_GUI_DIR);
		return r;
	}
	unlink(AGENT_GUI_SOCKET);
	return 0;
}

static void run(void)
{
	/* Every user of the qube may show windows (the qube is one trust domain): the socket is
	 * made 0666. */
	umask(0111);
	if (clearenv() != 0 || setenv("PATH", "/usr/bin:/bin:/usr/sbin:/sbin", 1) < 0)
		_exit(127);
	execl(AGENT_GUI_PROXY, AGENT_GUI_PROXY, "guest", "--link", AGENT_GUI_LINK, "--socket",
	      AGENT_GUI_SOCKET, (char *)NULL);
	fprintf(stderr, "bulkhead-agent: cannot run %s: %s\n", AGENT_GUI_PROXY, strerror(errno));
	_exit(127);
}

/* Until the next guest half listens, a command finds no display rather than a dead one. */
static void exited(void)
{
	unlink(AGENT_GUI_SOCKET);
}

static const struct port_child_ops gui_ops = {
    .what = "the Wayland proxy",
    .started_detail = " on " AGENT_GUI_SOCKET,
    .port_name = AGENT_GUI_PORT_NAME,
    .link = AGENT_GUI_LINK,
    .wait_for_host = true,
    .prepare = prepare,
    .run = run,
    .exited = exited,
};

static struct port_child gui = {.ops = &gui_ops, .pidfd = -1};

struct port_child *gui_start(void)
{
	gui_active = true;
	port_child_start(&gui);
	return &gui;
}

const char *gui_display(void)
{
	return gui.have_port ? AGENT_GUI_SOCKET : NULL;
}

int gui_runtime_dir(uid_t uid, gid_t gid, char *buf, size_t size)
{
	struct stat st;

	/* Only a qube's init manages /run; an agent run by tests on a host leaves it alone. */
	if (!gui_active)
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
