/* The firewall rule model: Qubes' fields and their validation (qubes/firewall.py), in words and
 * JSON. */
#include "firewall-rule.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Qubes' sets: every option value, comments (which may have spaces), host names. */
#define SAFE_CHARS    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:;,./-_[]"
#define COMMENT_CHARS SAFE_CHARS " "
#define HOST_CHARS    "abcdefghijklmnopqrstuvwxyz0123456789-._"

#define fail(ret_error, ...) error_msg(ret_error, -EINVAL, __VA_ARGS__)

/* Shown values are capped: the value can be anything a caller sent. */
#define SHOWN	"%.64s%s"
#define SHOW(v) (v), strlen(v) > 64 ? "..." : ""

static bool only_chars(const char *s, const char *set)
{
	return strspn(s, set) == strlen(s);
}

/* Digits only, at most max_digits of them, value <= max. */
static bool parse_uint(const char *s, size_t max_digits, uint64_t max, uint64_t *ret)
{
	size_t n = strlen(s);
	uint64_t v = 0;

	if (n == 0 || n > max_digits || strspn(s, "0123456789") != n)
		return false;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (uint64_t)(s[i] - '0');
	if (v > max)
		return false;
	*ret = v;
	return true;
}

void fw_rule_init(struct fw_rule *r)
{
	memset(r, 0, sizeof(*r));
	r->action = FW_ACCEPT;
	r->proto = FW_PROTO_ANY;
	r->host_kind = FW_HOST_ANY;
	r->icmptype = -1;
}

const char *fw_action_str(enum fw_action a)
{
	return a == FW_DROP ? "drop" : "accept";
}

const char *fw_proto_str(enum fw_proto p)
{
	switch (p) {
	case FW_PROTO_TCP:
		return "tcp";
	case FW_PROTO_UDP:
		return "udp";
	case FW_PROTO_ICMP:
		return "icmp";
	default:
		return "";
	}
}

static int set_host(struct fw_rule *r, const char *value, char **ret_error)
{
	const char *slash = strchr(value, '/');
	char addr[INET6_ADDRSTRLEN + 1];
	struct in6_addr a6;
	struct in_addr a4;
	uint64_t prefix = 0;
	size_t alen;

	if (!*value)
		return fail(ret_error, "dsthost: empty");
	if (slash && strchr(slash + 1, '/'))
		return fail(ret_error, "dsthost '" SHOWN "': too many '/'", SHOW(value));
	alen = slash ? (size_t)(slash - value) : strlen(value);
	if (slash) {
		if (!parse_uint(slash + 1, 3, 255, &prefix))
			return fail(ret_error, "dsthost '" SHOWN "': bad prefix length",
				    SHOW(value));
	}
	if (alen < sizeof(addr)) {
		memcpy(addr, value, alen);
		addr[alen] = 0;
		if (inet_pton(AF_INET6, addr, &a6) == 1) {
			if (slash && prefix > 128)
				return fail(ret_error,
					    "dsthost '" SHOWN "': an IPv6 prefix is at most 128",
					    SHOW(value));
			r->host_kind = FW_HOST_IP6;
			r->addr.v6 = a6;
			r->prefix = slash ? (uint8_t)prefix : 128;
			return 0;
		}
		/* inet_pton takes only the dotted quad, which is Qubes' "three dots" rule. */
		if (inet_pton(AF_INET, addr, &a4) == 1) {
			if (slash && prefix > 32)
				return fail(ret_error,
					    "dsthost '" SHOWN "': an IPv4 prefix is at most 32",
					    SHOW(value));
			r->host_kind = FW_HOST_IP4;
			r->addr.v4 = a4;
			r->prefix = slash ? (uint8_t)prefix : 32;
			return 0;
		}
	}
	if (slash)
		return fail(ret_error, "dsthost '" SHOWN "': not an IP address before the '/'",
			    SHOW(value));
	if (strlen(value) > FW_HOST_MAX)
		return fail(ret_error, "dsthost: a host name is at most %d characters",
			    FW_HOST_MAX);
	if (!only_chars(value, HOST_CHARS))
		return fail(ret_error,
			    "dsthost '" SHOWN "': neither an address nor a host name (a-z, 0-9, "
			    "'-', '.', '_')",
			    SHOW(value));
	r->host_kind = FW_HOST_NAME;
	strcpy(r->host, value);
	return 0;
}

