/*
 * bulkhead-call TARGET SERVICE[+ARG]: calls a service in another qube (or the host), the way
 * Qubes' qrexec-client-vm does. Our stdin goes to the service, its stdout comes back on ours,
 * and we exit with its status: 126 when the policy refused the call.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "frame.h"
#include "util.h"

#define DEFAULT_SOCKET "/run/bulkhead-agent.sock"
#define EXIT_REFUSED   126

static void usage(FILE *f)
{
	fprintf(f, "Usage: bulkhead-call [--socket PATH] TARGET SERVICE[+ARGUMENT]\n"
		   "Calls SERVICE in the qube TARGET (or dom0), as the host's policy allows.\n"
		   "Standard input goes to the service, its output comes back on standard output;\n"
		   "the exit status is the service's, or 126 when the call was refused.\n");
}

static int connect_agent(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *sock = getenv("BULKHEAD_AGENT_SOCKET");
	int c;

	if (!sock || !*sock)
		sock = DEFAULT_SOCKET;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			sock = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	const char *strs[2] = {argv[optind], argv[optind + 1]};
	uint8_t call[2 * (CHAN_STRING_MAX + 1)];
	size_t len;
	if (chan_strings_encode(strs, 2, call, sizeof(call), &len) < 0) {
		fprintf(stderr, "bulkhead-call: target or service name too long\n");
		return 2;
	}
	int fd = connect_agent(sock);
	if (fd < 0) {
		fprintf(stderr, "bulkhead-call: cannot reach the agent at %s: %s\n", sock,
			strerror(-fd));
		return EXIT_REFUSED;
	}
	if (chan_send(fd, CHAN_RPC_CALL, 1, call, len) < 0) {
		fprintf(stderr, "bulkhead-call: the agent hung up\n");
		return EXIT_REFUSED;
	}

	/* No stdin may go out before the host grants a window: the call is not connected yet. */
	uint64_t credit = 0;
	bool in_eof = false;
	for (;;) {
		struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
		nfds_t n = (!in_eof && credit > 0) ? 2 : 1;
		if (poll(p, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (n == 2 && p[1].revents) {
			uint8_t buf[32768];
			size_t want = credit < sizeof(buf) ? (size_t)credit : sizeof(buf);
			ssize_t k = read(0, buf, want);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				in_eof = true;
				chan_send(fd, CHAN_STDIN, 1, NULL, 0);
			} else {
				credit -= (size_t)k;
				if (chan_send(fd, CHAN_STDIN, 1, buf, (size_t)k) < 0)
					in_eof = true;
			}
		}
		if (!p[0].revents)
			continue;

		struct chan_frame f;
		_cleanup_free_ uint8_t *payload = NULL;
		int r = chan_recv(fd, CHAN_MAX_PAYLOAD, &f, &payload);
		if (r < 0) {
			fprintf(stderr, "bulkhead-call: the call ended without a status\n");
			return 1;
		}
		switch (f.type) {
		case CHAN_STDOUT:
		case CHAN_STDERR:
			if (f.len > 0) {
				/* A reader that went away is the same as a local pipeline's EPIPE:
				 * keep granting so the service is not stuck. */
				(void)!write_all(f.type == CHAN_STDOUT ? 1 : 2, payload, f.len);
				uint8_t w[4];
				chan_u32_encode(w, f.len);
				chan_send(fd, CHAN_WINDOW, 1, w, sizeof(w));
			}
			break;
		case CHAN_WINDOW: {
			uint32_t add;
			if (chan_u32_parse(payload, f.len, &add) == 0)
				credit += add;
			break;
		}
		case CHAN_EXIT: {
			uint32_t kind;
			int32_t value;
			if (chan_exit_parse(payload, f.len, &kind, &value) < 0)
				return 1;
			if (kind == CHAN_EXIT_SIGNAL)
				return 128 + (value & 0x7f);
			return value & 0xff;
		}
		case CHAN_ERROR:
			fprintf(stderr, "bulkhead-call: %.*s\n", (int)(f.len > 500 ? 500 : f.len),
				(const char *)payload);
			return EXIT_REFUSED;
		default:
			break;
		}
	}
}
