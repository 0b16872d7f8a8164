/* The on-disk store: create/commit/abort, save, remove, crash leftovers, damaged files, and
 * write errors (EFBIG from RLIMIT_FSIZE always; ENOSPC on a tiny tmpfs when root). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "qube.h"
#include "store.h"
#include "util.h"

struct fixture {
	char base[64];
	char *state;
};

static int rm_rf(const char *path)
{
	_cleanup_free_ char *cmd = xasprintf("rm -rf -- '%s'", path);
	return system(cmd);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	snprintf(f->base, sizeof(f->base), "/tmp/bh-store-test-XXXXXX");
	if (!mkdtemp(f->base))
		return -1;
	f->state = xasprintf("%s/state", f->base);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rm_rf(f->base);
	free(f->state);
	free(f);
	return 0;
}

static char *read_file(const char *path)
{
	FILE *fp = fopen(path, "re");
	char *buf = NULL;
	size_t n = 0;

	if (!fp)
		return NULL;
	if (getdelim(&buf, &n, '\0', fp) < 0) {
		free(buf);
		buf = xstrdup("");
	}
	fclose(fp);
	return buf;
}

static void write_file(const char *path, const char *content)
{
	FILE *fp = fopen(path, "we");

	assert_non_null(fp);
	fputs(content, fp);
	assert_int_equal(fclose(fp), 0);
}

static bool path_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* Entries of dir (without . and ..), joined by spaces in sorted order. */
static char *list_dir(const char *dir)
{
	struct dirent **list;
	char *out = xstrdup("");
	int n = scandir(dir, &list, NULL, alphasort);

	if (n < 0)
		return out;
	for (int i = 0; i < n; i++) {
		if (!streq(list[i]->d_name, ".") && !streq(list[i]->d_name, "..")) {
			char *o = xasprintf("%s%s%s", out, *out ? " " : "", list[i]->d_name);
			free(out);
			out = o;
		}
		free(list[i]);
	}
	free(list);
	return out;
}

static struct qube *make_qube(const char *name)
{
	struct qube *q = NULL;

	assert_int_equal(qube_new(name, QUBE_APPVM, LABEL_GREEN, &q), 0);
	assert_int_equal(qube_prop_set(q, "template", "debian-12", NULL), 0);
	return q;
}

/* create_begin + a volume file + commit. */
static void create_qube(struct store *s, const struct qube *q)
{
	char *tmp = NULL;

	assert_int_equal(store_create_begin(s, q, &tmp), 0);
	_cleanup_free_ char *vol = xasprintf("%s/%s", tmp, store_file_name(STORE_FILE_PRIVATE));
	write_file(vol, "volume");
	assert_int_equal(store_create_commit(s, tmp, q->name), 0);
	assert_false(path_exists(tmp));
	free(tmp);
}

