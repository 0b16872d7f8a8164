#include "balancer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "backend.h"
#include "host-memory.h"
#include "log.h"
#include "mem-balance.h"
#include "qube.h"
#include "util.h"

struct balancer {
	int timer;
	bool warned_low; /* said once that the floors do not fit, until they do again */
};

/* Balanced: running, with a balloon that has room (its domain's <memory> above its memory). */
static bool balanced(const struct vm *vm, const struct backend_mem_stats *st)
{
	const struct qube *q = vm->q;
	return vm->state == VM_RUNNING && q->maxmem > q->memory &&
	       st->max_kib > (uint64_t)q->memory * 1024;
}

static struct mem_balance_qube model_of(const struct vm *vm, const struct backend_mem_stats *st)
{
	uint64_t max = (uint64_t)vm->q->maxmem * 1024;
	return (struct mem_balance_qube){
	    .floor_kib = (uint64_t)vm->q->memory * 1024,
	    /* maxmem may have been lowered or raised since the start; the balloon cannot go
	     * past the domain's <memory> of that start. */
	    .max_kib = max < st->max_kib ? max : st->max_kib,
	    .cur_kib = st->cur_kib,
	    .has_stats = st->has_used,
	    /* What it swapped out is wanted as much as what it holds (Qubes counts it too). */
	    .used_kib = st->used_kib + vm->swap_used_kib,
	};
}

static void balance_pass(struct daemon *d)
{
	struct balancer *b = d->balancer;
	unsigned long long avail_kib;
	uint64_t avail, held = 0, promised = 0, floors = 0;
	_cleanup_free_ struct mem_balance_qube *qs = xcalloc(d->n_vms + 1, sizeof(*qs));
	_cleanup_free_ struct vm **who = xcalloc(d->n_vms + 1, sizeof(*who));
	size_t n = 0;

	if (host_memory_available_kib(&avail_kib) < 0)
		return;
	avail = avail_kib;
	for (size_t i = 0; i < d->n_vms; i++) {
		struct vm *vm = d->vms[i];
		struct backend_mem_stats st;
		if (vm->state == VM_TRANSIENT) {
			/* Booting: its QEMU has not touched its memory yet. */
			promised += (uint64_t)vm->q->memory * 1024;
			continue;
		}
		if (vm->state != VM_RUNNING && vm->state != VM_PAUSED)
			continue;
		if (backend_memory_stats(d, vm->q->name, &st) < 0)
			continue;
		uint64_t vm_held = st.has_rss ? mem_balance_held_kib(st.rss_kib, st.cur_kib) : 0;
		if (!balanced(vm, &st)) {
			/* It may still touch the rest of what it has: not ours to hand out. */
			promised += st.cur_kib > vm_held ? st.cur_kib - vm_held : 0;
			continue;
		}
		held += vm_held;
		qs[n] = model_of(vm, &st);
		floors += qs[n].floor_kib;
		who[n++] = vm;
	}
	if (n == 0)
		return;
	uint64_t pool = mem_balance_pool_kib(avail, held, d->memory_reserve_mib * 1024, promised);
	if (floors > pool && !b->warned_low)
		log_warn("memory: the host has %llu MiB for balanced qubes, less than their memory "
			 "(%llu MiB): they stay at their memory, and the host's reserve is used",
			 (unsigned long long)(pool / 1024), (unsigned long long)(floors / 1024));
	b->warned_low = floors > pool;
	mem_balance(qs, n, pool);
	for (size_t i = 0; i < n; i++) {
		if (qs[i].target_kib == qs[i].cur_kib)
			continue;
		int r = backend_set_memory(d, who[i]->q->name, qs[i].target_kib);
		if (r < 0)
			log_warn("memory: cannot set the balloon of '%s' to %llu MiB",
				 who[i]->q->name, (unsigned long long)(qs[i].target_kib / 1024));
		else
			log_debug("memory: '%s' %llu -> %llu MiB (it uses %llu MiB)",
				  who[i]->q->name, (unsigned long long)(qs[i].cur_kib / 1024),
				  (unsigned long long)(qs[i].target_kib / 1024),
				  (unsigned long long)(qs[i].used_kib / 1024));
	}
}

static void pass_fired(int timer, void *opaque)
{
	balance_pass(opaque);
}

void balancer_start(struct daemon *d)
{
	if (d->memory_balance_off) {
		log_info("memory balancing is off: qubes keep the memory they start with");
		return;
	}
	struct balancer *b = xcalloc(1, sizeof(*b));
	b->timer = virEventAddTimeout(BALANCER_PERIOD_MS, pass_fired, d, NULL);
	if (b->timer < 0) {
		log_warn("memory balancing is off: no timer");
		free(b);
		return;
	}
	d->balancer = b;
}

void balancer_stop(struct daemon *d)
{
	if (!d->balancer)
		return;
	virEventRemoveTimeout(d->balancer->timer);
	free(d->balancer);
	d->balancer = NULL;
}

uint64_t balancer_reclaimable_kib(struct daemon *d)
{
	uint64_t sum = 0;

	if (!d->balancer)
		return 0;
	for (size_t i = 0; i < d->n_vms; i++) {
		struct vm *vm = d->vms[i];
		struct backend_mem_stats st;
		if (vm->state != VM_RUNNING || backend_memory_stats(d, vm->q->name, &st) < 0 ||
		    !balanced(vm, &st) || !st.has_rss)
			continue;
		struct mem_balance_qube m = model_of(vm, &st);
		sum +=
		    mem_balance_reclaimable_kib(&m, mem_balance_held_kib(st.rss_kib, st.cur_kib));
	}
	return sum;
}
