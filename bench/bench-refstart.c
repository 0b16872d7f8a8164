/*
 * bench-refstart [-d] [-t SECONDS] XMLFILE SOCKET: the reference for `bulkhead start`. Starts the
 * domain in XMLFILE with libvirt's virDomainCreateXML (no virsh in between), connects to its
 * control channel at SOCKET (retrying until QEMU listens), sends HELLO as bulkheadd does, and
 * waits for the agent's HELLO. Prints "<total_us> <create_us>": from just before
 * virDomainCreateXML to the agent's HELLO, and the part spent in virDomainCreateXML. The
 * connection to libvirt is opened before the clock starts, as bulkheadd holds one open.
 *
 * The domain is left running (the caller destroys it) unless -d is given. On any failure the
 * domain is destroyed and the exit status is 1.
 */
#include <fcntl.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench-util.h"
#include "frame.h"
#include "util.h"

#define XML_MAX		(1024 * 1024)
#define CONNECT_POLL_US 1000 /* 1 ms: finer than bulkheadd's retry so we never lag it */

static int read_file(const char *path, char **ret)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	_cleanup_free_ char *buf = xmalloc(XML_MAX + 1);
	size_t have = 0;
	for (;;) {
		ssize_t n = read(fd, buf + have, XML_MAX - have);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		have += (size_t)n;
		if (have == XML_MAX)
			return -EFBIG;
	}
	buf[have] = 0;
	*ret = TAKE_PTR(buf);
	return 0;
}

static int try_connect(const char *path, int *ret_fd)
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

/* Sends our HELLO and waits for the agent's, skipping anything else it says first. */
static int hello_exchange(int fd, uint64_t deadline)
{
	uint8_t hello[128];
	size_t len;
	int r = chan_hello_encode(BULKHEAD_VERSION, hello, sizeof(hello), &len);
	if (r < 0)
		return r;
	r = chan_send(fd, CHAN_HELLO, 0, hello, len);
	if (r < 0)
		return r;
	for (;;) {
		uint64_t now = now_us();
		if (now >= deadline)
			return -ETIMEDOUT;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int timeout_ms = (int)((deadline - now) / 1000) + 1;
		r = poll(&p, 1, timeout_ms);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		struct chan_frame f;
		_cleanup_free_ uint8_t *payload = NULL;
		r = chan_recv(fd, CHAN_MAX_PAYLOAD, &f, &payload);
		if (r < 0)
			return r;
		struct chan_hello h;
		if (f.type == CHAN_HELLO && f.stream == 0)
			return chan_hello_parse(f.payload, f.len, &h);
	}
}

static void ignore_libvirt_error(void *opaque, virErrorPtr err)
{
	/* Reported once, below, with what we were doing. */
}

static const char *libvirt_error(void)
{
	virErrorPtr e = virGetLastError();
	return e && e->message ? e->message : "unknown libvirt error";
}

int main(int argc, char **argv)
{
	bool destroy = false;
	long timeout_s = 120;
	int opt;

	while ((opt = getopt(argc, argv, "dt:")) != -1) {
		if (opt == 'd') {
			destroy = true;
		} else if (opt == 't') {
			timeout_s = parse_count(optarg, 3600);
			if (timeout_s < 0) {
				fprintf(stderr, "bench-refstart: bad timeout '%s'\n", optarg);
				return 2;
			}
		} else {
			return 2;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: bench-refstart [-d] [-t SECONDS] XMLFILE SOCKET\n");
		return 2;
	}
	const char *xml_path = argv[optind], *sock = argv[optind + 1];
	const char *uri =
	    getenv("LIBVIRT_DEFAULT_URI") ? getenv("LIBVIRT_DEFAULT_URI") : "qemu:///system";
	_cleanup_free_ char *xml = NULL;
	int r = read_file(xml_path, &xml);
	if (r < 0) {
		fprintf(stderr, "bench-refstart: cannot read %s: %s\n", xml_path, strerror(-r));
		return 1;
	}

	virSetErrorFunc(NULL, ignore_libvirt_error);
	virConnectPtr conn = virConnectOpen(uri);
	if (!conn) {
		fprintf(stderr, "bench-refstart: cannot connect to %s: %s\n", uri, libvirt_error());
		return 1;
	}

	uint64_t t0 = now_us();
	virDomainPtr dom = virDomainCreateXML(conn, xml, 0);
	uint64_t t_created = now_us();
	if (!dom) {
		fprintf(stderr, "bench-refstart: cannot create the domain: %s\n", libvirt_error());
		virConnectClose(conn);
		return 1;
	}

	uint64_t deadline = t0 + (uint64_t)timeout_s * 1000000u;
	_cleanup_close_ int fd = -1;
	while ((r = try_connect(sock, &fd)) < 0 && (r == -ENOENT || r == -ECONNREFUSED) &&
	       now_us() < deadline)
		usleep(CONNECT_POLL_US);
	if (r == 0)
		r = hello_exchange(fd, deadline);
	uint64_t t1 = now_us();
	if (r < 0) {
		fprintf(stderr, "bench-refstart: no HELLO from the agent on %s: %s\n", sock,
			strerror(-r));
		destroy = true;
	} else {
		printf("%llu %llu\n", (unsigned long long)(t1 - t0),
		       (unsigned long long)(t_created - t0));
	}

	if (destroy && virDomainDestroy(dom) < 0) {
		fprintf(stderr, "bench-refstart: cannot destroy %s: %s\n", virDomainGetName(dom),
			libvirt_error());
		r = -EIO;
	}
	virDomainFree(dom);
	virConnectClose(conn);
	return r < 0 ? 1 : 0;
}
