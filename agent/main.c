/* bulkhead-agent: the qube's end of the control channel. One thread, one poll() loop. */
#include "agent.h"

#include <ctype.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* sig_fd, the port, four pipes per stream, the rpc listener and clients, the helper programs */
#define MAX_POLL (2 + 4 * CHAN_MAX_STREAMS + 1 + AGENT_RPC_CLIENTS + AGENT_PORT_CHILDREN)

void agent_send(struct agent *a, uint16_t type, uint32_t stream, const void *payload, size_t len)
{
	int r = chan_outbuf_push(&a->out, type, stream, payload, len);
	if (r < 0 && !a->reset_pending) {
		log_warn("host is not reading the channel (%s); dropping all commands",
			 strerror(-r));
		a->reset_pending = true;
	}
}

static void send_hello(struct agent *a)
{
	uint8_t buf[4 + 64];
	size_t len;

	if (chan_hello_encode(BULKHEAD_VERSION, buf, sizeof(buf), &len) == 0)
		agent_send(a, CHAN_HELLO, 0, buf, len);
}

/* Forget everything the host asked for: commands, half-read frames. */
static void reset_state(struct agent *a, bool drop_output)
{
	stream_drop_all(a);
	chan_decoder_init(a->dec, CHAN_MAX_PAYLOAD);
	a->reset_pending = false;
	if (drop_output) {
		chan_outbuf_finish(&a->out);
		chan_outbuf_init(&a->out, AGENT_OUTBUF_LIMIT);
	}
}

static void protocol_error(struct agent *a, const char *what)
{
	log_warn("protocol error from host: %s; resetting", what);
	reset_state(a, false);
	agent_send(a, CHAN_ERROR, 0, what, strlen(what));
}

static int on_hello(struct agent *a, const struct chan_frame *f)
{
	struct chan_hello h;

	if (chan_hello_parse(f->payload, f->len, &h) < 0)
		return -EBADMSG;
	if (h.version != CHAN_PROTOCOL_VERSION) {
		protocol_error(a, "unsupported protocol version");
		return 0;
	}
	send_hello(a);
	return 0;
}

static int on_exec(struct agent *a, const struct chan_frame *f)
{
	_cleanup_free_ char *storage = NULL;
	_cleanup_free_ char **argv = NULL;
	const char *user;
	size_t argc;

	if (stream_find(a, f->stream))
		return -EEXIST;
	if (chan_exec_parse(f->payload, f->len, &storage, &user, &argv, &argc) < 0)
		return -EBADMSG;
	stream_exec(a, f->stream, user, argv);
	return 0;
}

/* Service names reach a path: letters, digits and "_.-" only (the host checked them too). */
static bool service_name_ok(const char *s, bool allow_empty)
{
	size_t n = strlen(s);
	if ((!allow_empty && n == 0) || n > 64 || streq(s, ".") || streq(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || strchr("_.-", s[i])))
			return false;
	return true;
}

static int on_service(struct agent *a, const struct chan_frame *f)
{
	char storage[4 * (CHAN_STRING_MAX + 1)];
	const char *str[4]; /* user, service, argument, source */
	struct stat st;
	char path[512], header[600], env_remote[300], env_arg[300];

	if (stream_find(a, f->stream))
		return -EEXIST;
	if (f->len > sizeof(storage) || chan_strings_parse(f->payload, f->len, 4, storage, str) < 0)
		return -EBADMSG;
	if (!service_name_ok(str[1], false) || !service_name_ok(str[2], true) ||
	    !service_name_ok(str[3], false)) {
		stream_fail(a, f->stream, 126, "bulkhead-agent: invalid service name\n");
		return 0;
	}
	/* NAME+ARG first, then NAME, as Qubes looks them up. */
	snprintf(path, sizeof(path), "%s/%s+%s", a->rpc_dir, str[1], str[2]);
	if (!*str[2] || lstat(path, &st) < 0) {
		snprintf(path, sizeof(path), "%s/%s", a->rpc_dir, str[1]);
		if (stat(path, &st) < 0) {
			char msg[200];
			snprintf(msg, sizeof(msg), "bulkhead-agent: no service %.64s here\n",
				 str[1]);
			stream_fail(a, f->stream, 127, msg);
			return 0;
		}
	} else if (stat(path, &st) < 0) {
		stream_fail(a, f->stream, 127, "bulkhead-agent: broken service link\n");
		return 0;
	}
	snprintf(env_remote, sizeof(env_remote), "BULKHEAD_REMOTE_DOMAIN=%s", str[3]);
	snprintf(env_arg, sizeof(env_arg), "BULKHEAD_SERVICE_ARGUMENT=%s", str[2]);
	char *env[] = {env_remote, env_arg, NULL};
	char *argv[] = {path, NULL};
	struct exec_opts opts = {.env = env};
	if (S_ISSOCK(st.st_mode)) {
		snprintf(header, sizeof(header), "%s%s%s %s", str[1], *str[2] ? "+" : "", str[2],
			 str[3]);
		opts.socket_path = path;
		opts.socket_header = header;
	}
	stream_exec_opts(a, f->stream, str[0], argv, &opts);
	return 0;
}

