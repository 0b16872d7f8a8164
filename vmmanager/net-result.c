/* A qube's bulkhead-net-apply result (net-result.h). */
#include "net-result.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int net_result_parse(const char *out, struct net_result *ret)
{
	struct json_object *o = json_tokener_parse(out);
	struct json_object *ok, *v;

	*ret = (struct net_result){0};
	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "ok", &ok)) {
		json_object_put(o);
		return -EINVAL;
	}
	ret->ok = json_object_get_boolean(ok);
	if (!ret->ok && json_object_object_get_ex(o, "error", &v) &&
	    json_object_is_type(v, json_type_string))
		ret->error = xstrdup(json_object_get_string(v));
	if (json_object_object_get_ex(o, "next_apply", &v) &&
	    json_object_is_type(v, json_type_int) && json_object_get_int64(v) > 0)
		ret->next_apply = json_object_get_int64(v);
	if (ret->ok && json_object_object_get_ex(o, "firewall", &v) &&
	    json_object_is_type(v, json_type_object))
		ret->firewall = json_object_get(v);
	json_object_put(o);
	return 0;
}

void net_result_done(struct net_result *r)
{
	free(r->error);
	json_object_put(r->firewall);
	*r = (struct net_result){0};
}

struct json_object *net_fw_status_copy(struct json_object *list)
{
	size_t n = json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
	if (!n || n > NET_FW_STATUS_MAX_RULES)
		return NULL;
	struct json_object *out = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(list, i), *rule, *st, *why;
		const char *state;
		if (!json_object_is_type(e, json_type_object) ||
		    !json_object_object_get_ex(e, "rule", &rule) ||
		    !json_object_is_type(rule, json_type_int) ||
		    !json_object_object_get_ex(e, "state", &st) ||
		    !json_object_is_type(st, json_type_string) ||
		    !(state = json_object_get_string(st)) ||
		    !(streq(state, "ok") || streq(state, "disabled") || streq(state, "blocking"))) {
			json_object_put(out);
			return NULL;
		}
		struct json_object *c = json_object_new_object();
		json_object_object_add(c, "rule",
				       json_object_new_int64(json_object_get_int64(rule)));
		json_object_object_add(c, "state", json_object_new_string(state));
		if (json_object_object_get_ex(e, "reason", &why) &&
		    json_object_is_type(why, json_type_string)) {
			const char *w = json_object_get_string(why);
			json_object_object_add(c, "reason",
					       json_object_new_string_len(
						   w, (int)strnlen(w, NET_FW_STATUS_MAX_REASON)));
		}
		json_object_array_add(out, c);
	}
	return out;
}
