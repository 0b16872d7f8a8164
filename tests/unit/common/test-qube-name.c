/* Unit tests of the one qube name rule (common/qube-name.c) that bulkheadd, the compositor, the
 * Wayland proxy and the tools inside qubes share. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "qube-name.h"
#include "util.h"

static void refused(const char *name, const char *why)
{
	const char *reason = NULL;

	assert_int_equal(qube_name_check(name, &reason), -EINVAL);
	assert_non_null(reason);
	if (why)
		assert_string_equal(reason, why);
}

static void test_good(void **state)
{
	static const char *const good[] = {
	    "a",       "work",	"Work-2", "sys-net", "debian-12.minimal", "x_y",
	    "a.b-c_d", "dom0x", "Dom0",	  "DOM0",    "nonexistent",	  "defaults",
	    "a-dmz",   "dm",	"a-d",	  "z9",
	};
	const char *reason = "untouched";

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		assert_int_equal(qube_name_check(good[i], &reason), 0);
		assert_int_equal(qube_name_check_len(good[i], strlen(good[i]), NULL), 0);
	}
	/* Success leaves the reason alone. */
	assert_string_equal(reason, "untouched");
}

static void test_length(void **state)
{
	char name[64];

	memset(name, 'a', sizeof(name));
	name[31] = '\0';
	assert_int_equal(qube_name_check(name, NULL), 0);
	name[31] = 'a';
	name[32] = '\0';
	refused(name, "name is longer than 31 characters");
	/* No terminator within reach: strnlen stops at 32, nothing past it is read. */
	assert_int_equal(qube_name_check_len(name, 31, NULL), 0);
	assert_int_equal(qube_name_check_len(name, 32, NULL), -EINVAL);
	refused("", "name is empty");
	assert_int_equal(qube_name_check(NULL, NULL), -EINVAL);
	assert_int_equal(qube_name_check_len(NULL, 4, NULL), -EINVAL);
	assert_int_equal(qube_name_check_len("work", 0, NULL), -EINVAL);
}

static void test_first_character(void **state)
{
	static const char *const bad[] = {"1work",    "9",     ".",  "..", ".tmp-x",
					  ".trash-y", "-work", "_x", " x"};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		refused(bad[i], "name must start with a letter");
}

static void test_characters(void **state)
{
	static const char *const bad[] = {
	    "wo rk",  "wo/rk", "work\n", "x;y",	 "a:b",
	    "a@b",    "a+b",   "a*",	 "a\\b", "uuid:6f1b0c2e-0d6e-4b1c-9a55-1e2f3a4b5c6d",
	    "work\t", "a\x7f",
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		refused(bad[i], NULL);
	refused("uuid:1234", "name may contain only letters, digits, '_', '.' and '-'");
	/* Non-ASCII: UTF-8 letters are not letters here, whatever the locale says. */
	refused("w\xc3\xb6rk", "name may contain only letters, digits, '_', '.' and '-'");
	refused("\xc3\xa9t\xc3\xa9", "name must start with a letter");
	refused("a\xff", NULL);
	/* A NUL within the counted bytes is refused, not taken as the end. */
	assert_int_equal(qube_name_check_len("ab\0cd", 5, NULL), -EINVAL);
}

static void test_reserved(void **state)
{
	static const char *const bad[] = {"dom0", "none", "default"};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		refused(bad[i], "name is reserved");
		assert_int_equal(qube_name_check_len(bad[i], strlen(bad[i]), NULL), -EINVAL);
	}
	/* Only the whole name: a prefix of counted bytes is its own name. */
	assert_int_equal(qube_name_check_len("dom0x", 4, NULL), -EINVAL);
	assert_int_equal(qube_name_check_len("dom0x", 3, NULL), 0);
	refused("sys-net-dm", "names ending in \"-dm\" are reserved");
	refused("a-dm", "names ending in \"-dm\" are reserved");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),
	    cmocka_unit_test(test_length),
	    cmocka_unit_test(test_first_character),
	    cmocka_unit_test(test_characters),
	    cmocka_unit_test(test_reserved),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
