/* bulkhead-audio-guest: a qube's sound, in the qube, as its user. fd 3 is the audio port; it
 * stays open while the host's end comes and goes (POLLHUP while nobody is there), so we wait and
 * say HELLO again. Apps in the qube play to a PulseAudio null sink "bulkhead" whose monitor we
 * record and send; the host's microphone is played into a null sink "bulkhead-mic" whose monitor
 * is the default source. Without a sound server we start pulseaudio ourselves and keep it for
 * the qube's whole session, so apps keep playing while the host's sound server restarts. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pulse/pulseaudio.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "audio-check.h"
#include "util.h"

#define PORT_FD	      3
#define RETRY_USEC    (500 * PA_USEC_PER_MSEC)
#define FRAGMENT_USEC (10 * PA_USEC_PER_MSEC)
/* After this much silence the host's stream is closed (PLAY_STOP) until sound comes again. */
#define IDLE_USEC (2 * PA_USEC_PER_SEC)
/* Our server then suspends the idle sink, after the stream is closed (later than IDLE_USEC):
 * a suspended sink sends its monitor nothing, and an idle qube spends no time on sound. Our
 * recording does not keep it awake (PA_STREAM_DONT_INHIBIT_AUTO_SUSPEND). */
#define IDLE_SUSPEND_S "4"
/* Sound the host has not taken yet beyond this is dropped: late sound is worse than none. The
 * host's queue holds more (PLAY_MAX_MS); a backlog here would only add to it. */
#define PORT_BACKLOG_USEC (40 * PA_USEC_PER_MSEC)
/* The outbuf's hard cap: above the backlog, so that control frames always fit. */
#define PORT_OUT_LIMIT (64u * 1024u)
/* What the qube's server keeps for us while we are descheduled: older sound is dropped there. */
#define REC_MAX_USEC	  (100 * PA_USEC_PER_MSEC)
#define PLAY_SINK	  "bulkhead"
#define MIC_SINK	  "bulkhead-mic"
#define SERVER_WAIT_TRIES 40 /* x RETRY_USEC for a pulseaudio we started */
/* Microphone sound the qube's server has not asked for yet waits here, at most this long; older
 * sound is dropped. The server's own queue (tlength) comes on top. */
#define MIC_WAIT_MS  20u
#define MIC_WAIT_MAX (48000u * 2u * 2u * MIC_WAIT_MS / 1000u) /* the largest allowed format */
/* The qube's server's queue for the microphone: twice our fragment, so that one late fragment
 * from the host does not starve it. */
#define MIC_TLENGTH_USEC (2 * FRAGMENT_USEC)

static const struct audio_format play_format = {AUDIO_FORMAT_S16LE, 48000, 2};
static const pa_sample_spec play_spec = {PA_SAMPLE_S16LE, 48000, 2};

struct guest {
	pa_mainloop *ml;
	pa_mainloop_api *api;
	pa_context *ctx;
	pid_t server_pid;
	int server_tries;
	pa_time_event *server_retry;

	pa_io_event *port_ev;
	pa_time_event *port_retry;
	bool port_up;
	struct chan_decoder dec;
	struct chan_outbuf out;
	struct audio_tx_check chk;

	bool sinks_ready; /* our two null sinks exist on the current server */
	pa_stream *rec;
	bool playing;
	pa_usec_t silent_usec;
	size_t dropped; /* bytes of sound the host did not take in time, this playback */

	pa_stream *mic;
	struct audio_format mic_format;
	uint8_t mic_wait[MIC_WAIT_MAX]; /* a ring */
	size_t mic_wait_start, mic_wait_len;
};

static void server_connect(struct guest *g);
static void port_wait(struct guest *g);

static void timer_in(struct guest *g, pa_time_event **ev, pa_usec_t usec, pa_time_event_cb_t cb)
{
	struct timeval tv;
	pa_timeval_add(pa_gettimeofday(&tv), usec);
	if (*ev)
		g->api->time_restart(*ev, &tv);
	else
		*ev = g->api->time_new(g->api, &tv, cb, g);
}

/* ---- the port ---- */

static void port_events(struct guest *g)
{
	pa_io_event_flags_t f = PA_IO_EVENT_INPUT | PA_IO_EVENT_HANGUP | PA_IO_EVENT_ERROR;
	if (chan_outbuf_pending(&g->out) > 0)
		f |= PA_IO_EVENT_OUTPUT;
	g->api->io_enable(g->port_ev, f);
}

