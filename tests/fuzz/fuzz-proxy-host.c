/* Fuzz target for the Wayland proxy's host half: the input is a stream of link frames as a
 * hostile guest half would send them, handled by the same code the host half runs, with
 * socketpairs standing in for the compositor's connections. A frame of type FUZZ_FROM_COMPOSITOR
 * is not sent to the host half: its payload is written by the "compositor" on that connection,
 * so the event side is exercised too (with a descriptor attached when the conn field has
 * FUZZ_WITH_FD set). Whatever the bytes, the host half must neither crash nor
 * leak; a link-level violation ends the run as it ends the process. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fd-pass.h"
#include "fuzz.h"
#include "host.h"
#include "log.h"

#define FUZZ_FROM_COMPOSITOR 0xfffffff0u
#define FUZZ_WITH_FD	     0x80000000u
#define MAX_COMPOSITOR_ENDS  16

struct harness {
	int ends[MAX_COMPOSITOR_ENDS]; /* the compositor's side of each connection made */
	unsigned nends;
};

static int fake_connect(void *userdata)
{
	struct harness *hs = userdata;
	int sv[2];
	if (hs->nends >= MAX_COMPOSITOR_ENDS)
		return -EMFILE;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
		return -errno;
	hs->ends[hs->nends++] = sv[0];
	return sv[1];
}

/* Reads and drops what the host half sent, closing descriptors that came with it. */
static void drain(int fd)
{
	char buf[65536];
	int got;

	while (receive_one_fd(fd, buf, sizeof(buf), &got, MSG_DONTWAIT) > 0)
		if (got >= 0)
			close(got);
}

/* Writes the payload as the compositor would, with a small file (a keymap, or a clipboard
 * pipe's stand-in) attached when conn has FUZZ_WITH_FD set. */
static void compositor_says(int fd, const struct link_frame *f)
{
	static const char contents[] = "xkb_keymap { };";
	int file = -1;

	if (f->len == 0)
		return;
	if (f->conn & FUZZ_WITH_FD) {
		file = memfd_create("fuzz", MFD_CLOEXEC);
		if (file < 0 || write(file, contents, sizeof(contents)) < 0)
			abort();
	}
	ssize_t n = send_one_fd(fd, f->payload, f->len, file, MSG_DONTWAIT);
	if (n < 0 && n != -EAGAIN && n != -EPIPE)
		abort();
	if (file >= 0)
		close(file);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct harness hs = {0};
	struct host *h = NULL;
	int link[2];
	size_t off = 0;

	signal(SIGPIPE, SIG_IGN);
	/* FUZZ_PROXY_LOG=1 shows which connections an input ends, and why. */
	log_set_level(getenv("FUZZ_PROXY_LOG") ? LOG_LVL_DEBUG : LOG_LVL_ERROR);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, link) < 0)
		abort();
	if (host_new("fuzz", link[1], fake_connect, &hs, &h) < 0)
		abort();

	while (size - off >= LINK_HEADER_SIZE) {
		struct link_frame f = {
		    .type = le32(data + off),
		    .conn = le32(data + off + 4),
		    .len = le32(data + off + 8),
		};
		off += LINK_HEADER_SIZE;
		if (f.len > LINK_MAX_PAYLOAD || f.len > size - off)
			break; /* the link reader refuses or waits for these */
		f.payload = data + off;
		off += f.len;
		int r = 0;
		if (f.type == FUZZ_FROM_COMPOSITOR) {
			/* conn picks one of the connections made so far */
			if (hs.nends > 0)
				compositor_says(hs.ends[(f.conn & ~FUZZ_WITH_FD) % hs.nends], &f);
		} else {
			r = host_handle_frame(h, &f);
		}
		if (r < 0)
			break;
		r = host_dispatch(h, 0);
		if (r < 0)
			break;
		drain(link[0]);
		for (unsigned i = 0; i < hs.nends; i++)
			drain(hs.ends[i]);
	}

	host_free(h);
	close(link[0]);
	close(link[1]);
	for (unsigned i = 0; i < hs.nends; i++)
		close(hs.ends[i]);
	return 0;
}
