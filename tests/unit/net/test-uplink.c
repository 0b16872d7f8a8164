/* The uplink's generated text, byte for byte against golden files: the host guard's nftables
 * table and passt's command line; resolv.conf parsing; refusal of bad configuration.
 * Usage: test-uplink GOLDEN_DIR. With BULKHEAD_UPDATE_GOLDEN=1 the golden files are rewritten
 * instead (review the diff before committing it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>

#include "netns.h"
#include "uplink-guard.h"
#include "uplink.h"
#include "golden.h"
#include "util.h"

static const char *golden_dir;

static void check_golden(const char *name, const char *text)
{
	golden_check(golden_dir, name, text);
}

static struct in_addr a4(const char *s)
{
	struct in_addr a;
	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a;
}

static void test_guard_text(void **state)
{
	struct in_addr dns[] = {a4("10.99.0.1"), a4("127.0.0.53")};
	struct uplink_guard_config c = {
	    .uid_first = UPLINK_UID_FIRST, .uid_last = UPLINK_UID_LAST, .dns4 = dns, .n_dns4 = 2};
	_cleanup_free_ char *text = NULL;

	assert_int_equal(uplink_guard_text(&c, &text), 0);
	check_golden("guard-two-resolvers.nft", text);

	_cleanup_free_ char *none = NULL;
	c.n_dns4 = 0;
	c.uid_last = c.uid_first;
	assert_int_equal(uplink_guard_text(&c, &none), 0);
	check_golden("guard-no-resolver.nft", none);

	/* Bad input: an empty uid range. */
	char *bad = NULL;
	c.uid_first = c.uid_last + 1;
	assert_int_equal(uplink_guard_text(&c, &bad), -EINVAL);
	assert_null(bad);
}

static void test_uid_range(void **state)
{
	/* Outside every qube's uid, and of nobody. */
	assert_true(UPLINK_UID_FIRST >= SANDBOX_QUBE_UID_BASE + SANDBOX_QUBE_UID_COUNT);
	assert_true(UPLINK_UID_LAST < 0x80000000u);
	assert_true(SANDBOX_NOBODY_UID < SANDBOX_QUBE_UID_BASE);
}

static void test_passt_argv(void **state)
{
	struct uplink_addrs a = {.ip4 = a4("10.99.0.2"),
				 .gw4 = a4("10.99.0.1"),
				 .prefix4 = 24,
				 .dns = {a4("10.99.0.1"), a4("10.99.0.3")},
				 .n_dns = 2,
				 .mtu = 1500};
	char **argv = NULL;
	_cleanup_free_ char *line = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&line, &len);

	assert_int_equal(uplink_passt_argv("/usr/bin/passt", &a, NULL, &argv), 0);
	for (char **p = argv; *p; p++)
		fprintf(f, "%s\n", *p);
	uplink_argv_free(argv);
	a.n_dns = 0;
	assert_int_equal(uplink_passt_argv("/usr/bin/passt", &a, NULL, &argv), 0);
	fprintf(f, "--- no resolver\n");
	for (char **p = argv; *p; p++)
		fprintf(f, "%s\n", *p);
	uplink_argv_free(argv);
	struct port_forwards fw = {
	    .v = {{FW_PROTO_TCP, 8080, 80}, {FW_PROTO_UDP, 5353, 53}, {FW_PROTO_TCP, 2222, 22}},
	    .n = 3};
	assert_int_equal(uplink_passt_argv("/usr/bin/passt", &a, &fw, &argv), 0);
	fprintf(f, "--- forwards: tcp 8080, udp 5353, tcp 2222\n");
	for (char **p = argv; *p; p++)
		fprintf(f, "%s\n", *p);
	uplink_argv_free(argv);
	a.has_ip6 = true;
	inet_pton(AF_INET6, "2001:db8::2", &a.ip6);
	inet_pton(AF_INET6, "fe80::1", &a.gw6);
	a.prefix6 = 64;
	assert_int_equal(uplink_passt_argv("/usr/bin/passt", &a, NULL, &argv), 0);
	fprintf(f, "--- IPv6 too\n");
	for (char **p = argv; *p; p++)
		fprintf(f, "%s\n", *p);
	uplink_argv_free(argv);
	fclose(f);
	check_golden("passt-argv.txt", line);
}

