#include "host-memory.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

int meminfo_available_kib(const char *text, unsigned long long *ret_kib)
{
	static const char key[] = "MemAvailable:";

	for (const char *line = text; line && *line;) {
		if (strncmp(line, key, sizeof(key) - 1) == 0) {
			const char *p = line + sizeof(key) - 1;
			char *end;
			while (*p == ' ' || *p == '\t')
				p++;
			if (*p < '0' || *p > '9')
				return -EINVAL;
			errno = 0;
			unsigned long long v = strtoull(p, &end, 10);
			if (errno != 0 || strncmp(end, " kB", 3) != 0)
				return -EINVAL;
			*ret_kib = v;
			return 0;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return -ENODATA;
}

bool memory_admit(unsigned long long available_kib, unsigned long long reserve_mib,
		  unsigned long long starting_mib, unsigned long long need_mib,
		  unsigned long long *ret_free_mib)
{
	unsigned long long avail = available_kib / 1024, taken = reserve_mib + starting_mib;
	unsigned long long free_mib = avail > taken ? avail - taken : 0;

	if (need_mib <= free_mib)
		return true;
	*ret_free_mib = free_mib;
	return false;
}

int host_memory_available_kib(unsigned long long *ret_kib)
{
	char text[8192];
	_cleanup_close_ int fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;

	if (n < 0)
		return -errno;
	if (n == 0)
		return -ENODATA;
	text[n] = '\0';
	return meminfo_available_kib(text, ret_kib);
}
