/* A template's root revisions: links and renames in the qube's directory (root-revisions.h). */
#include "root-revisions.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "unaligned.h"
#include "util.h"

#define QCOW2_MAGIC	       0x514649fbu /* "QFI\xfb" */
#define QCOW2_HEADER_MIN       72	   /* version 2's header; 3 adds fields after it */
#define QCOW2_BACKING_NAME_MAX 1023	   /* QEMU's own limit */
#define QCOW2_HEADER_READ      65536	   /* the backing name sits in the first cluster */
#define ROOT_REV_LIST_MAX      10000	   /* far above any keep count: a damaged dir stops here */

int root_rev_name_parse(const char *s, unsigned *ret)
{
	unsigned long n = 0;

	if (!s || !*s || *s == '0' || strlen(s) > 9)
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		n = n * 10 + (unsigned long)(*p - '0');
	}
	if (n > ROOT_REV_NUMBER_MAX)
		return -EINVAL;
	*ret = (unsigned)n;
	return 0;
}

int qcow2_header_backing(const void *buf, size_t n, char **ret)
{
	const uint8_t *b = buf;

	if (n < QCOW2_HEADER_MIN || unaligned_read_be32(b) != QCOW2_MAGIC)
		return -EBADMSG;
	uint32_t version = unaligned_read_be32(b + 4);
	if (version != 2 && version != 3)
		return -EBADMSG;
	uint64_t off = unaligned_read_be64(b + 8);
	uint32_t len = unaligned_read_be32(b + 16);
	if (off == 0) {
		*ret = NULL;
		return 0;
	}
	/* Check, then cap, then copy: the name must lie in what was read. */
	if (len == 0 || len > QCOW2_BACKING_NAME_MAX || off < QCOW2_HEADER_MIN || off > n ||
	    len > n - off || memchr(b + off, '\0', len))
		return -EBADMSG;
	char *s = xmalloc(len + 1);
	memcpy(s, b + off, len);
	s[len] = '\0';
	*ret = s;
	return 0;
}

