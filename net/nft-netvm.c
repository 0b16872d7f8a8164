/* The net qube's table: anti-spoofing, forwarding, NAT, virtual DNS, and the firewall chains. */
#include "nft-netvm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

bool nft_ifname_valid(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n < 16 &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.@-") ==
		   n;
}

static const char *a4(struct in_addr a, char *buf)
{
	return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

static const char *a6(const struct in6_addr *a, char *buf)
{
	return inet_ntop(AF_INET6, a, buf, INET6_ADDRSTRLEN);
}

/* { "eth1", "eth2" } */
static void ifset(FILE *f, const struct nft_netvm_input *in)
{
	fputs("{ ", f);
	for (size_t i = 0; i < in->n_down; i++)
		fprintf(f, "%s\"%s\"", i ? ", " : "", in->down[i].ifname);
	fputs(" }", f);
}

static void antispoof(FILE *f, const struct nft_netvm_input *in)
{
	char b[INET6_ADDRSTRLEN];
	size_t n6 = 0;

	fputs("\tchain antispoof {\n\t\ttype filter hook prerouting priority raw; policy accept;\n",
	      f);
	for (size_t i = 0; i < in->n_down; i++) {
		const struct nft_downstream *d = &in->down[i];
		if (d->has_mac)
			fprintf(f,
				"\t\tiifname \"%s\" ether saddr != "
				"%02x:%02x:%02x:%02x:%02x:%02x drop\n",
				d->ifname, d->mac[0], d->mac[1], d->mac[2], d->mac[3], d->mac[4],
				d->mac[5]);
		fprintf(f, "\t\tiifname \"%s\" ip saddr != %s drop\n", d->ifname, a4(d->ip4, b));
		/* Neighbour discovery and DAD come from link-local and unspecified addresses;
		 * they are never forwarded. */
		fprintf(f,
			"\t\tiifname \"%s\" ip6 saddr { ::, fe80::/10 } meta l4proto ipv6-icmp "
			"accept\n",
			d->ifname);
		if (d->has_ip6) {
			fprintf(f, "\t\tiifname \"%s\" ip6 saddr != %s drop\n", d->ifname,
				a6(&d->ip6, b));
			n6++;
		} else {
			fprintf(f, "\t\tiifname \"%s\" meta nfproto ipv6 drop\n", d->ifname);
		}
	}
	if (in->n_down) {
		fputs("\t\tiifname != ", f);
		ifset(f, in);
		fputs(" ip saddr { ", f);
		for (size_t i = 0; i < in->n_down; i++)
			fprintf(f, "%s%s", i ? ", " : "", a4(in->down[i].ip4, b));
		fputs(" } drop\n", f);
	}
	if (n6) {
		size_t k = 0;
		fputs("\t\tiifname != ", f);
		ifset(f, in);
		fputs(" ip6 saddr { ", f);
		for (size_t i = 0; i < in->n_down; i++)
			if (in->down[i].has_ip6)
				fprintf(f, "%s%s", k++ ? ", " : "", a6(&in->down[i].ip6, b));
		fputs(" } drop\n", f);
	}
	fputs("\t}\n", f);
}

static const char *l4(enum fw_proto p)
{
	return p == FW_PROTO_UDP ? "udp" : "tcp";
}

static void dnat(FILE *f, const struct nft_netvm_input *in)
{
	char b[INET6_ADDRSTRLEN], c[INET6_ADDRSTRLEN];

	fputs("\tchain nat_prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy "
	      "accept;\n",
	      f);
	for (size_t i = 0; i < in->n_virtual_dns; i++) {
		a4(in->virtual_dns[i], b);
		if (in->n_resolv4 == 0) {
			fprintf(f, "\t\tip daddr %s drop\n", b);
			continue;
		}
		/* The n-th virtual address goes to the n-th resolver (or the last one). */
		a4(in->resolv4[i < in->n_resolv4 ? i : in->n_resolv4 - 1], c);
		fprintf(f, "\t\tip daddr %s udp dport 53 dnat ip to %s\n", b, c);
		fprintf(f, "\t\tip daddr %s tcp dport 53 dnat ip to %s\n", b, c);
		fprintf(f, "\t\tip daddr %s drop\n", b);
	}
	if (in->uplink_if) {
		for (size_t i = 0; i < in->n_down; i++) {
			const struct nft_downstream *d = &in->down[i];
			for (size_t k = 0; k < d->n_forwards; k++) {
				const struct port_forward *fw = &d->forwards[k];
				fprintf(f, "\t\tiifname \"%s\" %s dport %u dnat ip to %s:%u\n",
					in->uplink_if, l4(fw->proto), fw->port, a4(d->ip4, b),
					fw->to_port);
			}
		}
	}
	fputs("\t}\n", f);
}

static void input(FILE *f, const struct nft_netvm_input *in)
{
	fputs(
	    "\tchain filter_input {\n\t\ttype filter hook input priority filter; policy accept;\n",
	    f);
	if (in->n_down) {
		fputs("\t\tiifname ", f);
		ifset(f, in);
		fputs(" ct state established,related accept\n", f);
		fputs("\t\tiifname ", f);
		ifset(f, in);
		fputs(" meta l4proto { icmp, ipv6-icmp } accept\n", f);
		fputs("\t\tiifname ", f);
		ifset(f, in);
		fputs(" drop\n", f);
	}
	fputs("\t}\n", f);
}

static void forward(FILE *f, const struct nft_netvm_input *in)
{
	char b[INET_ADDRSTRLEN];

	fputs(
	    "\tchain filter_forward {\n\t\ttype filter hook forward priority filter; policy drop;\n"
	    "\t\tct state established,related accept\n"
	    "\t\tct state invalid drop\n",
	    f);
	if (!in->uplink_if) {
		fputs("\t}\n", f);
		return;
	}
	for (size_t i = 0; i < in->n_down; i++) {
		const struct nft_downstream *d = &in->down[i];
		if (d->fw_chain)
			fprintf(f, "\t\tiifname \"%s\" oifname \"%s\" ip saddr %s jump %s\n",
				d->ifname, in->uplink_if, a4(d->ip4, b), d->fw_chain);
		if (d->fw_chain && d->has_ip6) {
			char b6[INET6_ADDRSTRLEN];
			fprintf(f, "\t\tiifname \"%s\" oifname \"%s\" ip6 saddr %s jump %s\n",
				d->ifname, in->uplink_if, a6(&d->ip6, b6), d->fw_chain);
		}
		for (size_t k = 0; k < d->n_forwards; k++)
			fprintf(
			    f,
			    "\t\tiifname \"%s\" oifname \"%s\" ip daddr %s %s dport %u ct status "
			    "dnat accept\n",
			    in->uplink_if, d->ifname, a4(d->ip4, b), l4(d->forwards[k].proto),
			    d->forwards[k].to_port);
	}
	fputs("\t}\n", f);
}

static void sets(FILE *f, const struct nft_netvm_input *in)
{
	char b[INET6_ADDRSTRLEN];

	fputs("\tset dns4 {\n\t\ttype ipv4_addr\n", f);
	if (in->n_resolv4) {
		fputs("\t\telements = { ", f);
		for (size_t i = 0; i < in->n_resolv4; i++)
			fprintf(f, "%s%s", i ? ", " : "", a4(in->resolv4[i], b));
		fputs(" }\n", f);
	}
	fputs("\t}\n\tset dns6 {\n\t\ttype ipv6_addr\n", f);
	if (in->n_resolv6) {
		fputs("\t\telements = { ", f);
		for (size_t i = 0; i < in->n_resolv6; i++)
			fprintf(f, "%s%s", i ? ", " : "", a6(&in->resolv6[i], b));
		fputs(" }\n", f);
	}
	fputs("\t}\n", f);
}

int nft_netvm_table(const struct nft_netvm_input *in, char **ret_text)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f;

	if (in->n_down > NFT_DOWNSTREAM_MAX || in->n_resolv4 > NFT_RESOLVERS_MAX ||
	    in->n_resolv6 > NFT_RESOLVERS_MAX || in->n_virtual_dns > NFT_RESOLVERS_MAX)
		return -EINVAL;
	if (in->uplink_if && !nft_ifname_valid(in->uplink_if))
		return -EINVAL;
	for (size_t i = 0; i < in->n_down; i++) {
		const struct nft_downstream *d = &in->down[i];
		if (!nft_ifname_valid(d->ifname) || d->n_forwards > PORT_FORWARDS_MAX ||
		    (in->uplink_if && streq(d->ifname, in->uplink_if)))
			return -EINVAL;
		for (size_t k = 0; k < d->n_forwards; k++)
			if (d->forwards[k].proto != FW_PROTO_TCP &&
			    d->forwards[k].proto != FW_PROTO_UDP)
				return -EINVAL;
	}

	f = open_memstream(&text, &size);
	if (!f)
		return -ENOMEM;
	fputs("table inet " NFT_TABLE "\ndelete table inet " NFT_TABLE "\n", f);
	fputs("table inet " NFT_TABLE " {\n", f);
	sets(f, in);
	antispoof(f, in);
	dnat(f, in);
	input(f, in);
	forward(f, in);
	fputs("\tchain nat_postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy "
	      "accept;\n",
	      f);
	if (in->uplink_if)
		fprintf(f, "\t\toifname \"%s\" masquerade\n", in->uplink_if);
	fputs("\t}\n", f);
	for (size_t i = 0; i < in->n_down; i++)
		if (in->down[i].fw_chain && in->down[i].fw_text)
			fputs(in->down[i].fw_text, f);
	fputs("}\n", f);
	if (fclose(f) != 0) {
		free(text);
		return -ENOMEM;
	}
	*ret_text = text;
	return 0;
}