/* false when the frame was not queued (no host, or the host is too far behind). */
static bool port_send(struct guest *g, uint16_t type, const void *p, size_t len)
{
	if (!g->port_up || chan_outbuf_push(&g->out, type, 0, p, len) < 0)
		return false;
	if (chan_outbuf_flush(&g->out, PORT_FD) >= 0)
		port_events(g);
	return true;
}

static void mic_stop(struct guest *g)
{
	g->mic_wait_start = g->mic_wait_len = 0;
	if (!g->mic)
		return;
	pa_stream_disconnect(g->mic);
	pa_stream_unref(g->mic);
	g->mic = NULL;
}

static void port_down(struct guest *g)
{
	if (g->port_ev) {
		g->api->io_free(g->port_ev);
		g->port_ev = NULL;
	}
	g->port_up = false;
	g->playing = false;
	mic_stop(g);
	chan_outbuf_finish(&g->out);
	log_info("the host's end of the audio port is gone; waiting for it");
	port_wait(g);
}

static void on_mic_writable(pa_stream *s, size_t nbytes, void *userdata);

static void mic_start(struct guest *g)
{
	pa_sample_spec ss = {PA_SAMPLE_S16LE, g->chk.mic_format.rate,
			     (uint8_t)g->chk.mic_format.channels};
	pa_buffer_attr attr = {.maxlength = (uint32_t)-1,
			       .tlength = (uint32_t)pa_usec_to_bytes(MIC_TLENGTH_USEC, &ss),
			       .prebuf = (uint32_t)-1,
			       .minreq = (uint32_t)-1,
			       .fragsize = (uint32_t)-1};

	mic_stop(g);
	/* Granted before our sinks exist (the host is often quicker than the qube's sound server):
	 * sinks_done() starts it then. */
	if (!g->ctx || pa_context_get_state(g->ctx) != PA_CONTEXT_READY || !g->sinks_ready)
		return;
	g->mic = pa_stream_new(g->ctx, "Host microphone", &ss, NULL);
	if (!g->mic)
		return;
	g->mic_format = g->chk.mic_format;
	pa_stream_set_write_callback(g->mic, on_mic_writable, g);
	if (pa_stream_connect_playback(g->mic, MIC_SINK, &attr,
				       PA_STREAM_ADJUST_LATENCY | PA_STREAM_DONT_MOVE, NULL,
				       NULL) < 0) {
		log_warn("microphone stream: %s", pa_strerror(pa_context_errno(g->ctx)));
		mic_stop(g);
	}
}

/* Writes what waits, as far as the server asks for it: writing more than it asks would queue
 * there without bound (libpulse accepts it), and the microphone would lag further behind. */
static void mic_flush(struct guest *g)
{
	if (!g->mic || pa_stream_get_state(g->mic) != PA_STREAM_READY)
		return;
	size_t fb = audio_frame_bytes(&g->mic_format);
	size_t n = pa_stream_writable_size(g->mic);
	if (n == (size_t)-1)
		return;
	n = n < g->mic_wait_len ? n : g->mic_wait_len;
	n -= n % fb;
	while (n > 0) {
		size_t k = sizeof(g->mic_wait) - g->mic_wait_start;
		k = k < n ? k : n;
		pa_stream_write(g->mic, g->mic_wait + g->mic_wait_start, k, NULL, 0,
				PA_SEEK_RELATIVE);
		g->mic_wait_start = (g->mic_wait_start + k) % sizeof(g->mic_wait);
		g->mic_wait_len -= k;
		n -= k;
	}
}

static void on_mic_writable(pa_stream *s, size_t nbytes, void *userdata)
{
	mic_flush(userdata);
}

static void mic_data(struct guest *g, const uint8_t *p, size_t len)
{
	if (!g->mic)
		return;
	size_t fb = audio_frame_bytes(&g->mic_format);
	size_t cap = g->mic_format.rate * fb * MIC_WAIT_MS / 1000u;
	cap -= cap % fb;
	/* The newest sound counts: what does not fit pushes the oldest out. */
	if (len > cap) {
		p += len - cap;
		len = cap;
	}
	if (g->mic_wait_len + len > cap) {
		size_t drop = g->mic_wait_len + len - cap;
		g->mic_wait_start = (g->mic_wait_start + drop) % sizeof(g->mic_wait);
		g->mic_wait_len -= drop;
	}
	for (size_t done = 0; done < len;) {
		size_t end = (g->mic_wait_start + g->mic_wait_len) % sizeof(g->mic_wait);
		size_t k = sizeof(g->mic_wait) - end;
		k = k < len - done ? k : len - done;
		memcpy(g->mic_wait + end, p + done, k);
		g->mic_wait_len += k;
		done += k;
	}
	mic_flush(g);
}

