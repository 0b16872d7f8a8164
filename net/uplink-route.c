/* The namespace's default route and address, over rtnetlink. */
#include "uplink-route.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include "netns.h"
#include "util.h"

#define NL_BUF 32768

typedef void (*nl_msg_fn)(const struct nlmsghdr *h, void *userdata);

/* One dump request of type for family; fn sees each answer message. */
static int nl_dump(int fd, unsigned type, unsigned char family, unsigned seq, nl_msg_fn fn,
		   void *userdata)
{
	struct {
		struct nlmsghdr h;
		struct rtgenmsg g;
	} req = {
	    .h = {.nlmsg_len = sizeof(req),
		  .nlmsg_type = type,
		  .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
		  .nlmsg_seq = seq},
	    .g = {.rtgen_family = family},
	};
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	_cleanup_free_ char *buf = malloc(NL_BUF);

	if (!buf)
		return -ENOMEM;
	if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	for (;;) {
		ssize_t n = recv(fd, buf, NL_BUF, 0);
		if (n < 0)
			return -errno;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != seq)
				continue;
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
					return -EBADMSG;
				return e->error ? e->error : -EBADMSG;
			}
			fn(h, userdata);
		}
	}
}

/* Addresses of either family, as raw bytes (4 or 16 used). */
union any_addr {
	struct in_addr v4;
	struct in6_addr v6;
};

struct route_pick {
	unsigned char family;
	bool found;
	union any_addr gw;
	int oif;
};

static void on_route(const struct nlmsghdr *h, void *userdata)
{
	struct route_pick *p = userdata;
	const struct rtmsg *rt = NLMSG_DATA(h);
	int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*rt));
	size_t alen = p->family == AF_INET ? sizeof(struct in_addr) : sizeof(struct in6_addr);
	unsigned table;
	bool has_gw = false;
	union any_addr gw = {0};
	int oif = 0;

	if (p->found || h->nlmsg_type != RTM_NEWROUTE || len < 0 || rt->rtm_family != p->family ||
	    rt->rtm_dst_len != 0 || rt->rtm_type != RTN_UNICAST)
		return;
	table = rt->rtm_table;
	for (const struct rtattr *a = RTM_RTA(rt); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == RTA_TABLE && RTA_PAYLOAD(a) >= sizeof(uint32_t))
			memcpy(&table, RTA_DATA(a), sizeof(uint32_t));
		else if (a->rta_type == RTA_GATEWAY && RTA_PAYLOAD(a) >= alen) {
			memcpy(&gw, RTA_DATA(a), alen);
			has_gw = true;
		} else if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) >= sizeof(int))
			memcpy(&oif, RTA_DATA(a), sizeof(int));
	}
	if (table != RT_TABLE_MAIN || !has_gw || oif <= 0)
		return;
	p->found = true;
	p->gw = gw;
	p->oif = oif;
}

struct addr_pick {
	unsigned char family;
	int ifindex;
	bool found;
	union any_addr ip;
	unsigned prefix;
};

static void on_addr(const struct nlmsghdr *h, void *userdata)
{
	struct addr_pick *p = userdata;
	const struct ifaddrmsg *ifa = NLMSG_DATA(h);
	int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*ifa));
	size_t alen = p->family == AF_INET ? sizeof(struct in_addr) : sizeof(struct in6_addr);
	union any_addr local = {0}, address = {0};
	bool has_local = false, has_address = false;

	if (p->found || h->nlmsg_type != RTM_NEWADDR || len < 0 || ifa->ifa_family != p->family ||
	    (int)ifa->ifa_index != p->ifindex || ifa->ifa_scope != RT_SCOPE_UNIVERSE)
		return;
	/* An IPv6 address still in duplicate address detection cannot be used yet. */
	if (p->family == AF_INET6 && (ifa->ifa_flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)))
		return;
	for (const struct rtattr *a = IFA_RTA(ifa); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == IFA_LOCAL && RTA_PAYLOAD(a) >= alen) {
			memcpy(&local, RTA_DATA(a), alen);
			has_local = true;
		} else if (a->rta_type == IFA_ADDRESS && RTA_PAYLOAD(a) >= alen) {
			memcpy(&address, RTA_DATA(a), alen);
			has_address = true;
		}
	}
	if (!has_local && !has_address)
		return;
	p->found = true;
	p->ip = has_local ? local : address;
	p->prefix = ifa->ifa_prefixlen;
}

int uplink_route_query(int netns_fd, struct uplink_route *ret)
{
	int orig, r;

	/* The socket belongs to the namespace it was made in; we go back at once. */
	r = netns_enter(netns_fd, &orig);
	if (r < 0)
		return r;
	_cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	r = fd < 0 ? -errno : 0;
	int r2 = netns_leave(orig);
	if (r < 0 || r2 < 0)
		return r < 0 ? r : r2;

	struct route_pick route = {.family = AF_INET};
	r = nl_dump(fd, RTM_GETROUTE, AF_INET, 1, on_route, &route);
	if (r < 0)
		return r;
	if (!route.found)
		return -ENETUNREACH;
	struct addr_pick addr = {.family = AF_INET, .ifindex = route.oif};
	r = nl_dump(fd, RTM_GETADDR, AF_INET, 2, on_addr, &addr);
	if (r < 0)
		return r;
	if (!addr.found)
		return -EADDRNOTAVAIL;
	*ret = (struct uplink_route){
	    .ip4 = addr.ip.v4, .gw4 = route.gw.v4, .prefix4 = addr.prefix, .ifindex = route.oif};
	/* IPv6 when the namespace has it: a default route with a gateway and a global address on
	 * its interface; otherwise the uplink is IPv4 only. */
	struct route_pick route6 = {.family = AF_INET6};
	if (nl_dump(fd, RTM_GETROUTE, AF_INET6, 3, on_route, &route6) < 0 || !route6.found)
		return 0;
	struct addr_pick addr6 = {.family = AF_INET6, .ifindex = route6.oif};
	if (nl_dump(fd, RTM_GETADDR, AF_INET6, 4, on_addr, &addr6) < 0 || !addr6.found)
		return 0;
	ret->has_ip6 = true;
	ret->ip6 = addr6.ip.v6;
	ret->prefix6 = addr6.prefix;
	ret->gw6 = route6.gw.v6;
	return 0;
}
