/* Runs the real bulkhead-filecopy-receive ($FILECOPY_RECEIVE) on crafted streams: what is
 * valid lands intact with the right modes; every kind of hostile stream is refused with a clear
 * status, a non-zero exit, and nothing left behind. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "filecopy-proto.h"
#include "fsutil.h"
#include "util.h"

static const char *receiver;
static char home[64];

struct pack {
	uint8_t *buf;
	size_t len;
};

static void put(struct pack *p, const void *data, size_t len)
{
	p->buf = xrealloc(p->buf, p->len + len);
	memcpy(p->buf + p->len, data, len);
	p->len += len;
}

static void begin(struct pack *p)
{
	uint8_t h[FC_STREAM_HDR_LEN];
	fc_stream_header_encode(h);
	put(p, h, sizeof(h));
}

static void rec_raw(struct pack *p, uint32_t type, uint32_t mode, uint64_t size, const char *name,
		    size_t name_len, const void *data, size_t data_len)
{
	struct fc_record r = {.type = type, .mode = mode, .size = size, .name_len = name_len};
	uint8_t h[FC_RECORD_HDR_LEN];
	fc_record_encode(&r, h);
	put(p, h, sizeof(h));
	if (name_len)
		put(p, name, name_len);
	if (data_len)
		put(p, data, data_len);
}

static void file(struct pack *p, const char *name, uint32_t perm, const char *data)
{
	rec_raw(p, FC_FILE, S_IFREG | perm, strlen(data), name, strlen(name), data, strlen(data));
}

static void dir(struct pack *p, const char *name, uint32_t perm)
{
	rec_raw(p, FC_DIR, S_IFDIR | perm, 0, name, strlen(name), NULL, 0);
}

static void link_(struct pack *p, const char *name, const char *target)
{
	rec_raw(p, FC_SYMLINK, S_IFLNK | 0777, strlen(target), name, strlen(name), target,
		strlen(target));
}

static void up(struct pack *p)
{
	rec_raw(p, FC_UP, 0, 0, NULL, 0, NULL, 0);
}

static void end(struct pack *p)
{
	rec_raw(p, FC_END, 0, 0, NULL, 0, NULL, 0);
}

struct result {
	int rc;
	int status_r;
	uint32_t err;
	char msg[FC_STATUS_MSG_MAX + 1];
};

/* Runs the receiver with the pack on stdin. fsize_limit > 0 sets RLIMIT_FSIZE. */
static void run_opts(const struct pack *p, const char *source, rlim_t fsize_limit,
		     const char *const *args, struct result *res)
{
	char in_path[] = "/tmp/fc-in-XXXXXX", out_path[] = "/tmp/fc-out-XXXXXX";
	int in = mkstemp(in_path), out = mkstemp(out_path);
	assert_true(in >= 0 && out >= 0);
	unlink(in_path);
	unlink(out_path);
	assert_int_equal(write_all(in, p->buf, p->len), 0);
	lseek(in, 0, SEEK_SET);

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		const char *argv[8] = {receiver};
		size_t n = 1;
		for (size_t i = 0; args && args[i] && n < 7; i++)
			argv[n++] = args[i];
		dup2(in, 0);
		dup2(out, 1);
		setenv("HOME", home, 1);
		if (source)
			setenv("BULKHEAD_REMOTE_DOMAIN", source, 1);
		else
			unsetenv("BULKHEAD_REMOTE_DOMAIN");
		if (fsize_limit) {
			struct rlimit rl = {fsize_limit, fsize_limit};
			setrlimit(RLIMIT_FSIZE, &rl);
		}
		execv(receiver, (char **)argv);
		_exit(127);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	res->rc = WEXITSTATUS(st);
	lseek(out, 0, SEEK_SET);
	res->status_r = fc_status_read(out, &res->err, res->msg);
	close(in);
	close(out);
}

static void run(const struct pack *p, struct result *res)
{
	run_opts(p, "work", 0, NULL, res);
}

static char *incoming(const char *rel)
{
	return xasprintf("%s/Incoming/work%s%s", home, rel ? "/" : "", rel ? rel : "");
}

