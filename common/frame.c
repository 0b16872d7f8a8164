/* Frame codec for the channel protocol of proto.h. Library code: returns -errno, never logs. */
#include "frame.h"
#include "unaligned.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* Marks a decoder that saw a bad header: it stays unusable until re-initialised. */
#define DECODER_BROKEN SIZE_MAX

void chan_header_encode(uint8_t out[CHAN_HEADER_SIZE], uint16_t type, uint32_t stream, uint32_t len)
{
	unaligned_write_le16(out, type);
	unaligned_write_le16(out + 2, 0);
	unaligned_write_le32(out + 4, stream);
	unaligned_write_le32(out + 8, len);
}

/* Checks a complete header against the cap. */
static int header_check(const uint8_t *h, uint32_t max_payload, uint32_t *ret_len)
{
	if (unaligned_read_le16(h + 2) != 0)
		return -EBADMSG;
	uint32_t len = unaligned_read_le32(h + 8);
	if (len > max_payload)
		return -EMSGSIZE;
	*ret_len = len;
	return 0;
}

void chan_decoder_init(struct chan_decoder *d, uint32_t max_payload)
{
	d->max_payload = max_payload < CHAN_MAX_PAYLOAD ? max_payload : CHAN_MAX_PAYLOAD;
	d->have = 0;
}

int chan_decoder_feed(struct chan_decoder *d, const uint8_t *buf, size_t len, size_t *ret_consumed,
		      struct chan_frame *ret)
{
	size_t used = 0;
	uint32_t plen = 0;
	int r;

	*ret_consumed = 0;
	if (d->have == DECODER_BROKEN)
		return -EBADMSG;

	if (d->have < CHAN_HEADER_SIZE) {
		size_t n = CHAN_HEADER_SIZE - d->have;
		if (n > len)
			n = len;
		memcpy(d->buf + d->have, buf, n);
		d->have += n;
		used += n;
		if (d->have < CHAN_HEADER_SIZE) {
			*ret_consumed = used;
			return 0;
		}
	}

	/* The header is checked before a single payload byte is stored. */
	r = header_check(d->buf, d->max_payload, &plen);
	if (r < 0) {
		d->have = DECODER_BROKEN;
		*ret_consumed = used;
		return r;
	}

	size_t want = CHAN_HEADER_SIZE + (size_t)plen - d->have;
	size_t n = len - used < want ? len - used : want;
	memcpy(d->buf + d->have, buf + used, n);
	d->have += n;
	used += n;
	*ret_consumed = used;
	if (d->have < CHAN_HEADER_SIZE + (size_t)plen)
		return 0;

	ret->type = unaligned_read_le16(d->buf);
	ret->stream = unaligned_read_le32(d->buf + 4);
	ret->len = plen;
	ret->payload = d->buf + CHAN_HEADER_SIZE;
	/* The payload stays in buf until the next call overwrites it. */
	d->have = 0;
	return 1;
}

void chan_outbuf_init(struct chan_outbuf *o, size_t limit)
{
	*o = (struct chan_outbuf){.limit = limit};
}

void chan_outbuf_finish(struct chan_outbuf *o)
{
	if (!o)
		return;
	free(o->data);
	*o = (struct chan_outbuf){.limit = o->limit};
}

size_t chan_outbuf_pending(const struct chan_outbuf *o)
{
	return o->end - o->start;
}

int chan_outbuf_push(struct chan_outbuf *o, uint16_t type, uint32_t stream, const void *payload,
		     size_t len)
{
	if (len > CHAN_MAX_PAYLOAD)
		return -EMSGSIZE;
	size_t need = CHAN_HEADER_SIZE + len;
	size_t pending = chan_outbuf_pending(o);
	if (pending + need > o->limit)
		return -ENOBUFS;

	if (o->cap_alloc - o->end < need) {
		/* Move what is pending to the front first; grow only if that is not enough. */
		if (o->start > 0) {
			memmove(o->data, o->data + o->start, pending);
			o->start = 0;
			o->end = pending;
		}
		if (o->cap_alloc - o->end < need) {
			size_t cap = o->cap_alloc ? o->cap_alloc : 4096;
			while (cap - o->end < need)
				cap *= 2;
			o->data = xrealloc(o->data, cap);
			o->cap_alloc = cap;
		}
	}

	chan_header_encode(o->data + o->end, type, stream, (uint32_t)len);
	if (len > 0)
		memcpy(o->data + o->end + CHAN_HEADER_SIZE, payload, len);
	o->end += need;
	return 0;
}

