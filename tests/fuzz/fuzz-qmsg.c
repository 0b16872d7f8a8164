/* Fuzz target for bulkheadd's side of the channel process message set: each record of the
 * input ([u16 length][bytes], little-endian) is one packet on a SOCK_SEQPACKET socket, read
 * with qmsg_recv as bulkheadd reads it, then given bulkheadd's field checks. Whatever passes
 * must hold what bulkheadd relies on. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"
#include "fuzz.h"
#include "qchan-check.h"
#include "qmsg.h"

static struct qmsg msg;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
		abort();
	size_t off = 0;
	while (off + 2 <= size) {
		size_t n = (size_t)data[off] | ((size_t)data[off + 1] << 8);
		off += 2;
		if (n > size - off)
			n = size - off;
		if (send(sv[0], data + off, n, 0) < 0)
			break;
		off += n;
		int r = qmsg_recv(sv[1], QMSG_TO_PARENT, &msg);
		if (r == -EAGAIN)
			continue; /* an empty packet */
		if (r < 0) {
			if (msg.fd != -1)
				abort(); /* a refused message keeps no descriptor */
			continue;
		}
		const struct qmsg_info *info = qmsg_lookup(msg.type);
		if (!info || info->dir != QMSG_TO_PARENT || msg.len > info->max_len || msg.fd != -1)
			abort();
		if (qchan_msg_check(&msg))
			continue;
		if (msg.type == QMSG_CALL &&
		    (!(msg.id & CHAN_STREAM_QUBE) || strlen(msg.str[0]) > CHAN_STRING_MAX ||
		     strpbrk(msg.str[0], "\n\r /") || strpbrk(msg.str[1], "\n\r /")))
			abort();
		if (msg.type == QMSG_READY && strlen(msg.str[0]) > 64)
			abort();
	}
	close(sv[0]);
	close(sv[1]);
	return 0;
}
