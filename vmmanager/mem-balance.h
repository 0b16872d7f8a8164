/*
 * The memory balancer's arithmetic (Qubes' qmemman, for the virtio balloon): given what each
 * balanced qube has and says it uses, and what the host can give qubes in all, the balloon
 * target of each. Pure functions; balancer.c reads the numbers and applies the targets.
 *
 * What is trusted: a qube's floor and max (its `memory` and `maxmem`), its current target (ours)
 * and the pool (from the host's /proc/meminfo and QEMU's RSS). What is not: used_kib, the
 * guest's own report, which a hostile guest makes up. It only moves that qube's preference,
 * and every target stays within [floor, max] whatever it says; the others' targets never go
 * below their floors because of it (see mem_balance).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A qube prefers what it uses plus 30% (caches), plus this (Qubes: used * 1.3, at least
 * 200 MiB; here the floor is the qube's own `memory`). */
#define MEM_BALANCE_EXTRA_KIB (100ull * 1024)
/* Targets closer than this to the current one are left alone (no balloon churn). */
#define MEM_BALANCE_STEP_KIB (16ull * 1024)
/* What of a QEMU process's RSS is QEMU's own and not guest RAM, counted as not held by the
 * guest: overestimating it only makes the pool smaller (safe). Measured: ~40 MiB under KVM,
 * ~140 MiB under TCG. */
#define MEM_BALANCE_QEMU_OVERHEAD_KIB (64ull * 1024)

struct mem_balance_qube {
	uint64_t floor_kib;  /* its `memory`: never set below */
	uint64_t max_kib;    /* its `maxmem`: never set above */
	uint64_t cur_kib;    /* its balloon target now */
	bool has_stats;	     /* the guest reported its memory (else it keeps cur_kib) */
	uint64_t used_kib;   /* guest's report: in use and not reclaimable (untrusted) */
	uint64_t target_kib; /* out */
};

/* What the qube would like: used * 1.3 + MEM_BALANCE_EXTRA_KIB within [floor, max]; its current
 * target (within [floor, max]) when it has not reported. */
uint64_t mem_balance_pref_kib(const struct mem_balance_qube *q);

/* Guest RAM of a qube that sits in host memory: its QEMU's RSS less QEMU's own part, at most its
 * target (a guest holding more than its target is the host's loss, counted by MemAvailable). */
uint64_t mem_balance_held_kib(uint64_t rss_kib, uint64_t cur_kib);

/* What balanced qubes may hold together: MemAvailable, plus what they hold already (it is not
 * in MemAvailable), less the host's reserve, less memory promised elsewhere (qubes starting,
 * unbalanced qubes' memory they have not touched yet). 0 when that is negative. */
uint64_t mem_balance_pool_kib(uint64_t avail_kib, uint64_t held_kib, uint64_t reserve_kib,
			      uint64_t promised_kib);

/* What the host gets back when the qube comes down to its preference: the guest RAM it holds
 * (mem_balance_held_kib) above that; what start admission may count on. */
uint64_t mem_balance_reclaimable_kib(const struct mem_balance_qube *q, uint64_t held_kib);

/* Sets each qs[i].target_kib, floor <= target <= max (max below floor counts as floor):
 * - when the pool holds every preference, each qube gets its preference (host memory no qube
 *   asked for stays the host's: its page cache, the next qube's start); one that comes down
 *   comes half the way per pass, while that fits;
 * - otherwise no qube grows past its current target until those above their preference have
 *   come down to it, and what is left of the pool goes to those below theirs in proportion to
 *   what each lacks;
 * - when even the current targets (capped at the preferences) do not fit, each gives up part of
 *   what it has above its floor, in proportion, until the sum fits or all are at their floors.
 * So a qube that lies gets at most its max, and the others keep at least their floors (and
 * their preference while the pool holds what they have). */
void mem_balance(struct mem_balance_qube *qs, size_t n, uint64_t pool_kib);
