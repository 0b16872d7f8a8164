/*
 * sys-net's uplink where the host has no IOMMU to hand it a NIC: Debian's passt, started by
 * bulkheadd with --fd on one end of a SOCK_STREAM socketpair whose other end goes to sys-net's
 * QEMU (netdev socket with fd). passt runs in the namespace named by --uplink-netns (the host's
 * otherwise), under a uid of the uplink range below with no capabilities and no_new_privs, with
 * no inbound ports but the explicit forwards (port-forward.h), and dies with bulkheadd. Before it
 * starts, the guard (uplink-guard.h) is in place in that namespace; it is removed when the last
 * uplink there stops.
 */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "port-forward.h"
#include "sandbox.h"

/* passt's uids: right above the per-qube range (no qube's processes can hold one), below 2^31,
 * used by no account. The guard matches the whole range. */
#define UPLINK_UID_FIRST (SANDBOX_QUBE_UID_BASE + SANDBOX_QUBE_UID_COUNT) /* 1879113728 */
#define UPLINK_UID_COUNT 256u
#define UPLINK_UID_LAST	 (UPLINK_UID_FIRST + UPLINK_UID_COUNT - 1)
_Static_assert(UPLINK_UID_LAST < 0x80000000u, "uplink uids must stay below 2^31");

#define UPLINK_MAX_DNS	   3
#define UPLINK_DEFAULT_MTU 1500
#define UPLINK_PASST	   "/usr/bin/passt"
/* passt's end of the socketpair in its process. */
#define UPLINK_PASST_FD 3

struct uplink_config {
	const char *netns;	 /* a name under /run/netns; NULL: bulkheadd's own namespace */
	const char *passt;	 /* NULL: UPLINK_PASST */
	uid_t uid;		 /* 0: the lowest uplink uid no running uplink of ours holds */
	unsigned mtu;		 /* 0: UPLINK_DEFAULT_MTU */
	const char *resolv_conf; /* NULL: /etc/netns/NAME/resolv.conf when it exists (as
				    ip-netns-exec does), else /etc/resolv.conf */
	const struct port_forwards *forwards; /* inbound ports passt listens on; NULL: none */
};

/* What passt gives sys-net, which bulkheadd tells sys-net (uplink kind "passt"). */
struct uplink_addrs {
	struct in_addr ip4, gw4;
	unsigned prefix4;
	bool has_ip6; /* the namespace has IPv6 (uplink-route.h); else the uplink is IPv4 only */
	struct in6_addr ip6, gw6;
	unsigned prefix6;
	struct in_addr dns[UPLINK_MAX_DNS]; /* reached through passt; the guard lets port 53 pass */
	size_t n_dns;
	unsigned mtu;
};

struct uplink;

/* Reads the namespace's default route and resolvers, installs the guard, starts passt. Returns 0
 * or -errno: -EINVAL bad config, -ENOENT no such namespace or passt, -ENETUNREACH no default
 * route there, -EIO the guard could not be installed (*ret_error, when not NULL, says why). */
int uplink_start(const struct uplink_config *cfg, struct uplink **ret, char **ret_error);

/* The end for QEMU (netdev_add socket,fd=...); the caller owns it afterwards. -EBADF if taken. */
int uplink_take_qemu_fd(struct uplink *u);
pid_t uplink_pid(const struct uplink *u);
uid_t uplink_uid(const struct uplink *u);
/* Readable once passt exited (for the event loop); then call uplink_reap. */
int uplink_pidfd(const struct uplink *u);
const struct uplink_addrs *uplink_addrs(const struct uplink *u);

/* Collects passt's exit without blocking: 0 and *ret_status (exit status, or 128+signal), or
 * -EAGAIN while it runs. After that, uplink_stop only releases the guard and the memory. */
int uplink_reap(struct uplink *u, int *ret_status);

/* Ends passt (SIGKILL: it holds no state worth saving), reaps it, releases the guard (removed
 * with the last uplink in that namespace), frees. NULL is a no-op. */
void uplink_stop(struct uplink *u);

/* Building blocks, exposed for the tests. */
/* IPv4 nameservers of resolv.conf text, at most max, loopback ones skipped (sys-net cannot
 * reach them through passt without mapping the gateway to the host, which we turn off). */
size_t uplink_resolv_parse(const char *text, struct in_addr *dns, size_t max);
/* passt's command line for these addresses and inbound forwards (NULL: none), NULL-terminated;
 * free with uplink_argv_free. */
int uplink_passt_argv(const char *passt, const struct uplink_addrs *a,
		      const struct port_forwards *forwards, char ***ret_argv);
void uplink_argv_free(char **argv);
