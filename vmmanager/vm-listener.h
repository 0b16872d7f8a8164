/*
 * What happens to a qube, reported upward. The layers below the API (lifecycle.c, qchan.c, the
 * registry in daemon.c) say only "started", "its start failed with error E and message M",
 * "stopped", "removed", "echo answered", "channel lost"; the API layer (api-waiters.c) listens
 * and answers the clients that wait. Nothing below it writes an API reply.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct daemon;
struct vm;

struct vm_listener {
	/* Its agent said hello: a start (or an adoption) is complete. */
	void (*started)(struct daemon *d, struct vm *vm);
	/* Its start ended without it running; error is an API error name (api.h). */
	void (*start_failed)(struct daemon *d, struct vm *vm, const char *error,
			     const char *message);
	/* It halted. */
	void (*stopped)(struct daemon *d, struct vm *vm);
	/* It leaves the registry; vm is freed right after. */
	void (*removed)(struct daemon *d, struct vm *vm);
	/* Its agent answered the oldest echo. */
	void (*echo_reply)(struct daemon *d, struct vm *vm, const uint8_t *data, size_t len);
	/* Its channel went away (why): echoes in flight get no answer. */
	void (*channel_lost)(struct daemon *d, struct vm *vm, const char *why);
};

/* The one listener (the API layer registers it at start-up); NULL: nobody listens. */
void vm_listener_set(struct daemon *d, const struct vm_listener *l);

/* daemon.c: tell the listener, if any. */
void vm_report_started(struct daemon *d, struct vm *vm);
void vm_report_start_failed(struct daemon *d, struct vm *vm, const char *error,
			    const char *message);
void vm_report_stopped(struct daemon *d, struct vm *vm);
void vm_report_removed(struct daemon *d, struct vm *vm);
void vm_report_echo_reply(struct daemon *d, struct vm *vm, const uint8_t *data, size_t len);
void vm_report_channel_lost(struct daemon *d, struct vm *vm, const char *why);
