/*
 * What passt hands its guest by default, found the way passt finds it: the namespace's first
 * IPv4 default route (main table), its gateway, and the first global address of its interface;
 * the same for IPv6 when the namespace has an IPv6 default route.
 * bulkheadd passes these to passt explicitly and tells sys-net the same values.
 */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>

struct uplink_route {
	struct in_addr ip4, gw4;
	unsigned prefix4;
	int ifindex;
	bool has_ip6;
	struct in6_addr ip6, gw6; /* gw6 may be link-local */
	unsigned prefix6;
};

/* Reads the namespace of netns_fd over rtnetlink. Returns 0, -ENETUNREACH when it has no IPv4
 * default route with a gateway, -EADDRNOTAVAIL when that interface has no IPv4 address, or
 * another -errno. */
int uplink_route_query(int netns_fd, struct uplink_route *ret);
