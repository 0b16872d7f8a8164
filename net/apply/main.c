/*
 * bulkhead-net-apply: run as root inside a qube by the host, with the qube's whole network
 * configuration as JSON on stdin. Configures the uplink (addresses, pinned gateway neighbour,
 * routes, resolv.conf, MTU) and, in a qube that provides network, the downstream links and the
 * nft table with every client's firewall. Everything is parsed, resolved and checked (nft dry
 * run) before the first change; bad input changes nothing. Prints one JSON object.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "config.h"
#include "link.h"
#include "util.h"
#ifdef HAVE_NFTABLES
#include "netvm.h"
#endif

static const char *resolv_path(void)
{
	const char *p = getenv("BULKHEAD_NET_RESOLV_CONF");
	return p && *p ? p : "/etc/resolv.conf";
}

static int reply_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int reply_error(const char *fmt, ...)
{
	struct json_object *o = json_object_new_object();
	char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	json_object_object_add(o, "ok", json_object_new_boolean(false));
	json_object_object_add(o, "error", json_object_new_string(msg));
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	fprintf(stderr, "bulkhead-net-apply: %s\n", msg);
	json_object_put(o);
	free(msg);
	return 1;
}

static char *read_stdin(size_t *ret_len)
{
	size_t cap = 65536, n = 0;
	char *buf = xmalloc(cap);

	for (;;) {
		ssize_t k;
		if (n == cap) {
			if (cap > NET_CONFIG_MAX) {
				free(buf);
				return NULL;
			}
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		k = read(0, buf + n, cap - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			free(buf);
			return NULL;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	*ret_len = n;
	return buf;
}

static int apply_uplink(const struct net_uplink *up, char **err)
{
	char a[INET6_ADDRSTRLEN + 8], gw[INET6_ADDRSTRLEN + 8], gwh[INET6_ADDRSTRLEN + 16], mtu[16],
	    path[128];
	int r;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/accept_dad", up->ifname);
	link_sysctl(path, "0");
	snprintf(mtu, sizeof(mtu), "%u", up->mtu);
	if (up->mtu)
		r = link_ip(false, err, "link", "set", up->ifname, "mtu", mtu, "up", NULL);
	else
		r = link_ip(false, err, "link", "set", up->ifname, "up", NULL);
	if (r < 0)
		return r;
	inet_ntop(AF_INET, &up->ip4, a, INET_ADDRSTRLEN);
	snprintf(a + strlen(a), 8, "/%u", up->prefix4);
	if ((r = link_ip(true, err, "addr", "add", a, "dev", up->ifname, NULL)) < 0)
		return r;
	inet_ntop(AF_INET, &up->gw4, gw, INET_ADDRSTRLEN);
	snprintf(gwh, sizeof(gwh), "%s/32", gw);
	if (up->has_gw_mac) {
		r = link_neigh_permanent(up->ifname, AF_INET, &up->gw4, up->gw_mac);
		if (r < 0) {
			*err = xasprintf("neighbour %s on %s: %s", gw, up->ifname, strerror(-r));
			return r;
		}
	}
	if ((r = link_ip(false, err, "route", "replace", gwh, "dev", up->ifname, NULL)) < 0 ||
	    (r = link_ip(false, err, "route", "replace", "default", "via", gw, "dev", up->ifname,
			 "onlink", NULL)) < 0)
		return r;
	if (up->has_ip6) {
		inet_ntop(AF_INET6, &up->ip6, a, INET6_ADDRSTRLEN);
		strcat(a, "/128");
		if ((r = link_ip(true, err, "-6", "addr", "add", a, "dev", up->ifname, NULL)) < 0)
			return r;
	}
	if (up->has_ip6 && up->has_gw6) {
		inet_ntop(AF_INET6, &up->gw6, gw, INET6_ADDRSTRLEN);
		snprintf(gwh, sizeof(gwh), "%s/128", gw);
		if (up->has_gw_mac) {
			r = link_neigh_permanent(up->ifname, AF_INET6, &up->gw6, up->gw_mac);
			if (r < 0) {
				*err = xasprintf("neighbour %s on %s: %s", gw, up->ifname,
						 strerror(-r));
				return r;
			}
		}
		if ((r = link_ip(false, err, "-6", "route", "replace", gwh, "dev", up->ifname,
				 NULL)) < 0 ||
		    (r = link_ip(false, err, "-6", "route", "replace", "default", "via", gw, "dev",
				 up->ifname, "onlink", NULL)) < 0)
			return r;
	}
	if (up->n_dns) {
		r = link_write_resolv(resolv_path(), up->dns, up->n_dns);
		if (r < 0) {
			*err = xasprintf("%s: %s", resolv_path(), strerror(-r));
			return r;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct net_config c;
	struct json_object *out, *fw;
	_cleanup_free_ char *text = NULL;
	char *err = NULL;
	int64_t next = 0, now = (int64_t)time(NULL);
	size_t len = 0;
	int r;

	if (argc > 1) {
		fprintf(stderr, "usage: %s < CONFIG.json (see bulkhead-net-apply(8))\n", argv[0]);
		return 2;
	}
	text = read_stdin(&len);
	if (!text)
		return reply_error("cannot read the configuration from stdin (at most %d bytes)",
				   NET_CONFIG_MAX);
	if (net_config_parse(text, len, &c, &err) < 0) {
		r = reply_error("bad configuration: %s", err);
		free(err);
		return r;
	}

	/* Everything is looked up and checked before the first change. */
	if (c.has_uplink && link_find_by_mac(c.up.mac, c.up.ifname) < 0) {
		char m[18];
		format_mac(c.up.mac, m);
		net_config_done(&c);
		return reply_error("uplink: no interface has the MAC %s", m);
	}
	for (size_t i = 0; i < c.n_down; i++) {
		char m[18];
		if (link_find_by_mac(c.down[i].mac, c.down[i].ifname) == 0 &&
		    !(c.has_uplink && streq(c.down[i].ifname, c.up.ifname)))
			continue;
		format_mac(c.down[i].mac, m);
		r = reply_error("downstream %s: no interface has the MAC %s", c.down[i].name, m);
		net_config_done(&c);
		return r;
	}
