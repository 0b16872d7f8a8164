/*
 * The qube's sound: while the qube has the org.bulkhead.audio port, the audio guest half runs as
 * our child (port-child.c), as the qube's default user (the one commands run as), with the port
 * as fd AGENT_AUDIO_FD_PORT and the XDG_RUNTIME_DIR commands get, where the qube's programs find
 * its sound server. Templates without the guest half (the minimal one) run without sound.
 *
 * The port is opened once and kept across restarts of the guest half, which handles the host end
 * coming and going itself: unlike the GUI's, it is started without waiting for bulkheadd, and the
 * backoff keeps one that exits at once from spinning.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static const char *passwd_path, *group_path;
static int port_fd = -1;       /* the port, kept open while the agent runs */
static struct agent_user user; /* looked up anew before each start */

static int prepare(void)
{
	if (access(AGENT_AUDIO_GUEST, X_OK) < 0) {
		int r = -errno;
		log_info("no audio guest half in this qube (%s: %s): it runs without sound",
			 AGENT_AUDIO_GUEST, strerror(-r));
		return r;
	}
	if (port_fd < 0) {
		int fd = port_open(AGENT_AUDIO_LINK);
		if (fd < 0) {
			log_warn("cannot open %s: %s; the qube runs without sound",
				 AGENT_AUDIO_LINK, strerror(-fd));
			return fd;
		}
		/* Above the descriptor it is given as, so that dup2() moves it there. */
		if (fd <= AGENT_AUDIO_FD_PORT) {
			int high = fcntl(fd, F_DUPFD_CLOEXEC, AGENT_AUDIO_FD_PORT + 1);
			int r = high < 0 ? -errno : 0;
			close(fd);
			if (r < 0) {
				log_warn("cannot move %s's descriptor: %s; the qube runs without "
					 "sound",
					 AGENT_AUDIO_LINK, strerror(-r));
				return r;
			}
			fd = high;
		}
		port_fd = fd;
	}
	user_done(&user);
	int r = user_lookup(passwd_path, group_path, "", &user);
	if (r < 0) {
		log_warn("cannot look up the qube's user for the audio guest half: %s",
			 strerror(-r));
		return r;
	}
	return 0;
}

static void run(void)
{
	char runtime_dir[64];

	/* dup2() leaves the copy without O_CLOEXEC: the only descriptor it inherits past 2. */
	if (dup2(port_fd, AGENT_AUDIO_FD_PORT) < 0) {
		fprintf(stderr, "bulkhead-agent: cannot pass the audio port: %s\n",
			strerror(errno));
		_exit(126);
	}
	/* Made while still root, as for commands; it runs without it rather than not at all. */
	bool have_runtime_dir =
	    gui_runtime_dir(user.uid, user.gid, runtime_dir, sizeof(runtime_dir)) == 0;
	int r = exec_become_user(&user);
	if (r == 0)
		r = exec_user_env(&user, have_runtime_dir ? runtime_dir : NULL);
	if (r < 0) {
		fprintf(stderr, "bulkhead-agent: cannot run %s as %s: %s\n", AGENT_AUDIO_GUEST,
			user.name, strerror(-r));
		_exit(126);
	}
	execl(AGENT_AUDIO_GUEST, AGENT_AUDIO_GUEST, (char *)NULL);
	fprintf(stderr, "bulkhead-agent: cannot run %s: %s\n", AGENT_AUDIO_GUEST, strerror(errno));
	_exit(127);
}

static const struct port_child_ops audio_ops = {
    .what = "the audio guest half",
    .port_name = AUDIO_PORT_NAME,
    .link = AGENT_AUDIO_LINK,
    .wait_for_host = false,
    .prepare = prepare,
    .run = run,
};

static struct port_child audio = {.ops = &audio_ops, .pidfd = -1};

struct port_child *audio_start(const struct agent *a)
{
	passwd_path = a->passwd_path;
	group_path = a->group_path;
	port_child_start(&audio);
	return &audio;
}
