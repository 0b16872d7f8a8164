/* Walks files and directory trees and writes them as a file copy stream. Everything below a
 * command-line argument is opened relative to its directory's fd, without following links. */
#include "filecopy-pack.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

#define COPY_CHUNK 65536u

static int fail(struct filecopy_packer *p, int err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct filecopy_packer *p, int err, const char *path, const char *fmt, ...)
{
	va_list ap;
	char text[512];

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	snprintf(p->msg, sizeof(p->msg), "%s: %s", path, text);
	return err;
}

static int emit(struct filecopy_packer *p, const void *buf, size_t len)
{
	if (p->out_fd < 0)
		return 0;
	int r = write_all(p->out_fd, buf, len);
	if (r == -EPIPE)
		p->peer_gone = true;
	return r;
}

static int emit_record(struct filecopy_packer *p, uint32_t type, uint32_t mode, uint64_t size,
		       const char *name)
{
	struct fc_record rec = {
	    .type = type, .mode = mode, .size = size, .name_len = name ? strlen(name) : 0};
	uint8_t hdr[FC_RECORD_HDR_LEN];

	fc_record_encode(&rec, hdr);
	int r = emit(p, hdr, sizeof(hdr));
	if (r < 0 || !name)
		return r;
	return emit(p, name, rec.name_len);
}

int filecopy_pack_begin(struct filecopy_packer *p)
{
	uint8_t hdr[FC_STREAM_HDR_LEN];
	fc_stream_header_encode(hdr);
	return emit(p, hdr, sizeof(hdr));
}

int filecopy_pack_end(struct filecopy_packer *p)
{
	return emit_record(p, FC_END, 0, 0, NULL);
}

static int send_error(struct filecopy_packer *p, int r, const char *path)
{
	if (p->peer_gone)
		return fail(p, r, path, "the receiving side stopped reading");
	return fail(p, r, path, "cannot send: %s", strerror(-r));
}

