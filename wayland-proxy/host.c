/* bulkhead-wayland-proxy host --qube NAME: the host half for one qube. fd 3 is the qube's GUI
 * channel (the link), fd 4 the compositor's connector for this qube (compositor/control.h).
 * Both are acquired by whoever starts us (bulkheadd); we confine ourselves before the first
 * byte from the qube is read. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <seccomp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fd-pass.h"
#include "host.h"
#include "log.h"
#include "proxy.h"
#include "qube-name.h"
#include "sandbox.h"
#include "util.h"

#define LINK_FD	     3
#define CONNECTOR_FD 4

/* One byte asks the compositor for a connection; the answer's byte carries it. */
static int connector_connect(void *userdata)
{
	int connector = *(int *)userdata;
	char byte = 'c';
	int fd;

	if (write_all(connector, &byte, 1) < 0)
		return -errno;
	ssize_t k = receive_one_fd(connector, &byte, 1, &fd, 0);
	if (k < 0)
		return (int)k;
	if (k == 0)
		return -EPIPE;
	return fd >= 0 ? fd : -ENOMSG;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bulkhead-wayland-proxy host --qube NAME [--uid UID]\n"
		   "  fd 3: the qube's GUI channel; fd 4: the compositor's connector for NAME\n");
}

int host_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"qube", required_argument, NULL, 'q'},
	    {"uid", required_argument, NULL, 'u'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	const char *qube = NULL;
	struct host *h = NULL;
	int connector = CONNECTOR_FD;
	uid_t uid = SANDBOX_NOBODY_UID;
	int c, r;

	log_set_ident("bulkhead-wayland-proxy");
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
	if (!qube || optind != argc) {
		usage(stderr);
		return 2;
	}
	const char *reason;
	if (qube_name_check(qube, &reason) < 0) {
		log_error("--qube %s: %s", qube, reason);
		return 2;
	}
	for (int fd = LINK_FD; fd <= CONNECTOR_FD; fd++) {
		int type;
		socklen_t len = sizeof(type);
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ||
		    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
			log_error("fd %d must be a socket (%s)", fd, strerror(errno));
			return 2;
		}
	}
	if (fcntl(LINK_FD, F_SETFL, O_NONBLOCK) < 0) {
		log_error("fd %d: %s", LINK_FD, strerror(errno));
		return 1;
	}
	/* Everything that may allocate or initialise stdio is done before the sandbox. */
	r = host_new(qube, LINK_FD, connector_connect, &connector, &h);
	if (r < 0) {
		log_error("%s", strerror(-r));
		return 1;
	}
	log_info("qube %s: host half started", qube);
	/* shm pools' memory: counting (lseek's SEEK_HOLE, fstat), allocating, giving back;
	 * memfd pools are regular files, so the file size limit is one pool's cap. */
	static const int extra[] = {SCMP_SYS(lseek), SCMP_SYS(fallocate)};
	struct sandbox_config sb = {.keep_max = CONNECTOR_FD,
				    .uid = uid,
				    .fsize = LINK_MAX_POOL_BYTES,
				    .extra_syscalls = extra,
				    .n_extra = ARRAY_SIZE(extra)};
	r = sandbox_enter(&sb);
	if (r < 0) {
		log_error("entering the sandbox: %s", strerror(-r));
		host_free(h);
		return 1;
	}
	do
		r = host_dispatch(h, -1);
	while (r == 0);
	if (r < 0)
		log_error("qube %s: link ended: %s", qube,
			  r == -EPROTO || r == -EBADMSG ? "protocol violation"
			  : r == -EPROTONOSUPPORT	? "unsupported link version"
			  : r == -ENOTCONN		? "the compositor's connector is gone"
							: strerror(-r));
	else
		log_info("qube %s: link closed", qube);
	host_free(h);
	return r < 0 ? 1 : 0;
}
