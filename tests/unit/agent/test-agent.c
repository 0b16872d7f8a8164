/* Runs the real bulkhead-agent (path in $BULKHEAD_AGENT) over a socketpair and plays the host. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <sys/stat.h>
#include <sys/un.h>

#include "frame.h"
#include "unaligned.h"
#include "util.h"

#define TIMEOUT_MS 20000

struct host {
	int fd;
	pid_t pid;
	struct chan_decoder dec;
	uint8_t rbuf[65536];
	size_t roff, rlen;
	/* The agent's swap reports, taken aside by host_next (they come on their own clock). */
	unsigned meminfo_frames;
	uint64_t meminfo_kib;
};

struct frame {
	uint16_t type;
	uint32_t stream;
	uint32_t len;
	uint8_t *p;
};

/* What came back on one stream. */
struct result {
	uint8_t *out;
	size_t out_len;
	char err[4096];
	size_t err_len;
	bool out_eof, err_eof, exited;
	uint32_t kind;
	int32_t value;
	uint64_t granted; /* output window we gave the agent */
	uint64_t received;
};

static void frame_free(struct frame *f)
{
	free(f->p);
	f->p = NULL;
}

static struct host *host_start_args(const char *const *extra);

static struct host *host_start(void)
{
	return host_start_args(NULL);
}

static struct host *host_start_args(const char *const *extra)
{
	const char *agent = getenv("BULKHEAD_AGENT");
	int sv[2];

	assert_non_null(agent);
	struct host *h = xcalloc(1, sizeof(*h));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	h->pid = fork();
	assert_true(h->pid >= 0);
	if (h->pid == 0) {
		char fdarg[16];
		int fd = dup(sv[1]); /* without CLOEXEC */
		snprintf(fdarg, sizeof(fdarg), "%d", fd);
		const char *argv[16] = {agent, "--fd", fdarg};
		size_t n = 3;
		for (size_t i = 0; extra && extra[i] && n < 15; i++)
			argv[n++] = extra[i];
		argv[n] = NULL;
		execv(agent, (char *const *)argv);
		_exit(127);
	}
	close(sv[1]);
	h->fd = sv[0];
	chan_decoder_init(&h->dec, CHAN_MAX_PAYLOAD);
	return h;
}

/* Next frame from the agent; fails the test on timeout. Returns false on EOF. */
static bool host_next(struct host *h, struct frame *ret, int timeout_ms)
{
	for (;;) {
		while (h->roff < h->rlen) {
			struct chan_frame f;
			size_t used;
			int r = chan_decoder_feed(&h->dec, h->rbuf + h->roff, h->rlen - h->roff,
						  &used, &f);
			assert_true(r >= 0);
			h->roff += used;
			if (r == 1 && f.type == CHAN_MEMINFO) {
				assert_int_equal(f.stream, 0);
				assert_int_equal(f.len, 8);
				h->meminfo_frames++;
				h->meminfo_kib = unaligned_read_le64(f.payload);
				continue;
			}
			if (r == 1) {
				ret->type = f.type;
				ret->stream = f.stream;
				ret->len = f.len;
				ret->p = xmalloc(f.len + 1);
				memcpy(ret->p, f.payload, f.len);
				ret->p[f.len] = 0;
				return true;
			}
		}
		struct pollfd p = {.fd = h->fd, .events = POLLIN};
		int r = poll(&p, 1, timeout_ms);
		assert_true(r >= 0);
		if (r == 0)
			fail_msg("timed out waiting for the agent");
		ssize_t n = read(h->fd, h->rbuf, sizeof(h->rbuf));
		assert_true(n >= 0);
		if (n == 0)
			return false;
		h->roff = 0;
		h->rlen = (size_t)n;
	}
}

static void host_send(struct host *h, uint16_t type, uint32_t stream, const void *p, size_t len)
{
	assert_int_equal(chan_send(h->fd, type, stream, p, len), 0);
}

static void host_send_u32(struct host *h, uint16_t type, uint32_t stream, uint32_t v)
{
	uint8_t b[4];
	chan_u32_encode(b, v);
	host_send(h, type, stream, b, sizeof(b));
}

