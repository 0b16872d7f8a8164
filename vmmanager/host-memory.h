/*
 * Whether the host has the memory for one more qube: a start is admitted when the qube's
 * memory fits into MemAvailable (from /proc/meminfo) less a reserve the host keeps for itself
 * and less the memory of qubes that are starting (their QEMU has not touched it yet, so
 * MemAvailable does not show it as used). Pure functions, and the one reader of the file.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* What the host keeps for itself (its own programs, page cache, QEMU's overhead). */
#define HOST_MEMORY_RESERVE_MIB 1024ull

/* MemAvailable of a /proc/meminfo text, in KiB. -ENODATA when it is not there, -EINVAL when
 * it is not a number of kB. */
int meminfo_available_kib(const char *text, unsigned long long *ret_kib);

/* MemAvailable of the host's /proc/meminfo, in KiB; -errno when it cannot be read or parsed.
 * The one place bulkheadd reads it (start admission, preloads, the balancer). */
int host_memory_available_kib(unsigned long long *ret_kib);

/* Whether need_mib fits: available_kib / 1024 - reserve_mib - starting_mib >= need_mib. On
 * false, *ret_free_mib is what was left for it (0 when the reserve is not even there). */
bool memory_admit(unsigned long long available_kib, unsigned long long reserve_mib,
		  unsigned long long starting_mib, unsigned long long need_mib,
		  unsigned long long *ret_free_mib);
