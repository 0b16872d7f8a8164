/* Unit tests of net/addr.c: Qubes' addresses and our MACs from the qid. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "addr.h"

static void test_ip4(void **state)
{
	char s[NET_IP4_STRLEN];
	assert_int_equal(net_addr_ip4(1, false, s), 0);
	assert_string_equal(s, "10.137.0.1");
	assert_int_equal(net_addr_ip4(4, false, s), 0);
	assert_string_equal(s, "10.137.0.4");
	assert_int_equal(net_addr_ip4(254, false, s), 0);
	assert_string_equal(s, "10.137.0.254");
	/* Past 254 the .0 and .255 host bytes are skipped. */
	assert_int_equal(net_addr_ip4(255, false, s), 0);
	assert_string_equal(s, "10.137.1.1");
	assert_int_equal(net_addr_ip4(508, false, s), 0);
	assert_string_equal(s, "10.137.1.254");
	assert_int_equal(net_addr_ip4(509, false, s), 0);
	assert_string_equal(s, "10.137.2.1");
	assert_int_equal(net_addr_ip4(NET_ADDR_QID_MAX, false, s), 0);
	assert_string_equal(s, "10.137.255.254");
	assert_int_equal(net_addr_ip4(7, true, s), 0);
	assert_string_equal(s, "10.138.0.7");
}

static void test_ip6(void **state)
{
	char s[NET_IP6_STRLEN];
	assert_int_equal(net_addr_ip6(4, false, s), 0);
	assert_string_equal(s, "fd09:24ef:4179::a89:4");
	assert_int_equal(net_addr_ip6(255, false, s), 0);
	assert_string_equal(s, "fd09:24ef:4179::a89:101");
	assert_int_equal(net_addr_ip6(NET_ADDR_QID_MAX, true, s), 0);
	assert_string_equal(s, "fd09:24ef:4179::a8a:fffe");
}

static void test_macs(void **state)
{
	char s[NET_MAC_STRLEN];
	assert_int_equal(net_addr_qube_mac(7, s), 0);
	assert_string_equal(s, "00:16:3e:5e:00:07");
	assert_int_equal(net_addr_netvm_link_mac(7, s), 0);
	assert_string_equal(s, "00:16:3e:5f:00:07");
	assert_int_equal(net_addr_qube_mac(0x1234, s), 0);
	assert_string_equal(s, "00:16:3e:5e:12:34");
}

static void test_out_of_range(void **state)
{
	char s[NET_IP6_STRLEN] = "untouched";
	unsigned char b[2];
	assert_int_equal(net_addr_ip4(0, false, s), -ERANGE);
	assert_int_equal(net_addr_ip4(NET_ADDR_QID_MAX + 1, false, s), -ERANGE);
	assert_int_equal(net_addr_ip6(0, false, s), -ERANGE);
	assert_int_equal(net_addr_qube_mac(0, s), -ERANGE);
	assert_int_equal(net_addr_netvm_link_mac(70000, s), -ERANGE);
	assert_int_equal(net_addr_host_bytes(0, b), -ERANGE);
	assert_string_equal(s, "untouched");
}

/* Every qid has its own address: no two collide, none ends in .0 or .255. */
static void test_unique(void **state)
{
	static bool seen[65536];
	memset(seen, 0, sizeof(seen));
	for (unsigned q = 1; q <= NET_ADDR_QID_MAX; q++) {
		unsigned char b[2];
		assert_int_equal(net_addr_host_bytes(q, b), 0);
		assert_true(b[1] != 0 && b[1] != 255);
		unsigned k = (unsigned)b[0] << 8 | b[1];
		assert_false(seen[k]);
		seen[k] = true;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ip4),	   cmocka_unit_test(test_ip6),
	    cmocka_unit_test(test_macs),   cmocka_unit_test(test_out_of_range),
	    cmocka_unit_test(test_unique),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