static void host_exec(struct host *h, uint32_t stream, const char *user, const char *const *argv)
{
	_cleanup_free_ uint8_t *p = NULL;
	size_t len;

	assert_int_equal(chan_exec_encode(user, argv, &p, &len), 0);
	host_send(h, CHAN_EXEC, stream, p, len);
}

/* Closes our end and checks that the agent exits cleanly. */
static void host_stop(struct host *h)
{
	int st;

	close(h->fd);
	assert_int_equal(waitpid(h->pid, &st, 0), h->pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	free(h);
}

static struct host *host_start_hello(void)
{
	struct host *h = host_start();
	struct frame f;

	assert_true(host_next(h, &f, TIMEOUT_MS));
	assert_int_equal(f.type, CHAN_HELLO);
	frame_free(&f);
	return h;
}

/* Applies a frame to the per-stream results; grants the window back when asked to. */
static void apply(struct host *h, const struct frame *f, struct result *res, uint32_t first,
		  size_t n, bool grant)
{
	assert_true(f->stream >= first && f->stream < first + n);
	struct result *r = &res[f->stream - first];
	assert_false(r->exited);

	switch (f->type) {
	case CHAN_STDOUT:
	case CHAN_STDERR:
		if (f->len == 0) {
			if (f->type == CHAN_STDOUT)
				r->out_eof = true;
			else
				r->err_eof = true;
			break;
		}
		r->received += f->len;
		/* The agent must never pass the window it was given. */
		assert_true(r->received <= CHAN_INITIAL_WINDOW + r->granted);
		if (f->type == CHAN_STDOUT) {
			r->out = xrealloc(r->out, r->out_len + f->len);
			memcpy(r->out + r->out_len, f->p, f->len);
			r->out_len += f->len;
		} else {
			assert_true(r->err_len + f->len < sizeof(r->err));
			memcpy(r->err + r->err_len, f->p, f->len);
			r->err_len += f->len;
		}
		if (grant) {
			host_send_u32(h, CHAN_WINDOW, f->stream, f->len);
			r->granted += f->len;
		}
		break;
	case CHAN_EXIT:
		/* EOF on both outputs comes first */
		assert_true(r->out_eof);
		assert_true(r->err_eof);
		assert_int_equal(chan_exit_parse(f->p, f->len, &r->kind, &r->value), 0);
		r->exited = true;
		break;
	case CHAN_WINDOW:
		break;
	default:
		fail_msg("unexpected frame %u on stream %u", f->type, f->stream);
	}
}

static void collect(struct host *h, struct result *res, uint32_t first, size_t n)
{
	for (;;) {
		size_t done = 0;
		for (size_t i = 0; i < n; i++)
			done += res[i].exited;
		if (done == n)
			return;
		struct frame f;
		assert_true(host_next(h, &f, TIMEOUT_MS));
		apply(h, &f, res, first, n, true);
		frame_free(&f);
	}
}

static void run(struct host *h, const char *user, const char *const *argv, struct result *r)
{
	*r = (struct result){0};
	host_exec(h, 1, user, argv);
	collect(h, r, 1, 1);
}

static void result_done(struct result *r)
{
	free(r->out);
	r->out = NULL;
}

static void test_hello(void **state)
{
	struct host *h = host_start();
	struct frame f;
	struct chan_hello hello;
	uint8_t buf[128];
	size_t len;

	assert_true(host_next(h, &f, TIMEOUT_MS));
	assert_int_equal(f.type, CHAN_HELLO);
	assert_int_equal(f.stream, 0);
	assert_int_equal(chan_hello_parse(f.p, f.len, &hello), 0);
	assert_int_equal(hello.version, CHAN_PROTOCOL_VERSION);
	assert_string_equal(hello.peer_version, BULKHEAD_VERSION);
	frame_free(&f);

	/* a HELLO from the host is answered */
	assert_int_equal(chan_hello_encode("test-host", buf, sizeof(buf), &len), 0);
	host_send(h, CHAN_HELLO, 0, buf, len);
	assert_true(host_next(h, &f, TIMEOUT_MS));
	assert_int_equal(f.type, CHAN_HELLO);
	frame_free(&f);
	host_stop(h);
}

static void test_echo_hi(void **state)
{
	struct host *h = host_start_hello();
	struct result r;

	run(h, "", (const char *const[]){"echo", "hi", NULL}, &r);
	assert_int_equal(r.kind, CHAN_EXIT_CODE);
	assert_int_equal(r.value, 0);
	assert_int_equal(r.out_len, 3);
	assert_memory_equal(r.out, "hi\n", 3);
	assert_int_equal(r.err_len, 0);
	result_done(&r);
	host_stop(h);
}

/* The agent reports the swap in use at once (SwapTotal - SwapFree of /proc/meminfo: this
 * machine's, as the agent runs here), and not again while it does not change. */
static void test_meminfo(void **state)
{
	struct host *h = host_start_hello();
	struct result r;
	unsigned long long total = 0, free_kib = 0;
	char line[128];
	FILE *f = fopen("/proc/meminfo", "re");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "SwapTotal: %llu kB", &total);
		sscanf(line, "SwapFree: %llu kB", &free_kib);
	}
	fclose(f);
	run(h, "", (const char *const[]){"true", NULL}, &r);
	result_done(&r);
	assert_int_equal(h->meminfo_frames, 1);
	assert_true(h->meminfo_kib <= total);
	if (total == free_kib)
		assert_int_equal(h->meminfo_kib, 0);
	host_stop(h);
}

