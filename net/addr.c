/* Qubes' address scheme from the qid (addr.h). */
#include <errno.h>
#include <stdio.h>

#include "addr.h"

int net_addr_host_bytes(unsigned qid, unsigned char ret[2])
{
	if (qid < 1 || qid > NET_ADDR_QID_MAX)
		return -ERANGE;
	/* .0 and .255 are not host addresses anyone expects to see; skipping them keeps
	 * qids 1..254 at 10.137.0.<qid> as in Qubes. */
	ret[0] = (unsigned char)((qid - 1) / 254);
	ret[1] = (unsigned char)((qid - 1) % 254 + 1);
	return 0;
}

int net_addr_ip4(unsigned qid, bool disposable, char ret[NET_IP4_STRLEN])
{
	unsigned char b[2];
	int r = net_addr_host_bytes(qid, b);
	if (r < 0)
		return r;
	snprintf(ret, NET_IP4_STRLEN, "10.%u.%u.%u", disposable ? 138u : 137u, b[0], b[1]);
	return 0;
}

int net_addr_ip6(unsigned qid, bool disposable, char ret[NET_IP6_STRLEN])
{
	unsigned char b[2];
	int r = net_addr_host_bytes(qid, b);
	if (r < 0)
		return r;
	snprintf(ret, NET_IP6_STRLEN, "fd09:24ef:4179::%s:%x", disposable ? "a8a" : "a89",
		 (unsigned)b[0] << 8 | b[1]);
	return 0;
}

static int mac(unsigned qid, unsigned char fourth, char ret[NET_MAC_STRLEN])
{
	if (qid < 1 || qid > NET_ADDR_QID_MAX)
		return -ERANGE;
	snprintf(ret, NET_MAC_STRLEN, "00:16:3e:%02x:%02x:%02x", fourth, (qid >> 8) & 0xff,
		 qid & 0xff);
	return 0;
}

int net_addr_qube_mac(unsigned qid, char ret[NET_MAC_STRLEN])
{
	return mac(qid, 0x5e, ret);
}

int net_addr_netvm_link_mac(unsigned client_qid, char ret[NET_MAC_STRLEN])
{
	return mac(client_qid, 0x5f, ret);
}
