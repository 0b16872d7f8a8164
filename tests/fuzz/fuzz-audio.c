/* Fuzz target for what a qube sends on its audio port: bytes through the frame decoder (capped
 * at AUDIO_MAX_PAYLOAD, as the host half sets it up) and every frame through the host half's
 * checks, with a clock taken from the input so that floods and slow streams are both reached;
 * the same bytes as control lines and as the host's frames seen by the guest half. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "audio-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct chan_decoder dec;
	struct audio_rx rx;
	struct audio_tx_check chk = {0};
	uint64_t now = 0;
	size_t off = 0;

	chan_decoder_init(&dec, AUDIO_MAX_PAYLOAD);
	audio_rx_init(&rx);
	while (off < size) {
		struct chan_frame f;
		size_t used;
		int r = chan_decoder_feed(&dec, data + off, size - off, &used, &f);
		if (r < 0)
			break;
		off += used;
		if (r == 0)
			break;
		/* the time between frames: the first payload byte, in ms */
		now += f.len ? (uint64_t)f.payload[0] * 1000u : 0;
		int ev = audio_rx_frame(&rx, &f, now);
		if (ev == AUDIO_EV_DATA && (rx.state != AUDIO_RX_PLAYING || f.len == 0 ||
					    f.len % audio_frame_bytes(&rx.format) != 0))
			abort();
		if (ev == AUDIO_EV_START && (rx.format.format != AUDIO_FORMAT_S16LE ||
					     (rx.format.channels != 1 && rx.format.channels != 2)))
			abort();
		(void)audio_guest_frame(&chk, &f);
		if (ev < 0)
			break;
	}

	struct audio_line_buf lb = {0};
	const char *p = (const char *)data, *line;
	size_t len = size, n;
	while (audio_line_take(&lb, &p, &len, &line, &n) == 1) {
		struct audio_control c;
		if (n >= AUDIO_CONTROL_LINE_MAX || strlen(line) > n)
			abort();
		if (audio_control_parse(line, n, &c) == 0 && c.kind == AUDIO_CTL_VOLUME &&
		    !(c.volume >= 0.0f && c.volume <= AUDIO_VOLUME_MAX))
			abort();
	}
	return 0;
}
