/* fork + exec of xdg-open for the open services (see handler.h). */
#include "handler.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include "call-spawn.h"
#include "util.h"
#include "validate.h"

int handler_run(const char *arg)
{
	_cleanup_free_ char *prog = find_on_path("xdg-open");
	if (!prog)
		return -ENOENT;
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (null < 0 || dup2(null, 0) < 0 || dup2(2, 1) < 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGXFSZ, SIG_DFL);
		execl(prog, "xdg-open", arg, (char *)NULL);
		_exit(127);
	}
	return call_wait(pid);
}
