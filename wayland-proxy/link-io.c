/* Link frames on a non-blocking descriptor: a reader that hands out whole frames, a writer that
 * queues what the descriptor does not take at once, up to a cap. */
#include "link-io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "unaligned.h"

/* Reads take at most a chunk, so that the rest of a large frame can be read by the caller
 * straight to where it goes (link_reader_partial). */
#define READ_CHUNK (64u << 10)
#define READ_CAP   (LINK_HEADER_SIZE + LINK_MAX_PAYLOAD + READ_CHUNK)

struct link_reader {
	int fd;
	uint8_t *buf;
	size_t start, end; /* unread bytes are buf[start..end) */
	size_t consumed;   /* the last frame handed out, dropped at the next call */
	bool stop_partial; /* return 2 after a read that leaves a large frame unfinished */
};

struct link_writer {
	int fd;
	size_t max_queued;
	uint8_t *buf;
	size_t start, end, cap;
	uint64_t written;
	bool corked;
};

#define CORK_MAX (64u << 10) /* larger frames are not held back (they would be copied) */

struct link_reader *link_reader_new(int fd)
{
	struct link_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->buf = malloc(READ_CAP);
	if (!r->buf) {
		free(r);
		return NULL;
	}
	r->fd = fd;
	return r;
}

void link_reader_free(struct link_reader *r)
{
	if (!r)
		return;
	free(r->buf);
	free(r);
}

/* 1 and the frame when buf holds one, 0 when not yet, -EBADMSG for an oversized length. */
static int take_frame(struct link_reader *r, struct link_frame *ret_frame)
{
	size_t have = r->end - r->start;
	if (have < LINK_HEADER_SIZE)
		return 0;
	const uint8_t *h = r->buf + r->start;
	uint32_t len = unaligned_read_le32(h + 8);
	if (len > LINK_MAX_PAYLOAD)
		return -EBADMSG;
	if (have - LINK_HEADER_SIZE < len)
		return 0;
	*ret_frame = (struct link_frame){
	    .type = unaligned_read_le32(h),
	    .conn = unaligned_read_le32(h + 4),
	    .len = len,
	    .payload = h + LINK_HEADER_SIZE,
	};
	r->consumed = LINK_HEADER_SIZE + len;
	return 1;
}

int link_read_frame(struct link_reader *r, struct link_frame *ret_frame)
{
	r->start += r->consumed;
	r->consumed = 0;
	if (r->start == r->end)
		r->start = r->end = 0;

	for (;;) {
		int k = take_frame(r, ret_frame);
		if (k != 0)
			return k;
		/* Bytes move only when the frame begun cannot end inside the buffer; its length is
		 * known (and checked) as soon as its header is here, so what moves is at most a
		 * chunk. Then the frame ends before READ_CAP, and there is room to read. */
		size_t have = r->end - r->start;
		size_t need = LINK_HEADER_SIZE;
		if (have >= LINK_HEADER_SIZE)
			need += unaligned_read_le32(r->buf + r->start + 8);
		if (r->start + need > READ_CAP) {
			memmove(r->buf, r->buf + r->start, have);
			r->end = have;
			r->start = 0;
		}
		size_t room = READ_CAP - r->end, want = room < READ_CHUNK ? room : READ_CHUNK;
		ssize_t n = read(r->fd, r->buf + r->end, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -errno;
		}
		if (n == 0)
			return -EPIPE;
		r->end += (size_t)n;
		if (r->stop_partial && r->end - r->start >= LINK_HEADER_SIZE &&
		    LINK_HEADER_SIZE + (size_t)unaligned_read_le32(r->buf + r->start + 8) >
			r->end - r->start + READ_CHUNK)
			return 2;
		/* A short read emptied the socket: unless a frame is whole now, the next read
		 * would only say so (EAGAIN). */
		if ((size_t)n < want) {
			k = take_frame(r, ret_frame);
			return k;
		}
	}
}

void link_reader_stop_at_partial(struct link_reader *r, bool stop)
{
	r->stop_partial = stop;
}

int link_reader_partial(struct link_reader *r, struct link_frame *ret_frame, size_t *ret_have)
{
	size_t have = r->end - r->start - r->consumed;
	const uint8_t *h = r->buf + r->start + r->consumed;
	if (have < LINK_HEADER_SIZE)
		return 0;
	uint32_t len = unaligned_read_le32(h + 8);
	if (len > LINK_MAX_PAYLOAD || have - LINK_HEADER_SIZE >= len)
		return 0;
	*ret_frame = (struct link_frame){
	    .type = unaligned_read_le32(h),
	    .conn = unaligned_read_le32(h + 4),
	    .len = len,
	    .payload = h + LINK_HEADER_SIZE,
	};
	*ret_have = have - LINK_HEADER_SIZE;
	return 1;
}

