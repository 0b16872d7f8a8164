/*
 * Preloaded disposables (Qubes 4.3's preload-dispvm-max): the pure decisions of the pool in
 * dispvm-preload.c, kept apart so that they are tested without a daemon. No I/O here.
 */
#pragma once

#include <stdbool.h>

/* The feature on a disposable template: how many of its disposables are kept booted and
 * paused. */
#define PRELOAD_FEATURE "preload-dispvm-max"
/* More would only hold memory: each one is a whole qube. */
#define PRELOAD_MAX_LIMIT 16u
/* Beyond the host's own reserve (host-memory.h), a preload leaves this much for the starts a
 * user asks for: a preloaded disposable must never be why a user's qube cannot start. */
#define PRELOAD_SPARE_MIB 1024ull
/* After a preload failed to boot, the next one waits this long, doubled per failure in a row. */
#define PRELOAD_BACKOFF_FIRST_S 5u
#define PRELOAD_BACKOFF_MAX_S	300u

/* The value of PRELOAD_FEATURE: a decimal number 0..PRELOAD_MAX_LIMIT, or "" (or NULL: not
 * set) for 0. -EINVAL (not a number: signs, spaces, other characters) or -ERANGE (too big),
 * each with a static reason; *ret is left alone then. */
int preload_max_parse(const char *value, unsigned *ret, const char **ret_reason);

/* Whether one more preloaded disposable of need_mib may boot: it must fit with the host's
 * reserve and PRELOAD_SPARE_MIB left over, after the qubes that are starting. */
bool preload_memory_admit(unsigned long long available_kib, unsigned long long starting_mib,
			  unsigned long long need_mib);

/* Seconds to wait before the next preload after `failures` failed boots in a row (0 for 0). */
unsigned preload_backoff_s(unsigned failures);
