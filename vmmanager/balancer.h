/*
 * The memory balancer (Qubes' qmemman, with the virtio balloon): every BALANCER_PERIOD_MS it
 * reads each running balanced qube's memory (maxmem above memory) through the backend, and the
 * host's MemAvailable, and sets balloon targets from mem_balance(): qubes under pressure grow
 * up to their maxmem, idle ones come back down to their memory, and the host keeps
 * d->memory_reserve_mib (--memory-reserve). The arithmetic is mem-balance.c; this file only
 * gathers and applies.
 */
#pragma once

#include <stdint.h>

#include "daemon.h"

#define BALANCER_PERIOD_MS 1000

/* Starts the periodic passes, unless d->memory_balance_off. */
void balancer_start(struct daemon *d);
void balancer_stop(struct daemon *d);

/* What running balanced qubes would give back (KiB) if each came down to what it prefers: what
 * a start may count on besides MemAvailable (the next pass takes it). 0 when balancing is
 * off. */
uint64_t balancer_reclaimable_kib(struct daemon *d);
