/*
 * Host-wide settings (Qubes' `qubes-prefs`), stored in STATE/host.json (store.h) and read and
 * written through admin.property.* (api-host.c). Pure data, like qube.h: whether a named qube
 * exists or may serve is the caller's check (net.h for default_netvm).
 *
 *   default_netvm   the netvm of every qube whose netvm is not set ("" = none, the default)
 *   default_dispvm  the disposable template `bulkhead run --dispvm` uses from the host ("" = none)
 */
#pragma once

#include <stdbool.h>

#include <json-c/json.h>

struct host_prefs {
	char *default_netvm;  /* NULL: none */
	char *default_dispvm; /* NULL: none */
};

void host_prefs_finish(struct host_prefs *p);
void host_prefs_copy(const struct host_prefs *p, struct host_prefs *ret);
/* Keys in order, NULL-terminated. */
const char *const *host_prefs_names(void);
/* Like qube_prop_*: unknown key -ENOENT; bad value -EINVAL with a static reason. */
int host_prefs_get(const struct host_prefs *p, const char *key, char **ret_value,
		   bool *ret_is_default);
int host_prefs_set(struct host_prefs *p, const char *key, const char *value,
		   const char **ret_reason);
int host_prefs_reset(struct host_prefs *p, const char *key);
/* {"version": 1, "default_netvm": "name" | null, "default_dispvm": ...}; parsing refuses unknown
 * keys and bad values (it comes from disk). */
struct json_object *host_prefs_to_json(const struct host_prefs *p);
int host_prefs_from_json(struct json_object *o, struct host_prefs *ret, const char **ret_reason);