static int pack_file(struct filecopy_packer *p, int fd, const struct stat *st, const char *name,
		     const char *path)
{
	uint64_t size = (uint64_t)st->st_size;
	int r = emit_record(p, FC_FILE, S_IFREG | (st->st_mode & 0777), size, name);
	if (r < 0)
		return send_error(p, r, path);
	p->entries++;
	p->bytes += size;
	if (p->out_fd < 0)
		return 0;

	_cleanup_free_ uint8_t *buf = xmalloc(COPY_CHUNK);
	while (size > 0) {
		size_t want = size < COPY_CHUNK ? (size_t)size : COPY_CHUNK;
		ssize_t n = read(fd, buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(p, -errno, path, "cannot read: %s", strerror(errno));
		/* The header promised st_size bytes; sending fewer would be a lie, so the copy
		 * is abandoned and the receiver removes it. */
		if (n == 0)
			return fail(p, -EIO, path, "file shrank while being copied");
		r = emit(p, buf, (size_t)n);
		if (r < 0)
			return send_error(p, r, path);
		size -= (uint64_t)n;
	}
	return 0;
}

static int pack_dir(struct filecopy_packer *p, int fd, const struct stat *st, const char *name,
		    const char *path, unsigned depth);

/* One entry inside a directory tree, at wire depth `depth` (its directory's). */
static int pack_child(struct filecopy_packer *p, int dirfd, const char *name, const char *path,
		      unsigned depth)
{
	struct stat st;
	const char *why;

	int r = fc_name_check(name, strlen(name), &why);
	if (r < 0)
		return fail(p, r, path, "cannot be sent: %s", why);
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(p, -errno, path, "%s", strerror(errno));

	if (S_ISLNK(st.st_mode)) {
		char target[FC_TARGET_MAX + 1];
		ssize_t n = readlinkat(dirfd, name, target, sizeof(target));
		if (n < 0)
			return fail(p, -errno, path, "%s", strerror(errno));
		if ((size_t)n > FC_TARGET_MAX)
			return fail(p, -ENAMETOOLONG, path, "symlink target too long");
		r = fc_symlink_target_check(target, (size_t)n, depth, &why);
		if (r < 0)
			return fail(p, r, path, "symlink not copied: %s", why);
		r = emit_record(p, FC_SYMLINK, S_IFLNK | 0777, (uint64_t)n, name);
		if (r == 0)
			r = emit(p, target, (size_t)n);
		if (r < 0)
			return send_error(p, r, path);
		p->entries++;
		return 0;
	}
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		return fail(p, -EPERM, path,
			    "not a regular file, directory or symlink (devices, fifos and sockets "
			    "are not copied)");

	int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
	if (S_ISDIR(st.st_mode))
		flags |= O_DIRECTORY;
	_cleanup_close_ int fd = openat(dirfd, name, flags);
	if (fd < 0)
		return fail(p, -errno, path, "%s", strerror(errno));
	if (fstat(fd, &st) < 0)
		return fail(p, -errno, path, "%s", strerror(errno));
	if (S_ISREG(st.st_mode))
		return pack_file(p, fd, &st, name, path);
	if (S_ISDIR(st.st_mode))
		return pack_dir(p, fd, &st, name, path, depth);
	return fail(p, -EAGAIN, path, "changed while being copied");
}

static int pack_dir(struct filecopy_packer *p, int fd, const struct stat *st, const char *name,
		    const char *path, unsigned depth)
{
	if (depth >= FC_DEPTH_MAX)
		return fail(p, -ELOOP, path, "directories nested deeper than %u", FC_DEPTH_MAX);
	int r = emit_record(p, FC_DIR, S_IFDIR | (st->st_mode & 0777), 0, name);
	if (r < 0)
		return send_error(p, r, path);
	p->entries++;

	int dfd = dup(fd);
	if (dfd < 0)
		return fail(p, -errno, path, "%s", strerror(errno));
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return fail(p, -errno, path, "%s", strerror(errno));
	}
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			if (errno)
				r = fail(p, -errno, path, "%s", strerror(errno));
			break;
		}
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		_cleanup_free_ char *child = xasprintf("%s/%s", path, de->d_name);
		r = pack_child(p, fd, de->d_name, child, depth + 1);
		if (r < 0)
			break;
	}
	closedir(d);
	if (r < 0)
		return r;
	r = emit_record(p, FC_UP, 0, 0, NULL);
	if (r < 0)
		return send_error(p, r, path);
	return 0;
}

int filecopy_wire_name(struct filecopy_packer *p, const char *path, char *buf)
{
	_cleanup_free_ char *copy = xstrdup(path);
	const char *base = basename(copy);
	_cleanup_free_ char *real = NULL;
	const char *why;

	/* "." or "dir/.." name a directory whose own name is only known after resolving. */
	if (streq(base, ".") || streq(base, "..")) {
		real = realpath(path, NULL);
		if (!real)
			return fail(p, -errno, path, "%s", strerror(errno));
		base = basename(real);
	}
	if (streq(base, "/") || !*base)
		return fail(p, -EINVAL, path, "the root directory cannot be copied");
	int r = fc_name_check(base, strlen(base), &why);
	if (r < 0)
		return fail(p, r, path, "cannot be sent: %s", why);
	memcpy(buf, base, strlen(base) + 1);
	return 0;
}

int filecopy_pack_path(struct filecopy_packer *p, const char *path, const char *wire_name)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return fail(p, -errno, path, "%s", strerror(errno));
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		return fail(p, -EPERM, path,
			    "not a regular file or directory (devices, fifos and sockets are not "
			    "copied)");
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC |
						(S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
	if (fd < 0)
		return fail(p, -errno, path, "%s", strerror(errno));
	if (fstat(fd, &st) < 0)
		return fail(p, -errno, path, "%s", strerror(errno));
	if (S_ISREG(st.st_mode))
		return pack_file(p, fd, &st, wire_name, path);
	if (S_ISDIR(st.st_mode))
		return pack_dir(p, fd, &st, wire_name, path, 0);
	return fail(p, -EAGAIN, path, "changed while being copied");
}
