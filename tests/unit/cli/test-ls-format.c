/*
 * Golden-file tests of the `bulkhead ls` table (cli/ls-format.c), fed with fixed JSON as
 * admin.vm.List returns it. Run with BULKHEAD_UPDATE_GOLDEN=1 to rewrite the golden files after
 * an intended change (and review the diff).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ls-format.h"
#include "util.h"

static const char *golden_dir;

static const char typical[] =
    "[{\"name\":\"dom0\",\"class\":\"AdminVM\",\"state\":\"Running\",\"label\":\"black\"},"
    "{\"name\":\"debian-12\",\"class\":\"TemplateVM\",\"state\":\"Halted\",\"label\":\"black\","
    "\"template\":null,\"netvm\":null,\"memory\":400,\"features\":{}},"
    "{\"name\":\"sys-net\",\"class\":\"AppVM\",\"state\":\"Running\",\"label\":\"red\","
    "\"template\":\"debian-12\",\"netvm\":null,\"memory\":400,\"ip\":\"10.137.0.1\","
    "\"netvm_effective\":null,\"features\":{\"servicevm\":\"1\"}},"
    "{\"name\":\"sys-firewall\",\"class\":\"AppVM\",\"state\":\"Running\",\"label\":\"green\","
    "\"template\":\"debian-12\",\"netvm\":\"sys-net\",\"memory\":300,"
    "\"memory_current\":1536,\"netvm_effective\":\"sys-net\",\"ip\":\"10.137.0.2\"},"
    "{\"name\":\"work\",\"class\":\"AppVM\",\"state\":\"Paused\",\"label\":\"blue\","
    "\"template\":\"debian-12\",\"netvm\":\"sys-firewall\",\"memory\":4000},"
    "{\"name\":\"personal\",\"class\":\"AppVM\",\"state\":\"Transient\",\"label\":\"yellow\","
    "\"template\":\"debian-12\",\"netvm\":\"\",\"memory\":400},"
    "{\"name\":\"vault\",\"class\":\"StandaloneVM\",\"state\":\"Halted\",\"label\":\"purple\","
    "\"memory\":400},"
    "{\"name\":\"disp1234\",\"class\":\"DispVM\",\"state\":\"Running\",\"label\":\"orange\","
    "\"template\":\"dvm-template\",\"netvm\":\"sys-firewall\",\"memory\":400},"
    "{\"name\":\"untrusted\",\"class\":\"AppVM\",\"state\":\"Halted\",\"label\":\"gray\","
    "\"template\":\"debian-12\",\"netvm\":null,\"memory\":400,"
    "\"netvm_effective\":\"sys-firewall\",\"ip\":\"10.137.1.23\"},"
    "{\"name\":\"odd\",\"class\":\"AppVM\",\"state\":\"Halted\",\"label\":\"pink\","
    "\"template\":\"debian-12\",\"netvm\":null,\"memory\":400},"
    "{\"name\":\"sys-usb\",\"class\":\"AppVM\",\"state\":\"Halted\",\"label\":\"red\","
    "\"template\":\"debian-12\",\"netvm\":null,\"memory\":300,"
    "\"features\":{\"internal\":\"1\"}},"
    "{\"name\":\"tpl-hidden\",\"class\":\"TemplateVM\",\"state\":\"Halted\","
    "\"label\":\"black\",\"memory\":400,\"features\":{\"internal\":\"1\"}},"
    "{\"name\":\"not-internal\",\"class\":\"AppVM\",\"state\":\"Halted\",\"label\":\"blue\","
    "\"template\":\"debian-12\",\"memory\":400,\"features\":{\"internal\":\"0\"}}]";

static const char wide[] =
    "[{\"name\":\"dom0\",\"class\":\"AdminVM\",\"state\":\"Running\",\"label\":\"black\"},"
    "{\"name\":\"abcdefghijabcdefghijabcdefghija\",\"class\":\"StandaloneVM\","
    "\"state\":\"Halted\",\"label\":\"green\",\"memory\":123456},"
    "{\"name\":\"x\",\"class\":\"AppVM\",\"state\":\"Running\",\"label\":\"blue\","
    "\"template\":\"a-very-long-template-name-indeed\",\"netvm\":\"x\",\"memory\":1},"
    /* Text a terminal would act on is shown as '?'; UTF-8 counts one column per character. */
    "{\"name\":\"esc\\u001b[2Jape\",\"class\":\"AppVM\",\"state\":\"Halted\","
    "\"label\":\"red\",\"template\":\"t\\u00e9l\\u00e9\",\"memory\":400}]";

static struct json_object *parse(const char *s)
{
	struct json_object *o = json_tokener_parse(s);
	assert_non_null(o);
	return o;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t size = 0;
	FILE *m = open_memstream(&buf, &size);
	int c;
	while ((c = fgetc(f)) != EOF)
		fputc(c, m);
	fclose(f);
	fclose(m);
	return buf;
}

