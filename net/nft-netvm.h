/*
 * The whole nft ruleset of a qube that provides network, as one script that replaces the table
 * "inet bulkhead" in one transaction ("table; delete table; table {...}": nft applies a script
 * atomically, and the first line makes the delete valid when the table is not there yet), so
 * applying it again is idempotent.
 *
 * - antispoof (prerouting, raw): on each downstream interface only its client's MAC and
 *   addresses pass (and IPv6 link-local ICMPv6, which neighbour discovery needs); a client
 *   address arriving on any other interface is dropped.
 * - dnat (prerouting, dstnat): the virtual DNS addresses to the upstream resolvers (dropped when
 *   there is none); inbound forwards from the uplink to a client's port.
 * - input: from downstream only established traffic and ICMP reach the net qube itself.
 * - forward (policy drop): established and related pass; a new connection from a downstream
 *   interface goes only to the uplink, through that client's firewall chain; nothing new goes
 *   into a downstream interface except an inbound forward. Clients cannot reach each other.
 * - postrouting (srcnat): masquerade out of the uplink.
 * - sets dns4/dns6: the upstream resolvers, which specialtarget=dns matches.
 */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "firewall-rule.h"
#include "port-forward.h"

#define NFT_TABLE	   "bulkhead"
#define NFT_RESOLVERS_MAX  8
#define NFT_DOWNSTREAM_MAX 256

struct nft_downstream {
	const char *ifname; /* the link's interface in this qube */
	bool has_mac;
	uint8_t mac[6]; /* the client's own MAC: frames from any other are dropped */
	struct in_addr ip4;
	bool has_ip6;
	struct in6_addr ip6;
	const char *fw_chain; /* NULL: everything from this client is dropped */
	const char *fw_text;  /* the chain itself (nft_firewall_chain's text), or NULL */
	const struct port_forward *forwards; /* inbound, to this client (port-forward.h) */
	size_t n_forwards;
};

struct nft_netvm_input {
	const char *uplink_if; /* NULL: no uplink, nothing is forwarded */
	struct in_addr resolv4[NFT_RESOLVERS_MAX];
	size_t n_resolv4;
	struct in6_addr resolv6[NFT_RESOLVERS_MAX];
	size_t n_resolv6;
	struct in_addr virtual_dns[NFT_RESOLVERS_MAX];
	size_t n_virtual_dns;
	const struct nft_downstream *down;
	size_t n_down;
};

/* An interface name nft and the kernel accept (1-15 of [A-Za-z0-9_.@-]). */
bool nft_ifname_valid(const char *name);
/* -EINVAL on a bad interface name or count; *ret_text is the script. */
int nft_netvm_table(const struct nft_netvm_input *in, char **ret_text);
