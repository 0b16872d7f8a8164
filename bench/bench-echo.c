/*
 * bench-echo [-1] SOCKET QUBE N: N admin.vm.Echo calls through bulkheadd to QUBE's agent (one
 * ECHO round trip over the qube's channel each), printing each call's latency in microseconds,
 * one per line. By default every call opens a new API connection, as each `bulkhead` command
 * does; -1 sends all calls over one connection.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "api-client.h"
#include "bench-util.h"
#include "frame.h"
#include "util.h"

#define ECHO_DATA "bulkhead-bench"

static int api_connect(const char *path, int *ret_fd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* One call; returns 0 only when the reply is ok and carries our data back. */
static int echo_call(int fd, const char *request, size_t len)
{
	int r = chan_send(fd, CHAN_API_REQUEST, 0, request, len);
	if (r < 0)
		return r;
	struct chan_frame f;
	_cleanup_free_ uint8_t *payload = NULL;
	r = chan_recv(fd, CHAN_MAX_PAYLOAD, &f, &payload);
	if (r < 0)
		return r;
	if (f.type != CHAN_API_REPLY)
		return -EBADMSG;
	struct json_object *reply = json_tokener_parse((const char *)payload), *v, *data;
	if (!reply)
		return -EBADMSG;
	r = -EBADMSG;
	if (json_object_object_get_ex(reply, "ok", &v) && json_object_get_boolean(v) &&
	    json_object_object_get_ex(reply, "result", &v) &&
	    json_object_object_get_ex(v, "data", &data) &&
	    streq(json_object_get_string(data), ECHO_DATA))
		r = 0;
	else
		fprintf(stderr, "bench-echo: unexpected reply: %s\n", (const char *)payload);
	json_object_put(reply);
	return r;
}

int main(int argc, char **argv)
{
	bool one_connection = false;
	int argi = 1;

	if (argc > 1 && streq(argv[1], "-1")) {
		one_connection = true;
		argi++;
	}
	if (argc - argi != 3) {
		fprintf(stderr, "usage: bench-echo [-1] SOCKET QUBE N\n");
		return 2;
	}
	const char *sock = argv[argi], *qube = argv[argi + 1];
	long n = parse_count(argv[argi + 2], 10000000);
	if (n < 0) {
		fprintf(stderr, "bench-echo: bad count '%s'\n", argv[argi + 2]);
		return 2;
	}

	/* Encoded once: the benchmark measures the round trip, not json-c. */
	struct json_object *payload = json_object_new_object();
	json_object_object_add(payload, "data", json_object_new_string(ECHO_DATA));
	_cleanup_free_ char *request = NULL;
	size_t len;
	int r = api_request_encode("admin.vm.Echo", qube, "", payload, &request, &len);
	json_object_put(payload);
	if (r < 0) {
		fprintf(stderr, "bench-echo: %s\n", strerror(-r));
		return 1;
	}

	_cleanup_close_ int fd = -1;
	for (long i = 0; i < n; i++) {
		uint64_t t0 = now_us();
		if (fd < 0) {
			r = api_connect(sock, &fd);
			if (r < 0) {
				fprintf(stderr, "bench-echo: cannot connect to %s: %s\n", sock,
					strerror(-r));
				return 1;
			}
		}
		r = echo_call(fd, request, len);
		if (!one_connection) {
			close(fd);
			fd = -1;
		}
		uint64_t t1 = now_us();
		if (r < 0) {
			fprintf(stderr, "bench-echo: call %ld failed: %s\n", i + 1, strerror(-r));
			return 1;
		}
		printf("%llu\n", (unsigned long long)(t1 - t0));
	}
	return 0;
}