static int set_ports(struct fw_rule *r, const char *value, char **ret_error)
{
	const char *dash = strchr(value, '-');
	char lo[8];
	uint64_t a, b;

	if (dash) {
		size_t n = (size_t)(dash - value);
		if (n >= sizeof(lo) || strchr(dash + 1, '-'))
			return fail(ret_error, "dstports '" SHOWN "': expected N or N-M",
				    SHOW(value));
		memcpy(lo, value, n);
		lo[n] = 0;
		if (!parse_uint(lo, 5, 65535, &a) || !parse_uint(dash + 1, 5, 65535, &b))
			return fail(ret_error, "dstports '" SHOWN "': ports are 0 to 65535",
				    SHOW(value));
	} else {
		if (!parse_uint(value, 5, 65535, &a))
			return fail(ret_error, "dstports '" SHOWN "': ports are 0 to 65535",
				    SHOW(value));
		b = a;
	}
	if (a > b)
		return fail(ret_error, "dstports '" SHOWN "': the range is backwards", SHOW(value));
	r->has_ports = true;
	r->port_lo = (uint16_t)a;
	r->port_hi = (uint16_t)b;
	return 0;
}

int fw_rule_set(struct fw_rule *r, const char *key, const char *value, int64_t now,
		char **ret_error)
{
	uint64_t v;

	if (streq(key, "comment")) {
		if (strlen(value) > FW_COMMENT_MAX)
			return fail(ret_error, "comment: at most %d characters", FW_COMMENT_MAX);
		if (!only_chars(value, COMMENT_CHARS))
			return fail(
			    ret_error,
			    "comment: only letters, digits, spaces and :;,./-_[] are allowed");
		strcpy(r->comment, value);
		return 0;
	}
	if (streq(key, "expire")) {
		bool rel = value[0] == '+';
		if (!parse_uint(value + rel, 18, INT64_MAX / 2, &v) || (!rel && v == 0))
			return fail(ret_error,
				    "expire '" SHOWN "': expected seconds since 1970, or +SECONDS "
				    "from now",
				    SHOW(value));
		r->expire = rel ? now + (int64_t)v : (int64_t)v;
		return 0;
	}
	if (!only_chars(value, SAFE_CHARS))
		return fail(ret_error, "%s: strange characters in '" SHOWN "'", key, SHOW(value));
	if (streq(key, "action")) {
		if (streq(value, "accept"))
			r->action = FW_ACCEPT;
		else if (streq(value, "drop"))
			r->action = FW_DROP;
		else
			return fail(ret_error, "action '" SHOWN "': expected accept or drop",
				    SHOW(value));
		return 0;
	}
	if (streq(key, "proto")) {
		if (streq(value, "tcp"))
			r->proto = FW_PROTO_TCP;
		else if (streq(value, "udp"))
			r->proto = FW_PROTO_UDP;
		else if (streq(value, "icmp"))
			r->proto = FW_PROTO_ICMP;
		else
			return fail(ret_error, "proto '" SHOWN "': expected tcp, udp or icmp",
				    SHOW(value));
		return 0;
	}
	if (streq(key, "dsthost")) {
		struct fw_rule t = *r;
		int ret = set_host(&t, value, ret_error);
		if (ret < 0)
			return ret;
		*r = t;
		return 0;
	}
	if (streq(key, "dstports"))
		return set_ports(r, value, ret_error);
	if (streq(key, "icmptype")) {
		if (!parse_uint(value, 3, 255, &v))
			return fail(ret_error, "icmptype '" SHOWN "': expected 0 to 255",
				    SHOW(value));
		r->icmptype = (int)v;
		return 0;
	}
	if (streq(key, "specialtarget")) {
		if (!streq(value, "dns"))
			return fail(ret_error, "specialtarget '" SHOWN "': only 'dns' is known",
				    SHOW(value));
		r->dns = true;
		return 0;
	}
	return fail(ret_error,
		    "unknown field '" SHOWN
		    "' (fields: action, dsthost, proto, dstports, icmptype, "
		    "specialtarget, expire, comment)",
		    SHOW(key));
}

