/*
 * Frame codec for the protocol of proto.h, used by bulkheadd, the agent and the CLI alike.
 * Library code: returns -errno, never logs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

struct chan_frame {
	uint16_t type;
	uint32_t stream;
	uint32_t len;
	const uint8_t
	    *payload; /* points into the decoder (or owned buffer); valid until next use */
};

/* Incremental decoder: bytes in, whole frames out. The header is checked (flags zero, length
 * capped at max_payload) before any payload byte is stored. */
struct chan_decoder {
	uint32_t max_payload;
	size_t have;
	uint8_t buf[CHAN_HEADER_SIZE + CHAN_MAX_PAYLOAD];
};

void chan_decoder_init(struct chan_decoder *d, uint32_t max_payload);
/* Consumes up to len bytes (*ret_consumed says how many). Returns 1 and fills *ret when a frame
 * is complete (payload valid until the next call), 0 when it needs more bytes, -EBADMSG for a
 * bad header, -EMSGSIZE for a length over the cap. After an error the decoder is unusable. */
int chan_decoder_feed(struct chan_decoder *d, const uint8_t *buf, size_t len, size_t *ret_consumed,
		      struct chan_frame *ret);

/* Writes the 12-byte header for a frame into out. */
void chan_header_encode(uint8_t out[CHAN_HEADER_SIZE], uint16_t type, uint32_t stream,
			uint32_t len);

/* Outgoing byte queue for a non-blocking fd, with a cap on what it may hold. */
struct chan_outbuf {
	uint8_t *data;
	size_t start, end, cap_alloc;
	size_t limit; /* refuse to queue beyond this many bytes */
};

void chan_outbuf_init(struct chan_outbuf *o, size_t limit);
void chan_outbuf_finish(struct chan_outbuf *o);
/* Queues one frame. -EMSGSIZE if len > CHAN_MAX_PAYLOAD, -ENOBUFS if the queue would pass its
 * limit (nothing is queued then). */
int chan_outbuf_push(struct chan_outbuf *o, uint16_t type, uint32_t stream, const void *payload,
		     size_t len);
/* Writes as much as the fd takes. Returns 0 when the queue is empty, 1 when bytes remain
 * (EAGAIN), or -errno. */
int chan_outbuf_flush(struct chan_outbuf *o, int fd);
size_t chan_outbuf_pending(const struct chan_outbuf *o);

/* Blocking helpers for simple clients (the CLI, tests). chan_recv allocates *ret_payload
 * (NUL-terminated for convenience; free it). Returns 0, -EPIPE on clean EOF before a header,
 * -EBADMSG / -EMSGSIZE on a bad frame, or -errno. */
int chan_send(int fd, uint16_t type, uint32_t stream, const void *payload, size_t len);
int chan_recv(int fd, uint32_t max_payload, struct chan_frame *ret_frame, uint8_t **ret_payload);

/* Payload encoders and parsers, each checking every length against what arrived. */
struct chan_hello {
	uint32_t version;
	char peer_version[65];
};
int chan_hello_encode(const char *version_string, uint8_t *out, size_t out_size, size_t *ret_len);
int chan_hello_parse(const uint8_t *p, size_t len, struct chan_hello *ret);

/* EXEC: *ret_argv is a NULL-terminated array of pointers into a copy owned by *ret_storage
 * (free both with free()). */
int chan_exec_encode(const char *user, const char *const *argv, uint8_t **ret_payload,
		     size_t *ret_len);
int chan_exec_parse(const uint8_t *p, size_t len, char **ret_storage, const char **ret_user,
		    char ***ret_argv, size_t *ret_argc);

int chan_u32_parse(const uint8_t *p, size_t len, uint32_t *ret); /* WINDOW, SIGNAL */
void chan_u32_encode(uint8_t out[4], uint32_t v);
int chan_exit_parse(const uint8_t *p, size_t len, uint32_t *ret_kind, int32_t *ret_value);
void chan_exit_encode(uint8_t out[8], uint32_t kind, int32_t value);

/* RPC_CALL (2 strings: target, service+arg) and SERVICE (4: user, service, arg, source) carry
 * exactly n NUL-terminated strings of at most CHAN_STRING_MAX bytes each. parse copies them
 * into storage (at least len bytes) and points ret_strs into it. */
#define CHAN_STRING_MAX 255u
int chan_strings_encode(const char *const *strs, size_t n, uint8_t *out, size_t out_size,
			size_t *ret_len);
int chan_strings_parse(const uint8_t *p, size_t len, size_t n, char *storage,
		       const char **ret_strs);

/* Name of a message type for logs ("HELLO"), or NULL if unknown. */
const char *chan_type_name(uint16_t type);
