/* The control channel over virtio-vsock, for hosts with vhost-vsock: the agent listens, the host
 * connects. Framing and everything above it are the same as on the virtio-serial port. */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/vm_sockets.h>

#include "util.h"

int vsock_listen(unsigned port)
{
	struct sockaddr_vm sa = {
	    .svm_family = AF_VSOCK,
	    .svm_cid = VMADDR_CID_ANY,
	    .svm_port = port,
	};
	_cleanup_close_ int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0)
		return -errno;
	return TAKE_FD(fd);
}

int vsock_accept(int listen_fd)
{
	struct sockaddr_vm peer;
	socklen_t len = sizeof(peer);
	int fd = accept4(listen_fd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return -errno;
	/* Only the host may drive the agent; another qube must not reach it over vsock. */
	if (peer.svm_cid != VMADDR_CID_HOST) {
		close(fd);
		return -EPERM;
	}
	return fd;
}

bool vsock_requested(const char *cmdline_path)
{
	char buf[4096];
	_cleanup_close_ int fd = open(cmdline_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	for (char *tok = strtok(buf, " \n"); tok; tok = strtok(NULL, " \n"))
		if (streq(tok, "bulkhead.channel=vsock"))
			return true;
	return false;
}
