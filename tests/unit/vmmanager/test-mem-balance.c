/* Unit tests of the memory balancer's arithmetic (vmmanager/mem-balance.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "mem-balance.h"

#define MIB 1024ull

static struct mem_balance_qube qube(uint64_t floor_mib, uint64_t max_mib, uint64_t cur_mib,
				    int64_t used_mib)
{
	return (struct mem_balance_qube){
	    .floor_kib = floor_mib * MIB,
	    .max_kib = max_mib * MIB,
	    .cur_kib = cur_mib * MIB,
	    .has_stats = used_mib >= 0,
	    .used_kib = used_mib >= 0 ? (uint64_t)used_mib * MIB : 0,
	};
}

static uint64_t sum_targets(const struct mem_balance_qube *qs, size_t n)
{
	uint64_t s = 0;
	for (size_t i = 0; i < n; i++)
		s += qs[i].target_kib;
	return s;
}

static void test_pref(void **state)
{
	struct mem_balance_qube q = qube(256, 1024, 256, 100);

	/* 100 * 1.3 + 100 = 230 MiB: below the floor. */
	assert_true(mem_balance_pref_kib(&q) == 256 * MIB);
	q.used_kib = 500 * MIB; /* 650 + 100 */
	assert_true(mem_balance_pref_kib(&q) == 750 * MIB);
	q.used_kib = 900 * MIB; /* 1270: capped at max */
	assert_true(mem_balance_pref_kib(&q) == 1024 * MIB);
	/* No report: it keeps what it has, within [floor, max]. */
	q = qube(256, 1024, 600, -1);
	assert_true(mem_balance_pref_kib(&q) == 600 * MIB);
	q.cur_kib = 100 * MIB;
	assert_true(mem_balance_pref_kib(&q) == 256 * MIB);
	q.cur_kib = 5000 * MIB;
	assert_true(mem_balance_pref_kib(&q) == 1024 * MIB);
	/* A max below the floor counts as the floor. */
	q = qube(400, 100, 400, 1000);
	assert_true(mem_balance_pref_kib(&q) == 400 * MIB);
}

static void test_pref_lies(void **state)
{
	/* Whatever a guest reports, its preference stays within [floor, max], no overflow. */
	struct mem_balance_qube q = qube(256, 4000, 256, 0);
	q.used_kib = UINT64_MAX;
	assert_true(mem_balance_pref_kib(&q) == 4000 * MIB);
	q.used_kib = UINT64_MAX / 13 * 10 + 7;
	assert_true(mem_balance_pref_kib(&q) == 4000 * MIB);
	q.used_kib = 0;
	assert_true(mem_balance_pref_kib(&q) == 256 * MIB);
}

static void test_held_and_pool(void **state)
{
	uint64_t o = MEM_BALANCE_QEMU_OVERHEAD_KIB;

	assert_true(mem_balance_held_kib(0, 400 * MIB) == 0);
	assert_true(mem_balance_held_kib(o, 400 * MIB) == 0);
	assert_true(mem_balance_held_kib(o + 100 * MIB, 400 * MIB) == 100 * MIB);
	/* A guest using more than its target is not counted beyond it. */
	assert_true(mem_balance_held_kib(o + 900 * MIB, 400 * MIB) == 400 * MIB);

	assert_true(mem_balance_pool_kib(4096 * MIB, 1000 * MIB, 1024 * MIB, 0) == 4072 * MIB);
	assert_true(mem_balance_pool_kib(4096 * MIB, 0, 1024 * MIB, 400 * MIB) == 2672 * MIB);
	/* Less than the reserve: nothing, and nothing wraps. */
	assert_true(mem_balance_pool_kib(512 * MIB, 0, 1024 * MIB, 0) == 0);
	assert_true(mem_balance_pool_kib(UINT64_MAX, UINT64_MAX, 0, 0) == UINT64_MAX);
	assert_true(mem_balance_pool_kib(1, 0, UINT64_MAX, UINT64_MAX) == 0);
}

