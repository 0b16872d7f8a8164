/* Server-side decorations: the title a window is shown with. */
#include "decoration.h"

#include <glib.h>
#include <stdbool.h>
#include <string.h>

/* Appends len bytes of s if they fit before the NUL; false (nothing written) if not. */
static bool append(char *buf, size_t size, size_t *pos, const char *s, size_t len)
{
	if (size == 0 || len > size - 1 - *pos)
		return false;
	memcpy(buf + *pos, s, len);
	*pos += len;
	buf[*pos] = '\0';
	return true;
}

static bool shown_as_is(gunichar c)
{
	switch (g_unichar_type(c)) {
	case G_UNICODE_CONTROL:
	case G_UNICODE_FORMAT:
	case G_UNICODE_LINE_SEPARATOR:
	case G_UNICODE_PARAGRAPH_SEPARATOR:
	case G_UNICODE_SURROGATE:
	case G_UNICODE_PRIVATE_USE:
		return false;
	default:
		return true;
	}
}

size_t decoration_title(const char *qube, const char *title, char *buf, size_t size)
{
	static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */
	size_t pos = 0;
	if (size == 0)
		return 0;
	buf[0] = '\0';
	if (!title)
		title = "";
	if (qube) {
		size_t qlen = strlen(qube);
		if (title[0] == '[' && strncmp(title + 1, qube, qlen) == 0 &&
		    strncmp(title + 1 + qlen, "] ", 2) == 0)
			title += qlen + 3;
		if (!append(buf, size, &pos, "[", 1) || !append(buf, size, &pos, qube, qlen) ||
		    !append(buf, size, &pos, "]", 1))
			return pos;
		if (title[0] && !append(buf, size, &pos, " ", 1))
			return pos;
	}
	const char *p = title;
	for (size_t n = 0; *p && n < DECORATION_TITLE_CHARS; n++) {
		/* The whole rest is NUL-terminated, so validating up to its end is in bounds. */
		gunichar c = g_utf8_get_char_validated(p, -1);
		bool ok = c != (gunichar)-1 && c != (gunichar)-2 && shown_as_is(c);
		if (ok) {
			const char *next = g_utf8_next_char(p);
			if (!append(buf, size, &pos, p, (size_t)(next - p)))
				break;
			p = next;
		} else {
			if (!append(buf, size, &pos, replacement, sizeof(replacement) - 1))
				break;
			/* An invalid byte stands for itself; a valid but refused character is
			 * skipped whole. */
			p = c == (gunichar)-1 || c == (gunichar)-2 ? p + 1 : g_utf8_next_char(p);
		}
	}
	return pos;
}
