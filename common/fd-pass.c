/* Descriptor passing (see fd-pass.h). */
#include "fd-pass.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Room for every descriptor one message can carry, so that what arrives is seen (and closed)
 * rather than dropped by the kernel with MSG_CTRUNC. */
union fd_cmsg {
	char buf[CMSG_SPACE(sizeof(int) * FD_PASS_MAX)];
	struct cmsghdr align;
};

ssize_t send_fds(int sock, const struct iovec *iov, size_t iovcnt, const int *fds, size_t n_fds,
		 int flags)
{
	union fd_cmsg cm;
	struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = iovcnt};
	size_t bytes = 0;
	ssize_t n;

	for (size_t i = 0; i < iovcnt; i++)
		bytes += iov[i].iov_len;
	if (n_fds > FD_PASS_MAX || (n_fds > 0 && bytes == 0))
		return -EINVAL;
	if (n_fds > 0) {
		memset(&cm, 0, CMSG_SPACE(sizeof(int) * n_fds));
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
	}
	do
		n = sendmsg(sock, &mh, flags | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

ssize_t send_one_fd(int sock, const void *buf, size_t len, int fd, int flags)
{
	struct iovec iov = {(void *)buf, len};

	return send_fds(sock, &iov, 1, &fd, fd >= 0 ? 1 : 0, flags);
}

/* Calls fn for each descriptor in the SCM_RIGHTS messages of mh. */
static void each_fd(struct msghdr *mh, void (*fn)(int fd, void *userdata), void *userdata)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			fn(fd, userdata);
		}
	}
}

static void count_fd(int fd, void *userdata)
{
	(*(size_t *)userdata)++;
}

static void close_fd(int fd, void *userdata)
{
	close(fd);
}

struct store {
	int *fds;
	size_t n;
};

static void store_fd(int fd, void *userdata)
{
	struct store *s = userdata;
	s->fds[s->n++] = fd;
}

ssize_t recv_fds(int sock, const struct iovec *iov, size_t iovcnt, int *fds, size_t max_fds,
		 size_t *ret_n_fds, int flags)
{
	union fd_cmsg cm;
	struct msghdr mh = {.msg_iov = (struct iovec *)iov,
			    .msg_iovlen = iovcnt,
			    .msg_control = cm.buf,
			    .msg_controllen = sizeof(cm.buf)};
	size_t arrived = 0;
	ssize_t n;

	*ret_n_fds = 0;
	do
		n = recvmsg(sock, &mh, flags | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	each_fd(&mh, count_fd, &arrived);
	/* Every refusal closes all that came: none is half-kept, none leaks. */
	int r = 0;
	if (mh.msg_flags & MSG_CTRUNC || arrived > max_fds)
		r = -EBADMSG;
	else if (mh.msg_flags & MSG_TRUNC)
		r = -EMSGSIZE;
	if (r < 0 || n == 0) {
		each_fd(&mh, close_fd, NULL);
		return r;
	}
	struct store s = {fds, 0};
	each_fd(&mh, store_fd, &s);
	*ret_n_fds = s.n;
	return n;
}

ssize_t receive_one_fd(int sock, void *buf, size_t len, int *ret_fd, int flags)
{
	struct iovec iov = {buf, len};
	int fds[FD_PASS_MAX];
	size_t n_fds;
	ssize_t n = recv_fds(sock, &iov, 1, fds, FD_PASS_MAX, &n_fds, flags);

	*ret_fd = -1;
	if (n < 0)
		return n;
	for (size_t i = 1; i < n_fds; i++)
		close(fds[i]);
	if (n_fds > 0)
		*ret_fd = fds[0];
	return n;
}
