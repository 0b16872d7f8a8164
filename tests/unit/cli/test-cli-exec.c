/*
 * Runs the built `bulkhead` binary: bad command lines exit 2 with a hint, an unreachable daemon
 * exits 3 with how to start it, and the `run` relay's own framing (window accounting, acks,
 * stdin EOF, signals, exit status) against a small server in this test that speaks the frames
 * of common/proto.h. The real daemon is exercised by the integration tests.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "frame.h"
#include "util.h"

static const char *bulkhead;
static char tmpdir[] = "/tmp/test-cli-exec.XXXXXX";
static char sock_path[128];

struct result {
	int status; /* exit code, or -1 when killed */
	char out[4096];
	char err[4096];
};

/* Collects everything from two pipes until both close. */
static void drain(int out_fd, int err_fd, struct result *res)
{
	size_t n_out = 0, n_err = 0;
	struct pollfd p[2] = {{.fd = out_fd, .events = POLLIN}, {.fd = err_fd, .events = POLLIN}};
	while (p[0].fd >= 0 || p[1].fd >= 0) {
		assert_true(poll(p, 2, 20000) > 0);
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !p[i].revents)
				continue;
			char *buf = i == 0 ? res->out : res->err;
			size_t *n = i == 0 ? &n_out : &n_err;
			char tmp[4096];
			ssize_t r = read(p[i].fd, tmp, sizeof(tmp));
			if (r <= 0) {
				close(p[i].fd);
				p[i].fd = -1;
				continue;
			}
			size_t room = sizeof(res->out) - 1 - *n;
			size_t k = (size_t)r < room ? (size_t)r : room;
			memcpy(buf + *n, tmp, k);
			*n += k;
			buf[*n] = 0;
		}
	}
}

