/* The nft the compilers make: byte for byte against golden files (which net-nft-check also feeds
 * to `nft -c`), the per-rule states, and refusal of bad input.
 * Usage: test-nft GOLDEN_DIR. With BULKHEAD_UPDATE_GOLDEN=1 the golden files are rewritten. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "firewall-rule.h"
#include "nft-firewall.h"
#include "nft-netvm.h"
#include "golden.h"
#include "util.h"

#define NOW 1700000000

static const char *golden_dir;

static void check_golden(const char *name, const char *text)
{
	golden_check(golden_dir, name, text);
}

/* The test's own names: what a resolver would answer, so the output is fixed. */
static int resolve(void *userdata, const char *name, struct fw_resolved *ret, char *reason,
		   size_t len)
{
	int *calls = userdata;

	(*calls)++;
	memset(ret, 0, sizeof(*ret));
	if (streq(name, "mail.example")) {
		inet_pton(AF_INET, "192.0.2.25", &ret->v4[0]);
		inet_pton(AF_INET, "192.0.2.26", &ret->v4[1]);
		ret->n4 = 2;
		inet_pton(AF_INET6, "2001:db8::25", &ret->v6[0]);
		ret->n6 = 1;
		ret->ttl = 300;
		return 0;
	}
	if (streq(name, "v4only.example")) {
		inet_pton(AF_INET, "198.51.100.7", &ret->v4[0]);
		ret->n4 = 1;
		ret->ttl = 60;
		return 0;
	}
	if (streq(name, "empty.example"))
		return 0; /* an answer without addresses */
	snprintf(reason, len, "no such name");
	return -ENOENT;
}

static void rules_of(struct fw_rules *rules, const char *const *lines)
{
	rules->v = NULL;
	rules->n = 0;
	for (; *lines; lines++) {
		_cleanup_free_ char *copy = xstrdup(*lines);
		char *words[16], *save = NULL, *err = NULL;
		struct fw_rule r;
		size_t n = 0;

		for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save))
			words[n++] = w;
		if (fw_rule_parse_words(words, n, NOW, &r, &err) < 0)
			fail_msg("%s: %s", *lines, err);
		assert_int_equal(fw_rules_append(rules, &r), 0);
	}
}

static const char *const work_rules[] = {
    "accept dsthost=10.1.2.3 proto=tcp dstports=443",
    "drop dsthost=10.1.2.3/8",
    "accept dsthost=fd00::1:2/112 dstports=8000-8080",
    "accept proto=icmp icmptype=8",
    "accept proto=icmp dsthost=192.0.2.0/24",
    "accept specialtarget=dns",
    "accept dsthost=mail.example proto=tcp dstports=993",
    "accept dsthost=nowhere.example",
    "accept dsthost=empty.example",
    "accept expire=1600000000 comment=old",
    "drop dsthost=v4only.example proto=udp",
    "accept proto=tcp expire=1700000500",
    NULL,
};

static void test_firewall_chain(void **state)
{
	struct fw_rules rules;
	struct nft_fw_result res;
	int calls = 0;

	rules_of(&rules, work_rules);
	struct nft_fw_input in = {.chain = "fw-work",
				  .rules = &rules,
				  .now = NOW,
				  .resolve = resolve,
				  .userdata = &calls};
	assert_int_equal(nft_firewall_chain(&in, &res), 0);
	check_golden("fw-work.chain", res.text);
	assert_int_equal(res.n_status, rules.n);
	for (size_t i = 0; i < rules.n; i++) {
		enum fw_rule_state want =
		    (i == 7 || i == 8 || i == 9) ? FW_STATE_DISABLED : FW_STATE_OK;
		assert_int_equal(res.status[i].state, want);
	}
	assert_non_null(
	    strstr(res.status[7].reason, "nowhere.example did not resolve: no such name"));
	assert_non_null(strstr(res.status[8].reason, "no address"));
	assert_string_equal(res.status[9].reason, "expired");
	/* the earliest of: a rule's expiry, a TTL, a retry of a failed name */
	assert_int_equal(res.next_apply, NOW + FW_RETRY_SECONDS);
	assert_int_equal(calls, 4);
	nft_fw_result_done(&res);
	fw_rules_done(&rules);
}

static const char *const blocking_rules[] = {
    "accept proto=tcp dstports=22",
    "drop dsthost=tracker.example",
    "accept",
    NULL,
};