static int on_stdin(struct agent *a, const struct chan_frame *f)
{
	struct stream *s = stream_find(a, f->stream);

	/* Frames for a stream that just ended race with its EXIT; they are not errors. */
	if (!s)
		return 0;
	return stream_stdin(a, s, f->payload, f->len);
}

static int on_window(struct agent *a, const struct chan_frame *f)
{
	uint32_t n;

	if (chan_u32_parse(f->payload, f->len, &n) < 0)
		return -EBADMSG;
	struct stream *s = stream_find(a, f->stream);
	if (s)
		stream_window(s, n);
	return 0;
}

static int on_signal(struct agent *a, const struct chan_frame *f)
{
	uint32_t sig;

	if (chan_u32_parse(f->payload, f->len, &sig) < 0)
		return -EBADMSG;
	if (sig < 1 || sig > 64) {
		static const char msg[] = "bad signal number";
		agent_send(a, CHAN_ERROR, f->stream, msg, sizeof(msg) - 1);
		return 0;
	}
	struct stream *s = stream_find(a, f->stream);
	if (s)
		stream_signal(s, (int)sig);
	return 0;
}

static int on_shutdown(struct agent *a, const struct chan_frame *f)
{
	if (f->len != 0)
		return -EBADMSG;
	if (a->pid1) {
		chan_outbuf_flush(&a->out, a->port_fd);
		agent_poweroff();
	}
	/* Not the init of a qube (tests, debugging): just leave. */
	stream_drop_all(a);
	exit(EXIT_SUCCESS);
}

static int on_error(struct agent *a, const struct chan_frame *f)
{
	log_warn("host reports an error on stream %u: %.*s", f->stream, (int)f->len,
		 (const char *)f->payload);
	if (f->stream == 0) {
		/* The host closes the channel after this; start over. */
		reset_state(a, false);
		return 0;
	}
	struct stream *s = stream_find(a, f->stream);
	if (s)
		stream_signal(s, SIGKILL);
	return 0;
}

static int on_echo(struct agent *a, const struct chan_frame *f)
{
	agent_send(a, CHAN_ECHO_REPLY, f->stream, f->payload, f->len);
	return 0;
}

enum stream_rule { ON_STREAM_ZERO, ON_STREAM_NONZERO, ON_ANY_STREAM };

/* The frames the host may send us; everything else is a protocol violation. */
static const struct {
	uint16_t type;
	enum stream_rule rule;
	int (*handle)(struct agent *a, const struct chan_frame *f);
} handlers[] = {
    {CHAN_SERVICE, ON_STREAM_NONZERO, on_service}, {CHAN_HELLO, ON_STREAM_ZERO, on_hello},
    {CHAN_EXEC, ON_STREAM_NONZERO, on_exec},	   {CHAN_STDIN, ON_STREAM_NONZERO, on_stdin},
    {CHAN_WINDOW, ON_STREAM_NONZERO, on_window},   {CHAN_SIGNAL, ON_STREAM_NONZERO, on_signal},
    {CHAN_SHUTDOWN, ON_STREAM_ZERO, on_shutdown},  {CHAN_ERROR, ON_ANY_STREAM, on_error},
    {CHAN_ECHO, ON_ANY_STREAM, on_echo},
};

