/* bulkhead firewall: a qube's rules, as qvm-firewall shows and edits them, and its inbound port
 * forwards. The words are parsed here by net/'s parsers (so a bad rule is refused before any
 * call) and again by bulkheadd; edits are whole-list Sets. */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <time.h>

#include "cli.h"
#include "client.h"
#include "firewall-rule.h"
#include "port-forward.h"
#include "util.h"

/* The qube's firewall.json as the daemon returns it: {"rules", "forwards"} plus, while the chain
 * runs, "status"; *ret_member is KEY's value in it (owned by *ret_result). */
static int get_firewall(const char *name, const char *key, struct json_object **ret_result,
			struct json_object **ret_member)
{
	int r = cli_call("admin.vm.firewall.Get", name, "", NULL, ret_result);

	if (r)
		return r;
	if (!json_object_object_get_ex(*ret_result, key, ret_member)) {
		fprintf(stderr, "bulkhead: the daemon's firewall has no \"%s\"\n", key);
		json_object_put(*ret_result);
		*ret_result = NULL;
		return CLI_EXIT_FAIL;
	}
	return 0;
}

static int get_rules(const char *name, struct fw_rules *ret, struct json_object **ret_result)
{
	struct json_object *result = NULL, *rules = NULL;
	char *err = NULL;
	int r = get_firewall(name, "rules", &result, &rules);

	if (r)
		return r;
	if (fw_rules_from_json(rules, ret, &err) < 0) {
		fprintf(stderr, "bulkhead: the daemon's rule list is not understood: %s\n", err);
		free(err);
		json_object_put(result);
		return CLI_EXIT_FAIL;
	}
	if (ret_result)
		*ret_result = result;
	else
		json_object_put(result);
	return 0;
}

static int set_rules(const char *name, const struct fw_rules *rules)
{
	struct json_object *payload = fw_file_to_json(rules);
	int r = cli_call("admin.vm.firewall.Set", name, "", payload, NULL);

	json_object_put(payload); /* cli_call does not take it */
	return r;
}

