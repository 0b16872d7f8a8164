/*
 * The qube channel protocol: one table, shared by bulkheadd, bulkhead-agent and the CLI.
 *
 * Every message is a frame: a 12-byte little-endian header followed by `length` payload bytes.
 *
 *   u16 type    one of enum chan_msg_type
 *   u16 flags   must be 0 (reserved)
 *   u32 stream  0 for channel-wide messages; otherwise the stream (command) it belongs to
 *   u32 length  payload size, at most CHAN_MAX_PAYLOAD (checked before anything is copied)
 *
 * The same framing carries the host API between `bulkhead` and bulkheadd (API_* types), and the
 * stream frames of `bulkhead run` are relayed between the CLI and the agent with their stream ids
 * rewritten by bulkheadd.
 *
 * Versioning: each side's first frame is HELLO carrying CHAN_PROTOCOL_VERSION; a peer speaking
 * another major version is disconnected.
 *
 * Flow control is per stream and per direction, like SSH channels: a sender may have at most the
 * granted number of data bytes (STDIN, or STDOUT+STDERR together) outstanding. Each stream starts
 * with CHAN_INITIAL_WINDOW in both directions; the receiver sends WINDOW(n) as it consumes data.
 * Sending past the window is a protocol error. This keeps one flooding or stuck command from
 * stalling the others on the same port.
 *
 * RPC: a program in a qube asks its agent (over a local socket in the qube, same framing) to call
 * SERVICE+ARG in TARGET. The agent sends CHAN_RPC_CALL to the host, which knows the caller from
 * the channel the frame came on, decides with the policy, starts the target if allowed, sends it
 * CHAN_SERVICE, and relays STDIN (caller -> service), STDOUT (service -> caller), WINDOW and
 * EXIT between the two streams. A service's STDERR stays in the target (the host drops it).
 */
#pragma once

#include <stdint.h>

#define CHAN_PROTOCOL_VERSION 1u
#define CHAN_HEADER_SIZE      12u
#define CHAN_MAX_PAYLOAD      65536u
#define CHAN_INITIAL_WINDOW   (256u * 1024u)
#define CHAN_MAX_STREAMS      64u  /* concurrent streams per channel */
#define CHAN_MAX_ARGS	      256u /* argv entries in one EXEC */
/* Streams a qube opens (RPC calls) have this bit set; the host's (EXEC, SERVICE) do not. */
#define CHAN_STREAM_QUBE 0x80000000u

enum chan_msg_type {
	/* stream 0, payload: u32 version, then the sender's version string (<= 64 bytes, no NUL) */
	CHAN_HELLO = 1,
	/* new stream (id chosen by the host, non-zero), payload: u32 flags (0), then NUL-terminated
	 * strings: user ("" = default user), argv[0], argv[1], ... (1..CHAN_MAX_ARGS entries) */
	CHAN_EXEC = 2,
	/* data for the stream's stdin / from its stdout / stderr; an empty payload means EOF */
	CHAN_STDIN = 3,
	CHAN_STDOUT = 4,
	CHAN_STDERR = 5,
	/* payload: u32 additional bytes the receiver grants the sender on this stream */
	CHAN_WINDOW = 6,
	/* agent -> host, last frame of a stream. payload: u32 kind (0 exited, 1 killed by signal),
	 * i32 value (exit code or signal number). Exec failures report exit code 127 (not found)
	 * or 126 (not executable, unknown user) after a message on STDERR. */
	CHAN_EXIT = 7,
	/* host -> agent, payload: u32 signal number to deliver to the stream's process group */
	CHAN_SIGNAL = 8,
	/* host -> agent, stream 0, no payload: sync, unmount and power off */
	CHAN_SHUTDOWN = 9,
	/* either way: payload is a UTF-8 message; on stream 0 the channel is then closed */
	CHAN_ERROR = 10,
	/* host -> agent: payload echoed back unchanged as ECHO_REPLY (benchmarks, liveness) */
	CHAN_ECHO = 11,
	CHAN_ECHO_REPLY = 12,

	/* RPC between qubes (see "RPC" above). qube -> host, on a new stream the agent chose (ids
	 * with CHAN_STREAM_QUBE set). payload: NUL-terminated TARGET, then NUL-terminated
	 * SERVICE[+ARG]. The caller must not send STDIN before the host grants a WINDOW (the
	 * call's initial stdin window is 0); the host grants it once the target runs the service.
	 * A refused call gets CHAN_ERROR on the stream (the reason) and nothing else. */
	CHAN_RPC_CALL = 13,
	/* host -> target qube, new stream (host id): run a service. payload: NUL-terminated
	 * user ("" = default), SERVICE (no argument), ARG (without '+', may be empty), SOURCE
	 * (the calling qube, as the host knows it from the channel). Then like EXEC: STDIN in,
	 * STDOUT/STDERR out, EXIT. */
	CHAN_SERVICE = 14,
	/* agent -> host, stream 0, payload: u64 KiB of swap in use in the qube (SwapTotal -
	 * SwapFree). Sent when it changes by 1 MiB or more, at most once a second: the memory
	 * balancer counts swapped-out memory as used, as Qubes' meminfo-writer does, since the
	 * balloon's statistics do not show it. A lie moves only this qube's own wish, which stays
	 * within its memory and maxmem. */
	CHAN_MEMINFO = 15,

	/* host API, between the CLI and bulkheadd only (never on a qube channel) */
	CHAN_API_REQUEST = 32, /* JSON request, see common/api.h */
	CHAN_API_REPLY = 33,   /* JSON reply */
	CHAN_API_EVENT = 34,   /* JSON event (admin.Events) */
};

enum chan_exit_kind {
	CHAN_EXIT_CODE = 0,
	CHAN_EXIT_SIGNAL = 1,
};
