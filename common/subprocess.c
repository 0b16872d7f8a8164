#include "subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include "util.h"

#define SPAWN_OUTPUT_MAX (64 * 1024)

extern char **environ;

int spawn_wait(const char *const *argv, char **ret_output)
{
	_cleanup_free_ char *out = NULL;
	size_t n = 0;
	int pipefd[2];
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int r, status;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	r = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (r != 0) {
		close(pipefd[0]);
		return -r;
	}

	out = xmalloc(SPAWN_OUTPUT_MAX + 1);
	for (;;) {
		char buf[4096];
		ssize_t k = read(pipefd[0], buf, sizeof(buf));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		size_t take = (size_t)k;
		if (take > SPAWN_OUTPUT_MAX - n)
			take = SPAWN_OUTPUT_MAX - n;
		memcpy(out + n, buf, take);
		n += take;
	}
	close(pipefd[0]);
	out[n] = '\0';

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (ret_output)
		*ret_output = TAKE_PTR(out);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}
