/* firewall.json in the qube's directory. */
#include "firewall-store.h"

#include <errno.h>

#include "store.h"
#include "util.h"

int firewall_load(struct store *s, const char *qube, struct fw_rules *ret,
		  struct port_forwards *ret_forwards, char **ret_error)
{
	_cleanup_free_ char *text = NULL;
	struct port_forwards fwd = {.n = 0};
	struct json_object *o, *a;
	int r = store_read_qube_file(s, qube, FIREWALL_JSON, FIREWALL_JSON_MAX, &text);

	if (r == -ENOENT && store_exists(s, qube)) {
		if (ret_forwards)
			*ret_forwards = fwd;
		return ret ? fw_rules_default(ret) : 0;
	}
	if (r < 0) {
		if (r != -ENOENT)
			*ret_error = xasprintf(FIREWALL_JSON " cannot be read: %s", strerror(-r));
		return r;
	}
	o = json_tokener_parse(text);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		*ret_error = xstrdup(FIREWALL_JSON " is not a JSON object");
		return -EINVAL;
	}
	/* "forwards" is ours beside Qubes' rule list; the rest is the rule file. */
	if (json_object_object_get_ex(o, "forwards", &a)) {
		char *e = NULL;
		r = port_forwards_from_json(a, &fwd, &e);
		if (r < 0) {
			*ret_error = xasprintf(FIREWALL_JSON ": %s", e);
			free(e);
			json_object_put(o);
			return r;
		}
		json_object_object_del(o, "forwards");
	}
	if (ret) {
		r = fw_file_from_json(o, ret, ret_error);
		if (r < 0) {
			json_object_put(o);
			return r;
		}
	}
	json_object_put(o);
	if (ret_forwards)
		*ret_forwards = fwd;
	return 0;
}

int firewall_save(struct store *s, const char *qube, const struct fw_rules *rules,
		  const struct port_forwards *forwards)
{
	struct json_object *o = fw_file_to_json(rules);
	if (forwards && forwards->n)
		json_object_object_add(o, "forwards", port_forwards_to_json(forwards));
	_cleanup_free_ char *text =
	    xasprintf("%s\n", json_object_to_json_string_ext(
				  o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));

	json_object_put(o);
	return store_write_qube_file(s, qube, FIREWALL_JSON, text);
}
