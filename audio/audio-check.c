/* The audio port's checks (proto.h): every rule of audio-proto.h that a frame can break is
 * tested here, so the host half's loop only acts on frames already known to be allowed. */
#include "audio-check.h"

#include <errno.h>
#include <string.h>

#include "unaligned.h"
#include "util.h"

#define RATE_CAP_US ((uint64_t)AUDIO_MAX_RATE_FACTOR * AUDIO_RATE_WINDOW_MS * 1000u)

int audio_format_parse(const uint8_t *p, size_t len, struct audio_format *ret)
{
	struct audio_format f;

	if (len != 12)
		return -EPROTO;
	f.format = unaligned_read_le32(p);
	f.rate = unaligned_read_le32(p + 4);
	f.channels = unaligned_read_le32(p + 8);
	if (f.format != AUDIO_FORMAT_S16LE || (f.rate != 44100 && f.rate != 48000) ||
	    (f.channels != 1 && f.channels != 2))
		return -EPROTO;
	*ret = f;
	return 0;
}

void audio_format_encode(const struct audio_format *f, uint8_t out[12])
{
	unaligned_write_le32(out, f->format);
	unaligned_write_le32(out + 4, f->rate);
	unaligned_write_le32(out + 8, f->channels);
}

int audio_hello_parse(const uint8_t *p, size_t len)
{
	if (len != 4 || unaligned_read_le32(p) != AUDIO_PROTOCOL_VERSION)
		return -EPROTO;
	return 0;
}

void audio_hello_encode(uint8_t out[4])
{
	unaligned_write_le32(out, AUDIO_PROTOCOL_VERSION);
}

void audio_rx_init(struct audio_rx *rx)
{
	*rx = (struct audio_rx){.state = AUDIO_RX_WANT_HELLO, .credit_us = RATE_CAP_US};
}

/* Refills the bucket for the time since the last frame, then takes cost_us from it. */
static int rate_take(struct audio_rx *rx, uint64_t now_us, uint64_t cost_us)
{
	if (rx->clock_started && now_us > rx->last_us) {
		uint64_t gain = (now_us - rx->last_us) * AUDIO_MAX_RATE_FACTOR;
		rx->credit_us =
		    gain >= RATE_CAP_US - rx->credit_us ? RATE_CAP_US : rx->credit_us + gain;
	}
	if (!rx->clock_started || now_us > rx->last_us)
		rx->last_us = now_us;
	rx->clock_started = true;
	if (cost_us > rx->credit_us)
		return -EPROTO;
	rx->credit_us -= cost_us;
	return 0;
}

static int rx_hello(struct audio_rx *rx, const struct chan_frame *f, uint64_t now_us)
{
	if (audio_hello_parse(f->payload, f->len) < 0)
		return -EPROTO;
	rx->state = AUDIO_RX_IDLE;
	return AUDIO_EV_NONE;
}

static int rx_start(struct audio_rx *rx, const struct chan_frame *f, uint64_t now_us)
{
	struct audio_format fmt;

	if (audio_format_parse(f->payload, f->len, &fmt) < 0 ||
	    rate_take(rx, now_us, AUDIO_START_COST_US) < 0)
		return -EPROTO;
	rx->format = fmt;
	rx->state = AUDIO_RX_PLAYING;
	return AUDIO_EV_START;
}

static int rx_data(struct audio_rx *rx, const struct chan_frame *f, uint64_t now_us)
{
	uint32_t fb = audio_frame_bytes(&rx->format);

	if (f->len == 0 || f->len % fb != 0)
		return -EPROTO;
	uint64_t us = (uint64_t)(f->len / fb) * 1000000u / rx->format.rate;
	if (rate_take(rx, now_us, us) < 0)
		return -EPROTO;
	return AUDIO_EV_DATA;
}

static int rx_stop(struct audio_rx *rx, const struct chan_frame *f, uint64_t now_us)
{
	if (f->len != 0)
		return -EPROTO;
	rx->state = AUDIO_RX_IDLE;
	return AUDIO_EV_STOP;
}

#define IN(s) (1u << (s))
/* What a qube may send, and when. */
static const struct {
	uint16_t type;
	unsigned states;
	int (*handle)(struct audio_rx *rx, const struct chan_frame *f, uint64_t now_us);
} rx_table[] = {
    {AUDIO_HELLO, IN(AUDIO_RX_WANT_HELLO), rx_hello},
    {AUDIO_PLAY_START, IN(AUDIO_RX_IDLE) | IN(AUDIO_RX_PLAYING), rx_start},
    {AUDIO_PLAY_DATA, IN(AUDIO_RX_PLAYING), rx_data},
    {AUDIO_PLAY_STOP, IN(AUDIO_RX_PLAYING), rx_stop},
};

