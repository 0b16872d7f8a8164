/* decoration_title: the rules for the text of a title bar (and the control socket's windows). */
#include "decoration.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static void title_is(const char *qube, const char *title, const char *want)
{
	char buf[DECORATION_TITLE_SIZE];
	size_t len = decoration_title(qube, title, buf, sizeof(buf));
	assert_string_equal(buf, want);
	assert_int_equal(len, strlen(want));
}

static void test_prefix(void **state)
{
	title_is("work", "Terminal", "[work] Terminal");
	title_is(NULL, "Terminal", "Terminal");
	title_is("work", NULL, "[work]");
	title_is("work", "", "[work]");
	title_is(NULL, NULL, "");
}

static void test_no_double_prefix(void **state)
{
	/* The proxy already prefixed it: shown once. */
	title_is("work", "[work] Terminal", "[work] Terminal");
	/* Another qube's name is the client's text, never a prefix of ours. */
	title_is("work", "[banking] Terminal", "[work] [banking] Terminal");
	title_is("work", "[workx] a", "[work] [workx] a");
	title_is("work", "[work]a", "[work] [work]a");
	/* Host windows are shown as they are. */
	title_is(NULL, "[work] x", "[work] x");
}

static void test_control_characters(void **state)
{
	title_is("work",
		 "a\tb\nc\x7f"
		 "d",
		 "[work] a\xef\xbf\xbd"
		 "b\xef\xbf\xbd"
		 "c\xef\xbf\xbd"
		 "d");
	/* U+0085 (C1 control), U+202E (right-to-left override), U+2028 (line separator). */
	title_is("work", "x\xc2\x85y\xe2\x80\xaez\xe2\x80\xa8",
		 "[work] x\xef\xbf\xbdy\xef\xbf\xbdz\xef\xbf\xbd");
	title_is(NULL, "a\tb",
		 "a\xef\xbf\xbd"
		 "b");
	/* Valid non-ASCII text is kept. */
	title_is("work", "caf\xc3\xa9 \xe2\x82\xac", "[work] caf\xc3\xa9 \xe2\x82\xac");
}

static void test_invalid_utf8(void **state)
{
	/* A lone continuation byte, a truncated sequence, an overlong '/', a surrogate. */
	title_is("work",
		 "a\x80"
		 "b",
		 "[work] a\xef\xbf\xbd"
		 "b");
	title_is("work", "a\xe2\x82", "[work] a\xef\xbf\xbd\xef\xbf\xbd");
	title_is("work", "\xc0\xaf", "[work] \xef\xbf\xbd\xef\xbf\xbd");
	title_is("work", "\xed\xa0\x80", "[work] \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
}

static void test_cap(void **state)
{
	char title[1000], want[DECORATION_TITLE_SIZE];
	memset(title, 'x', sizeof(title) - 1);
	title[sizeof(title) - 1] = '\0';
	strcpy(want, "[work] ");
	memset(want + 7, 'x', DECORATION_TITLE_CHARS);
	want[7 + DECORATION_TITLE_CHARS] = '\0';
	title_is("work", title, want);

	/* 300 euro signs: capped at DECORATION_TITLE_CHARS characters, not bytes. */
	char euros[300 * 3 + 1];
	for (int i = 0; i < 300; i++)
		memcpy(euros + 3 * i, "\xe2\x82\xac", 3);
	euros[900] = '\0';
	char buf[DECORATION_TITLE_SIZE];
	size_t len = decoration_title("work", euros, buf, sizeof(buf));
	assert_int_equal(len, 7 + 3 * DECORATION_TITLE_CHARS);

	/* Every character is replaced: the worst case still fits. */
	char ctl[DECORATION_TITLE_CHARS + 10];
	memset(ctl, '\x01', sizeof(ctl) - 1);
	ctl[sizeof(ctl) - 1] = '\0';
	char qube[32];
	memset(qube, 'q', 31);
	qube[31] = '\0';
	len = decoration_title(qube, ctl, buf, sizeof(buf));
	assert_int_equal(len, 1 + 31 + 2 + 3 * DECORATION_TITLE_CHARS);
}

static void test_small_buffer(void **state)
{
	char buf[12];
	/* Cut at a character boundary, never inside a sequence. */
	size_t len = decoration_title("work", "ab\xe2\x82\xac", buf, sizeof(buf));
	assert_string_equal(buf, "[work] ab");
	assert_int_equal(len, 9);
	len = decoration_title("work", "x", buf, 4);
	assert_int_equal(len, 1);
	assert_string_equal(buf, "[");
	assert_int_equal(decoration_title("work", "x", buf, 0), 0);
}

static void test_text_colour(void **state)
{
	/* Qubes' labels: white text on the dark ones, black on the light ones. */
	assert_int_equal(decoration_text_rgb(0xcc0000), 0xffffff); /* red */
	assert_int_equal(decoration_text_rgb(0xf57900), 0x000000); /* orange */
	assert_int_equal(decoration_text_rgb(0xedd400), 0x000000); /* yellow */
	assert_int_equal(decoration_text_rgb(0x73d216), 0x000000); /* green */
	assert_int_equal(decoration_text_rgb(0x555753), 0xffffff); /* gray */
	assert_int_equal(decoration_text_rgb(0x3465a4), 0xffffff); /* blue */
	assert_int_equal(decoration_text_rgb(0x75507b), 0xffffff); /* purple */
	assert_int_equal(decoration_text_rgb(0x000000), 0xffffff); /* black */
	/* The host's white frame: dark text. */
	assert_int_equal(decoration_text_rgb(0xffffff), 0x000000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_prefix),
	    cmocka_unit_test(test_no_double_prefix),
	    cmocka_unit_test(test_control_characters),
	    cmocka_unit_test(test_invalid_utf8),
	    cmocka_unit_test(test_cap),
	    cmocka_unit_test(test_small_buffer),
	    cmocka_unit_test(test_text_colour),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
