/* What surrounds evaluation: the name check callers run first, the system info read from
 * Qubes' JSON shape, and the JSON form of a decision. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include <json-c/json.h>

#include "policy-internal.h"
#include "util.h"

static bool service_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

int policy_check_service_name(const char *service_arg, const char **ret_reason)
{
	const char *why = NULL;
	size_t n = 0;

	if (!service_arg) {
		why = "no service name";
		goto bad;
	}
	for (; service_arg[n] && service_arg[n] != '+'; n++) {
		if (n == POLICY_SERVICE_MAX) {
			why = "service name too long";
			goto bad;
		}
		if (!service_char(service_arg[n])) {
			why = "forbidden character in service name";
			goto bad;
		}
	}
	if (n == 0) {
		why = "empty service name";
		goto bad;
	}
	/* Services are files under /etc/bulkhead/rpc/. */
	if ((n == 1 && service_arg[0] == '.') || (n == 2 && strncmp(service_arg, "..", 2) == 0)) {
		why = "service name is . or ..";
		goto bad;
	}
	if (service_arg[n] == '+') {
		const char *arg = service_arg + n + 1;
		size_t k;
		for (k = 0; arg[k]; k++) {
			if (k == POLICY_ARGUMENT_MAX) {
				why = "argument too long";
				goto bad;
			}
			if (!service_char(arg[k]) && arg[k] != '+') {
				why = "forbidden character in argument";
				goto bad;
			}
		}
	}
	return 0;
bad:
	if (ret_reason)
		*ret_reason = why;
	return -EINVAL;
}

static struct json_object *str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

struct json_object *policy_result_to_json(const struct policy_result *r)
{
	struct json_object *o = json_object_new_object();
	if (!o)
		abort();

	switch (r->action) {
	case POLICY_ALLOW:
		json_object_object_add(o, "action", json_object_new_string("allow"));
		json_object_object_add(o, "target", str_or_null(r->target));
		json_object_object_add(o, "user", str_or_null(r->user));
		json_object_object_add(o, "autostart", json_object_new_boolean(r->autostart));
		json_object_object_add(o, "notify", json_object_new_boolean(r->notify));
		json_object_object_add(o, "rule", str_or_null(r->rule));
		break;
	case POLICY_ASK: {
		struct json_object *t = json_object_new_array();
		for (size_t i = 0; i < r->n_targets; i++)
			json_object_array_add(t, json_object_new_string(r->targets[i]));
		json_object_object_add(o, "action", json_object_new_string("ask"));
		json_object_object_add(o, "targets", t);
		json_object_object_add(o, "default_target", str_or_null(r->default_target));
		json_object_object_add(o, "rule", str_or_null(r->rule));
		break;
	}
	default:
		json_object_object_add(o, "action", json_object_new_string("deny"));
		json_object_object_add(o, "rule", str_or_null(r->rule));
		json_object_object_add(o, "reason",
				       json_object_new_string(r->reason ? r->reason : "denied"));
		break;
	}
	return o;
}

/* Caps on system info read from a file. */
#define SYSINFO_MAX_DOMAINS 100000
#define SYSINFO_MAX_TAGS    1024

/* The system info with the strings it points to. info comes first: the public pointer is this
 * struct's address. */
struct sysinfo_owned {
	struct policy_sysinfo info;
	struct policy_domain *domains;
	size_t n;
};

void policy_sysinfo_free(struct policy_sysinfo *si)
{
	struct sysinfo_owned *s = (struct sysinfo_owned *)si;
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		struct policy_domain *d = &s->domains[i];
		free((char *)d->name);
		free((char *)d->type);
		free((char *)d->default_dispvm);
		free((char *)d->power_state);
		free((char *)d->uuid);
		for (size_t k = 0; k < d->n_tags; k++)
			free((char *)d->tags[k]);
		free((char **)d->tags);
	}
	free(s->domains);
	free(s);
}

