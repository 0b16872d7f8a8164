/*
 * bulkhead-updates-proxy: the two ends of the updates proxy (Qubes' qubes.UpdatesProxy).
 *
 *   --listen [ADDR:]PORT  in a template: accepts apt's connections (default 127.0.0.1:8082) and
 *                         gives each one to `bulkhead-call @default bulkhead.UpdatesProxy`, as
 *                         Qubes' qubes-updates-proxy-forwarder does with qrexec-client-vm.
 *   (no option)           the service in the net qube (/etc/bulkhead/rpc/bulkhead.UpdatesProxy):
 *                         joins its stdin and stdout to the caching proxy on its own loopback,
 *                         127.0.0.1:3142, and to nothing else: the caller's bytes choose no
 *                         address or port here.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

#define SERVICE	       "bulkhead.UpdatesProxy"
#define CACHE_PORT     3142
#define LISTEN_DEFAULT "127.0.0.1:8082"
#define CONNECT_TRIES  90 /* seconds the service waits for the proxy to listen */

static int parse_addr(const char *s, struct sockaddr_in *ret)
{
	char host[64] = "127.0.0.1";
	const char *colon = strrchr(s, ':'), *port = s;
	char *end;

	if (colon) {
		if ((size_t)(colon - s) >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		port = colon + 1;
	}
	errno = 0;
	unsigned long p = strtoul(port, &end, 10);
	if (errno || end == port || *end || p == 0 || p > 65535)
		return -EINVAL;
	*ret = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)p)};
	if (inet_pton(AF_INET, host, &ret->sin_addr) != 1)
		return -EINVAL;
	return 0;
}

/* The template's side: one bulkhead-call per connection, the connection as its stdin/stdout. */
static int listen_loop(const char *addr)
{
	struct sockaddr_in sa;
	int one = 1;

	if (parse_addr(addr, &sa) < 0) {
		fprintf(stderr, "bulkhead-updates-proxy: bad address '%s' (want [IPV4:]PORT)\n",
			addr);
		return 2;
	}
	_cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
		fprintf(stderr, "bulkhead-updates-proxy: cannot listen on %s: %s\n", addr,
			strerror(errno));
		return 1;
	}
	/* Children are never waited for: the kernel reaps them. */
	struct sigaction sa_chld = {.sa_handler = SIG_IGN, .sa_flags = SA_NOCLDWAIT};
	sigaction(SIGCHLD, &sa_chld, NULL);
	signal(SIGPIPE, SIG_IGN);
	const char *call = getenv("BULKHEAD_CALL");
	if (!call || !*call)
		call = "bulkhead-call";
	for (;;) {
		int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE ||
			    errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				if (errno != EINTR && errno != ECONNABORTED)
					sleep(1); /* out of resources: let some calls end */
				continue;
			}
			fprintf(stderr, "bulkhead-updates-proxy: accept: %s\n", strerror(errno));
			return 1;
		}
		pid_t pid = fork();
		if (pid == 0) {
			signal(SIGPIPE, SIG_DFL);
			signal(SIGCHLD, SIG_DFL);
			if (dup2(c, 0) < 0 || dup2(c, 1) < 0)
				_exit(127);
			execlp(call, call, "@default", SERVICE, (char *)NULL);
			fprintf(stderr, "bulkhead-updates-proxy: cannot run %s: %s\n", call,
				strerror(errno));
			_exit(127);
		}
		if (pid < 0)
			fprintf(stderr, "bulkhead-updates-proxy: fork: %s\n", strerror(errno));
		close(c);
	}
}

/* The net qube's side: stdin to the proxy, the proxy's answer to stdout, until it is done. */
static int serve(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(CACHE_PORT)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	signal(SIGPIPE, SIG_IGN);
	_cleanup_close_ int fd = -1;
	/* A call can start the net qube: the proxy starts once its network is configured. */
	for (int tries = 0;; tries++) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return 1;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		int err = errno;
		close(fd);
		fd = -1;
		if (err != ECONNREFUSED || tries >= CONNECT_TRIES) {
			fprintf(stderr,
				"bulkhead-updates-proxy: no caching proxy on 127.0.0.1:%d: %s\n",
				CACHE_PORT, strerror(err));
			return 1;
		}
		sleep(1);
	}
	struct pollfd p[2] = {{.fd = 0, .events = POLLIN}, {.fd = fd, .events = POLLIN}};
	char buf[65536];
	while (p[1].fd >= 0) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !p[i].revents)
				continue;
			ssize_t n = read(p[i].fd, buf, sizeof(buf));
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0) {
				if (i == 1)
					return 0; /* the proxy is done: so is the call */
				shutdown(fd, SHUT_WR);
				p[0].fd = -1;
				continue;
			}
			if (write_all(i == 0 ? fd : 1, buf, (size_t)n) < 0)
				return i == 0 ? 1 : 0; /* the caller left */
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 1)
		return serve();
	if (streq(argv[1], "--help") || streq(argv[1], "-h")) {
		printf("Usage: bulkhead-updates-proxy [--listen [IPV4:]PORT]\n"
		       "With --listen (default " LISTEN_DEFAULT "), passes each connection to the\n"
		       "net qube's updates proxy through bulkhead-call @default " SERVICE ".\n"
		       "Without, is that service: joins stdin/stdout to 127.0.0.1:3142.\n");
		return 0;
	}
	if (streq(argv[1], "--listen") && argc <= 3)
		return listen_loop(argc == 3 ? argv[2] : LISTEN_DEFAULT);
	fprintf(stderr, "Usage: bulkhead-updates-proxy [--listen [IPV4:]PORT]\n");
	return 2;
}
