/*
 * bulkhead run: after admin.vm.Run is accepted the connection carries stream 1 (proto.h). One
 * poll() loop moves stdin to STDIN frames within the window the qube grants, STDOUT/STDERR
 * frames to fds 1 and 2, acknowledging with WINDOW only what was written, and signals to
 * SIGNAL frames. Output waits in memory bounded by the window we grant, so a slow reader of
 * our stdout slows the command down instead of growing a buffer or blocking the loop.
 */
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/signalfd.h>

#include "cli.h"
#include "client.h"
#include "frame.h"
#include "util.h"

/* Acknowledge in batches, not per frame, unless everything has been written. */
#define ACK_BATCH (32u * 1024u)
/* A WINDOW from the other side cannot grow our credit past this. */
#define CREDIT_MAX (16ull * CHAN_INITIAL_WINDOW)
/* Stop reading stdin while this much is waiting to go out on the socket. */
#define SOCK_BACKLOG_MAX (4u * CHAN_MAX_PAYLOAD)
/* At most this much per write() after POLLOUT: a pipe with room for PIPE_BUF bytes takes them
 * without blocking, so the loop never stalls on a slow reader. */
#define WRITE_CHUNK PIPE_BUF

struct out_queue {
	int fd;
	bool broken; /* the reader went away: what arrives is dropped (and acknowledged) */
	uint8_t *buf;
	size_t start, end, alloc;
};

struct run_state {
	int sock;
	bool pass_io;
	bool stdin_open;
	uint64_t in_credit; /* STDIN bytes we may still send */
	uint64_t granted;   /* STDOUT+STDERR bytes the other side may still send us */
	uint64_t unacked;   /* written (or dropped) but not yet acknowledged */
	bool sent_sigpipe;
	bool send_failed; /* the socket no longer takes our frames */
	unsigned signals;
	struct out_queue out[2]; /* stdout, stderr */
	struct chan_decoder dec;
	struct chan_outbuf sendq;
	bool exited;
	uint32_t exit_kind;
	int32_t exit_value;
};

static size_t queue_pending(const struct out_queue *q)
{
	return q->end - q->start;
}

static void queue_append(struct out_queue *q, const uint8_t *p, size_t len)
{
	if (len == 0)
		return;
	if (q->start > 0 && q->alloc - q->end < len) {
		memmove(q->buf, q->buf + q->start, q->end - q->start);
		q->end -= q->start;
		q->start = 0;
	}
	if (q->alloc - q->end < len) {
		q->alloc = q->end + len > 2 * q->alloc ? q->end + len : 2 * q->alloc;
		q->buf = xrealloc(q->buf, q->alloc);
	}
	memcpy(q->buf + q->end, p, len);
	q->end += len;
}

static int push_u32(struct run_state *s, uint16_t type, uint32_t v)
{
	uint8_t p[4];
	chan_u32_encode(p, v);
	return chan_outbuf_push(&s->sendq, type, 1, p, sizeof(p));
}

static void consumed(struct run_state *s, size_t n)
{
	s->unacked += n;
}

/* Our stdout reader left (`run -p q -- cat big | head`): drop the rest and let the command get
 * SIGPIPE, as it would in a local pipeline. */
static void reader_gone(struct run_state *s, struct out_queue *q)
{
	q->broken = true;
	consumed(s, queue_pending(q));
	q->start = q->end = 0;
	if (!s->sent_sigpipe) {
		s->sent_sigpipe = true;
		push_u32(s, CHAN_SIGNAL, SIGPIPE);
	}
}

