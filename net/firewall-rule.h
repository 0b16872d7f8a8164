/*
 * A qube's firewall rules, Qubes' model exactly (qubes/firewall.py): each rule is an action and
 * optional matches; a list is read in order, the first matching rule decides, and what matches
 * none is dropped. Three forms: qvm-firewall's words ("action=accept dsthost=example.com
 * proto=tcp dstports=443"), JSON (firewall.json and the API) and the nft the compilers make.
 * No logging here: errors come back as a sentence naming the bad field, for the caller to show.
 */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

/* A DNS name is at most 253 characters. */
#define FW_HOST_MAX 253
/* Qubes sets no limit; ours keeps firewall.json small. */
#define FW_COMMENT_MAX 255
/* Rules per qube; the bench applies 1,000. */
#define FW_RULES_MAX 4096

enum fw_action { FW_ACCEPT, FW_DROP };
enum fw_proto { FW_PROTO_ANY, FW_PROTO_TCP, FW_PROTO_UDP, FW_PROTO_ICMP };
enum fw_host_kind { FW_HOST_ANY, FW_HOST_IP4, FW_HOST_IP6, FW_HOST_NAME };

struct fw_rule {
	enum fw_action action;
	enum fw_proto proto;
	enum fw_host_kind host_kind;
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr;				  /* FW_HOST_IP4/IP6 */
	uint8_t prefix;			  /* FW_HOST_IP4/IP6: 0-32 or 0-128 */
	char host[FW_HOST_MAX + 1];	  /* FW_HOST_NAME */
	bool has_ports;			  /* dstports (tcp/udp, or both when proto is absent) */
	uint16_t port_lo, port_hi;	  /* port_lo <= port_hi */
	int icmptype;			  /* -1: none; 0-255, proto icmp only */
	bool dns;			  /* specialtarget=dns */
	int64_t expire;			  /* epoch seconds; 0: never */
	char comment[FW_COMMENT_MAX + 1]; /* "" when none */
};

struct fw_rules {
	struct fw_rule *v;
	size_t n;
};

/* The list a new qube starts with: one accept. */
int fw_rules_default(struct fw_rules *ret);
void fw_rules_done(struct fw_rules *rules);
/* Appends a copy of r (-E2BIG at FW_RULES_MAX). */
int fw_rules_append(struct fw_rules *rules, const struct fw_rule *r);
/* Removes rule i (-ENOENT when out of range). */
int fw_rules_remove(struct fw_rules *rules, size_t i);
/* The index of the first rule equal to r, or -ENOENT. */
int fw_rules_find(const struct fw_rules *rules, const struct fw_rule *r);

/* An empty rule (action accept, nothing else). */
void fw_rule_init(struct fw_rule *r);
bool fw_rule_equal(const struct fw_rule *a, const struct fw_rule *b);
bool fw_rule_expired(const struct fw_rule *r, int64_t now);

/*
 * Field parsers, each one Qubes' validation of that field. Return 0, or -EINVAL with
 * *ret_error (malloc'd, naming the field and the value) and r's field untouched.
 */
int fw_rule_set(struct fw_rule *r, const char *key, const char *value, int64_t now,
		char **ret_error);
/* The rules between fields (dstports needs tcp or udp or no proto, icmptype needs icmp). */
int fw_rule_check(const struct fw_rule *r, char **ret_error);

/*
 * qvm-firewall's words: "key=value" each, a bare first word is the action ("accept"/"drop"),
 * "expire=+N" is N seconds from now. Every field once; action is required.
 */
int fw_rule_parse_words(char *const *words, size_t n, int64_t now, struct fw_rule *ret,
			char **ret_error);
/* The words form again, in Qubes' order (comment last): "action=accept proto=tcp ...". */
char *fw_rule_to_words(const struct fw_rule *r);

/* One rule as a JSON object: {"action": "accept", "dsthost": "10.0.0.0/8", ...}, absent
 * fields left out. from_json refuses unknown members and wrong types. */
struct json_object *fw_rule_to_json(const struct fw_rule *r);
int fw_rule_from_json(struct json_object *o, struct fw_rule *ret, char **ret_error);
/* A list: a JSON array of rules. The error names the rule ("rule 3: ..."). */
struct json_object *fw_rules_to_json(const struct fw_rules *rules);
int fw_rules_from_json(struct json_object *array, struct fw_rules *ret, char **ret_error);

/* firewall.json: {"rules": [...]}. */
struct json_object *fw_file_to_json(const struct fw_rules *rules);
int fw_file_from_json(struct json_object *o, struct fw_rules *ret, char **ret_error);

/* The dsthost as text ("10.0.0.0/8", "fd00::/64", "example.com"), into buf of at least
 * FW_HOST_MAX + 1 bytes; "" when there is none. */
const char *fw_rule_host_str(const struct fw_rule *r, char *buf, size_t len);
const char *fw_action_str(enum fw_action a);
const char *fw_proto_str(enum fw_proto p);
