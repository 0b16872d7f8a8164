/* The audio port's checks: what a qube may send and when, the rate limit, the guest's view of
 * the host's frames, and the control lines. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "audio-check.h"
#include "unaligned.h"

static struct chan_frame frame(uint16_t type, const void *p, uint32_t len)
{
	return (struct chan_frame){.type = type, .len = len, .payload = p};
}

static const uint8_t *fmt_bytes(uint32_t format, uint32_t rate, uint32_t channels)
{
	static uint8_t b[12];
	struct audio_format f = {format, rate, channels};
	audio_format_encode(&f, b);
	return b;
}

/* A qube that said HELLO and started 48 kHz stereo at time 0. */
static void started(struct audio_rx *rx)
{
	uint8_t hello[4];
	audio_hello_encode(hello);
	audio_rx_init(rx);
	struct chan_frame f = frame(AUDIO_HELLO, hello, 4);
	assert_int_equal(audio_rx_frame(rx, &f, 0), AUDIO_EV_NONE);
	f = frame(AUDIO_PLAY_START, fmt_bytes(AUDIO_FORMAT_S16LE, 48000, 2), 12);
	assert_int_equal(audio_rx_frame(rx, &f, 0), AUDIO_EV_START);
}

static void test_order(void **state)
{
	struct audio_rx rx;
	uint8_t hello[4], pcm[4] = {0};
	audio_hello_encode(hello);

	audio_rx_init(&rx);
	struct chan_frame f = frame(AUDIO_PLAY_DATA, pcm, 4);
	assert_int_equal(audio_rx_frame(&rx, &f, 0), -EPROTO); /* before HELLO */
	audio_rx_init(&rx);
	f = frame(AUDIO_HELLO, hello, 4);
	assert_int_equal(audio_rx_frame(&rx, &f, 0), AUDIO_EV_NONE);
	assert_int_equal(audio_rx_frame(&rx, &f, 0), -EPROTO); /* HELLO twice */
	audio_rx_init(&rx);
	assert_int_equal(audio_rx_frame(&rx, &f, 0), AUDIO_EV_NONE);
	f = frame(AUDIO_PLAY_DATA, pcm, 4);
	assert_int_equal(audio_rx_frame(&rx, &f, 0), -EPROTO); /* DATA before START */

	started(&rx);
	f = frame(AUDIO_PLAY_DATA, pcm, 4);
	assert_int_equal(audio_rx_frame(&rx, &f, 1000), AUDIO_EV_DATA);
	f = frame(AUDIO_PLAY_STOP, NULL, 0);
	assert_int_equal(audio_rx_frame(&rx, &f, 1000), AUDIO_EV_STOP);
	assert_int_equal(audio_rx_frame(&rx, &f, 1000), -EPROTO); /* STOP twice */
	started(&rx);
	f = frame(AUDIO_MIC_DATA, pcm, 4); /* the host's types */
	assert_int_equal(audio_rx_frame(&rx, &f, 0), -EPROTO);
	started(&rx);
	f = frame(AUDIO_PLAY_DATA, pcm, 4);
	f.stream = 1;
	assert_int_equal(audio_rx_frame(&rx, &f, 0), -EPROTO);
	started(&rx);
	f = frame(99, NULL, 0);
	assert_int_equal(audio_rx_frame(&rx, &f, 0), -EPROTO);
}

static void test_hello(void **state)
{
	struct audio_rx rx;
	uint8_t b[5] = {2, 0, 0, 0, 0};
	audio_rx_init(&rx);
	struct chan_frame f = frame(AUDIO_HELLO, b, 4);
	assert_int_equal(audio_rx_frame(&rx, &f, 0), -EPROTO); /* version 2 */
	audio_hello_encode(b);
	audio_rx_init(&rx);
	f = frame(AUDIO_HELLO, b, 5);
	assert_int_equal(audio_rx_frame(&rx, &f, 0), -EPROTO); /* trailing byte */
}

