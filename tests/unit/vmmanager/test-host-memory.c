/* Unit tests of the memory admission of starts (vmmanager/host-memory.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "host-memory.h"

static const char meminfo[] = "MemTotal:       24684032 kB\n"
			      "MemFree:        23436340 kB\n"
			      "MemAvailable:   24196352 kB\n"
			      "Buffers:           35040 kB\n";

static void test_meminfo(void **state)
{
	unsigned long long kib = 0;

	assert_int_equal(meminfo_available_kib(meminfo, &kib), 0);
	assert_true(kib == 24196352ull);
	assert_int_equal(meminfo_available_kib("MemTotal: 1 kB\n", &kib), -ENODATA);
	assert_int_equal(meminfo_available_kib("", &kib), -ENODATA);
	assert_int_equal(meminfo_available_kib("MemAvailable: x kB\n", &kib), -EINVAL);
	assert_int_equal(meminfo_available_kib("MemAvailable: 12 MB\n", &kib), -EINVAL);
	assert_int_equal(meminfo_available_kib("MemAvailable: 99999999999999999999999 kB\n", &kib),
			 -EINVAL);
	/* The key must start a line. */
	assert_int_equal(meminfo_available_kib("XMemAvailable: 5 kB\n", &kib), -ENODATA);
	assert_int_equal(meminfo_available_kib("A: 1 kB\nMemAvailable:\t7 kB", &kib), 0);
	assert_true(kib == 7);
}

static void test_admit(void **state)
{
	unsigned long long left = 12345;

	/* 4096 MiB available, 1024 kept: 3072 for qubes. */
	assert_true(memory_admit(4096ull * 1024, 1024, 0, 3072, &left));
	assert_int_equal(left, 12345); /* untouched when admitted */
	assert_false(memory_admit(4096ull * 1024, 1024, 0, 3073, &left));
	assert_int_equal(left, 3072);
	/* Qubes still starting count as taken. */
	assert_false(memory_admit(4096ull * 1024, 1024, 2800, 400, &left));
	assert_int_equal(left, 272);
	/* Less than the reserve: nothing is left, and nothing wraps around. */
	assert_false(memory_admit(512ull * 1024, 1024, 0, 32, &left));
	assert_int_equal(left, 0);
	assert_false(memory_admit(0, 0, 0, 1, &left));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_meminfo),
	    cmocka_unit_test(test_admit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
