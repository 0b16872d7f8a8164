/* The apply program's input: JSON from the host, checked member by member. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "json-text.h"
#include "util.h"

#define fail(ret_error, ...) error_msg(ret_error, -EINVAL, __VA_ARGS__)

bool parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	int end = 0;

	if (strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%n", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &end) != 6 ||
	    end != 17)
		return false;
	for (int i = 0; i < 6; i++) {
		if (s[i * 3] == ' ' || s[i * 3] == '+' || s[i * 3] == '-')
			return false;
		mac[i] = (uint8_t)v[i];
	}
	return true;
}

void format_mac(const uint8_t mac[6], char buf[18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
}

/* Member key of o as a string; NULL when absent or null; -EINVAL for another type. */
static int get_str(struct json_object *o, const char *key, bool required, const char **ret,
		   const char *where, char **err)
{
	struct json_object *v;

	*ret = NULL;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
		if (required)
			return fail(err, "%s%s: missing", where, key);
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return fail(err, "%s%s: expected a string", where, key);
	*ret = json_object_get_string(v);
	return 0;
}

static int get_ip4(struct json_object *o, const char *key, bool required, bool *has,
		   struct in_addr *ret, const char *where, char **err)
{
	const char *s;
	int r = get_str(o, key, required, &s, where, err);

	if (r < 0)
		return r;
	if (has)
		*has = s != NULL;
	if (s && inet_pton(AF_INET, s, ret) != 1)
		return fail(err, "%s%s: '%.64s' is not an IPv4 address", where, key, s);
	return 0;
}

static int get_ip6(struct json_object *o, const char *key, bool *has, struct in6_addr *ret,
		   const char *where, char **err)
{
	const char *s;
	int r = get_str(o, key, false, &s, where, err);

	if (r < 0)
		return r;
	*has = s != NULL;
	if (s && inet_pton(AF_INET6, s, ret) != 1)
		return fail(err, "%s%s: '%.64s' is not an IPv6 address", where, key, s);
	return 0;
}

static int get_mac(struct json_object *o, const char *key, bool required, bool *has, uint8_t mac[6],
		   const char *where, char **err)
{
	const char *s;
	int r = get_str(o, key, required, &s, where, err);

	if (r < 0)
		return r;
	if (has)
		*has = s != NULL;
	if (s && !parse_mac(s, mac))
		return fail(err, "%s%s: '%.64s' is not a MAC address", where, key, s);
	return 0;
}

static int get_uint(struct json_object *o, const char *key, unsigned lo, unsigned hi, unsigned *ret,
		    const char *where, char **err)
{
	struct json_object *v;
	int64_t n;

	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return fail(err, "%s%s: expected a number", where, key);
	n = json_object_get_int64(v);
	if (n < lo || n > hi)
		return fail(err, "%s%s: %lld is not within %u-%u", where, key, (long long)n, lo,
			    hi);
	*ret = (unsigned)n;
	return 0;
}

static int get_ip4_list(struct json_object *o, const char *key, struct in_addr *v, size_t *n,
			const char *where, char **err)
{
	struct json_object *a;

	*n = 0;
	if (!json_object_object_get_ex(o, key, &a) || json_object_is_type(a, json_type_null))
		return 0;
	if (!json_object_is_type(a, json_type_array))
		return fail(err, "%s%s: expected an array", where, key);
	if (json_object_array_length(a) > NFT_RESOLVERS_MAX)
		return fail(err, "%s%s: at most %d addresses", where, key, NFT_RESOLVERS_MAX);
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		struct json_object *e = json_object_array_get_idx(a, i);
		if (!json_object_is_type(e, json_type_string) ||
		    inet_pton(AF_INET, json_object_get_string(e), &v[i]) != 1)
			return fail(err, "%s%s[%zu]: not an IPv4 address", where, key, i);
		(*n)++;
	}
	return 0;
}

