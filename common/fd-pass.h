/* Descriptors over a unix socket (SCM_RIGHTS), once for the whole tree: every program that
 * passes or takes descriptors uses these, so the rules (close-on-exec on arrival, nothing that
 * arrived is ever leaked, truncated control data refused) hold everywhere. */
#pragma once

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* The kernel's SCM_MAX_FD: the most descriptors one message can carry. */
#define FD_PASS_MAX 253

/*
 * Sends the bytes of iov with n_fds descriptors attached to the first of them, in one sendmsg;
 * flags go to sendmsg, MSG_NOSIGNAL is always added, EINTR is retried. The descriptors stay the
 * caller's. Returns the bytes sent (a stream socket may take fewer) or -errno (-EINVAL for
 * descriptors without a byte to carry them or more than FD_PASS_MAX).
 */
ssize_t send_fds(int sock, const struct iovec *iov, size_t iovcnt, const int *fds, size_t n_fds,
		 int flags);
/* send_fds() of one buffer and at most one descriptor (none when fd < 0). */
ssize_t send_one_fd(int sock, const void *buf, size_t len, int fd, int flags);

/*
 * Receives into iov with one recvmsg (flags added to MSG_CMSG_CLOEXEC, EINTR retried) and stores
 * the descriptors that came with the bytes in fds, *ret_n_fds of them. Every message it refuses
 * has its descriptors closed and still counts as read:
 *   more than max_fds descriptors: -EBADMSG (a peer that sends what was not asked for);
 *   control data cut short (MSG_CTRUNC: descriptors the kernel dropped): -EBADMSG;
 *   a datagram or packet cut short (MSG_TRUNC): -EMSGSIZE.
 * Returns the bytes received, 0 at end of stream (no descriptors then), or -errno. On failure
 * *ret_n_fds is 0 and fds is untouched.
 */
ssize_t recv_fds(int sock, const struct iovec *iov, size_t iovcnt, int *fds, size_t max_fds,
		 size_t *ret_n_fds, int flags);
/* Receives into buf; the first descriptor that came into *ret_fd (-1 when none came); any further
 * ones are closed, so a peer sending more costs nothing. Otherwise as recv_fds(). */
ssize_t receive_one_fd(int sock, void *buf, size_t len, int *ret_fd, int flags);
