/* firewall.json in the qube's directory. */
#include "firewall-store.h"

#include <errno.h>

#include "store.h"
#include "util.h"

int firewall_load(struct store *s, const char *qube, struct fw_rules *ret, char **ret_error)
{
	_cleanup_free_ char *text = NULL;
	struct json_object *o;
	int r = store_read_qube_file(s, qube, FIREWALL_JSON, FIREWALL_JSON_MAX, &text);

	if (r == -ENOENT && store_exists(s, qube))
		return fw_rules_default(ret);
	if (r < 0) {
		if (r != -ENOENT)
			*ret_error = xasprintf(FIREWALL_JSON " cannot be read: %s", strerror(-r));
		return r;
	}
	o = json_tokener_parse(text);
	if (!o) {
		*ret_error = xstrdup(FIREWALL_JSON " is not JSON");
		return -EINVAL;
	}
	r = fw_file_from_json(o, ret, ret_error);
	json_object_put(o);
	return r;
}

int firewall_save(struct store *s, const char *qube, const struct fw_rules *rules)
{
	struct json_object *o = fw_file_to_json(rules);
	_cleanup_free_ char *text =
	    xasprintf("%s\n", json_object_to_json_string_ext(
				  o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));

	json_object_put(o);
	return store_write_qube_file(s, qube, FIREWALL_JSON, text);
}
