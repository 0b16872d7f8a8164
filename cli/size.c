#include "size.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char units[] = "KMGTPE";

int size_parse(const char *s, uint64_t *ret)
{
	uint64_t v = 0;
	const char *p = s;

	if (!s || *p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (*p) {
		char u = *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
		const char *i = u ? strchr(units, u) : NULL;
		if (!i)
			return -EINVAL;
		p++;
		if (*p && strcmp(p, "iB") != 0)
			return -EINVAL;
		unsigned shift = 10u * (unsigned)(i - units + 1);
		if (v > (UINT64_MAX >> shift))
			return -ERANGE;
		v <<= shift;
	}
	*ret = v;
	return 0;
}

char *size_format(uint64_t bytes, char *buf, size_t size)
{
	static const char *const names[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};

	if (bytes < 1024) {
		snprintf(buf, size, "%llu B", (unsigned long long)bytes);
		return buf;
	}
	double v = (double)bytes / 1024.0;
	size_t i = 0;
	/* Switch units before rounding would print "1024.0". */
	while (v >= 1023.95 && i + 1 < sizeof(names) / sizeof(names[0])) {
		v /= 1024.0;
		i++;
	}
	snprintf(buf, size, "%.1f %s", v, names[i]);
	return buf;
}
