/* Golden files of the unit tests (golden.h). */
#include "golden.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "util.h"

static char *read_file(const char *path)
{
	FILE *fp = fopen(path, "re");
	char *buf = NULL;
	size_t n = 0;

	if (!fp)
		return NULL;
	if (getdelim(&buf, &n, '\0', fp) < 0) {
		free(buf);
		buf = xstrdup("");
	}
	fclose(fp);
	return buf;
}

void golden_check(const char *dir, const char *name, const char *text)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	const char *update = getenv("BULKHEAD_UPDATE_GOLDEN");

	if (update && streq(update, "1")) {
		FILE *fp = fopen(path, "we");
		assert_non_null(fp);
		fputs(text, fp);
		assert_int_equal(fclose(fp), 0);
		return;
	}
	_cleanup_free_ char *want = read_file(path);
	if (!want)
		fail_msg("cannot read %s", path);
	if (!streq(want, text)) {
		fprintf(stderr, "--- made, differs from %s:\n%s", path, text);
		fail_msg("the output differs from %s", path);
	}
}
