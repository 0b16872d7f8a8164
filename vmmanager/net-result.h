/*
 * What a qube's bulkhead-net-apply printed (its stdout, the qube's bytes): parsed into what
 * bulkheadd uses, each field within limits, as a pure function the fuzz target reaches. A
 * display hint and "when to come back", never trusted for anything else.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

/* What a net qube may report about one client's rules. */
#define NET_FW_STATUS_MAX_RULES	 4096
#define NET_FW_STATUS_MAX_REASON 200

struct net_result {
	bool ok;
	char *error;	    /* when !ok: its reason (malloc'd, unescaped), or NULL */
	int64_t next_apply; /* epoch seconds; 0 none */
	struct json_object
	    *firewall; /* {client: [...]}, as sent (use net_fw_status_copy), or NULL */
};

/* 0, or -EINVAL when out is not a JSON object with a boolean-ish "ok". */
int net_result_parse(const char *out, struct net_result *ret);
void net_result_done(struct net_result *r);

/* One client's rule states, copied field by field within the limits above: [{"rule": N,
 * "state": "ok"|"disabled"|"blocking", "reason": "..."}], or NULL when the list is not that
 * shape (a new reference otherwise). */
struct json_object *net_fw_status_copy(struct json_object *list);