static int parse_uplink(struct json_object *o, struct net_uplink *up, char **err)
{
	const char *kind;
	int r;

	if (!json_object_is_type(o, json_type_object))
		return fail(err, "uplink: expected an object");
	if ((r = get_str(o, "kind", true, &kind, "uplink.", err)) < 0)
		return r;
	if (streq(kind, "passt"))
		up->passt = true;
	else if (!streq(kind, "netvm"))
		return fail(err, "uplink.kind: '%.32s' is neither netvm nor passt", kind);
	up->prefix4 = 32;
	if ((r = get_mac(o, "mac", true, NULL, up->mac, "uplink.", err)) < 0 ||
	    (r = get_ip4(o, "ip4", true, NULL, &up->ip4, "uplink.", err)) < 0 ||
	    (r = get_uint(o, "prefix4", 1, 32, &up->prefix4, "uplink.", err)) < 0 ||
	    (r = get_ip4(o, "gw4", true, NULL, &up->gw4, "uplink.", err)) < 0 ||
	    (r = get_mac(o, "gw_mac", false, &up->has_gw_mac, up->gw_mac, "uplink.", err)) < 0 ||
	    (r = get_ip6(o, "ip6", &up->has_ip6, &up->ip6, "uplink.", err)) < 0 ||
	    (r = get_ip6(o, "gw6", &up->has_gw6, &up->gw6, "uplink.", err)) < 0 ||
	    (r = get_ip4_list(o, "dns", up->dns, &up->n_dns, "uplink.", err)) < 0 ||
	    (r = get_uint(o, "mtu", 576, 65535, &up->mtu, "uplink.", err)) < 0)
		return r;
	if (!up->passt && !up->has_gw_mac)
		return fail(err, "uplink.gw_mac: missing (a netvm link pins its gateway)");
	return 0;
}

static int parse_down(struct json_object *o, size_t idx, struct net_down *d, char **err)
{
	char where[48];
	const char *name, *reason;
	struct json_object *a;
	int r;

	snprintf(where, sizeof(where), "downstream[%zu].", idx);
	if (!json_object_is_type(o, json_type_object))
		return fail(err, "downstream[%zu]: expected an object", idx);
	if ((r = get_str(o, "name", true, &name, where, err)) < 0)
		return r;
	if (qube_name_check(name, &reason) < 0)
		return fail(err, "%sname: %s", where, reason);
	strcpy(d->name, name);
	if ((r = get_mac(o, "mac", true, NULL, d->mac, where, err)) < 0 ||
	    (r = get_mac(o, "client_mac", true, NULL, d->client_mac, where, err)) < 0 ||
	    (r = get_ip4(o, "client_ip4", true, NULL, &d->ip4, where, err)) < 0 ||
	    (r = get_ip6(o, "client_ip6", &d->has_ip6, &d->ip6, where, err)) < 0)
		return r;
	if (json_object_object_get_ex(o, "firewall", &a) &&
	    !json_object_is_type(a, json_type_null)) {
		char *e = NULL;
		if (fw_rules_from_json(a, &d->rules, &e) < 0) {
			fail(err, "%sfirewall: %s", where, e);
			free(e);
			return -EINVAL;
		}
	}
	/* no list: nothing from this client passes (the host always sends one) */
	if (json_object_object_get_ex(o, "forwards", &a) &&
	    !json_object_is_type(a, json_type_null)) {
		char *e = NULL;
		if (port_forwards_from_json(a, &d->forwards, &e) < 0) {
			fail(err, "%s%s", where, e);
			free(e);
			return -EINVAL;
		}
	}
	return 0;
}

