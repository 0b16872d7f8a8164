#include "api-request.h"

#include "json-text.h"

#include <errno.h>
#include <string.h>

/* Names travel into logs and error messages: printable ASCII only, and short. */
static bool clean_string(const char *s)
{
	size_t n = strlen(s);
	if (n > API_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

static int get_name(struct json_object *o, const char *key, bool required, const char **ret)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
		if (required)
			return -ENOENT;
		*ret = "";
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return -EINVAL;
	const char *s = json_object_get_string(v);
	if ((size_t)json_object_get_string_len(v) != strlen(s) || !clean_string(s))
		return -EINVAL;
	*ret = s;
	return 0;
}

int api_request_parse(const uint8_t *p, size_t len, struct api_request *ret,
		      struct json_object **ret_owner, const char **ret_reason)
{
	struct api_request req = {0};
	struct json_tokener *tok;
	struct json_object *o;
	bool complete;

	if (len > INT32_MAX) {
		*ret_reason = "the request is too large";
		return -EINVAL;
	}
	if (json_text_has_escaped_nul(p, len)) {
		*ret_reason = "the request holds a NUL character";
		return -EINVAL;
	}
	tok = json_tokener_new_ex(API_JSON_DEPTH);
	if (!tok) {
		*ret_reason = "out of memory";
		return -ENOMEM;
	}
	o = json_tokener_parse_ex(tok, (const char *)p, (int)len);
	complete = json_tokener_get_error(tok) == json_tokener_success &&
		   json_tokener_get_parse_end(tok) == len;
	json_tokener_free(tok);
	if (!o || !complete || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		*ret_reason = "the request is not one JSON object";
		return -EINVAL;
	}
	if (get_name(o, "call", true, &req.call) < 0) {
		json_object_put(o);
		*ret_reason = "the request names no valid call";
		return -EINVAL;
	}
	if (get_name(o, "dest", false, &req.dest) < 0 || get_name(o, "arg", false, &req.arg) < 0) {
		json_object_put(o);
		*ret_reason = "dest and arg must be short printable strings";
		return -EINVAL;
	}
	if (json_object_object_get_ex(o, "payload", &req.payload) &&
	    json_object_is_type(req.payload, json_type_null))
		req.payload = NULL;
	*ret = req;
	*ret_owner = o;
	return 0;
}
