/* The parsers of what a qube says about its applications: the list (appmenu-list.h) and the
 * icon header (icon-rgba.h), with the hostile inputs the integration test also sends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "appmenu-list.h"
#include "base64.h"
#include "icon-rgba.h"
#include "util.h"

static int parse(const char *text, struct appmenu_list *l, const char **why)
{
	*why = NULL;
	return appmenu_list_parse(text, strlen(text), l, why);
}

static void test_list_ok(void **state)
{
	const char *text = "xterm.desktop:Type=Application\n"
			   "xterm.desktop:Name=XTerm\n"
			   "xterm.desktop:Exec=rm -rf /\n"
			   "xterm.desktop:Icon=utilities-terminal\n"
			   "a-b.desktop:Name=Ärger ☃\n"
			   "a-b.desktop:Type=Application\n"
			   "a-b.desktop:Icon=/usr/share/pixmaps/x.png\n"
			   "hidden.desktop:Type=Application\n"
			   "hidden.desktop:Name=H\n"
			   "hidden.desktop:Hidden=true\n"
			   "nodisp.desktop:Type=Application\n"
			   "nodisp.desktop:Name=N\n"
			   "nodisp.desktop:NoDisplay=true\n"
			   "link.desktop:Type=Link\n"
			   "link.desktop:Name=L\n"
			   "noname.desktop:Type=Application\n"
			   "badicon.desktop:Type=Application\n"
			   "badicon.desktop:Name=B\n"
			   "badicon.desktop:Icon=../../etc/shadow\n"
			   "\n"
			   "xterm.desktop:Name=XTerm 2";
	struct appmenu_list l;
	const char *why;
	(void)state;

	assert_int_equal(parse(text, &l, &why), 0);
	assert_int_equal(l.n, 3);
	/* sorted by id */
	assert_string_equal(l.v[0].id, "a-b.desktop");
	assert_string_equal(l.v[0].name, "Ärger ☃");
	assert_string_equal(l.v[0].icon, "/usr/share/pixmaps/x.png");
	assert_string_equal(l.v[1].id, "badicon.desktop");
	assert_null(l.v[1].icon);
	assert_string_equal(l.v[2].id, "xterm.desktop");
	assert_string_equal(l.v[2].name, "XTerm 2"); /* the last line wins */
	assert_string_equal(l.v[2].icon, "utilities-terminal");
	appmenu_list_done(&l);

	assert_int_equal(parse("", &l, &why), 0);
	assert_int_equal(l.n, 0);
	appmenu_list_done(&l);
}

static void test_list_name_cut(void **state)
{
	char text[600];
	struct appmenu_list l;
	const char *why;
	(void)state;

	/* 127 ASCII bytes and a 2-byte character: the character does not fit and goes. */
	snprintf(text, sizeof(text), "x.desktop:Type=Application\nx.desktop:Name=%0127d\xc3\xa4\n",
		 0);
	assert_int_equal(parse(text, &l, &why), 0);
	assert_int_equal(strlen(l.v[0].name), 127);
	appmenu_list_done(&l);
}

static void test_list_hostile(void **state)
{
	static const struct {
		const char *text;
		int r;
	} bad[] = {
	    {"x.desktop:Name=a\x01b\n", -EINVAL},	/* control character */
	    {"x.desktop:Name=a\x1b[2Jb\n", -EINVAL},	/* escape sequence */
	    {"x.desktop:Name=\xff\xfe\n", -EINVAL},	/* not UTF-8 */
	    {"x.desktop:Name=\xc0\xaf\n", -EINVAL},	/* overlong */
	    {"x.desktop:Name=\xed\xa0\x80\n", -EINVAL}, /* surrogate */
	    {"x.desktop:Name=\xc2\x9b\n", -EINVAL},	/* C1 control */
	    {"x.desktop:Name=\xe2\x98\n", -EINVAL},	/* cut sequence */
	    {"x.desktop:Name=a\tb\n", -EINVAL},		/* tab */
	    {"x.desktop Name=a\n", -EINVAL},		/* no colon */
	    {"x.desktop:Name\n", -EINVAL},		/* no equals sign */
	    {"../x.desktop:Name=a\n", -EINVAL},		/* id outside the set */
	    {"x.exe:Name=a\n", -EINVAL},		/* not .desktop */
	    {".desktop:Name=a\n", -EINVAL},		/* empty stem */
	    {"-x.desktop:Name=a\n", -EINVAL},		/* leading dash */
	    {"a b.desktop:Name=a\n", -EINVAL},		/* space in the id */
	};
	struct appmenu_list l = {0};
	const char *why;
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(parse(bad[i].text, &l, &why), bad[i].r);
		assert_non_null(why);
		assert_null(l.v);
	}
	/* NUL inside the output */
	assert_int_equal(appmenu_list_parse("x.desktop:Name=a\0b\n", 19, &l, &why), -EINVAL);
}