#ifdef HAVE_NFTABLES
	struct netvm_plan plan = {0};
	if (c.provides_network && netvm_prepare(&c, now, &plan, &err) < 0) {
		r = reply_error("%s", err);
		free(err);
		net_config_done(&c);
		return r;
	}
#else
	(void)now;
	if (c.provides_network) {
		net_config_done(&c);
		return reply_error("this build of bulkhead-net-apply has no nftables: it cannot "
				   "provide network (use the one in the Debian template)");
	}
#endif

	if (c.has_uplink && apply_uplink(&c.up, &err) < 0) {
		r = reply_error("uplink %s: %s", c.up.ifname, err);
		goto fail;
	}
	fw = json_object_new_object();
#ifdef HAVE_NFTABLES
	if (c.provides_network) {
		if (netvm_apply(&c, &plan, &err) < 0) {
			json_object_put(fw);
			r = reply_error("%s", err);
			goto fail;
		}
		json_object_put(fw);
		fw = netvm_report(&c, &plan);
		next = plan.next_apply;
	}
	netvm_plan_done(&plan);
#endif
	out = json_object_new_object();
	json_object_object_add(out, "ok", json_object_new_boolean(true));
	json_object_object_add(out, "firewall", fw);
	json_object_object_add(out, "next_apply", json_object_new_int64(next));
	puts(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
	json_object_put(out);
	net_config_done(&c);
	return 0;
fail:
	free(err);
#ifdef HAVE_NFTABLES
	netvm_plan_done(&plan);
#endif
	net_config_done(&c);
	return r;
}
