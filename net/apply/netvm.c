/* The net qube role of bulkhead-net-apply. */
#include "netvm.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <nftables/libnftables.h>
#include <resolv.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "link.h"
#include "nft-netvm.h"
#include "subprocess.h"
#include "util.h"

/* Where the last applied chain of each client is kept, to tell whether its rules changed. */
#define STATE_DIR_DEFAULT "/run/bulkhead-net"

static const char *state_dir(void)
{
	const char *d = getenv("BULKHEAD_NET_STATE_DIR");
	return d && *d ? d : STATE_DIR_DEFAULT;
}

/* The smallest TTL of the name's A records, or 0 when the resolver cannot tell (a name from
 * /etc/hosts, say). */
static uint32_t name_ttl(const char *name)
{
	unsigned char answer[4096];
	uint32_t ttl = 0;
	ns_msg msg;
	int len = res_query(name, ns_c_in, ns_t_a, answer, sizeof(answer));

	if (len < 0 || ns_initparse(answer, len, &msg) < 0)
		return 0;
	for (int i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
		ns_rr rr;
		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
			break;
		if (ttl == 0 || ns_rr_ttl(rr) < ttl)
			ttl = ns_rr_ttl(rr);
	}
	return ttl;
}

static int resolve(void *userdata, const char *name, struct fw_resolved *ret, char *reason,
		   size_t len)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai, *p;
	int r = getaddrinfo(name, NULL, &hints, &ai);

	memset(ret, 0, sizeof(*ret));
	if (r != 0) {
		snprintf(reason, len, "%s", gai_strerror(r));
		return -ENOENT;
	}
	for (p = ai; p; p = p->ai_next) {
		if (p->ai_family == AF_INET && ret->n4 < FW_RESOLVED_MAX) {
			struct in_addr a = ((struct sockaddr_in *)p->ai_addr)->sin_addr;
			bool dup = false;
			for (size_t i = 0; i < ret->n4; i++)
				dup |= ret->v4[i].s_addr == a.s_addr;
			if (!dup)
				ret->v4[ret->n4++] = a;
		} else if (p->ai_family == AF_INET6 && ret->n6 < FW_RESOLVED_MAX) {
			struct in6_addr a = ((struct sockaddr_in6 *)p->ai_addr)->sin6_addr;
			bool dup = false;
			for (size_t i = 0; i < ret->n6; i++)
				dup |= memcmp(&ret->v6[i], &a, 16) == 0;
			if (!dup)
				ret->v6[ret->n6++] = a;
		}
	}
	freeaddrinfo(ai);
	ret->ttl = name_ttl(name);
	return 0;
}

static int nft_run(const char *text, bool dry_run, char **ret_error)
{
	struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	int r;

	if (!ctx)
		return -ENOMEM;
	nft_ctx_buffer_output(ctx);
	nft_ctx_buffer_error(ctx);
	nft_ctx_set_dry_run(ctx, dry_run);
	r = nft_run_cmd_from_buffer(ctx, text);
	if (r != 0) {
		const char *e = nft_ctx_get_error_buffer(ctx);
		*ret_error = xasprintf("nft refused the ruleset: %s", e && *e ? e : "(no message)");
	}
	nft_ctx_free(ctx);
	return r != 0 ? -EINVAL : 0;
}