int fw_rule_check(const struct fw_rule *r, char **ret_error)
{
	/* Qubes' admin side wants tcp or udp with dstports; its agent makes a tcp and a udp rule
	 * of dstports without proto, which we keep as a meaning. */
	if (r->has_ports && r->proto == FW_PROTO_ICMP)
		return fail(ret_error, "dstports: valid only with proto tcp or udp");
	if (r->icmptype >= 0 && r->proto != FW_PROTO_ICMP)
		return fail(ret_error, "icmptype: valid only with proto=icmp");
	if (r->dns && r->has_ports && (r->port_lo > 53 || r->port_hi < 53))
		return fail(ret_error, "specialtarget=dns: dstports must include 53");
	if (r->dns && r->host_kind != FW_HOST_ANY)
		return fail(ret_error, "specialtarget=dns: cannot be combined with dsthost");
	if (r->dns && r->proto == FW_PROTO_ICMP)
		return fail(ret_error, "specialtarget=dns: proto must be tcp or udp");
	return 0;
}

bool fw_rule_equal(const struct fw_rule *a, const struct fw_rule *b)
{
	if (a->action != b->action || a->proto != b->proto || a->host_kind != b->host_kind ||
	    a->has_ports != b->has_ports || a->icmptype != b->icmptype || a->dns != b->dns ||
	    a->expire != b->expire || !streq(a->comment, b->comment))
		return false;
	if (a->has_ports && (a->port_lo != b->port_lo || a->port_hi != b->port_hi))
		return false;
	switch (a->host_kind) {
	case FW_HOST_IP4:
		return a->prefix == b->prefix && a->addr.v4.s_addr == b->addr.v4.s_addr;
	case FW_HOST_IP6:
		return a->prefix == b->prefix && memcmp(&a->addr.v6, &b->addr.v6, 16) == 0;
	case FW_HOST_NAME:
		return streq(a->host, b->host);
	default:
		return true;
	}
}

bool fw_rule_expired(const struct fw_rule *r, int64_t now)
{
	return r->expire > 0 && r->expire <= now;
}

const char *fw_rule_host_str(const struct fw_rule *r, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	switch (r->host_kind) {
	case FW_HOST_IP4:
		inet_ntop(AF_INET, &r->addr.v4, a, sizeof(a));
		snprintf(buf, len, "%s/%u", a, r->prefix);
		break;
	case FW_HOST_IP6:
		inet_ntop(AF_INET6, &r->addr.v6, a, sizeof(a));
		snprintf(buf, len, "%s/%u", a, r->prefix);
		break;
	case FW_HOST_NAME:
		snprintf(buf, len, "%s", r->host);
		break;
	default:
		snprintf(buf, len, "%s", "");
	}
	return buf;
}

static const char *ports_str(const struct fw_rule *r, char *buf, size_t len)
{
	if (r->port_lo == r->port_hi)
		snprintf(buf, len, "%u", r->port_lo);
	else
		snprintf(buf, len, "%u-%u", r->port_lo, r->port_hi);
	return buf;
}

int fw_rule_parse_words(char *const *words, size_t n, int64_t now, struct fw_rule *ret,
			char **ret_error)
{
	static const char *const keys[] = {"action",   "dsthost",	"proto",  "dstports",
					   "icmptype", "specialtarget", "expire", "comment"};
	bool seen[ARRAY_SIZE(keys)] = {false};
	struct fw_rule r;
	int k;

	fw_rule_init(&r);
	if (n == 0)
		return fail(ret_error, "empty rule: at least action=accept or action=drop");
	for (size_t i = 0; i < n; i++) {
		const char *w = words[i], *eq = strchr(w, '='), *value;
		char key[16];
		int q;

		if (!eq) {
			/* qvm-firewall's old form: the action as a bare first word */
			if (i != 0)
				return fail(ret_error, "'" SHOWN "': expected KEY=VALUE", SHOW(w));
			strcpy(key, "action");
			value = w;
		} else {
			size_t kl = (size_t)(eq - w);
			if (kl >= sizeof(key))
				return fail(ret_error, "unknown field '" SHOWN "'", SHOW(w));
			memcpy(key, w, kl);
			key[kl] = 0;
			value = eq + 1;
		}
		for (k = 0; k < (int)ARRAY_SIZE(keys); k++)
			if (streq(keys[k], key))
				break;
		if (k < (int)ARRAY_SIZE(keys) && seen[k])
			return fail(ret_error, "%s: given twice", key);
		q = fw_rule_set(&r, key, value, now, ret_error);
		if (q < 0)
			return q;
		seen[k] = true;
	}
	if (!seen[0])
		return fail(ret_error, "action: missing (action=accept or action=drop)");
	if (fw_rule_check(&r, ret_error) < 0)
		return -EINVAL;
	*ret = r;
	return 0;
}