static void test_list_caps(void **state)
{
	struct appmenu_list l = {0};
	const char *why;
	char *big = xmalloc(APPMENU_OUTPUT_MAX + 2);
	(void)state;

	/* a line over 1024 bytes */
	memset(big, 'a', 2000);
	memcpy(big, "x.desktop:Name=", 15);
	big[2000] = '\0';
	assert_int_equal(parse(big, &l, &why), -E2BIG);
	assert_non_null(strstr(why, "1024"));
	/* 1024 is still fine */
	big[1024] = '\0';
	assert_int_equal(parse(big, &l, &why), 0);
	appmenu_list_done(&l);

	/* 257 entries */
	size_t off = 0;
	for (int i = 0; i < 257; i++)
		off += (size_t)sprintf(big + off, "e%d.desktop:Type=Application\n", i);
	assert_int_equal(parse(big, &l, &why), -E2BIG);
	assert_non_null(strstr(why, "256"));
	/* 256 are fine */
	big[off - strlen("e256.desktop:Type=Application\n")] = '\0';
	assert_int_equal(parse(big, &l, &why), 0);
	appmenu_list_done(&l);

	/* more than the output cap */
	memset(big, '\n', APPMENU_OUTPUT_MAX + 1);
	assert_int_equal(appmenu_list_parse(big, APPMENU_OUTPUT_MAX + 1, &l, &why), -E2BIG);
	free(big);
}

static void test_ids(void **state)
{
	(void)state;
	assert_true(appmenu_id_valid("org.gnome.Nautilus.desktop"));
	assert_true(appmenu_id_valid("firefox-esr.desktop"));
	assert_false(appmenu_id_valid("firefox-esr"));
	assert_false(appmenu_id_valid("x/y.desktop"));
	assert_false(appmenu_id_valid("x;reboot.desktop"));
	assert_false(appmenu_id_valid(NULL));
	assert_true(appmenu_icon_valid("/usr/share/icons/a.png"));
	assert_false(appmenu_icon_valid("/usr/../etc/a.png"));
	assert_false(appmenu_icon_valid(""));
}

static void test_icon(void **state)
{
	uint8_t buf[ICON_RGBA_INPUT_MAX + 8];
	struct icon_rgba icon;
	const char *why;
	(void)state;

	memcpy(buf, "2 1\n12345678", 12);
	assert_int_equal(icon_rgba_parse(buf, 12, &icon, &why), 0);
	assert_int_equal(icon.width, 2);
	assert_int_equal(icon.height, 1);
	assert_ptr_equal(icon.pixels, buf + 4);
	/* short, long */
	assert_int_equal(icon_rgba_parse(buf, 11, &icon, &why), -EINVAL);
	assert_non_null(strstr(why, "short"));
	assert_int_equal(icon_rgba_parse(buf, 13, &icon, &why), -EINVAL);
	/* 64x64 is the most */
	int n = sprintf((char *)buf, "64 64\n");
	assert_int_equal(icon_rgba_parse(buf, (size_t)n + 64 * 64 * 4, &icon, &why), 0);
	static const char *const headers[] = {"65 1\n",		 "1 65\n", "0 1\n",  "1 0\n",
					      "-1 1\n",		 "01 1\n", "1  1\n", "1 1 \n",
					      "99999999999 1\n", "1\n",	   "",	     "a b\n"};
	for (size_t i = 0; i < ARRAY_SIZE(headers); i++) {
		size_t len = strlen(headers[i]);
		memcpy(buf, headers[i], len);
		memset(buf + len, 0, 8);
		why = NULL;
		assert_true(icon_rgba_parse(buf, len + 4, &icon, &why) < 0);
		assert_non_null(why);
	}
}

static void test_base64(void **state)
{
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const coded[] = {"",		"Zg==",	    "Zm8=",    "Zm9v",
					    "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	char out[16];
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(plain); i++) {
		uint8_t *dec;
		size_t len;
		base64_encode((const uint8_t *)plain[i], strlen(plain[i]), out);
		assert_string_equal(out, coded[i]);
		assert_int_equal(base64_decode(coded[i], &dec, &len), 0);
		assert_int_equal(len, strlen(plain[i]));
		assert_memory_equal(dec, plain[i], len);
		free(dec);
	}
	uint8_t *dec;
	size_t len;
	assert_int_equal(base64_decode("Zm9", &dec, &len), -EINVAL);
	assert_int_equal(base64_decode("Zm!v", &dec, &len), -EINVAL);
	assert_int_equal(base64_decode("Z=9v", &dec, &len), -EINVAL);
	assert_int_equal(base64_decode("Zg==Zg==", &dec, &len), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_list_ok),	 cmocka_unit_test(test_list_name_cut),
	    cmocka_unit_test(test_list_hostile), cmocka_unit_test(test_list_caps),
	    cmocka_unit_test(test_ids),		 cmocka_unit_test(test_icon),
	    cmocka_unit_test(test_base64),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