int chan_outbuf_flush(struct chan_outbuf *o, int fd)
{
	while (o->start < o->end) {
		ssize_t n = write(fd, o->data + o->start, o->end - o->start);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 1;
			return -errno;
		}
		if (n == 0)
			return 1;
		o->start += (size_t)n;
	}
	o->start = o->end = 0;
	return 0;
}

int chan_send(int fd, uint16_t type, uint32_t stream, const void *payload, size_t len)
{
	uint8_t h[CHAN_HEADER_SIZE];
	int r;

	if (len > CHAN_MAX_PAYLOAD)
		return -EMSGSIZE;
	chan_header_encode(h, type, stream, (uint32_t)len);
	r = write_all(fd, h, sizeof(h));
	if (r < 0)
		return r;
	if (len == 0)
		return 0;
	return write_all(fd, payload, len);
}

int chan_recv(int fd, uint32_t max_payload, struct chan_frame *ret_frame, uint8_t **ret_payload)
{
	uint8_t h[CHAN_HEADER_SIZE];
	size_t got = 0;
	uint32_t len;
	int r;

	while (got < sizeof(h)) {
		ssize_t n = read(fd, h + got, sizeof(h) - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			/* EOF between frames is a clean close; inside a header it is not. */
			return got == 0 ? -EPIPE : -EBADMSG;
		got += (size_t)n;
	}

	if (max_payload > CHAN_MAX_PAYLOAD)
		max_payload = CHAN_MAX_PAYLOAD;
	r = header_check(h, max_payload, &len);
	if (r < 0)
		return r;

	_cleanup_free_ uint8_t *p = xmalloc((size_t)len + 1);
	r = read_exact(fd, p, len);
	if (r == -EPIPE)
		return -EBADMSG;
	if (r < 0)
		return r;
	p[len] = 0;

	ret_frame->type = unaligned_read_le16(h);
	ret_frame->stream = unaligned_read_le32(h + 4);
	ret_frame->len = len;
	ret_frame->payload = p;
	*ret_payload = TAKE_PTR(p);
	return 0;
}

int chan_hello_encode(const char *version_string, uint8_t *out, size_t out_size, size_t *ret_len)
{
	size_t n = strlen(version_string);

	if (n > 64)
		return -EINVAL;
	if (out_size < 4 + n)
		return -ENOBUFS;
	unaligned_write_le32(out, CHAN_PROTOCOL_VERSION);
	memcpy(out + 4, version_string, n);
	*ret_len = 4 + n;
	return 0;
}

int chan_hello_parse(const uint8_t *p, size_t len, struct chan_hello *ret)
{
	if (len < 4 || len - 4 > 64)
		return -EBADMSG;
	if (memchr(p + 4, 0, len - 4))
		return -EBADMSG;
	ret->version = unaligned_read_le32(p);
	memcpy(ret->peer_version, p + 4, len - 4);
	ret->peer_version[len - 4] = 0;
	return 0;
}

int chan_exec_encode(const char *user, const char *const *argv, uint8_t **ret_payload,
		     size_t *ret_len)
{
	size_t argc = 0, total = 4 + strlen(user) + 1;

	for (; argv[argc]; argc++) {
		if (argc >= CHAN_MAX_ARGS)
			return -E2BIG;
		total += strlen(argv[argc]) + 1;
		if (total > CHAN_MAX_PAYLOAD)
			return -EMSGSIZE;
	}
	if (argc == 0)
		return -EINVAL;
	if (total > CHAN_MAX_PAYLOAD)
		return -EMSGSIZE;

	uint8_t *p = xmalloc(total), *w = p + 4;
	unaligned_write_le32(p, 0);
	size_t n = strlen(user) + 1;
	memcpy(w, user, n);
	w += n;
	for (size_t i = 0; i < argc; i++) {
		n = strlen(argv[i]) + 1;
		memcpy(w, argv[i], n);
		w += n;
	}
	*ret_payload = p;
	*ret_len = total;
	return 0;
}

int chan_exec_parse(const uint8_t *p, size_t len, char **ret_storage, const char **ret_user,
		    char ***ret_argv, size_t *ret_argc)
{
	size_t nstr = 0;

	/* flags, then at least the user's NUL and one argument's NUL */
	if (len < 4 + 2 || len > CHAN_MAX_PAYLOAD)
		return -EBADMSG;
	if (unaligned_read_le32(p) != 0)
		return -EBADMSG;
	const uint8_t *s = p + 4;
	size_t slen = len - 4;
	if (s[slen - 1] != 0)
		return -EBADMSG;
	for (size_t i = 0; i < slen; i++)
		if (s[i] == 0)
			nstr++;
	/* user + 1..CHAN_MAX_ARGS arguments */
	if (nstr < 2 || nstr - 1 > CHAN_MAX_ARGS)
		return -EBADMSG;

	_cleanup_free_ char *storage = xmalloc(slen);
	memcpy(storage, s, slen);
	size_t argc = nstr - 1;
	char **argv = xcalloc(argc + 1, sizeof(char *));
	char *w = storage + strlen(storage) + 1;
	for (size_t i = 0; i < argc; i++) {
		argv[i] = w;
		w += strlen(w) + 1;
	}
	argv[argc] = NULL;

	*ret_user = storage;
	*ret_argv = argv;
	*ret_argc = argc;
	*ret_storage = TAKE_PTR(storage);
	return 0;
}

int chan_u32_parse(const uint8_t *p, size_t len, uint32_t *ret)
{
	if (len != 4)
		return -EBADMSG;
	*ret = unaligned_read_le32(p);
	return 0;
}

void chan_u32_encode(uint8_t out[4], uint32_t v)
{
	unaligned_write_le32(out, v);
}

int chan_exit_parse(const uint8_t *p, size_t len, uint32_t *ret_kind, int32_t *ret_value)
{
	if (len != 8)
		return -EBADMSG;
	*ret_kind = unaligned_read_le32(p);
	*ret_value = (int32_t)unaligned_read_le32(p + 4);
	return 0;
}

void chan_exit_encode(uint8_t out[8], uint32_t kind, int32_t value)
{
	unaligned_write_le32(out, kind);
	unaligned_write_le32(out + 4, (uint32_t)value);
}

static const struct {
	uint16_t type;
	const char *name;
} type_names[] = {
    {CHAN_HELLO, "HELLO"},	   {CHAN_EXEC, "EXEC"},		  {CHAN_STDIN, "STDIN"},
    {CHAN_STDOUT, "STDOUT"},	   {CHAN_STDERR, "STDERR"},	  {CHAN_WINDOW, "WINDOW"},
    {CHAN_EXIT, "EXIT"},	   {CHAN_SIGNAL, "SIGNAL"},	  {CHAN_SHUTDOWN, "SHUTDOWN"},
    {CHAN_ERROR, "ERROR"},	   {CHAN_ECHO, "ECHO"},		  {CHAN_ECHO_REPLY, "ECHO_REPLY"},
    {CHAN_RPC_CALL, "RPC_CALL"},   {CHAN_SERVICE, "SERVICE"},	  {CHAN_API_REQUEST, "API_REQUEST"},
    {CHAN_API_REPLY, "API_REPLY"}, {CHAN_API_EVENT, "API_EVENT"},
};

const char *chan_type_name(uint16_t type)
{
	for (size_t i = 0; i < ARRAY_SIZE(type_names); i++)
		if (type_names[i].type == type)
			return type_names[i].name;
	return NULL;
}

int chan_strings_encode(const char *const *strs, size_t n, uint8_t *out, size_t out_size,
			size_t *ret_len)
{
	size_t total = 0;

	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(strs[i]) + 1;
		if (l > CHAN_STRING_MAX + 1 || total + l > out_size)
			return -EMSGSIZE;
		memcpy(out + total, strs[i], l);
		total += l;
	}
	*ret_len = total;
	return 0;
}

int chan_strings_parse(const uint8_t *p, size_t len, size_t n, char *storage, const char **ret_strs)
{
	size_t count = 0, start = 0;

	if (len == 0 || len > n * (CHAN_STRING_MAX + 1) || p[len - 1] != 0)
		return -EBADMSG;
	for (size_t i = 0; i < len; i++) {
		if (p[i] != 0)
			continue;
		if (count == n || i - start > CHAN_STRING_MAX)
			return -EBADMSG;
		count++;
		start = i + 1;
	}
	if (count != n)
		return -EBADMSG;
	memcpy(storage, p, len);
	for (size_t i = 0, off = 0; i < n; i++) {
		ret_strs[i] = storage + off;
		off += strlen(storage + off) + 1;
	}
	return 0;
}
