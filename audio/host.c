/* bulkhead-audio-host --qube NAME --label LABEL --uid UID: one qube's sound on the host. fd 3 is
 * the qube's audio port, fd 4 a connection to the user's PipeWire, fd 5 the control socket to
 * bulkheadd (audio-proto.h). Everything that opens files or loads code is done first; then we
 * confine ourselves and only then read the qube's first byte. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "audio-host.h"
#include "log.h"
#include "qube-name.h"
#include "sandbox.h"
#include "util.h"

/* What the qube does not read of MIC_DATA is dropped beyond this. */
#define PORT_OUT_LIMIT (64u * 1024u)

static const char *const labels[] = {"red",  "orange", "yellow", "green",
				     "gray", "blue",   "purple", "black"};

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void host_quit(struct audio_host *h, int code)
{
	if (h->exit_code < 0) {
		h->exit_code = code;
		pw_main_loop_quit(h->loop);
	}
}

void host_report(struct audio_host *h, const char *name, bool *reported, bool now)
{
	char line[AUDIO_CONTROL_LINE_MAX];

	if (*reported == now)
		return;
	*reported = now;
	int n = snprintf(line, sizeof(line), "%s %d\n", name, now ? 1 : 0);
	/* bulkheadd reads these promptly; a failed write only loses a status line. */
	if (write_all(h->control_fd, line, (size_t)n) < 0)
		log_warn("control socket: %s", strerror(errno));
}

static void port_flush(struct audio_host *h)
{
	int r = chan_outbuf_flush(&h->out, h->port_fd);
	if (r < 0 && r != -EPIPE && r != -ECONNRESET)
		log_warn("qube %s: writing the port: %s", h->qube, strerror(-r));
	pw_loop_update_io(pw_main_loop_get_loop(h->loop), h->port_src,
			  SPA_IO_IN | SPA_IO_HUP | SPA_IO_ERR | (r == 1 ? SPA_IO_OUT : 0));
}

void host_send(struct audio_host *h, uint16_t type, const void *p, size_t len)
{
	/* -ENOBUFS: a qube that does not read its microphone loses it, not our memory. */
	if (chan_outbuf_push(&h->out, type, 0, p, len) == 0)
		port_flush(h);
}

static void violation(struct audio_host *h, const char *what)
{
	log_error("qube %s: protocol violation (%s): its sound ends", h->qube, what);
	host_quit(h, AUDIO_EXIT_VIOLATION);
}

static void handle_frame(struct audio_host *h, const struct chan_frame *f)
{
	int ev = audio_rx_frame(&h->rx, f, now_us());
	int r;

	switch (ev) {
	case AUDIO_EV_START:
		r = host_play_start(h, &h->rx.format);
		if (r < 0) {
			log_error("qube %s: playback stream: %s", h->qube, strerror(-r));
			host_quit(h, AUDIO_EXIT_SERVER);
		}
		break;
	case AUDIO_EV_DATA:
		host_play_data(h, f->payload, f->len);
		break;
	case AUDIO_EV_STOP:
		host_play_stop(h);
		break;
	case AUDIO_EV_NONE:
		break;
	default:
		violation(h, "frame not allowed here");
	}
}

static void on_port(void *data, int fd, uint32_t mask)
{
	struct audio_host *h = data;
	uint8_t buf[16384];

	if (mask & SPA_IO_OUT)
		port_flush(h);
	if (!(mask & (SPA_IO_IN | SPA_IO_HUP | SPA_IO_ERR)))
		return;
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (n < 0)
			log_warn("qube %s: reading the port: %s", h->qube, strerror(errno));
		log_info("qube %s: port closed", h->qube);
		host_quit(h, AUDIO_EXIT_CLOSED);
		return;
	}
	size_t off = 0;
	while (off < (size_t)n && h->exit_code < 0) {
		struct chan_frame f;
		size_t used;
		int r = chan_decoder_feed(&h->dec, buf + off, (size_t)n - off, &used, &f);
		if (r < 0) {
			violation(h, r == -EMSGSIZE ? "oversized frame" : "bad frame header");
			return;
		}
		off += used;
		if (r == 1)
			handle_frame(h, &f);
	}
}

