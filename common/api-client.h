/* The client side of the host API (common/api.h): one encoder of a request, used by every
 * program that makes one (the CLI, the compositor's prompt and clipboard check, the channel
 * process relaying a qube's admin call). */
#pragma once

#include <stddef.h>

#include <json-c/json.h>

/*
 * The request {"call": call, "dest": dest, "arg": arg, "payload": payload} as plain JSON text;
 * NULL dest or arg is "", NULL payload leaves "payload" out (the caller keeps its reference).
 * Returns 0 with the text in *ret_text (malloc'ed, NUL-terminated) and its length in *ret_len,
 * or -E2BIG when it does not fit one frame (CHAN_MAX_PAYLOAD).
 */
int api_request_encode(const char *call, const char *dest, const char *arg,
		       struct json_object *payload, char **ret_text, size_t *ret_len);
/* Encodes a request and sends it as one CHAN_API_REQUEST frame on a blocking socket. Returns 0
 * or -errno. */
int api_request_send(int fd, const char *call, const char *dest, const char *arg,
		     struct json_object *payload);
