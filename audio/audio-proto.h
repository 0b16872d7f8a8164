/*
 * The audio port's protocol (virtio-serial port org.bulkhead.audio, one per qube): the contract
 * between the guest half (bulkhead-audio-guest, in the qube) and the host half
 * (bulkhead-audio-host, one confined process per running qube on the host).
 *
 * Framing is the channel's (common/frame.h, common/proto.h: 12-byte little-endian header, type,
 * flags 0, stream, length); only the types below are valid on this port, stream is always 0, and
 * payloads are capped at AUDIO_MAX_PAYLOAD. Integers in payloads are little-endian u32.
 *
 *   AUDIO_HELLO        both ways, first frame each way: u32 version (AUDIO_PROTOCOL_VERSION)
 *   AUDIO_PLAY_START   guest -> host: u32 format, u32 rate, u32 channels; opens (or reopens with
 *                      another format) the qube's playback stream on the host
 *   AUDIO_PLAY_DATA    guest -> host: interleaved PCM in the started format, a whole number of
 *                      frames, at most AUDIO_MAX_PAYLOAD bytes
 *   AUDIO_PLAY_STOP    guest -> host: empty; the qube's playback went idle
 *   AUDIO_MIC_START    host -> guest: u32 format, u32 rate, u32 channels; the microphone was
 *                      granted and host capture data follows
 *   AUDIO_MIC_DATA     host -> guest: PCM in the MIC_START format
 *   AUDIO_MIC_STOP     host -> guest: empty; the grant was taken away, no more data
 *
 * Allow list: format AUDIO_FORMAT_S16LE only; rate 44100 or 48000; channels 1 or 2. Anything
 * else, a frame out of order, or PCM arriving faster than AUDIO_MAX_RATE_FACTOR times real time
 * (measured over AUDIO_RATE_WINDOW_MS) is a protocol violation: the host half ends that qube's
 * sound (exit AUDIO_EXIT_VIOLATION) and nothing else.
 */
#pragma once

#define AUDIO_PORT_NAME	       "org.bulkhead.audio"
#define AUDIO_PROTOCOL_VERSION 1u
#define AUDIO_MAX_PAYLOAD      8192u

enum audio_msg_type {
	AUDIO_HELLO = 64,
	AUDIO_PLAY_START = 65,
	AUDIO_PLAY_DATA = 66,
	AUDIO_PLAY_STOP = 67,
	AUDIO_MIC_START = 68,
	AUDIO_MIC_DATA = 69,
	AUDIO_MIC_STOP = 70,
};

#define AUDIO_FORMAT_S16LE    1u
#define AUDIO_MAX_RATE_FACTOR 2u
#define AUDIO_RATE_WINDOW_MS  1000u

/* The host half's descriptors, given by bulkheadd (vmmanager/audio.c). */
#define AUDIO_HOST_FD_PORT 3 /* the qube's audio port, connected */
#define AUDIO_HOST_FD_SERVER                                                                       \
	4			/* a socket connected to the user's PipeWire (from the compositor) \
				 */
#define AUDIO_HOST_FD_CONTROL 5 /* socketpair to bulkheadd: text lines both ways (below) */

/*
 * Control lines, bulkheadd -> host half:  "volume F" (0.0..1.5), "mute 0|1", "mic 0|1"
 *                host half -> bulkheadd:  "recording 0|1" (the mic capture stream runs),
 *                                         "playing 0|1" (the playback stream runs)
 * Each line at most AUDIO_CONTROL_LINE_MAX bytes with its newline.
 */
#define AUDIO_CONTROL_LINE_MAX 64

/* Host half exit codes, which decide whether bulkheadd starts it again. */
#define AUDIO_EXIT_CLOSED    0	/* the qube closed the port: again when it reconnects */
#define AUDIO_EXIT_VIOLATION 65 /* the qube broke the protocol: not again until it restarts */
#define AUDIO_EXIT_SERVER    69 /* the sound server went away: again with a new connection */
