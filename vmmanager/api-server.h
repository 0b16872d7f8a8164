/* The API socket (api-server.c): clients, their replies and frames, the event stream, the
 * prompt agents, and the connections bound to one admin call a qube made. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#include <json-c/json.h>

struct client;
struct daemon;

int api_server_start(struct daemon *d);
void api_server_stop(struct daemon *d);
/* An API connection for one admin call a qube made, allowed by the policy: it accepts one
 * request, with exactly this call, dest and argument. */
int api_server_add_bound(struct daemon *d, int fd, const char *call, const char *dest,
			 const char *arg);
/* Takes the client's socket out of the API server (what was queued for it is written first):
 * returns the fd, or -errno. The client is gone afterwards. */
int client_hand_over(struct client *c);
struct client *client_lookup(struct daemon *d, struct client *c, uint64_t serial);
void client_reply_ok(struct client *c, struct json_object *result); /* takes result */
void client_reply_error(struct client *c, const char *error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
uint64_t client_serial(struct client *c);
int client_send_frame(struct client *c, uint16_t type, uint32_t stream, const void *p, size_t len);
void client_close(struct client *c);
void client_enter_events(struct client *c);
void client_enter_prompt(struct client *c);
/* The connection of the registered compositor: it says nothing more; its end ends the
 * registration (gui_unregister). */
void client_enter_gui(struct client *c);
/* The peer's uid (SO_PEERCRED; 0 for the connection of an admin call a qube made). */
uid_t client_uid(const struct client *c);
bool client_is_prompt(struct client *c);
struct client *prompt_find(struct daemon *d);
void client_send_event(struct client *c, struct json_object *o);
void client_set_busy(struct client *c);
void events_emit(struct daemon *d, const char *event, const char *vm, struct json_object *extra);

/* Per-client state of a pending admin.vm.Run. */
struct run_request {
	char *user;
	char **argv;
};
struct run_request *client_run_request(struct client *c);
void client_set_run_request(struct client *c, struct run_request *rr);
void run_request_free(struct run_request *rr);