static void handle_host_frame(struct guest *g, const struct chan_frame *f)
{
	switch (f->type) {
	case AUDIO_MIC_START:
		mic_start(g);
		break;
	case AUDIO_MIC_DATA:
		mic_data(g, f->payload, f->len);
		break;
	case AUDIO_MIC_STOP:
		mic_stop(g);
		break;
	default:
		break;
	}
}

static void on_port(pa_mainloop_api *api, pa_io_event *ev, int fd, pa_io_event_flags_t events,
		    void *userdata)
{
	struct guest *g = userdata;
	uint8_t buf[16384];

	if (events & PA_IO_EVENT_OUTPUT) {
		if (chan_outbuf_flush(&g->out, PORT_FD) < 0) {
			port_down(g);
			return;
		}
		port_events(g);
	}
	if (!(events & (PA_IO_EVENT_INPUT | PA_IO_EVENT_HANGUP | PA_IO_EVENT_ERROR)))
		return;
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		port_down(g);
		return;
	}
	for (size_t off = 0; off < (size_t)n;) {
		struct chan_frame f;
		size_t used;
		int r = chan_decoder_feed(&g->dec, buf + off, (size_t)n - off, &used, &f);
		if (r == 0)
			break;
		/* The host is trusted; a bad frame is a bug, and starting over is all we can do. */
		if (r < 0 || audio_guest_frame(&g->chk, &f) < 0) {
			log_error("bad frame from the host; waiting for a new connection");
			port_down(g);
			return;
		}
		off += used;
		handle_host_frame(g, &f);
	}
}

static void port_connected(struct guest *g)
{
	uint8_t hello[4];

	chan_decoder_init(&g->dec, AUDIO_MAX_PAYLOAD);
	chan_outbuf_init(&g->out, PORT_OUT_LIMIT);
	g->chk = (struct audio_tx_check){0};
	g->port_ev = g->api->io_new(g->api, PORT_FD, PA_IO_EVENT_INPUT, on_port, g);
	g->port_up = true;
	g->playing = false;
	g->silent_usec = 0;
	audio_hello_encode(hello);
	port_send(g, AUDIO_HELLO, hello, sizeof(hello));
	port_events(g);
	log_info("connected to the host");
}

/* The host's end is there when the port no longer reports a hang-up. */
static void on_port_retry(pa_mainloop_api *api, pa_time_event *ev, const struct timeval *tv,
			  void *userdata)
{
	struct guest *g = userdata;
	struct pollfd p = {.fd = PORT_FD, .events = POLLIN | POLLOUT};

	if (poll(&p, 1, 0) >= 0 && !(p.revents & (POLLHUP | POLLERR | POLLNVAL))) {
		api->time_free(g->port_retry);
		g->port_retry = NULL;
		port_connected(g);
		return;
	}
	timer_in(g, &g->port_retry, RETRY_USEC, on_port_retry);
}

static void port_wait(struct guest *g)
{
	timer_in(g, &g->port_retry, RETRY_USEC, on_port_retry);
}

/* ---- what the qube plays ---- */

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void send_pcm(struct guest *g, const uint8_t *p, size_t n)
{
	uint8_t start[12];

	if (!g->port_up)
		return;
	if (all_zero(p, n)) {
		g->silent_usec += pa_bytes_to_usec(n, &play_spec);
		/* (Not queued: tried again with the next silence.) */
		if (g->playing && g->silent_usec >= IDLE_USEC &&
		    port_send(g, AUDIO_PLAY_STOP, NULL, 0)) {
			g->playing = false;
			if (g->dropped)
				log_info("dropped %.1f ms of sound the host did not take in time",
					 pa_bytes_to_usec(g->dropped, &play_spec) / 1000.0);
			g->dropped = 0;
		}
		if (!g->playing)
			return;
	} else {
		g->silent_usec = 0;
	}
	if (!g->playing) {
		/* Data after a START the host never got would end our sound (a protocol error). */
		audio_format_encode(&play_format, start);
		if (!port_send(g, AUDIO_PLAY_START, start, sizeof(start)))
			return;
		g->playing = true;
	}
	size_t max = AUDIO_MAX_PAYLOAD - AUDIO_MAX_PAYLOAD % audio_frame_bytes(&play_format);
	size_t backlog = pa_usec_to_bytes(PORT_BACKLOG_USEC, &play_spec);
	n -= n % audio_frame_bytes(&play_format);
	while (n > 0) {
		size_t k = n < max ? n : max;
		if (chan_outbuf_pending(&g->out) >= backlog || !port_send(g, AUDIO_PLAY_DATA, p, k))
			g->dropped += k;
		p += k;
		n -= k;
	}
}

