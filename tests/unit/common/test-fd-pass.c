/* Unit tests of descriptor passing (common/fd-pass.c): real sockets, real descriptors, and a
 * count of this process's open descriptors to see that nothing refused is kept. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "fd-pass.h"
#include "util.h"

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void pair(int type, int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0);
}

/* A pipe whose read end is sent; what is written to the kept write end proves which it is. */
static void check_is_read_end(int got, int write_end, char c)
{
	char r;

	assert_true(got >= 0);
	assert_true(fcntl(got, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(write(write_end, &c, 1), 1);
	assert_int_equal(read(got, &r, 1), 1);
	assert_int_equal(r, c);
}

static void test_one(void **state)
{
	int sv[2], p[2], got;
	char buf[8] = {0};

	pair(SOCK_STREAM, sv);
	assert_int_equal(pipe(p), 0); /* without O_CLOEXEC: the receiver sets it */
	assert_int_equal(send_one_fd(sv[0], "hi", 2, p[0], 0), 2);
	assert_int_equal(receive_one_fd(sv[1], buf, sizeof(buf), &got, 0), 2);
	assert_string_equal(buf, "hi");
	check_is_read_end(got, p[1], 'x');
	close(got);
	/* No descriptor: -1. */
	assert_int_equal(send_one_fd(sv[0], "a", 1, -1, 0), 1);
	got = 42;
	assert_int_equal(receive_one_fd(sv[1], buf, sizeof(buf), &got, 0), 1);
	assert_int_equal(got, -1);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void test_many(void **state)
{
	int sv[2], p[3][2], fds[3], got[4];
	char byte = 'm';
	struct iovec iov = {&byte, 1};
	size_t n;

	pair(SOCK_STREAM, sv);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pipe2(p[i], O_CLOEXEC), 0);
		fds[i] = p[i][0];
	}
	assert_int_equal(send_fds(sv[0], &iov, 1, fds, 3, 0), 1);
	assert_int_equal(recv_fds(sv[1], &iov, 1, got, 4, &n, 0), 1);
	assert_int_equal(n, 3);
	for (int i = 0; i < 3; i++) {
		check_is_read_end(got[i], p[i][1], (char)('a' + i));
		close(got[i]);
		close(p[i][0]);
		close(p[i][1]);
	}
	close(sv[0]);
	close(sv[1]);
}

/* More than asked for: every one that came is closed, the message is refused. */
static void test_surplus(void **state)
{
	int sv[2], fds[3], got[2] = {-7, -7};
	char byte = 's';
	struct iovec iov = {&byte, 1};
	size_t n = 99;

	pair(SOCK_STREAM, sv);
	for (int i = 0; i < 3; i++)
		fds[i] = sv[0];
	int before = open_fds();
	assert_int_equal(send_fds(sv[0], &iov, 1, fds, 3, 0), 1);
	assert_int_equal(recv_fds(sv[1], &iov, 1, got, 2, &n, 0), -EBADMSG);
	assert_int_equal(n, 0);
	assert_int_equal(got[0], -7); /* untouched */
	assert_int_equal(open_fds(), before);
	/* receive_one_fd keeps the first and closes the rest. */
	assert_int_equal(send_fds(sv[0], &iov, 1, fds, 3, 0), 1);
	int one;
	assert_int_equal(receive_one_fd(sv[1], &byte, 1, &one, 0), 1);
	assert_true(one >= 0);
	assert_int_equal(open_fds(), before + 1);
	close(one);
	/* Descriptors where none are wanted. */
	assert_int_equal(send_fds(sv[0], &iov, 1, fds, 1, 0), 1);
	assert_int_equal(recv_fds(sv[1], &iov, 1, NULL, 0, &n, 0), -EBADMSG);
	assert_int_equal(open_fds(), before);
	close(sv[0]);
	close(sv[1]);
}

/* A packet larger than the buffer: refused, its descriptor closed. */
static void test_truncated_data(void **state)
{
	int sv[2], got = -7;
	char big[64] = "0123456789", small[4];

	pair(SOCK_SEQPACKET, sv);
	int before = open_fds();
	assert_int_equal(send_one_fd(sv[0], big, sizeof(big), sv[0], 0), sizeof(big));
	assert_int_equal(receive_one_fd(sv[1], small, sizeof(small), &got, 0), -EMSGSIZE);
	assert_int_equal(got, -1);
	assert_int_equal(open_fds(), before);
	close(sv[0]);
	close(sv[1]);
}

/* Descriptors the kernel could not install (here: RLIMIT_NOFILE leaves room for one of three)
 * come as MSG_CTRUNC: refused, the one that was installed closed. */
static void test_truncated_control(void **state)
{
	int sv[2], fds[3], got[3];
	char byte = 'c';
	struct iovec iov = {&byte, 1};
	struct rlimit old, tight;
	size_t n;

	pair(SOCK_STREAM, sv);
	for (int i = 0; i < 3; i++)
		fds[i] = sv[0];
	assert_int_equal(send_fds(sv[0], &iov, 1, fds, 3, 0), 1);
	int next = dup(sv[0]); /* the lowest free number: every one below is in use */
	assert_true(next >= 0);
	close(next);
	int before = open_fds();
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	tight = old;
	tight.rlim_cur = (rlim_t)next + 1;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &tight), 0);
	ssize_t r = recv_fds(sv[1], &iov, 1, got, 3, &n, 0);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(r, -EBADMSG);
	assert_int_equal(n, 0);
	assert_int_equal(open_fds(), before);
	close(sv[0]);
	close(sv[1]);
}

static void test_end_and_bad_calls(void **state)
{
	int sv[2], fds[FD_PASS_MAX + 1], got;
	char byte;
	struct iovec none = {&byte, 0}, one = {&byte, 1};

	pair(SOCK_STREAM, sv);
	for (int i = 0; i < FD_PASS_MAX + 1; i++)
		fds[i] = sv[0];
	/* A descriptor needs a byte to travel with; the kernel's cap is ours. */
	assert_int_equal(send_fds(sv[0], &none, 1, fds, 1, 0), -EINVAL);
	assert_int_equal(send_fds(sv[0], &one, 1, fds, FD_PASS_MAX + 1, 0), -EINVAL);
	close(sv[0]);
	assert_int_equal(receive_one_fd(sv[1], &byte, 1, &got, 0), 0);
	assert_int_equal(got, -1);
	/* The peer is gone: EPIPE, not SIGPIPE. */
	pair(SOCK_STREAM, fds);
	close(fds[1]);
	assert_int_equal(send_one_fd(fds[0], "x", 1, -1, 0), -EPIPE);
	close(fds[0]);
	close(sv[1]);
	assert_int_equal(receive_one_fd(sv[1], &byte, 1, &got, 0), -EBADF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one),
	    cmocka_unit_test(test_many),
	    cmocka_unit_test(test_surplus),
	    cmocka_unit_test(test_truncated_data),
	    cmocka_unit_test(test_truncated_control),
	    cmocka_unit_test(test_end_and_bad_calls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