int net_config_parse(const char *text, size_t len, struct net_config *ret, char **ret_error)
{
	struct net_config c = {0};
	struct json_tokener *tok;
	struct json_object *o, *v;
	const char *name, *reason;
	unsigned version = 0;
	int r = -EINVAL;

	if (len > NET_CONFIG_MAX)
		return fail(ret_error, "the configuration is larger than %d bytes", NET_CONFIG_MAX);
	if (json_text_has_escaped_nul((const uint8_t *)text, len))
		return fail(ret_error, "the configuration holds an escaped NUL");
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success || !o) {
		fail(ret_error, "not JSON: %s",
		     json_tokener_error_desc(json_tokener_get_error(tok)));
		json_tokener_free(tok);
		json_object_put(o);
		return -EINVAL;
	}
	json_tokener_free(tok);
	if (!json_object_is_type(o, json_type_object)) {
		fail(ret_error, "expected a JSON object");
		goto out;
	}
	if ((r = get_uint(o, "version", 1, 1000, &version, "", ret_error)) < 0)
		goto out;
	r = -EINVAL;
	if (version != 1) {
		fail(ret_error, "version: %u is not 1", version);
		goto out;
	}
	if ((r = get_str(o, "qube", true, &name, "", ret_error)) < 0)
		goto out;
	if (qube_name_check(name, &reason) < 0) {
		r = fail(ret_error, "qube: %s", reason);
		goto out;
	}
	strcpy(c.qube, name);
	if (json_object_object_get_ex(o, "uplink", &v) && !json_object_is_type(v, json_type_null)) {
		c.has_uplink = true;
		if ((r = parse_uplink(v, &c.up, ret_error)) < 0)
			goto out;
	}
	if (json_object_object_get_ex(o, "provides_network", &v)) {
		if (!json_object_is_type(v, json_type_boolean)) {
			r = fail(ret_error, "provides_network: expected true or false");
			goto out;
		}
		c.provides_network = json_object_get_boolean(v);
	}
	if (c.provides_network) {
		struct json_object *a = NULL;
		if ((r = get_ip4(o, "gateway_ip4", true, &c.has_gw4, &c.gw4, "", ret_error)) < 0 ||
		    (r = get_ip6(o, "gateway_ip6", &c.has_gw6, &c.gw6, "", ret_error)) < 0 ||
		    (r = get_ip4_list(o, "virtual_dns", c.vdns, &c.n_vdns, "", ret_error)) < 0)
			goto out;
		r = -EINVAL;
		if (json_object_object_get_ex(o, "downstream", &a) &&
		    !json_object_is_type(a, json_type_null)) {
			size_t n;
			if (!json_object_is_type(a, json_type_array)) {
				fail(ret_error, "downstream: expected an array");
				goto out;
			}
			n = json_object_array_length(a);
			if (n > NFT_DOWNSTREAM_MAX) {
				fail(ret_error, "downstream: at most %d links", NFT_DOWNSTREAM_MAX);
				goto out;
			}
			c.down = xcalloc(n ? n : 1, sizeof(*c.down));
			for (size_t i = 0; i < n; i++) {
				c.n_down++;
				if ((r = parse_down(json_object_array_get_idx(a, i), i, &c.down[i],
						    ret_error)) < 0)
					goto out;
				for (size_t k = 0; k < i; k++)
					if (streq(c.down[k].name, c.down[i].name) ||
					    memcmp(c.down[k].mac, c.down[i].mac, 6) == 0 ||
					    c.down[k].ip4.s_addr == c.down[i].ip4.s_addr) {
						r = fail(
						    ret_error,
						    "downstream[%zu]: same name, mac or address "
						    "as downstream[%zu]",
						    i, k);
						goto out;
					}
			}
		}
	} else if (json_object_object_get_ex(o, "downstream", &v) &&
		   json_object_is_type(v, json_type_array) && json_object_array_length(v) > 0) {
		r = fail(ret_error, "downstream: given but provides_network is not true");
		goto out;
	}
	json_object_put(o);
	*ret = c;
	return 0;
out:
	json_object_put(o);
	net_config_done(&c);
	return r < 0 ? r : -EINVAL;
}

void net_config_done(struct net_config *c)
{
	for (size_t i = 0; i < c->n_down; i++)
		fw_rules_done(&c->down[i].rules);
	free(c->down);
	c->down = NULL;
	c->n_down = 0;
}