static int wait_status(pid_t pid)
{
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Starts bulkhead with args (NULL-terminated) and the given socket path; stdin is stdin_fd
 * (or /dev/null when -1). Returns the pid; *ret_out and *ret_err are its output pipes. */
static pid_t spawn(const char *const *args, const char *socket, int stdin_fd, int *ret_out,
		   int *ret_err)
{
	int out[2], err[2];
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(err, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		const char *argv[32] = {bulkhead};
		size_t n = 1;
		for (; args[n - 1] && n < 31; n++)
			argv[n] = args[n - 1];
		argv[n] = NULL;
		int in = stdin_fd >= 0 ? stdin_fd : open("/dev/null", O_RDONLY);
		dup2(in, 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		setenv("BULKHEAD_SOCKET", socket, 1);
		setenv("NO_COLOR", "1", 1);
		signal(SIGPIPE, SIG_DFL);
		execv(bulkhead, (char *const *)argv);
		_exit(126);
	}
	close(out[1]);
	close(err[1]);
	*ret_out = out[0];
	*ret_err = err[0];
	return pid;
}

static void run_cli(const char *const *args, const char *socket, struct result *res)
{
	int out, err;
	memset(res, 0, sizeof(*res));
	pid_t pid = spawn(args, socket, -1, &out, &err);
	drain(out, err, res);
	res->status = wait_status(pid);
}

#define RUN(res, ...) run_cli((const char *const[]){__VA_ARGS__, NULL}, sock_path, res)

static void expect_usage_error(const char *const *args, const char *pattern, const char *cmd)
{
	struct result res;
	run_cli(args, sock_path, &res);
	if (res.status != 2 || !strstr(res.err, pattern))
		fail_msg("'%s %s' exited %d, said '%s' (wanted 2 and '%s')", args[0],
			 args[1] ? args[1] : "", res.status, res.err, pattern);
	_cleanup_free_ char *hint = xasprintf("see bulkhead %s--help", cmd);
	if (!strstr(res.err, hint))
		fail_msg("'%s' did not give the hint '%s': %s", args[0], hint, res.err);
}

#define USAGE(pattern, cmd, ...)                                                                   \
	expect_usage_error((const char *const[]){__VA_ARGS__, NULL}, pattern, cmd)

static void test_usage_errors(void **state)
{
	/* No daemon runs at sock_path: each of these must fail before trying to reach it. */
	USAGE("unknown command 'frobnicate'", "", "frobnicate");
	USAGE("--label", "create ", "create", "work");
	USAGE("NAME", "create ", "create", "--label", "red");
	USAGE("unrecognized option", "ls ", "ls", "--bogus");
	USAGE("unexpected argument", "ls ", "ls", "extra");
	USAGE("COMMAND", "run ", "run", "work");
	USAGE("COMMAND", "run ", "run", "work", "--");
	USAGE("NAME", "run ", "run");
	USAGE("invalid size '12Q'", "volume ", "volume", "resize", "work", "private", "12Q");
	USAGE("invalid size", "volume ", "volume", "resize", "work", "private", "99999999999T");
	USAGE("NAME VOLUME SIZE", "volume ", "volume", "resize", "work", "private");
	USAGE("unknown volume action", "volume ", "volume", "grow", "work");
	USAGE("names or --all", "shutdown ", "shutdown");
	USAGE("not both", "shutdown ", "shutdown", "--all", "work");
	USAGE("--timeout", "shutdown ", "shutdown", "--timeout", "soon", "work");
	USAGE("NAME", "start ", "start");
	USAGE("SRC and DST", "clone ", "clone", "a");
	USAGE("--default", "prefs ", "prefs", "work", "memory", "300", "--default");
	USAGE("KEY=VALUE", "create ", "create", "w", "--label", "red", "--prop", "memory");
	USAGE("unknown tags action", "tags ", "tags", "work", "frob", "x");
	USAGE("FLAVOUR", "template ", "template", "build");
	USAGE("--tail", "log ", "log", "work", "--tail", "-5");
	USAGE("requires an argument", "features ", "features", "work", "-D");

	struct result res;
	run_cli((const char *const[]){NULL}, sock_path, &res);
	assert_int_equal(res.status, 2);
	assert_non_null(strstr(res.err, "Usage: bulkhead COMMAND"));
}

static void test_help(void **state)
{
	struct result res;
	RUN(&res, "--help");
	assert_int_equal(res.status, 0);
	/* The same table drives the dispatcher and the help: every command is listed. */
	static const char *const names[] = {"ls",	"create", "clone", "remove",  "start",
					    "shutdown", "kill",	  "pause", "unpause", "prefs",
					    "features", "tags",	  "run",   "volume",  "template",
					    "events",	"log",	  "info"};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		_cleanup_free_ char *line = xasprintf("\n  %s ", names[i]);
		if (!strstr(res.out, line))
			fail_msg("'%s' missing from --help:\n%s", names[i], res.out);
		struct result sub;
		RUN(&sub, names[i], "--help");
		_cleanup_free_ char *usage = xasprintf("Usage: bulkhead %s", names[i]);
		assert_int_equal(sub.status, 0);
		assert_non_null(strstr(sub.out, usage));
	}
	RUN(&res, "--version");
	assert_int_equal(res.status, 0);
	assert_true(strncmp(res.out, "bulkhead ", 9) == 0);
}

static void test_no_daemon(void **state)
{
	struct result res;
	_cleanup_free_ char *missing = xasprintf("%s/nonexistent/api.sock", tmpdir);
	static const char *const cmds[][4] = {
	    {"ls"}, {"info"}, {"start", "a", "b"}, {"run", "-p", "work", "true"}, {"events"}};
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
		run_cli(cmds[i], missing, &res);
		assert_int_equal(res.status, 3);
		_cleanup_free_ char *want = xasprintf(
		    "bulkhead: cannot reach bulkheadd at %s: No such file or directory\n"
		    "Start it with: systemctl start bulkheadd (or run bulkheadd as root)\n",
		    missing);
		assert_string_equal(res.err, want);
	}

	/* A socket nobody listens on (a daemon that died) is the same to the user. */
	_cleanup_free_ char *dead = xasprintf("%s/dead.sock", tmpdir);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strcpy(sa.sun_path, dead);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	run_cli((const char *const[]){"ls", NULL}, dead, &res);
	assert_int_equal(res.status, 3);
	assert_non_null(strstr(res.err, "Connection refused"));
	assert_non_null(strstr(res.err, "systemctl start bulkheadd"));
	unlink(dead);
}

/* ---- a server that speaks the run relay's frames ---- */

static int listen_fd = -1;

static int setup_server(void **state)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strcpy(sa.sun_path, sock_path);
	unlink(sock_path);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(listen_fd >= 0);
	assert_int_equal(bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(listen_fd, 4), 0);
	return 0;
}

static int teardown_server(void **state)
{
	close(listen_fd);
	unlink(sock_path);
	return 0;
}

