/* The host half's PipeWire streams: one playback stream per qube, named after it, fed from a
 * small ring; and, while the microphone is granted, one capture stream from the default source
 * whose data goes to the qube as MIC_DATA. Everything runs on the main loop's thread. */
#include <errno.h>
#include <math.h>
#include <spa/param/audio/format-utils.h>
#include <spa/param/props.h>
#include <spa/utils/defs.h>
#include <spa/utils/names.h>
#include <string.h>

#include "audio-host.h"
#include "log.h"
#include "util.h"

static size_t ms_bytes(const struct audio_format *f, unsigned ms)
{
	return (size_t)f->rate * ms / 1000u * audio_frame_bytes(f);
}

static const struct spa_pod *format_pod(struct spa_pod_builder *b, uint32_t rate, uint32_t channels)
{
	struct spa_audio_info_raw info = {
	    .format = SPA_AUDIO_FORMAT_S16_LE,
	    .rate = rate,
	    .channels = channels,
	};
	if (channels == 1) {
		info.position[0] = SPA_AUDIO_CHANNEL_MONO;
	} else {
		info.position[0] = SPA_AUDIO_CHANNEL_FL;
		info.position[1] = SPA_AUDIO_CHANNEL_FR;
	}
	return spa_format_audio_raw_build(b, SPA_PARAM_EnumFormat, &info);
}

/* The qube's identity on the sound server: from our command line (bulkheadd), never from the
 * qube. pactl and wpctl show the stream by these. */
static struct pw_properties *stream_props(struct audio_host *h, const char *category,
					  const char *suffix, uint32_t rate)
{
	struct pw_properties *p = pw_properties_new(
	    PW_KEY_MEDIA_TYPE, "Audio", PW_KEY_MEDIA_CATEGORY, category, PW_KEY_MEDIA_NAME, h->qube,
	    PW_KEY_APP_NAME, h->qube, "bulkhead.qube", h->qube, "bulkhead.label", h->label, NULL);
	if (!p)
		return NULL;
	pw_properties_setf(p, PW_KEY_NODE_NAME, "bulkhead.%s%s", h->qube, suffix);
	/* A small quantum asked of the graph; the ring adds PLAY_PREFILL_MS. */
	pw_properties_setf(p, PW_KEY_NODE_LATENCY, "%u/%u", rate / 100, rate);
	return p;
}

/* ---- playback ---- */

static void ring_drop(struct audio_host *h, size_t n)
{
	h->ring_start = (h->ring_start + n) % sizeof(h->ring);
	h->ring_len -= n;
}

void host_play_data(struct audio_host *h, const uint8_t *p, size_t len)
{
	if (!h->play)
		return;
	size_t fb = audio_frame_bytes(&h->play_format);
	size_t cap = ms_bytes(&h->play_format, PLAY_MAX_MS);
	if (len > cap) { /* never: AUDIO_MAX_PAYLOAD is below PLAY_MAX_MS */
		p += len - cap;
		len = cap;
	}
	if (h->ring_len + len > cap) {
		size_t drop = h->ring_len + len - cap;
		drop = (drop + fb - 1) / fb * fb;
		if (drop > h->ring_len)
			drop = h->ring_len;
		h->dropped_bytes += drop;
		ring_drop(h, drop);
	}
	size_t end = (h->ring_start + h->ring_len) % sizeof(h->ring);
	size_t first = SPA_MIN(len, sizeof(h->ring) - end);
	memcpy(h->ring + end, p, first);
	memcpy(h->ring, p + first, len - first);
	h->ring_len += len;
	if (!h->prefilled && h->ring_len >= ms_bytes(&h->play_format, PLAY_PREFILL_MS))
		h->prefilled = true;
}

/* Called once per period with the frames about to be played: the queue's low point over a
 * second says how much of it is latency no jitter needs. */
static void trim_latency(struct audio_host *h, size_t frames)
{
	if (!h->prefilled)
		return;
	if (h->win_frames == 0 || h->ring_len < h->win_min)
		h->win_min = h->ring_len;
	h->win_frames += frames;
	if (h->win_frames < h->play_format.rate)
		return;
	size_t keep = ms_bytes(&h->play_format, PLAY_PREFILL_MS);
	if (h->win_min > ms_bytes(&h->play_format, PLAY_PREFILL_MS + PLAY_SLACK_MS)) {
		size_t fb = audio_frame_bytes(&h->play_format);
		size_t drop = (h->win_min - keep) / fb * fb;
		h->dropped_bytes += drop;
		ring_drop(h, drop);
	}
	h->win_frames = 0;
}

