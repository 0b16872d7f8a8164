/*
 * The on-disk store: see store.h for the layout and the atomicity rules. All work is done
 * relative to a directory fd of STATE/qubes, never by following symlinks inside it.
 */
#include "store.h"

#include "json-text.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "util.h"

#define QUBE_JSON     "qube.json"
#define QUBE_JSON_TMP "qube.json.tmp"
#define TMP_PREFIX    ".tmp-"
#define TRASH_PREFIX  ".trash-"
/* Deeper than anything we create; a cap so a strange tree cannot exhaust the stack. */
#define RM_DEPTH_MAX 16

#define HOST_JSON "host.json"

struct store {
	char *state_dir;
	char *qubes_dir;
	int qubes_fd;
};

static const char *const file_names[STORE_FILE_COUNT] = {
    [STORE_FILE_CONFIG] = QUBE_JSON,
    [STORE_FILE_ROOT] = "root.qcow2",
    [STORE_FILE_PRIVATE] = "private.qcow2",
    [STORE_FILE_VOLATILE] = "volatile.qcow2",
    [STORE_FILE_ROOT_OVERLAY] = "root-overlay.qcow2",
    [STORE_FILE_CONSOLE_LOG] = "console.log",
};

const char *store_file_name(enum store_file f)
{
	if ((unsigned)f >= STORE_FILE_COUNT)
		return NULL;
	return file_names[f];
}

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int rm_rf_at(int parent, const char *name, unsigned depth)
{
	_cleanup_close_ int fd = -1;
	DIR *d;
	struct dirent *e;
	int r = 0;

	if (depth > RM_DEPTH_MAX)
		return -ELOOP;
	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		/* Not a directory (or a symlink to one): unlink the entry itself. */
		if (errno == ENOTDIR || errno == ELOOP)
			return unlinkat(parent, name, 0) < 0 ? -errno : 0;
		return errno == ENOENT ? 0 : -errno;
	}
	d = fdopendir(fd);
	if (!d)
		return -errno;
	fd = -1; /* owned by d now */
	while ((errno = 0, e = readdir(d))) {
		bool is_dir;

		if (streq(e->d_name, ".") || streq(e->d_name, ".."))
			continue;
		if (e->d_type == DT_UNKNOWN) {
			struct stat st;
			if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				r = r ?: -errno;
				continue;
			}
			is_dir = S_ISDIR(st.st_mode);
		} else {
			is_dir = e->d_type == DT_DIR;
		}
		if (is_dir) {
			int k = rm_rf_at(dirfd(d), e->d_name, depth + 1);
			r = r ?: k;
		} else if (unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT) {
			r = r ?: -errno;
		}
	}
	if (errno != 0)
		r = r ?: -errno;
	closedir(d);
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		r = r ?: -errno;
	return r;
}

static int fsync_dirfd(int fd)
{
	return fsync(fd) < 0 ? -errno : 0;
}