static void handle_control(struct audio_host *h, const char *line, size_t len)
{
	struct audio_control c;
	int r;

	if (audio_control_parse(line, len, &c) < 0) {
		log_warn("control: ignoring %s", LOG_ESC(line));
		return;
	}
	switch (c.kind) {
	case AUDIO_CTL_VOLUME:
		h->volume = c.volume;
		host_apply_volume(h);
		break;
	case AUDIO_CTL_MUTE:
		h->muted = c.on;
		host_apply_volume(h);
		break;
	case AUDIO_CTL_MIC:
		if (!c.on) {
			host_mic_stop(h);
			break;
		}
		r = host_mic_start(h);
		if (r < 0)
			log_error("qube %s: microphone stream: %s", h->qube, strerror(-r));
		break;
	}
}

static void on_control(void *data, int fd, uint32_t mask)
{
	struct audio_host *h = data;
	char buf[256];

	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* bulkheadd went away: nobody can grant or take back anything now. */
		log_info("qube %s: control socket closed", h->qube);
		host_quit(h, AUDIO_EXIT_CLOSED);
		return;
	}
	const char *p = buf, *line;
	size_t len = (size_t)n, line_len;
	int r;
	while ((r = audio_line_take(&h->control_line, &p, &len, &line, &line_len)) == 1)
		handle_control(h, line, line_len);
	if (r < 0) {
		log_error("control: line too long");
		h->control_line.have = 0;
	}
}

static void on_core_error(void *data, uint32_t id, int seq, int res, const char *message)
{
	struct audio_host *h = data;
	if (id == PW_ID_CORE) {
		log_error("qube %s: sound server: %s (%s)", h->qube, message ? message : "error",
			  strerror(-res));
		host_quit(h, AUDIO_EXIT_SERVER);
	}
}

static const struct pw_core_events core_events = {
    PW_VERSION_CORE_EVENTS,
    .error = on_core_error,
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bulkhead-audio-host --qube NAME --label LABEL [--uid UID]\n"
		"  fd 3: the qube's audio port; fd 4: a connection to PipeWire; fd 5: control\n");
}

