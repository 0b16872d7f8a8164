/*
 * bulkhead-filecopy-receive: the bulkhead.Filecopy service. Reads a file copy stream on stdin
 * and puts its entries into ~/Incoming/$BULKHEAD_REMOTE_DOMAIN/, answering one status record
 * on stdout.
 *
 * Everything is unpacked into a staging directory inside Incoming/SOURCE (".bulkhead-incoming.
 * <random>", locked while in use) and renamed into place only after the whole stream was read
 * and checked, so an interrupted or refused copy leaves nothing visible. A stage left behind by
 * a killed receiver is removed by the next one (its lock is free and it is older than
 * --stale-after, a minute by default).
 *
 * Exit status: 0 done, 1 the stream was refused (bad input, over a limit, a name already in
 * Incoming), 2 a local failure (full disk, I/O, bad environment).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "filecopy-unpack.h"
#include "fsutil.h"
#include "util.h"
#include "validate.h"

#define PROG	     "bulkhead-filecopy-receive"
#define STAGE_PREFIX ".bulkhead-incoming."

static int finish_as(uint32_t err, const char *msg, bool local)
{
	int r = fc_status_write(1, err, msg);
	if (err)
		fprintf(stderr, PROG ": %s: %s\n", strerror((int)err), msg);
	if (r < 0 && !err)
		fprintf(stderr, PROG ": cannot answer the sender: %s\n", strerror(-r));
	if (err == 0)
		return 0;
	return local ? 2 : 1;
}

/* Failures of the receiver's own setup count as local. */
static int finish(uint32_t err, const char *msg)
{
	return finish_as(err, msg, err != 0);
}

static int parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Removes stages whose receiver is gone: nobody holds their lock. */
static void clean_stale_stages(int dirfd, uint64_t stale_after)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, STAGE_PREFIX, strlen(STAGE_PREFIX)) != 0)
			continue;
		_cleanup_close_ int sfd =
		    openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;
		/* A stage only just made may not be locked yet by its receiver: leave it. */
		if (sfd < 0 || fstat(sfd, &st) < 0 ||
		    (uint64_t)st.st_ctime + stale_after > (uint64_t)time(NULL) ||
		    flock(sfd, LOCK_EX | LOCK_NB) < 0)
			continue;
		(void)rm_tree_at(dirfd, de->d_name, true);
	}
	closedir(d);
}

/* Moves every top-level entry of the stage into dest, all or nothing. */
static int publish(int stage_fd, int dest_fd, char *msg, size_t msglen)
{
	_cleanup_free_ char **names = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	int fd = openat(stage_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);

	struct stat st;
	for (size_t i = 0; i < n && r == 0; i++)
		if (fstatat(dest_fd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0) {
			snprintf(msg, msglen, "%s already exists in the Incoming directory",
				 names[i]);
			r = -EEXIST;
		}
	size_t moved = 0;
	for (; r == 0 && moved < n; moved++)
		if (renameat2(stage_fd, names[moved], dest_fd, names[moved], RENAME_NOREPLACE) <
		    0) {
			r = -errno;
			snprintf(msg, msglen, "cannot move %s into place: %s", names[moved],
				 strerror(errno));
			break;
		}
	/* All or nothing: what already moved goes back to the stage to be removed with it. */
	if (r < 0)
		while (moved > 0) {
			moved--;
			(void)renameat2(dest_fd, names[moved], stage_fd, names[moved],
					RENAME_NOREPLACE);
		}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"max-bytes", required_argument, NULL, 'b'},
	    {"max-files", required_argument, NULL, 'f'},
	    {"max-depth", required_argument, NULL, 'd'},
	    {"stale-after", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct filecopy_limits lim;
	uint64_t v, stale_after = 60;
	int c, r;

	/* A write over RLIMIT_FSIZE must be an error we report, not a silent death. */
	signal(SIGXFSZ, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	filecopy_limits_default(&lim);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			printf("Usage: %s [--max-bytes N] [--max-files N] [--max-depth N] "
			       "[--stale-after SECONDS]\n"
			       "Receives a bulkhead-copy stream on stdin into "
			       "~/Incoming/$BULKHEAD_REMOTE_DOMAIN/.\n",
			       argv[0]);
			return 0;
		}
		if (c == '?' || parse_u64(optarg, &v) < 0) {
			fprintf(stderr, PROG ": bad option value\n");
			return finish(EINVAL, "the receiver is misconfigured");
		}
		if (c == 'b')
			lim.max_bytes = v;
		else if (c == 'f')
			lim.max_files = v;
		else if (c == 's')
			stale_after = v < 366u * 86400u ? v : 366u * 86400u;
		else
			lim.max_depth = v < FC_DEPTH_MAX ? (unsigned)v : FC_DEPTH_MAX;
	}

	const char *source = getenv("BULKHEAD_REMOTE_DOMAIN");
	/* The caller's name becomes a directory: a qube's, or "dom0" for the host, as Qubes names
	 * ~/QubesIncoming/dom0. */
	if (!source || (!streq(source, "dom0") && qube_name_check(source, NULL) < 0))
		return finish(EINVAL, "BULKHEAD_REMOTE_DOMAIN is not a valid qube name");

	/* The agent sets HOME for the user it runs the service as (the qube has no NSS). */
	const char *home = getenv("HOME");
	if (!home || home[0] != '/')
		return finish(ENOENT, "the receiving user has no home directory (HOME unset)");

	_cleanup_close_ int home_fd = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (home_fd < 0)
		return finish((uint32_t)errno, "cannot open the home directory");
	_cleanup_close_ int inc_fd = mkdir_open_at(home_fd, "Incoming", 0700);
	if (inc_fd < 0)
		return finish((uint32_t)-inc_fd, "cannot create ~/Incoming (or it is a symlink)");
	_cleanup_close_ int dest_fd = mkdir_open_at(inc_fd, source, 0700);
	if (dest_fd < 0)
		return finish((uint32_t)-dest_fd,
			      "cannot create ~/Incoming/SOURCE (or it is a symlink)");
	clean_stale_stages(dest_fd, stale_after);

	char stage[sizeof(STAGE_PREFIX) + 17];
	r = random_name(STAGE_PREFIX, stage, sizeof(stage));
	if (r < 0)
		return finish((uint32_t)-r, "cannot name a staging directory");
	if (mkdirat(dest_fd, stage, 0700) < 0)
		return finish((uint32_t)errno, "cannot create a staging directory");
	_cleanup_close_ int stage_fd =
	    openat(dest_fd, stage, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (stage_fd < 0 || flock(stage_fd, LOCK_EX) < 0) {
		int e = errno;
		(void)rm_tree_at(dest_fd, stage, true);
		return finish((uint32_t)e, "cannot open the staging directory");
	}

	struct filecopy_report rep;
	r = filecopy_unpack(0, stage_fd, &lim, &rep);
	if (r == 0 && syncfs(stage_fd) < 0) {
		r = -errno;
		rep.local_failure = true;
		snprintf(rep.msg, sizeof(rep.msg), "cannot write to disk: %s", strerror(errno));
	}
	if (r == 0) {
		r = publish(stage_fd, dest_fd, rep.msg, sizeof(rep.msg));
		/* a name taken in Incoming is a refusal; anything else is ours */
		rep.local_failure = r < 0 && r != -EEXIST;
	}
	(void)rm_tree_at(dest_fd, stage, true);
	if (r < 0)
		return finish_as((uint32_t)-r, rep.msg, rep.local_failure);
	(void)fsync(dest_fd);
	return finish(0, "");
}