static void write_queue(struct run_state *s, struct out_queue *q)
{
	size_t n = queue_pending(q) < WRITE_CHUNK ? queue_pending(q) : WRITE_CHUNK;
	ssize_t w = write(q->fd, q->buf + q->start, n);
	if (w < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		reader_gone(s, q);
		return;
	}
	q->start += (size_t)w;
	consumed(s, (size_t)w);
	if (q->start == q->end)
		q->start = q->end = 0;
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("bulkhead: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return CLI_EXIT_FAIL;
}

/* Handles one frame; returns -1 to go on or an exit code to stop with. */
static int handle_frame(struct run_state *s, const struct chan_frame *f)
{
	switch (f->type) {
	case CHAN_STDOUT:
	case CHAN_STDERR: {
		if (f->len > s->granted)
			return fail("%s", "protocol error: the command sent more than its window");
		s->granted -= f->len;
		struct out_queue *q = &s->out[f->type == CHAN_STDOUT ? 0 : 1];
		if (!s->pass_io || q->broken)
			consumed(s, f->len);
		else
			queue_append(q, f->payload, f->len);
		return -1;
	}
	case CHAN_WINDOW: {
		uint32_t n;
		if (chan_u32_parse(f->payload, f->len, &n) < 0)
			return fail("%s", "protocol error: malformed WINDOW frame");
		s->in_credit = s->in_credit + n > CREDIT_MAX ? CREDIT_MAX : s->in_credit + n;
		return -1;
	}
	case CHAN_EXIT:
		if (chan_exit_parse(f->payload, f->len, &s->exit_kind, &s->exit_value) < 0)
			return fail("%s", "protocol error: malformed EXIT frame");
		s->exited = true;
		return -1;
	case CHAN_ERROR: {
		_cleanup_free_ char *msg = strndup((const char *)f->payload, f->len);
		fputs("bulkhead: ", stderr);
		cli_print_sanitized(stderr, msg ? msg : "error");
		fputc('\n', stderr);
		return CLI_EXIT_FAIL;
	}
	case CHAN_API_REPLY: {
		/* The daemon gave up on the command after accepting it. */
		struct json_tokener *tok = json_tokener_new();
		struct json_object *o = json_tokener_parse_ex(tok, (const char *)f->payload,
							      (int)f->len),
				   *m;
		json_tokener_free(tok);
		fputs("bulkhead: ", stderr);
		cli_print_sanitized(stderr, json_object_object_get_ex(o, "message", &m)
						? json_object_get_string(m)
						: "bulkheadd ended the command");
		fputc('\n', stderr);
		json_object_put(o);
		return CLI_EXIT_FAIL;
	}
	default:
		return -1;
	}
}

static int read_socket(struct run_state *s)
{
	uint8_t buf[65536];
	ssize_t n = read(s->sock, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return -1;
	if (n < 0 && errno != ECONNRESET)
		return fail("connection to bulkheadd: %s", strerror(errno));
	/* A reset is how a peer that did not read all we sent hangs up. */
	if (n <= 0)
		return fail("%s", "bulkheadd closed the connection before the command ended");
	size_t off = 0;
	while (off < (size_t)n && !s->exited) {
		struct chan_frame f;
		size_t used = 0;
		int r = chan_decoder_feed(&s->dec, buf + off, (size_t)n - off, &used, &f);
		off += used;
		if (r < 0)
			return fail("%s", "malformed frame from bulkheadd");
		if (r == 1) {
			int code = handle_frame(s, &f);
			if (code >= 0)
				return code;
		}
	}
	return -1;
}

static void read_stdin(struct run_state *s)
{
	uint8_t buf[CHAN_MAX_PAYLOAD];
	size_t want = s->in_credit < sizeof(buf) ? (size_t)s->in_credit : sizeof(buf);
	ssize_t n = read(STDIN_FILENO, buf, want);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* End of input (an unreadable stdin is treated as empty). */
		chan_outbuf_push(&s->sendq, CHAN_STDIN, 1, NULL, 0);
		s->stdin_open = false;
		return;
	}
	chan_outbuf_push(&s->sendq, CHAN_STDIN, 1, buf, (size_t)n);
	s->in_credit -= (uint64_t)n;
}

static void maybe_ack(struct run_state *s)
{
	bool idle = queue_pending(&s->out[0]) == 0 && queue_pending(&s->out[1]) == 0;
	if (s->unacked == 0 || (s->unacked < ACK_BATCH && !idle))
		return;
	uint32_t n = s->unacked > UINT32_MAX ? UINT32_MAX : (uint32_t)s->unacked;
	if (push_u32(s, CHAN_WINDOW, n) == 0) {
		s->unacked -= n;
		s->granted += n;
	}
}

static int on_signal(struct run_state *s, int sfd)
{
	struct signalfd_siginfo si;
	if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return -1;
	/* Passed on to the command; a third one means the user wants out regardless. Closing
	 * the connection makes bulkheadd kill the command. */
	if (++s->signals >= 3) {
		fprintf(stderr, "bulkhead: giving up on the command\n");
		return 128 + (int)si.ssi_signo;
	}
	push_u32(s, CHAN_SIGNAL, si.ssi_signo);
	return -1;
}

static int relay(struct run_state *s, int sfd)
{
	enum { P_SOCK, P_STDIN, P_STDOUT, P_STDERR, P_SIG, P_N };

	while (!s->exited) {
		struct pollfd p[P_N] = {
		    [P_SOCK] = {.fd = s->sock, .events = POLLIN},
		    [P_STDIN] = {.fd = -1},
		    [P_STDOUT] = {.fd = -1},
		    [P_STDERR] = {.fd = -1},
		    [P_SIG] = {.fd = sfd, .events = POLLIN},
		};
		if (chan_outbuf_pending(&s->sendq) > 0 && !s->send_failed)
			p[P_SOCK].events |= POLLOUT;
		if (s->stdin_open && s->in_credit > 0 &&
		    chan_outbuf_pending(&s->sendq) < SOCK_BACKLOG_MAX) {
			p[P_STDIN].fd = STDIN_FILENO;
			p[P_STDIN].events = POLLIN;
		}
		for (int i = 0; i < 2; i++)
			if (queue_pending(&s->out[i]) > 0) {
				p[P_STDOUT + i].fd = s->out[i].fd;
				p[P_STDOUT + i].events = POLLOUT;
			}

		if (poll(p, P_N, -1) < 0) {
			if (errno == EINTR)
				continue;
			return fail("poll: %s", strerror(errno));
		}
		int code;
		if (p[P_SIG].revents && (code = on_signal(s, sfd)) >= 0)
			return code;
		if (p[P_STDIN].revents)
			read_stdin(s);
		for (int i = 0; i < 2; i++) {
			if (p[P_STDOUT + i].revents & (POLLERR | POLLNVAL))
				reader_gone(s, &s->out[i]);
			else if (p[P_STDOUT + i].revents)
				write_queue(s, &s->out[i]);
		}
		if (p[P_SOCK].revents & (POLLIN | POLLHUP | POLLERR)) {
			if ((code = read_socket(s)) >= 0)
				return code;
		}
		if (s->exited)
			break;
		maybe_ack(s);
		if (!s->send_failed && chan_outbuf_pending(&s->sendq) > 0) {
			int r = chan_outbuf_flush(&s->sendq, s->sock);
			/* The daemon may have hung up with the EXIT still unread: read on, and
			 * let the end of the connection tell what happened. */
			if (r < 0 && r != -EAGAIN) {
				s->send_failed = true;
				s->stdin_open = false;
			}
		}
	}

	/* All output precedes EXIT: write what is left, then report the status. */
	for (int i = 0; i < 2; i++)
		if (!s->out[i].broken && queue_pending(&s->out[i]) > 0)
			(void)write_all(s->out[i].fd, s->out[i].buf + s->out[i].start,
					queue_pending(&s->out[i]));
	int status =
	    s->exit_kind == CHAN_EXIT_SIGNAL ? 128 + (s->exit_value & 0x7f) : s->exit_value & 0xff;
	if (!s->pass_io && status != 0) {
		if (s->exit_kind == CHAN_EXIT_SIGNAL)
			fprintf(stderr, "bulkhead: command killed by signal %d\n", s->exit_value);
		else
			fprintf(stderr, "bulkhead: command failed with status %d\n", status);
		return CLI_EXIT_FAIL;
	}
	return s->pass_io ? status : CLI_EXIT_OK;
}

int cmd_run(const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"pass-io", no_argument, NULL, 'p'},      {"user", required_argument, NULL, 'u'},
	    {"no-autostart", no_argument, NULL, 'n'}, {"dispvm", optional_argument, NULL, 'D'},
	    {"help", no_argument, NULL, 'h'},	      {0},
	};
	bool pass_io = false, autostart = true, dispvm = false;
	const char *dvm = "";
	const char *user = "";
	int c, r;

	/* '+': options come before the qube name; everything after it is the command's. */
	while ((c = getopt_long(argc, argv, "+pu:nh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			pass_io = true;
			break;
		case 'u':
			user = optarg;
			break;
		case 'n':
			autostart = false;
			break;
		case 'D':
			dispvm = true;
			dvm = optarg ? optarg : "";
			break;
		default:
			return cli_getopt_default(cmd, c);
		}
	}
	if (dispvm && !autostart)
		return cli_usage_error(cmd, "--dispvm starts a new qube: not with --no-autostart");
	if (!dispvm && optind >= argc)
		return cli_usage_error(cmd, "run needs a qube NAME and a COMMAND");
	/* With --dispvm the call's destination is Qubes' "@dispvm[:TEMPLATE]". */
	_cleanup_free_ char *target =
	    dispvm ? xasprintf("@dispvm%s%s", *dvm ? ":" : "", dvm) : NULL;
	const char *name = dispvm ? target : argv[optind++];
	if (optind < argc && streq(argv[optind], "--"))
		optind++;
	if (optind >= argc)
		return cli_usage_error(cmd,
				       "run needs a COMMAND after the qube name (NAME -- CMD)");

	struct json_object *p = json_object_new_object(), *args = json_object_new_array();
	for (int i = optind; i < argc; i++)
		json_object_array_add(args, json_object_new_string(argv[i]));
	json_object_object_add(p, "user", json_object_new_string(user));
	json_object_object_add(p, "argv", args);
	json_object_object_add(p, "autostart", json_object_new_boolean(autostart));

	_cleanup_close_ int fd = -1;
	if ((r = cli_connect(&fd))) {
		json_object_put(p);
		return r;
	}
	struct api_error err = {0};
	struct json_object *result = NULL;
	r = client_request(fd, "admin.vm.Run", name, "", p, &result, &err);
	json_object_put(p);
	struct json_object *made;
	if (r >= 0 && !pass_io && json_object_object_get_ex(result, "name", &made) &&
	    json_object_is_type(made, json_type_string)) {
		fputs("bulkhead: running in the disposable ", stderr);
		cli_print_sanitized(stderr, json_object_get_string(made));
		fputc('\n', stderr);
	}
	json_object_put(result);
	if (r < 0) {
		int code = cli_report(r, &err, NULL);
		api_error_done(&err);
		return code;
	}

	/* The command runs now: signals we get are the command's to receive. */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	_cleanup_close_ int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		return fail("signalfd: %s", strerror(errno));
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		return fail("fcntl: %s", strerror(errno));

	struct run_state *s = xcalloc(1, sizeof(*s));
	s->sock = fd;
	s->pass_io = pass_io;
	s->stdin_open = true;
	s->in_credit = CHAN_INITIAL_WINDOW;
	s->granted = CHAN_INITIAL_WINDOW;
	s->out[0].fd = STDOUT_FILENO;
	s->out[1].fd = STDERR_FILENO;
	chan_decoder_init(&s->dec, CHAN_MAX_PAYLOAD);
	chan_outbuf_init(&s->sendq, SOCK_BACKLOG_MAX + 64 * 1024);
	if (!pass_io) {
		/* Without -p the command's stdin is empty. */
		chan_outbuf_push(&s->sendq, CHAN_STDIN, 1, NULL, 0);
		s->stdin_open = false;
	}
	r = relay(s, sfd);
	chan_outbuf_finish(&s->sendq);
	free(s->out[0].buf);
	free(s->out[1].buf);
	free(s);
	return r;
}
