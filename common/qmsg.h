/*
 * The message set between bulkheadd and a qube's channel process (bulkhead-qchan), one table
 * for both ends. The channel process decodes the qube's frames; bulkheadd only ever sees these
 * messages, each checked against the table (direction, length, descriptor) before it is used.
 *
 * Transport: a SOCK_SEQPACKET socketpair, one message per packet: a 12-byte little-endian
 * header (u16 type, u16 zero, u32 id, u32 length) and `length` payload bytes, with at most one
 * descriptor alongside (SCM_RIGHTS). `id` is the qube stream a call or command runs on, or for
 * SERVICE the call id bulkheadd chose. Strings in payloads are NUL-terminated (frame.h's
 * chan_strings_*), each at most CHAN_STRING_MAX bytes.
 *
 * Bulk bytes never pass through bulkheadd: a `bulkhead run` client's socket, and one end of a
 * socketpair per allowed call, are handed to the channel processes, which relay between them.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QMSG_HEADER_SIZE 12u
/* Calls one qube may have in flight (its own streams); host streams are CHAN_MAX_STREAMS. */
#define QCHAN_MAX_CALLS	 128u
#define QMSG_MAX_PAYLOAD 16384u /* EXEC's argv is the largest; every child->parent is far less */

/* The descriptors bulkhead-qchan is started with. */
#define QCHAN_FD_CHANNEL 3 /* the qube's control channel (connected stream socket) */
#define QCHAN_FD_CONTROL 4 /* this message set (SOCK_SEQPACKET) */

enum qmsg_dir { QMSG_TO_CHILD = 1, QMSG_TO_PARENT = 2 };
enum qmsg_fd { QMSG_FD_NONE, QMSG_FD_REQUIRED, QMSG_FD_OPTIONAL };

enum qmsg_type {
	/* parent -> child */
	QMSG_EXEC = 1,	       /* payload: chan_exec_encode(user, argv); fd: the client's socket */
	QMSG_SERVICE = 2,      /* id: call id; 4 strings user, service, arg, source; fd: call's
				  socketpair end */
	QMSG_CALL_CONNECT = 3, /* id: qube stream; fd: the call's socketpair end */
	QMSG_CALL_DOM0 = 4,    /* id: qube stream; 3 strings service, arg, dest; fd: an API
				  connection bound to exactly that call (none for GetDate) */
	QMSG_CALL_REFUSE = 5,  /* id: qube stream; 1 string: the reason */
	QMSG_CALL_ABORT = 6,   /* id: qube stream; 1 string: the reason (timeout, target gone) */
	QMSG_SERVICE_KILL = 7, /* id: call id: the caller went away */
	QMSG_ECHO = 8,	       /* payload echoed by the agent */
	QMSG_SHUTDOWN = 9,     /* ask the agent to power off */
	/* child -> parent */
	QMSG_READY = 32,       /* 1 string: the agent's version (printable ASCII) */
	QMSG_CALL = 33,	       /* id: qube stream; 2 strings: target, SERVICE[+ARG] */
	QMSG_CALL_END = 34,    /* id: qube stream: the caller's side of a call ended */
	QMSG_SERVICE_END = 35, /* id: call id: the target's side of a call ended */
	QMSG_ECHO_REPLY = 36,  /* the agent's echo */
	QMSG_EXEC_END = 37,    /* a run command ended (for the per-qube count) */
	QMSG_MEMINFO = 38,     /* payload: u64 KiB of swap in use (CHAN_MEMINFO); at most two a
				  second, the channel process drops the rest */
};

struct qmsg_info {
	uint16_t type;
	const char *name;
	enum qmsg_dir dir;
	uint32_t max_len;
	enum qmsg_fd fd;
	unsigned n_strings; /* payload is exactly this many strings; 0: free-form */
};

/* The table entry for type, or NULL. */
const struct qmsg_info *qmsg_lookup(uint16_t type);

struct qmsg {
	uint16_t type;
	uint32_t id;
	uint32_t len;
	uint8_t payload[QMSG_MAX_PAYLOAD + 1]; /* NUL after len bytes */
	int fd;				       /* -1 when none came */
	/* Filled by qmsg_recv for string payloads: pointers into payload. */
	const char *str[4];
};

/* Sends one message (fd < 0: none). -EMSGSIZE for a payload over the cap. Blocking or not as
 * the socket is; -EAGAIN when a non-blocking socket is full. */
int qmsg_send(int sock, uint16_t type, uint32_t id, const void *payload, size_t len, int fd);
/* Sends a message whose payload is n strings. */
int qmsg_send_strings(int sock, uint16_t type, uint32_t id, const char *const *strs, size_t n,
		      int fd);
/* Receives one message meant for `dir` and checks it against the table: known type, right
 * direction, length within the type's cap, the descriptor rule, the string count. Returns 0,
 * -EAGAIN, -EPIPE at EOF, -EBADMSG for anything that breaks the table (a descriptor that came
 * with it is closed). */
int qmsg_recv(int sock, enum qmsg_dir dir, struct qmsg *ret);

/* The characters a call's target and SERVICE[+ARG] may hold, checked by the channel process
 * and again by bulkheadd: [A-Za-z0-9_.:@+-], 1..CHAN_STRING_MAX bytes. */
bool qmsg_token_valid(const char *s);