static void test_resolv_parse(void **state)
{
	struct in_addr dns[UPLINK_MAX_DNS];
	char ip[INET_ADDRSTRLEN];

	const char *text = "# generated\n"
			   "search example.org\n"
			   "nameserver 127.0.0.53\n" /* loopback: passt could not reach it */
			   "nameserver   192.0.2.1\n"
			   "nameserver 2001:db8::1\n" /* IPv6: the uplink is IPv4 */
			   "nameserver 192.0.2.1\n"   /* duplicate */
			   "nameserver 0.0.0.0\n"
			   "nameserver bogus\n"
			   "nameserver 192.0.2.2\n"
			   "nameserver 192.0.2.3\n"
			   "nameserver 192.0.2.4"; /* past the limit, no final newline */
	size_t n = uplink_resolv_parse(text, dns, UPLINK_MAX_DNS);
	assert_int_equal(n, 3);
	assert_string_equal(inet_ntop(AF_INET, &dns[0], ip, sizeof(ip)), "192.0.2.1");
	assert_string_equal(inet_ntop(AF_INET, &dns[1], ip, sizeof(ip)), "192.0.2.2");
	assert_string_equal(inet_ntop(AF_INET, &dns[2], ip, sizeof(ip)), "192.0.2.3");
	assert_int_equal(uplink_resolv_parse("", dns, UPLINK_MAX_DNS), 0);
	assert_int_equal(uplink_resolv_parse("nameserver 127.0.0.1\n", dns, UPLINK_MAX_DNS), 0);
}

static void test_netns_names(void **state)
{
	assert_true(netns_name_valid("bulkhead-uplink"));
	assert_true(netns_name_valid("a.b_c-9"));
	assert_false(netns_name_valid(NULL));
	assert_false(netns_name_valid(""));
	assert_false(netns_name_valid("."));
	assert_false(netns_name_valid(".."));
	assert_false(netns_name_valid("../etc"));
	assert_false(netns_name_valid("a/b"));
	assert_false(netns_name_valid("a b"));
	assert_false(
	    netns_name_valid("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"));
	assert_int_equal(netns_open("../../etc/passwd"), -EINVAL);
}

static void test_bad_config(void **state)
{
	struct uplink *u = NULL;

	struct uplink_config c = {.netns = "../x"};
	assert_int_equal(uplink_start(&c, &u, NULL), -EINVAL);
	c = (struct uplink_config){.uid = 1000};
	assert_int_equal(uplink_start(&c, &u, NULL), -EINVAL);
	c = (struct uplink_config){.uid = SANDBOX_QUBE_UID_BASE + 1};
	assert_int_equal(uplink_start(&c, &u, NULL), -EINVAL);
	c = (struct uplink_config){.mtu = 100};
	assert_int_equal(uplink_start(&c, &u, NULL), -EINVAL);
	c = (struct uplink_config){.passt = "/nonexistent/passt"};
	assert_int_equal(uplink_start(&c, &u, NULL), -ENOENT);
	c = (struct uplink_config){.netns = "bulkhead-test-no-such-namespace"};
	assert_int_equal(uplink_start(&c, &u, NULL), -ENOENT);
	assert_null(u);
	uplink_stop(NULL);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s GOLDEN_DIR\n", argv[0]);
		return 2;
	}
	golden_dir = argv[1];
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_guard_text),	cmocka_unit_test(test_uid_range),
	    cmocka_unit_test(test_passt_argv),	cmocka_unit_test(test_resolv_parse),
	    cmocka_unit_test(test_netns_names), cmocka_unit_test(test_bad_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
