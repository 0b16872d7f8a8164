#include "preload-plan.h"

#include <errno.h>
#include <stddef.h>

#include "host-memory.h"

int preload_max_parse(const char *value, unsigned *ret, const char **ret_reason)
{
	unsigned long v = 0;

	if (!value || !*value) {
		*ret = 0;
		return 0;
	}
	for (const char *p = value; *p; p++) {
		if (*p < '0' || *p > '9') {
			*ret_reason = "it must be a number of disposables (0 or more)";
			return -EINVAL;
		}
		/* Checked per digit: a long string of digits cannot wrap around. */
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > PRELOAD_MAX_LIMIT) {
			*ret_reason = "at most 16 disposables are preloaded per template";
			return -ERANGE;
		}
	}
	*ret = (unsigned)v;
	return 0;
}

bool preload_memory_admit(unsigned long long available_kib, unsigned long long starting_mib,
			  unsigned long long need_mib)
{
	unsigned long long left;
	return memory_admit(available_kib, HOST_MEMORY_RESERVE_MIB + PRELOAD_SPARE_MIB,
			    starting_mib, need_mib, &left);
}

unsigned preload_backoff_s(unsigned failures)
{
	unsigned s = PRELOAD_BACKOFF_FIRST_S;

	if (failures == 0)
		return 0;
	for (unsigned i = 1; i < failures && s < PRELOAD_BACKOFF_MAX_S; i++)
		s *= 2;
	return s < PRELOAD_BACKOFF_MAX_S ? s : PRELOAD_BACKOFF_MAX_S;
}
