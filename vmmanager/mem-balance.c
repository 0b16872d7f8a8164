#include "mem-balance.h"

static uint64_t clamp_u64(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static uint64_t max_of(const struct mem_balance_qube *q)
{
	return q->max_kib > q->floor_kib ? q->max_kib : q->floor_kib;
}

/* a * b / c without overflow; c > 0 and the result fits (a * b / c <= a or b). */
static uint64_t muldiv(uint64_t a, uint64_t b, uint64_t c, bool round_up)
{
	unsigned __int128 p = (unsigned __int128)a * b;
	return (uint64_t)((p + (round_up ? c - 1 : 0)) / c);
}

uint64_t mem_balance_pref_kib(const struct mem_balance_qube *q)
{
	uint64_t max = max_of(q);

	if (!q->has_stats)
		return clamp_u64(q->cur_kib, q->floor_kib, max);
	/* Capped first: any number a guest sends must not overflow what follows. */
	uint64_t used = q->used_kib < max ? q->used_kib : max;
	return clamp_u64(used + used * 3 / 10 + MEM_BALANCE_EXTRA_KIB, q->floor_kib, max);
}

uint64_t mem_balance_held_kib(uint64_t rss_kib, uint64_t cur_kib)
{
	if (rss_kib <= MEM_BALANCE_QEMU_OVERHEAD_KIB)
		return 0;
	rss_kib -= MEM_BALANCE_QEMU_OVERHEAD_KIB;
	return rss_kib < cur_kib ? rss_kib : cur_kib;
}

uint64_t mem_balance_pool_kib(uint64_t avail_kib, uint64_t held_kib, uint64_t reserve_kib,
			      uint64_t promised_kib)
{
	uint64_t have = avail_kib + held_kib, taken = reserve_kib + promised_kib;

	if (have < avail_kib)
		have = UINT64_MAX;
	if (taken < reserve_kib)
		taken = UINT64_MAX;
	return have > taken ? have - taken : 0;
}

uint64_t mem_balance_reclaimable_kib(const struct mem_balance_qube *q, uint64_t held_kib)
{
	uint64_t pref = mem_balance_pref_kib(q);
	return held_kib > pref ? held_kib - pref : 0;
}

/* Plenty: each its preference, except where that is only a small step away from what it has,
 * and a qube coming down comes half the way at a time (a guest that swapped looks idle while
 * what it swapped out is still wanted: coming down at once and growing again would churn).
 * These gentler targets are kept only while the sum still fits. */
static void balance_enough(struct mem_balance_qube *qs, size_t n, uint64_t pool_kib)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t pref = mem_balance_pref_kib(&qs[i]);
		uint64_t cur = qs[i].cur_kib;
		bool in_range = cur >= qs[i].floor_kib && cur <= max_of(&qs[i]);
		uint64_t diff = pref > cur ? pref - cur : cur - pref;
		if (in_range && diff < MEM_BALANCE_STEP_KIB)
			qs[i].target_kib = cur;
		else if (in_range && pref < cur)
			qs[i].target_kib = cur - diff / 2;
		else
			qs[i].target_kib = pref;
		sum += qs[i].target_kib;
	}
	if (sum <= pool_kib)
		return;
	for (size_t i = 0; i < n; i++)
		qs[i].target_kib = mem_balance_pref_kib(&qs[i]);
}

static void balance_low(struct mem_balance_qube *qs, size_t n, uint64_t pool_kib)
{
	uint64_t sum_base = 0, lack = 0, slack = 0;

	/* Nobody grows yet: those above their preference come down to it. */
	for (size_t i = 0; i < n; i++) {
		uint64_t pref = mem_balance_pref_kib(&qs[i]);
		uint64_t base = clamp_u64(qs[i].cur_kib < pref ? qs[i].cur_kib : pref,
					  qs[i].floor_kib, max_of(&qs[i]));
		qs[i].target_kib = base;
		sum_base += base;
		lack += pref - base;
		slack += base - qs[i].floor_kib;
	}
	if (sum_base <= pool_kib) {
		/* What is left goes to those below their preference, in proportion to what each
		 * lacks. lack > room here, since the preferences do not fit. */
		uint64_t room = pool_kib - sum_base;
		if (lack == 0)
			return;
		for (size_t i = 0; i < n; i++) {
			uint64_t want = mem_balance_pref_kib(&qs[i]) - qs[i].target_kib;
			qs[i].target_kib += muldiv(want, room, lack, false);
		}
		return;
	}
	/* The host has less than the qubes have now: each gives up part of what it has above
	 * its floor, in proportion, rounded up so that the sum fits. */
	uint64_t excess = sum_base - pool_kib;
	for (size_t i = 0; i < n; i++) {
		uint64_t above = qs[i].target_kib - qs[i].floor_kib;
		if (slack <= excess)
			qs[i].target_kib = qs[i].floor_kib;
		else
			qs[i].target_kib -= muldiv(above, excess, slack, true);
	}
}

void mem_balance(struct mem_balance_qube *qs, size_t n, uint64_t pool_kib)
{
	uint64_t sum_pref = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t pref = mem_balance_pref_kib(&qs[i]);
		sum_pref = sum_pref + pref < sum_pref ? UINT64_MAX : sum_pref + pref;
	}
	if (sum_pref <= pool_kib)
		balance_enough(qs, n, pool_kib);
	else
		balance_low(qs, n, pool_kib);
}
