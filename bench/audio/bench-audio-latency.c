/*
 * bench-audio-latency PLAY_DEVICE RECORD_DEVICE CLICKS INTERVAL_MS
 *
 * Plays CLICKS short 1 kHz bursts, INTERVAL_MS apart, into PLAY_DEVICE (a sink) and listens on
 * RECORD_DEVICE (a source, e.g. another sink's monitor) for them, through the host's sound
 * server (libpulse; pipewire-pulse here). What lies between the two devices is the path
 * measured: bench/audio/run puts a host loopback there (the reference) or a qube (the qube's
 * microphone in, its own loopback, its playback out). Each burst's delay is the time from when
 * the server says it starts playing to when its first loud sample was captured, both on
 * CLOCK_MONOTONIC; the server's own reported latencies are taken off on both ends, so what is
 * left is the path's. Prints "clicks N heard M median MS min MS max MS".
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include <pulse/error.h>
#include <pulse/simple.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RATE	   48000
#define CHUNK	   240 /* frames: 5 ms, mono */
#define CLICKS_MAX 1000
#define THRESHOLD  8000 /* of 32767: the burst is at 26000, silence is 0 */

static const char *play_dev, *record_dev;
static int clicks, interval_ms;
static double played[CLICKS_MAX]; /* seconds, monotonic: when each burst starts to play */
static double heard[CLICKS_MAX];
static int n_played, n_heard;
static volatile double done_at; /* when the player drained, 0 before */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *player(void *arg)
{
	(void)arg;
	pa_sample_spec ss = {.format = PA_SAMPLE_S16LE, .rate = RATE, .channels = 1};
	/* A short buffer, as an interactive client (a call, a game) asks for. */
	pa_buffer_attr ba = {.maxlength = (uint32_t)-1,
			     .tlength = CHUNK * 2 * 2,
			     .prebuf = (uint32_t)-1,
			     .minreq = (uint32_t)-1,
			     .fragsize = (uint32_t)-1};
	int err;
	pa_simple *s = pa_simple_new(NULL, "bench-audio-latency", PA_STREAM_PLAYBACK, play_dev,
				     "clicks", &ss, NULL, &ba, &err);
	if (!s) {
		fprintf(stderr, "bench-audio-latency: play on %s: %s\n", play_dev,
			pa_strerror(err));
		exit(1);
	}
	int16_t silence[CHUNK] = {0}, burst[CHUNK];
	for (int i = 0; i < CHUNK; i++)
		burst[i] = (int16_t)(26000 * sin(2 * M_PI * 1000 * i / RATE));
	int per_click = interval_ms * RATE / 1000 / CHUNK;
	/* Half a second of silence first, so both streams run before the first burst. */
	int lead = RATE / 2 / CHUNK;
	int total = lead + clicks * per_click + RATE / CHUNK; /* and a second's tail */
	for (int c = 0; c < total; c++) {
		int k = c - lead;
		bool is_burst = k >= 0 && k % per_click == 0 && k / per_click < clicks;
		if (pa_simple_write(s, is_burst ? burst : silence, sizeof(silence), &err) < 0) {
			fprintf(stderr, "bench-audio-latency: write: %s\n", pa_strerror(err));
			exit(1);
		}
		if (is_burst) {
			/* The latency covers what is queued up to the end of this chunk. */
			pa_usec_t lat = pa_simple_get_latency(s, &err);
			played[n_played++] = now() + lat / 1e6 - (double)CHUNK / RATE;
		}
	}
	pa_simple_drain(s, &err);
	pa_simple_free(s);
	done_at = now();
	return NULL;
}

static void *recorder(void *arg)
{
	(void)arg;
	pa_sample_spec ss = {.format = PA_SAMPLE_S16LE, .rate = RATE, .channels = 1};
	pa_buffer_attr ba = {.maxlength = (uint32_t)-1, .fragsize = CHUNK * 2};
	int err;
	pa_simple *s = pa_simple_new(NULL, "bench-audio-latency", PA_STREAM_RECORD, record_dev,
				     "listen", &ss, NULL, &ba, &err);
	if (!s) {
		fprintf(stderr, "bench-audio-latency: record %s: %s\n", record_dev,
			pa_strerror(err));
		exit(1);
	}
	int16_t buf[CHUNK];
	double quiet_since = 0;
	bool loud = false;
	/* The last burst may still be on its way when the player is done: a second more. */
	while (done_at == 0 || now() < done_at + 1.0) {
		if (pa_simple_read(s, buf, sizeof(buf), &err) < 0) {
			fprintf(stderr, "bench-audio-latency: read: %s\n", pa_strerror(err));
			exit(1);
		}
		double t = now();
		pa_usec_t lat = pa_simple_get_latency(s, &err);
		for (int i = 0; i < CHUNK; i++) {
			bool over = abs(buf[i]) > THRESHOLD;
			/* The newest sample of the chunk was captured lat ago. */
			double at = t - lat / 1e6 - (double)(CHUNK - 1 - i) / RATE;
			if (over && !loud && n_heard < CLICKS_MAX)
				heard[n_heard++] = at;
			if (over)
				quiet_since = at;
			/* A burst is 5 ms; 50 ms of quiet ends it (the path may stretch it). */
			loud = over || (loud && at - quiet_since < 0.05);
		}
	}
	pa_simple_free(s);
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fputs("usage: bench-audio-latency PLAY_DEVICE RECORD_DEVICE CLICKS INTERVAL_MS\n",
		      stderr);
		return 2;
	}
	play_dev = argv[1];
	record_dev = argv[2];
	clicks = atoi(argv[3]);
	interval_ms = atoi(argv[4]);
	if (clicks < 1 || clicks > CLICKS_MAX || interval_ms < 100) {
		fputs("bench-audio-latency: 1..1000 clicks, at least 100 ms apart\n", stderr);
		return 2;
	}
	pthread_t r, p;
	pthread_create(&r, NULL, recorder, NULL);
	pthread_create(&p, NULL, player, NULL);
	pthread_join(p, NULL);
	pthread_join(r, NULL);
	/* Each burst heard is matched to the last one played before it, within the interval. */
	double lat[CLICKS_MAX];
	int n = 0;
	for (int h = 0; h < n_heard; h++) {
		double best = -1;
		for (int k = 0; k < n_played; k++) {
			double d = heard[h] - played[k];
			if (d >= -0.005 && d < interval_ms / 1000.0)
				best = d;
		}
		if (best >= -0.005)
			lat[n++] = best < 0 ? 0 : best;
	}
	if (n == 0) {
		printf("clicks %d heard 0\n", n_played);
		return 1;
	}
	qsort(lat, (size_t)n, sizeof(lat[0]), cmp);
	printf("clicks %d heard %d median %.1f min %.1f max %.1f\n", n_played, n, lat[n / 2] * 1e3,
	       lat[0] * 1e3, lat[n - 1] * 1e3);
	return 0;
}