static void test_formats(void **state)
{
	static const uint32_t bad[][3] = {
	    {2, 48000, 2}, {0, 48000, 2}, {1, 96000, 2}, {1, 8000, 1},
	    {1, 48000, 0}, {1, 48000, 3}, {1, 0, 2},	 {1, 48000, 0xffffffffu},
	};
	struct audio_format f;

	assert_int_equal(audio_format_parse(fmt_bytes(1, 44100, 1), 12, &f), 0);
	assert_int_equal(f.rate, 44100);
	assert_int_equal(f.channels, 1);
	assert_int_equal(audio_format_parse(fmt_bytes(1, 48000, 2), 12, &f), 0);
	assert_int_equal(audio_format_parse(fmt_bytes(1, 48000, 2), 11, &f), -EPROTO);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(
		    audio_format_parse(fmt_bytes(bad[i][0], bad[i][1], bad[i][2]), 12, &f),
		    -EPROTO);
}

static void test_whole_frames(void **state)
{
	static uint8_t pcm[AUDIO_MAX_PAYLOAD + 4];
	struct audio_rx rx;

	started(&rx);
	struct chan_frame f = frame(AUDIO_PLAY_DATA, pcm, 6); /* 1.5 stereo frames */
	assert_int_equal(audio_rx_frame(&rx, &f, 0), -EPROTO);
	started(&rx);
	f = frame(AUDIO_PLAY_DATA, pcm, 0);
	assert_int_equal(audio_rx_frame(&rx, &f, 0), -EPROTO);
	started(&rx);
	f = frame(AUDIO_PLAY_DATA, pcm, AUDIO_MAX_PAYLOAD);
	assert_int_equal(audio_rx_frame(&rx, &f, 0), AUDIO_EV_DATA);
	f = frame(AUDIO_PLAY_DATA, pcm, AUDIO_MAX_PAYLOAD + 4);
	assert_int_equal(audio_rx_frame(&rx, &f, 0), -EPROTO);
}

/* Real time passes; a second of 48 kHz stereo is 192000 bytes. */
static void test_rate(void **state)
{
	static uint8_t pcm[1920]; /* 10 ms */
	struct audio_rx rx;
	struct chan_frame f = frame(AUDIO_PLAY_DATA, pcm, sizeof(pcm));

	/* In real time for a minute: always fine. */
	started(&rx);
	for (uint64_t t = 0; t < 60000000; t += 10000)
		assert_int_equal(audio_rx_frame(&rx, &f, t), AUDIO_EV_DATA);
	/* Twice real time is the limit: 1.9x holds, since the burst allowance is not spent. */
	started(&rx);
	for (uint64_t i = 0; i < 6000; i++)
		assert_int_equal(audio_rx_frame(&rx, &f, i * 10000 * 10 / 19), AUDIO_EV_DATA);
	/* 3x real time is caught within a few seconds. */
	started(&rx);
	int r = 0;
	uint64_t i;
	for (i = 0; i < 6000 && r >= 0; i++)
		r = audio_rx_frame(&rx, &f, i * 10000 / 3);
	assert_int_equal(r, -EPROTO);
	assert_true(i < 700);
	/* All at once: the allowance is 2 s of audio. */
	started(&rx);
	r = 0;
	for (i = 0; i < 1000 && r >= 0; i++)
		r = audio_rx_frame(&rx, &f, 5);
	assert_int_equal(r, -EPROTO);
	assert_true(i >= 190 && i <= 201);
}

static void test_restart_flood(void **state)
{
	struct audio_rx rx;
	struct chan_frame f = frame(AUDIO_PLAY_START, fmt_bytes(1, 48000, 2), 12);
	int r = 0;
	unsigned i;

	started(&rx);
	for (i = 0; i < 1000 && r >= 0; i++)
		r = audio_rx_frame(&rx, &f, 1);
	assert_int_equal(r, -EPROTO);
	/* A restart now and then is fine. */
	started(&rx);
	for (i = 0; i < 1000; i++)
		assert_int_equal(audio_rx_frame(&rx, &f, (uint64_t)i * 100000), AUDIO_EV_START);
}

