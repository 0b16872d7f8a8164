/* fd-relative removal and creation helpers (see fsutil.h). */
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "util.h"

int rm_tree_at(int dirfd, const char *name, bool make_writable)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (make_writable)
		(void)fchmod(fd, (st.st_mode & 0777) | 0700);
	int r = rm_children_at(fd, make_writable);
	close(fd);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && r == 0)
		r = -errno;
	return r;
}

int rm_children_at(int dirfd, bool make_writable)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		int r = -errno;
		close(fd);
		return r;
	}
	int r = 0;
	struct dirent *de;
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno && r == 0)
				r = -errno;
			break;
		}
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		int q = rm_tree_at(dirfd, de->d_name, make_writable);
		if (q < 0 && q != -ENOENT && r == 0)
			r = q;
	}
	closedir(d);
	return r;
}

int mkdir_open_at(int dirfd, const char *name, unsigned mode)
{
	if (mkdirat(dirfd, name, mode) < 0 && errno != EEXIST)
		return -errno;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int random_name(const char *prefix, char *buf, size_t size)
{
	uint64_t v;
	ssize_t n;

	do
		n = getrandom(&v, sizeof(v), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(v))
		return n < 0 ? -errno : -EIO;
	int w = snprintf(buf, size, "%s%016llx", prefix, (unsigned long long)v);
	if (w < 0 || (size_t)w >= size)
		return -ENAMETOOLONG;
	return 0;
}
