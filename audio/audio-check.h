/*
 * Checking what crosses the audio port (audio-proto.h) and the host half's control socket, with
 * no I/O: the host half's parser of a qube's frames (a state machine with its rate limiter), the
 * guest half's parser of the host's frames, and the control lines. Library code: returns -errno
 * or a bool, never logs. The frames themselves come from common/frame.h's decoder, set up with
 * AUDIO_MAX_PAYLOAD as its cap.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audio-proto.h"
#include "frame.h"

struct audio_format {
	uint32_t format; /* AUDIO_FORMAT_S16LE */
	uint32_t rate;
	uint32_t channels;
};

/* Bytes in one frame (all channels) of f. */
static inline uint32_t audio_frame_bytes(const struct audio_format *f)
{
	return 2u * f->channels;
}

/* Parses a PLAY_START / MIC_START payload and checks it against the allow list. -EPROTO if the
 * payload has the wrong size or the format is not allowed. */
int audio_format_parse(const uint8_t *p, size_t len, struct audio_format *ret);
void audio_format_encode(const struct audio_format *f, uint8_t out[12]);
/* A HELLO payload: exactly one u32 equal to AUDIO_PROTOCOL_VERSION. */
int audio_hello_parse(const uint8_t *p, size_t len);
void audio_hello_encode(uint8_t out[4]);

/*
 * The host half's view of one qube. The rate limiter is a bucket of audio time: it holds at most
 * AUDIO_MAX_RATE_FACTOR * AUDIO_RATE_WINDOW_MS of credit, refills at AUDIO_MAX_RATE_FACTOR
 * times the clock, and each PLAY_DATA takes the duration of its PCM. Counting time rather than
 * bytes keeps the limit across a PLAY_START with another format, and each PLAY_START costs
 * AUDIO_START_COST_US of credit so that reopening the stream in a loop is a flood too.
 */
#define AUDIO_START_COST_US 50000u

enum audio_rx_state {
	AUDIO_RX_WANT_HELLO,
	AUDIO_RX_IDLE,	  /* no playback stream */
	AUDIO_RX_PLAYING, /* after PLAY_START, until PLAY_STOP */
};

struct audio_rx {
	enum audio_rx_state state;
	struct audio_format format; /* valid while PLAYING */
	uint64_t credit_us;
	uint64_t last_us;
	bool clock_started;
};

/* What a checked frame asks of the host half. */
enum audio_rx_event {
	AUDIO_EV_NONE,	/* HELLO: nothing to do */
	AUDIO_EV_START, /* open (or reopen with rx->format) the playback stream */
	AUDIO_EV_DATA,	/* play the frame's payload */
	AUDIO_EV_STOP,	/* close the playback stream */
};

void audio_rx_init(struct audio_rx *rx);
/* Checks one frame from the qube, received at now_us (a monotonic clock the caller reads, a
 * parameter so that tests need none). Returns an audio_rx_event, or -EPROTO for anything the
 * contract forbids (wrong type, stream or order, bad HELLO or format, PCM that is not whole
 * frames, PCM faster than the limit); after -EPROTO the qube's sound ends. */
int audio_rx_frame(struct audio_rx *rx, const struct chan_frame *f, uint64_t now_us);

/* The guest half's check of one frame from the host: HELLO first, MIC_DATA only between
 * MIC_START and MIC_STOP, whole frames. *mic_format is set by MIC_START and read by MIC_DATA. */
struct audio_tx_check {
	bool hello;
	bool mic;
	struct audio_format mic_format;
};
int audio_guest_frame(struct audio_tx_check *c, const struct chan_frame *f);

/* Control lines (without their newline). */
enum audio_control_kind { AUDIO_CTL_VOLUME, AUDIO_CTL_MUTE, AUDIO_CTL_MIC };
struct audio_control {
	enum audio_control_kind kind;
	float volume; /* AUDIO_CTL_VOLUME: 0.0 .. 1.5 */
	bool on;      /* MUTE, MIC */
};
#define AUDIO_VOLUME_MAX 1.5f
/* "volume F" (decimal digits with at most one '.', no sign or exponent), "mute 0|1", "mic 0|1";
 * -EINVAL for anything else. */
int audio_control_parse(const char *line, size_t len, struct audio_control *ret);

/* Collects control bytes into lines of at most AUDIO_CONTROL_LINE_MAX bytes. */
struct audio_line_buf {
	size_t have;
	char buf[AUDIO_CONTROL_LINE_MAX];
};
/* Takes bytes from *p (advancing it and *len). Returns 1 with *ret_line / *ret_len set to a whole
 * line (newline removed, NUL-terminated, valid until the next call), 0 when the bytes ran out,
 * -EMSGSIZE for a line over the cap (the buffer is unusable then). */
int audio_line_take(struct audio_line_buf *b, const char **p, size_t *len, const char **ret_line,
		    size_t *ret_len);
