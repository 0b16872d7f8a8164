/*
 * uplink-run [--netns NAME] [--hand-over] -- CMD...: starts sys-net's uplink the way bulkheadd
 * does (net/uplink.h: the guard, then passt under its uid in the namespace) and runs CMD with
 * the QEMU end of the socketpair as descriptor 3 and the uplink's facts in its environment:
 * UPLINK_FD, UPLINK_PID, UPLINK_UID, UPLINK_IP4, UPLINK_PREFIX4, UPLINK_GW4, UPLINK_DNS
 * (space separated), UPLINK_MTU. Then it stops the uplink and exits with CMD's status.
 * --hand-over: keeps no copy of the QEMU end, so passt's exit when CMD is done is seen and
 * reported ("uplink-run: passt exited with status N") as bulkheadd sees it.
 * Used by tests/integration/uplink.sh and bench/net.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

#include "uplink.h"
#include "util.h"

static void setenv_u(const char *k, unsigned long v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%lu", v);
	setenv(k, buf, 1);
}

static void setenv_a(const char *k, struct in_addr a)
{
	char buf[INET_ADDRSTRLEN];
	setenv(k, inet_ntop(AF_INET, &a, buf, sizeof(buf)), 1);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"netns", required_argument, NULL, 'n'},
	    {"hand-over", no_argument, NULL, 'H'},
	    {},
	};
	struct uplink_config cfg = {0};
	bool hand_over = false;
	int c;

	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			cfg.netns = optarg;
			break;
		case 'H':
			hand_over = true;
			break;
		default:
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: uplink-run [--netns NAME] [--hand-over] -- CMD...\n");
		return 2;
	}

	struct uplink *u = NULL;
	_cleanup_free_ char *err = NULL;
	int r = uplink_start(&cfg, &u, &err);
	if (r < 0) {
		fprintf(stderr, "uplink-run: cannot start the uplink: %s%s%s\n", strerror(-r),
			err ? ": " : "", err ? err : "");
		return 1;
	}
	const struct uplink_addrs *a = uplink_addrs(u);
	int fd = uplink_take_qemu_fd(u);
	setenv_u("UPLINK_FD", 3);
	setenv_u("UPLINK_PID", (unsigned long)uplink_pid(u));
	setenv_u("UPLINK_UID", (unsigned long)uplink_uid(u));
	setenv_a("UPLINK_IP4", a->ip4);
	setenv_u("UPLINK_PREFIX4", a->prefix4);
	setenv_a("UPLINK_GW4", a->gw4);
	setenv_u("UPLINK_MTU", a->mtu);
	char dns[UPLINK_MAX_DNS * (INET_ADDRSTRLEN + 1) + 1] = "";
	for (size_t i = 0; i < a->n_dns; i++) {
		char one[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &a->dns[i], one, sizeof(one));
		if (i)
			strcat(dns, " ");
		strcat(dns, one);
	}
	setenv("UPLINK_DNS", dns, 1);

	pid_t pid = fork();
	if (pid < 0) {
		perror("uplink-run: fork");
		uplink_stop(u);
		return 1;
	}
	if (pid == 0) {
		/* Only here: in this process 3 may be one the uplink holds. */
		if (dup2(fd, 3) < 0)
			_exit(127);
		execvp(argv[optind], argv + optind);
		perror("uplink-run: exec");
		_exit(127);
	}
	if (hand_over)
		close(fd);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			perror("uplink-run: waitpid");
			return 1;
		}
	if (hand_over) {
		/* The end is closed now: passt must notice and exit, as sys-net's death makes it.
		 */
		struct pollfd p = {.fd = uplink_pidfd(u), .events = POLLIN};
		while (poll(&p, 1, -1) < 0 && errno == EINTR)
			;
		int st;
		if (uplink_reap(u, &st) == 0)
			fprintf(stderr, "uplink-run: passt exited with status %d\n", st);
	} else {
		close(fd);
	}
	uplink_stop(u);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}
