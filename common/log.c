#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *log_ident = "bulkhead";
static enum log_level log_level = LOG_LVL_INFO;

void log_set_ident(const char *ident)
{
	log_ident = ident;
}

void log_set_level(enum log_level level)
{
	log_level = level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const prefix[] = {"error", "warning", "info", "debug"};
	int saved = errno;
	va_list ap;

	if (level > log_level)
		return;
	/* One fprintf per line so lines from concurrent writers do not interleave. */
	char line[2048];
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s: %s\n", log_ident, prefix[level], line);
	errno = saved;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one. Overlong forms,
 * surrogates and code points above U+10FFFF are not valid. */
static size_t utf8_sequence(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0; /* also stops at the terminating NUL */
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* Bytes the escaped form of the piece at p takes, and the bytes of p it consumes. */
static size_t escaped_piece(const unsigned char *p, size_t *ret_consumed)
{
	size_t n = utf8_sequence(p);
	if (n > 1 || (n == 1 && *p >= 0x20 && *p != 0x7f && *p != '\\')) {
		*ret_consumed = n;
		return n;
	}
	*ret_consumed = 1;
	return 4;
}

const char *log_escape(char *buf, size_t size, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)(s ? s : "(null)");
	size_t o = 0, total = 0, used;

	if (size == 0)
		return buf;
	for (const unsigned char *q = p; *q; q += used)
		total += escaped_piece(q, &used);
	/* Cut short: keep room for the "..." that says so. */
	size_t limit = total + 1 <= size ? size - 1 : size >= 4 ? size - 4 : 0;
	while (*p) {
		size_t need = escaped_piece(p, &used);
		if (o + need > limit)
			break;
		if (need == used) {
			memcpy(buf + o, p, used);
		} else {
			buf[o] = '\\';
			buf[o + 1] = 'x';
			buf[o + 2] = hex[*p >> 4];
			buf[o + 3] = hex[*p & 0xf];
		}
		o += need;
		p += used;
	}
	if (*p && size >= 4) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

bool log_ratelimit_allow(struct log_ratelimit *rl, unsigned burst, uint64_t interval_ms,
			 uint64_t now_ms, unsigned *ret_suppressed)
{
	if (!rl->started || now_ms < rl->window_start_ms ||
	    now_ms - rl->window_start_ms >= interval_ms) {
		rl->started = true;
		rl->window_start_ms = now_ms;
		rl->in_window = 0;
	}
	if (rl->in_window >= burst) {
		rl->suppressed++;
		return false;
	}
	rl->in_window++;
	*ret_suppressed = rl->suppressed;
	rl->suppressed = 0;
	return true;
}