/* Entries in ~/Incoming/work, staging directories included. */
static int count_incoming(void)
{
	_cleanup_free_ char *path = incoming(NULL);
	DIR *d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void expect_refused(const struct pack *p, int err, const char *msg_part)
{
	struct result res;
	run(p, &res);
	assert_int_equal(res.status_r, 0);
	if (res.err != (uint32_t)err)
		fail_msg("expected error %d (%s), got %u: %s", err, strerror(err), res.err,
			 res.msg);
	assert_int_not_equal(res.rc, 0);
	if (msg_part && !strstr(res.msg, msg_part))
		fail_msg("message '%s' does not mention '%s'", res.msg, msg_part);
	assert_int_equal(count_incoming(), 0);
}

static int setup(void **state)
{
	snprintf(home, sizeof(home), "/tmp/fc-home-XXXXXX");
	assert_non_null(mkdtemp(home));
	return 0;
}

static int teardown(void **state)
{
	int fd = open(home, O_RDONLY | O_DIRECTORY);
	if (fd >= 0) {
		rm_children_at(fd, true);
		close(fd);
	}
	rmdir(home);
	return 0;
}

static void assert_file(const char *rel, const char *content, mode_t perm)
{
	_cleanup_free_ char *path = incoming(rel);
	struct stat st;
	char buf[256] = "";
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	if ((st.st_mode & 07777) != perm)
		fail_msg("%s: mode %o, expected %o", rel, st.st_mode & 07777, perm);
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_int_equal(n, (ssize_t)strlen(content));
	assert_memory_equal(buf, content, strlen(content));
}

static void test_valid_tree(void **state)
{
	struct pack p = {0};
	struct result res;
	begin(&p);
	file(&p, "top.txt", 04755, "setuid dropped\n");
	dir(&p, "d", 0555);
	file(&p, "empty", 0600, "");
	dir(&p, "sub", 0750);
	file(&p, "x y (2).txt", 0640, "spaces and parens\n");
	link_(&p, "to-empty", "../empty");
	up(&p);
	link_(&p, "to-sub-file", "sub/x y (2).txt");
	up(&p);
	end(&p);
	run(&p, &res);
	assert_int_equal(res.status_r, 0);
	if (res.err)
		fail_msg("refused: %s", res.msg);
	assert_int_equal(res.rc, 0);
	assert_file("top.txt", "setuid dropped\n", 0755);
	assert_file("d/empty", "", 0600);
	assert_file("d/sub/x y (2).txt", "spaces and parens\n", 0640);

	struct stat st;
	_cleanup_free_ char *d = incoming("d");
	_cleanup_free_ char *sub = incoming("d/sub");
	_cleanup_free_ char *l = incoming("d/sub/to-empty");
	assert_int_equal(lstat(d, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0555);
	assert_int_equal(lstat(sub, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	char target[64] = "";
	assert_int_equal(readlink(l, target, sizeof(target) - 1), 8);
	assert_string_equal(target, "../empty");
	/* top.txt and d, no staging directory left */
	assert_int_equal(count_incoming(), 2);

	/* Names already there are never replaced: the whole second copy is refused. */
	struct pack q = {0};
	begin(&q);
	file(&q, "new", 0644, "n");
	file(&q, "top.txt", 0644, "replaced?");
	end(&q);
	run(&q, &res);
	assert_int_equal(res.err, EEXIST);
	assert_int_not_equal(res.rc, 0);
	assert_file("top.txt", "setuid dropped\n", 0755);
	assert_int_equal(count_incoming(), 2);
	free(p.buf);
	free(q.buf);
}

static void test_bad_names(void **state)
{
	static const char *const names[] = {"..",   ".",	 "../x",    "/etc/passwd", "a/b",
					    "a\nb", "tab\there", "del\x7f", "esc\x1b[31m"};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		struct pack p = {0};
		begin(&p);
		file(&p, "ok-before", 0644, "this must go too");
		file(&p, names[i], 0644, "x");
		end(&p);
		expect_refused(&p, EINVAL, "refused name");
		free(p.buf);
	}
	/* a NUL inside the name, and an empty name */
	struct pack p = {0};
	begin(&p);
	rec_raw(&p, FC_FILE, S_IFREG | 0644, 1, "a\0b", 3, "x", 1);
	end(&p);
	expect_refused(&p, EINVAL, "control character");
	free(p.buf);
	p = (struct pack){0};
	begin(&p);
	rec_raw(&p, FC_FILE, S_IFREG | 0644, 1, "", 0, "x", 1);
	end(&p);
	expect_refused(&p, EINVAL, "empty name");
	free(p.buf);
	/* longer than NAME_MAX */
	char longname[300];
	memset(longname, 'a', sizeof(longname));
	p = (struct pack){0};
	begin(&p);
	rec_raw(&p, FC_FILE, S_IFREG | 0644, 1, longname, 256, "x", 1);
	end(&p);
	expect_refused(&p, ENAMETOOLONG, NULL);
	free(p.buf);
}

static void test_bad_symlinks(void **state)
{
	struct {
		const char *target;
		int err;
	} cases[] = {
	    {"/etc/passwd", EPERM}, {"..", EPERM},     {"../outside", EPERM},
	    {"x/../../..", EPERM},  {"x/../y", EPERM}, {"../../../../etc", EPERM},
	    {"a//b", EINVAL},	    {"./a", EINVAL},   {"a/", EINVAL},
	    {"a\nb", EINVAL},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct pack p = {0};
		begin(&p);
		dir(&p, "d", 0755);
		file(&p, "x", 0644, "x");
		link_(&p, "l", cases[i].target);
		up(&p);
		end(&p);
		expect_refused(&p, cases[i].err, "symlink");
		free(p.buf);
	}
	/* a symlink at the top level points beside the tree: never accepted */
	struct pack p = {0};
	begin(&p);
	file(&p, "x", 0644, "x");
	link_(&p, "l", "x");
	end(&p);
	expect_refused(&p, EPERM, "leaves the copied tree");
	free(p.buf);
	/* NUL in a target */
	p = (struct pack){0};
	begin(&p);
	dir(&p, "d", 0755);
	rec_raw(&p, FC_SYMLINK, S_IFLNK | 0777, 3, "l", 1, "a\0b", 3);
	up(&p);
	end(&p);
	expect_refused(&p, EINVAL, "control character");
	free(p.buf);
}

static void test_special_files(void **state)
{
	static const uint32_t modes[] = {S_IFCHR | 0644, S_IFBLK | 0660, S_IFIFO | 0644,
					 S_IFSOCK | 0755};
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
		struct pack p = {0};
		begin(&p);
		rec_raw(&p, FC_FILE, modes[i], 0, "dev", 3, NULL, 0);
		end(&p);
		expect_refused(&p, EPERM, "device files");
		free(p.buf);
	}
	struct pack p = {0};
	begin(&p);
	rec_raw(&p, 6, S_IFCHR | 0644, 0, "dev", 3, NULL, 0);
	end(&p);
	expect_refused(&p, EPROTO, "unknown record type");
	free(p.buf);
	/* type and mode disagree */
	p = (struct pack){0};
	begin(&p);
	rec_raw(&p, FC_FILE, S_IFDIR | 0755, 0, "f", 1, NULL, 0);
	end(&p);
	expect_refused(&p, EPROTO, "does not match");
	free(p.buf);
}

static void test_limits(void **state)
{
	struct result res;
	struct pack p = {0};
	begin(&p);
	file(&p, "a", 0644, "12345");
	file(&p, "b", 0644, "123456");
	end(&p);
	const char *const small[] = {"--max-bytes", "10", NULL};
	run_opts(&p, "work", 0, small, &res);
	assert_int_equal(res.err, EFBIG);
	assert_int_not_equal(res.rc, 0);
	assert_non_null(strstr(res.msg, "limit"));
	assert_int_equal(count_incoming(), 0);
	const char *const exact[] = {"--max-bytes", "11", NULL};
	run_opts(&p, "work", 0, exact, &res);
	assert_int_equal(res.err, 0);
	assert_int_equal(count_incoming(), 2);
	teardown(state);
	setup(state);
	free(p.buf);

	p = (struct pack){0};
	begin(&p);
	file(&p, "a", 0644, "1");
	dir(&p, "d", 0755);
	file(&p, "b", 0644, "2");
	up(&p);
	end(&p);
	const char *const few[] = {"--max-files", "2", NULL};
	run_opts(&p, "work", 0, few, &res);
	assert_int_equal(res.err, E2BIG);
	assert_int_equal(count_incoming(), 0);
	free(p.buf);

	p = (struct pack){0};
	begin(&p);
	dir(&p, "1", 0755);
	dir(&p, "2", 0755);
	dir(&p, "3", 0755);
	up(&p);
	up(&p);
	up(&p);
	end(&p);
	const char *const shallow[] = {"--max-depth", "2", NULL};
	run_opts(&p, "work", 0, shallow, &res);
	assert_int_equal(res.err, ELOOP);
	assert_int_equal(count_incoming(), 0);
	free(p.buf);

	/* the default depth cap holds without options */
	p = (struct pack){0};
	begin(&p);
	for (unsigned i = 0; i <= FC_DEPTH_MAX; i++)
		dir(&p, "d", 0755);
	expect_refused(&p, ELOOP, "nested");
	free(p.buf);

	/* a huge declared size is refused before any byte is read */
	p = (struct pack){0};
	begin(&p);
	rec_raw(&p, FC_FILE, S_IFREG | 0644, FC_DEFAULT_MAX_BYTES + 1, "huge", 4, "x", 1);
	expect_refused(&p, EFBIG, "huge");
	free(p.buf);
}

static void test_truncated_and_lying(void **state)
{
	/* every prefix of a valid stream is refused and leaves nothing */
	struct pack full = {0};
	begin(&full);
	dir(&full, "d", 0755);
	file(&full, "f", 0644, "0123456789");
	up(&full);
	end(&full);
	for (size_t cut = 0; cut < full.len; cut++) {
		struct pack p = {.buf = full.buf, .len = cut};
		expect_refused(&p, EPIPE, "ended");
	}
	free(full.buf);

	/* declares 100 bytes, sends 10 and ends */
	struct pack p = {0};
	begin(&p);
	rec_raw(&p, FC_FILE, S_IFREG | 0644, 100, "f", 1, "0123456789", 10);
	end(&p);
	expect_refused(&p, EPIPE, "f: stream ended inside a file");
	free(p.buf);

	/* declares 3 bytes, sends 10: the rest is read as a header and refused */
	p = (struct pack){0};
	begin(&p);
	rec_raw(&p, FC_FILE, S_IFREG | 0644, 3, "f", 1, "0123456789", 10);
	end(&p);
	expect_refused(&p, EPROTO, "bad record");
	free(p.buf);

	/* symlink length longer than what follows */
	p = (struct pack){0};
	begin(&p);
	dir(&p, "d", 0755);
	rec_raw(&p, FC_SYMLINK, S_IFLNK | 0777, 4000, "l", 1, "x", 1);
	expect_refused(&p, EPIPE, NULL);
	free(p.buf);

	/* name length longer than what follows */
	p = (struct pack){0};
	begin(&p);
	struct fc_record r = {.type = FC_FILE, .mode = S_IFREG | 0644, .name_len = 200};
	uint8_t h[FC_RECORD_HDR_LEN];
	fc_record_encode(&r, h);
	put(&p, h, sizeof(h));
	put(&p, "abc", 3);
	expect_refused(&p, EPIPE, "name");
	free(p.buf);
}

static void test_structure(void **state)
{
	struct pack p = {0};
	memcpy(p.buf = xmalloc(8), "BHFX\1\0\0\0", 8);
	p.len = 8;
	expect_refused(&p, EPROTO, "not a Bulkhead");
	free(p.buf);
	p = (struct pack){0};
	memcpy(p.buf = xmalloc(8), "BHFC\2\0\0\0", 8);
	p.len = 8;
	expect_refused(&p, EPROTO, "version");
	free(p.buf);

	p = (struct pack){0};
	begin(&p);
	up(&p);
	end(&p);
	expect_refused(&p, EPROTO, "top level");
	free(p.buf);

	p = (struct pack){0};
	begin(&p);
	dir(&p, "d", 0755);
	end(&p);
	expect_refused(&p, EPROTO, "inside a directory");
	free(p.buf);

	p = (struct pack){0};
	begin(&p);
	struct fc_record r = {.type = FC_END, .reserved = 1};
	uint8_t h[FC_RECORD_HDR_LEN];
	fc_record_encode(&r, h);
	put(&p, h, sizeof(h));
	expect_refused(&p, EPROTO, "reserved");
	free(p.buf);

	/* a directory record with data */
	p = (struct pack){0};
	begin(&p);
	rec_raw(&p, FC_DIR, S_IFDIR | 0755, 5, "d", 1, "xxxxx", 5);
	end(&p);
	expect_refused(&p, EPROTO, "directory record");
	free(p.buf);

	/* the same name twice in one stream */
	p = (struct pack){0};
	begin(&p);
	file(&p, "a", 0644, "1");
	file(&p, "a", 0644, "2");
	end(&p);
	expect_refused(&p, EEXIST, "cannot create");
	free(p.buf);
}

static void test_source_and_home(void **state)
{
	struct pack p = {0};
	struct result res;
	begin(&p);
	file(&p, "a", 0644, "1");
	end(&p);

	static const char *const bad[] = {
	    "../evil", "1abc", "", "a/b", "abcdefghijklmnopqrstuvwxyz0123456", ".hidden"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		run_opts(&p, bad[i], 0, NULL, &res);
		assert_int_equal(res.err, EINVAL);
		assert_int_not_equal(res.rc, 0);
	}
	run_opts(&p, NULL, 0, NULL, &res);
	assert_int_equal(res.err, EINVAL);
	/* nothing was created for any of them */
	_cleanup_free_ char *inc = xasprintf("%s/Incoming", home);
	assert_int_equal(access(inc, F_OK), -1);

	/* Incoming/work is a symlink somewhere else: refused, nothing written there */
	char elsewhere[] = "/tmp/fc-elsewhere-XXXXXX";
	assert_non_null(mkdtemp(elsewhere));
	assert_int_equal(mkdir(inc, 0700), 0);
	_cleanup_free_ char *work = incoming(NULL);
	assert_int_equal(symlink(elsewhere, work), 0);
	run(&p, &res);
	assert_int_not_equal(res.err, 0);
	assert_int_not_equal(res.rc, 0);
	_cleanup_free_ char *leak = xasprintf("%s/a", elsewhere);
	assert_int_equal(access(leak, F_OK), -1);
	rmdir(elsewhere);
	unlink(work);

	/* a stage left by a killed receiver is removed by the next one */
	assert_int_equal(mkdir(work, 0700), 0);
	_cleanup_free_ char *stale = incoming(".bulkhead-incoming.0123456789abcdef");
	assert_int_equal(mkdir(stale, 0500), 0);
	/* a fresh one may belong to a receiver that has not locked it yet: kept */
	run(&p, &res);
	assert_int_equal(res.err, 0);
	assert_int_equal(access(stale, F_OK), 0);
	_cleanup_free_ char *landed = incoming("a");
	assert_int_equal(unlink(landed), 0);
	const char *const now[] = {"--stale-after", "0", NULL};
	run_opts(&p, "work", 0, now, &res);
	assert_int_equal(res.err, 0);
	assert_int_equal(res.rc, 0);
	assert_int_equal(access(stale, F_OK), -1);
	assert_int_equal(count_incoming(), 1);
	free(p.buf);
}

static void test_file_size_limit(void **state)
{
	/* RLIMIT_FSIZE gives EFBIG on write, the same path as a full disk: reported, exit 2,
	 * and nothing partial left. */
	struct pack p = {0};
	struct result res;
	size_t n = 2u << 20;
	_cleanup_free_ char *big = xmalloc(n + 1);
	memset(big, 'z', n);
	big[n] = '\0';
	begin(&p);
	file(&p, "small", 0644, "fits");
	file(&p, "big", 0644, big);
	end(&p);
	run_opts(&p, "work", 1u << 20, NULL, &res);
	assert_int_equal(res.status_r, 0);
	assert_int_equal(res.err, EFBIG);
	assert_int_equal(res.rc, 2);
	assert_non_null(strstr(res.msg, "big: cannot write"));
	assert_int_equal(count_incoming(), 0);
	free(p.buf);
}

int main(void)
{
	receiver = getenv("FILECOPY_RECEIVE");
	if (!receiver) {
		fprintf(stderr, "FILECOPY_RECEIVE is not set\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_valid_tree, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_symlinks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_special_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_truncated_and_lying, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_structure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_source_and_home, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_size_limit, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