int audio_rx_frame(struct audio_rx *rx, const struct chan_frame *f, uint64_t now_us)
{
	if (f->stream != 0 || f->len > AUDIO_MAX_PAYLOAD)
		return -EPROTO;
	for (size_t i = 0; i < ARRAY_SIZE(rx_table); i++) {
		if (rx_table[i].type != f->type)
			continue;
		if (!(rx_table[i].states & IN(rx->state)))
			return -EPROTO;
		return rx_table[i].handle(rx, f, now_us);
	}
	return -EPROTO;
}

int audio_guest_frame(struct audio_tx_check *c, const struct chan_frame *f)
{
	if (f->stream != 0 || f->len > AUDIO_MAX_PAYLOAD)
		return -EPROTO;
	if (!c->hello) {
		if (f->type != AUDIO_HELLO || audio_hello_parse(f->payload, f->len) < 0)
			return -EPROTO;
		c->hello = true;
		return 0;
	}
	switch (f->type) {
	case AUDIO_MIC_START:
		if (audio_format_parse(f->payload, f->len, &c->mic_format) < 0)
			return -EPROTO;
		c->mic = true;
		return 0;
	case AUDIO_MIC_DATA:
		if (!c->mic || f->len == 0 || f->len % audio_frame_bytes(&c->mic_format) != 0)
			return -EPROTO;
		return 0;
	case AUDIO_MIC_STOP:
		if (!c->mic || f->len != 0)
			return -EPROTO;
		c->mic = false;
		return 0;
	default:
		return -EPROTO;
	}
}

/* "0" or "1" exactly. */
static int parse_bool(const char *s, size_t len, bool *ret)
{
	if (len != 1 || (s[0] != '0' && s[0] != '1'))
		return -EINVAL;
	*ret = s[0] == '1';
	return 0;
}

/* Decimal digits with at most one '.', at most 8 characters: no locale, sign, exponent, "inf"
 * or "nan" can slip in, as strtod would let them. */
static int parse_volume(const char *s, size_t len, float *ret)
{
	unsigned long whole = 0, frac = 0, scale = 1;
	bool dot = false, digits = false;

	if (len == 0 || len > 8)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.' && !dot) {
			dot = true;
		} else if (s[i] >= '0' && s[i] <= '9') {
			digits = true;
			if (dot) {
				frac = frac * 10 + (unsigned long)(s[i] - '0');
				scale *= 10;
			} else {
				whole = whole * 10 + (unsigned long)(s[i] - '0');
			}
		} else {
			return -EINVAL;
		}
	}
	if (!digits)
		return -EINVAL;
	float v = (float)whole + (float)frac / (float)scale;
	if (v > AUDIO_VOLUME_MAX)
		return -EINVAL;
	*ret = v;
	return 0;
}

int audio_control_parse(const char *line, size_t len, struct audio_control *ret)
{
	static const struct {
		const char *word;
		enum audio_control_kind kind;
	} words[] = {
	    {"volume ", AUDIO_CTL_VOLUME},
	    {"mute ", AUDIO_CTL_MUTE},
	    {"mic ", AUDIO_CTL_MIC},
	};
	struct audio_control c = {0};

	for (size_t i = 0; i < ARRAY_SIZE(words); i++) {
		size_t n = strlen(words[i].word);
		if (len < n || memcmp(line, words[i].word, n) != 0)
			continue;
		c.kind = words[i].kind;
		int r = c.kind == AUDIO_CTL_VOLUME ? parse_volume(line + n, len - n, &c.volume)
						   : parse_bool(line + n, len - n, &c.on);
		if (r < 0)
			return r;
		*ret = c;
		return 0;
	}
	return -EINVAL;
}

int audio_line_take(struct audio_line_buf *b, const char **p, size_t *len, const char **ret_line,
		    size_t *ret_len)
{
	while (*len > 0) {
		char ch = **p;
		(*p)++;
		(*len)--;
		if (b->have >= sizeof(b->buf) - 1 && ch != '\n')
			return -EMSGSIZE;
		if (ch == '\n') {
			b->buf[b->have] = '\0';
			*ret_line = b->buf;
			*ret_len = b->have;
			b->have = 0;
			return 1;
		}
		b->buf[b->have++] = ch;
	}
	return 0;
}