/* Accepts the CLI, checks its admin.vm.Run request, and sends reply_json. */
static int accept_run(const char *dest, const char *argv0, const char *reply_json)
{
	struct pollfd p = {.fd = listen_fd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 10000), 1);
	int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);

	struct chan_frame f;
	uint8_t *payload;
	assert_int_equal(chan_recv(fd, CHAN_MAX_PAYLOAD, &f, &payload), 0);
	assert_int_equal(f.type, CHAN_API_REQUEST);
	struct json_object *req = json_tokener_parse((const char *)payload), *v, *pl, *args;
	free(payload);
	assert_non_null(req);
	assert_true(json_object_object_get_ex(req, "call", &v));
	assert_string_equal(json_object_get_string(v), "admin.vm.Run");
	assert_true(json_object_object_get_ex(req, "dest", &v));
	assert_string_equal(json_object_get_string(v), dest);
	assert_true(json_object_object_get_ex(req, "payload", &pl));
	assert_true(json_object_object_get_ex(pl, "argv", &args));
	assert_string_equal(json_object_get_string(json_object_array_get_idx(args, 0)), argv0);
	assert_true(json_object_object_get_ex(pl, "autostart", &v));
	assert_true(json_object_get_boolean(v));
	json_object_put(req);

	assert_int_equal(chan_send(fd, CHAN_API_REPLY, 0, reply_json, strlen(reply_json)), 0);
	return fd;
}

static const char reply_ok[] = "{\"ok\":true,\"result\":null}";

static uint8_t pattern_byte(size_t i)
{
	return (uint8_t)((i * 7 + i / 251) & 0xff);
}

#define OUT_TOTAL (1536u * 1024u)
#define IN_TOTAL  (600u * 1024u)

struct pipe_io {
	int fd;
	size_t n;
	uint8_t *buf;
	bool slow;
};

/* Reads the CLI's stdout, slowly at first, so its output waits in the CLI's queue. */
static void *reader_thread(void *arg)
{
	struct pipe_io *io = arg;
	uint8_t tmp[8192];
	for (;;) {
		ssize_t r = read(io->fd, tmp, sizeof(tmp));
		if (r <= 0)
			break;
		if (io->n + (size_t)r > OUT_TOTAL + 1)
			r = (ssize_t)(OUT_TOTAL + 1 - io->n);
		memcpy(io->buf + io->n, tmp, (size_t)r);
		io->n += (size_t)r;
		if (io->slow && io->n < 300 * 1024)
			usleep(1000);
	}
	close(io->fd);
	return NULL;
}

static void *writer_thread(void *arg)
{
	struct pipe_io *io = arg;
	uint8_t *buf = xmalloc(IN_TOTAL);
	for (size_t i = 0; i < IN_TOTAL; i++)
		buf[i] = pattern_byte(i + 13);
	write_all(io->fd, buf, IN_TOTAL);
	close(io->fd);
	free(buf);
	return NULL;
}

static void send_u32(int fd, uint16_t type, uint32_t v)
{
	uint8_t p[4];
	chan_u32_encode(p, v);
	assert_int_equal(chan_send(fd, type, 1, p, sizeof(p)), 0);
}

static void send_exit(int fd, uint32_t kind, int32_t value)
{
	uint8_t p[8];
	chan_exit_encode(p, kind, value);
	assert_int_equal(chan_send(fd, CHAN_EXIT, 1, p, sizeof(p)), 0);
}

static int recv_frame(int fd, struct chan_frame *f, uint8_t **payload)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, 10000) != 1)
		fail_msg("the CLI sent nothing for 10 s");
	return chan_recv(fd, CHAN_MAX_PAYLOAD, f, payload);
}

/* Many STDOUT/STDERR chunks within the window the CLI grants, stdin larger than the window we
 * grant, a slow reader: all data must arrive intact, every byte be acknowledged, and the exit
 * code come through. */