static void test_exit_code(void **state)
{
	struct host *h = host_start_hello();
	struct result r;

	run(h, "", (const char *const[]){"sh", "-c", "echo oops >&2; exit 3", NULL}, &r);
	assert_int_equal(r.kind, CHAN_EXIT_CODE);
	assert_int_equal(r.value, 3);
	assert_int_equal(r.err_len, 5);
	assert_memory_equal(r.err, "oops\n", 5);
	result_done(&r);
	host_stop(h);
}

static void test_signal(void **state)
{
	struct host *h = host_start_hello();
	struct result r = {0};
	struct frame f;

	/* The shell prints once it runs, so the signal cannot race the exec. */
	host_exec(h, 1, "", (const char *const[]){"sh", "-c", "echo up; exec sleep 30", NULL});
	while (r.out_len == 0) {
		assert_true(host_next(h, &f, TIMEOUT_MS));
		apply(h, &f, &r, 1, 1, true);
		frame_free(&f);
	}
	/* out of range signal numbers are refused on the stream */
	host_send_u32(h, CHAN_SIGNAL, 1, 65);
	assert_true(host_next(h, &f, TIMEOUT_MS));
	assert_int_equal(f.type, CHAN_ERROR);
	assert_int_equal(f.stream, 1);
	frame_free(&f);

	host_send_u32(h, CHAN_SIGNAL, 1, SIGKILL);
	collect(h, &r, 1, 1);
	assert_int_equal(r.kind, CHAN_EXIT_SIGNAL);
	assert_int_equal(r.value, SIGKILL);
	result_done(&r);
	host_stop(h);
}

static void test_missing_command(void **state)
{
	struct host *h = host_start_hello();
	struct result r;

	run(h, "", (const char *const[]){"no-such-command-h1", NULL}, &r);
	assert_int_equal(r.kind, CHAN_EXIT_CODE);
	assert_int_equal(r.value, 127);
	r.err[r.err_len] = 0;
	assert_string_equal(r.err, "bulkhead-agent: cannot run 'no-such-command-h1': No such file "
				   "or directory\n");
	result_done(&r);

	/* not executable */
	run(h, "", (const char *const[]){"/etc/passwd", NULL}, &r);
	assert_int_equal(r.value, 126);
	r.err[r.err_len] = 0;
	assert_non_null(strstr(r.err, "Permission denied"));
	result_done(&r);
	host_stop(h);
}

static void test_unknown_user(void **state)
{
	struct host *h = host_start_hello();
	struct result r;

	run(h, "no-such-user-h1", (const char *const[]){"true", NULL}, &r);
	assert_int_equal(r.kind, CHAN_EXIT_CODE);
	assert_int_equal(r.value, 126);
	r.err[r.err_len] = 0;
	assert_string_equal(r.err, "bulkhead-agent: unknown user 'no-such-user-h1'\n");
	result_done(&r);
	host_stop(h);
}

