/*
 * bulkhead-open-in-vm QUBE FILE|URL: opens a file or URL in another qube with its default
 * handler, like Qubes' qvm-open-in-vm. A URL goes to bulkhead.OpenURL as one line; a file goes
 * to bulkhead.OpenInVM as a file copy stream with a single file. Exits with the service's
 * status (126 when the policy refused the call).
 *
 * Built as bulkhead-open-in-dvm FILE|URL (OPEN_IN_DVM), like qvm-open-in-dvm: the target is a
 * new disposable (@dispvm), and a file goes to bulkhead.OpenInVM+edit, which waits for the
 * viewer to close and sends the file back if the user changed it; the changed file then
 * replaces this one (atomically, keeping its mode). What comes back is the disposable's: one
 * regular file within the file copy limits, or nothing is changed here.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "call-spawn.h"
#include "filecopy-pack.h"
#include "filecopy-unpack.h"
#include "util.h"
#include "validate.h"

#ifdef OPEN_IN_DVM
#define PROG "bulkhead-open-in-dvm"
#else
#define PROG "bulkhead-open-in-vm"
#endif

static int open_url(const char *target, const char *url)
{
	const char *why;
	int in_fd;
	pid_t pid;

	if (url_check(url, strlen(url), &why) < 0) {
		fprintf(stderr, PROG ": %s\n", why);
		return 2;
	}
	int r = call_spawn(target, "bulkhead.OpenURL", &in_fd, NULL, &pid);
	if (r < 0) {
		fprintf(stderr, PROG ": cannot run bulkhead-call: %s\n", strerror(-r));
		return 1;
	}
	_cleanup_free_ char *line = xasprintf("%s\n", url);
	(void)write_all(in_fd, line, strlen(line));
	close(in_fd);
	r = call_wait(pid);
	if (r == CALL_EXIT_REFUSED)
		fprintf(stderr, PROG ": the call to %s was refused\n", target);
	return r < 0 ? 1 : r;
}

/* After the status: '0' (unchanged) or '1' and the changed file, which replaces path. */
static int take_back(int in_fd, const char *path, const struct stat *orig)
{
	char mark = 0;
	if (read(in_fd, &mark, 1) != 1 || (mark != '0' && mark != '1')) {
		fprintf(stderr, PROG ": the viewer's qube did not say whether the file changed\n");
		return 1;
	}
	if (mark == '0')
		return 0;
	/* Beside the original, so that the rename is atomic and on the same file system. */
	_cleanup_free_ char *copy = xstrdup(path);
	_cleanup_free_ char *dir = xasprintf("%s/.bulkhead-edit.XXXXXX", dirname(copy));
	if (!mkdtemp(dir)) {
		fprintf(stderr, PROG ": cannot make a directory for the changed file: %s\n",
			strerror(errno));
		return 1;
	}
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct filecopy_limits lim;
	struct filecopy_report rep = {0};
	filecopy_limits_default(&lim);
	lim.single_file = true;
	lim.max_files = 1;
	lim.max_depth = 0;
	int r = dfd < 0 ? -errno : filecopy_unpack(in_fd, dfd, &lim, &rep);
	if (r == 0 && fchmodat(dfd, rep.first_name, orig->st_mode & 07777, 0) < 0)
		r = -errno;
	if (r == 0 && renameat(dfd, rep.first_name, AT_FDCWD, path) < 0)
		r = -errno;
	if (r < 0) {
		fprintf(stderr, PROG ": the changed file was not taken (%s); %s is as it was\n",
			*rep.msg ? rep.msg : strerror(-r), path);
		if (dfd >= 0 && *rep.first_name)
			(void)unlinkat(dfd, rep.first_name, 0);
		(void)rmdir(dir);
		return 1;
	}
	(void)rmdir(dir);
	fprintf(stderr, PROG ": %s was changed in the disposable and saved back\n", path);
	return 0;
}

static int open_file(const char *target, const char *path, bool edit)
{
	struct filecopy_packer p = {.out_fd = -1};
	char name[FC_NAME_MAX + 1];
	struct stat st;
	int in_fd, out_fd;
	pid_t pid;

	if (stat(path, &st) < 0) {
		fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
		return 2;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, PROG ": %s: only regular files can be opened in another qube\n",
			path);
		return 2;
	}
	if (filecopy_wire_name(&p, path, name) < 0) {
		fprintf(stderr, PROG ": %s\n", p.msg);
		return 2;
	}
	int r = call_spawn(target, edit ? "bulkhead.OpenInVM+edit" : "bulkhead.OpenInVM", &in_fd,
			   &out_fd, &pid);
	if (r < 0) {
		fprintf(stderr, PROG ": cannot run bulkhead-call: %s\n", strerror(-r));
		return 1;
	}
	p.out_fd = in_fd;
	int send_r = filecopy_pack_begin(&p);
	if (send_r == 0)
		send_r = filecopy_pack_path(&p, path, name);
	if (send_r == 0)
		send_r = filecopy_pack_end(&p);
	close(in_fd);

	uint32_t err = 0;
	char msg[FC_STATUS_MSG_MAX + 1] = "";
	int status_r = fc_status_read(out_fd, &err, msg);
	int back_r = 0;
	if (edit && status_r >= 0 && err == 0)
		back_r = take_back(out_fd, path, &st);
	close(out_fd);
	int rc = call_wait(pid);

	if (rc == CALL_EXIT_REFUSED && status_r < 0) {
		fprintf(stderr, PROG ": the call to %s was refused\n", target);
		return rc;
	}
	if (send_r < 0 && !p.peer_gone) {
		fprintf(stderr, PROG ": %s\n", p.msg);
		return 1;
	}
	if (status_r < 0) {
		fprintf(stderr, PROG ": no answer from %s (exit %d)\n", target, rc);
		return rc ? rc : 1;
	}
	if (err != 0) {
		fprintf(stderr, PROG ": %s: %s\n", target, msg);
		return rc ? rc : 1;
	}
	return rc < 0 ? 1 : rc ? rc : back_r;
}

#ifdef OPEN_IN_DVM
int main(int argc, char **argv)
{
	if (argc == 2 && (streq(argv[1], "--help") || streq(argv[1], "-h"))) {
		printf("Usage: " PROG " FILE|URL\n"
		       "Opens FILE or URL in a new disposable; a FILE changed there comes back.\n");
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "Usage: " PROG " FILE|URL\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (looks_like_url(argv[1]))
		return open_url("@dispvm", argv[1]);
	return open_file("@dispvm", argv[1], true);
}
#else
int main(int argc, char **argv)
{
	if (argc == 2 && (streq(argv[1], "--help") || streq(argv[1], "-h"))) {
		printf("Usage: " PROG " QUBE FILE|URL\n"
		       "Opens FILE or URL in QUBE with its default handler.\n");
		return 0;
	}
	if (argc != 3) {
		fprintf(stderr, "Usage: " PROG " QUBE FILE|URL\n");
		return 2;
	}
	if (!call_target_valid(argv[1])) {
		fprintf(stderr, PROG ": invalid qube name: %s\n", argv[1]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (looks_like_url(argv[2]))
		return open_url(argv[1], argv[2]);
	return open_file(argv[1], argv[2], false);
}
#endif