static void dispatch(struct agent *a, const struct chan_frame *f)
{
	char what[96];

	/* Streams we opened are RPC calls made from inside the qube. */
	if (f->stream & CHAN_STREAM_QUBE) {
		rpc_local_from_host(a, f);
		return;
	}

	for (size_t i = 0; i < ARRAY_SIZE(handlers); i++) {
		if (handlers[i].type != f->type)
			continue;
		if ((handlers[i].rule == ON_STREAM_ZERO && f->stream != 0) ||
		    (handlers[i].rule == ON_STREAM_NONZERO && f->stream == 0)) {
			snprintf(what, sizeof(what), "%s on wrong stream %u",
				 chan_type_name(f->type), f->stream);
			protocol_error(a, what);
			return;
		}
		int r = handlers[i].handle(a, f);
		if (r < 0) {
			snprintf(what, sizeof(what), "bad %s frame on stream %u: %s",
				 chan_type_name(f->type), f->stream, strerror(-r));
			protocol_error(a, what);
		}
		return;
	}
	snprintf(what, sizeof(what), "unexpected frame type %u", f->type);
	protocol_error(a, what);
}

static void on_connected(struct agent *a)
{
	log_info("host connected");
	a->connected = true;
	a->desynced = false;
	reset_state(a, true);
	send_hello(a);
	meminfo_reset();
	if (a->pid1)
		rpc_local_get_date(a);
}

static void on_disconnected(struct agent *a)
{
	a->connected = false;
	rpc_local_host_gone(a);
	reset_state(a, true);
	if (a->mode == PORT_FD) {
		if (!a->pid1)
			exit(EXIT_SUCCESS);
		/* PID 1 must not exit; fall back to finding the real port. */
		closep(&a->port_fd), a->port_fd = -1;
		a->mode = PORT_SCAN;
	}
	/* A vsock connection is over when the host leaves; the next one is accepted anew. */
	if (a->mode == PORT_VSOCK)
		closep(&a->port_fd), a->port_fd = -1;
	log_info("host disconnected; waiting for it");
}

/* Called every AGENT_RETRY_MS while the host is away. */
static void try_connect(struct agent *a)
{
	int r;

	if (a->mode == PORT_VSOCK) {
		if (a->listen_fd < 0) {
			r = vsock_listen(a->vsock_port);
			if (r < 0) {
				if (!a->port_missing_logged)
					log_warn("cannot listen on vsock port %u: %s; retrying",
						 a->vsock_port, strerror(-r));
				a->port_missing_logged = true;
				return;
			}
			a->listen_fd = r;
			a->port_missing_logged = false;
		}
		r = vsock_accept(a->listen_fd);
		if (r >= 0) {
			a->port_fd = r;
			on_connected(a);
		}
		return;
	}
	if (a->port_fd < 0) {
		_cleanup_free_ char *found = NULL;
		const char *path = a->device;
		if (!path) {
			r = port_find("/sys/class/virtio-ports", AGENT_PORT_NAME, &found);
			if (r < 0) {
				if (!a->port_missing_logged)
					log_warn("no virtio port named %s yet; retrying",
						 AGENT_PORT_NAME);
				a->port_missing_logged = true;
				return;
			}
			path = found;
		}
		r = port_open(path);
		if (r < 0) {
			if (!a->port_missing_logged)
				log_warn("cannot open %s: %s; retrying", path, strerror(-r));
			a->port_missing_logged = true;
			return;
		}
		a->port_fd = r;
		a->port_missing_logged = false;
	}
	r = port_connected(a->port_fd);
	if (r < 0) {
		closep(&a->port_fd), a->port_fd = -1;
		return;
	}
	if (r > 0)
		on_connected(a);
}

static void read_port(struct agent *a)
{
	static uint8_t buf[CHAN_MAX_PAYLOAD];

	ssize_t n = read(a->port_fd, buf, sizeof(buf));
	if (n < 0) {
		int err = errno;
		if (err == EAGAIN || err == EINTR)
			return;
		log_warn("reading the port: %s", strerror(err));
		on_disconnected(a);
		if (a->mode != PORT_FD && err != EPIPE && err != ECONNRESET)
			closep(&a->port_fd), a->port_fd = -1; /* reopen it */
		return;
	}
	if (n == 0) {
		on_disconnected(a);
		return;
	}
	if (a->desynced)
		return;

	size_t off = 0;
	while (off < (size_t)n && a->connected && !a->desynced) {
		struct chan_frame f;
		size_t used;
		int r = chan_decoder_feed(a->dec, buf + off, (size_t)n - off, &used, &f);
		off += used;
		if (r < 0) {
			protocol_error(a, r == -EMSGSIZE ? "frame too large" : "bad frame header");
			/* Frame boundaries are lost: ignore the rest until the host reconnects. */
			a->desynced = true;
			return;
		}
		if (r > 0)
			dispatch(a, &f);
		if (a->reset_pending)
			return;
	}
}