static void test_reclaimable(void **state)
{
	/* Holds 900, prefers 256: 644 come back. */
	struct mem_balance_qube q = qube(256, 4000, 1000, 10);
	assert_true(mem_balance_reclaimable_kib(&q, 900 * MIB) == 644 * MIB);
	assert_true(mem_balance_reclaimable_kib(&q, 100 * MIB) == 0);
	/* A qube that claims to use everything gives nothing back: it cannot make a start
	 * count on memory it will not give. */
	q.used_kib = UINT64_MAX;
	assert_true(mem_balance_reclaimable_kib(&q, 900 * MIB) == 0);
	/* One that has not reported keeps what it has. */
	q = qube(256, 4000, 1000, -1);
	assert_true(mem_balance_reclaimable_kib(&q, 900 * MIB) == 0);
}

static void test_enough(void **state)
{
	struct mem_balance_qube qs[] = {
	    qube(256, 1024, 256, 500), /* under pressure: 750 */
	    qube(256, 1024, 900, 20),  /* idle, had grown: half the way back to its floor */
	    qube(400, 4000, 400, 50),  /* idle at its floor: stays */
	    qube(256, 1024, 700, 460), /* 698 MiB: within a step of what it has, stays */
	    qube(300, 1024, 500, -1),  /* no report: keeps what it has */
	};

	mem_balance(qs, 5, 8192 * MIB);
	assert_true(qs[0].target_kib == 750 * MIB);
	assert_true(qs[1].target_kib == 578 * MIB);
	assert_true(qs[2].target_kib == 400 * MIB);
	assert_true(qs[3].target_kib == 700 * MIB);
	/* Pass after pass it gets there. */
	for (int pass = 0; pass < 10; pass++) {
		qs[1].cur_kib = qs[1].target_kib;
		mem_balance(qs, 5, 8192 * MIB);
	}
	assert_true(qs[1].target_kib < 256 * MIB + MEM_BALANCE_STEP_KIB);
	/* With a pool that only holds the preferences, it comes down at once. */
	qs[1].cur_kib = 900 * MIB;
	mem_balance(qs, 5, (750 + 256 + 400 + 698 + 500) * MIB);
	assert_true(qs[1].target_kib == 256 * MIB);
	assert_true(qs[4].target_kib == 500 * MIB);
}

static void test_enough_step_kept_only_if_it_fits(void **state)
{
	/* 698 preferred, 710 held: the small step would be skipped, but the pool is exactly the
	 * preferences, so it is taken. */
	struct mem_balance_qube qs[] = {qube(256, 1024, 710, 460), qube(256, 1024, 256, 500)};

	mem_balance(qs, 2, 698 * MIB + 750 * MIB);
	assert_true(qs[0].target_kib == 698 * MIB);
	assert_true(qs[1].target_kib == 750 * MIB);
}

static void test_low_donors_then_acceptors(void **state)
{
	/* Preferences 1400 + 256 + 1400 = 3056 MiB, pool 2000. The idle one comes down to its
	 * floor; the two growing ones share what is left (2000 - 256 - 600 - 400 = 744) in
	 * proportion to what each lacks (800 and 1000). */
	struct mem_balance_qube qs[] = {
	    qube(256, 4000, 600, 1000),
	    qube(256, 4000, 900, 10),
	    qube(256, 4000, 400, 1000),
	};

	mem_balance(qs, 3, 2000 * MIB);
	assert_true(qs[1].target_kib == 256 * MIB);
	assert_true(qs[0].target_kib == 600 * MIB + 744 * MIB * 800 / 1800);
	assert_true(qs[2].target_kib == 400 * MIB + 744 * MIB * 1000 / 1800);
	assert_true(sum_targets(qs, 3) <= 2000 * MIB);
}

static void test_low_shrink_in_proportion(void **state)
{
	/* The host lost memory: the qubes hold 1000 + 600 above floors 256 + 256, the pool is
	 * 1200; 400 MiB must go, taken in proportion to 744 and 344. */
	struct mem_balance_qube qs[] = {qube(256, 4000, 1000, 2000), qube(256, 4000, 600, 2000)};

	mem_balance(qs, 2, 1200 * MIB);
	assert_true(sum_targets(qs, 2) <= 1200 * MIB);
	assert_true(sum_targets(qs, 2) >= 1200 * MIB - 2);
	assert_true(qs[0].target_kib < 1000 * MIB && qs[0].target_kib > 700 * MIB);
	assert_true(qs[1].target_kib < 600 * MIB && qs[1].target_kib > 400 * MIB);
	/* Less than the floors: all at their floors, never below. */
	mem_balance(qs, 2, 100 * MIB);
	assert_true(qs[0].target_kib == 256 * MIB);
	assert_true(qs[1].target_kib == 256 * MIB);
	mem_balance(qs, 2, 0);
	assert_true(qs[0].target_kib == 256 * MIB);
	assert_true(qs[1].target_kib == 256 * MIB);
}

