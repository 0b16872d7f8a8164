/* The bulkheadd <-> bulkhead-qchan message set: see qmsg.h. */
#include "qmsg.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"
#include "fd-pass.h"
#include "unaligned.h"
#include "util.h"

#define STRS(n) ((n) * (CHAN_STRING_MAX + 1))

static const struct qmsg_info table[] = {
    {QMSG_EXEC, "EXEC", QMSG_TO_CHILD, QMSG_MAX_PAYLOAD, QMSG_FD_REQUIRED, 0},
    {QMSG_SERVICE, "SERVICE", QMSG_TO_CHILD, STRS(4), QMSG_FD_REQUIRED, 4},
    {QMSG_CALL_CONNECT, "CALL_CONNECT", QMSG_TO_CHILD, 0, QMSG_FD_REQUIRED, 0},
    {QMSG_CALL_DOM0, "CALL_DOM0", QMSG_TO_CHILD, STRS(3), QMSG_FD_OPTIONAL, 3},
    {QMSG_CALL_REFUSE, "CALL_REFUSE", QMSG_TO_CHILD, STRS(1), QMSG_FD_NONE, 1},
    {QMSG_CALL_ABORT, "CALL_ABORT", QMSG_TO_CHILD, STRS(1), QMSG_FD_NONE, 1},
    {QMSG_SERVICE_KILL, "SERVICE_KILL", QMSG_TO_CHILD, 0, QMSG_FD_NONE, 0},
    {QMSG_ECHO, "ECHO", QMSG_TO_CHILD, 4096, QMSG_FD_NONE, 0},
    {QMSG_SHUTDOWN, "SHUTDOWN", QMSG_TO_CHILD, 0, QMSG_FD_NONE, 0},
    {QMSG_READY, "READY", QMSG_TO_PARENT, STRS(1), QMSG_FD_NONE, 1},
    {QMSG_CALL, "CALL", QMSG_TO_PARENT, STRS(2), QMSG_FD_NONE, 2},
    {QMSG_CALL_END, "CALL_END", QMSG_TO_PARENT, 0, QMSG_FD_NONE, 0},
    {QMSG_SERVICE_END, "SERVICE_END", QMSG_TO_PARENT, 0, QMSG_FD_NONE, 0},
    {QMSG_ECHO_REPLY, "ECHO_REPLY", QMSG_TO_PARENT, 4096, QMSG_FD_NONE, 0},
    {QMSG_EXEC_END, "EXEC_END", QMSG_TO_PARENT, 0, QMSG_FD_NONE, 0},
    {QMSG_MEMINFO, "MEMINFO", QMSG_TO_PARENT, 8, QMSG_FD_NONE, 0},
};

const struct qmsg_info *qmsg_lookup(uint16_t type)
{
	for (size_t i = 0; i < ARRAY_SIZE(table); i++)
		if (table[i].type == type)
			return &table[i];
	return NULL;
}

int qmsg_send(int sock, uint16_t type, uint32_t id, const void *payload, size_t len, int fd)
{
	uint8_t hdr[QMSG_HEADER_SIZE];
	struct iovec iov[2] = {{hdr, sizeof(hdr)}, {(void *)payload, len}};

	if (len > QMSG_MAX_PAYLOAD)
		return -EMSGSIZE;
	unaligned_write_le16(hdr, type);
	unaligned_write_le16(hdr + 2, 0);
	unaligned_write_le32(hdr + 4, id);
	unaligned_write_le32(hdr + 8, (uint32_t)len);
	ssize_t n = send_fds(sock, iov, len ? 2 : 1, &fd, fd >= 0 ? 1 : 0, 0);
	if (n < 0)
		return (int)n;
	return (size_t)n == sizeof(hdr) + len ? 0 : -EIO;
}

int qmsg_send_strings(int sock, uint16_t type, uint32_t id, const char *const *strs, size_t n,
		      int fd)
{
	uint8_t buf[STRS(4)];
	size_t len;
	if (n > 4 || chan_strings_encode(strs, n, buf, sizeof(buf), &len) < 0)
		return -EINVAL;
	return qmsg_send(sock, type, id, buf, len, fd);
}

static int bad(struct qmsg *m)
{
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	return -EBADMSG;
}

int qmsg_recv(int sock, enum qmsg_dir dir, struct qmsg *m)
{
	uint8_t hdr[QMSG_HEADER_SIZE];
	struct iovec iov[2] = {{hdr, sizeof(hdr)}, {m->payload, QMSG_MAX_PAYLOAD}};
	size_t nfds;

	m->fd = -1;
	/* At most one descriptor; more, or a message cut short, is refused with all it carried. */
	ssize_t n = recv_fds(sock, iov, 2, &m->fd, 1, &nfds, 0);
	if (n == -EBADMSG || n == -EMSGSIZE)
		return -EBADMSG;
	if (n < 0)
		return (int)n;
	if (n == 0)
		return -EPIPE;
	if (nfds == 0)
		m->fd = -1;
	if ((size_t)n < sizeof(hdr))
		return bad(m);
	m->type = unaligned_read_le16(hdr);
	m->id = unaligned_read_le32(hdr + 4);
	m->len = unaligned_read_le32(hdr + 8);
	const struct qmsg_info *info = qmsg_lookup(m->type);
	if (!info || info->dir != dir || unaligned_read_le16(hdr + 2) != 0 ||
	    m->len != (size_t)n - sizeof(hdr) || m->len > info->max_len)
		return bad(m);
	if ((info->fd == QMSG_FD_REQUIRED && m->fd < 0) || (info->fd == QMSG_FD_NONE && m->fd >= 0))
		return bad(m);
	m->payload[m->len] = '\0';
	if (info->n_strings) {
		char storage[STRS(4)];
		if (chan_strings_parse(m->payload, m->len, info->n_strings, storage, m->str) < 0)
			return bad(m);
		/* The strings are where they were, NUL-terminated in payload itself. */
		size_t off = 0;
		for (unsigned i = 0; i < info->n_strings; i++) {
			m->str[i] = (const char *)m->payload + off;
			off += strlen(m->str[i]) + 1;
		}
	}
	return 0;
}

bool qmsg_token_valid(const char *s)
{
	size_t n = s ? strnlen(s, CHAN_STRING_MAX + 1) : 0;
	if (n == 0 || n > CHAN_STRING_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("_.:@+-", c)))
			return false;
	}
	return true;
}