static void test_stdin_cat(void **state)
{
	struct host *h = host_start_hello();
	struct result r = {0};
	const size_t total = 1 << 20;
	_cleanup_free_ uint8_t *data = xmalloc(total);
	uint64_t window = CHAN_INITIAL_WINDOW, sent = 0, windows_seen = 0, window_frames = 0;
	bool eof_sent = false;

	for (size_t i = 0; i < total; i++)
		data[i] = (uint8_t)(i * 131 + (i >> 12));
	host_exec(h, 1, "", (const char *const[]){"cat", NULL});

	while (!r.exited) {
		/* Send what the window allows, in frames of various sizes. */
		while (sent < total && window > 0) {
			size_t chunk = 1000 + (sent / 7) % 60000;
			if (chunk > window)
				chunk = window;
			if (chunk > total - sent)
				chunk = total - sent;
			host_send(h, CHAN_STDIN, 1, data + sent, chunk);
			sent += chunk;
			window -= chunk;
		}
		if (sent == total && !eof_sent) {
			host_send(h, CHAN_STDIN, 1, NULL, 0);
			eof_sent = true;
		}
		struct frame f;
		assert_true(host_next(h, &f, TIMEOUT_MS));
		if (f.type == CHAN_WINDOW) {
			uint32_t n;
			assert_int_equal(f.stream, 1);
			assert_int_equal(chan_u32_parse(f.p, f.len, &n), 0);
			window += n;
			windows_seen += n;
			window_frames++;
		}
		apply(h, &f, &r, 1, 1, true);
		frame_free(&f);
	}
	assert_int_equal(r.kind, CHAN_EXIT_CODE);
	assert_int_equal(r.value, 0);
	assert_int_equal(r.out_len, total);
	assert_memory_equal(r.out, data, total);
	/* 1 MiB through a 256 KiB window needs the agent's grants */
	assert_true(window_frames > 0);
	assert_true(windows_seen >= total - CHAN_INITIAL_WINDOW);
	result_done(&r);
	host_stop(h);
}

static void test_flood_does_not_block_echo(void **state)
{
	struct host *h = host_start_hello();
	struct result r = {0};
	struct frame f;
	const size_t total = 20000000;
	bool replied = false;

	host_exec(h, 1, "", (const char *const[]){"head", "-c", "20000000", "/dev/zero", NULL});
	host_send(h, CHAN_ECHO, 0, "ping", 4);
	/* No window granted yet: the reply must come while the flood is held back. */
	while (!replied) {
		assert_true(host_next(h, &f, TIMEOUT_MS));
		if (f.type == CHAN_ECHO_REPLY) {
			assert_int_equal(f.stream, 0);
			assert_int_equal(f.len, 4);
			assert_memory_equal(f.p, "ping", 4);
			replied = true;
		} else
			apply(h, &f, &r, 1, 1, false);
		frame_free(&f);
	}
	assert_true(r.received <= CHAN_INITIAL_WINDOW);
	assert_false(r.exited);

	/* A second echo, after the window is surely used up. */
	struct timespec ts = {.tv_nsec = 200 * 1000 * 1000};
	nanosleep(&ts, NULL);
	host_send(h, CHAN_ECHO, 0, "pong", 4);
	for (replied = false; !replied;) {
		assert_true(host_next(h, &f, TIMEOUT_MS));
		if (f.type == CHAN_ECHO_REPLY)
			replied = true;
		else
			apply(h, &f, &r, 1, 1, false);
		frame_free(&f);
	}
	assert_true(r.received <= CHAN_INITIAL_WINDOW);

	/* Now drain it. */
	host_send_u32(h, CHAN_WINDOW, 1, (uint32_t)r.received);
	r.granted += r.received;
	collect(h, &r, 1, 1);
	assert_int_equal(r.value, 0);
	assert_int_equal(r.out_len, total);
	for (size_t i = 0; i < total; i += 4096)
		assert_int_equal(r.out[i], 0);
	result_done(&r);
	host_stop(h);
}

