/*
 * The channel process's engine: one qube's control channel (frame decoding, streams, windows),
 * the relays of its `bulkhead run` commands and of its calls, and the message set to bulkheadd.
 * main.c confines the process and runs it; the fuzz target drives it on given bytes.
 *
 * Everything the qube sends is hostile. A frame that breaks the channel protocol ends the
 * process (bulkheadd then resets only this qube's channel); a frame that breaks one call's rules
 * ends that call only, on both sides. No byte is ever dropped: queues towards a peer are bounded
 * by the windows the engine enforces, and a sender past its window loses its stream.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct engine;

/* chan_fd: the qube's channel; ctl_fd: the message set to bulkheadd (both non-blocking). */
int engine_new(const char *qube, int chan_fd, int ctl_fd, struct engine **ret);
void engine_free(struct engine *e);

/* One round of poll and dispatch. Returns 0 to go on, 1 when the engine is done (bulkheadd or
 * the qube went away), or -EPROTO when the qube broke the channel protocol (logged). */
int engine_run_once(struct engine *e, int timeout_ms);

/* For the fuzz target: feed bytes as if read from the qube's channel, or one message as if
 * received from bulkheadd. Same return values as engine_run_once. */
int engine_feed_channel(struct engine *e, const uint8_t *buf, size_t len);