static void check_golden(const char *name, const char *text)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", golden_dir, name);
	const char *update = getenv("BULKHEAD_UPDATE_GOLDEN");
	if (update && *update) {
		FILE *f = fopen(path, "we");
		assert_non_null(f);
		fputs(text, f);
		fclose(f);
		return;
	}
	_cleanup_free_ char *want = read_file(path);
	if (!want)
		fail_msg("missing golden file %s", path);
	if (!streq(want, text)) {
		print_error("--- %s (expected)\n%s--- got\n%s", path, want, text);
		fail_msg("%s differs", name);
	}
}

static void check_table(const char *golden, struct json_object *qubes, enum ls_colour colour)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *m = open_memstream(&buf, &size);
	assert_non_null(m);
	assert_int_equal(ls_format(qubes, m, colour), 0);
	fclose(m);
	check_golden(golden, buf);
	free(buf);
}

static void test_plain(void **state)
{
	struct json_object *all = parse(typical);
	check_table("ls-plain-all.txt", all, LS_COLOUR_NONE);
	json_object_put(all);
}

static void test_filter_internal(void **state)
{
	struct json_object *all = parse(typical);
	struct json_object *shown = ls_filter(all, false, NULL);
	/* sys-usb and tpl-hidden are internal; not-internal has internal=0 and stays. */
	assert_int_equal(json_object_array_length(shown), json_object_array_length(all) - 2);
	check_table("ls-plain.txt", shown, LS_COLOUR_NONE);
	json_object_put(shown);

	shown = ls_filter(all, true, "TemplateVM");
	assert_int_equal(json_object_array_length(shown), 2);
	check_table("ls-templates.txt", shown, LS_COLOUR_NONE);
	json_object_put(shown);
	json_object_put(all);
}

static void test_colour(void **state)
{
	struct json_object *all = parse(typical);
	struct json_object *shown = ls_filter(all, false, NULL);
	check_table("ls-colour-24bit.txt", shown, LS_COLOUR_24BIT);
	check_table("ls-colour-8.txt", shown, LS_COLOUR_8);
	json_object_put(shown);
	json_object_put(all);
}

static void test_wide(void **state)
{
	struct json_object *q = parse(wide);
	check_table("ls-wide.txt", q, LS_COLOUR_NONE);
	json_object_put(q);
}

/* Preloaded disposables show it in STATE: "Preloaded" when they wait paused, "Preloading"
 * while they boot; a disposable in use (no "preloaded") shows its own state. */
static void test_preloaded(void **state)
{
	struct json_object *q = parse(
	    "[{\"name\":\"disp12\",\"class\":\"DispVM\",\"state\":\"Paused\",\"label\":\"red\","
	    "\"template\":\"dvm\",\"memory\":400,\"preloaded\":true},"
	    "{\"name\":\"disp345\",\"class\":\"DispVM\",\"state\":\"Transient\","
	    "\"label\":\"red\",\"template\":\"dvm\",\"memory\":400,\"preloaded\":true},"
	    "{\"name\":\"disp6\",\"class\":\"DispVM\",\"state\":\"Running\",\"label\":\"red\","
	    "\"template\":\"dvm\",\"memory\":400},"
	    "{\"name\":\"work\",\"class\":\"AppVM\",\"state\":\"Paused\",\"label\":\"blue\","
	    "\"template\":\"debian-12\",\"memory\":400,\"preloaded\":false}]");
	check_table("ls-preloaded.txt", q, LS_COLOUR_NONE);
	json_object_put(q);
}

static void test_empty(void **state)
{
	struct json_object *q = parse("[]");
	check_table("ls-empty.txt", q, LS_COLOUR_NONE);
	json_object_put(q);
}

static void test_not_a_list(void **state)
{
	struct json_object *o = parse("{\"name\":\"work\"}");
	FILE *m = fopen("/dev/null", "we");
	assert_int_equal(ls_format(o, m, LS_COLOUR_NONE), -EINVAL);
	fclose(m);
	json_object_put(o);
	/* Entries that are not objects are skipped, not printed as empty rows. */
	o = parse("[1, \"x\", null, {\"name\":\"a\",\"state\":\"Halted\"}]");
	char *buf = NULL;
	size_t size = 0;
	m = open_memstream(&buf, &size);
	assert_int_equal(ls_format(o, m, LS_COLOUR_NONE), 0);
	fclose(m);
	assert_string_equal(buf, "NAME  STATE   CLASS  LABEL  TEMPLATE  NETVM  IP  MEMORY\n"
				 "a     Halted  -      -      -         -      -   -\n");
	free(buf);
	json_object_put(o);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s GOLDEN_DIR\n", argv[0]);
		return 2;
	}
	golden_dir = argv[1];
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain),     cmocka_unit_test(test_filter_internal),
	    cmocka_unit_test(test_colour),    cmocka_unit_test(test_wide),
	    cmocka_unit_test(test_empty),     cmocka_unit_test(test_not_a_list),
	    cmocka_unit_test(test_preloaded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
