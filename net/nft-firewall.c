/* A client's firewall rules compiled to one nft chain. */
#include "nft-firewall.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "qube-name.h"
#include "util.h"

const char *fw_rule_state_str(enum fw_rule_state s)
{
	return s == FW_STATE_OK ? "ok" : s == FW_STATE_DISABLED ? "disabled" : "blocking";
}

int nft_chain_name(const char *prefix, const char *qube, char *buf, size_t len)
{
	if (qube_name_check(qube, NULL) < 0)
		return -EINVAL;
	if ((size_t)snprintf(buf, len, "%s%s", prefix, qube) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* An address with its host bits cleared: nft refuses 10.0.0.1/8. */
static void net4(struct in_addr a, unsigned prefix, char *buf, size_t len)
{
	uint32_t mask = prefix == 0 ? 0 : htonl(~0u << (32 - prefix));
	char s[INET_ADDRSTRLEN];

	a.s_addr &= mask;
	inet_ntop(AF_INET, &a, s, sizeof(s));
	if (prefix == 32)
		snprintf(buf, len, "%s", s);
	else
		snprintf(buf, len, "%s/%u", s, prefix);
}

static void net6(struct in6_addr a, unsigned prefix, char *buf, size_t len)
{
	char s[INET6_ADDRSTRLEN];

	for (unsigned i = 0; i < 16; i++) {
		unsigned bits = prefix > i * 8 ? prefix - i * 8 : 0;
		if (bits < 8)
			a.s6_addr[i] &= (uint8_t)(0xff00 >> bits);
	}
	inet_ntop(AF_INET6, &a, s, sizeof(s));
	if (prefix == 128)
		snprintf(buf, len, "%s", s);
	else
		snprintf(buf, len, "%s/%u", s, prefix);
}

enum fam { FAM_ANY, FAM_4, FAM_6 };

/* The destination half of a rule, one per address family it covers. */
struct dst {
	enum fam fam;
	char *match; /* "" or "ip daddr ... " */
};

static void emit(FILE *f, const struct fw_rule *r, const struct dst *d, const char *verdict)
{
	static const char *const l4[] = {[FW_PROTO_TCP] = "tcp", [FW_PROTO_UDP] = "udp"};
	enum fw_proto protos[2];
	size_t np = 0;
	char ports[16];
	bool has_ports = r->has_ports || r->dns;

	if (r->proto == FW_PROTO_ICMP) {
		if (r->icmptype >= 0) {
			/* Qubes uses the number as it is for both families. */
			if (d->fam != FAM_6)
				fprintf(f, "\t\t%sicmp type %d %s\n", d->match, r->icmptype,
					verdict);
			if (d->fam != FAM_4)
				fprintf(f, "\t\t%sicmpv6 type %d %s\n", d->match, r->icmptype,
					verdict);
		} else {
			fprintf(f, "\t\t%smeta l4proto %s %s\n", d->match,
				d->fam == FAM_4	  ? "icmp"
				: d->fam == FAM_6 ? "ipv6-icmp"
						  : "{ icmp, ipv6-icmp }",
				verdict);
		}
		return;
	}
	if (!has_ports) {
		if (r->proto == FW_PROTO_ANY)
			fprintf(f, "\t\t%s%s\n", d->match, verdict);
		else
			fprintf(f, "\t\t%smeta l4proto %s %s\n", d->match, l4[r->proto], verdict);
		return;
	}
	if (r->dns)
		snprintf(ports, sizeof(ports), "53");
	else if (r->port_lo == r->port_hi)
		snprintf(ports, sizeof(ports), "%u", r->port_lo);
	else
		snprintf(ports, sizeof(ports), "%u-%u", r->port_lo, r->port_hi);
	if (r->proto == FW_PROTO_ANY) {
		protos[np++] = FW_PROTO_TCP;
		protos[np++] = FW_PROTO_UDP;
	} else {
		protos[np++] = r->proto;
	}
	for (size_t i = 0; i < np; i++)
		fprintf(f, "\t\t%s%s dport %s %s\n", d->match, l4[protos[i]], ports, verdict);
}

static void set_status(struct fw_rule_status *st, enum fw_rule_state state, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_status(struct fw_rule_status *st, enum fw_rule_state state, const char *fmt, ...)
{
	va_list ap;

	st->state = state;
	va_start(ap, fmt);
	vsnprintf(st->reason, sizeof(st->reason), fmt, ap);
	va_end(ap);
}

static void next_at(int64_t *next, int64_t t)
{
	if (t > 0 && (*next == 0 || t < *next))
		*next = t;
}

/* The addresses of a name as nft set literals; fills dsts, returns their number. */
static size_t name_dsts(const struct fw_resolved *res, struct dst *dsts)
{
	size_t n = 0;

	if (res->n4) {
		char *s = xstrdup("ip daddr { ");
		for (size_t i = 0; i < res->n4 && i < FW_RESOLVED_MAX; i++) {
			char a[INET_ADDRSTRLEN], *t;
			inet_ntop(AF_INET, &res->v4[i], a, sizeof(a));
			t = xasprintf("%s%s%s", s, i ? ", " : "", a);
			free(s);
			s = t;
		}
		dsts[n].fam = FAM_4;
		dsts[n++].match = xasprintf("%s } ", s);
		free(s);
	}
	if (res->n6) {
		char *s = xstrdup("ip6 daddr { ");
		for (size_t i = 0; i < res->n6 && i < FW_RESOLVED_MAX; i++) {
			char a[INET6_ADDRSTRLEN], *t;
			inet_ntop(AF_INET6, &res->v6[i], a, sizeof(a));
			t = xasprintf("%s%s%s", s, i ? ", " : "", a);
			free(s);
			s = t;
		}
		dsts[n].fam = FAM_6;
		dsts[n++].match = xasprintf("%s } ", s);
		free(s);
	}
	return n;
}

int nft_firewall_chain(const struct nft_fw_input *in, struct nft_fw_result *ret)
{
	struct nft_fw_result res = {0};
	size_t size = 0;
	bool blocked = false;
	FILE *f;

	if (!in->chain || !*in->chain ||
	    strspn(in->chain, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			      "0123456789-_.") != strlen(in->chain))
		return -EINVAL;
	f = open_memstream(&res.text, &size);
	if (!f)
		return -ENOMEM;
	res.n_status = in->rules->n;
	res.status = xcalloc(res.n_status ? res.n_status : 1, sizeof(*res.status));
	fprintf(f, "\tchain %s {\n", in->chain);
	for (size_t i = 0; i < in->rules->n; i++) {
		const struct fw_rule *r = &in->rules->v[i];
		struct fw_rule_status *st = &res.status[i];
		const char *verdict =
		    r->action == FW_ACCEPT ? "accept" : "reject with icmpx type admin-prohibited";
		struct dst dsts[2];
		size_t nd = 0;
		char buf[INET6_ADDRSTRLEN + 8];

		if (blocked) {
			set_status(st, FW_STATE_DISABLED, "not reached: an earlier rule blocks");
			continue;
		}
		if (fw_rule_expired(r, in->now)) {
			set_status(st, FW_STATE_DISABLED, "expired");
			continue;
		}
		next_at(&res.next_apply, r->expire);
		switch (r->host_kind) {
		case FW_HOST_ANY:
			if (r->dns) {
				dsts[nd].fam = FAM_4;
				dsts[nd++].match = xstrdup("ip daddr @dns4 ");
				dsts[nd].fam = FAM_6;
				dsts[nd++].match = xstrdup("ip6 daddr @dns6 ");
			} else {
				dsts[nd].fam = FAM_ANY;
				dsts[nd++].match = xstrdup("");
			}
			break;
		case FW_HOST_IP4:
			net4(r->addr.v4, r->prefix, buf, sizeof(buf));
			dsts[nd].fam = FAM_4;
			dsts[nd++].match = xasprintf("ip daddr %s ", buf);
			break;
		case FW_HOST_IP6:
			net6(r->addr.v6, r->prefix, buf, sizeof(buf));
			dsts[nd].fam = FAM_6;
			dsts[nd++].match = xasprintf("ip6 daddr %s ", buf);
			break;
		case FW_HOST_NAME: {
			struct fw_resolved rv = {0};
			char why[128] = "";
			int q = in->resolve
				    ? in->resolve(in->userdata, r->host, &rv, why, sizeof(why))
				    : -ENOSYS;
			if (q >= 0 && rv.n4 + rv.n6 == 0) {
				q = -ENOENT;
				snprintf(why, sizeof(why), "no address");
			}
			if (q < 0) {
				next_at(&res.next_apply, in->now + FW_RETRY_SECONDS);
				if (r->action == FW_ACCEPT) {
					set_status(st, FW_STATE_DISABLED, "%s did not resolve: %s",
						   r->host, *why ? why : "failed");
					continue;
				}
				/* Fail closed: whatever reaches this rule is refused. */
				set_status(
				    st, FW_STATE_BLOCKING,
				    "%s did not resolve (%s): all traffic reaching this rule is "
				    "refused",
				    r->host, *why ? why : "failed");
				fprintf(f, "\t\t# rule %zu: %s unresolved, refusing the rest\n", i,
					r->host);
				fprintf(f, "\t\treject with icmpx type admin-prohibited\n");
				blocked = true;
				continue;
			}
			if (rv.ttl)
				next_at(&res.next_apply, in->now + rv.ttl);
			nd = name_dsts(&rv, dsts);
			break;
		}
		}
		fprintf(f, "\t\t# rule %zu\n", i);
		for (size_t k = 0; k < nd; k++) {
			emit(f, r, &dsts[k], verdict);
			free(dsts[k].match);
		}
		set_status(st, FW_STATE_OK, "%s", "");
	}
	fprintf(f, "\t\tdrop\n\t}\n");
	if (fclose(f) != 0) {
		nft_fw_result_done(&res);
		return -ENOMEM;
	}
	*ret = res;
	return 0;
}

void nft_fw_result_done(struct nft_fw_result *r)
{
	free(r->text);
	free(r->status);
	r->text = NULL;
	r->status = NULL;
}
