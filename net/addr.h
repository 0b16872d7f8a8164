/*
 * Network addresses of qubes, made from their qid as Qubes makes them (no I/O, no state):
 *
 *   IPv4    10.137.H.L, disposables 10.138.H.L, where qids 1..254 map straight to .L (H = 0)
 *           and larger ones skip the .0 and .255 host bytes
 *   IPv6    fd09:24ef:4179::a89:HHLL (the IPv4 address's bytes as the last 32 bits, so
 *           10.137.0.4 is fd09:24ef:4179::a89:4), disposables ::a8a:HHLL
 *   MACs    a qube's own NIC on its link to its netvm: 00:16:3e:5e:QH:QL (the qid's two bytes);
 *           the netvm's NIC of the link to client qid N: 00:16:3e:5f:NH:NL, so a netvm finds
 *           each downstream interface by MAC and knows whose it is.
 *
 * The gateway of a client is its netvm's own address; the virtual DNS servers are the two
 * addresses below, translated in each netvm to its upstream resolvers.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define NET_ADDR_QID_MAX 65024u /* 254 host bytes x 256 */
#define NET_IP4_STRLEN	 16	/* "255.255.255.255" + NUL */
#define NET_IP6_STRLEN	 40
#define NET_MAC_STRLEN	 18

#define NET_VIRTUAL_DNS1 "10.139.1.1"
#define NET_VIRTUAL_DNS2 "10.139.1.2"
#define NET_MTU		 1500

/* The address's last two bytes for qid (1..NET_ADDR_QID_MAX); -ERANGE otherwise. */
int net_addr_host_bytes(unsigned qid, unsigned char ret[2]);
/* Text forms; -ERANGE for a qid out of range (ret untouched). */
int net_addr_ip4(unsigned qid, bool disposable, char ret[NET_IP4_STRLEN]);
int net_addr_ip6(unsigned qid, bool disposable, char ret[NET_IP6_STRLEN]);
int net_addr_qube_mac(unsigned qid, char ret[NET_MAC_STRLEN]);
int net_addr_netvm_link_mac(unsigned client_qid, char ret[NET_MAC_STRLEN]);
