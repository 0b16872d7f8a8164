/* A connection to bulkheadd's API (common/api.h) driven by the compositor's event loop: the
 * compositor never waits on bulkheadd. Used by the prompt (a long-lived admin.policy.Prompt
 * connection) and by the clipboard (one admin.policy.Check per paste). */
#pragma once

#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <wayland-server-core.h>

struct api_conn;

/* A frame arrived: type is CHAN_API_REPLY or CHAN_API_EVENT, o its parsed JSON object
 * (borrowed for the call). */
typedef void (*api_conn_frame_fn)(struct api_conn *conn, uint16_t type, struct json_object *o,
				  void *data);
/* The connection failed or bulkheadd hung up (error: negative errno). Called once; the
 * connection is unusable afterwards and the owner frees it (it may do so inside this call). */
typedef void (*api_conn_closed_fn)(struct api_conn *conn, int error, void *data);

/* $BULKHEAD_SOCKET, or bulkheadd's default socket, as the CLI uses. */
const char *api_conn_socket_path(void);

/* Starts connecting to path without blocking. Requests may be queued at once; they go out once
 * connected. Returns 0, or -errno when the connection cannot even be attempted (nothing is
 * called back then). */
int api_conn_open(struct wl_event_loop *loop, const char *path, api_conn_frame_fn on_frame,
		  api_conn_closed_fn on_closed, void *data, struct api_conn **ret);
/* Queues one CHAN_API_REQUEST; payload may be NULL and is not consumed. */
int api_conn_request(struct api_conn *conn, const char *call, const char *dest, const char *arg,
		     struct json_object *payload);
/* Closes the connection; NULL is a no-op. Safe inside the callbacks. */
void api_conn_free(struct api_conn *conn);

/* Writing to a pipe or socket whose reader went away must not kill the compositor with
 * SIGPIPE; ignoring SIGPIPE process-wide instead would be inherited by every program the
 * compositor starts. So SIGPIPE is blocked around such writes, and one they raised is taken
 * off the pending set before it is unblocked again. */
struct sigpipe_guard {
	sigset_t old_mask;
	bool was_pending;
};
void sigpipe_guard_begin(struct sigpipe_guard *g);
void sigpipe_guard_end(struct sigpipe_guard *g);