static void test_stuck_stdin(void **state)
{
	struct host *h = host_start_hello();
	struct result r = {0};
	struct frame f;
	static uint8_t block[CHAN_MAX_PAYLOAD];

	host_exec(h, 1, "", (const char *const[]){"sleep", "30", NULL});
	/* A full window the command never reads (more than a pipe holds). */
	for (size_t sent = 0; sent < CHAN_INITIAL_WINDOW; sent += sizeof(block))
		host_send(h, CHAN_STDIN, 1, block, sizeof(block));

	host_send(h, CHAN_ECHO, 0, "still there?", 12);
	for (bool replied = false; !replied;) {
		assert_true(host_next(h, &f, TIMEOUT_MS));
		if (f.type == CHAN_ECHO_REPLY) {
			assert_int_equal(f.len, 12);
			replied = true;
		} else
			apply(h, &f, &r, 1, 1, true);
		frame_free(&f);
	}
	assert_false(r.exited);

	host_send_u32(h, CHAN_SIGNAL, 1, SIGKILL);
	collect(h, &r, 1, 1);
	assert_int_equal(r.kind, CHAN_EXIT_SIGNAL);
	assert_int_equal(r.value, SIGKILL);
	result_done(&r);
	host_stop(h);
}

#define NSTREAMS 20

static void test_concurrent_streams(void **state)
{
	struct host *h = host_start_hello();
	struct result r[NSTREAMS] = {0};

	for (uint32_t i = 0; i < NSTREAMS; i++) {
		char n[16];
		snprintf(n, sizeof(n), "%u", 500 * (i + 1));
		host_exec(h, 100 + i, "", (const char *const[]){"seq", "1", n, NULL});
	}
	collect(h, r, 100, NSTREAMS);
	for (uint32_t i = 0; i < NSTREAMS; i++) {
		char line[16];
		size_t off = 0;
		assert_int_equal(r[i].kind, CHAN_EXIT_CODE);
		assert_int_equal(r[i].value, 0);
		for (unsigned k = 1; k <= 500 * (i + 1); k++) {
			int l = snprintf(line, sizeof(line), "%u\n", k);
			assert_true(off + (size_t)l <= r[i].out_len);
			assert_memory_equal(r[i].out + off, line, (size_t)l);
			off += (size_t)l;
		}
		assert_int_equal(off, r[i].out_len);
		result_done(&r[i]);
	}
	host_stop(h);
}

static void test_other_user(void **state)
{
	if (geteuid() != 0)
		skip();
	struct passwd *pw = getpwnam("nobody");
	if (!pw)
		skip();
	uid_t uid = pw->pw_uid;

	struct host *h = host_start_hello();
	struct result r;
	run(h, "nobody",
	    (const char *const[]){"sh", "-c", "echo $(id -u) $(id -g) $USER $LOGNAME $PATH; pwd",
				  NULL},
	    &r);
	assert_int_equal(r.value, 0);
	char want[256];
	/* nobody's home does not exist: the command starts in / */
	snprintf(want, sizeof(want),
		 "%u %u nobody nobody /usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin\n/\n",
		 (unsigned)uid, (unsigned)pw->pw_gid);
	r.out = xrealloc(r.out, r.out_len + 1);
	r.out[r.out_len] = 0;
	assert_string_equal((char *)r.out, want);
	result_done(&r);
	host_stop(h);
}