void link_reader_skip_partial(struct link_reader *r)
{
	r->start = r->end = r->consumed = 0;
}

struct link_writer *link_writer_new(int fd, size_t max_queued)
{
	struct link_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->fd = fd;
	w->max_queued = max_queued;
	return w;
}

void link_writer_free(struct link_writer *w)
{
	if (!w)
		return;
	free(w->buf);
	free(w);
}

size_t link_queued(const struct link_writer *w)
{
	return w->end - w->start;
}

uint64_t link_bytes_written(const struct link_writer *w)
{
	return w->written;
}

/* Writes from the iovecs what the fd takes; returns bytes written or -errno (0 on EAGAIN). */
static ssize_t write_some(int fd, struct iovec *iov, int n)
{
	for (;;) {
		ssize_t k = writev(fd, iov, n);
		if (k >= 0)
			return k;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return 0;
		return -errno;
	}
}

static int enqueue(struct link_writer *w, const void *p, size_t len)
{
	if (len == 0)
		return 0;
	if (w->cap - w->end < len) {
		size_t used = w->end - w->start;
		if (w->start > 0) {
			memmove(w->buf, w->buf + w->start, used);
			w->start = 0;
			w->end = used;
		}
		if (w->cap - w->end < len) {
			size_t cap = w->cap ? w->cap : 4096;
			while (cap - w->end < len)
				cap *= 2;
			uint8_t *b = realloc(w->buf, cap);
			if (!b)
				return -ENOMEM;
			w->buf = b;
			w->cap = cap;
		}
	}
	memcpy(w->buf + w->end, p, len);
	w->end += len;
	return 0;
}

int link_write_frame(struct link_writer *w, uint32_t type, uint32_t conn, const void *a,
		     size_t alen, const void *b, size_t blen)
{
	uint8_t h[LINK_HEADER_SIZE];
	if (alen > LINK_MAX_PAYLOAD || blen > LINK_MAX_PAYLOAD - alen)
		return -EMSGSIZE;
	size_t total = LINK_HEADER_SIZE + alen + blen;
	unaligned_write_le32(h, type);
	unaligned_write_le32(h + 4, conn);
	unaligned_write_le32(h + 8, (uint32_t)(alen + blen));

	/* Refused before anything is written, so the stream never holds half a frame. */
	if (link_queued(w) + total > w->max_queued)
		return -ENOBUFS;
	size_t done = 0;
	bool hold = w->corked && total <= CORK_MAX;
	if (w->corked && !hold && link_queued(w) > 0) {
		/* what was held goes first, so that a large frame need not be queued too */
		int r = link_flush(w);
		if (r < 0)
			return r;
	}
	if (link_queued(w) == 0 && !hold) {
		struct iovec iov[3] = {
		    {h, sizeof(h)},
		    {(void *)a, alen},
		    {(void *)b, blen},
		};
		ssize_t k = write_some(w->fd, iov, 3);
		if (k < 0)
			return (int)k;
		done = (size_t)k;
		w->written += done;
		if (done == total)
			return 0;
	}
	const struct {
		const void *p;
		size_t len;
	} parts[3] = {{h, sizeof(h)}, {a, alen}, {b, blen}};
	for (size_t i = 0; i < 3; i++) {
		size_t skip = done < parts[i].len ? done : parts[i].len;
		done -= skip;
		int r = enqueue(w, (const uint8_t *)parts[i].p + skip, parts[i].len - skip);
		if (r < 0)
			return r;
	}
	if (hold)
		return 0;
	/* Queued is success: the caller polls for POLLOUT when link_queued is not 0. */
	int r = link_flush(w);
	return r < 0 ? r : 0;
}

int link_writer_cork(struct link_writer *w, bool cork)
{
	w->corked = cork;
	if (cork)
		return 0;
	int r = link_flush(w);
	return r < 0 ? r : 0;
}

int link_flush(struct link_writer *w)
{
	while (link_queued(w) > 0) {
		struct iovec iov = {w->buf + w->start, link_queued(w)};
		ssize_t k = write_some(w->fd, &iov, 1);
		if (k < 0)
			return (int)k;
		if (k == 0)
			return 1;
		w->start += (size_t)k;
		w->written += (uint64_t)k;
	}
	w->start = w->end = 0;
	return 0;
}
