/* The agent's choice of the vsock channel from the kernel command line, and its refusal of a
 * bad --vsock port. (No vsock transport exists on build hosts, so the socket itself is not
 * exercised here.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "agent.h"
#include "util.h"

static char *write_tmp(const char *text)
{
	char *path = xstrdup("/tmp/bh-cmdline-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, text, strlen(text)), 0);
	close(fd);
	return path;
}

static void test_cmdline(void **state)
{
	static const struct {
		const char *cmdline;
		bool vsock;
	} cases[] = {
	    {"root=/dev/vda rw bulkhead.channel=vsock quiet\n", true},
	    {"bulkhead.channel=vsock\n", true},
	    {"root=/dev/vda rw quiet\n", false},
	    {"bulkhead.channel=vsockx\n", false},
	    {"xbulkhead.channel=vsock\n", false},
	    {"bulkhead.channel=virtio-serial\n", false},
	    {"", false},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *p = write_tmp(cases[i].cmdline);
		assert_int_equal(vsock_requested(p), cases[i].vsock);
		unlink(p);
	}
	assert_false(vsock_requested("/nonexistent/cmdline"));
}

static void test_bad_port(void **state)
{
	const char *agent = getenv("BULKHEAD_AGENT");
	static const char *const bad[] = {"0", "abc", "-1", "99999999999", ""};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			if (!freopen("/dev/null", "w", stderr))
				_exit(126);
			execl(agent, agent, "--vsock", bad[i], (char *)NULL);
			_exit(127);
		}
		int status;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), EXIT_FAILURE);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cmdline),
	    cmocka_unit_test(test_bad_port),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
