/* The net qube's part: downstream links, the nft table with every client's firewall chain
 * (libnftables, one transaction), forwarding, and cutting connections the new rules forbid. */
#pragma once

#include <json-c/json.h>

#include "config.h"
#include "nft-firewall.h"

struct netvm_plan {
	char *nft;		  /* the whole script */
	struct nft_fw_result *fw; /* one per downstream */
	size_t n_fw;
	int64_t next_apply;
};

/* Resolves names, compiles, and checks the script with nft's dry run. Changes nothing. */
int netvm_prepare(const struct net_config *c, int64_t now, struct netvm_plan *ret,
		  char **ret_error);
/* Applies links, sysctls and the table; then deletes the conntrack entries of clients whose
 * rules changed. */
int netvm_apply(const struct net_config *c, const struct netvm_plan *plan, char **ret_error);
/* {"work": [{"rule": 0, "state": "ok", "reason": ""}, ...], ...} */
struct json_object *netvm_report(const struct net_config *c, const struct netvm_plan *plan);
void netvm_plan_done(struct netvm_plan *p);
