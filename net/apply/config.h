/* The configuration bulkheadd sends into a qube (see docs/bulkhead-net-apply.8 and the contract
 * in net-contract): parsed and checked completely before anything is applied. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "firewall-rule.h"
#include "nft-netvm.h"
#include "qube-name.h"

#define NET_CONFIG_MAX (4 * 1024 * 1024)

struct net_uplink {
	bool passt; /* kind "passt" (sys-net's uplink) or "netvm" (a /32 link to our netvm) */
	uint8_t mac[6];
	struct in_addr ip4, gw4;
	unsigned prefix4;
	bool has_gw_mac;
	uint8_t gw_mac[6];
	bool has_ip6, has_gw6;
	struct in6_addr ip6, gw6;
	struct in_addr dns[NFT_RESOLVERS_MAX];
	size_t n_dns;
	unsigned mtu;	 /* 0: leave it */
	char ifname[16]; /* found by MAC */
};

struct net_down {
	char name[QUBE_NAME_MAX + 1];
	uint8_t mac[6], client_mac[6];
	struct in_addr ip4;
	bool has_ip6;
	struct in6_addr ip6;
	struct fw_rules rules;
	struct port_forwards forwards;
	char ifname[16]; /* found by MAC */
};

struct net_config {
	char qube[QUBE_NAME_MAX + 1];
	bool has_uplink;
	struct net_uplink up;
	bool provides_network;
	bool has_gw4, has_gw6;
	struct in_addr gw4;
	struct in6_addr gw6;
	struct in_addr vdns[NFT_RESOLVERS_MAX];
	size_t n_vdns;
	struct net_down *down;
	size_t n_down;
};

/* Parses text (len bytes); -EINVAL with *ret_error (malloc'd) naming the bad member. */
int net_config_parse(const char *text, size_t len, struct net_config *ret, char **ret_error);
void net_config_done(struct net_config *c);
/* "00:16:3e:5e:6c:07" -> 6 bytes; false when malformed. */
bool parse_mac(const char *s, uint8_t mac[6]);
void format_mac(const uint8_t mac[6], char buf[18]);
