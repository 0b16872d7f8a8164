/*
 * The host's guard around the uplink's passt: an nftables table of Bulkhead's own
 * (inet bulkhead-uplink) in the namespace passt runs in, which refuses (TCP reset, else drop)
 * whatever a socket of the uplink uids sends to loopback or to the namespace's own (local,
 * broadcast, multicast) addresses, apart from port 53 of the resolvers passt hands to sys-net.
 * Nothing else in the namespace's ruleset is touched.
 */
#pragma once

#include <netinet/in.h>
#include <stddef.h>
#include <sys/types.h>

#define UPLINK_GUARD_TABLE "bulkhead-uplink"

struct uplink_guard_config {
	uid_t uid_first, uid_last; /* the uids passt runs under */
	const struct in_addr *dns4;
	size_t n_dns4;
};

/* The table as nft text (golden-tested). Returns 0 or -errno. */
int uplink_guard_text(const struct uplink_guard_config *c, char **ret);

/* Replaces the table in the namespace of netns_fd in one transaction. On failure *ret_error
 * (when not NULL) receives nft's message; the previous table, if any, is left as it was. */
int uplink_guard_install(int netns_fd, const struct uplink_guard_config *c, char **ret_error);

/* Removes the table; absent is fine. */
int uplink_guard_remove(int netns_fd, char **ret_error);
