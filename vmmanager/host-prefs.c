/* Host-wide settings (host-prefs.h). */
#include <errno.h>
#include <stddef.h>

#include "host-prefs.h"
#include "qube-name.h"
#include "util.h"

/* The keys and where each lives: both name a qube ("" or "none": none). */
static const struct {
	const char *name;
	size_t offset;
} keys[] = {
    {"default_netvm", offsetof(struct host_prefs, default_netvm)},
    {"default_dispvm", offsetof(struct host_prefs, default_dispvm)},
};

static char **field(struct host_prefs *p, const char *key)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (streq_ptr(key, keys[i].name))
			return (char **)((char *)p + keys[i].offset);
	return NULL;
}

void host_prefs_finish(struct host_prefs *p)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		char **f = field(p, keys[i].name);
		free(*f);
		*f = NULL;
	}
}

void host_prefs_copy(const struct host_prefs *p, struct host_prefs *ret)
{
	*ret = (struct host_prefs){0};
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const char *v = *field((struct host_prefs *)p, keys[i].name);
		*field(ret, keys[i].name) = v ? xstrdup(v) : NULL;
	}
}

const char *const *host_prefs_names(void)
{
	static const char *const names[] = {"default_netvm", "default_dispvm", NULL};
	return names;
}

int host_prefs_get(const struct host_prefs *p, const char *key, char **ret_value,
		   bool *ret_is_default)
{
	char **f = field((struct host_prefs *)p, key);
	if (!f)
		return -ENOENT;
	if (ret_value)
		*ret_value = xstrdup(*f ? *f : "");
	if (ret_is_default)
		*ret_is_default = !*f;
	return 0;
}

int host_prefs_set(struct host_prefs *p, const char *key, const char *value,
		   const char **ret_reason)
{
	const char *reason = NULL;
	char **f = field(p, key);
	if (!f)
		return -ENOENT;
	if (!value)
		return -EINVAL;
	if (*value && !streq(value, "none") && qube_name_check(value, &reason) < 0) {
		if (ret_reason)
			*ret_reason = reason;
		return -EINVAL;
	}
	free(*f);
	*f = *value && !streq(value, "none") ? xstrdup(value) : NULL;
	return 0;
}

int host_prefs_reset(struct host_prefs *p, const char *key)
{
	return host_prefs_set(p, key, "", NULL);
}

struct json_object *host_prefs_to_json(const struct host_prefs *p)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "version", json_object_new_int(1));
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const char *v = *field((struct host_prefs *)p, keys[i].name);
		json_object_object_add(o, keys[i].name, v ? json_object_new_string(v) : NULL);
	}
	return o;
}

int host_prefs_from_json(struct json_object *o, struct host_prefs *ret, const char **ret_reason)
{
	struct host_prefs p = {0};
	struct json_object *v;

	if (!json_object_is_type(o, json_type_object)) {
		*ret_reason = "host.json is not a JSON object";
		return -EINVAL;
	}
	if (!json_object_object_get_ex(o, "version", &v) ||
	    !json_object_is_type(v, json_type_int) || json_object_get_int64(v) != 1) {
		*ret_reason = "host.json has no version 1";
		return -EINVAL;
	}
	json_object_object_foreach(o, key, val)
	{
		if (streq(key, "version"))
			continue;
		if (!field(&p, key)) {
			host_prefs_finish(&p);
			*ret_reason = "host.json has an unknown key";
			return -EINVAL;
		}
		if (!val)
			continue;
		if (!json_object_is_type(val, json_type_string) ||
		    host_prefs_set(&p, key, json_object_get_string(val), ret_reason) < 0) {
			host_prefs_finish(&p);
			*ret_reason = "host.json: a default is not a qube name";
			return -EINVAL;
		}
	}
	*ret = p;
	return 0;
}
