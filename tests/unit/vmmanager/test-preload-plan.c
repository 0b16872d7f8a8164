/* The pure decisions of the preloaded disposables' pool (vmmanager/preload-plan.h): the value
 * of preload-dispvm-max, the memory a preload may take, the wait after failed preloads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>

#include "host-memory.h"
#include "preload-plan.h"

static void test_parse_good(void **state)
{
	static const struct {
		const char *in;
		unsigned out;
	} cases[] = {{NULL, 0}, {"", 0}, {"0", 0}, {"1", 1}, {"2", 2}, {"016", 16}, {"16", 16}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned n = 99;
		const char *why = NULL;
		assert_int_equal(preload_max_parse(cases[i].in, &n, &why), 0);
		assert_int_equal(n, cases[i].out);
	}
}

static void test_parse_bad(void **state)
{
	static const struct {
		const char *in;
		int r;
	} cases[] = {
	    {"-1", -EINVAL},
	    {"+1", -EINVAL},
	    {" 1", -EINVAL},
	    {"1 ", -EINVAL},
	    {"two", -EINVAL},
	    {"1.5", -EINVAL},
	    {"0x2", -EINVAL},
	    {"17", -ERANGE},
	    {"1000", -ERANGE},
	    {"99999999999999999999999999", -ERANGE},
	    {"18446744073709551617", -ERANGE},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned n = 99;
		const char *why = NULL;
		assert_int_equal(preload_max_parse(cases[i].in, &n, &why), cases[i].r);
		assert_int_equal(n, 99); /* untouched on failure */
		assert_non_null(why);
	}
}

static void test_memory(void **state)
{
	unsigned long long reserve = HOST_MEMORY_RESERVE_MIB + PRELOAD_SPARE_MIB;
	/* Exactly the reserve, the spare and the qube: admitted; a MiB less: not. */
	assert_true(preload_memory_admit((reserve + 400) * 1024, 0, 400));
	assert_false(preload_memory_admit((reserve + 399) * 1024, 0, 400));
	/* Qubes that are starting count as taken. */
	assert_false(preload_memory_admit((reserve + 400) * 1024, 1, 400));
	assert_true(preload_memory_admit((reserve + 800) * 1024, 400, 400));
	/* Less than the reserve: nothing, and no wrap-around. */
	assert_false(preload_memory_admit(1024, 0, 1));
	assert_false(preload_memory_admit(0, 100000, 0 + 1));
	/* Where a user's start would still fit, a preload does not: the spare is for users. */
	unsigned long long avail = (HOST_MEMORY_RESERVE_MIB + 400) * 1024, left;
	assert_true(memory_admit(avail, HOST_MEMORY_RESERVE_MIB, 0, 400, &left));
	assert_false(preload_memory_admit(avail, 0, 400));
}

static void test_backoff(void **state)
{
	assert_int_equal(preload_backoff_s(0), 0);
	assert_int_equal(preload_backoff_s(1), PRELOAD_BACKOFF_FIRST_S);
	assert_int_equal(preload_backoff_s(2), 2 * PRELOAD_BACKOFF_FIRST_S);
	assert_int_equal(preload_backoff_s(3), 4 * PRELOAD_BACKOFF_FIRST_S);
	assert_int_equal(preload_backoff_s(30), PRELOAD_BACKOFF_MAX_S);
	assert_int_equal(preload_backoff_s(~0u), PRELOAD_BACKOFF_MAX_S);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_good),
	    cmocka_unit_test(test_parse_bad),
	    cmocka_unit_test(test_memory),
	    cmocka_unit_test(test_backoff),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