static void test_netvm(void **state)
{
	struct fw_rules work, guest, deflt;
	struct nft_fw_result rw, rg, rd;
	int calls = 0;
	_cleanup_free_ char *text = NULL;
	const struct port_forward fwd[] = {{FW_PROTO_TCP, 8080, 80}, {FW_PROTO_UDP, 5353, 53}};

	rules_of(&work, work_rules);
	rules_of(&guest, blocking_rules);
	assert_int_equal(fw_rules_default(&deflt), 0);
	struct nft_fw_input in = {
	    .chain = "fw-work", .rules = &work, .now = NOW, .resolve = resolve, .userdata = &calls};
	assert_int_equal(nft_firewall_chain(&in, &rw), 0);
	in.chain = "fw-guest";
	in.rules = &guest;
	assert_int_equal(nft_firewall_chain(&in, &rg), 0);
	assert_int_equal(rg.status[0].state, FW_STATE_OK);
	assert_int_equal(rg.status[1].state, FW_STATE_BLOCKING);
	assert_non_null(strstr(rg.status[1].reason, "tracker.example did not resolve"));
	assert_int_equal(rg.status[2].state, FW_STATE_DISABLED);
	in.chain = "fw-vault.x";
	in.rules = &deflt;
	assert_int_equal(nft_firewall_chain(&in, &rd), 0);

	struct nft_downstream down[3] = {
	    {.ifname = "eth1",
	     .has_mac = true,
	     .mac = {0x00, 0x16, 0x3e, 0x5e, 0x6c, 0x07},
	     .fw_chain = "fw-work",
	     .fw_text = rw.text,
	     .has_ip6 = true,
	     .forwards = fwd,
	     .n_forwards = 2},
	    {.ifname = "eth2", .fw_chain = "fw-guest", .fw_text = rg.text},
	    {.ifname = "vif7.0", .fw_chain = "fw-vault.x", .fw_text = rd.text, .has_ip6 = true},
	};
	inet_pton(AF_INET, "10.137.0.7", &down[0].ip4);
	inet_pton(AF_INET6, "fd09:24ef:4179::a89:7", &down[0].ip6);
	inet_pton(AF_INET, "10.137.0.8", &down[1].ip4);
	inet_pton(AF_INET, "10.138.1.2", &down[2].ip4);
	inet_pton(AF_INET6, "fd09:24ef:4179::a8a:102", &down[2].ip6);
	struct nft_netvm_input nv = {.uplink_if = "eth0", .down = down, .n_down = 3};
	inet_pton(AF_INET, "10.139.1.1", &nv.virtual_dns[0]);
	inet_pton(AF_INET, "10.139.1.2", &nv.virtual_dns[1]);
	nv.n_virtual_dns = 2;
	inet_pton(AF_INET, "192.0.2.53", &nv.resolv4[0]);
	nv.n_resolv4 = 1;
	inet_pton(AF_INET6, "2001:db8::53", &nv.resolv6[0]);
	nv.n_resolv6 = 1;
	assert_int_equal(nft_netvm_table(&nv, &text), 0);
	check_golden("netvm-firewall.nft", text);

	/* bad interface names and an uplink that is also downstream are refused */
	char *t2 = NULL;
	down[1].ifname = "eth\"; flush ruleset";
	assert_int_equal(nft_netvm_table(&nv, &t2), -EINVAL);
	down[1].ifname = "averyveryverylongname";
	assert_int_equal(nft_netvm_table(&nv, &t2), -EINVAL);
	down[1].ifname = "eth0";
	assert_int_equal(nft_netvm_table(&nv, &t2), -EINVAL);
	assert_null(t2);

	nft_fw_result_done(&rw);
	nft_fw_result_done(&rg);
	nft_fw_result_done(&rd);
	fw_rules_done(&work);
	fw_rules_done(&guest);
	fw_rules_done(&deflt);
}

/* sys-net alone: no clients yet, no resolvers (virtual DNS dropped), and a net qube without an
 * uplink (nothing forwarded). */
static void test_netvm_bare(void **state)
{
	_cleanup_free_ char *a = NULL, *b = NULL;
	struct nft_netvm_input nv = {.uplink_if = "enp0s1"};

	inet_pton(AF_INET, "10.139.1.1", &nv.virtual_dns[0]);
	nv.n_virtual_dns = 1;
	assert_int_equal(nft_netvm_table(&nv, &a), 0);
	check_golden("netvm-empty.nft", a);

	struct nft_downstream down = {.ifname = "eth1"};
	inet_pton(AF_INET, "10.137.0.9", &down.ip4);
	nv.uplink_if = NULL;
	nv.down = &down;
	nv.n_down = 1;
	assert_int_equal(nft_netvm_table(&nv, &b), 0);
	check_golden("netvm-no-uplink.nft", b);
}

static void test_bad_chain(void **state)
{
	struct fw_rules rules;
	struct nft_fw_result res;
	char buf[64];

	assert_int_equal(fw_rules_default(&rules), 0);
	struct nft_fw_input in = {.chain = "fw x", .rules = &rules, .now = NOW};
	assert_int_equal(nft_firewall_chain(&in, &res), -EINVAL);
	assert_int_equal(nft_chain_name("fw-", "work", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "fw-work");
	assert_int_equal(nft_chain_name("fw-", "a b", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(nft_chain_name("fw-", "1abc", buf, sizeof(buf)), -EINVAL);
	fw_rules_done(&rules);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_firewall_chain),
	    cmocka_unit_test(test_netvm),
	    cmocka_unit_test(test_netvm_bare),
	    cmocka_unit_test(test_bad_chain),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s GOLDEN_DIR\n", argv[0]);
		return 2;
	}
	golden_dir = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
