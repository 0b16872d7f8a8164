/*
 * bulkhead-open-receive: the bulkhead.OpenInVM service. Reads a file copy stream holding one
 * regular file into a fresh private directory (mode 0700) under $TMPDIR or /tmp and opens it
 * with xdg-open. Answers one status record on stdout (the handler's failure included) and exits
 * with the handler's status, 1 when the file was refused or there is no handler.
 *
 * Called as bulkhead.OpenInVM+edit (bulkhead-open-in-dvm), it waits for the handler to end and
 * then sends the file back when it changed: after the status, one byte, '1' and a file copy
 * stream of that one file, or '0' when it is unchanged.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "filecopy-pack.h"
#include "filecopy-unpack.h"
#include "handler.h"
#include "util.h"

#define PROG "bulkhead-open-receive"

static int answer(uint32_t err, const char *msg, int rc)
{
	(void)fc_status_write(1, err, msg);
	if (err)
		fprintf(stderr, PROG ": %s\n", msg);
	return rc;
}

/* The handler has ended: the file goes back when the user changed it (its content, size or
 * times, or it was replaced by a new file of that name). */
static int send_back(const char *file, const struct stat *before)
{
	struct stat after;
	bool changed = stat(file, &after) == 0 && S_ISREG(after.st_mode) &&
		       (after.st_ino != before->st_ino || after.st_size != before->st_size ||
			after.st_mtim.tv_sec != before->st_mtim.tv_sec ||
			after.st_mtim.tv_nsec != before->st_mtim.tv_nsec);
	answer(0, "", 0);
	if (write_all(1, changed ? "1" : "0", 1) < 0)
		return 1;
	if (!changed)
		return 0;
	struct filecopy_packer p = {.out_fd = 1};
	char name[FC_NAME_MAX + 1];
	int r = filecopy_wire_name(&p, file, name);
	if (r == 0)
		r = filecopy_pack_begin(&p);
	if (r == 0)
		r = filecopy_pack_path(&p, file, name);
	if (r == 0)
		r = filecopy_pack_end(&p);
	if (r < 0) {
		fprintf(stderr, PROG ": cannot send the changed file back: %s\n", p.msg);
		return 1;
	}
	return 0;
}

int main(void)
{
	struct filecopy_limits lim;
	struct filecopy_report rep;
	char msg[FC_STATUS_MSG_MAX + 1];

	signal(SIGXFSZ, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	filecopy_limits_default(&lim);
	lim.single_file = true;
	lim.max_files = 1;
	lim.max_depth = 0;

	const char *tmp = getenv("TMPDIR");
	if (!tmp || tmp[0] != '/')
		tmp = "/tmp";
	_cleanup_free_ char *dir = xasprintf("%s/bulkhead-open.XXXXXX", tmp);
	if (!mkdtemp(dir)) {
		snprintf(msg, sizeof(msg), "cannot create a private directory: %s",
			 strerror(errno));
		return answer((uint32_t)errno, msg, 1);
	}
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		int e = errno;
		(void)rmdir(dir);
		return answer((uint32_t)e, "cannot open the private directory", 1);
	}
	int r = filecopy_unpack(0, dfd, &lim, &rep);
	if (r < 0) {
		(void)rmdir(dir);
		return answer((uint32_t)-r, rep.msg, 1);
	}
	/* The name is one checked component of a file we just created in our own directory. */
	_cleanup_free_ char *file = xasprintf("%s/%s", dir, rep.first_name);
	const char *arg = getenv("BULKHEAD_SERVICE_ARGUMENT");
	bool edit = arg && streq(arg, "edit");
	struct stat before = {0};
	if (edit && stat(file, &before) < 0)
		return answer((uint32_t)errno, "the received file is gone", 1);
	r = handler_run(file);
	if (r == -ENOENT)
		return answer(ENOENT, "no handler to open files in this qube (xdg-open not found)",
			      1);
	if (r < 0) {
		snprintf(msg, sizeof(msg), "cannot run xdg-open: %s", strerror(-r));
		return answer((uint32_t)-r, msg, 1);
	}
	if (r != 0) {
		snprintf(msg, sizeof(msg), "xdg-open failed (exit %d)", r);
		return answer(EIO, msg, r);
	}
	if (edit)
		return send_back(file, &before);
	/* The file stays: the viewer xdg-open started may still be reading it. */
	return answer(0, "", 0);
}