static void test_run_flow(void **state)
{
	int in[2], out, err;
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	pid_t pid = spawn((const char *const[]){"run", "-p", "work", "--", "cat", "-n", NULL},
			  sock_path, in[0], &out, &err);
	close(in[0]);
	struct pipe_io rd = {.fd = out, .buf = xmalloc(OUT_TOTAL + 1), .slow = true};
	struct pipe_io wr = {.fd = in[1]};
	pthread_t rt, wt;
	pthread_create(&rt, NULL, reader_thread, &rd);
	pthread_create(&wt, NULL, writer_thread, &wr);

	int fd = accept_run("work", "cat", reply_ok);
	uint64_t out_credit = CHAN_INITIAL_WINDOW; /* what the CLI lets us send */
	uint64_t in_granted = CHAN_INITIAL_WINDOW; /* what we let the CLI send */
	size_t sent = 0, got_in = 0, windows = 0, chunk = 1;
	bool in_eof = false, granted_more = false;
	uint8_t *in_data = xmalloc(IN_TOTAL);
	uint8_t buf[CHAN_MAX_PAYLOAD];

	while (sent < OUT_TOTAL || !in_eof || out_credit < CHAN_INITIAL_WINDOW) {
		/* Send while the window allows, in chunks of changing size, a few on stderr. */
		while (sent < OUT_TOTAL && out_credit > 0) {
			size_t n = (chunk * 4099) % 20000 + 1;
			n = n > OUT_TOTAL - sent ? OUT_TOTAL - sent : n;
			n = n > out_credit ? (size_t)out_credit : n;
			for (size_t i = 0; i < n; i++)
				buf[i] = pattern_byte(sent + i);
			assert_int_equal(chan_send(fd, CHAN_STDOUT, 1, buf, n), 0);
			out_credit -= n;
			/* STDERR shares the window with STDOUT. */
			if (chunk % 50 == 0 && out_credit > 0) {
				assert_int_equal(chan_send(fd, CHAN_STDERR, 1, "e", 1), 0);
				out_credit--;
			}
			sent += n;
			chunk++;
		}
		struct chan_frame f;
		uint8_t *p;
		assert_int_equal(recv_frame(fd, &f, &p), 0);
		assert_int_equal(f.stream, 1);
		if (f.type == CHAN_WINDOW) {
			uint32_t n;
			assert_int_equal(chan_u32_parse(p, f.len, &n), 0);
			out_credit += n;
			assert_true(out_credit <= CHAN_INITIAL_WINDOW);
			windows++;
		} else if (f.type == CHAN_STDIN) {
			assert_false(in_eof);
			if (f.len == 0) {
				in_eof = true;
			} else {
				assert_true(got_in + f.len <= in_granted);
				assert_true(got_in + f.len <= IN_TOTAL);
				memcpy(in_data + got_in, p, f.len);
				got_in += f.len;
			}
			/* Hold the grant back until the CLI has used all of it. */
			if (got_in == in_granted && !granted_more) {
				granted_more = true;
				send_u32(fd, CHAN_WINDOW, IN_TOTAL);
				in_granted += IN_TOTAL;
			}
		} else {
			fail_msg("unexpected frame type %u", f.type);
		}
		free(p);
	}
	send_exit(fd, CHAN_EXIT_CODE, 7);
	close(fd);

	pthread_join(wt, NULL);
	struct result res = {0};
	drain(-1, err, &res); /* stdout is the reader thread's */
	pthread_join(rt, NULL);
	assert_int_equal(wait_status(pid), 7);

	assert_true(granted_more);
	assert_int_equal(got_in, IN_TOTAL);
	for (size_t i = 0; i < IN_TOTAL; i++)
		if (in_data[i] != pattern_byte(i + 13))
			fail_msg("stdin byte %zu differs", i);
	assert_int_equal(rd.n, OUT_TOTAL);
	for (size_t i = 0; i < OUT_TOTAL; i++)
		if (rd.buf[i] != pattern_byte(i))
			fail_msg("stdout byte %zu differs", i);
	assert_int_equal(strspn(res.err, "e"), strlen(res.err));
	assert_true(strlen(res.err) > 0);
	/* Acknowledged in batches, not once per chunk. */
	assert_true(windows < chunk);
	free(in_data);
	free(rd.buf);
}

/* SIGINT to the CLI becomes a SIGNAL frame; a command killed by a signal exits 128+N. */
static void test_run_signal(void **state)
{
	int out, err;
	pid_t pid = spawn((const char *const[]){"run", "-p", "work", "sleep", "100", NULL},
			  sock_path, -1, &out, &err);
	int fd = accept_run("work", "sleep", reply_ok);
	struct chan_frame f;
	uint8_t *p;
	/* stdin is /dev/null: its EOF is the first frame, sent once signals are being caught. */
	assert_int_equal(recv_frame(fd, &f, &p), 0);
	assert_int_equal(f.type, CHAN_STDIN);
	assert_int_equal(f.len, 0);
	free(p);
	kill(pid, SIGINT);
	assert_int_equal(recv_frame(fd, &f, &p), 0);
	assert_int_equal(f.type, CHAN_SIGNAL);
	uint32_t sig;
	assert_int_equal(chan_u32_parse(p, f.len, &sig), 0);
	assert_int_equal(sig, SIGINT);
	free(p);
	send_exit(fd, CHAN_EXIT_SIGNAL, 9);
	close(fd);
	struct result res = {0};
	drain(out, err, &res);
	assert_int_equal(wait_status(pid), 128 + 9);
}

