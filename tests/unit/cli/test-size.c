/* Unit tests of size parsing and printing (cli/size.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "size.h"

static void test_good(void **state)
{
	static const struct {
		const char *s;
		uint64_t v;
	} cases[] = {
	    {"0", 0},
	    {"4096", 4096},
	    {"1K", 1024},
	    {"1k", 1024},
	    {"512M", 512ull << 20},
	    {"2G", 2ull << 30},
	    {"2g", 2ull << 30},
	    {"2GiB", 2ull << 30},
	    {"1T", 1ull << 40},
	    {"3P", 3ull << 50},
	    {"15E", 15ull << 60},
	    {"007", 7},
	    {"18446744073709551615", UINT64_MAX},
	    {"17179869183G", 17179869183ull << 30},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 1;
		assert_int_equal(size_parse(cases[i].s, &v), 0);
		assert_true(v == cases[i].v);
	}
}

static void test_bad(void **state)
{
	static const char *const bad[] = {
	    "",	   "G",	  "-1",	   "+1",  " 1",	 "1 ",	 "1.5G", "1Q",	  "12Q",
	    "1GB", "1Gi", "1GiBx", "1iB", "1KK", "0x10", "1e3",	 "1,000", "1_000",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v = 42;
		assert_int_equal(size_parse(bad[i], &v), -EINVAL);
		assert_true(v == 42); /* untouched on failure */
	}
	uint64_t v = 42;
	assert_int_equal(size_parse(NULL, &v), -EINVAL);
}

static void test_overflow(void **state)
{
	static const char *const big[] = {
	    "18446744073709551616", "99999999999999999999999", "16E", "17179869184G", "16777216T",
	};
	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		uint64_t v = 42;
		assert_int_equal(size_parse(big[i], &v), -ERANGE);
		assert_true(v == 42);
	}
}

static void test_format(void **state)
{
	char buf[32];
	assert_string_equal(size_format(0, buf, sizeof(buf)), "0 B");
	assert_string_equal(size_format(1023, buf, sizeof(buf)), "1023 B");
	assert_string_equal(size_format(1024, buf, sizeof(buf)), "1.0 KiB");
	assert_string_equal(size_format(1536, buf, sizeof(buf)), "1.5 KiB");
	assert_string_equal(size_format(3ull << 30, buf, sizeof(buf)), "3.0 GiB");
	assert_string_equal(size_format((1ull << 20) - 1, buf, sizeof(buf)), "1.0 MiB");
	assert_string_equal(size_format(10ull << 40, buf, sizeof(buf)), "10.0 TiB");
	assert_string_equal(size_format(UINT64_MAX, buf, sizeof(buf)), "16.0 EiB");
	/* What size_format prints for whole units, size_parse reads back. */
	uint64_t v;
	assert_int_equal(size_parse("3G", &v), 0);
	assert_string_equal(size_format(v, buf, sizeof(buf)), "3.0 GiB");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_overflow),
	    cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