int qcow2_file_backing(const char *path, char **ret)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	_cleanup_free_ uint8_t *buf = xmalloc(QCOW2_HEADER_READ);
	size_t got = 0;
	while (got < QCOW2_HEADER_READ) {
		ssize_t k = read(fd, buf + got, QCOW2_HEADER_READ - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return qcow2_header_backing(buf, got, ret);
}

static char *file_in(const char *dir, const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

char *root_rev_path(const char *dir, unsigned rev)
{
	return xasprintf("%s/" ROOT_REV_DIR "/%u.qcow2", dir, rev);
}

static int fsync_path(const char *path, int flags)
{
	_cleanup_close_ int fd = open(path, flags | O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return fsync(fd) < 0 ? -errno : 0;
}

static int fsync_dir(const char *dir)
{
	return fsync_path(dir, O_DIRECTORY);
}

/* The number a file under root.rev/ is named with ("12.qcow2"), or 0 for anything else. */
static unsigned entry_number(const char *name)
{
	char num[16];
	const char *dot = strchr(name, '.');
	unsigned n;

	if (!dot || !streq(dot, ".qcow2") || (size_t)(dot - name) >= sizeof(num))
		return 0;
	memcpy(num, name, (size_t)(dot - name));
	num[dot - name] = '\0';
	return root_rev_name_parse(num, &n) < 0 ? 0 : n;
}

struct rev_entry {
	unsigned n;
	dev_t dev;
	ino_t ino;
};

static int cmp_newest_first(const void *a, const void *b)
{
	const struct rev_entry *x = a, *y = b;
	return x->n < y->n ? 1 : x->n > y->n ? -1 : 0;
}

/* Every root.rev/ name, the current root's among them, newest first. A file can have several
 * names (it got a new one each time it became a revision again, and overlays may still name an
 * older one): its newest one is its revision number. */
static int rev_entries(const char *dir, struct rev_entry **ret, size_t *ret_n)
{
	_cleanup_free_ char *rdir = file_in(dir, ROOT_REV_DIR);
	DIR *dd = opendir(rdir);
	struct rev_entry *v = NULL;
	size_t n = 0;

	if (!dd) {
		if (errno != ENOENT)
			return -errno;
		*ret = NULL;
		*ret_n = 0;
		return 0;
	}
	for (struct dirent *e; (e = readdir(dd)) && n < ROOT_REV_LIST_MAX;) {
		unsigned num = entry_number(e->d_name);
		struct stat st;
		if (!num || fstatat(dirfd(dd), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		v = xrealloc(v, (n + 1) * sizeof(*v));
		v[n++] = (struct rev_entry){num, st.st_dev, st.st_ino};
	}
	closedir(dd);
	if (n > 1) /* qsort may not be given NULL, which v is when the directory is empty */
		qsort(v, n, sizeof(*v), cmp_newest_first);
	*ret = v;
	*ret_n = n;
	return 0;
}

static bool same_file(const struct rev_entry *e, dev_t dev, ino_t ino)
{
	return e->dev == dev && e->ino == ino;
}

/* Whether v[i] is the newest name of its file (v newest first). */
static bool newest_name(const struct rev_entry *v, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (same_file(&v[j], v[i].dev, v[i].ino))
			return false;
	return true;
}

static bool current_root(const char *dir, struct stat *ret)
{
	_cleanup_free_ char *root = file_in(dir, "root.qcow2");
	return stat(root, ret) == 0;
}

static bool is_current(const struct rev_entry *e, bool have_cur, const struct stat *cur)
{
	return have_cur && same_file(e, cur->st_dev, cur->st_ino);
}

int root_rev_list(const char *dir, unsigned **ret, size_t *ret_n)
{
	_cleanup_free_ struct rev_entry *v = NULL;
	struct stat cur;
	size_t n, k = 0;
	bool have_cur = current_root(dir, &cur);
	int r = rev_entries(dir, &v, &n);

	if (r < 0)
		return r;
	unsigned *out = xcalloc(n ? n : 1, sizeof(*out));
	for (size_t i = 0; i < n; i++)
		if (!is_current(&v[i], have_cur, &cur) && newest_name(v, i))
			out[k++] = v[i].n;
	*ret = out;
	*ret_n = k;
	return 0;
}

/* Links the current root under a new number, above every other: it is about to become the
 * newest revision. fresh false: a name it has already will do (an overlay's base). */
static int name_current(const char *dir, bool fresh, char **ret_path)
{
	_cleanup_free_ struct rev_entry *v = NULL;
	_cleanup_free_ char *root = file_in(dir, "root.qcow2");
	_cleanup_free_ char *rdir = file_in(dir, ROOT_REV_DIR);
	struct stat cur;
	size_t n;
	int r;

	if (stat(root, &cur) < 0)
		return -errno;
	r = rev_entries(dir, &v, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && !fresh; i++)
		if (same_file(&v[i], cur.st_dev, cur.st_ino)) {
			if (ret_path)
				*ret_path = root_rev_path(dir, v[i].n);
			return 0;
		}
	if (n && v[0].n >= ROOT_REV_NUMBER_MAX)
		return -EOVERFLOW;
	unsigned next = n ? v[0].n + 1 : 1;
	/* 0711 as the qube directory: QEMU's user opens the file by name, lists nothing. */
	if (mkdir(rdir, 0711) < 0 && errno != EEXIST)
		return -errno;
	_cleanup_free_ char *path = root_rev_path(dir, next);
	if (link(root, path) < 0)
		return -errno;
	r = fsync_dir(rdir);
	if (r < 0)
		return r;
	if (ret_path)
		*ret_path = TAKE_PTR(path);
	return 0;
}

int root_rev_current(const char *dir, char **ret_path)
{
	return name_current(dir, false, ret_path);
}

int root_rev_commit(const char *dir)
{
	_cleanup_free_ char *next = file_in(dir, ROOT_NEXT);
	_cleanup_free_ char *root = file_in(dir, "root.qcow2");
	struct stat st;
	int r;

	if (stat(next, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	/* What the template wrote reaches the disk before the name says it is the root. */
	r = fsync_path(next, 0);
	if (r < 0)
		return r;
	/* The root it replaces keeps a name: it becomes the newest revision. A crash after this
	 * link leaves an extra name, which the commit at the next start does not mind. */
	if (stat(root, &st) == 0) {
		r = name_current(dir, true, NULL);
		if (r < 0)
			return r;
	}
	if (rename(next, root) < 0)
		return -errno;
	r = fsync_dir(dir);
	return r < 0 ? r : 1;
}

int root_rev_revert(const char *dir, unsigned rev)
{
	_cleanup_free_ char *path = root_rev_path(dir, rev);
	_cleanup_free_ char *root = file_in(dir, "root.qcow2");
	_cleanup_free_ char *tmp = file_in(dir, ROOT_REVERT_TMP);
	struct stat st, cur;
	int r;

	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return -ENOENT;
	bool have_cur = current_root(dir, &cur);
	if (have_cur && cur.st_dev == st.st_dev && cur.st_ino == st.st_ino)
		return -ENOENT; /* that is the current root, not a revision */
	if (have_cur) {
		r = name_current(dir, true, NULL);
		if (r < 0)
			return r;
	}
	/* A second name, then one rename: root.qcow2 is the old root or the revision, never
	 * missing. */
	unlink(tmp);
	if (link(path, tmp) < 0)
		return -errno;
	if (rename(tmp, root) < 0) {
		r = -errno;
		unlink(tmp);
		return r;
	}
	return fsync_dir(dir);
}

static bool is_in_use(const struct rev_entry *e, const char *const *in_use, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (in_use[i] && stat(in_use[i], &st) == 0 && same_file(e, st.st_dev, st.st_ino))
			return true;
	}
	return false;
}

int root_rev_prune(const char *dir, unsigned keep, const char *const *in_use, size_t n_in_use,
		   size_t *ret_deferred)
{
	_cleanup_free_ struct rev_entry *v = NULL;
	_cleanup_free_ char *rdir = file_in(dir, ROOT_REV_DIR);
	struct stat cur;
	bool have_cur = current_root(dir, &cur);
	size_t n, kept = 0, deferred = 0;
	bool removed = false;
	int r = rev_entries(dir, &v, &n);

	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (is_current(&v[i], have_cur, &cur) || !newest_name(v, i))
			continue;
		if (kept < keep) {
			kept++;
			continue;
		}
		if (is_in_use(&v[i], in_use, n_in_use)) {
			deferred++;
			continue;
		}
		/* Every name of the file. */
		for (size_t j = i; j < n; j++) {
			if (!same_file(&v[j], v[i].dev, v[i].ino))
				continue;
			_cleanup_free_ char *p = root_rev_path(dir, v[j].n);
			if (unlink(p) < 0 && errno != ENOENT)
				return -errno;
			removed = true;
		}
	}
	if (removed)
		fsync_dir(rdir);
	if (ret_deferred)
		*ret_deferred = deferred;
	return 0;
}

void root_rev_remove_leftovers(const char *dir)
{
	_cleanup_free_ char *copy = file_in(dir, ROOT_COPY);
	_cleanup_free_ char *tmp = file_in(dir, ROOT_REVERT_TMP);
	unlink(copy);
	unlink(tmp);
}
