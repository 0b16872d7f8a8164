/* Unit tests of a template's root revisions (vmmanager/root-revisions.c), on files in a
 * temporary directory: small files stand in for images, as only names and links change. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "root-revisions.h"
#include "util.h"

static char dir[] = "/tmp/bh-rootrev-XXXXXX";

static void put(const char *name, const char *content)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

/* The content of a file, "" when it does not exist. */
static char *get(const char *name)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
	char buf[64] = "";
	FILE *f = fopen(p, "r");
	if (f) {
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
	}
	return xstrdup(buf);
}

static void assert_file(const char *name, const char *content)
{
	_cleanup_free_ char *s = get(name);
	assert_string_equal(s, content);
}

/* The revisions as "3 2" (newest first). */
static void assert_revs(const char *expected)
{
	_cleanup_free_ unsigned *v = NULL;
	size_t n = 99;
	char buf[256] = "";
	assert_int_equal(root_rev_list(dir, &v, &n), 0);
	for (size_t i = 0; i < n; i++)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%u", i ? " " : "", v[i]);
	assert_string_equal(buf, expected);
}

static void rev_content(unsigned rev, const char *content)
{
	_cleanup_free_ char *p = root_rev_path(dir, rev);
	_cleanup_free_ char *name = xstrdup(p + strlen(dir) + 1);
	assert_file(name, content);
}