static void on_rec_read(pa_stream *s, size_t nbytes, void *userdata)
{
	struct guest *g = userdata;
	const void *data;
	size_t n;

	while (pa_stream_readable_size(s) > 0) {
		if (pa_stream_peek(s, &data, &n) < 0 || n == 0)
			return;
		if (data)
			send_pcm(g, data, n);
		pa_stream_drop(s);
	}
}

static void rec_start(struct guest *g)
{
	pa_buffer_attr attr = {.maxlength = (uint32_t)pa_usec_to_bytes(REC_MAX_USEC, &play_spec),
			       .tlength = (uint32_t)-1,
			       .prebuf = (uint32_t)-1,
			       .minreq = (uint32_t)-1,
			       .fragsize = (uint32_t)pa_usec_to_bytes(FRAGMENT_USEC, &play_spec)};

	g->rec = pa_stream_new(g->ctx, "Host speakers", &play_spec, NULL);
	if (!g->rec)
		return;
	pa_stream_set_read_callback(g->rec, on_rec_read, g);
	if (pa_stream_connect_record(g->rec, PLAY_SINK ".monitor", &attr,
				     PA_STREAM_ADJUST_LATENCY | PA_STREAM_DONT_MOVE |
					 PA_STREAM_DONT_INHIBIT_AUTO_SUSPEND) < 0)
		log_error("recording %s.monitor: %s", PLAY_SINK,
			  pa_strerror(pa_context_errno(g->ctx)));
	else
		log_info("sound server ready: playing to the host");
}

/* ---- the sound server's sinks, one step after another ---- */

struct sink_step {
	const char *name, *description;
};
static const struct sink_step sinks[] = {
    {PLAY_SINK, "Host speakers"},
    {MIC_SINK, "Host microphone"},
};

static void sinks_step(struct guest *g, size_t i);

static void on_default_done(pa_context *c, int ok, void *userdata)
{
	if (!ok)
		log_warn("setting a default: %s", pa_strerror(pa_context_errno(c)));
}

static void sinks_done(struct guest *g)
{
	pa_operation *o;
	o = pa_context_set_default_sink(g->ctx, PLAY_SINK, on_default_done, g);
	if (o)
		pa_operation_unref(o);
	o = pa_context_set_default_source(g->ctx, MIC_SINK ".monitor", on_default_done, g);
	if (o)
		pa_operation_unref(o);
	g->sinks_ready = true;
	rec_start(g);
	/* A grant that came while there was no server (or a server without our sinks). */
	if (g->port_up && g->chk.mic)
		mic_start(g);
}

struct step_ctx {
	struct guest *g;
	size_t i;
	bool found;
};

static void on_module_loaded(pa_context *c, uint32_t idx, void *userdata)
{
	struct step_ctx *s = userdata;
	if (idx == PA_INVALID_INDEX)
		log_error("creating the null sink %s: %s", sinks[s->i].name,
			  pa_strerror(pa_context_errno(c)));
	sinks_step(s->g, s->i + 1);
	free(s);
}

static void on_sink_info(pa_context *c, const pa_sink_info *info, int eol, void *userdata)
{
	struct step_ctx *s = userdata;
	if (!eol) {
		s->found = true;
		return;
	}
	if (s->found) {
		sinks_step(s->g, s->i + 1);
		free(s);
		return;
	}
	char args[256];
	snprintf(args, sizeof(args),
		 "sink_name=%s rate=48000 channels=2 sink_properties='device.description=\"%s\"'",
		 sinks[s->i].name, sinks[s->i].description);
	pa_operation *o = pa_context_load_module(c, "module-null-sink", args, on_module_loaded, s);
	if (o)
		pa_operation_unref(o);
	else
		free(s);
}

static void sinks_step(struct guest *g, size_t i)
{
	if (i == ARRAY_SIZE(sinks)) {
		sinks_done(g);
		return;
	}
	struct step_ctx *s = calloc(1, sizeof(*s));
	if (!s)
		return;
	s->g = g;
	s->i = i;
	pa_operation *o = pa_context_get_sink_info_by_name(g->ctx, sinks[i].name, on_sink_info, s);
	if (o)
		pa_operation_unref(o);
	else
		free(s);
}

