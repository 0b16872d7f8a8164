/* Fuzz target for the channel process's frame state machine (qchan/engine.c), not only the
 * decoder: records of the input drive it as a qube and as bulkheadd would.
 *   [0][u16 len][bytes]  bytes from the qube's channel
 *   [1][u16 len][bytes]  one message from bulkheadd (a descriptor is attached when its type
 *                        needs one: a fresh socketpair, whose other end the target then
 *                        feeds with the next [2] records)
 *   [2][u16 len][bytes]  bytes from the peer of the last descriptor handed over
 * After each record the engine runs one round; what it writes is read and dropped. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine.h"
#include "fuzz.h"
#include "log.h"
#include "qmsg.h"

static void drain(int fd)
{
	char buf[65536];
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int chan[2], ctl[2], peer = -1;
	struct engine *e;

	log_set_level(LOG_LVL_ERROR);
	/* As in the sandbox: a write to a peer that left fails instead of killing us. */
	signal(SIGPIPE, SIG_IGN);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, chan) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, ctl) < 0)
		abort();
	engine_new("fuzz", chan[1], ctl[1], &e);
	size_t off = 0;
	int r = 0;
	while (r == 0 && off + 3 <= size) {
		uint8_t kind = data[off];
		size_t n = (size_t)data[off + 1] | ((size_t)data[off + 2] << 8);
		off += 3;
		if (n > size - off)
			n = size - off;
		const uint8_t *p = data + off;
		off += n;
		if (kind == 0) {
			r = engine_feed_channel(e, p, n);
		} else if (kind == 1 && n >= QMSG_HEADER_SIZE) {
			int sv[2] = {-1, -1};
			uint16_t type = (uint16_t)(p[0] | (p[1] << 8));
			const struct qmsg_info *info = qmsg_lookup(type);
			if (info && info->fd != QMSG_FD_NONE &&
			    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
				       sv) == 0) {
				if (peer >= 0)
					close(peer);
				peer = sv[0];
			}
			uint32_t id = (uint32_t)p[4] | ((uint32_t)p[5] << 8) |
				      ((uint32_t)p[6] << 16) | ((uint32_t)p[7] << 24);
			qmsg_send(ctl[0], type, id, p + QMSG_HEADER_SIZE, n - QMSG_HEADER_SIZE,
				  sv[1]);
			if (sv[1] >= 0)
				close(sv[1]);
		} else if (kind == 2 && peer >= 0) {
			if (send(peer, p, n, MSG_DONTWAIT) < 0) {
				/* the engine closed it */
			}
		}
		if (r == 0)
			r = engine_run_once(e, 0);
		drain(chan[0]);
		drain(ctl[0]);
		if (peer >= 0)
			drain(peer);
	}
	engine_free(e);
	if (peer >= 0)
		close(peer);
	close(chan[0]);
	close(chan[1]);
	close(ctl[0]);
	close(ctl[1]);
	return 0;
}
