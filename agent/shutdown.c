/* Power-off as PID 1: stop every process, flush and unmount the file systems, power off. */
#include "agent.h"

#include <errno.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* Reaps until no child is left or the deadline passes. */
static void reap_until(int ms)
{
	struct timespec step = {.tv_nsec = 50 * 1000 * 1000};

	for (int waited = 0; waited < ms; waited += 50) {
		pid_t p;
		while ((p = waitpid(-1, NULL, WNOHANG)) > 0)
			;
		if (p < 0 && errno == ECHILD)
			return;
		nanosleep(&step, NULL);
	}
}

static void unmount_or_readonly(const char *path)
{
	if (umount(path) == 0)
		return;
	/* Busy or the root: keep it mounted but make it safe to cut power. */
	if (mount(NULL, path, NULL, MS_REMOUNT | MS_RDONLY, NULL) < 0 && errno != EINVAL &&
	    errno != ENOENT)
		log_warn("cannot remount %s read-only: %m", path);
}

_Noreturn void agent_poweroff(void)
{
	log_info("powering off");
	kill(-1, SIGTERM);
	reap_until(2000);
	kill(-1, SIGKILL);
	reap_until(1000);

	sync();
	unmount_or_readonly("/home");
	unmount_or_readonly("/rw");
	unmount_or_readonly("/");
	sync();

	reboot(RB_POWER_OFF);
	/* reboot() only returns on failure; PID 1 must never exit, so wait for the power cut. */
	log_error("power off failed: %m");
	for (;;)
		pause();
}