static void test_liar(void **state)
{
	/* The first qube claims to use everything there is. It gets its max when there is room
	 * for it, never more; the honest ones get their preferences. */
	struct mem_balance_qube qs[] = {
	    qube(256, 2048, 256, 0),
	    qube(256, 4000, 256, 1000),
	    qube(400, 4000, 400, 10),
	};
	qs[0].used_kib = UINT64_MAX;

	mem_balance(qs, 3, 100000 * MIB);
	assert_true(qs[0].target_kib == 2048 * MIB);
	assert_true(qs[1].target_kib == 1400 * MIB);
	assert_true(qs[2].target_kib == 400 * MIB);

	/* Tight: it had been given its max. The honest idle one keeps its floor, the growing
	 * one what it had; the liar gives up what the pool lacks. */
	qs[0].cur_kib = 2048 * MIB;
	qs[1].cur_kib = 1400 * MIB;
	mem_balance(qs, 3, 2500 * MIB);
	assert_true(sum_targets(qs, 3) <= 2500 * MIB);
	assert_true(qs[2].target_kib == 400 * MIB);
	assert_true(qs[0].target_kib >= 256 * MIB && qs[0].target_kib < 2048 * MIB);
	assert_true(qs[1].target_kib >= 256 * MIB);
	/* Even with nothing left, nobody goes below its floor, the liar no higher than max. */
	mem_balance(qs, 3, 0);
	assert_true(qs[0].target_kib == 256 * MIB);
	assert_true(qs[1].target_kib == 256 * MIB);
	assert_true(qs[2].target_kib == 400 * MIB);
}

/* Random cases, the liar's report varied over extremes: the bounds always hold. */
static void test_invariants(void **state)
{
	static const uint64_t lies[] = {0, 1, 1000 * MIB, UINT64_MAX / 2, UINT64_MAX};
	struct mem_balance_qube qs[8];

	srandom(10);
	for (int round = 0; round < 2000; round++) {
		size_t n = 1 + (size_t)(random() % 8);
		uint64_t pool = (uint64_t)(random() % 20000) * MIB, sum_floor = 0;
		for (size_t i = 0; i < n; i++) {
			uint64_t floor = 32 + (uint64_t)(random() % 1000);
			uint64_t max = floor + (uint64_t)(random() % 4000);
			uint64_t cur = 32 + (uint64_t)(random() % 5000);
			qs[i] =
			    qube(floor, max, cur, random() % 4 ? (int64_t)(random() % 5000) : -1);
			sum_floor += qs[i].floor_kib;
		}
		for (size_t l = 0; l < sizeof(lies) / sizeof(lies[0]); l++) {
			qs[0].has_stats = true;
			qs[0].used_kib = lies[l];
			mem_balance(qs, n, pool);
			for (size_t i = 0; i < n; i++) {
				assert_true(qs[i].target_kib >= qs[i].floor_kib);
				assert_true(qs[i].target_kib <= qs[i].max_kib);
			}
			if (sum_floor <= pool)
				assert_true(sum_targets(qs, n) <= pool);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pref),
	    cmocka_unit_test(test_pref_lies),
	    cmocka_unit_test(test_held_and_pool),
	    cmocka_unit_test(test_reclaimable),
	    cmocka_unit_test(test_enough),
	    cmocka_unit_test(test_enough_step_kept_only_if_it_fits),
	    cmocka_unit_test(test_low_donors_then_acceptors),
	    cmocka_unit_test(test_low_shrink_in_proportion),
	    cmocka_unit_test(test_liar),
	    cmocka_unit_test(test_invariants),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