/* ---- the sound server ---- */

static void server_spawn(struct guest *g)
{
	pid_t pid = fork();
	if (pid < 0) {
		log_error("fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		close(PORT_FD);
		execlp("pulseaudio", "pulseaudio", "--daemonize=no", "--exit-idle-time=-1", "-n",
		       "--use-pid-file=no", "--log-target=stderr", "-L",
		       "module-native-protocol-unix", "-L",
		       "module-suspend-on-idle timeout=" IDLE_SUSPEND_S, NULL);
		_exit(127);
	}
	g->server_pid = pid;
	g->server_tries = 0;
	log_info("no sound server answered: started pulseaudio (pid %d)", (int)pid);
}

static void on_server_retry(pa_mainloop_api *api, pa_time_event *ev, const struct timeval *tv,
			    void *userdata)
{
	struct guest *g = userdata;
	server_connect(g);
}

static void server_lost(struct guest *g)
{
	/* A connect that fails at once reports it twice: through the state callback, and by its
	 * return value. */
	if (!g->ctx)
		return;
	if (g->rec) {
		pa_stream_unref(g->rec);
		g->rec = NULL;
	}
	mic_stop(g);
	g->sinks_ready = false;
	pa_context_unref(g->ctx);
	g->ctx = NULL;
	/* Our own server is gone for good: a new one next time. */
	if (g->server_pid > 0 && waitpid(g->server_pid, NULL, WNOHANG) == g->server_pid)
		g->server_pid = 0;
	if (g->server_pid <= 0 || ++g->server_tries > SERVER_WAIT_TRIES)
		server_spawn(g);
	timer_in(g, &g->server_retry, RETRY_USEC, on_server_retry);
}

static void on_context_state(pa_context *c, void *userdata)
{
	struct guest *g = userdata;

	switch (pa_context_get_state(c)) {
	case PA_CONTEXT_READY:
		g->server_tries = 0;
		sinks_step(g, 0);
		break;
	case PA_CONTEXT_FAILED:
	case PA_CONTEXT_TERMINATED:
		if (g->playing) {
			port_send(g, AUDIO_PLAY_STOP, NULL, 0);
			g->playing = false;
		}
		server_lost(g);
		break;
	default:
		break;
	}
}

static void server_connect(struct guest *g)
{
	pa_proplist *p = pa_proplist_new();
	pa_proplist_sets(p, PA_PROP_APPLICATION_NAME, "Bulkhead sound");
	g->ctx = pa_context_new_with_proplist(g->api, "Bulkhead sound", p);
	pa_proplist_free(p);
	if (!g->ctx) {
		log_error("pa_context_new failed");
		exit(1);
	}
	pa_context_set_state_callback(g->ctx, on_context_state, g);
	if (pa_context_connect(g->ctx, NULL, PA_CONTEXT_NOAUTOSPAWN, NULL) < 0)
		server_lost(g);
}

static void on_signal(pa_mainloop_api *api, pa_signal_event *e, int sig, void *userdata)
{
	api->quit(api, 0);
}

int main(int argc, char **argv)
{
	struct guest g = {0};
	int ret = 0;

	log_set_ident("bulkhead-audio-guest");
	if (argc > 1) {
		fprintf(stderr, "usage: bulkhead-audio-guest (fd 3: the audio port)\n");
		return 2;
	}
	if (fcntl(PORT_FD, F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(PORT_FD, F_SETFL, fcntl(PORT_FD, F_GETFL) | O_NONBLOCK) < 0) {
		log_error("fd %d: %s", PORT_FD, strerror(errno));
		return 2;
	}
	if (!getenv("XDG_RUNTIME_DIR")) {
		log_error("XDG_RUNTIME_DIR is not set");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	g.ml = pa_mainloop_new();
	g.api = pa_mainloop_get_api(g.ml);
	pa_signal_init(g.api);
	pa_signal_new(SIGTERM, on_signal, &g);
	pa_signal_new(SIGINT, on_signal, &g);

	server_connect(&g);
	port_wait(&g);
	on_port_retry(g.api, NULL, NULL, &g);
	pa_mainloop_run(g.ml, &ret);

	if (g.server_pid > 0) {
		kill(g.server_pid, SIGTERM);
		waitpid(g.server_pid, NULL, 0);
	}
	return ret;
}
