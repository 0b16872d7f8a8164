/*
 * Talking to bulkheadd: connect to its socket, send one API request (common/api.h), read the
 * reply. The client_* functions return -errno and never print; cli_report() is where an error
 * is told to the user, once, and turned into an exit code.
 */
#pragma once

#include <json-c/json.h>

#include "api-client.h"

/* What the daemon said when it refused: {"ok": false, "error": ..., "message": ...}. */
struct api_error {
	char *error;
	char *message;
};

void api_error_done(struct api_error *e);

/* $BULKHEAD_SOCKET or the default path. */
const char *client_socket_path(void);

int client_connect(const char *path, int *ret_fd);
/* A request is sent with api_request_send() (common/api-client.h, the one encoder). */
/* Reads one CHAN_API_REPLY. Returns 0 and *ret_result (a reference the caller puts; may be NULL
 * for a JSON null), -EREMOTEIO with *ret_err filled when the daemon refused, -EBADMSG for a
 * reply that is not one, -EPIPE when the daemon hung up, or another -errno. */
int client_recv_reply(int fd, struct json_object **ret_result, struct api_error *ret_err);
/* The same, for calls that send events before their reply (admin.template.Build with
 * "progress"): each CHAN_API_EVENT object is passed to on_event (which must not keep it). */
typedef void (*client_event_fn)(struct json_object *event, void *userdata);
int client_recv_reply_events(int fd, client_event_fn on_event, void *userdata,
			     struct json_object **ret_result, struct api_error *ret_err);
/* Send, then read the reply; a refused connection still yields the daemon's reply when it sent
 * one before hanging up (as it does for callers it does not serve). */
int client_request(int fd, const char *call, const char *dest, const char *arg,
		   struct json_object *payload, struct json_object **ret_result,
		   struct api_error *ret_err);
/* Connect, request, close. */
int client_call(const char *call, const char *dest, const char *arg, struct json_object *payload,
		struct json_object **ret_result, struct api_error *ret_err);

/* Tells the user what went wrong (prefix, if not NULL, names what was being done) and returns
 * the exit code for it: 3 when the daemon cannot be reached, 4 when the caller may not use it,
 * 1 otherwise. r is a return value of the functions above. */
int cli_report(int r, const struct api_error *err, const char *prefix);
/* client_call() + cli_report(): returns 0 or the exit code. */
int cli_call(const char *call, const char *dest, const char *arg, struct json_object *payload,
	     struct json_object **ret_result);
/* client_connect() + cli_report(): returns 0 or the exit code. */
int cli_connect(int *ret_fd);
