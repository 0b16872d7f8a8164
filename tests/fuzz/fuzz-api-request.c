/* Fuzz target for API request parsing: arbitrary bytes as one CHAN_API_REQUEST payload. What
 * parses must hand out names that are safe to log and dispatch on. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "api-request.h"
#include "fuzz.h"

static void check_name(const char *s)
{
	if (!s)
		abort();
	size_t n = strnlen(s, API_NAME_MAX + 1);
	if (n > API_NAME_MAX)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			abort();
}

/* Whether the JSON text holds the escape for NUL (outside strings a backslash is not JSON at
 * all). json-c would cut an object key there, so such a request must be refused. */
static bool escaped_nul(const uint8_t *p, size_t len)
{
	bool escape = false;

	for (size_t i = 0; i < len; i++) {
		if (escape) {
			if (p[i] == 'u' && len - i > 4 && !memcmp(p + i + 1, "0000", 4))
				return true;
			escape = false;
		} else if (p[i] == '\\')
			escape = true;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Sentinels: on failure the outputs must stay untouched. */
	static const char sentinel[] = "untouched";
	struct api_request req = {sentinel, sentinel, sentinel, NULL};
	struct json_object *owner = (struct json_object *)&sentinel;
	const char *reason = NULL;
	int r;

	r = api_request_parse(data, size, &req, &owner, &reason);
	if (r < 0) {
		if (!reason || owner != (struct json_object *)&sentinel || req.call != sentinel ||
		    req.dest != sentinel || req.arg != sentinel || req.payload)
			abort();
		return 0;
	}
	if (escaped_nul(data, size))
		abort();
	if (r != 0 || !owner || !json_object_is_type(owner, json_type_object))
		abort();
	check_name(req.call);
	check_name(req.dest);
	check_name(req.arg);
	/* The names point into the owner, which must still render. */
	if (!json_object_to_json_string_ext(owner, JSON_C_TO_STRING_PLAIN))
		abort();
	json_object_put(owner);
	return 0;
}
