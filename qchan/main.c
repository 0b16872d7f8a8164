/*
 * bulkhead-qchan: one per running qube, started by bulkheadd with the qube's control channel on
 * fd 3 and the message set of common/qmsg.h on fd 4. It confines itself before it reads the
 * first byte of the qube (its own uid, no files, no sockets, no exec) and then does everything
 * that touches the qube's frames; bulkheadd only ever sees typed, checked messages.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "engine.h"
#include "log.h"
#include "qmsg.h"
#include "sandbox.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: bulkhead-qchan --qube NAME [--uid UID]\n"
		   "  fd 3: the qube's control channel; fd 4: bulkheadd's message socket\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"qube", required_argument, NULL, 'q'},
	    {"uid", required_argument, NULL, 'u'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	const char *qube = NULL;
	uid_t uid = SANDBOX_NOBODY_UID;
	struct engine *e = NULL;
	int c, r;

	log_set_ident("bulkhead-qchan");
	while ((c = getopt_long(argc, argv, "q:u:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'q':
			qube = optarg;
			break;
		case 'u':
			if (sandbox_uid_option(optarg, &uid) < 0) {
				return 2;
			}
			break;
		case 'v':
			log_set_level(LOG_LVL_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!qube || optind != argc || !qmsg_token_valid(qube)) {
		usage(stderr);
		return 2;
	}
	for (int fd = QCHAN_FD_CHANNEL; fd <= QCHAN_FD_CONTROL; fd++) {
		int type;
		socklen_t len = sizeof(type);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
		    (fd == QCHAN_FD_CONTROL && type != SOCK_SEQPACKET) ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
			log_error("fd %d must be a %s socket", fd,
				  fd == QCHAN_FD_CONTROL ? "SOCK_SEQPACKET" : "stream");
			return 2;
		}
	}
	/* Everything that allocates or initialises stdio is done before the sandbox. */
	engine_new(qube, QCHAN_FD_CHANNEL, QCHAN_FD_CONTROL, &e);
	static const int extra[] = {SCMP_SYS(lseek)};
	struct sandbox_config sb = {.keep_max = QCHAN_FD_CONTROL,
				    .uid = uid,
				    /* Its stderr is bulkheadd's log, often a regular file: no cap
				     * (it cannot open a file of its own anyway). */
				    .fsize = RLIM_INFINITY,
				    .extra_syscalls = extra,
				    .n_extra = ARRAY_SIZE(extra)};
	r = sandbox_enter(&sb);
	if (r < 0) {
		log_error("entering the sandbox: %s", strerror(-r));
		return 1;
	}
	do
		r = engine_run_once(e, -1);
	while (r == 0);
	engine_free(e);
	/* 3: the qube broke the protocol (bulkheadd resets its channel); 0: it or we went away. */
	return r == -EPROTO ? 3 : r < 0 ? 1 : 0;
}