int netvm_prepare(const struct net_config *c, int64_t now, struct netvm_plan *ret, char **ret_error)
{
	struct netvm_plan p = {0};
	struct nft_downstream *down = xcalloc(c->n_down ? c->n_down : 1, sizeof(*down));
	char(*chains)[QUBE_NAME_MAX + 8] = xcalloc(c->n_down ? c->n_down : 1, sizeof(*chains));
	struct nft_netvm_input in = {0};
	int r = 0;

	p.fw = xcalloc(c->n_down ? c->n_down : 1, sizeof(*p.fw));
	p.n_fw = c->n_down;
	for (size_t i = 0; i < c->n_down; i++) {
		const struct net_down *d = &c->down[i];
		struct nft_fw_input fin = {
		    .chain = chains[i], .rules = &d->rules, .now = now, .resolve = resolve};
		if (nft_chain_name("fw-", d->name, chains[i], sizeof(chains[i])) < 0 ||
		    nft_firewall_chain(&fin, &p.fw[i]) < 0) {
			*ret_error = xasprintf("downstream %s: cannot compile its rules", d->name);
			r = -EINVAL;
			goto out;
		}
		if (p.fw[i].next_apply && (!p.next_apply || p.fw[i].next_apply < p.next_apply))
			p.next_apply = p.fw[i].next_apply;
		down[i] = (struct nft_downstream){.ifname = d->ifname,
						  .has_mac = true,
						  .ip4 = d->ip4,
						  .has_ip6 = d->has_ip6,
						  .ip6 = d->ip6,
						  .fw_chain = chains[i],
						  .fw_text = p.fw[i].text,
						  .forwards = d->forwards.v,
						  .n_forwards = d->forwards.n};
		memcpy(down[i].mac, d->client_mac, sizeof(down[i].mac));
	}
	in.uplink_if = c->has_uplink ? c->up.ifname : NULL;
	if (c->has_uplink) {
		memcpy(in.resolv4, c->up.dns, c->up.n_dns * sizeof(c->up.dns[0]));
		in.n_resolv4 = c->up.n_dns;
	}
	memcpy(in.virtual_dns, c->vdns, c->n_vdns * sizeof(c->vdns[0]));
	in.n_virtual_dns = c->n_vdns;
	in.down = down;
	in.n_down = c->n_down;
	if (nft_netvm_table(&in, &p.nft) < 0) {
		*ret_error = xstrdup("cannot make the net qube's ruleset (bad interface names?)");
		r = -EINVAL;
		goto out;
	}
	r = nft_run(p.nft, true, ret_error);
out:
	free(down);
	free(chains);
	if (r < 0)
		netvm_plan_done(&p);
	else
		*ret = p;
	return r;
}

/* Whether the client's chain differs from the one applied last; records the new one. */
static bool chain_changed(const char *name, const char *text)
{
	_cleanup_free_ char *path = xasprintf("%s/fw-%s.nft", state_dir(), name);
	_cleanup_free_ char *tmp = xasprintf("%s.tmp", path);
	char *old = NULL;
	size_t n = 0;
	bool changed = true;
	FILE *f = fopen(path, "re");

	if (f) {
		if (getdelim(&old, &n, 0, f) >= 0 && streq(old, text))
			changed = false;
		free(old);
		fclose(f);
	}
	if (changed) {
		mkdir(state_dir(), 0700);
		f = fopen(tmp, "we");
		if (f) {
			fputs(text, f);
			if (fclose(f) == 0)
				rename(tmp, path);
		}
	}
	return changed;
}

/* Qubes #4141: a connection the old rules allowed must not outlive new rules that forbid it.
 * When a client's chain changed, every tracked connection from it is deleted (a coarse cut:
 * allowed ones are cut too, and their peers reconnect); unchanged rules cut nothing, so a
 * re-apply for a DNS refresh leaves connections alone. */
static void conntrack_cut(const struct net_down *d)
{
	char a[INET6_ADDRSTRLEN];
	const char *argv4[] = {"conntrack", "-D", "-s", a, NULL};
	const char *argv6[] = {"conntrack", "-D", "-f", "ipv6", "-s", a, NULL};

	inet_ntop(AF_INET, &d->ip4, a, sizeof(a));
	spawn_wait(argv4, NULL); /* exits 1 when there was nothing to delete */
	if (d->has_ip6) {
		inet_ntop(AF_INET6, &d->ip6, a, sizeof(a));
		spawn_wait(argv6, NULL);
	}
}