static void flush_port(struct agent *a)
{
	int r = chan_outbuf_flush(&a->out, a->port_fd);
	if (r < 0 && r != -EAGAIN) {
		log_warn("writing the port: %s", strerror(-r));
		on_disconnected(a);
	}
}

static void run(struct agent *a)
{
	struct pollfd pfd[MAX_POLL];
	struct poll_tag tags[MAX_POLL];

	if (a->mode == PORT_FD)
		on_connected(a);

	for (;;) {
		size_t n = 0;

		if (!a->connected)
			try_connect(a);

		pfd[n++] = (struct pollfd){.fd = a->sig_fd, .events = POLLIN};
		size_t port_idx = SIZE_MAX;
		if (a->connected) {
			short ev = 0;
			if (chan_outbuf_pending(&a->out) <= AGENT_OUTBUF_IN_HIGH)
				ev |= POLLIN;
			if (chan_outbuf_pending(&a->out) > 0)
				ev |= POLLOUT;
			port_idx = n;
			pfd[n++] = (struct pollfd){.fd = a->port_fd, .events = ev};
		}
		size_t streams_from = n;
		stream_poll_fill(a, pfd, tags, &n);
		size_t streams_end = n, rpc_from = SIZE_MAX;
		if (a->rpc_listen_fd >= 0)
			rpc_local_poll_fill(a, pfd, &n, &rpc_from);
		size_t child_idx[AGENT_PORT_CHILDREN];
		for (size_t i = 0; i < a->n_children; i++) {
			child_idx[i] = SIZE_MAX;
			if (port_child_poll_fd(a->children[i]) >= 0) {
				child_idx[i] = n;
				pfd[n++] = (struct pollfd){.fd = port_child_poll_fd(a->children[i]),
							   .events = POLLIN};
			}
		}

		int timeout = a->connected ? -1 : AGENT_RETRY_MS;
		for (size_t i = 0; i < a->n_children; i++) {
			int t = port_child_timeout_ms(a->children[i]);
			if (t >= 0 && (timeout < 0 || t < timeout))
				timeout = t;
		}
		int mem_timeout = meminfo_timeout_ms(a);
		if (mem_timeout >= 0 && (timeout < 0 || mem_timeout < timeout))
			timeout = mem_timeout;
		if (poll(pfd, n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			log_error("poll: %m");
			continue;
		}

		for (size_t i = 0; i < a->n_children; i++)
			if (child_idx[i] != SIZE_MAX && pfd[child_idx[i]].revents)
				port_child_exited(a->children[i]);
		if (pfd[0].revents) {
			struct signalfd_siginfo si;
			while (read(a->sig_fd, &si, sizeof(si)) > 0)
				;
			/* The helper programs first: stream_reap takes any child. */
			for (size_t i = 0; i < a->n_children; i++)
				port_child_exited(a->children[i]);
			stream_reap(a);
		}
		for (size_t i = 0; i < a->n_children; i++)
			port_child_tick(a->children[i]);
		meminfo_tick(a);
		if (port_idx != SIZE_MAX && pfd[port_idx].revents) {
			short rev = pfd[port_idx].revents;
			if (rev & POLLOUT)
				flush_port(a);
			if (a->connected && (rev & (POLLIN | POLLHUP | POLLERR)))
				read_port(a);
		}
		if (a->connected)
			for (size_t i = streams_from; i < streams_end; i++)
				stream_poll_handle(a, &pfd[i], &tags[i]);
		if (rpc_from != SIZE_MAX)
			rpc_local_poll_handle(a, &pfd[rpc_from]);

		stream_finish_done(a);
		if (a->reset_pending) {
			/* The host stopped reading: drop everything like on a disconnect, and
			 * ignore it until it reconnects. What is queued stays, so no frame is cut.
			 */
			stream_drop_all(a);
			a->desynced = true;
			a->reset_pending = false;
		}
		if (a->connected && chan_outbuf_pending(&a->out) > 0)
			flush_port(a);
	}
}

static int setup_signals(struct agent *a)
{
	sigset_t mask;

	/* A command closing its stdin must give EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	if (a->pid1) {
		/* The kernel's ctrl-alt-del and stray TERMs must not take down the qube's init. */
		sigaddset(&mask, SIGTERM);
		sigaddset(&mask, SIGINT);
		sigaddset(&mask, SIGHUP);
	}
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	a->sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	return a->sig_fd < 0 ? -errno : 0;
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: bulkhead-agent [--device PATH | --fd N | --vsock PORT]\n"
	    "Runs commands for bulkheadd over the qube's control port.\n"
	    "  --device PATH  use this port instead of finding " AGENT_PORT_NAME "\n"
	    "  --fd N         use inherited fd N (tests); exit when it closes\n"
	    "  --rpc-socket PATH  where programs in the qube make calls (default " AGENT_RPC_SOCKET
	    ")\n"
	    "  --rpc-dir DIR  services offered to other qubes (default " AGENT_RPC_DIR ")\n"
	    "  --vsock PORT   accept the host on this vsock port (also chosen by\n"
	    "                 bulkhead.channel=vsock on the kernel command line)\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"device", required_argument, NULL, 'd'},  {"fd", required_argument, NULL, 'f'},
	    {"vsock", required_argument, NULL, 'v'},   {"rpc-socket", required_argument, NULL, 'r'},
	    {"rpc-dir", required_argument, NULL, 'R'}, {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},       {},
	};
	static struct chan_decoder dec;
	struct agent a = {
	    .mode = PORT_SCAN,
	    .port_fd = -1,
	    .listen_fd = -1,
	    .rpc_listen_fd = -1,
	    .rpc_dir = AGENT_RPC_DIR,
	    .sig_fd = -1,
	    .dec = &dec,
	    .pid1 = getpid() == 1,
	    .passwd_path = "/etc/passwd",
	    .group_path = "/etc/group",
	};
	int c;

	log_set_ident("bulkhead-agent");
	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		switch (c) {
		case 'd':
			a.mode = PORT_DEVICE;
			a.device = optarg;
			break;
		case 'f': {
			char *end;
			errno = 0;
			long fd = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || fd < 0 || fd > 65535) {
				log_error("--fd: not a file descriptor: %s", optarg);
				return EXIT_FAILURE;
			}
			a.mode = PORT_FD;
			a.port_fd = (int)fd;
			break;
		}
		case 'v': {
			char *end;
			errno = 0;
			unsigned long port = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || port == 0 || port > UINT32_MAX - 1) {
				log_error("--vsock: not a port number: %s", optarg);
				return EXIT_FAILURE;
			}
			a.mode = PORT_VSOCK;
			a.vsock_port = (unsigned)port;
			break;
		}
		case 'r':
			a.rpc_socket = optarg;
			break;
		case 'R':
			a.rpc_dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case 'V':
			printf("bulkhead-agent %s\n", BULKHEAD_VERSION);
			return EXIT_SUCCESS;
		default:
			if (a.pid1)
				break; /* never die as init over a stray kernel argument */
			usage(stderr);
			return EXIT_FAILURE;
		}
	}

	if (a.mode == PORT_SCAN && vsock_requested("/proc/cmdline")) {
		a.mode = PORT_VSOCK;
		a.vsock_port = AGENT_VSOCK_PORT;
	}
	if (a.mode == PORT_FD) {
		int fl = fcntl(a.port_fd, F_GETFL);
		if (fl < 0 || fcntl(a.port_fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
		    fcntl(a.port_fd, F_SETFD, FD_CLOEXEC) < 0) {
			log_error("--fd %d: %m", a.port_fd);
			return EXIT_FAILURE;
		}
	}

	/* In a qube the local call socket is on by default; tests driving us over --fd opt in. */
	if (!a.rpc_socket && a.mode != PORT_FD)
		a.rpc_socket = AGENT_RPC_SOCKET;
	int rr = rpc_local_listen(&a);
	if (rr < 0)
		log_warn("cannot listen for local calls on %s: %s", a.rpc_socket, strerror(-rr));

	int r = setup_signals(&a);
	if (r < 0) {
		log_error("cannot set up signal handling: %s", strerror(-r));
		if (!a.pid1)
			return EXIT_FAILURE;
	}
	chan_decoder_init(a.dec, CHAN_MAX_PAYLOAD);
	chan_outbuf_init(&a.out, AGENT_OUTBUF_LIMIT);
	if (a.pid1) {
		a.children[a.n_children++] = gui_start();
		a.children[a.n_children++] = audio_start(&a);
	}
	run(&a);
	return EXIT_SUCCESS;
}
