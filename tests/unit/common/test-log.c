/* Unit tests of the escaping of qube strings for the log and of the log rate limit
 * (common/log.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"

static void expect_escape(const char *in, const char *want)
{
	char buf[LOG_ESCAPE_SIZE];
	assert_string_equal(log_escape(buf, sizeof(buf), in), want);
}

static void test_escape_plain(void **state)
{
	expect_escape("test.Echo+arg", "test.Echo+arg");
	expect_escape("", "");
	expect_escape(NULL, "(null)");
	/* Valid UTF-8 passes as it is. */
	expect_escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
}

static void test_escape_forged_line(void **state)
{
	/* A newline cannot start a line of its own in the log. */
	expect_escape("x\nbulkheadd: info: rpc: allowed", "x\\x0abulkheadd: info: rpc: allowed");
	expect_escape("a\rb\tc\x1b[31m\x7f", "a\\x0db\\x09c\\x1b[31m\\x7f");
	/* The escape character itself is escaped, so \x0a in the input reads differently. */
	expect_escape("\\x0a", "\\x5cx0a");
}

static void test_escape_bad_utf8(void **state)
{
	expect_escape("\xff", "\\xff");
	expect_escape("\xc3", "\\xc3");				   /* truncated */
	expect_escape("\xc3(", "\\xc3(");			   /* bad continuation */
	expect_escape("\xc0\xaf", "\\xc0\\xaf");		   /* overlong '/' */
	expect_escape("\xe0\x80\xaf", "\\xe0\\x80\\xaf");	   /* overlong */
	expect_escape("\xed\xa0\x80", "\\xed\\xa0\\x80");	   /* surrogate */
	expect_escape("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"); /* above U+10FFFF */
	/* A C1 control written as valid UTF-8 stays (terminals do not act on the encoded form
	 * the way they do on the raw byte). */
	expect_escape("\xc2\x85", "\xc2\x85");
}

static void test_escape_cut(void **state)
{
	char buf[8];
	assert_string_equal(log_escape(buf, sizeof(buf), "abcdefghij"), "abcd...");
	assert_string_equal(log_escape(buf, sizeof(buf), "abcdefg"), "abcdefg");
	/* An escape is never split. */
	assert_string_equal(log_escape(buf, sizeof(buf), "ab\n\ncdef"), "ab...");
	assert_string_equal(log_escape(buf, sizeof(buf), "\n\n"), "\\x0a...");
	/* Nor a character. */
	assert_string_equal(log_escape(buf, sizeof(buf), "ab\xe2\x82\xac\xe2\x82\xac"), "ab...");
	char tiny[3];
	assert_string_equal(log_escape(tiny, sizeof(tiny), "abc"), "");
	assert_string_equal(log_escape(tiny, sizeof(tiny), "ab"), "ab");
	/* A long hostile string fills the buffer and no more. */
	char big[3000];
	memset(big, '\n', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	char out[LOG_ESCAPE_SIZE];
	log_escape(out, sizeof(out), big);
	assert_true(strlen(out) < sizeof(out));
	assert_null(strchr(out, '\n'));
	assert_string_equal(out + strlen(out) - 3, "...");
}

static void test_escape_macro(void **state)
{
	char line[2 * LOG_ESCAPE_SIZE];
	snprintf(line, sizeof(line), "%s|%s", LOG_ESC("a\nb"), LOG_ESC("c\nd"));
	assert_string_equal(line, "a\\x0ab|c\\x0ad");
}

static void test_ratelimit(void **state)
{
	struct log_ratelimit rl = {0};
	unsigned suppressed = 99;
	uint64_t t = 1000000;

	/* The first five lines of a window pass, reporting nothing held back. */
	for (int i = 0; i < 5; i++) {
		assert_true(log_ratelimit_allow(&rl, 5, 10000, t + (uint64_t)i, &suppressed));
		assert_int_equal(suppressed, 0);
	}
	/* The rest of the window is held back and counted. */
	for (int i = 0; i < 37; i++)
		assert_false(
		    log_ratelimit_allow(&rl, 5, 10000, t + 100 + (uint64_t)i, &suppressed));
	assert_false(log_ratelimit_allow(&rl, 5, 10000, t + 9999, &suppressed));
	/* The next window passes again and says how many were held back, once. */
	assert_true(log_ratelimit_allow(&rl, 5, 10000, t + 10000, &suppressed));
	assert_int_equal(suppressed, 38);
	assert_true(log_ratelimit_allow(&rl, 5, 10000, t + 10001, &suppressed));
	assert_int_equal(suppressed, 0);
	/* A clock that goes back starts a new window instead of silencing the source. */
	struct log_ratelimit back = {0};
	for (int i = 0; i < 6; i++)
		log_ratelimit_allow(&back, 5, 10000, t, &suppressed);
	assert_true(log_ratelimit_allow(&back, 5, 10000, t - 1, &suppressed));
	assert_int_equal(suppressed, 1);
}

static void test_ratelimit_sources_apart(void **state)
{
	/* Each source has its own limit: one flooding qube does not silence another. */
	struct log_ratelimit a = {0}, b = {0};
	unsigned s;
	for (int i = 0; i < 100; i++)
		log_ratelimit_allow(&a, 5, 10000, 500, &s);
	assert_true(log_ratelimit_allow(&b, 5, 10000, 500, &s));
	assert_int_equal(s, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escape_plain),
	    cmocka_unit_test(test_escape_forged_line),
	    cmocka_unit_test(test_escape_bad_utf8),
	    cmocka_unit_test(test_escape_cut),
	    cmocka_unit_test(test_escape_macro),
	    cmocka_unit_test(test_ratelimit),
	    cmocka_unit_test(test_ratelimit_sources_apart),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
