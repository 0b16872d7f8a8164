/*
 * Unpacks a file copy stream into a directory, trusting nothing in it: names are single
 * components checked before use, every open is relative to a directory fd we created, with
 * O_NOFOLLOW and O_EXCL, and every count and size is capped before anything is allocated or
 * written.
 */
#include "filecopy-unpack.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fsutil.h"
#include "util.h"

#define COPY_CHUNK 65536u

struct level {
	int fd;
	uint32_t mode;
	size_t path_len; /* length of the display path before this level's name */
};

struct unpacker {
	int in_fd;
	const struct filecopy_limits *lim;
	struct filecopy_report *report;
	struct level stack[FC_DEPTH_MAX + 1];
	unsigned depth;
	/* display path of the current entry, for messages only (never used to open anything) */
	char path[FC_PATH_MAX + 1];
	size_t path_len;
};

void filecopy_limits_default(struct filecopy_limits *ret)
{
	*ret = (struct filecopy_limits){
	    .max_bytes = FC_DEFAULT_MAX_BYTES,
	    .max_files = FC_DEFAULT_MAX_FILES,
	    .max_depth = FC_DEPTH_MAX,
	};
}

static int fail(struct unpacker *u, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct unpacker *u, int err, const char *fmt, ...)
{
	va_list ap;
	char text[FC_STATUS_MSG_MAX + 1];

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (u->path_len)
		snprintf(u->report->msg, sizeof(u->report->msg), "%.600s: %.400s", u->path, text);
	else
		snprintf(u->report->msg, sizeof(u->report->msg), "%.400s", text);
	return err;
}

/* A system call failed on our side: a full disk is not the sender's fault. A name that exists
 * already can only be a duplicate within this stream (the stage starts empty). */
#define fail_sys(u, err, ...)                                                                      \
	({                                                                                         \
		int _e = (err);                                                                    \
		(u)->report->local_failure = _e != -EEXIST;                                        \
		fail(u, _e, __VA_ARGS__);                                                          \
	})

static int read_input(struct unpacker *u, void *buf, size_t len, const char *what)
{
	int r = read_exact(u->in_fd, buf, len);
	if (r == -EPIPE)
		return fail(u, -EPIPE, "stream ended inside %s (truncated or interrupted copy)",
			    what);
	if (r < 0)
		return fail_sys(u, r, "reading the stream: %s", strerror(-r));
	return 0;
}

/* Appends a checked name to the display path; control characters cannot occur in it. */
static int path_push(struct unpacker *u, const char *name, size_t len)
{
	size_t extra = len + (u->path_len ? 1 : 0);

	if (u->path_len + extra > FC_PATH_MAX)
		return fail(u, -ENAMETOOLONG, "path longer than %u bytes", FC_PATH_MAX);
	if (u->path_len)
		u->path[u->path_len++] = '/';
	memcpy(u->path + u->path_len, name, len);
	u->path_len += len;
	u->path[u->path_len] = '\0';
	return 0;
}

static int cur_fd(struct unpacker *u)
{
	return u->stack[u->depth].fd;
}

static int count_entry(struct unpacker *u)
{
	if (u->report->entries >= u->lim->max_files)
		return fail(u, -E2BIG, "more than %llu entries (the receiver's limit)",
			    (unsigned long long)u->lim->max_files);
	u->report->entries++;
	return 0;
}