static int set_error(char **ret_error, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int set_error(char **ret_error, const char *fmt, ...)
{
	va_list ap;
	if (ret_error) {
		va_start(ap, fmt);
		if (vasprintf(ret_error, fmt, ap) < 0)
			abort();
		va_end(ap);
	}
	return -EINVAL;
}

/* An optional string member: absent and null give NULL. */
static int get_str(struct json_object *o, const char *key, bool required, char **ret)
{
	struct json_object *v;
	*ret = NULL;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return required ? -ENOENT : 0;
	if (!json_object_is_type(v, json_type_string))
		return -EINVAL;
	const char *s = json_object_get_string(v);
	/* json-c keeps strings with NULs; a name cut short at one would be another name. */
	if ((size_t)json_object_get_string_len(v) != strlen(s))
		return -EINVAL;
	*ret = xstrdup(s);
	return 0;
}

/* Qubes' form of a uuid (Python's str(uuid.UUID)): 8-4-4-4-12 lowercase hex digits. */
static bool uuid_valid(const char *s)
{
	for (size_t i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-'
			 : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return s[36] == '\0';
}

static int read_domain(const char *name, struct json_object *o, struct policy_domain *d,
		       char **ret_error)
{
	struct json_object *v;
	char *s;

	d->name = xstrdup(name);
	if (!json_object_is_type(o, json_type_object))
		return set_error(ret_error, "domains.%s: not an object", name);
	if (get_str(o, "type", true, &s) < 0)
		return set_error(ret_error, "domains.%s.type: a string is required", name);
	d->type = s;
	if (get_str(o, "default_dispvm", false, &s) < 0)
		return set_error(ret_error, "domains.%s.default_dispvm: not a string or null",
				 name);
	d->default_dispvm = s;
	if (get_str(o, "power_state", false, &s) < 0)
		return set_error(ret_error, "domains.%s.power_state: not a string", name);
	d->power_state = s;
	if (get_str(o, "uuid", false, &s) < 0)
		return set_error(ret_error, "domains.%s.uuid: not a string or null", name);
	d->uuid = s;
	if (s && !uuid_valid(s))
		return set_error(ret_error,
				 "domains.%s.uuid: not a uuid in lowercase 8-4-4-4-12 form", name);
	if (json_object_object_get_ex(o, "internal", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_boolean))
			return set_error(ret_error, "domains.%s.internal: not a boolean", name);
		d->internal = json_object_get_boolean(v);
	}
	if (json_object_object_get_ex(o, "template_for_dispvms", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_boolean))
			return set_error(ret_error,
					 "domains.%s.template_for_dispvms: not a boolean", name);
		d->template_for_dispvms = json_object_get_boolean(v);
	}
	if (json_object_object_get_ex(o, "tags", &v) && !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_array))
			return set_error(ret_error, "domains.%s.tags: not an array", name);
		size_t n = json_object_array_length(v);
		if (n > SYSINFO_MAX_TAGS)
			return set_error(ret_error, "domains.%s.tags: more than %d", name,
					 SYSINFO_MAX_TAGS);
		const char **tags = xcalloc(n + 1, sizeof(char *));
		d->tags = tags;
		for (size_t i = 0; i < n; i++) {
			struct json_object *t = json_object_array_get_idx(v, i);
			if (!json_object_is_type(t, json_type_string) ||
			    (size_t)json_object_get_string_len(t) !=
				strlen(json_object_get_string(t)))
				return set_error(ret_error, "domains.%s.tags[%zu]: not a string",
						 name, i);
			tags[i] = xstrdup(json_object_get_string(t));
			d->n_tags = i + 1;
		}
	}
	return 0;
}

int policy_sysinfo_from_json(struct json_object *o, struct policy_sysinfo **ret, char **ret_error)
{
	struct json_object *domains;

	if (!ret)
		return -EINVAL;
	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "domains", &domains) ||
	    !json_object_is_type(domains, json_type_object))
		return set_error(ret_error, "expected an object with an object \"domains\"");
	size_t n = (size_t)json_object_object_length(domains);
	if (n > SYSINFO_MAX_DOMAINS)
		return set_error(ret_error, "more than %d domains", SYSINFO_MAX_DOMAINS);

	struct sysinfo_owned *s = xcalloc(1, sizeof(*s));
	s->domains = xcalloc(n + 1, sizeof(*s->domains));
	json_object_object_foreach(domains, name, val)
	{
		/* "uuid:..." keys are aliases in Qubes' Python form of the system info; here a
		 * qube's uuid is its "uuid" member. */
		if (!*name || strchr(name, '@') || strncmp(name, "uuid:", 5) == 0) {
			int r = set_error(ret_error, "invalid domain name \"%s\"", name);
			policy_sysinfo_free(&s->info);
			return r;
		}
		int r = read_domain(name, val, &s->domains[s->n++], ret_error);
		const char *uuid = s->domains[s->n - 1].uuid;
		for (size_t i = 0; r == 0 && uuid && i + 1 < s->n; i++)
			if (s->domains[i].uuid && streq(s->domains[i].uuid, uuid))
				r = set_error(ret_error, "domains.%s.uuid: also the uuid of %s",
					      name, s->domains[i].name);
		if (r < 0) {
			policy_sysinfo_free(&s->info);
			return r;
		}
	}
	s->info.domains = s->domains;
	s->info.n_domains = s->n;
	*ret = &s->info;
	return 0;
}
