/* Finding and watching the virtio-serial control port. */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

static void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

int port_find(const char *sysfs_dir, const char *port_name, char **ret_dev)
{
	__attribute__((cleanup(closedirp))) DIR *d = opendir(sysfs_dir);
	struct dirent *de;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char path[512], name[128];

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/name", sysfs_dir, de->d_name);
		_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, name, sizeof(name) - 1);
		if (n <= 0)
			continue;
		name[n] = 0;
		name[strcspn(name, "\n")] = 0;
		if (streq(name, port_name)) {
			*ret_dev = xasprintf("/dev/%s", de->d_name);
			return 0;
		}
	}
	return -ENOENT;
}

int port_open(const char *path)
{
	int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	return fd < 0 ? -errno : fd;
}

/* virtio-serial reports POLLHUP at once while the host end is closed. */
int port_connected(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	if (poll(&p, 1, 0) < 0)
		return -errno;
	if (p.revents & POLLNVAL)
		return -EBADF;
	if (p.revents & (POLLHUP | POLLERR))
		return 0;
	return 1;
}
