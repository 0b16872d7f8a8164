/* The parser of a qube's application list (appmenu-list.h). */
#include "appmenu-list.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* One entry while parsing: pointers into the caller's buffer (not NUL-terminated). */
struct raw_entry {
	const char *id, *type, *name, *nodisplay, *hidden, *icon;
	size_t id_len, type_len, name_len, nodisplay_len, hidden_len, icon_len;
};

static bool id_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '+' || c == '-';
}

static bool id_valid_len(const char *id, size_t len)
{
	static const char suffix[] = ".desktop";
	const size_t sl = sizeof(suffix) - 1;

	if (len <= sl || len > APPMENU_ID_MAX || !id_char(id[0]) || id[0] == '.' || id[0] == '_' ||
	    id[0] == '+' || id[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!id_char(id[i]))
			return false;
	return memcmp(id + len - sl, suffix, sl) == 0;
}

bool appmenu_id_valid(const char *id)
{
	return id && id_valid_len(id, strlen(id));
}

static bool icon_valid_len(const char *s, size_t len)
{
	if (len == 0 || len > APPMENU_ICON_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!id_char(s[i]) && s[i] != '/')
			return false;
	/* No way up out of a directory, whatever the qube would do with it. */
	for (size_t i = 0; i + 1 < len; i++)
		if (s[i] == '.' && s[i + 1] == '.')
			return false;
	return true;
}

bool appmenu_icon_valid(const char *icon)
{
	return icon && icon_valid_len(icon, strlen(icon));
}

/* The length of the UTF-8 sequence at s (at most len bytes), or 0 when it is not valid or is
 * a control character. */
static size_t utf8_char(const unsigned char *s, size_t len)
{
	unsigned c = s[0];
	if (c < 0x20 || c == 0x7f)
		return 0;
	if (c < 0x80)
		return 1;
	size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
	if (n == 0 || n > len || c > 0xf4)
		return 0;
	uint32_t cp = c & (0xff >> (n + 1));
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
	if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
	    (cp >= 0x80 && cp <= 0x9f))
		return 0;
	return n;
}

bool appmenu_text_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_char(p + i, len - i);
		if (!n)
			return false;
		i += n;
	}
	return true;
}

static bool value_is(const char *v, size_t len, const char *word)
{
	return v && len == strlen(word) && memcmp(v, word, len) == 0;
}

/* A copy of a name, cut at APPMENU_NAME_MAX bytes on a character boundary. */
static char *name_copy(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t keep = 0;
	while (keep < len) {
		size_t n = utf8_char(p + keep, len - keep);
		if (keep + n > APPMENU_NAME_MAX)
			break;
		keep += n;
	}
	return strndup(s, keep) ?: (abort(), NULL);
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct appmenu_entry *)a)->id, ((const struct appmenu_entry *)b)->id);
}

/* Sets the field that key names (the others are ignored, as Qubes' format lists every key). */
static void take_key(struct raw_entry *e, const char *key, size_t klen, const char *v, size_t vlen)
{
	static const struct {
		const char *key;
		size_t off, len_off;
	} fields[] = {
#define F(k, f) {k, offsetof(struct raw_entry, f), offsetof(struct raw_entry, f##_len)}
	    F("Type", type),	 F("Name", name), F("NoDisplay", nodisplay),
	    F("Hidden", hidden), F("Icon", icon),
#undef F
	};
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		if (klen != strlen(fields[i].key) || memcmp(key, fields[i].key, klen) != 0)
			continue;
		/* The last line for a key wins, as in a desktop file. */
		*(const char **)((char *)e + fields[i].off) = v;
		*(size_t *)((char *)e + fields[i].len_off) = vlen;
	}
}

int appmenu_list_parse(const char *out, size_t len, struct appmenu_list *ret, const char **ret_why)
{
	_cleanup_free_ struct raw_entry *raw = NULL;
	size_t n_raw = 0;

	if (len > APPMENU_OUTPUT_MAX) {
		*ret_why = "the list is larger than 64 KiB";
		return -E2BIG;
	}
	raw = xcalloc(APPMENU_ENTRIES_MAX, sizeof(*raw));
	for (size_t off = 0; off < len;) {
		const char *line = out + off;
		const char *nl = memchr(line, '\n', len - off);
		size_t ll = nl ? (size_t)(nl - line) : len - off;
		off += ll + (nl ? 1 : 0);
		if (ll > APPMENU_LINE_MAX) {
			*ret_why = "a line is longer than 1024 bytes";
			return -E2BIG;
		}
		if (ll == 0)
			continue;
		if (!appmenu_text_valid(line, ll)) {
			*ret_why = "a line is not printable UTF-8 (control characters or invalid "
				   "bytes)";
			return -EINVAL;
		}
		const char *colon = memchr(line, ':', ll);
		const char *eq = colon ? memchr(colon, '=', ll - (size_t)(colon - line)) : NULL;
		if (!colon || !eq) {
			*ret_why = "a line is not ID:KEY=VALUE";
			return -EINVAL;
		}
		size_t id_len = (size_t)(colon - line);
		if (!id_valid_len(line, id_len)) {
			*ret_why = "an id is not a desktop-file id ([A-Za-z0-9._+-], ending in "
				   ".desktop, at most 128 bytes)";
			return -EINVAL;
		}
		struct raw_entry *e = NULL;
		for (size_t i = 0; i < n_raw && !e; i++)
			if (raw[i].id_len == id_len && memcmp(raw[i].id, line, id_len) == 0)
				e = &raw[i];
		if (!e) {
			if (n_raw == APPMENU_ENTRIES_MAX) {
				*ret_why = "more than 256 desktop entries";
				return -E2BIG;
			}
			e = &raw[n_raw++];
			e->id = line;
			e->id_len = id_len;
		}
		take_key(e, colon + 1, (size_t)(eq - colon - 1), eq + 1,
			 ll - (size_t)(eq + 1 - line));
	}

	struct appmenu_list l = {.v = xcalloc(n_raw ?: 1, sizeof(*l.v))};
	for (size_t i = 0; i < n_raw; i++) {
		struct raw_entry *e = &raw[i];
		/* What a menu shows: applications with a name that are not hidden. */
		if (!value_is(e->type, e->type_len, "Application") || !e->name || !e->name_len ||
		    value_is(e->nodisplay, e->nodisplay_len, "true") ||
		    value_is(e->hidden, e->hidden_len, "true"))
			continue;
		struct appmenu_entry *a = &l.v[l.n++];
		a->id = strndup(e->id, e->id_len);
		a->name = name_copy(e->name, e->name_len);
		/* An icon name outside the safe set is dropped, not the entry: the app still
		 * starts. */
		a->icon = e->icon && icon_valid_len(e->icon, e->icon_len)
			      ? strndup(e->icon, e->icon_len)
			      : NULL;
		if (!a->id)
			abort();
	}
	qsort(l.v, l.n, sizeof(*l.v), cmp_entry);
	*ret = l;
	return 0;
}

void appmenu_list_done(struct appmenu_list *l)
{
	for (size_t i = 0; l && i < l->n; i++) {
		free(l->v[i].id);
		free(l->v[i].name);
		free(l->v[i].icon);
	}
	if (l) {
		free(l->v);
		l->v = NULL;
		l->n = 0;
	}
}
