/* fork + exec of bulkhead-call with pipes (see call-spawn.h). */
#include "call-spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "util.h"

int call_spawn(const char *target, const char *service, int *ret_in, int *ret_out, pid_t *ret_pid)
{
	int in[2] = {-1, -1}, out[2] = {-1, -1};
	const char *call = getenv("BULKHEAD_CALL");
	int r;

	if (!call || !*call)
		call = "bulkhead-call";
	if (ret_in && pipe2(in, O_CLOEXEC) < 0)
		return -errno;
	if (ret_out && pipe2(out, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}
	pid_t pid = fork();
	if (pid < 0) {
		r = -errno;
		goto fail;
	}
	if (pid == 0) {
		if ((ret_in && dup2(in[0], 0) < 0) || (ret_out && dup2(out[1], 1) < 0))
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		execlp(call, call, target, service, (char *)NULL);
		fprintf(stderr, "cannot run %s: %s\n", call, strerror(errno));
		_exit(127);
	}
	if (ret_in) {
		close(in[0]);
		*ret_in = in[1];
	}
	if (ret_out) {
		close(out[1]);
		*ret_out = out[0];
	}
	*ret_pid = pid;
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	return r;
}

int call_wait(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}
