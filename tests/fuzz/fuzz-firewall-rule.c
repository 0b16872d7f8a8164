/* Fuzz target for the firewall rule parsers: input starting with '{' or '[' is firewall.json
 * (fw_file_from_json), anything else a qvm-firewall command line split at spaces. What parses
 * must survive both round trips (words and JSON) unchanged and compile to nft; what is refused
 * carries a reason. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "firewall-rule.h"
#include "fuzz.h"
#include "nft-firewall.h"

#define NOW 1700000000

static int resolve(void *userdata, const char *name, struct fw_resolved *ret, char *reason,
		   size_t len)
{
	/* Names of an even length resolve, odd ones fail: both paths get exercised. */
	memset(ret, 0, sizeof(*ret));
	if (strlen(name) % 2) {
		snprintf(reason, len, "odd");
		return -ENOENT;
	}
	ret->n4 = 1;
	ret->v4[0].s_addr = htonl(0xc0000201);
	ret->ttl = 30;
	return 0;
}

static void roundtrip(const struct fw_rule *r)
{
	char *words = fw_rule_to_words(r), *copy, *save = NULL, *v[16], *err = NULL;
	struct json_object *o = fw_rule_to_json(r);
	struct fw_rule back;
	size_t n = 0;

	copy = strdup(words);
	if (!copy)
		abort();
	/* a comment may hold spaces: put its words back together */
	for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		if (n < 16)
			v[n++] = w;
	}
	if (!*r->comment && fw_rule_parse_words(v, n, NOW, &back, &err) == 0) {
		if (!fw_rule_equal(r, &back))
			abort();
	} else if (!*r->comment) {
		abort(); /* what we print must parse again */
	}
	free(err);
	if (fw_rule_from_json(o, &back, NULL) < 0 || !fw_rule_equal(r, &back))
		abort();
	json_object_put(o);
	free(words);
	free(copy);
}

static void compile(const struct fw_rules *rules)
{
	struct nft_fw_input in = {
	    .chain = "fw-fuzz", .rules = rules, .now = NOW, .resolve = resolve};
	struct nft_fw_result res;

	if (nft_firewall_chain(&in, &res) < 0)
		abort();
	if (res.n_status != rules->n)
		abort();
	nft_fw_result_done(&res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *save = NULL, *err = NULL;
	char *words[64];
	size_t n = 0;
	struct fw_rule r;

	if (size > 65536)
		return 0;
	buf = malloc(size + 1);
	if (!buf)
		abort();
	memcpy(buf, data, size);
	buf[size] = 0;

	if (size && (buf[0] == '{' || buf[0] == '[')) {
		struct json_tokener *tok = json_tokener_new();
		struct json_object *o = json_tokener_parse_ex(tok, buf, (int)size);
		struct fw_rules rules;

		if (json_tokener_get_error(tok) == json_tokener_success) {
			if (fw_file_from_json(o, &rules, &err) == 0) {
				for (size_t i = 0; i < rules.n; i++)
					roundtrip(&rules.v[i]);
				compile(&rules);
				fw_rules_done(&rules);
			} else if (!err) {
				abort();
			}
		}
		json_object_put(o);
		json_tokener_free(tok);
		free(err);
		free(buf);
		return 0;
	}

	for (char *w = strtok_r(buf, " ", &save); w && n < 64; w = strtok_r(NULL, " ", &save))
		words[n++] = w;
	if (fw_rule_parse_words(words, n, NOW, &r, &err) == 0) {
		struct fw_rules one = {&r, 1};
		roundtrip(&r);
		compile(&one);
	} else if (!err) {
		abort();
	}
	free(err);
	free(buf);
	return 0;
}
