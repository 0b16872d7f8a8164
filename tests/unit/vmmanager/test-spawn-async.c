/* Unit tests of running helper programs from libvirt's event loop (vmmanager/spawn-async.c):
 * real children, the real default event loop of libvirt (no connection needed). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libvirt/libvirt.h>

#include "spawn-async.h"

struct result {
	bool done;
	int calls;
	int status;
	char output[256];
};

static void on_done(int status, const char *output, void *userdata)
{
	struct result *r = userdata;
	r->done = true;
	r->calls++;
	r->status = status;
	snprintf(r->output, sizeof(r->output), "%s", output);
}

/* Runs the loop until every result is done (each child ends on its own). */
static void run_until_done(struct result *rs, size_t n)
{
	for (;;) {
		bool all = true;
		for (size_t i = 0; i < n; i++)
			all &= rs[i].done;
		if (all)
			return;
		assert_int_equal(virEventRunDefaultImpl(), 0);
	}
}

static void test_status_and_output(void **state)
{
	struct result r[3] = {0};
	const char *ok[] = {"true", NULL};
	const char *fails[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
	const char *killed[] = {"sh", "-c", "kill -9 $$", NULL};

	assert_int_equal(spawn_async(ok, on_done, &r[0]), 0);
	assert_int_equal(spawn_async(fails, on_done, &r[1]), 0);
	assert_int_equal(spawn_async(killed, on_done, &r[2]), 0);
	run_until_done(r, 3);
	assert_int_equal(r[0].status, 0);
	assert_string_equal(r[0].output, "");
	assert_int_equal(r[1].status, 3);
	assert_string_equal(r[1].output, "out\nerr\n");
	assert_int_equal(r[2].status, 128 + 9);
	for (int i = 0; i < 3; i++)
		assert_int_equal(r[i].calls, 1);
}

static void test_not_found(void **state)
{
	struct result r = {0};
	const char *argv[] = {"/nonexistent/program", NULL};
	/* Not started: an error now, and done is never called. */
	assert_int_equal(spawn_async(argv, on_done, &r), -ENOENT);
	assert_false(r.done);
}

static void test_large_output(void **state)
{
	struct result r = {0};
	/* More than a pipe holds: read while it runs, so the child is never stuck writing. */
	const char *argv[] = {"sh", "-c", "head -c 300000 /dev/zero | tr '\\0' x; exit 7", NULL};
	assert_int_equal(spawn_async(argv, on_done, &r), 0);
	run_until_done(&r, 1);
	assert_int_equal(r.status, 7);
	assert_int_equal(r.output[0], 'x');
}

int main(void)
{
	if (virEventRegisterDefaultImpl() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_and_output),
	    cmocka_unit_test(test_not_found),
	    cmocka_unit_test(test_large_output),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