static const char *status_of(struct json_object *result, size_t i, const char **ret_reason)
{
	struct json_object *st, *e, *v;

	*ret_reason = "";
	if (!json_object_object_get_ex(result, "status", &st) ||
	    !json_object_is_type(st, json_type_array) || i >= json_object_array_length(st))
		return NULL;
	e = json_object_array_get_idx(st, i);
	if (json_object_object_get_ex(e, "reason", &v) && json_object_is_type(v, json_type_string))
		*ret_reason = json_object_get_string(v);
	if (json_object_object_get_ex(e, "state", &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

static void print_list(const struct fw_rules *rules, struct json_object *result)
{
	bool status = json_object_object_get_ex(result, "status", NULL);

	printf("%-3s %-6s %-28s %-5s %-11s %-7s %-4s %-20s %s%s\n", "NO", "ACTION", "HOST", "PROTO",
	       "PORT(S)", "SPECIAL", "ICMP", "EXPIRE", "COMMENT", status ? "\tSTATE" : "");
	for (size_t i = 0; i < rules->n; i++) {
		const struct fw_rule *r = &rules->v[i];
		char host[FW_HOST_MAX + 1], ports[16] = "-", icmp[16] = "-", expire[32] = "-";
		const char *reason, *st = status_of(result, i, &reason);

		fw_rule_host_str(r, host, sizeof(host));
		if (r->has_ports && r->port_lo == r->port_hi)
			snprintf(ports, sizeof(ports), "%u", r->port_lo);
		else if (r->has_ports)
			snprintf(ports, sizeof(ports), "%u-%u", r->port_lo, r->port_hi);
		if (r->icmptype >= 0)
			snprintf(icmp, sizeof(icmp), "%d", r->icmptype);
		if (r->expire > 0) {
			time_t t = (time_t)r->expire;
			struct tm tm;
			strftime(expire, sizeof(expire), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
		}
		printf("%-3zu %-6s %-28s %-5s %-11s %-7s %-4s %-20s ", i, fw_action_str(r->action),
		       *host ? host : "-", r->proto ? fw_proto_str(r->proto) : "-", ports,
		       r->dns ? "dns" : "-", icmp, expire);
		cli_print_sanitized(stdout, *r->comment ? r->comment : "-");
		if (st) {
			putchar('\t');
			cli_print_sanitized(stdout, st);
			if (*reason) {
				fputs(": ", stdout);
				cli_print_sanitized(stdout, reason);
			}
		}
		putchar('\n');
	}
}

static int get_forwards(const char *name, struct port_forwards *ret)
{
	struct json_object *result = NULL, *a = NULL;
	char *err = NULL;
	int r = get_firewall(name, "forwards", &result, &a);

	if (r)
		return r;
	if (port_forwards_from_json(a, ret, &err) < 0) {
		fprintf(stderr, "bulkhead: the daemon's forward list is not understood: %s\n", err);
		free(err);
		json_object_put(result);
		return CLI_EXIT_FAIL;
	}
	json_object_put(result);
	return 0;
}

static int set_forwards(const char *name, const struct port_forwards *l)
{
	struct json_object *payload = json_object_new_object();
	json_object_object_add(payload, "forwards", port_forwards_to_json(l));
	int r = cli_call("admin.vm.firewall.Set", name, "", payload, NULL);

	json_object_put(payload);
	return r;
}

/* bulkhead firewall QUBE forward [list | add PROTO PORT [TO_PORT] | del PROTO PORT] */
static int forward(const struct cli_command *cmd, const char *name, char **words, size_t n,
		   bool json)
{
	const char *action = n ? words[0] : "list";
	struct port_forwards l;
	struct port_forward f;
	char *err = NULL;
	int r;

	if (n)
		words++, n--;
	if (streq(action, "list")) {
		if (n)
			return cli_usage_error(cmd, "unexpected argument '%s'", words[0]);
		if ((r = get_forwards(name, &l)))
			return r;
		if (json) {
			struct json_object *a = port_forwards_to_json(&l);
			puts(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PRETTY));
			json_object_put(a);
			return CLI_EXIT_OK;
		}
		printf("%-5s %-11s %s\n", "PROTO", "UPLINK-PORT", "QUBE-PORT");
		for (size_t i = 0; i < l.n; i++)
			printf("%-5s %-11u %u\n", fw_proto_str(l.v[i].proto), l.v[i].port,
			       l.v[i].to_port);
		return CLI_EXIT_OK;
	}
	if (!streq(action, "add") && !streq(action, "del"))
		return cli_usage_error(cmd, "unknown forward action '%s' (list, add or del)",
				       action);
	if ((streq(action, "del") && n != 2) || port_forward_parse_words(words, n, &f, &err) < 0) {
		fprintf(stderr, "bulkhead: bad forward: %s\n",
			err ? err : "expected PROTO PORT (e.g. tcp 8080)");
		free(err);
		return CLI_EXIT_USAGE;
	}
	if ((r = get_forwards(name, &l)))
		return r;
	int i = port_forwards_find(&l, f.proto, f.port);
	if (streq(action, "add")) {
		if (i >= 0 && l.v[i].to_port == f.to_port)
			return CLI_EXIT_OK;
		if (i >= 0)
			l.v[i] = f;
		else if (port_forwards_add(&l, &f) < 0) {
			fprintf(stderr, "bulkhead: '%s' has the most forwards there may be (%d)\n",
				name, PORT_FORWARDS_MAX);
			return CLI_EXIT_FAIL;
		}
	} else {
		if (i < 0) {
			fprintf(stderr, "bulkhead: '%s' has no forward of %s port %u\n", name,
				fw_proto_str(f.proto), f.port);
			return CLI_EXIT_FAIL;
		}
		memmove(&l.v[i], &l.v[i + 1], (l.n - (size_t)i - 1) * sizeof(l.v[0]));
		l.n--;
	}
	return set_forwards(name, &l);
}

int cmd_firewall(const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"before", required_argument, NULL, 'b'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct fw_rules rules = {NULL, 0};
	struct json_object *result = NULL;
	bool json = false;
	long before = -1;
	char *err = NULL, *end;
	int c, r;

	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		if (c == 'j') {
			json = true;
		} else if (c == 'b') {
			before = strtol(optarg, &end, 10);
			if (*end || before < 0)
				return cli_usage_error(cmd, "--before needs a rule number");
		} else {
			return cli_getopt_default(cmd, c);
		}
	}
	int n = argc - optind;
	if (n < 1)
		return cli_usage_error(cmd, "firewall needs a qube NAME");
	const char *name = argv[optind];
	const char *action = n > 1 ? argv[optind + 1] : "list";
	char **words = argv + optind + 2;
	size_t nwords = n > 2 ? (size_t)(n - 2) : 0;

	if (streq(action, "forward"))
		return forward(cmd, name, words, nwords, json);
	if (streq(action, "list")) {
		if (nwords)
			return cli_usage_error(cmd, "unexpected argument '%s'", words[0]);
		if ((r = get_rules(name, &rules, &result)))
			return r;
		if (json)
			puts(json_object_to_json_string_ext(
			    result, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		else
			print_list(&rules, result);
		json_object_put(result);
		fw_rules_done(&rules);
		return CLI_EXIT_OK;
	}
	if (streq(action, "reset")) {
		if (nwords)
			return cli_usage_error(cmd, "unexpected argument '%s'", words[0]);
		if (fw_rules_default(&rules) < 0)
			return CLI_EXIT_FAIL;
		r = set_rules(name, &rules);
		fw_rules_done(&rules);
		return r;
	}
	if (streq(action, "add")) {
		struct fw_rule rule;
		if (!nwords)
			return cli_usage_error(cmd, "firewall add needs a RULE (e.g. action=accept "
						    "dsthost=example.com proto=tcp dstports=443)");
		if (fw_rule_parse_words(words, nwords, (int64_t)time(NULL), &rule, &err) < 0) {
			fprintf(stderr, "bulkhead: bad rule: %s\n", err);
			free(err);
			return CLI_EXIT_USAGE;
		}
		if ((r = get_rules(name, &rules, NULL)))
			return r;
		if (before >= 0 && (size_t)before > rules.n) {
			fw_rules_done(&rules);
			fprintf(stderr, "bulkhead: --before %ld: '%s' has %zu rules\n", before,
				name, rules.n);
			return CLI_EXIT_FAIL;
		}
		if (fw_rules_append(&rules, &rule) < 0) {
			fw_rules_done(&rules);
			fprintf(stderr, "bulkhead: '%s' has the most rules a qube may have (%d)\n",
				name, FW_RULES_MAX);
			return CLI_EXIT_FAIL;
		}
		if (before >= 0) {
			memmove(&rules.v[before + 1], &rules.v[before],
				(rules.n - 1 - (size_t)before) * sizeof(rules.v[0]));
			rules.v[before] = rule;
		}
		r = set_rules(name, &rules);
		fw_rules_done(&rules);
		return r;
	}
	if (streq(action, "del")) {
		long idx = -1;
		if (!nwords)
			return cli_usage_error(cmd, "firewall del needs a rule NUMBER or the RULE");
		if (nwords == 1) {
			idx = strtol(words[0], &end, 10);
			if (*end || end == words[0] || idx < 0)
				idx = -1;
		}
		if ((r = get_rules(name, &rules, NULL)))
			return r;
		if (idx < 0) {
			struct fw_rule rule;
			if (fw_rule_parse_words(words, nwords, (int64_t)time(NULL), &rule, &err) <
			    0) {
				fw_rules_done(&rules);
				fprintf(stderr, "bulkhead: bad rule: %s\n", err);
				free(err);
				return CLI_EXIT_USAGE;
			}
			idx = fw_rules_find(&rules, &rule);
			if (idx < 0) {
				fw_rules_done(&rules);
				fprintf(stderr, "bulkhead: '%s' has no such rule\n", name);
				return CLI_EXIT_FAIL;
			}
		}
		if (fw_rules_remove(&rules, (size_t)idx) < 0) {
			fprintf(stderr, "bulkhead: '%s' has no rule %ld (it has %zu)\n", name, idx,
				rules.n);
			fw_rules_done(&rules);
			return CLI_EXIT_FAIL;
		}
		r = set_rules(name, &rules);
		fw_rules_done(&rules);
		return r;
	}
	return cli_usage_error(
	    cmd, "unknown firewall action '%s' (list, add, del, reset or forward)", action);
}
