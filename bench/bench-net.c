/*
 * bench-net: throughput and round-trip latency over TCP, the qube end and the server end.
 *   bench-net server ADDR PORT         serves connections forever: the first byte says what
 *                                      the client measures ('B' bulk: read to EOF, answer the
 *                                      byte count; 'P' ping-pong: echo 64-byte messages)
 *   bench-net client ADDR PORT MIB N   sends MIB MiB, then N ping-pongs; prints
 *                                      "BENCH-NET throughput_mbit=X rtt_us_median=Y rtt_us_p90=Z"
 * Static, with no name lookups, so it runs in the qube kernel's bare initramfs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MSG   64
#define CHUNK (128 * 1024)

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int full(int fd, void *buf, size_t n, int writing)
{
	char *p = buf;
	while (n) {
		ssize_t r = writing ? write(fd, p, n) : read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static struct sockaddr_in addr_of(const char *a, const char *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
	if (inet_pton(AF_INET, a, &sa.sin_addr) != 1) {
		fprintf(stderr, "bench-net: bad address %s\n", a);
		exit(2);
	}
	return sa;
}

static void serve(int c)
{
	static char buf[CHUNK];
	char kind;
	int one = 1;

	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (full(c, &kind, 1, 0) < 0)
		return;
	if (kind == 'B') {
		uint64_t total = 0;
		ssize_t r;
		while ((r = read(c, buf, sizeof(buf))) > 0)
			total += (uint64_t)r;
		full(c, &total, sizeof(total), 1);
	} else if (kind == 'P') {
		while (full(c, buf, MSG, 0) == 0 && full(c, buf, MSG, 1) == 0)
			;
	}
}

static int server(const char *a, const char *port)
{
	struct sockaddr_in sa = addr_of(a, port);
	int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);

	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 16) < 0) {
		perror("bench-net: listen");
		return 1;
	}
	signal(SIGCHLD, SIG_IGN);
	for (;;) {
		int c = accept(s, NULL, NULL);
		if (c < 0)
			continue;
		if (fork() == 0) {
			close(s);
			serve(c);
			_exit(0);
		}
		close(c);
	}
}

static int dial(struct sockaddr_in *sa, char kind)
{
	int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0 || connect(s, (struct sockaddr *)sa, sizeof(*sa)) < 0) {
		perror("bench-net: connect");
		exit(1);
	}
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (full(s, &kind, 1, 1) < 0)
		exit(1);
	return s;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int client(const char *a, const char *port, long mib, long n)
{
	static char buf[CHUNK];
	struct sockaddr_in sa = addr_of(a, port);
	uint64_t want = (uint64_t)mib << 20, got = 0;

	/* Bulk: the clock stops when the server confirms it has read everything. */
	int s = dial(&sa, 'B');
	double t0 = now();
	for (uint64_t sent = 0; sent < want; sent += CHUNK)
		if (full(s, buf, CHUNK, 1) < 0) {
			perror("bench-net: send");
			return 1;
		}
	shutdown(s, SHUT_WR);
	if (full(s, &got, sizeof(got), 0) < 0 || got != want) {
		fprintf(stderr, "bench-net: the server read %llu of %llu bytes\n",
			(unsigned long long)got, (unsigned long long)want);
		return 1;
	}
	double mbit = (double)want * 8 / 1e6 / (now() - t0);
	close(s);

	double *rtt = calloc((size_t)n, sizeof(double));
	s = dial(&sa, 'P');
	for (long i = 0; i < n; i++) {
		double t = now();
		if (full(s, buf, MSG, 1) < 0 || full(s, buf, MSG, 0) < 0) {
			perror("bench-net: ping-pong");
			return 1;
		}
		rtt[i] = (now() - t) * 1e6;
	}
	close(s);
	qsort(rtt, (size_t)n, sizeof(double), cmp);
	printf("BENCH-NET throughput_mbit=%.1f rtt_us_median=%.0f rtt_us_p90=%.0f\n", mbit,
	       rtt[n / 2], rtt[n * 9 / 10]);
	fflush(stdout);
	free(rtt);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "server") == 0)
		return server(argv[2], argv[3]);
	if (argc == 6 && strcmp(argv[1], "client") == 0 && atol(argv[4]) > 0 && atol(argv[5]) > 0)
		return client(argv[2], argv[3], atol(argv[4]), atol(argv[5]));
	fprintf(stderr, "usage: bench-net server ADDR PORT | client ADDR PORT MIB N\n");
	return 2;
}