static int unpack_file(struct unpacker *u, const char *name, const struct fc_record *rec)
{
	if (rec->size > u->lim->max_bytes - u->report->bytes)
		return fail(u, -EFBIG, "copy larger than %llu bytes (the receiver's limit)",
			    (unsigned long long)u->lim->max_bytes);
	_cleanup_close_ int fd =
	    openat(cur_fd(u), name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail_sys(u, -errno, "cannot create: %s", strerror(errno));

	_cleanup_free_ uint8_t *buf = xmalloc(COPY_CHUNK);
	uint64_t left = rec->size;
	while (left > 0) {
		size_t n = left < COPY_CHUNK ? (size_t)left : COPY_CHUNK;
		int r = read_input(u, buf, n, "a file's content");
		if (r < 0)
			return r;
		r = write_all(fd, buf, n);
		if (r < 0)
			return fail_sys(u, r, "cannot write: %s", strerror(-r));
		left -= n;
	}
	u->report->bytes += rec->size;
	if (fchmod(fd, rec->mode & 0777) < 0)
		return fail_sys(u, -errno, "cannot set mode: %s", strerror(errno));
	/* Some file systems report a full disk only when the file is closed. */
	if (close(TAKE_FD(fd)) < 0)
		return fail_sys(u, -errno, "cannot write: %s", strerror(errno));
	return 0;
}

static int unpack_symlink(struct unpacker *u, const char *name, const struct fc_record *rec)
{
	char target[FC_TARGET_MAX + 1];
	const char *why;

	int r = read_input(u, target, (size_t)rec->size, "a symlink target");
	if (r < 0)
		return r;
	r = fc_symlink_target_check(target, (size_t)rec->size, u->depth, &why);
	if (r < 0)
		return fail(u, r, "refused symlink: %s", why);
	target[rec->size] = '\0';
	if (symlinkat(target, cur_fd(u), name) < 0)
		return fail_sys(u, -errno, "cannot create symlink: %s", strerror(errno));
	return 0;
}

static int unpack_dir(struct unpacker *u, const char *name, const struct fc_record *rec,
		      size_t parent_path_len)
{
	if (u->depth >= u->lim->max_depth || u->depth >= FC_DEPTH_MAX)
		return fail(u, -ELOOP, "directories nested deeper than %u",
			    u->lim->max_depth < FC_DEPTH_MAX ? u->lim->max_depth : FC_DEPTH_MAX);
	/* Owner-only while we fill it; its own mode comes with the matching UP record. */
	if (mkdirat(cur_fd(u), name, 0700) < 0)
		return fail_sys(u, -errno, "cannot create directory: %s", strerror(errno));
	int fd = openat(cur_fd(u), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fail_sys(u, -errno, "cannot open directory: %s", strerror(errno));
	u->depth++;
	u->stack[u->depth] =
	    (struct level){.fd = fd, .mode = rec->mode & 0777, .path_len = parent_path_len};
	return 0;
}

static int unpack_up(struct unpacker *u)
{
	struct level *l = &u->stack[u->depth];

	if (u->depth == 0)
		return fail(u, -EPROTO, "end of directory at the top level");
	int r = fchmod(l->fd, l->mode) < 0 ? -errno : 0;
	close(l->fd);
	l->fd = -1;
	u->depth--;
	if (r < 0)
		return fail_sys(u, r, "cannot set mode: %s", strerror(-r));
	u->path_len = l->path_len;
	u->path[u->path_len] = '\0';
	return 0;
}

/* Returns 1 at END, 0 for another record, or -errno. */
static int unpack_record(struct unpacker *u)
{
	uint8_t hdr[FC_RECORD_HDR_LEN];
	struct fc_record rec;
	char name[FC_NAME_MAX + 1];
	const char *why;

	int r = read_input(u, hdr, sizeof(hdr), "a record header");
	if (r < 0)
		return r;
	fc_record_decode(hdr, &rec);
	r = fc_record_check(&rec, &why);
	if (r < 0)
		return fail(u, r, "bad record: %s", why);

	if (rec.type == FC_END) {
		if (u->depth != 0)
			return fail(u, -EPROTO, "stream ends inside a directory");
		if (u->lim->single_file && u->report->entries != 1)
			return fail(u, -EPROTO, "expected exactly one file");
		return 1;
	}
	if (rec.type == FC_UP)
		return unpack_up(u);

	r = read_input(u, name, rec.name_len, "a name");
	if (r < 0)
		return r;
	r = fc_name_check(name, rec.name_len, &why);
	if (r < 0)
		return fail(u, r, "refused name: %s", why);
	name[rec.name_len] = '\0';

	if (u->lim->single_file && (rec.type != FC_FILE || u->report->entries > 0))
		return fail(u, -EPROTO, "only a single regular file is accepted here");
	r = count_entry(u);
	if (r < 0)
		return r;
	if (u->depth == 0 && u->report->entries == 1)
		memcpy(u->report->first_name, name, rec.name_len + 1);

	size_t parent_path_len = u->path_len;
	r = path_push(u, name, rec.name_len);
	if (r < 0)
		return r;
	switch (rec.type) {
	case FC_FILE:
		r = unpack_file(u, name, &rec);
		break;
	case FC_SYMLINK:
		r = unpack_symlink(u, name, &rec);
		break;
	default:
		return unpack_dir(u, name, &rec, parent_path_len);
	}
	if (r < 0)
		return r;
	u->path_len = parent_path_len;
	u->path[u->path_len] = '\0';
	return 0;
}

int filecopy_unpack(int in_fd, int dest_dirfd, const struct filecopy_limits *lim,
		    struct filecopy_report *report)
{
	struct unpacker u = {.in_fd = in_fd, .lim = lim, .report = report};
	uint8_t hdr[FC_STREAM_HDR_LEN];
	int r;

	*report = (struct filecopy_report){0};
	u.stack[0].fd = dest_dirfd;
	r = read_input(&u, hdr, sizeof(hdr), "the stream header");
	if (r == 0 && fc_stream_header_check(hdr) < 0)
		r = fail(&u, -EPROTO, "not a Bulkhead file copy stream (or another version)");
	while (r == 0)
		r = unpack_record(&u);

	while (u.depth > 0) {
		close(u.stack[u.depth].fd);
		u.depth--;
	}
	if (r > 0)
		return 0;
	/* Refused or failed: nothing of this transfer may stay behind. */
	(void)rm_children_at(dest_dirfd, true);
	return r;
}