static void test_protocol_errors(void **state)
{
	struct host *h = host_start_hello();
	struct frame f;
	static uint8_t block[CHAN_MAX_PAYLOAD];

	/* unknown type */
	host_send(h, 99, 0, NULL, 0);
	assert_true(host_next(h, &f, TIMEOUT_MS));
	assert_int_equal(f.type, CHAN_ERROR);
	assert_int_equal(f.stream, 0);
	frame_free(&f);

	/* EXEC on stream 0 */
	host_exec(h, 0, "", (const char *const[]){"true", NULL});
	assert_true(host_next(h, &f, TIMEOUT_MS));
	assert_int_equal(f.type, CHAN_ERROR);
	frame_free(&f);

	/* STDIN past the window: the command is dropped */
	host_exec(h, 3, "", (const char *const[]){"sleep", "30", NULL});
	/* The window plus more than a pipe can absorb (the agent grants back what the pipe
	 * takes, at most 64 KiB); frames after the error go to a forgotten stream. */
	for (size_t sent = 0; sent < CHAN_INITIAL_WINDOW + 3 * sizeof(block); sent += sizeof(block))
		host_send(h, CHAN_STDIN, 3, block, sizeof(block));
	for (;;) {
		assert_true(host_next(h, &f, TIMEOUT_MS));
		bool err = f.type == CHAN_ERROR;
		if (err)
			assert_int_equal(f.stream, 0);
		frame_free(&f);
		if (err)
			break;
	}

	/* the channel still works after a reset */
	host_send(h, CHAN_ECHO, 5, "x", 1);
	assert_true(host_next(h, &f, TIMEOUT_MS));
	assert_int_equal(f.type, CHAN_ECHO_REPLY);
	assert_int_equal(f.stream, 5);
	frame_free(&f);

	/* a bad header: ERROR, and the agent leaves when we close */
	uint8_t hdr[CHAN_HEADER_SIZE];
	chan_header_encode(hdr, CHAN_ECHO, 0, CHAN_MAX_PAYLOAD + 1);
	assert_int_equal(write_all(h->fd, hdr, sizeof(hdr)), 0);
	assert_true(host_next(h, &f, TIMEOUT_MS));
	assert_int_equal(f.type, CHAN_ERROR);
	frame_free(&f);
	host_stop(h);
}

