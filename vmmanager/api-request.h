/* Parsing one API request (a JSON object, see common/api.h). Library code: no logging. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define API_NAME_MAX   128 /* call, dest and arg strings */
#define API_JSON_DEPTH 8

struct api_request {
	const char *call;
	const char *dest;
	const char *arg;
	struct json_object *payload; /* may be NULL */
};

/* Fills *ret with pointers into *ret_owner (json_object_put it when done). Returns 0, or
 * -EINVAL with a reason for the caller to send back. dest and arg default to "". */
int api_request_parse(const uint8_t *p, size_t len, struct api_request *ret,
		      struct json_object **ret_owner, const char **ret_reason);