/* Writes buf to name in dirfd atomically: tmp file, fsync, rename, fsync of the directory. */
static int write_file_atomic(int dir, const char *name, const char *tmpname, const char *buf,
			     size_t len, mode_t mode)
{
	_cleanup_close_ int fd = -1;
	int r;

	fd = openat(dir, tmpname, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	r = write_all(fd, buf, len);
	if (r < 0)
		goto fail;
	if (fsync(fd) < 0) {
		r = -errno;
		goto fail;
	}
	/* close can report a delayed write error (NFS); it must not be lost. */
	r = close(TAKE_FD(fd));
	if (r < 0) {
		r = -errno;
		goto fail;
	}
	if (renameat(dir, tmpname, dir, name) < 0) {
		r = -errno;
		goto fail;
	}
	return fsync_dirfd(dir);
fail:
	unlinkat(dir, tmpname, 0);
	return r;
}

static int write_qube_json(int dir, const struct qube *q)
{
	struct json_object *o = qube_to_json(q);
	_cleanup_free_ char *text = NULL;
	int r;

	text = xasprintf("%s\n", json_object_to_json_string_ext(
				     o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	r = write_file_atomic(dir, QUBE_JSON, QUBE_JSON_TMP, text, strlen(text), 0600);
	return r;
}

/* Reads and parses dir/name (qube.json, host.json), refusing anything over the cap or that is
 * not one JSON value. The reasons name qube.json: host.json's caller words its own. */
static int read_json_file(int dir, const char *name, struct json_object **ret,
			  const char **ret_reason)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct json_tokener *tok;
	struct json_object *o;
	struct stat st;
	size_t len = 0;

	fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		*ret_reason =
		    errno == ENOENT ? "qube.json is missing" : "qube.json cannot be opened";
		return -errno;
	}
	if (fstat(fd, &st) < 0) {
		*ret_reason = "qube.json cannot be read";
		return -errno;
	}
	if (!S_ISREG(st.st_mode)) {
		*ret_reason = "qube.json is not a regular file";
		return -EINVAL;
	}
	/* Read up to one byte over the cap, so growth after fstat is still noticed. */
	buf = xmalloc(STORE_QUBE_JSON_MAX + 2);
	while (len <= STORE_QUBE_JSON_MAX) {
		ssize_t n = read(fd, buf + len, STORE_QUBE_JSON_MAX + 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			*ret_reason = "qube.json cannot be read";
			return -errno;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > STORE_QUBE_JSON_MAX) {
		*ret_reason = "qube.json is too large";
		return -EFBIG;
	}
	buf[len] = '\0';
	if (strlen(buf) != len) {
		*ret_reason = "qube.json holds a NUL byte";
		return -EINVAL;
	}
	if (json_text_has_escaped_nul((const uint8_t *)buf, len)) {
		*ret_reason = "qube.json holds an escaped NUL character";
		return -EINVAL;
	}
	tok = json_tokener_new();
	if (!tok)
		abort();
	o = json_tokener_parse_ex(tok, buf, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success) {
		json_tokener_free(tok);
		json_object_put(o);
		*ret_reason = "qube.json is not valid JSON";
		return -EINVAL;
	}
	/* Only whitespace may follow the value. */
	for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
		if (!strchr(" \t\r\n", buf[i])) {
			json_tokener_free(tok);
			json_object_put(o);
			*ret_reason = "qube.json has data after the JSON value";
			return -EINVAL;
		}
	json_tokener_free(tok);
	*ret = o;
	return 0;
}

static int read_qube_json(int dir, struct qube **ret, const char **ret_reason)
{
	struct json_object *o = NULL;
	int r = read_json_file(dir, QUBE_JSON, &o, ret_reason);
	if (r < 0)
		return r;
	r = qube_from_json(o, ret, ret_reason);
	/* A qube stored before uuids were kept got a new one: keep it from now on, so that policy
	 * rules naming it by uuid stay right. Best effort: a read-only store still loads. */
	if (r == 0 && !json_object_object_get_ex(o, "uuid", NULL))
		(void)write_qube_json(dir, *ret);
	json_object_put(o);
	return r;
}

/* Makes qubes/PREFIX NAME-XXXXXX (as a new directory or by renaming from) and returns its entry
 * name. With from == NULL a new directory is made. */
static int make_unique_entry(struct store *s, const char *prefix, const char *name,
			     const char *from, char **ret_entry)
{
	static const char chars[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

	for (int attempt = 0; attempt < 100; attempt++) {
		unsigned char rnd[6];
		char suffix[7];
		_cleanup_free_ char *entry = NULL;
		int r;

		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return errno ? -errno : -EIO;
		for (size_t i = 0; i < sizeof(rnd); i++)
			suffix[i] = chars[rnd[i] % (sizeof(chars) - 1)];
		suffix[6] = '\0';
		entry = xasprintf("%s%s-%s", prefix, name, suffix);
		if (from)
			r = renameat2(s->qubes_fd, from, s->qubes_fd, entry, RENAME_NOREPLACE);
		else
			r = mkdirat(s->qubes_fd, entry, 0700);
		if (r == 0) {
			*ret_entry = TAKE_PTR(entry);
			return 0;
		}
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/* Removes what a crash left in qubes/. Best effort: the leftovers are invisible to load_all
 * and their random names never collide, so one that cannot be removed does no harm. */
static void remove_leftovers(struct store *s)
{
	_cleanup_close_ int fd = -1;
	DIR *d;
	struct dirent *e;
	char **names = NULL;
	size_t n = 0;

	fd = openat(s->qubes_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d)
		return;
	fd = -1;
	/* Collect first: removing entries while reading the directory may skip some. */
	while ((e = readdir(d)))
		if (has_prefix(e->d_name, TMP_PREFIX) || has_prefix(e->d_name, TRASH_PREFIX)) {
			names = xrealloc(names, (n + 1) * sizeof(char *));
			names[n++] = xstrdup(e->d_name);
		}
	closedir(d);
	for (size_t i = 0; i < n; i++) {
		rm_rf_at(s->qubes_fd, names[i], 0);
		free(names[i]);
	}
	free(names);
	if (n > 0)
		fsync_dirfd(s->qubes_fd);
}

static int mkdir_0711(const char *path)
{
	if (mkdir(path, 0711) < 0)
		return errno == EEXIST ? 0 : -errno;
	/* Only when we made it: the mode must not depend on the umask. */
	return chmod(path, 0711) < 0 ? -errno : 0;
}

int store_open(const char *state_dir, struct store **ret)
{
	struct store *s;
	int r;

	/* Absolute: the paths end up in libvirt domain XML. */
	if (!state_dir || state_dir[0] != '/' || strnlen(state_dir, PATH_MAX) >= PATH_MAX - 64)
		return -EINVAL;
	s = xcalloc(1, sizeof(*s));
	s->qubes_fd = -1;
	s->state_dir = xstrdup(state_dir);
	s->qubes_dir = xasprintf("%s/qubes", state_dir);
	r = mkdir_0711(s->state_dir);
	if (r < 0)
		goto fail;
	r = mkdir_0711(s->qubes_dir);
	if (r < 0)
		goto fail;
	s->qubes_fd = open(s->qubes_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->qubes_fd < 0) {
		r = -errno;
		goto fail;
	}
	remove_leftovers(s);
	*ret = s;
	return 0;
fail:
	store_free(s);
	return r;
}

void store_free(struct store *s)
{
	if (!s)
		return;
	if (s->qubes_fd >= 0)
		close(s->qubes_fd);
	free(s->state_dir);
	free(s->qubes_dir);
	free(s);
}

const char *store_state_dir(const struct store *s)
{
	return s->state_dir;
}

static int open_qube_dir(struct store *s, const char *name)
{
	int fd;

	if (qube_name_check(name, NULL) < 0)
		return -EINVAL;
	fd = openat(s->qubes_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int store_load(struct store *s, const char *name, struct qube **ret, const char **ret_reason)
{
	_cleanup_close_ int dir = -1;
	const char *reason = NULL;
	struct qube *q = NULL;
	int r;

	dir = open_qube_dir(s, name);
	if (dir < 0) {
		if (ret_reason)
			*ret_reason =
			    dir == -ENOENT ? "no such qube" : "cannot open the qube directory";
		return dir;
	}
	r = read_qube_json(dir, &q, &reason);
	if (r < 0) {
		if (ret_reason)
			*ret_reason = reason;
		return r;
	}
	/* The directory is the identity; a file that names another qube is damage. */
	if (!streq(q->name, name)) {
		qube_free(q);
		if (ret_reason)
			*ret_reason = "qube.json names another qube";
		return -EINVAL;
	}
	*ret = q;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_problem(struct store_problem **p, size_t *n, const char *entry, int error,
			const char *reason)
{
	*p = xrealloc(*p, (*n + 1) * sizeof(**p));
	(*p)[*n] = (struct store_problem){xstrdup(entry), error, reason};
	(*n)++;
}

int store_load_all(struct store *s, struct qube ***ret, size_t *ret_n,
		   struct store_problem **ret_problems, size_t *ret_n_problems)
{
	_cleanup_close_ int fd = -1;
	DIR *d;
	struct dirent *e;
	char **names = NULL;
	size_t n_names = 0, n_qubes = 0, n_problems = 0;
	struct qube **qubes = NULL;
	struct store_problem *problems = NULL;

	fd = openat(s->qubes_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d)
		return -errno;
	fd = -1;
	while ((errno = 0, e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		names = xrealloc(names, (n_names + 1) * sizeof(char *));
		names[n_names++] = xstrdup(e->d_name);
	}
	if (errno != 0) {
		int r = -errno;
		closedir(d);
		for (size_t i = 0; i < n_names; i++)
			free(names[i]);
		free(names);
		return r;
	}
	closedir(d);
	/* Sorted, so that the daemon's order (and its log) does not depend on the filesystem. */
	if (n_names > 0)
		qsort(names, n_names, sizeof(char *), cmp_str);

	for (size_t i = 0; i < n_names; i++) {
		const char *reason = "not a valid qube name";
		struct qube *q = NULL;
		int r;

		if (qube_name_check(names[i], NULL) < 0) {
			add_problem(&problems, &n_problems, names[i], -EINVAL, reason);
			continue;
		}
		r = store_load(s, names[i], &q, &reason);
		if (r < 0) {
			if (r == -ENOTDIR)
				reason = "not a directory";
			add_problem(&problems, &n_problems, names[i], r, reason);
			continue;
		}
		qubes = xrealloc(qubes, (n_qubes + 1) * sizeof(struct qube *));
		qubes[n_qubes++] = q;
	}
	for (size_t i = 0; i < n_names; i++)
		free(names[i]);
	free(names);

	*ret = qubes;
	*ret_n = n_qubes;
	if (ret_problems) {
		*ret_problems = problems;
		*ret_n_problems = n_problems;
	} else {
		store_problems_free(problems, n_problems);
	}
	return 0;
}

void store_qubes_free(struct qube **qubes, size_t n)
{
	for (size_t i = 0; i < n; i++)
		qube_free(qubes[i]);
	free(qubes);
}

void store_problems_free(struct store_problem *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(p[i].entry);
	free(p);
}

bool store_exists(struct store *s, const char *name)
{
	struct stat st;

	if (qube_name_check(name, NULL) < 0)
		return false;
	return fstatat(s->qubes_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

int store_create_begin(struct store *s, const struct qube *q, char **ret_tmpdir)
{
	_cleanup_free_ char *entry = NULL;
	_cleanup_close_ int dir = -1;
	int r;

	if (qube_name_check(q->name, NULL) < 0)
		return -EINVAL;
	if (store_exists(s, q->name))
		return -EEXIST;
	r = make_unique_entry(s, TMP_PREFIX, q->name, NULL, &entry);
	if (r < 0)
		return r;
	dir = openat(s->qubes_fd, entry, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir < 0) {
		r = -errno;
		goto fail;
	}
	/* QEMU, as another user, opens the volumes in here. */
	if (fchmod(dir, 0711) < 0) {
		r = -errno;
		goto fail;
	}
	r = write_qube_json(dir, q);
	if (r < 0)
		goto fail;
	*ret_tmpdir = xasprintf("%s/%s", s->qubes_dir, entry);
	return 0;
fail:
	rm_rf_at(s->qubes_fd, entry, 0);
	return r;
}

/* The entry under qubes/ of a path store_create_begin returned, or NULL if it is not one. */
static const char *tmpdir_entry(struct store *s, const char *tmpdir)
{
	size_t n = strlen(s->qubes_dir);
	const char *entry;

	if (!tmpdir || strncmp(tmpdir, s->qubes_dir, n) != 0 || tmpdir[n] != '/')
		return NULL;
	entry = tmpdir + n + 1;
	if (!has_prefix(entry, TMP_PREFIX) || strchr(entry, '/'))
		return NULL;
	return entry;
}

/* fsync every regular file directly in dir, and dir itself: the volumes the caller made must be
 * on disk before the qube appears. */
static int sync_dir_contents(int parent, const char *entry)
{
	_cleanup_close_ int fd = -1;
	DIR *d;
	struct dirent *e;
	int r = 0;

	fd = openat(parent, entry, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d)
		return -errno;
	fd = -1;
	while (r == 0 && (errno = 0, e = readdir(d))) {
		_cleanup_close_ int f = -1;
		struct stat st;

		if (e->d_name[0] == '.' && (!e->d_name[1] || streq(e->d_name, "..")))
			continue;
		f = openat(dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (f < 0) {
			/* Symlinks and the like are not synced, and not ours to judge. */
			if (errno == ELOOP)
				continue;
			r = -errno;
			break;
		}
		if (fstat(f, &st) == 0 && S_ISREG(st.st_mode) && fsync(f) < 0)
			r = -errno;
	}
	if (r == 0 && errno != 0)
		r = -errno;
	if (r == 0 && fsync(dirfd(d)) < 0)
		r = -errno;
	closedir(d);
	return r;
}

int store_create_commit(struct store *s, const char *tmpdir, const char *name)
{
	const char *entry = tmpdir_entry(s, tmpdir);
	int r;

	if (!entry || qube_name_check(name, NULL) < 0)
		return -EINVAL;
	r = sync_dir_contents(s->qubes_fd, entry);
	if (r < 0)
		return r;
	/* NOREPLACE: rename(2) would silently replace an empty directory of that name. */
	if (renameat2(s->qubes_fd, entry, s->qubes_fd, name, RENAME_NOREPLACE) < 0)
		return -errno;
	/* The qube exists now; a failed directory sync cannot undo that, so it is not reported
	 * as a failed create (the caller would abort a qube that is there). */
	fsync_dirfd(s->qubes_fd);
	return 0;
}

int store_create_abort(struct store *s, const char *tmpdir)
{
	const char *entry = tmpdir_entry(s, tmpdir);
	int r;

	if (!entry)
		return -EINVAL;
	r = rm_rf_at(s->qubes_fd, entry, 0);
	if (r < 0)
		return r;
	return fsync_dirfd(s->qubes_fd);
}

int store_save(struct store *s, const struct qube *q)
{
	_cleanup_close_ int dir = -1;

	dir = open_qube_dir(s, q->name);
	if (dir < 0)
		return dir;
	return write_qube_json(dir, q);
}

int store_remove(struct store *s, const char *name)
{
	_cleanup_free_ char *entry = NULL;
	int r;

	if (qube_name_check(name, NULL) < 0)
		return -EINVAL;
	r = make_unique_entry(s, TRASH_PREFIX, name, name, &entry);
	if (r < 0)
		return r;
	/* From here on the qube is gone (store_open deletes a .trash- leftover), so the sync and
	 * the deletion are best effort, as in store_create_commit. */
	fsync_dirfd(s->qubes_fd);
	rm_rf_at(s->qubes_fd, entry, 0);
	return 0;
}

char *store_qube_dir(struct store *s, const char *name)
{
	if (qube_name_check(name, NULL) < 0)
		return NULL;
	return xasprintf("%s/%s", s->qubes_dir, name);
}

char *store_file_path(struct store *s, const char *name, enum store_file f)
{
	if (qube_name_check(name, NULL) < 0 || (unsigned)f >= STORE_FILE_COUNT)
		return NULL;
	return xasprintf("%s/%s/%s", s->qubes_dir, name, file_names[f]);
}

int store_write_qube_file(struct store *s, const char *name, const char *file, const char *text)
{
	_cleanup_close_ int dir = -1;
	_cleanup_free_ char *tmp = xasprintf(".%s.tmp", file);

	dir = open_qube_dir(s, name);
	if (dir < 0)
		return dir;
	return write_file_atomic(dir, file, tmp, text, strlen(text), 0600);
}

int store_read_qube_file(struct store *s, const char *name, const char *file, size_t max,
			 char **ret)
{
	_cleanup_close_ int dir = -1, fd = -1;
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;

	dir = open_qube_dir(s, name);
	if (dir < 0)
		return dir;
	fd = openat(dir, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = xmalloc(max + 2);
	while (len <= max) {
		ssize_t n = read(fd, buf + len, max + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max)
		return -EFBIG;
	buf[len] = 0;
	if (strlen(buf) != len)
		return -EINVAL;
	*ret = TAKE_PTR(buf);
	return 0;
}

int store_load_host(struct store *s, struct json_object **ret)
{
	_cleanup_close_ int dir = open(s->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	const char *reason = NULL;
	if (dir < 0)
		return -errno;
	return read_json_file(dir, HOST_JSON, ret, &reason);
}

int store_save_host(struct store *s, struct json_object *o)
{
	_cleanup_close_ int dir = open(s->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return -errno;
	_cleanup_free_ char *text =
	    xasprintf("%s\n", json_object_to_json_string_ext(
				  o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	return write_file_atomic(dir, HOST_JSON, HOST_JSON ".tmp", text, strlen(text), 0600);
}