/* Without -p: output is dropped but still acknowledged, success is 0 and failure 1. */
static void test_run_quiet(void **state)
{
	for (int code = 0; code < 2; code++) {
		int out, err;
		pid_t pid = spawn((const char *const[]){"run", "work", "--", "make", NULL},
				  sock_path, -1, &out, &err);
		int fd = accept_run("work", "make", reply_ok);
		struct chan_frame f;
		uint8_t *p;
		assert_int_equal(recv_frame(fd, &f, &p), 0);
		assert_int_equal(f.type, CHAN_STDIN); /* EOF at once: no input without -p */
		assert_int_equal(f.len, 0);
		free(p);
		assert_int_equal(chan_send(fd, CHAN_STDOUT, 1, "hidden", 6), 0);
		assert_int_equal(recv_frame(fd, &f, &p), 0);
		assert_int_equal(f.type, CHAN_WINDOW);
		uint32_t n;
		assert_int_equal(chan_u32_parse(p, f.len, &n), 0);
		assert_int_equal(n, 6);
		free(p);
		send_exit(fd, CHAN_EXIT_CODE, code ? 3 : 0);
		close(fd);
		struct result res = {0};
		drain(out, err, &res);
		assert_string_equal(res.out, "");
		if (code) {
			assert_int_equal(wait_status(pid), 1);
			assert_string_equal(res.err, "bulkhead: command failed with status 3\n");
		} else {
			assert_int_equal(wait_status(pid), 0);
			assert_string_equal(res.err, "");
		}
	}
}

/* A refused run and a relay that breaks off are told, not taken for the command's status. */
static void test_run_refused(void **state)
{
	static const struct {
		const char *reply;
		int status;
		const char *err;
	} cases[] = {
	    {"{\"ok\":false,\"error\":\"QubesVMNotFoundError\",\"message\":\"no qube named "
	     "'work'\"}",
	     1, "bulkhead: no qube named 'work'\n"},
	    {"{\"ok\":false,\"error\":\"QubesPermissionDenied\",\"message\":\"uid 1000 may not "
	     "use bulkheadd\"}",
	     4, "'bulkhead' group"},
	    {"{\"ok\":tru", 1, "malformed reply"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int out, err;
		pid_t pid = spawn((const char *const[]){"run", "-p", "work", "true", NULL},
				  sock_path, -1, &out, &err);
		int fd = accept_run("work", "true", cases[i].reply);
		close(fd);
		struct result res = {0};
		drain(out, err, &res);
		assert_int_equal(wait_status(pid), cases[i].status);
		if (!strstr(res.err, cases[i].err))
			fail_msg("case %zu said '%s'", i, res.err);
	}

	/* The connection ends before EXIT. */
	int out, err;
	pid_t pid = spawn((const char *const[]){"run", "-p", "work", "true", NULL}, sock_path, -1,
			  &out, &err);
	int fd = accept_run("work", "true", reply_ok);
	assert_int_equal(chan_send(fd, CHAN_STDOUT, 1, "partial\n", 8), 0);
	close(fd);
	struct result res = {0};
	drain(out, err, &res);
	assert_int_equal(wait_status(pid), 1);
	assert_string_equal(res.out, "partial\n");
	assert_non_null(strstr(res.err, "closed the connection"));
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH-TO-BULKHEAD\n", argv[0]);
		return 2;
	}
	bulkhead = argv[1];
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(tmpdir))
		return 1;
	snprintf(sock_path, sizeof(sock_path), "%s/api.sock", tmpdir);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_usage_errors),
	    cmocka_unit_test(test_help),
	    cmocka_unit_test(test_no_daemon),
	    cmocka_unit_test_setup_teardown(test_run_flow, setup_server, teardown_server),
	    cmocka_unit_test_setup_teardown(test_run_signal, setup_server, teardown_server),
	    cmocka_unit_test_setup_teardown(test_run_quiet, setup_server, teardown_server),
	    cmocka_unit_test_setup_teardown(test_run_refused, setup_server, teardown_server),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	rmdir(tmpdir);
	return r;
}
