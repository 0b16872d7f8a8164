/*
 * bulkhead-open-in-vm QUBE FILE|URL: opens a file or URL in another qube with its default
 * handler, like Qubes' qvm-open-in-vm. A URL goes to bulkhead.OpenURL as one line; a file goes
 * to bulkhead.OpenInVM as a file copy stream with a single file. Exits with the service's
 * status (126 when the policy refused the call).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "call-spawn.h"
#include "filecopy-pack.h"
#include "util.h"
#include "validate.h"

#define PROG "bulkhead-open-in-vm"

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

static int open_file(const char *target, const char *path)
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
	int r = call_spawn(target, "bulkhead.OpenInVM", &in_fd, &out_fd, &pid);
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
	return rc < 0 ? 1 : rc;
}

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
	return open_file(argv[1], argv[2]);
}
