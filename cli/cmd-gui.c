/* bulkhead gui: talks to bulkhead-compositor's control socket (compositor/control.h), so users
 * and scripts can list windows, check the global clipboard, or run a host program as a qube's
 * client without a VM. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "fd-pass.h"
#include "util.h"

#define CONTROL_SOCKET_NAME "bulkhead-compositor.ctl"
#define LINE_MAX_BYTES	    256
/* Enough for a "windows" answer with many windows; the compositor caps titles at 256 chars. */
#define ANSWER_MAX_BYTES (1u << 20)

static int control_path(const char *opt, char **ret_path)
{
	if (opt) {
		*ret_path = xstrdup(opt);
		return 0;
	}
	const char *env = getenv("BULKHEAD_GUI_CONTROL");
	if (env && *env) {
		*ret_path = xstrdup(env);
		return 0;
	}
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	if (!xdg || !*xdg)
		return -ENOENT;
	*ret_path = xasprintf("%s/%s", xdg, CONTROL_SOCKET_NAME);
	return 0;
}

static int control_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	return TAKE_FD(fd);
}

/* Reads the answer: its first line, every further line a "windows" answer announces, and a
 * descriptor if one came with it. */
static int read_answer(int fd, char **ret_text, int *ret_passed_fd)
{
	size_t size = 4096, len = 0;
	_cleanup_free_ char *buf = xmalloc(size);
	int passed = -1;
	long more = -1; /* lines still expected after the first; -1 until it is known */
	size_t lines = 0;
	for (;;) {
		if (len + 1 >= size) {
			if (size >= ANSWER_MAX_BYTES) {
				if (passed >= 0)
					close(passed);
				return -EMSGSIZE;
			}
			size *= 2;
			buf = xrealloc(buf, size);
		}
		int got;
		ssize_t n = receive_one_fd(fd, buf + len, size - len - 1, &got, 0);
		if (n < 0) {
			if (passed >= 0)
				close(passed);
			return (int)n;
		}
		/* The answer passes one descriptor at most: any later one is not ours to keep. */
		if (got >= 0 && passed >= 0)
			close(got);
		else if (got >= 0)
			passed = got;
		if (n == 0)
			break;
		for (size_t i = len; i < len + (size_t)n; i++) {
			if (buf[i] != '\n')
				continue;
			lines++;
			if (lines == 1) {
				more = 0;
				if (strncmp(buf, "ok ", 3) == 0 && buf[3] >= '0' && buf[3] <= '9')
					more = strtol(buf + 3, NULL, 10);
			}
		}
		len += (size_t)n;
		if (more >= 0 && lines >= (size_t)more + 1)
			break;
	}
	buf[len] = '\0';
	if (lines == 0) {
		if (passed >= 0)
			close(passed);
		return -EPIPE;
	}
	*ret_text = TAKE_PTR(buf);
	*ret_passed_fd = passed;
	return 0;
}

int cmd_gui(const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"control", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *control = NULL;
	int c, r;
	/* '+': stop at the first non-option, so `gui run Q L -- foot -e x` keeps foot's options. */
	while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
		if (c != 'c')
			return cli_getopt_default(cmd, c);
		control = optarg;
	}
	if (optind >= argc)
		return cli_usage_error(cmd, "which command? (windows, clipboard, run, ...)");

	bool run = strcmp(argv[optind], "run") == 0;
	char **command = NULL;
	_cleanup_free_ char *line = NULL;
	if (run) {
		/* run QUBE LABEL [--] COMMAND [ARG]... */
		if (argc - optind < 4)
			return cli_usage_error(cmd, "run needs QUBE LABEL COMMAND");
		command = argv + optind + 3;
		if (strcmp(command[0], "--") == 0)
			command++;
		if (!command[0])
			return cli_usage_error(cmd, "run needs a COMMAND");
		line = xasprintf("connect %s %s\n", argv[optind + 1], argv[optind + 2]);
	} else {
		size_t len = 0;
		for (int i = optind; i < argc; i++)
			len += strlen(argv[i]) + 1;
		line = xmalloc(len + 1);
		line[0] = '\0';
		for (int i = optind; i < argc; i++) {
			if (strchr(argv[i], '\n'))
				return cli_usage_error(cmd, "arguments cannot hold newlines");
			strcat(line, argv[i]);
			strcat(line, i + 1 < argc ? " " : "\n");
		}
	}
	if (strlen(line) > LINE_MAX_BYTES)
		return cli_usage_error(cmd, "the command is longer than %d bytes", LINE_MAX_BYTES);

	_cleanup_free_ char *path = NULL;
	if (control_path(control, &path) < 0) {
		fprintf(stderr,
			"bulkhead: no compositor: set XDG_RUNTIME_DIR, BULKHEAD_GUI_CONTROL "
			"or --control\n");
		return CLI_EXIT_NO_DAEMON;
	}
	_cleanup_close_ int fd = control_connect(path);
	if (fd < 0) {
		fprintf(stderr, "bulkhead: cannot reach the compositor at %s: %s\n", path,
			strerror(-fd));
		return CLI_EXIT_NO_DAEMON;
	}
	r = write_all(fd, line, strlen(line));
	if (r < 0) {
		fprintf(stderr, "bulkhead: %s: %s\n", path, strerror(-r));
		return CLI_EXIT_FAIL;
	}
	_cleanup_free_ char *answer = NULL;
	_cleanup_close_ int passed = -1;
	r = read_answer(fd, &answer, &passed);
	if (r < 0) {
		fprintf(stderr, "bulkhead: no answer from the compositor: %s\n", strerror(-r));
		return CLI_EXIT_FAIL;
	}
	if (strncmp(answer, "ok", 2) != 0) {
		fputs("bulkhead: compositor: ", stderr);
		cli_print_sanitized(stderr, answer);
		return CLI_EXIT_FAIL;
	}
	if (!run) {
		/* Titles come from qubes: shown without their control characters. */
		char *rest = strchr(answer, '\n');
		if (strcmp(argv[optind], "windows") == 0)
			cli_print_sanitized(stdout, rest + 1);
		else if (strcmp(answer, "ok\n") != 0)
			cli_print_sanitized(stdout, answer + 3);
		return CLI_EXIT_OK;
	}
	if (passed < 0) {
		fprintf(stderr, "bulkhead: the compositor sent no connection\n");
		return CLI_EXIT_FAIL;
	}
	/* The program inherits the qube's connection as WAYLAND_SOCKET, as libwayland expects. */
	int inherited = fcntl(passed, F_DUPFD, 3);
	if (inherited < 0) {
		fprintf(stderr, "bulkhead: %s\n", strerror(errno));
		return CLI_EXIT_FAIL;
	}
	char buf[16];
	snprintf(buf, sizeof(buf), "%d", inherited);
	setenv("WAYLAND_SOCKET", buf, 1);
	unsetenv("WAYLAND_DISPLAY");
	execvp(command[0], command);
	fprintf(stderr, "bulkhead: cannot run %s: %s\n", command[0], strerror(errno));
	return 127;
}
