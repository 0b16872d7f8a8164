#include "spawn-async.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libvirt/libvirt.h>

#include "util.h"

#define SPAWN_ASYNC_OUTPUT_MAX (64 * 1024)

extern char **environ;

struct spawn_job {
	pid_t pid;
	int pidfd, pidfd_watch;
	int out_fd, out_watch;
	char *out;
	size_t out_len;
	spawn_async_done_fn done;
	void *userdata;
};

/* Reads what the child wrote so far; false at end of file (or an error). */
static bool drain_output(struct spawn_job *j)
{
	for (;;) {
		char buf[4096];
		ssize_t k = read(j->out_fd, buf, sizeof(buf));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN)
			return true;
		if (k <= 0)
			return false;
		size_t take = (size_t)k;
		if (take > SPAWN_ASYNC_OUTPUT_MAX - j->out_len)
			take = SPAWN_ASYNC_OUTPUT_MAX - j->out_len;
		memcpy(j->out + j->out_len, buf, take);
		j->out_len += take;
	}
}

static void output_io(int watch, int fd, int events, void *opaque)
{
	struct spawn_job *j = opaque;
	if (!drain_output(j)) {
		/* The child closed its output; its exit comes through the pidfd. */
		virEventRemoveHandle(j->out_watch);
		j->out_watch = -1;
	}
}

static void exited_io(int watch, int fd, int events, void *opaque)
{
	struct spawn_job *j = opaque;
	int status;

	/* The pidfd is readable once the child exited: the wait does not block. */
	while (waitpid(j->pid, &status, 0) < 0)
		if (errno != EINTR) {
			status = 0xff00; /* exit status 255 */
			break;
		}
	drain_output(j);
	virEventRemoveHandle(j->pidfd_watch);
	if (j->out_watch >= 0)
		virEventRemoveHandle(j->out_watch);
	close(j->pidfd);
	close(j->out_fd);
	j->out[j->out_len] = '\0';
	int r = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	j->done(r, j->out, j->userdata);
	free(j);
}

int spawn_async(const char *const *argv, spawn_async_done_fn done, void *userdata)
{
	return spawn_async_stdin(argv, -1, done, userdata);
}

int spawn_async_stdin(const char *const *argv, int stdin_fd, spawn_async_done_fn done,
		      void *userdata)
{
	int pipefd[2];
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int r;

	if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	if (stdin_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, stdin_fd, 0);
	else
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
	int pidfd = pidfd_open(pid, 0);
	if (pidfd < 0) {
		/* Cannot watch it: wait here, as spawn_wait would. */
		r = -errno;
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		close(pipefd[0]);
		return r;
	}
	struct spawn_job *j = xcalloc(1, sizeof(*j) + SPAWN_ASYNC_OUTPUT_MAX + 1);
	j->pid = pid;
	j->pidfd = pidfd;
	j->out_fd = pipefd[0];
	j->out = (char *)(j + 1);
	j->done = done;
	j->userdata = userdata;
	j->out_watch = virEventAddHandle(j->out_fd, VIR_EVENT_HANDLE_READABLE, output_io, j, NULL);
	j->pidfd_watch = virEventAddHandle(pidfd, VIR_EVENT_HANDLE_READABLE, exited_io, j, NULL);
	if (j->pidfd_watch < 0) {
		if (j->out_watch >= 0)
			virEventRemoveHandle(j->out_watch);
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		close(pidfd);
		close(j->out_fd);
		free(j);
		return -EIO;
	}
	return 0;
}
