/* The firewall rule model: Qubes' validation of each field, the words and JSON forms, and bad
 * input refused with an error naming the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "firewall-rule.h"
#include "util.h"

#define NOW 1700000000

/* Parses a space-separated rule; returns 0 or -EINVAL with *err. */
static int parse(const char *text, struct fw_rule *r, char **err)
{
	_cleanup_free_ char *copy = xstrdup(text);
	char *words[16], *save = NULL;
	size_t n = 0;

	for (char *w = strtok_r(copy, " ", &save); w && n < 16; w = strtok_r(NULL, " ", &save))
		words[n++] = w;
	return fw_rule_parse_words(words, n, NOW, r, err);
}

static void good(const char *text, const char *canonical)
{
	struct fw_rule r, r2;
	char *err = NULL;
	_cleanup_free_ char *words = NULL;
	struct json_object *o;

	if (parse(text, &r, &err) < 0)
		fail_msg("'%s' refused: %s", text, err);
	words = fw_rule_to_words(&r);
	assert_string_equal(words, canonical);
	/* JSON round trip */
	o = fw_rule_to_json(&r);
	assert_int_equal(fw_rule_from_json(o, &r2, &err), 0);
	assert_true(fw_rule_equal(&r, &r2));
	json_object_put(o);
}

static void bad(const char *text, const char *needle)
{
	struct fw_rule r;
	char *err = NULL;

	memset(&r, 0x5a, sizeof(r));
	if (parse(text, &r, &err) == 0)
		fail_msg("'%s' accepted", text);
	assert_non_null(err);
	if (!strstr(err, needle))
		fail_msg("'%s': error '%s' does not name '%s'", text, err, needle);
	/* nothing written on failure */
	assert_int_equal(((unsigned char *)&r)[0], 0x5a);
	free(err);
}

static void test_good(void **state)
{
	good("action=accept", "action=accept");
	good("accept", "action=accept");
	good("drop", "action=drop");
	good("action=accept dsthost=10.1.2.3", "action=accept dsthost=10.1.2.3/32");
	good("action=accept dsthost=10.0.0.0/8", "action=accept dsthost=10.0.0.0/8");
	good("action=drop dsthost=fd00::1", "action=drop dsthost=fd00::1/128");
	good("action=drop dsthost=fd00::/16", "action=drop dsthost=fd00::/16");
	good("action=accept dsthost=www.example.com proto=tcp dstports=443",
	     "action=accept dsthost=www.example.com proto=tcp dstports=443");
	good("action=accept proto=udp dstports=1000-2000",
	     "action=accept proto=udp dstports=1000-2000");
	good("action=accept proto=tcp dstports=80-80", "action=accept proto=tcp dstports=80");
	good("action=accept dstports=0-65535", "action=accept dstports=0-65535");
	good("action=accept proto=icmp icmptype=8", "action=accept proto=icmp icmptype=8");
	good("action=accept specialtarget=dns", "action=accept specialtarget=dns");
	good("action=accept specialtarget=dns proto=udp dstports=53",
	     "action=accept proto=udp dstports=53 specialtarget=dns");
	good("comment=[work]_mail;ok action=accept expire=1800000000",
	     "action=accept expire=1800000000 comment=[work]_mail;ok");
	good("action=accept expire=+3600", "action=accept expire=1700003600");
	good("action=accept dsthost=xn--bcher-kva.example",
	     "action=accept dsthost=xn--bcher-kva.example");
}

static void test_bad(void **state)
{
	bad("", "empty rule");
	bad("proto=tcp", "action");
	bad("action=allow", "action");
	bad("action=accept action=drop", "action: given twice");
	bad("action=accept colour=red", "unknown field 'colour'");
	bad("action=accept dsthost", "expected KEY=VALUE");
	bad("action=accept proto=sctp", "proto");
	bad("action=accept dsthost=10.0.0.1/33", "IPv4 prefix");
	bad("action=accept dsthost=fd00::/129", "IPv6 prefix");
	bad("action=accept dsthost=10.0.0.1/8/8", "too many");
	bad("action=accept dsthost=10.0.0.1/", "prefix length");
	bad("action=accept dsthost=10.0.0.1/-1", "bad prefix length");
	bad("action=accept dsthost=10.0.1/8", "not an IP address");
	bad("action=accept dsthost=Example.COM", "dsthost");
	bad("action=accept dsthost=a;b", "dsthost");
	bad("action=accept dsthost=", "dsthost: empty");
	bad("action=accept proto=tcp dstports=65536", "dstports");
	bad("action=accept proto=tcp dstports=443-80", "backwards");
	bad("action=accept proto=tcp dstports=1-2-3", "dstports");
	bad("action=accept proto=tcp dstports=-1", "dstports");
	bad("action=accept proto=tcp dstports=+80", "dstports");
	bad("action=accept proto=icmp dstports=80", "dstports");
	bad("action=accept proto=tcp icmptype=8", "icmptype");
	bad("action=accept icmptype=8", "icmptype");
	bad("action=accept proto=icmp icmptype=256", "icmptype");
	bad("action=accept proto=icmp icmptype=0008", "icmptype");
	bad("action=accept specialtarget=ntp", "specialtarget");
	bad("action=accept specialtarget=dns dsthost=1.2.3.4", "specialtarget");
	bad("action=accept specialtarget=dns proto=tcp dstports=80", "specialtarget");
	bad("action=accept expire=soon", "expire");
	bad("action=accept expire=0", "expire");
	bad("action=accept comment=a\"b", "comment");
	bad("action=accept comment=a|b", "comment");
	bad("action=accept\tproto=tcp", "strange characters");
	bad("action=accept dstports=80 extra", "KEY=VALUE");
}