static void test_shutdown_exits(void **state)
{
	struct host *h = host_start_hello();
	struct frame f;
	int st;

	host_send(h, CHAN_SHUTDOWN, 0, NULL, 0);
	assert_false(host_next(h, &f, TIMEOUT_MS));
	assert_int_equal(waitpid(h->pid, &st, 0), h->pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	close(h->fd);
	free(h);
}

/* --- services (SERVICE) and calls from programs in the qube (RPC_CALL) ------------------- */

static char *make_rpc_dir(void)
{
	char *dir = xstrdup("/tmp/bh-rpc-XXXXXX");
	assert_non_null(mkdtemp(dir));
	_cleanup_free_ char *svc = xasprintf("%s/test.Svc", dir);
	_cleanup_free_ char *special = xasprintf("%s/test.Svc+special", dir);
	FILE *f = fopen(svc, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\necho \"$BULKHEAD_REMOTE_DOMAIN $BULKHEAD_SERVICE_ARGUMENT\"\ncat\n"
		   "echo to-stderr >&2\nexit 4\n");
	fclose(f);
	f = fopen(special, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\necho special\n");
	fclose(f);
	assert_int_equal(chmod(svc, 0755), 0);
	assert_int_equal(chmod(special, 0755), 0);
	return dir;
}

static void host_service(struct host *h, uint32_t stream, const char *service, const char *arg,
			 const char *source)
{
	const char *strs[4] = {"", service, arg, source};
	uint8_t p[4 * (CHAN_STRING_MAX + 1)];
	size_t len;
	assert_int_equal(chan_strings_encode(strs, 4, p, sizeof(p), &len), 0);
	host_send(h, CHAN_SERVICE, stream, p, len);
}

static void test_service(void **state)
{
	_cleanup_free_ char *dir = make_rpc_dir();
	const char *extra[] = {"--rpc-dir", dir, NULL};
	struct host *h = host_start_args(extra);
	struct frame f;
	struct result r = {0};

	assert_true(host_next(h, &f, TIMEOUT_MS)); /* HELLO */
	frame_free(&f);

	host_service(h, 1, "test.Svc", "a1", "alice");
	host_send(h, CHAN_STDIN, 1, "data\n", 5);
	host_send(h, CHAN_STDIN, 1, NULL, 0);
	collect(h, &r, 1, 1);
	assert_int_equal(r.value, 4);
	assert_int_equal(r.out_len, strlen("alice a1\ndata\n"));
	assert_memory_equal(r.out, "alice a1\ndata\n", r.out_len);
	assert_non_null(strstr(r.err, "to-stderr"));
	result_done(&r);

	/* NAME+ARG wins over NAME. */
	r = (struct result){0};
	host_service(h, 2, "test.Svc", "special", "alice");
	host_send(h, CHAN_STDIN, 2, NULL, 0);
	collect(h, &r, 2, 1);
	assert_int_equal(r.value, 0);
	assert_memory_equal(r.out, "special\n", 8);
	result_done(&r);

	/* No such service: 127 with a message; a name that could leave the directory: 126. */
	static const struct {
		const char *service, *arg;
		int code;
	} bad[] = {{"test.Missing", "", 127},
		   {"..", "", 126},
		   {"test.Svc", "../x", 126},
		   {"a/b", "", 126},
		   {"", "", 126}};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		r = (struct result){0};
		host_service(h, 10 + (uint32_t)i, bad[i].service, bad[i].arg, "alice");
		collect(h, &r, 10 + (uint32_t)i, 1);
		assert_int_equal(r.value, bad[i].code);
		assert_true(r.err_len > 0);
		result_done(&r);
	}
	host_stop(h);
	_cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* A socket service: the agent sends "SERVICE+ARG SOURCE\0" and relays both ways. */
static void test_socket_service(void **state)
{
	_cleanup_free_ char *dir = make_rpc_dir();
	_cleanup_free_ char *path = xasprintf("%s/test.Sock", dir);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	strcpy(sa.sun_path, path);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	pid_t server = fork();
	assert_true(server >= 0);
	if (server == 0) {
		int c = accept(lfd, NULL, NULL);
		char buf[256];
		size_t n = 0;
		while (n < sizeof(buf) - 1 && read(c, buf + n, 1) == 1 && buf[n] != 0)
			n++;
		buf[n] = 0;
		dprintf(c, "header:%s\n", buf);
		ssize_t k;
		while ((k = read(c, buf, sizeof(buf))) > 0)
			(void)!write(c, buf, (size_t)k);
		_exit(0);
	}
	close(lfd);
	const char *extra[] = {"--rpc-dir", dir, NULL};
	struct host *h = host_start_args(extra);
	struct frame f;
	struct result r = {0};
	assert_true(host_next(h, &f, TIMEOUT_MS));
	frame_free(&f);
	host_service(h, 1, "test.Sock", "x", "bob");
	host_send(h, CHAN_STDIN, 1, "ping\n", 5);
	host_send(h, CHAN_STDIN, 1, NULL, 0);
	collect(h, &r, 1, 1);
	assert_int_equal(r.value, 0);
	const char *want = "header:test.Sock+x bob\nping\n";
	assert_int_equal(r.out_len, strlen(want));
	assert_memory_equal(r.out, want, r.out_len);
	result_done(&r);
	host_stop(h);
	waitpid(server, NULL, 0);
	_cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static int local_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	strcpy(sa.sun_path, path);
	for (int i = 0; i < 200; i++) {
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		usleep(10000);
	}
	fail_msg("cannot connect to the agent's call socket");
	return -1;
}

/* A program in the qube calls out: the agent forwards on a stream of its own and relays. */
static void test_local_call(void **state)
{
	_cleanup_free_ char *sock = xasprintf("/tmp/bh-agent-%d.sock", (int)getpid());
	const char *extra[] = {"--rpc-socket", sock, NULL};
	struct host *h = host_start_args(extra);
	struct frame f;
	assert_true(host_next(h, &f, TIMEOUT_MS)); /* HELLO */
	frame_free(&f);

	int c = local_connect(sock);
	const char *strs[2] = {"bob", "test.Svc+x"};
	uint8_t p[2 * (CHAN_STRING_MAX + 1)];
	size_t len;
	assert_int_equal(chan_strings_encode(strs, 2, p, sizeof(p), &len), 0);
	assert_int_equal(chan_send(c, CHAN_RPC_CALL, 1, p, len), 0);

	assert_true(host_next(h, &f, TIMEOUT_MS));
	assert_int_equal(f.type, CHAN_RPC_CALL);
	assert_true(f.stream & CHAN_STREAM_QUBE);
	assert_int_equal(f.len, len);
	assert_memory_equal(f.p, p, len);
	uint32_t stream = f.stream;
	frame_free(&f);

	/* The host opens the window; the caller's stdin then reaches it. */
	host_send_u32(h, CHAN_WINDOW, stream, 100);
	struct chan_frame cf;
	_cleanup_free_ uint8_t *cp = NULL;
	assert_int_equal(chan_recv(c, CHAN_MAX_PAYLOAD, &cf, &cp), 0);
	assert_int_equal(cf.type, CHAN_WINDOW);
	assert_int_equal(cf.stream, 1);
	assert_int_equal(chan_send(c, CHAN_STDIN, 1, "hi", 2), 0);
	assert_true(host_next(h, &f, TIMEOUT_MS));
	assert_int_equal(f.type, CHAN_STDIN);
	assert_int_equal(f.stream, stream);
	assert_memory_equal(f.p, "hi", 2);
	frame_free(&f);

	host_send(h, CHAN_STDOUT, stream, "out", 3);
	uint8_t ex[8];
	chan_exit_encode(ex, CHAN_EXIT_CODE, 3);
	host_send(h, CHAN_EXIT, stream, ex, sizeof(ex));
	free(cp);
	cp = NULL;
	assert_int_equal(chan_recv(c, CHAN_MAX_PAYLOAD, &cf, &cp), 0);
	assert_int_equal(cf.type, CHAN_STDOUT);
	assert_memory_equal(cp, "out", 3);
	free(cp);
	cp = NULL;
	assert_int_equal(chan_recv(c, CHAN_MAX_PAYLOAD, &cf, &cp), 0);
	assert_int_equal(cf.type, CHAN_EXIT);
	uint32_t kind;
	int32_t value;
	assert_int_equal(chan_exit_parse(cp, cf.len, &kind, &value), 0);
	assert_int_equal(value, 3);
	close(c);

	/* A call that tries to name its source (a third string) is malformed: refused here, and
	 * the host would refuse it too; the source is always the channel's qube. */
	c = local_connect(sock);
	const char *forged[3] = {"bob", "test.Svc", "dom0"};
	assert_int_equal(chan_strings_encode(forged, 3, p, sizeof(p), &len), 0);
	assert_int_equal(chan_send(c, CHAN_RPC_CALL, 1, p, len), 0);
	free(cp);
	cp = NULL;
	assert_int_equal(chan_recv(c, CHAN_MAX_PAYLOAD, &cf, &cp), 0);
	assert_int_equal(cf.type, CHAN_ERROR);
	close(c);

	/* Anything but RPC_CALL first is refused, and nothing reaches the host. */
	c = local_connect(sock);
	assert_int_equal(chan_send(c, CHAN_STDIN, 1, "x", 1), 0);
	free(cp);
	cp = NULL;
	assert_int_equal(chan_recv(c, CHAN_MAX_PAYLOAD, &cf, &cp), 0);
	assert_int_equal(cf.type, CHAN_ERROR);
	close(c);
	/* The agent still answers. */
	host_send(h, CHAN_ECHO, 0, "e", 1);
	assert_true(host_next(h, &f, TIMEOUT_MS));
	assert_int_equal(f.type, CHAN_ECHO_REPLY);
	frame_free(&f);
	host_stop(h);
	unlink(sock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hello),
	    cmocka_unit_test(test_echo_hi),
	    cmocka_unit_test(test_meminfo),
	    cmocka_unit_test(test_exit_code),
	    cmocka_unit_test(test_signal),
	    cmocka_unit_test(test_missing_command),
	    cmocka_unit_test(test_unknown_user),
	    cmocka_unit_test(test_stdin_cat),
	    cmocka_unit_test(test_flood_does_not_block_echo),
	    cmocka_unit_test(test_stuck_stdin),
	    cmocka_unit_test(test_concurrent_streams),
	    cmocka_unit_test(test_other_user),
	    cmocka_unit_test(test_protocol_errors),
	    cmocka_unit_test(test_shutdown_exits),
	    cmocka_unit_test(test_service),
	    cmocka_unit_test(test_socket_service),
	    cmocka_unit_test(test_local_call),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