static void test_guest_frames(void **state)
{
	struct audio_tx_check c = {0};
	uint8_t hello[4], pcm[4] = {0};
	audio_hello_encode(hello);

	struct chan_frame f = frame(AUDIO_MIC_START, fmt_bytes(1, 48000, 2), 12);
	assert_int_equal(audio_guest_frame(&c, &f), -EPROTO);
	c = (struct audio_tx_check){0};
	f = frame(AUDIO_HELLO, hello, 4);
	assert_int_equal(audio_guest_frame(&c, &f), 0);
	f = frame(AUDIO_MIC_DATA, pcm, 4);
	assert_int_equal(audio_guest_frame(&c, &f), -EPROTO);
	f = frame(AUDIO_MIC_START, fmt_bytes(1, 48000, 1), 12);
	assert_int_equal(audio_guest_frame(&c, &f), 0);
	f = frame(AUDIO_MIC_DATA, pcm, 2);
	assert_int_equal(audio_guest_frame(&c, &f), 0);
	f = frame(AUDIO_MIC_DATA, pcm, 3);
	assert_int_equal(audio_guest_frame(&c, &f), -EPROTO);
	f = frame(AUDIO_MIC_STOP, NULL, 0);
	assert_int_equal(audio_guest_frame(&c, &f), 0);
	f = frame(AUDIO_MIC_DATA, pcm, 2);
	assert_int_equal(audio_guest_frame(&c, &f), -EPROTO);
	f = frame(AUDIO_PLAY_DATA, pcm, 4);
	assert_int_equal(audio_guest_frame(&c, &f), -EPROTO);
}

static void test_control(void **state)
{
	static const char *bad[] = {
	    "",		  "volume",	"volume ",
	    "volume -1",  "volume 1.6", "volume 1e0",
	    "volume inf", "volume nan", "volume 1..",
	    "volume .",	  "volume 0x1", "mute 2",
	    "mute",	  "mute 00",	"mic 1 ",
	    " mic 1",	  "MIC 1",	"volume 1.50000001",
	};
	struct audio_control c;

	assert_int_equal(audio_control_parse("volume 0.5", 10, &c), 0);
	assert_int_equal(c.kind, AUDIO_CTL_VOLUME);
	assert_float_equal(c.volume, 0.5, 1e-6);
	assert_int_equal(audio_control_parse("volume 1.5", 10, &c), 0);
	assert_float_equal(c.volume, 1.5, 1e-6);
	assert_int_equal(audio_control_parse("volume 0", 8, &c), 0);
	assert_float_equal(c.volume, 0, 1e-6);
	assert_int_equal(audio_control_parse("mute 1", 6, &c), 0);
	assert_int_equal(c.kind, AUDIO_CTL_MUTE);
	assert_true(c.on);
	assert_int_equal(audio_control_parse("mic 0", 5, &c), 0);
	assert_int_equal(c.kind, AUDIO_CTL_MIC);
	assert_false(c.on);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(audio_control_parse(bad[i], strlen(bad[i]), &c), -EINVAL);
}

static void test_lines(void **state)
{
	struct audio_line_buf b = {0};
	const char *in = "mute 1\nmic", *line;
	size_t len = strlen(in), n;

	assert_int_equal(audio_line_take(&b, &in, &len, &line, &n), 1);
	assert_string_equal(line, "mute 1");
	assert_int_equal(audio_line_take(&b, &in, &len, &line, &n), 0);
	in = " 1\n";
	len = 3;
	assert_int_equal(audio_line_take(&b, &in, &len, &line, &n), 1);
	assert_string_equal(line, "mic 1");
	assert_int_equal(n, 5);

	char big[AUDIO_CONTROL_LINE_MAX + 1];
	memset(big, 'x', sizeof(big));
	big[AUDIO_CONTROL_LINE_MAX - 1] = '\n'; /* 63 bytes and the newline: fits */
	in = big;
	len = AUDIO_CONTROL_LINE_MAX;
	assert_int_equal(audio_line_take(&b, &in, &len, &line, &n), 1);
	assert_int_equal(n, AUDIO_CONTROL_LINE_MAX - 1);
	big[AUDIO_CONTROL_LINE_MAX - 1] = 'x';
	big[AUDIO_CONTROL_LINE_MAX] = '\n';
	in = big;
	len = sizeof(big);
	assert_int_equal(audio_line_take(&b, &in, &len, &line, &n), -EMSGSIZE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_order),	 cmocka_unit_test(test_hello),
	    cmocka_unit_test(test_formats),	 cmocka_unit_test(test_whole_frames),
	    cmocka_unit_test(test_rate),	 cmocka_unit_test(test_restart_flood),
	    cmocka_unit_test(test_guest_frames), cmocka_unit_test(test_control),
	    cmocka_unit_test(test_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