char *fw_rule_to_words(const struct fw_rule *r)
{
	char host[FW_HOST_MAX + 1], ports[16];
	char *s = xasprintf("action=%s", fw_action_str(r->action)), *t;

#define ADD(...)                                                                                   \
	do {                                                                                       \
		t = xasprintf(__VA_ARGS__);                                                        \
		free(s);                                                                           \
		s = t;                                                                             \
	} while (0)
	if (r->host_kind != FW_HOST_ANY)
		ADD("%s dsthost=%s", s, fw_rule_host_str(r, host, sizeof(host)));
	if (r->proto != FW_PROTO_ANY)
		ADD("%s proto=%s", s, fw_proto_str(r->proto));
	if (r->has_ports)
		ADD("%s dstports=%s", s, ports_str(r, ports, sizeof(ports)));
	if (r->icmptype >= 0)
		ADD("%s icmptype=%d", s, r->icmptype);
	if (r->dns)
		ADD("%s specialtarget=dns", s);
	if (r->expire > 0)
		ADD("%s expire=%" PRId64, s, r->expire);
	if (*r->comment)
		ADD("%s comment=%s", s, r->comment);
#undef ADD
	return s;
}

struct json_object *fw_rule_to_json(const struct fw_rule *r)
{
	struct json_object *o = json_object_new_object();
	char host[FW_HOST_MAX + 1], ports[16];

	json_object_object_add(o, "action", json_object_new_string(fw_action_str(r->action)));
	if (r->host_kind != FW_HOST_ANY)
		json_object_object_add(
		    o, "dsthost", json_object_new_string(fw_rule_host_str(r, host, sizeof(host))));
	if (r->proto != FW_PROTO_ANY)
		json_object_object_add(o, "proto", json_object_new_string(fw_proto_str(r->proto)));
	if (r->has_ports)
		json_object_object_add(o, "dstports",
				       json_object_new_string(ports_str(r, ports, sizeof(ports))));
	if (r->icmptype >= 0)
		json_object_object_add(o, "icmptype", json_object_new_int(r->icmptype));
	if (r->dns)
		json_object_object_add(o, "specialtarget", json_object_new_string("dns"));
	if (r->expire > 0)
		json_object_object_add(o, "expire", json_object_new_int64(r->expire));
	if (*r->comment)
		json_object_object_add(o, "comment", json_object_new_string(r->comment));
	return o;
}

