/* The host API's request encoder (see api-client.h). */
#include "api-client.h"

#include <errno.h>
#include <string.h>

#include "frame.h"
#include "proto.h"
#include "util.h"

int api_request_encode(const char *call, const char *dest, const char *arg,
		       struct json_object *payload, char **ret_text, size_t *ret_len)
{
	struct json_object *o = json_object_new_object();
	size_t len;
	int r = 0;

	json_object_object_add(o, "call", json_object_new_string(call));
	json_object_object_add(o, "dest", json_object_new_string(dest ? dest : ""));
	json_object_object_add(o, "arg", json_object_new_string(arg ? arg : ""));
	if (payload)
		json_object_object_add(o, "payload", json_object_get(payload));
	const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
	if (len > CHAN_MAX_PAYLOAD)
		r = -E2BIG;
	else {
		*ret_text = xmalloc(len + 1);
		memcpy(*ret_text, s, len + 1);
		*ret_len = len;
	}
	json_object_put(o);
	return r;
}

int api_request_send(int fd, const char *call, const char *dest, const char *arg,
		     struct json_object *payload)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = api_request_encode(call, dest, arg, payload, &text, &len);

	if (r < 0)
		return r;
	return chan_send(fd, CHAN_API_REQUEST, 0, text, len);
}
