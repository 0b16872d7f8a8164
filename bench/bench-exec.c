/*
 * bench-exec N CMD [ARG...]: runs CMD N times, one after the other, and prints each run's wall
 * time in microseconds, one per line (CMD's own stdout goes to /dev/null). Measured here rather
 * than in the shell so the figure holds only fork, exec and the command itself. Exits 1 as soon as
 * a run fails.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-util.h"

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: bench-exec N CMD [ARG...]\n");
		return 2;
	}
	long n = parse_count(argv[1], 1000000);
	if (n < 0) {
		fprintf(stderr, "bench-exec: bad count '%s'\n", argv[1]);
		return 2;
	}
	for (long i = 0; i < n; i++) {
		uint64_t t0 = now_us();
		pid_t pid = fork();
		if (pid < 0) {
			perror("bench-exec: fork");
			return 1;
		}
		if (pid == 0) {
			/* stdout carries our figures; the command's own output is not wanted. */
			int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
			if (null < 0 || dup2(null, STDOUT_FILENO) < 0)
				_exit(127);
			execvp(argv[2], argv + 2);
			fprintf(stderr, "bench-exec: cannot run %s: %s\n", argv[2],
				strerror(errno));
			_exit(127);
		}
		int status;
		while (waitpid(pid, &status, 0) < 0)
			if (errno != EINTR) {
				perror("bench-exec: waitpid");
				return 1;
			}
		uint64_t t1 = now_us();
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "bench-exec: run %ld of %s failed (status 0x%x)\n", i + 1,
				argv[2], status);
			return 1;
		}
		printf("%llu\n", (unsigned long long)(t1 - t0));
		fflush(stdout);
	}
	return 0;
}