static void test_open_layout(void **state)
{
	struct fixture *f = *state;
	struct store *s = NULL;
	struct stat st;
	mode_t old = umask(077);

	assert_int_equal(store_open("relative/dir", &s), -EINVAL);
	assert_null(s);
	assert_int_equal(store_open(f->state, &s), 0);
	umask(old);
	assert_string_equal(store_state_dir(s), f->state);
	assert_int_equal(stat(f->state, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0711);
	_cleanup_free_ char *qubes = xasprintf("%s/qubes", f->state);
	assert_int_equal(stat(qubes, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0711);

	_cleanup_free_ char *dir = store_qube_dir(s, "work");
	_cleanup_free_ char *want = xasprintf("%s/qubes/work", f->state);
	assert_string_equal(dir, want);
	_cleanup_free_ char *root = store_file_path(s, "work", STORE_FILE_ROOT);
	_cleanup_free_ char *want_root = xasprintf("%s/qubes/work/root.qcow2", f->state);
	assert_string_equal(root, want_root);
	assert_null(store_qube_dir(s, "../etc"));
	assert_null(store_file_path(s, "..", STORE_FILE_CONFIG));
	assert_null(store_file_path(s, "work", STORE_FILE_COUNT));
	assert_string_equal(store_file_name(STORE_FILE_CONFIG), "qube.json");
	assert_string_equal(store_file_name(STORE_FILE_VOLATILE), "volatile.qcow2");
	assert_string_equal(store_file_name(STORE_FILE_ROOT_OVERLAY), "root-overlay.qcow2");
	assert_string_equal(store_file_name(STORE_FILE_CONSOLE_LOG), "console.log");
	store_free(s);
	store_free(NULL);
}

static void test_create_commit_load(void **state)
{
	struct fixture *f = *state;
	struct store *s = NULL;
	struct qube *q = make_qube("work"), *back = NULL;
	struct qube **all = NULL;
	size_t n = 0, np = 99;
	struct store_problem *problems = NULL;
	struct stat st;
	const char *reason;

	assert_int_equal(store_open(f->state, &s), 0);
	assert_false(store_exists(s, "work"));
	create_qube(s, q);
	assert_true(store_exists(s, "work"));

	_cleanup_free_ char *dir = store_qube_dir(s, "work");
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0711);
	_cleanup_free_ char *json = store_file_path(s, "work", STORE_FILE_CONFIG);
	assert_int_equal(stat(json, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	_cleanup_free_ char *vol = store_file_path(s, "work", STORE_FILE_PRIVATE);
	_cleanup_free_ char *content = read_file(vol);
	assert_string_equal(content, "volume");

	assert_int_equal(store_load(s, "work", &back, &reason), 0);
	assert_string_equal(back->template, "debian-12");
	assert_int_equal(back->label, LABEL_GREEN);
	qube_free(back);
	assert_int_equal(store_load(s, "nosuch", &back, &reason), -ENOENT);

	/* A second qube of the same name cannot be begun... */
	char *tmp = NULL;
	assert_int_equal(store_create_begin(s, q, &tmp), -EEXIST);
	assert_null(tmp);
	/* ...nor committed if it appeared in the meantime; abort then cleans up. */
	struct qube *other = make_qube("other");
	assert_int_equal(store_create_begin(s, other, &tmp), 0);
	assert_int_equal(store_create_commit(s, tmp, "work"), -EEXIST);
	assert_true(path_exists(tmp));
	assert_int_equal(store_create_abort(s, tmp), 0);
	assert_false(path_exists(tmp));
	free(tmp);
	/* ...even when the name is taken by an empty directory (rename(2) would replace it). */
	_cleanup_free_ char *empty = xasprintf("%s/qubes/other", f->state);
	assert_int_equal(mkdir(empty, 0700), 0);
	assert_int_equal(store_create_begin(s, other, &tmp), -EEXIST);
	assert_int_equal(rmdir(empty), 0);
	assert_int_equal(store_create_begin(s, other, &tmp), 0);
	assert_int_equal(mkdir(empty, 0700), 0);
	assert_int_equal(store_create_commit(s, tmp, "other"), -EEXIST);
	assert_int_equal(store_create_abort(s, tmp), 0);
	free(tmp);
	assert_int_equal(rmdir(empty), 0);

	/* Paths that are not a create tmp dir are refused. */
	assert_int_equal(store_create_abort(s, dir), -EINVAL);
	assert_int_equal(store_create_abort(s, "/tmp"), -EINVAL);
	assert_true(path_exists(dir));

	create_qube(s, other);
	assert_int_equal(store_load_all(s, &all, &n, &problems, &np), 0);
	assert_int_equal(n, 2);
	assert_int_equal(np, 0);
	assert_string_equal(all[0]->name, "other");
	assert_string_equal(all[1]->name, "work");
	store_qubes_free(all, n);
	store_problems_free(problems, np);
	_cleanup_free_ char *listing = list_dir(dir);
	assert_string_equal(listing, "private.qcow2 qube.json");

	qube_free(other);
	qube_free(q);
	store_free(s);
}

/* A qube.json from before uuids were kept gets one on its first load, and keeps it. */
static void test_uuid_kept(void **state)
{
	struct fixture *f = *state;
	struct store *s = NULL;
	struct qube *q = make_qube("work"), *a = NULL, *b = NULL;

	assert_int_equal(store_open(f->state, &s), 0);
	create_qube(s, q);
	_cleanup_free_ char *json_path = store_file_path(s, "work", STORE_FILE_CONFIG);
	_cleanup_free_ char *text = read_file(json_path);
	char *u = strstr(text, "\"uuid\"");
	assert_non_null(u);
	/* the same file without its uuid: "uuid" is the last member */
	char *comma = u;
	while (comma > text && *comma != ',')
		comma--;
	strcpy(comma, "\n}\n");
	write_file(json_path, text);

	assert_int_equal(store_load(s, "work", &a, NULL), 0);
	assert_int_equal(strlen(a->uuid), QUBE_UUID_LEN);
	assert_int_equal(store_load(s, "work", &b, NULL), 0);
	assert_string_equal(a->uuid, b->uuid);
	_cleanup_free_ char *now = read_file(json_path);
	assert_non_null(strstr(now, a->uuid));
	qube_free(a);
	qube_free(b);
	qube_free(q);
	store_free(s);
}

static void test_save_remove(void **state)
{
	struct fixture *f = *state;
	struct store *s = NULL;
	struct qube *q = make_qube("work"), *back = NULL;

	assert_int_equal(store_open(f->state, &s), 0);
	assert_int_equal(store_save(s, q), -ENOENT);
	create_qube(s, q);
	assert_int_equal(qube_prop_set(q, "memory", "1234", NULL), 0);
	assert_int_equal(qube_tag_add(q, "saved"), 0);
	assert_int_equal(store_save(s, q), 0);
	assert_int_equal(store_load(s, "work", &back, NULL), 0);
	assert_int_equal(back->memory, 1234);
	assert_true(qube_has_tag(back, "saved"));
	qube_free(back);
	_cleanup_free_ char *dir = store_qube_dir(s, "work");
	_cleanup_free_ char *listing = list_dir(dir);
	assert_string_equal(listing, "private.qcow2 qube.json");

	/* Remove takes the files with it, and leaves nothing in qubes/. */
	_cleanup_free_ char *sub = xasprintf("%s/sub/deeper", dir);
	_cleanup_free_ char *cmd = xasprintf("mkdir -p '%s' && touch '%s/file'", sub, sub);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(store_remove(s, "work"), 0);
	assert_false(store_exists(s, "work"));
	_cleanup_free_ char *qubes = xasprintf("%s/qubes", f->state);
	_cleanup_free_ char *after = list_dir(qubes);
	assert_string_equal(after, "");
	assert_int_equal(store_remove(s, "work"), -ENOENT);
	assert_int_equal(store_remove(s, "../state"), -EINVAL);
	qube_free(q);
	store_free(s);
}

/* What a crash leaves behind is removed at open; real qubes are kept. */
static void test_leftovers(void **state)
{
	struct fixture *f = *state;
	struct store *s = NULL;
	struct qube *q = make_qube("work");
	char *tmp = NULL;
	pid_t pid;
	int status;

	assert_int_equal(store_open(f->state, &s), 0);
	create_qube(s, q);
	store_free(s);

	/* A process killed between begin and commit. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *cs = NULL;
		struct qube *cq = make_qube("half");
		if (store_open(f->state, &cs) < 0 || store_create_begin(cs, cq, &tmp) < 0)
			_exit(1);
		kill(getpid(), SIGKILL);
		_exit(2);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));

	_cleanup_free_ char *qubes = xasprintf("%s/qubes", f->state);
	_cleanup_free_ char *cmd = xasprintf(
	    "cd '%s' && mkdir -p .trash-gone-abc123/a/b/c .tmp-x-1/y && touch "
	    ".trash-gone-abc123/a/b/c/f"
	    " .tmp-x-1/y/z .trash-gone-abc123/file && ln -s /etc .tmp-x-1/link && chmod 000 "
	    ".tmp-x-1/y",
	    qubes);
	assert_int_equal(system(cmd), 0);
	_cleanup_free_ char *before = list_dir(qubes);
	assert_non_null(strstr(before, ".tmp-half-"));

	assert_int_equal(store_open(f->state, &s), 0);
	_cleanup_free_ char *after = list_dir(qubes);
	/* chmod 000 only stops a non-root test; then that directory may stay. */
	if (geteuid() == 0)
		assert_string_equal(after, "work");
	else
		assert_null(strstr(after, ".trash-"));
	assert_true(path_exists("/etc/passwd")); /* the symlink was not followed */
	assert_true(store_exists(s, "work"));
	assert_false(store_exists(s, "half"));
	qube_free(q);
	store_free(s);
}

static void test_damaged_skipped(void **state)
{
	struct fixture *f = *state;
	struct store *s = NULL;
	struct qube *q = make_qube("good"), *m = make_qube("mismatch");
	struct qube **all = NULL;
	struct store_problem *problems = NULL;
	size_t n = 0, np = 0;

	assert_int_equal(store_open(f->state, &s), 0);
	create_qube(s, q);
	create_qube(s, m);
	_cleanup_free_ char *qubes = xasprintf("%s/qubes", f->state);
	_cleanup_free_ char *cmd = xasprintf(
	    "cd '%s' && mkdir broken empty 1badname trailing big && echo '{\"version\": 1,' > "
	    "broken/qube.json && touch afile && mv mismatch renamed && cp good/qube.json "
	    "trailing/qube.json && echo '{}' >> trailing/qube.json && head -c 1048577 /dev/zero "
	    "| tr '\\0' ' ' > big/qube.json && mkdir linked && ln -s ../good/qube.json "
	    "linked/qube.json && mkdir nulkey && sed -e 's/\"good\"/\"nulkey\"/' -e "
	    "'s/\"label\"/\"label\\\\u0000x\"/' good/qube.json > nulkey/qube.json",
	    qubes);
	assert_int_equal(system(cmd), 0);

	assert_int_equal(store_load_all(s, &all, &n, &problems, &np), 0);
	assert_int_equal(n, 1);
	assert_string_equal(all[0]->name, "good");
	static const struct {
		const char *entry;
		int error;
	} want[] = {
	    {"1badname", -EINVAL}, {"afile", -ENOTDIR},	 {"big", -EFBIG},
	    {"broken", -EINVAL},   {"empty", -ENOENT},	 {"linked", -ELOOP},
	    {"nulkey", -EINVAL},   {"renamed", -EINVAL}, {"trailing", -EINVAL},
	};
	assert_int_equal(np, ARRAY_SIZE(want));
	for (size_t i = 0; i < np; i++) {
		assert_string_equal(problems[i].entry, want[i].entry);
		assert_int_equal(problems[i].error, want[i].error);
		assert_non_null(problems[i].reason);
	}
	store_qubes_free(all, n);
	store_problems_free(problems, np);
	/* Problems may be ignored. */
	assert_int_equal(store_load_all(s, &all, &n, NULL, NULL), 0);
	assert_int_equal(n, 1);
	store_qubes_free(all, n);
	qube_free(q);
	qube_free(m);
	store_free(s);
}

/* A qube that no longer fits: lots of features make the JSON grow. */
static void grow(struct qube *q)
{
	char key[16], value[1025];

	memset(value, 'v', 1024);
	value[1024] = '\0';
	for (int i = 0; i < 64; i++) {
		snprintf(key, sizeof(key), "big%d", i);
		assert_int_equal(qube_feature_set(q, key, value), 0);
	}
}

/* After a failed save: the old file is there, unchanged, and no temporary is left over. (No
 * cmocka asserts: it also runs in a forked child.) */
static bool old_state_ok(struct store *s, const char *json_path, const char *old)
{
	_cleanup_free_ char *now = read_file(json_path);
	_cleanup_free_ char *dir = store_qube_dir(s, "work");
	_cleanup_free_ char *listing = list_dir(dir);
	struct qube *back = NULL;
	bool ok;

	if (!now || !streq(now, old) || !streq(listing, "private.qcow2 qube.json"))
		return false;
	if (store_load(s, "work", &back, NULL) < 0)
		return false;
	ok = back->n_features == 0;
	qube_free(back);
	return ok;
}

static void test_efbig(void **state)
{
	struct fixture *f = *state;
	struct store *s = NULL;
	struct qube *q = make_qube("work"), *other = make_qube("other");
	struct rlimit old, lim;
	char *tmp = NULL;

	assert_int_equal(store_open(f->state, &s), 0);
	create_qube(s, q);
	_cleanup_free_ char *path = store_file_path(s, "work", STORE_FILE_CONFIG);
	_cleanup_free_ char *before = read_file(path);
	grow(q);

	grow(other);

	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = 4096;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	int r = store_save(s, q);
	int r2 = store_create_begin(s, other, &tmp);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);

	assert_int_equal(r, -EFBIG);
	assert_true(old_state_ok(s, path, before));
	/* A qube too big to begin leaves no tmp dir. */
	assert_int_equal(r2, -EFBIG);
	assert_null(tmp);
	_cleanup_free_ char *qubes = xasprintf("%s/qubes", f->state);
	_cleanup_free_ char *listing = list_dir(qubes);
	assert_string_equal(listing, "work");

	/* With room again it works. */
	assert_int_equal(store_save(s, q), 0);
	qube_free(q);
	qube_free(other);
	store_free(s);
}

/* A real full filesystem: a 64 KiB tmpfs in a private mount namespace (needs root). */
static void test_enospc(void **state)
{
	struct fixture *f = *state;
	pid_t pid;
	int status;

	if (geteuid() != 0) {
		skip();
		return;
	}
	/* In a child, so the mount namespace goes away with it. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *s = NULL;
		struct qube *q = make_qube("work"), *other = make_qube("other");
		_cleanup_free_ char *mnt = xasprintf("%s/mnt", f->base);
		_cleanup_free_ char *filler = xasprintf("%s/filler", mnt);
		_cleanup_free_ char *state_dir = xasprintf("%s/state", mnt);
		char *tmp = NULL;
		char buf[4096];
		int fd;

		if (unshare(CLONE_NEWNS) < 0)
			_exit(77);
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 || mkdir(mnt, 0700) < 0 ||
		    mount("tmpfs", mnt, "tmpfs", 0, "size=64k,mode=0755") < 0)
			_exit(77);
		if (store_open(state_dir, &s) < 0)
			_exit(10);
		create_qube(s, q);
		_cleanup_free_ char *path = store_file_path(s, "work", STORE_FILE_CONFIG);
		_cleanup_free_ char *before = read_file(path);
		/* Fill it up. */
		fd = open(filler, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			_exit(11);
		memset(buf, 'x', sizeof(buf));
		for (;;) {
			ssize_t w = write(fd, buf, sizeof(buf));
			if (w < 0) {
				if (errno != ENOSPC)
					_exit(12);
				break;
			}
		}
		/* Every byte more needs a new page; make sure the save needs at least one. */
		qube_feature_set(q, "k", "v");
		if (store_save(s, q) != -ENOSPC)
			_exit(13);
		if (!old_state_ok(s, path, before))
			_exit(17);
		if (store_create_begin(s, other, &tmp) != -ENOSPC || tmp)
			_exit(14);
		_cleanup_free_ char *qubes = xasprintf("%s/qubes", state_dir);
		_cleanup_free_ char *listing = list_dir(qubes);
		if (!streq(listing, "work"))
			_exit(15);
		/* Space again: it works. */
		close(fd);
		unlink(filler);
		if (store_save(s, q) != 0)
			_exit(16);
		qube_free(q);
		qube_free(other);
		store_free(s);
		umount(mnt);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		skip();
		return;
	}
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_open_layout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_create_commit_load, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_save_remove, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_uuid_kept, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_leftovers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_damaged_skipped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_efbig, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_enospc, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