static void on_play_process(void *data)
{
	struct audio_host *h = data;
	struct pw_buffer *b = pw_stream_dequeue_buffer(h->play);
	if (!b)
		return;
	struct spa_data *d = &b->buffer->datas[0];
	uint8_t *dst = d->data;
	uint32_t fb = audio_frame_bytes(&h->play_format);
	if (!dst) {
		pw_stream_queue_buffer(h->play, b);
		return;
	}
	size_t n = d->maxsize / fb;
	if (b->requested && b->requested < n)
		n = b->requested;
	size_t want = n * fb, got = 0;

	h->fill_sum_us += (uint64_t)h->ring_len / fb * 1000000u / h->play_format.rate;
	h->fill_samples++;
	trim_latency(h, n);
	if (h->prefilled) {
		got = SPA_MIN(want, h->ring_len);
		size_t first = SPA_MIN(got, sizeof(h->ring) - h->ring_start);
		memcpy(dst, h->ring + h->ring_start, first);
		memcpy(dst + first, h->ring, got - first);
		ring_drop(h, got);
		if (got < want) {
			/* Ran dry: silence, and wait for PLAY_PREFILL_MS again. */
			h->underruns++;
			h->prefilled = false;
		}
	}
	memset(dst + got, 0, want - got);
	d->chunk->offset = 0;
	d->chunk->stride = (int32_t)fb;
	d->chunk->size = (uint32_t)want;
	pw_stream_queue_buffer(h->play, b);
}

static void on_state(struct audio_host *h, struct pw_stream *s, enum pw_stream_state state,
		     const char *error)
{
	if (state == PW_STREAM_STATE_ERROR) {
		/* The server refused or dropped the stream: this qube's sound ends. */
		log_error("qube %s: stream error: %s", h->qube, error ? error : "?");
		host_quit(h, AUDIO_EXIT_SERVER);
	}
}

static void on_play_state(void *data, enum pw_stream_state old, enum pw_stream_state state,
			  const char *error)
{
	struct audio_host *h = data;
	on_state(h, h->play, state, error);
	if (state == PW_STREAM_STATE_PAUSED || state == PW_STREAM_STATE_STREAMING)
		host_apply_volume(h);
}

static const struct pw_stream_events play_events = {
    PW_VERSION_STREAM_EVENTS,
    .state_changed = on_play_state,
    .process = on_play_process,
};

void host_play_stop(struct audio_host *h)
{
	if (h->play) {
		spa_hook_remove(&h->play_listener);
		pw_stream_destroy(h->play);
		h->play = NULL;
	}
	h->ring_start = h->ring_len = 0;
	h->win_frames = 0;
	h->prefilled = false;
	host_report(h, "playing", &h->reported_playing, false);
}

int host_play_start(struct audio_host *h, const struct audio_format *f)
{
	uint8_t buf[1024];
	struct spa_pod_builder b = SPA_POD_BUILDER_INIT(buf, sizeof(buf));

	if (h->play && memcmp(f, &h->play_format, sizeof(*f)) == 0)
		return 0;
	host_play_stop(h);
	struct pw_properties *props = stream_props(h, "Playback", "", f->rate);
	if (!props)
		return -ENOMEM;
	h->play = pw_stream_new(h->core, h->qube, props);
	if (!h->play)
		return -errno;
	h->play_format = *f;
	pw_stream_add_listener(h->play, &h->play_listener, &play_events, h);
	const struct spa_pod *params[] = {format_pod(&b, f->rate, f->channels)};
	int r =
	    pw_stream_connect(h->play, PW_DIRECTION_OUTPUT, PW_ID_ANY,
			      PW_STREAM_FLAG_AUTOCONNECT | PW_STREAM_FLAG_MAP_BUFFERS, params, 1);
	if (r < 0) {
		host_play_stop(h);
		return r;
	}
	host_report(h, "playing", &h->reported_playing, true);
	return 0;
}

/* The control's volume is what pactl shows (cubic, as PulseAudio's percentages are); the
 * stream's channel volumes are linear amplitudes. */