static void test_json(void **state)
{
	static const char *const bad_json[][2] = {
	    {"[]", "JSON object"},
	    {"{}", "action: missing"},
	    {"{\"action\":\"accept\",\"x\":1}", "unknown field 'x'"},
	    {"{\"action\":1}", "action: expected a string"},
	    {"{\"action\":\"accept\",\"dstports\":80}", NULL},
	    {"{\"action\":\"accept\",\"proto\":\"tcp\",\"dstports\":-1}", "negative"},
	    {"{\"action\":\"accept\",\"expire\":\"+5\"}", "expire"},
	    {"{\"action\":\"accept\",\"comment\":\"a\\u0000b\"}", "NUL"},
	    {"{\"action\":\"accept\",\"proto\":\"icmp\",\"icmptype\":[8]}", "icmptype"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad_json); i++) {
		struct json_object *o = json_tokener_parse(bad_json[i][0]);
		struct fw_rule r;
		char *err = NULL;
		int q;

		assert_non_null(o);
		q = fw_rule_from_json(o, &r, &err);
		if (!bad_json[i][1]) {
			assert_int_equal(q, 0);
		} else {
			assert_int_equal(q, -EINVAL);
			if (!strstr(err, bad_json[i][1]))
				fail_msg("%s: '%s' lacks '%s'", bad_json[i][0], err,
					 bad_json[i][1]);
			free(err);
		}
		json_object_put(o);
	}

	/* numbers and strings for ports/icmptype/expire mean the same */
	struct json_object *a = json_tokener_parse(
	    "{\"action\":\"drop\",\"proto\":\"tcp\",\"dstports\":\"22\",\"expire\":1800000000}");
	struct json_object *b = json_tokener_parse(
	    "{\"action\":\"drop\",\"proto\":\"tcp\",\"dstports\":22,\"expire\":\"1800000000\"}");
	struct fw_rule ra, rb;
	assert_int_equal(fw_rule_from_json(a, &ra, NULL), 0);
	assert_int_equal(fw_rule_from_json(b, &rb, NULL), 0);
	assert_true(fw_rule_equal(&ra, &rb));
	json_object_put(a);
	json_object_put(b);
}

static void test_list(void **state)
{
	struct fw_rules rules, back;
	struct fw_rule r;
	char *err = NULL;
	struct json_object *o;

	assert_int_equal(fw_rules_default(&rules), 0);
	assert_int_equal(rules.n, 1);
	assert_int_equal(rules.v[0].action, FW_ACCEPT);
	assert_int_equal(parse("drop proto=tcp dstports=25", &r, NULL), 0);
	assert_int_equal(fw_rules_append(&rules, &r), 0);
	assert_int_equal(fw_rules_find(&rules, &r), 1);
	o = fw_file_to_json(&rules);
	assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
			    "{\"rules\":[{\"action\":\"accept\"},{\"action\":\"drop\",\"proto\":"
			    "\"tcp\",\"dstports\":\"25\"}]}");
	assert_int_equal(fw_file_from_json(o, &back, &err), 0);
	assert_int_equal(back.n, 2);
	assert_true(fw_rule_equal(&back.v[1], &r));
	json_object_put(o);
	fw_rules_done(&back);
	assert_int_equal(fw_rules_remove(&rules, 0), 0);
	assert_int_equal(fw_rules_remove(&rules, 5), -ENOENT);
	assert_int_equal(rules.n, 1);
	fw_rules_done(&rules);

	/* the error names the rule */
	o = json_tokener_parse("{\"rules\":[{\"action\":\"accept\"},{\"action\":\"maybe\"}]}");
	assert_int_equal(fw_file_from_json(o, &back, &err), -EINVAL);
	assert_non_null(strstr(err, "rule 1: action"));
	free(err);
	json_object_put(o);
	o = json_tokener_parse("{\"rules\":[],\"more\":1}");
	assert_int_equal(fw_file_from_json(o, &back, &err), -EINVAL);
	free(err);
	json_object_put(o);

	/* the cap */
	assert_int_equal(fw_rules_default(&rules), 0);
	while (rules.n < FW_RULES_MAX)
		assert_int_equal(fw_rules_append(&rules, &rules.v[0]), 0);
	assert_int_equal(fw_rules_append(&rules, &rules.v[0]), -E2BIG);
	fw_rules_done(&rules);
}

static void test_expired(void **state)
{
	struct fw_rule r;

	assert_int_equal(parse("accept expire=1700000000", &r, NULL), 0);
	assert_true(fw_rule_expired(&r, NOW));
	assert_false(fw_rule_expired(&r, NOW - 1));
	assert_int_equal(parse("accept", &r, NULL), 0);
	assert_false(fw_rule_expired(&r, INT64_MAX));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_json),    cmocka_unit_test(test_list),
	    cmocka_unit_test(test_expired),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