static int check_fds(void)
{
	for (int fd = AUDIO_HOST_FD_PORT; fd <= AUDIO_HOST_FD_CONTROL; fd++) {
		int type;
		socklen_t len = sizeof(type);
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ||
		    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
			log_error("fd %d must be a socket (%s)", fd, strerror(errno));
			return -EBADF;
		}
	}
	if (fcntl(AUDIO_HOST_FD_PORT, F_SETFL, O_NONBLOCK) < 0 ||
	    fcntl(AUDIO_HOST_FD_CONTROL, F_SETFL, O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/* PipeWire's set-up: every file, socket and library it needs is opened here. */
static int host_setup(struct audio_host *h)
{
	pw_init(NULL, NULL);
	h->loop = pw_main_loop_new(NULL);
	if (!h->loop)
		return -errno;
	struct pw_loop *l = pw_main_loop_get_loop(h->loop);
	h->context =
	    pw_context_new(l,
			   pw_properties_new(PW_KEY_APP_NAME, h->qube, "bulkhead.qube", h->qube,
					     /* no mlock in the sandbox (RLIMIT_MEMLOCK is 0) */
					     "mem.allow-mlock", "false", NULL),
			   0);
	if (!h->context)
		return -errno;
	h->core = pw_context_connect_fd(h->context, AUDIO_HOST_FD_SERVER, NULL, 0);
	if (!h->core)
		return -errno;
	pw_core_add_listener(h->core, &h->core_listener, &core_events, h);
	int r = host_streams_preload(h);
	if (r < 0)
		return r;
	h->port_src = pw_loop_add_io(l, AUDIO_HOST_FD_PORT, SPA_IO_IN | SPA_IO_HUP | SPA_IO_ERR,
				     false, on_port, h);
	h->control_src =
	    pw_loop_add_io(l, AUDIO_HOST_FD_CONTROL, SPA_IO_IN | SPA_IO_HUP, false, on_control, h);
	if (!h->port_src || !h->control_src)
		return -errno;
	return 0;
}

static void host_finish(struct audio_host *h)
{
	host_mic_stop(h);
	host_play_stop(h);
	chan_outbuf_finish(&h->out);
	if (h->core)
		pw_core_disconnect(h->core);
	if (h->context)
		pw_context_destroy(h->context);
	if (h->loop)
		pw_main_loop_destroy(h->loop);
}

/* What PipeWire's loop and streams call beyond the common list, found by running under the
 * filter: the loop's epoll and its event and timer descriptors (new streams add sources), the
 * memory the server shares with us (mmap of its memfds is in the common list). */
static const int extra_syscalls[] = {
    SCMP_SYS(epoll_wait),
    SCMP_SYS(epoll_pwait),
    SCMP_SYS(epoll_ctl),
    SCMP_SYS(eventfd2),
    SCMP_SYS(timerfd_create),
    SCMP_SYS(timerfd_settime),
    SCMP_SYS(timerfd_gettime),
    SCMP_SYS(sendto),
    SCMP_SYS(recvfrom),
    SCMP_SYS(mprotect),
    SCMP_SYS(clock_nanosleep),
    SCMP_SYS(sched_yield),
    SCMP_SYS(getsockopt),
    SCMP_SYS(getuid),
    SCMP_SYS(geteuid),
    SCMP_SYS(dup),
    SCMP_SYS(dup3),
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"qube", required_argument, NULL, 'q'}, {"label", required_argument, NULL, 'l'},
	    {"uid", required_argument, NULL, 'u'},  {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},	    {},
	};
	static struct audio_host host; /* the ring is large for a stack */
	struct audio_host *h = &host;
	uid_t uid = SANDBOX_NOBODY_UID;
	int c, r;

	log_set_ident("bulkhead-audio-host");
	while ((c = getopt_long(argc, argv, "q:l:u:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'q':
			h->qube = optarg;
			break;
		case 'l':
			h->label = optarg;
			break;
		case 'u':
			if (sandbox_uid_option(optarg, &uid) < 0) {
				return 2;
			}
			break;
		case 'v':
			log_set_level(LOG_LVL_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!h->qube || !h->label || optind != argc) {
		usage(stderr);
		return 2;
	}
	const char *reason;
	if (qube_name_check(h->qube, &reason) < 0) {
		log_error("--qube %s: %s", h->qube, reason);
		return 2;
	}
	bool label_ok = false;
	for (size_t i = 0; i < ARRAY_SIZE(labels); i++)
		label_ok |= strcmp(h->label, labels[i]) == 0;
	if (!label_ok) {
		log_error("--label %s: not one of the eight labels", h->label);
		return 2;
	}
	if (check_fds() < 0)
		return 2;

	h->port_fd = AUDIO_HOST_FD_PORT;
	h->control_fd = AUDIO_HOST_FD_CONTROL;
	h->exit_code = -1;
	h->volume = 1.0f;
	chan_decoder_init(&h->dec, AUDIO_MAX_PAYLOAD);
	chan_outbuf_init(&h->out, PORT_OUT_LIMIT);
	audio_rx_init(&h->rx);

	r = host_setup(h);
	if (r < 0) {
		log_error("qube %s: connecting to the sound server: %s", h->qube, strerror(-r));
		host_finish(h);
		return AUDIO_EXIT_SERVER;
	}
	struct sandbox_config sb = {.keep_max = 1023, /* PipeWire's own descriptors stay */
				    .uid = uid,
				    .fsize = 16u << 20, /* memfds PipeWire may size */
				    .extra_syscalls = extra_syscalls,
				    .n_extra = ARRAY_SIZE(extra_syscalls)};
	r = sandbox_enter(&sb);
	if (r < 0) {
		log_error("entering the sandbox: %s", strerror(-r));
		host_finish(h);
		return 1;
	}
	log_info("qube %s: audio host half started", h->qube);
	uint8_t hello[4];
	audio_hello_encode(hello);
	host_send(h, AUDIO_HELLO, hello, sizeof(hello));

	pw_main_loop_run(h->loop);
	if (h->fill_samples)
		log_info("qube %s: %.1f ms buffered on average, %llu underruns, %llu bytes dropped",
			 h->qube, (double)h->fill_sum_us / (double)h->fill_samples / 1000.0,
			 (unsigned long long)h->underruns, (unsigned long long)h->dropped_bytes);
	/* No tear-down here: the process ends, which frees everything, and PipeWire's own
	 * tear-down (unloading plugins our preloaded handles hold) crashed in 0.3.65; the exit code
	 * is what bulkheadd acts on, so it must not be lost to a crash on the way out. */
	return h->exit_code < 0 ? AUDIO_EXIT_CLOSED : h->exit_code;
}
