/* Reading and writing link frames (link.h) on a non-blocking descriptor. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "link.h"

struct link_frame {
	uint32_t type;
	uint32_t conn;
	uint32_t len;
	const uint8_t *payload; /* valid until the next link_read_frame */
};

struct link_reader;
struct link_writer;

struct link_reader *link_reader_new(int fd);
void link_reader_free(struct link_reader *r);
/* 1 and *ret_frame when a whole frame is available, 0 when more input is needed (call again
 * when fd is readable), -EPIPE at end of stream, -EBADMSG for a length above
 * LINK_MAX_PAYLOAD, other negative errno on read errors. */
int link_read_frame(struct link_reader *r, struct link_frame *ret_frame);

/* With stop set, link_read_frame also returns 2 after a read that left the frame begun with
 * more than a read's worth missing: the caller may take the rest itself (below), or call
 * again. */
void link_reader_stop_at_partial(struct link_reader *r, bool stop);
/* After link_read_frame returned 0 or 2: 1 when the frame begun has its header here but not all its
 * payload; *ret_frame has its type, conn and whole len, payload the *ret_have bytes of it read so
 * far (valid until the next call). 0 otherwise. */
int link_reader_partial(struct link_reader *r, struct link_frame *ret_frame, size_t *ret_have);
/* Drops that partial frame: the caller has taken what was read of it and reads the rest of its
 * payload (len - have bytes) from the fd itself before the next link_read_frame. */
void link_reader_skip_partial(struct link_reader *r);

struct link_writer *link_writer_new(int fd, size_t max_queued);
void link_writer_free(struct link_writer *w);
/* Queues a frame (header + up to two payload parts, either may be empty) and writes what the fd
 * takes now. -ENOBUFS when more than max_queued bytes would wait (the caller ends the link). */
int link_write_frame(struct link_writer *w, uint32_t type, uint32_t conn, const void *a,
		     size_t alen, const void *b, size_t blen);
/* While corked, frames of up to 64 KiB are queued without a write, so that what one event makes
 * goes out in one write when uncorked (which flushes: 0, or negative errno). */
int link_writer_cork(struct link_writer *w, bool cork);
/* Writes queued bytes; 0 when all are out, 1 when some remain (poll for POLLOUT). */
int link_flush(struct link_writer *w);
size_t link_queued(const struct link_writer *w);
uint64_t link_bytes_written(const struct link_writer *w);
