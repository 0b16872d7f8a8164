/* The host half's parts: the program (host.c: descriptors, confinement, the port and the
 * control socket) and its PipeWire streams (host-stream.c). */
#pragma once

#include <pipewire/pipewire.h>
#include <stdbool.h>
#include <stdint.h>

#include "frame.h"
#include "audio-check.h"

/* Host-side buffering between the port and the playback stream: output starts once
 * PLAY_PREFILL_MS are queued, and the queue never holds more than PLAY_MAX_MS (the oldest
 * audio is dropped), so a qube's clock running ahead of the sound card's cannot build latency. */
#define PLAY_PREFILL_MS 20u
#define PLAY_MAX_MS	80u
/* After a stall in the qube, a burst leaves more than PLAY_PREFILL_MS queued, and steady flow
 * would keep it there: when the queue never fell below PLAY_PREFILL_MS + PLAY_SLACK_MS for a
 * whole second, the excess (over PLAY_PREFILL_MS) is dropped at once. */
#define PLAY_SLACK_MS	10u
#define PLAY_RING_BYTES (48000u * 4u * PLAY_MAX_MS / 1000u)

/* The microphone's format, as MIC_START announces it. */
#define MIC_RATE     48000u
#define MIC_CHANNELS 1u

struct audio_host {
	const char *qube, *label;
	struct pw_main_loop *loop;
	struct pw_context *context;
	struct pw_core *core;
	struct spa_hook core_listener;
	struct spa_source *port_src, *control_src;
	int port_fd, control_fd;
	int exit_code;

	struct chan_decoder dec;
	struct chan_outbuf out;
	struct audio_rx rx;
	struct audio_line_buf control_line;

	/* playback */
	struct pw_stream *play;
	struct spa_hook play_listener;
	struct audio_format play_format;
	uint8_t ring[PLAY_RING_BYTES];
	size_t ring_start, ring_len;
	bool prefilled;
	float volume;
	bool muted;
	/* what was buffered when the stream took data, for the exit log */
	uint64_t fill_sum_us, fill_samples, underruns, dropped_bytes;
	size_t win_min;	     /* the queue's low point in this window (bytes) */
	uint64_t win_frames; /* frames played in this window */

	/* microphone */
	struct pw_stream *mic;
	struct spa_hook mic_listener;
	bool mic_wanted;

	bool reported_playing, reported_recording;
#define HOST_PRELOADED 2
	struct spa_handle *preloaded[HOST_PRELOADED];
};

/* Ends the loop with code (the first code given wins). */
void host_quit(struct audio_host *h, int code);
/* Writes "NAME 0|1" to the control socket when it changed. */
void host_report(struct audio_host *h, const char *name, bool *reported, bool now);
/* Queues a frame to the qube (dropped when the qube does not read). */
void host_send(struct audio_host *h, uint16_t type, const void *p, size_t len);

int host_play_start(struct audio_host *h, const struct audio_format *f);
void host_play_data(struct audio_host *h, const uint8_t *p, size_t len);
void host_play_stop(struct audio_host *h);
void host_apply_volume(struct audio_host *h);
int host_mic_start(struct audio_host *h);
void host_mic_stop(struct audio_host *h);
/* Loads now what the streams will need later, while open() is still allowed. */
int host_streams_preload(struct audio_host *h);