static int setup(void **state)
{
	strcpy(dir, "/tmp/bh-rootrev-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	_cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_name_parse(void **state)
{
	unsigned n = 7;
	assert_int_equal(root_rev_name_parse("1", &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(root_rev_name_parse("999999999", &n), 0);
	assert_int_equal(n, 999999999);
	static const char *const bad[] = {"",	     "0",    "01",	   "-1", "+1", "1a",
					  "1.qcow2", "../1", "1000000000", " 1", "1 ", "0x1"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(root_rev_name_parse(bad[i], &n), -EINVAL);
	assert_int_equal(root_rev_name_parse(NULL, &n), -EINVAL);
	assert_int_equal(n, 999999999); /* untouched on failure */
}

/* A qcow2 header (version v) naming backing at offset off. */
static size_t header(uint8_t *b, size_t size, uint32_t v, uint64_t off, const char *backing,
		     uint32_t len)
{
	memset(b, 0, size);
	const uint8_t magic[] = {'Q', 'F', 'I', 0xfb};
	memcpy(b, magic, 4);
	for (int i = 0; i < 4; i++)
		b[4 + i] = (uint8_t)(v >> (24 - 8 * i));
	for (int i = 0; i < 8; i++)
		b[8 + i] = (uint8_t)(off >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
		b[16 + i] = (uint8_t)(len >> (24 - 8 * i));
	if (backing && off + strlen(backing) <= size)
		memcpy(b + off, backing, strlen(backing));
	return size;
}

static void test_qcow2_header(void **state)
{
	uint8_t b[512];
	char *s = (char *)1;
	const char *name = "/var/lib/bulkhead/qubes/t/root.rev/3.qcow2";
	uint32_t len = (uint32_t)strlen(name);

	header(b, sizeof(b), 3, 112, name, len);
	assert_int_equal(qcow2_header_backing(b, sizeof(b), &s), 0);
	assert_string_equal(s, name);
	free(s);
	header(b, sizeof(b), 2, 72, name, len);
	assert_int_equal(qcow2_header_backing(b, sizeof(b), &s), 0);
	assert_string_equal(s, name);
	free(s);
	/* No backing file. */
	header(b, sizeof(b), 3, 0, NULL, 0);
	assert_int_equal(qcow2_header_backing(b, sizeof(b), &s), 0);
	assert_null(s);

	s = NULL;
	/* Not qcow2, short, unknown version. */
	header(b, sizeof(b), 3, 112, name, len);
	b[0] = 'X';
	assert_int_equal(qcow2_header_backing(b, sizeof(b), &s), -EBADMSG);
	header(b, sizeof(b), 3, 112, name, len);
	assert_int_equal(qcow2_header_backing(b, 71, &s), -EBADMSG);
	header(b, sizeof(b), 4, 112, name, len);
	assert_int_equal(qcow2_header_backing(b, sizeof(b), &s), -EBADMSG);
	/* The name past what was read, overflowing, inside the header, empty, too long, with NUL.
	 */
	header(b, sizeof(b), 3, 500, NULL, 20);
	assert_int_equal(qcow2_header_backing(b, sizeof(b), &s), -EBADMSG);
	header(b, sizeof(b), 3, UINT64_MAX - 4, NULL, 20);
	assert_int_equal(qcow2_header_backing(b, sizeof(b), &s), -EBADMSG);
	header(b, sizeof(b), 3, 8, NULL, 20);
	assert_int_equal(qcow2_header_backing(b, sizeof(b), &s), -EBADMSG);
	header(b, sizeof(b), 3, 112, name, 0);
	assert_int_equal(qcow2_header_backing(b, sizeof(b), &s), -EBADMSG);
	header(b, sizeof(b), 3, 112, name, 1024);
	assert_int_equal(qcow2_header_backing(b, sizeof(b), &s), -EBADMSG);
	header(b, sizeof(b), 3, 112, name, len + 1);
	assert_int_equal(qcow2_header_backing(b, sizeof(b), &s), -EBADMSG);
	assert_null(s);
}

static void test_qcow2_file(void **state)
{
	uint8_t b[256];
	const char *name = "/x/root.rev/1.qcow2";
	header(b, sizeof(b), 3, 104, name, (uint32_t)strlen(name));
	_cleanup_free_ char *p = xasprintf("%s/ov.qcow2", dir);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, sizeof(b), f), sizeof(b));
	fclose(f);
	char *s = NULL;
	assert_int_equal(qcow2_file_backing(p, &s), 0);
	assert_string_equal(s, name);
	free(s);
	_cleanup_free_ char *missing = xasprintf("%s/none.qcow2", dir);
	assert_int_equal(qcow2_file_backing(missing, &s), -ENOENT);
}

static void test_no_revisions(void **state)
{
	unsigned *v = NULL;
	size_t n = 5;
	put("root.qcow2", "A");
	assert_revs("");
	assert_int_equal(root_rev_commit(dir), 0); /* no root-next: nothing */
	assert_int_equal(root_rev_revert(dir, 1), -ENOENT);
	assert_int_equal(root_rev_prune(dir, 0, NULL, 0, NULL), 0);
	assert_file("root.qcow2", "A");
	assert_int_equal(root_rev_list(dir, &v, &n), 0);
	assert_int_equal(n, 0);
	free(v);
}

/* Template updates: each commit keeps the replaced root; prune keeps the newest ones. */
static void test_commit_and_prune(void **state)
{
	put("root.qcow2", "A");
	put(ROOT_NEXT, "B");
	assert_int_equal(root_rev_commit(dir), 1);
	assert_file("root.qcow2", "B");
	assert_file(ROOT_NEXT, "");
	assert_revs("1");
	rev_content(1, "A");
	put(ROOT_NEXT, "C");
	assert_int_equal(root_rev_commit(dir), 1);
	put(ROOT_NEXT, "D");
	assert_int_equal(root_rev_commit(dir), 1);
	assert_revs("3 2 1");
	rev_content(3, "C");
	rev_content(2, "B");
	assert_file("root.qcow2", "D");

	assert_int_equal(root_rev_prune(dir, 2, NULL, 0, NULL), 0);
	assert_revs("3 2");
	assert_int_equal(root_rev_prune(dir, 0, NULL, 0, NULL), 0);
	assert_revs("");
	assert_file("root.qcow2", "D");
}

/* An overlay's base stays while a qube uses it, whatever the count; it goes once unused. */
static void test_in_use(void **state)
{
	_cleanup_free_ char *base = NULL, *again = NULL;
	size_t deferred = 9;

	put("root.qcow2", "A");
	assert_int_equal(root_rev_current(dir, &base), 0);
	assert_int_equal(root_rev_current(dir, &again), 0);
	assert_string_equal(base, again); /* one name per root */
	assert_revs("");		  /* the current root is no revision */
	put(ROOT_NEXT, "B");
	assert_int_equal(root_rev_commit(dir), 1);
	assert_revs("2");
	const char *use[] = {base};
	assert_int_equal(root_rev_prune(dir, 0, use, 1, &deferred), 0);
	assert_int_equal(deferred, 1);
	assert_revs("2");
	_cleanup_free_ char *n = get(base + strlen(dir) + 1);
	assert_string_equal(n, "A"); /* still what the qube started with */
	assert_int_equal(root_rev_prune(dir, 0, NULL, 0, &deferred), 0);
	assert_int_equal(deferred, 0);
	assert_revs("");
	struct stat st;
	assert_int_equal(stat(base, &st), -1); /* every name of it went */
	/* The current root's own name is never pruned. */
	_cleanup_free_ char *cur = NULL;
	assert_int_equal(root_rev_current(dir, &cur), 0);
	assert_int_equal(root_rev_prune(dir, 0, NULL, 0, NULL), 0);
	assert_int_equal(stat(cur, &st), 0);
}

/* Revert swaps: the replaced root becomes the newest revision, so a revert can be undone, and a
 * later update makes the reverted-to root the newest revision again. */
static void test_revert(void **state)
{
	put("root.qcow2", "A");
	put(ROOT_NEXT, "B");
	assert_int_equal(root_rev_commit(dir), 1);
	put(ROOT_NEXT, "C");
	assert_int_equal(root_rev_commit(dir), 1);
	assert_revs("2 1");
	assert_int_equal(root_rev_revert(dir, 1), 0);
	assert_file("root.qcow2", "A");
	assert_revs("3 2");
	rev_content(3, "C");
	rev_content(2, "B");
	assert_file(ROOT_REVERT_TMP, "");

	/* Bad numbers change nothing. */
	assert_int_equal(root_rev_revert(dir, 1), -ENOENT); /* that is the current root now */
	assert_int_equal(root_rev_revert(dir, 77), -ENOENT);
	assert_file("root.qcow2", "A");
	assert_revs("3 2");

	put(ROOT_NEXT, "A2");
	assert_int_equal(root_rev_commit(dir), 1);
	assert_revs("4 3 2");
	rev_content(4, "A");
	assert_int_equal(root_rev_prune(dir, 1, NULL, 0, NULL), 0);
	assert_revs("4");
	assert_int_equal(root_rev_revert(dir, 4), 0);
	assert_file("root.qcow2", "A");
	rev_content(5, "A2");
}

/* A crash between the two steps of a commit: the commit at the next start finishes it. */
static void test_commit_again(void **state)
{
	put("root.qcow2", "A");
	_cleanup_free_ char *base = NULL;
	assert_int_equal(root_rev_current(dir, &base), 0); /* as if linked, then the crash */
	put(ROOT_NEXT, "B");
	put(ROOT_COPY, "partial");
	put(ROOT_REVERT_TMP, "x");
	root_rev_remove_leftovers(dir);
	assert_file(ROOT_COPY, "");
	assert_file(ROOT_REVERT_TMP, "");
	assert_int_equal(root_rev_commit(dir), 1);
	assert_file("root.qcow2", "B");
	assert_revs("2");
	rev_content(2, "A");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_name_parse),
	    cmocka_unit_test(test_qcow2_header),
	    cmocka_unit_test_setup_teardown(test_qcow2_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_revisions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_commit_and_prune, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_in_use, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_revert, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_commit_again, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