void host_apply_volume(struct audio_host *h)
{
	if (!h->play)
		return;
	float v = h->volume * h->volume * h->volume;
	float vols[2] = {v, v};
	float mute = h->muted ? 1.0f : 0.0f;
	pw_stream_set_control(h->play, SPA_PROP_channelVolumes, h->play_format.channels, vols,
			      SPA_PROP_mute, 1, &mute, 0);
}

/* ---- microphone ---- */

static void on_mic_process(void *data)
{
	struct audio_host *h = data;
	struct pw_buffer *b = pw_stream_dequeue_buffer(h->mic);
	if (!b)
		return;
	struct spa_data *d = &b->buffer->datas[0];
	if (d->data && d->chunk->offset <= d->maxsize) {
		const uint8_t *p = (const uint8_t *)d->data + d->chunk->offset;
		size_t len = SPA_MIN(d->chunk->size, d->maxsize - d->chunk->offset);
		len -= len % (2u * MIC_CHANNELS);
		while (len > 0) {
			size_t n = SPA_MIN(len, AUDIO_MAX_PAYLOAD);
			host_send(h, AUDIO_MIC_DATA, p, n);
			p += n;
			len -= n;
		}
	}
	pw_stream_queue_buffer(h->mic, b);
}

static void on_mic_state(void *data, enum pw_stream_state old, enum pw_stream_state state,
			 const char *error)
{
	struct audio_host *h = data;
	on_state(h, h->mic, state, error);
	if (state == PW_STREAM_STATE_STREAMING)
		host_report(h, "recording", &h->reported_recording, true);
}

static const struct pw_stream_events mic_events = {
    PW_VERSION_STREAM_EVENTS,
    .state_changed = on_mic_state,
    .process = on_mic_process,
};

void host_mic_stop(struct audio_host *h)
{
	if (!h->mic)
		return;
	spa_hook_remove(&h->mic_listener);
	pw_stream_destroy(h->mic);
	h->mic = NULL;
	host_send(h, AUDIO_MIC_STOP, NULL, 0);
	host_report(h, "recording", &h->reported_recording, false);
}

int host_mic_start(struct audio_host *h)
{
	uint8_t buf[1024], start[12];
	struct spa_pod_builder b = SPA_POD_BUILDER_INIT(buf, sizeof(buf));
	struct audio_format f = {AUDIO_FORMAT_S16LE, MIC_RATE, MIC_CHANNELS};

	if (h->mic)
		return 0;
	struct pw_properties *props = stream_props(h, "Capture", ".mic", MIC_RATE);
	if (!props)
		return -ENOMEM;
	h->mic = pw_stream_new(h->core, h->qube, props);
	if (!h->mic)
		return -errno;
	pw_stream_add_listener(h->mic, &h->mic_listener, &mic_events, h);
	const struct spa_pod *params[] = {format_pod(&b, MIC_RATE, MIC_CHANNELS)};
	int r =
	    pw_stream_connect(h->mic, PW_DIRECTION_INPUT, PW_ID_ANY,
			      PW_STREAM_FLAG_AUTOCONNECT | PW_STREAM_FLAG_MAP_BUFFERS, params, 1);
	if (r < 0) {
		spa_hook_remove(&h->mic_listener);
		pw_stream_destroy(h->mic);
		h->mic = NULL;
		return r;
	}
	audio_format_encode(&f, start);
	host_send(h, AUDIO_MIC_START, start, sizeof(start));
	return 0;
}

/* Streams load plugins when they are created: the audio converter (both directions) and the
 * mixer (capture). A handle of each made now keeps its plugin loaded, so that later streams find
 * it without open(). */
int host_streams_preload(struct audio_host *h)
{
	static const char *const plugins[HOST_PRELOADED][2] = {
	    {"audioconvert/libspa-audioconvert", SPA_NAME_AUDIO_CONVERT},
	    {"audiomixer/libspa-audiomixer", SPA_NAME_AUDIO_MIXER},
	};
	uint32_t n_support;
	const struct spa_support *support = pw_context_get_support(h->context, &n_support);

	for (size_t i = 0; i < ARRAY_SIZE(plugins); i++) {
		/* Kept until exit on purpose: the handle's reference keeps the plugin mapped. */
		h->preloaded[i] =
		    pw_load_spa_handle(plugins[i][0], plugins[i][1], NULL, n_support, support);
		if (!h->preloaded[i])
			return errno ? -errno : -ENOENT;
	}
	return 0;
}