static int down_link(const struct net_config *c, const struct net_down *d, char **err)
{
	char gw[INET6_ADDRSTRLEN + 8], cl[INET6_ADDRSTRLEN + 8], path[128];
	int r;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/accept_dad", d->ifname);
	link_sysctl(path, "0"); /* absent when IPv6 is off */
	if ((r = link_ip(false, err, "link", "set", d->ifname, "up", NULL)) < 0)
		return r;
	inet_ntop(AF_INET, &c->gw4, gw, sizeof(gw));
	strcat(gw, "/32");
	if ((r = link_ip(true, err, "addr", "add", gw, "dev", d->ifname, NULL)) < 0)
		return r;
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/proxy_arp", d->ifname);
	if ((r = link_sysctl(path, "1")) < 0) {
		*err = xasprintf("%s: %s", path, strerror(-r));
		return r;
	}
	inet_ntop(AF_INET, &d->ip4, cl, sizeof(cl));
	strcat(cl, "/32");
	if ((r = link_ip(false, err, "route", "replace", cl, "dev", d->ifname, NULL)) < 0)
		return r;
	if ((r = link_neigh_permanent(d->ifname, AF_INET, &d->ip4, d->client_mac)) < 0) {
		*err = xasprintf("neighbour %s on %s: %s", cl, d->ifname, strerror(-r));
		return r;
	}
	if (!d->has_ip6)
		return 0;
	if (c->has_gw6) {
		inet_ntop(AF_INET6, &c->gw6, gw, sizeof(gw));
		strcat(gw, "/128");
		if ((r = link_ip(true, err, "-6", "addr", "add", gw, "dev", d->ifname, NULL)) < 0)
			return r;
	}
	inet_ntop(AF_INET6, &d->ip6, cl, sizeof(cl));
	strcat(cl, "/128");
	if ((r = link_ip(false, err, "-6", "route", "replace", cl, "dev", d->ifname, NULL)) < 0)
		return r;
	if ((r = link_neigh_permanent(d->ifname, AF_INET6, &d->ip6, d->client_mac)) < 0) {
		*err = xasprintf("neighbour %s on %s: %s", cl, d->ifname, strerror(-r));
		return r;
	}
	return 0;
}

int netvm_apply(const struct net_config *c, const struct netvm_plan *plan, char **ret_error)
{
	int r;

	if ((r = link_sysctl("/proc/sys/net/ipv4/ip_forward", "1")) < 0) {
		*ret_error = xasprintf("ip_forward: %s", strerror(-r));
		return r;
	}
	link_sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1");
	/* the ruleset first: a link is never up without its anti-spoofing */
	if ((r = nft_run(plan->nft, false, ret_error)) < 0)
		return r;
	for (size_t i = 0; i < c->n_down; i++)
		if ((r = down_link(c, &c->down[i], ret_error)) < 0)
			return r;
	for (size_t i = 0; i < c->n_down; i++)
		if (chain_changed(c->down[i].name, plan->fw[i].text))
			conntrack_cut(&c->down[i]);
	return 0;
}

struct json_object *netvm_report(const struct net_config *c, const struct netvm_plan *plan)
{
	struct json_object *o = json_object_new_object();

	for (size_t i = 0; i < c->n_down && i < plan->n_fw; i++) {
		struct json_object *a = json_object_new_array();
		for (size_t k = 0; k < plan->fw[i].n_status; k++) {
			const struct fw_rule_status *st = &plan->fw[i].status[k];
			struct json_object *e = json_object_new_object();
			json_object_object_add(e, "rule", json_object_new_int((int)k));
			json_object_object_add(
			    e, "state", json_object_new_string(fw_rule_state_str(st->state)));
			json_object_object_add(e, "reason", json_object_new_string(st->reason));
			json_object_array_add(a, e);
		}
		json_object_object_add(o, c->down[i].name, a);
	}
	return o;
}

void netvm_plan_done(struct netvm_plan *p)
{
	for (size_t i = 0; i < p->n_fw; i++)
		nft_fw_result_done(&p->fw[i]);
	free(p->fw);
	free(p->nft);
	memset(p, 0, sizeof(*p));
}
