/* Swap in use, reported to the host for its memory balancer (CHAN_MEMINFO in proto.h). The
 * balloon's statistics show what the guest holds in RAM; what it pushed out to swap under
 * pressure is memory it wants too, and without it a qube that swapped while its balloon was
 * still growing would settle below what it needs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "proto.h"
#include "unaligned.h"
#include "util.h"

#define MEMINFO_PERIOD_MS 1000u
#define MEMINFO_STEP_KIB  1024u /* smaller changes are not worth a frame */

static uint64_t next_ms, sent_kib = UINT64_MAX;

/* SwapTotal - SwapFree of /proc/meminfo, or -errno. */
static int swap_used_kib(uint64_t *ret)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	unsigned long long total = 0, free_kib = 0;
	int seen = 0;

	if (!f)
		return -errno;
	while (seen != 3 && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "SwapTotal: %llu kB", &total) == 1)
			seen |= 1;
		else if (sscanf(line, "SwapFree: %llu kB", &free_kib) == 1)
			seen |= 2;
	}
	if (seen != 3)
		return -ENOENT;
	*ret = total > free_kib ? total - free_kib : 0;
	return 0;
}

void meminfo_reset(void)
{
	sent_kib = UINT64_MAX;
	next_ms = 0;
}

int meminfo_timeout_ms(const struct agent *a)
{
	if (!a->connected)
		return -1;
	uint64_t now = monotonic_ms();
	return now >= next_ms ? 0 : (int)(next_ms - now);
}

void meminfo_tick(struct agent *a)
{
	uint64_t now = monotonic_ms(), kib = 0;

	if (!a->connected || now < next_ms)
		return;
	next_ms = now + MEMINFO_PERIOD_MS;
	if (swap_used_kib(&kib) < 0)
		return;
	uint64_t diff = kib > sent_kib ? kib - sent_kib : sent_kib - kib;
	if (sent_kib != UINT64_MAX && diff < MEMINFO_STEP_KIB && !(kib == 0 && sent_kib != 0))
		return;
	uint8_t p[8];
	unaligned_write_le64(p, kib);
	agent_send(a, CHAN_MEMINFO, 0, p, sizeof(p));
	sent_kib = kib;
}
