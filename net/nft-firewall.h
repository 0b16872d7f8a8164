/*
 * One client's firewall rules as an nft chain (Qubes' qubesagent/firewall.py semantics): rules in
 * order, each ending in its verdict so the first match wins, drop emitted as a reject with
 * admin-prohibited, dstports without proto as a tcp and a udp rule, specialtarget=dns as the
 * firewall qube's resolvers (sets @dns4 and @dns6 of the table) on port 53, expired rules
 * left out, and a final drop. The chain belongs in an inet table (nft-netvm.h).
 *
 * Host names are resolved through the caller's function. Unlike Qubes, a name that does not
 * resolve costs only its own rule: an accept rule is left out (state "disabled"); a drop rule
 * refuses everything that reaches it (state "blocking": what it would have dropped cannot be
 * told apart, so the chain fails closed from there on).
 */
#pragma once

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "firewall-rule.h"

/* Addresses kept per name and family; more are dropped (the first ones count). */
#define FW_RESOLVED_MAX 16
/* A name that failed is tried again this soon. */
#define FW_RETRY_SECONDS 60

struct fw_resolved {
	size_t n4, n6;
	struct in_addr v4[FW_RESOLVED_MAX];
	struct in6_addr v6[FW_RESOLVED_MAX];
	uint32_t ttl; /* seconds the answer holds; 0: unknown */
};

/* Resolves name into *ret. On failure returns < 0 and writes why into reason. */
typedef int (*fw_resolver)(void *userdata, const char *name, struct fw_resolved *ret, char *reason,
			   size_t reason_len);

enum fw_rule_state { FW_STATE_OK, FW_STATE_DISABLED, FW_STATE_BLOCKING };

struct fw_rule_status {
	enum fw_rule_state state;
	char reason[160]; /* "" when ok */
};

struct nft_fw_input {
	const char *chain; /* the chain's name, an nft identifier (nft_chain_name) */
	const struct fw_rules *rules;
	int64_t now;
	fw_resolver resolve; /* NULL: every name fails */
	void *userdata;
};

struct nft_fw_result {
	char *text;		       /* "\tchain NAME {\n...\t}\n" */
	struct fw_rule_status *status; /* one per input rule */
	size_t n_status;
	int64_t next_apply; /* the next expiry or DNS refresh; 0: none */
};

/* "fw-" + the qube name; -EINVAL when name is not a valid qube name. */
int nft_chain_name(const char *prefix, const char *qube, char *buf, size_t len);
int nft_firewall_chain(const struct nft_fw_input *in, struct nft_fw_result *ret);
void nft_fw_result_done(struct nft_fw_result *r);
const char *fw_rule_state_str(enum fw_rule_state s);