int fw_rule_from_json(struct json_object *o, struct fw_rule *ret, char **ret_error)
{
	bool have_action = false;
	struct fw_rule r;

	if (!json_object_is_type(o, json_type_object))
		return fail(ret_error, "a rule must be a JSON object");
	fw_rule_init(&r);
	json_object_object_foreach(o, key, val)
	{
		static const char *const known[] = {"action",	"dsthost",  "proto",
						    "dstports", "icmptype", "specialtarget",
						    "expire",	"comment"};
		char num[24];
		const char *value;
		size_t k;
		int q;

		for (k = 0; k < ARRAY_SIZE(known); k++)
			if (streq(known[k], key))
				break;
		if (k == ARRAY_SIZE(known))
			return fail(ret_error, "unknown field '" SHOWN "'", SHOW(key));

		/* Numbers are welcome where Qubes takes them (ports, icmptype, expire). */
		if (json_object_is_type(val, json_type_int) &&
		    (streq(key, "dstports") || streq(key, "icmptype") || streq(key, "expire"))) {
			int64_t n = json_object_get_int64(val);
			if (n < 0)
				return fail(ret_error, "%s: negative", key);
			snprintf(num, sizeof(num), "%" PRId64, n);
			value = num;
		} else if (json_object_is_type(val, json_type_string)) {
			value = json_object_get_string(val);
			if (strlen(value) != (size_t)json_object_get_string_len(val))
				return fail(ret_error, "%s: a NUL in the value", key);
		} else {
			return fail(ret_error, "%.32s: expected a string", key);
		}
		if (streq(key, "expire") && value[0] == '+')
			return fail(ret_error, "expire: seconds since 1970 here, not +SECONDS");
		q = fw_rule_set(&r, key, value, 0, ret_error);
		if (q < 0)
			return q;
		if (streq(key, "action"))
			have_action = true;
	}
	if (!have_action)
		return fail(ret_error, "action: missing (accept or drop)");
	if (fw_rule_check(&r, ret_error) < 0)
		return -EINVAL;
	*ret = r;
	return 0;
}

void fw_rules_done(struct fw_rules *rules)
{
	free(rules->v);
	rules->v = NULL;
	rules->n = 0;
}

int fw_rules_append(struct fw_rules *rules, const struct fw_rule *r)
{
	struct fw_rule copy = *r; /* r may point into rules->v */

	if (rules->n >= FW_RULES_MAX)
		return -E2BIG;
	rules->v = xrealloc(rules->v, (rules->n + 1) * sizeof(*rules->v));
	rules->v[rules->n++] = copy;
	return 0;
}

int fw_rules_remove(struct fw_rules *rules, size_t i)
{
	if (i >= rules->n)
		return -ENOENT;
	memmove(&rules->v[i], &rules->v[i + 1], (rules->n - i - 1) * sizeof(*rules->v));
	rules->n--;
	return 0;
}

int fw_rules_find(const struct fw_rules *rules, const struct fw_rule *r)
{
	for (size_t i = 0; i < rules->n; i++)
		if (fw_rule_equal(&rules->v[i], r))
			return (int)i;
	return -ENOENT;
}

int fw_rules_default(struct fw_rules *ret)
{
	struct fw_rule r;

	fw_rule_init(&r);
	ret->v = NULL;
	ret->n = 0;
	return fw_rules_append(ret, &r);
}

struct json_object *fw_rules_to_json(const struct fw_rules *rules)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < rules->n; i++)
		json_object_array_add(a, fw_rule_to_json(&rules->v[i]));
	return a;
}

int fw_rules_from_json(struct json_object *array, struct fw_rules *ret, char **ret_error)
{
	struct fw_rules rules = {NULL, 0};
	size_t n;

	if (!json_object_is_type(array, json_type_array))
		return fail(ret_error, "rules: expected a JSON array");
	n = json_object_array_length(array);
	if (n > FW_RULES_MAX)
		return fail(ret_error, "rules: at most %d", FW_RULES_MAX);
	rules.v = xcalloc(n ? n : 1, sizeof(*rules.v));
	for (size_t i = 0; i < n; i++) {
		char *e = NULL;
		if (fw_rule_from_json(json_object_array_get_idx(array, i), &rules.v[i], &e) < 0) {
			fw_rules_done(&rules);
			fail(ret_error, "rule %zu: %s", i, e);
			free(e);
			return -EINVAL;
		}
		rules.n++;
	}
	*ret = rules;
	return 0;
}

struct json_object *fw_file_to_json(const struct fw_rules *rules)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "rules", fw_rules_to_json(rules));
	return o;
}

int fw_file_from_json(struct json_object *o, struct fw_rules *ret, char **ret_error)
{
	struct json_object *a;

	if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "rules", &a))
		return fail(ret_error, "expected {\"rules\": [...]}");
	if (json_object_object_length(o) != 1)
		return fail(ret_error, "unknown member beside \"rules\"");
	return fw_rules_from_json(a, ret, ret_error);
}
