/*
 * bulkhead-copy [--to QUBE] FILE...   (and bulkhead-move, built from this file with
 * FILECOPY_MOVE): sends files and directory trees to another qube's ~/Incoming/<this qube>/
 * through the bulkhead.Filecopy service, like Qubes' qvm-copy / qvm-move.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "call-spawn.h"
#include "filecopy-pack.h"
#include "fsutil.h"
#include "util.h"
#include "validate.h"

#ifdef FILECOPY_MOVE
#define PROG "bulkhead-move"
#else
#define PROG "bulkhead-copy"
#endif

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " [--to QUBE] FILE...\n"
		"Copies files and directories to QUBE's ~/Incoming/<this qube>/%s.\n"
		"Without --to, the host asks which qube (the call goes to @default).\n"
		"Symbolic links inside a directory are copied as links when they stay inside it.\n",
#ifdef FILECOPY_MOVE
		" and removes them here once the copy is complete"
#else
		""
#endif
	);
}

/* Packs every argument: a dry run first (out_fd -1) so nothing is sent when any of it would
 * be refused. */
static int pack_all(int out_fd, char **paths, int n, struct filecopy_packer *ret)
{
	struct filecopy_packer p = {.out_fd = out_fd};
	char name[FC_NAME_MAX + 1];
	int r = filecopy_pack_begin(&p);

	if (r < 0)
		snprintf(p.msg, sizeof(p.msg), "cannot send: %s", strerror(-r));
	for (int i = 0; r == 0 && i < n; i++) {
		r = filecopy_wire_name(&p, paths[i], name);
		if (r == 0)
			r = filecopy_pack_path(&p, paths[i], name);
	}
	if (r == 0) {
		r = filecopy_pack_end(&p);
		if (r < 0)
			snprintf(p.msg, sizeof(p.msg), "cannot send: %s", strerror(-r));
	}
	*ret = p;
	return r;
}

#ifdef FILECOPY_MOVE
static int remove_sources(char **paths, int n)
{
	int rc = 0;

	for (int i = 0; i < n; i++) {
		struct stat st;
		int r;
		/* A symlink named on the command line: its target was copied, the link goes. */
		if (lstat(paths[i], &st) < 0)
			r = -errno;
		else if (S_ISDIR(st.st_mode))
			r = rm_tree_at(AT_FDCWD, paths[i], false);
		else
			r = unlink(paths[i]) < 0 ? -errno : 0;
		if (r < 0) {
			fprintf(stderr, PROG ": copied, but cannot remove %s: %s\n", paths[i],
				strerror(-r));
			rc = 1;
		}
	}
	return rc;
}
#endif

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"to", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *target = "@default";
	struct filecopy_packer p;
	int c, r;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			target = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (!call_target_valid(target)) {
		fprintf(stderr, PROG ": invalid qube name: %s\n", target);
		return 2;
	}
	char **paths = argv + optind;
	int n = argc - optind;

	if (pack_all(-1, paths, n, &p) < 0) {
		fprintf(stderr, PROG ": %s\nNothing was copied.\n", p.msg);
		return 1;
	}

	signal(SIGPIPE, SIG_IGN);
	int in_fd, out_fd;
	pid_t pid;
	r = call_spawn(target, "bulkhead.Filecopy", &in_fd, &out_fd, &pid);
	if (r < 0) {
		fprintf(stderr, PROG ": cannot run bulkhead-call: %s\n", strerror(-r));
		return 1;
	}
	int send_r = pack_all(in_fd, paths, n, &p);
	/* Closing without END (after a local error) makes the receiver discard everything. */
	close(in_fd);

	uint32_t err = 0;
	char msg[FC_STATUS_MSG_MAX + 1] = "";
	int status_r = fc_status_read(out_fd, &err, msg);
	close(out_fd);
	int rc = call_wait(pid);

	if (rc == CALL_EXIT_REFUSED && status_r < 0) {
		fprintf(stderr, PROG ": the call to %s was refused; nothing was copied.\n", target);
		return CALL_EXIT_REFUSED;
	}
	if (send_r < 0 && !p.peer_gone) {
		fprintf(stderr, PROG ": %s\nThe copy was abandoned; the receiver keeps nothing.\n",
			p.msg);
		return 1;
	}
	if (status_r < 0) {
		fprintf(stderr, PROG ": no answer from the receiving side in %s (%s, exit %d)\n",
			target,
			status_r == -EPROTO ? "garbled status" : "service missing or interrupted",
			rc);
		return 1;
	}
	if (err != 0) {
		fprintf(stderr,
			PROG ": the copy to %s failed there: %s [%s]\nNothing was copied.\n",
			target, msg, strerror((int)err));
		return 1;
	}
	if (send_r < 0 || rc != 0) {
		fprintf(stderr, PROG ": the copy to %s did not complete (exit %d)\n", target, rc);
		return 1;
	}
#ifdef FILECOPY_MOVE
	return remove_sources(paths, n);
#else
	return 0;
#endif
}
