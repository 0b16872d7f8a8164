/* Named network namespaces: validation, opening, entering and leaving. */
#include "netns.h"

#include <fcntl.h>
#include <sched.h>
#include <stdio.h>

#include "util.h"

bool netns_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > NETNS_NAME_MAX || streq(name, ".") || streq(name, ".."))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

int netns_open(const char *name)
{
	char path[sizeof("/run/netns/") + NETNS_NAME_MAX];

	if (!name)
		snprintf(path, sizeof(path), "/proc/self/ns/net");
	else if (!netns_name_valid(name))
		return -EINVAL;
	else
		snprintf(path, sizeof(path), "/run/netns/%s", name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int netns_enter(int ns_fd, int *ret_orig)
{
	_cleanup_close_ int orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);

	if (orig < 0)
		return -errno;
	if (setns(ns_fd, CLONE_NEWNET) < 0)
		return -errno;
	*ret_orig = TAKE_FD(orig);
	return 0;
}

int netns_leave(int orig)
{
	int r = setns(orig, CLONE_NEWNET) < 0 ? -errno : 0;
	close(orig);
	return r;
}
