#include "ls-format.h"

#include <errno.h>
#include <string.h>

#include "util.h"

enum {
	COL_NAME,
	COL_STATE,
	COL_CLASS,
	COL_LABEL,
	COL_TEMPLATE,
	COL_NETVM,
	COL_IP,
	COL_MEMORY,
	N_COLS
};

static const struct {
	const char *title;
	const char *key;
	const char *fallback; /* when key is absent (a daemon from before it was listed) */
} columns[N_COLS] = {
    [COL_NAME] = {"NAME", "name", NULL},
    [COL_STATE] = {"STATE", "state", NULL},
    [COL_CLASS] = {"CLASS", "class", NULL},
    [COL_LABEL] = {"LABEL", "label", NULL},
    [COL_TEMPLATE] = {"TEMPLATE", "template", NULL},
    /* The netvm in effect: the one set, or the host's default_netvm. */
    [COL_NETVM] = {"NETVM", "netvm_effective", "netvm"},
    [COL_IP] = {"IP", "ip", NULL},
    /* A running qube's memory now, else what it starts with. */
    [COL_MEMORY] = {"MEMORY", "memory_current", "memory"},
};

/* Qubes' label colours (the same RGB the compositor draws), and the nearest of the 8 ANSI
 * colours by hue: a plain distance would turn green and orange into yellow. */
static const struct {
	const char *name;
	unsigned rgb;
	int ansi;
} labels[] = {
    {"red", 0xcc0000, 31},    {"orange", 0xf57900, 33}, {"yellow", 0xedd400, 33},
    {"green", 0x73d216, 32},  {"gray", 0x555753, 37},	{"blue", 0x3465a4, 34},
    {"purple", 0x75507b, 35}, {"black", 0x000000, 30},
};

/* The cell text of one column: strings as given, numbers in decimal, "-" for nothing. Control
 * characters become '?' so a name can never move the cursor. */
static char *cell_text(struct json_object *q, const char *key)
{
	struct json_object *v;
	char *s;

	if (!json_object_object_get_ex(q, key, &v) || !v)
		return xstrdup("-");
	switch (json_object_get_type(v)) {
	case json_type_string:
		if (json_object_get_string_len(v) == 0)
			return xstrdup("-");
		s = xstrdup(json_object_get_string(v));
		break;
	case json_type_int:
		s = xasprintf("%lld", (long long)json_object_get_int64(v));
		break;
	case json_type_boolean:
		s = xstrdup(json_object_get_boolean(v) ? "True" : "False");
		break;
	default:
		return xstrdup("-");
	}
	for (unsigned char *p = (unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
	return s;
}

/* Display width: one column per UTF-8 code point (qube names are ASCII; this only keeps other
 * text from breaking the alignment too badly). */
static size_t text_width(const char *s)
{
	size_t w = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p & 0xc0) != 0x80)
			w++;
	return w;
}

static int label_index(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(labels); i++)
		if (streq(labels[i].name, name))
			return (int)i;
	return -1;
}

static void print_label(FILE *out, const char *text, enum ls_colour colour)
{
	int i = colour == LS_COLOUR_NONE ? -1 : label_index(text);
	if (i < 0) {
		fputs(text, out);
		return;
	}
	unsigned rgb = labels[i].rgb;
	if (colour == LS_COLOUR_24BIT)
		fprintf(out, "\033[38;2;%u;%u;%um%s\033[0m", (rgb >> 16) & 0xff, (rgb >> 8) & 0xff,
			rgb & 0xff, text);
	else
		fprintf(out, "\033[%dm%s\033[0m", labels[i].ansi, text);
}

/* A preloaded disposable (admin.vm.List's "preloaded"): booted ahead for @dispvm calls and
 * run --dispvm, not a qube to use by name. Its state says so: "Preloaded" once it waits paused,
 * "Preloading" while it boots. */
static char *state_text(struct json_object *q)
{
	struct json_object *v;
	if (!json_object_object_get_ex(q, "preloaded", &v) || !json_object_get_boolean(v))
		return cell_text(q, "state");
	bool paused = json_object_object_get_ex(q, "state", &v) &&
		      json_object_is_type(v, json_type_string) &&
		      streq(json_object_get_string(v), "Paused");
	return xstrdup(paused ? "Preloaded" : "Preloading");
}

int ls_format(struct json_object *qubes, FILE *out, enum ls_colour colour)
{
	if (!json_object_is_type(qubes, json_type_array))
		return -EINVAL;

	size_t n = json_object_array_length(qubes);
	size_t width[N_COLS];
	char **cells = xcalloc((n + 1) * N_COLS, sizeof(char *));
	size_t rows = 1;

	for (size_t c = 0; c < N_COLS; c++) {
		cells[c] = xstrdup(columns[c].title);
		width[c] = text_width(cells[c]);
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *q = json_object_array_get_idx(qubes, i);
		if (!json_object_is_type(q, json_type_object))
			continue;
		for (size_t c = 0; c < N_COLS; c++) {
			const char *key = columns[c].key;
			if (columns[c].fallback && !json_object_object_get_ex(q, key, NULL))
				key = columns[c].fallback;
			char *t = c == COL_STATE ? state_text(q) : cell_text(q, key);
			size_t w = text_width(t);
			if (w > width[c])
				width[c] = w;
			cells[rows * N_COLS + c] = t;
		}
		rows++;
	}

	for (size_t r = 0; r < rows; r++) {
		for (size_t c = 0; c < N_COLS; c++) {
			const char *t = cells[r * N_COLS + c];
			if (r > 0 && c == COL_LABEL)
				print_label(out, t, colour);
			else
				fputs(t, out);
			if (c + 1 < N_COLS)
				fprintf(out, "%*s", (int)(width[c] - text_width(t) + 2), "");
		}
		fputc('\n', out);
	}

	for (size_t i = 0; i < rows * N_COLS; i++)
		free(cells[i]);
	free(cells);
	return ferror(out) ? -EIO : 0;
}

static bool is_internal(struct json_object *q)
{
	struct json_object *features, *v;
	return json_object_object_get_ex(q, "features", &features) &&
	       json_object_object_get_ex(features, "internal", &v) &&
	       json_object_is_type(v, json_type_string) && streq(json_object_get_string(v), "1");
}

static bool has_class(struct json_object *q, const char *klass)
{
	struct json_object *v;
	return json_object_object_get_ex(q, "class", &v) &&
	       json_object_is_type(v, json_type_string) && streq(json_object_get_string(v), klass);
}

struct json_object *ls_filter(struct json_object *qubes, bool all, const char *only_class)
{
	struct json_object *arr = json_object_new_array();
	size_t n =
	    json_object_is_type(qubes, json_type_array) ? json_object_array_length(qubes) : 0;

	for (size_t i = 0; i < n; i++) {
		struct json_object *q = json_object_array_get_idx(qubes, i);
		if (!json_object_is_type(q, json_type_object))
			continue;
		if (!all && is_internal(q))
			continue;
		if (only_class && !has_class(q, only_class))
			continue;
		json_object_array_add(arr, json_object_get(q));
	}
	return arr;
}
