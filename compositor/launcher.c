/*
 * The launcher: a list of the host's own programs and every qube's menu applications, drawn by
 * the compositor itself (the trusted side) in a scene tree above every window. Super pressed and
 * released alone opens it; typing filters it, Up/Down choose, Enter starts the chosen
 * application (admin.vm.apps.Run with autostart: its qube is started if needed) and Escape
 * closes it. While it is open no client has keyboard focus and every key comes here; the
 * trusted prompt comes before it (its keys, and its place on top).
 *
 * What it shows comes from bulkheadd when it opens (admin.vm.List, admin.vm.apps.List of each
 * qube); each entry is drawn in its qube's label colour, never in anything a qube chose. Icons
 * are only the PNGs bulkheadd's confined converter re-encoded (admin.vm.apps.Icon), decoded by
 * cairo, refused unless at most LAUNCHER_ICON_MAX pixels square, and cached per qube, id and
 * synced stamp. Names are already sanitised by bulkheadd; still, what is drawn is capped: each
 * name's length, the entries kept and the rows shown (the rest as "+N more").
 */
#include "launcher.h"

#include <cairo.h>
#include <drm_fourcc.h>
#include <errno.h>
#include <glib.h>
#include <pango/pangocairo.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wlr/types/wlr_buffer.h>
#include <xkbcommon/xkbcommon.h>

#include "decoration.h"
#include "frame.h"
#include "label.h"
#include "launcher-icon.h"
#include "log.h"
#include "prompt-api.h"
#include "qube-name.h"
#include "server.h"
#include "util.h"

#define LAUNCHER_MAX_ENTRIES 256 /* entries kept at once, host entries included */
#define LAUNCHER_MAX_ICONS   512 /* icons cached; the cache starts again when full */
#define LAUNCHER_NAME_CHARS  64	 /* characters of an application's name drawn */
#define LAUNCHER_FILTER_MAX  64	 /* bytes typed */
#define LAUNCHER_ID_MAX	     255
#define LAUNCHER_ROWS	     8 /* rows shown; the rest scroll */
#define LAUNCHER_STATUS_MAX  160

#define WIDTH	     600
#define PADDING	     14
#define HEADER	     32
#define STATUS	     24
#define ROW	     40
#define ROW_GAP	     6
#define ICON	     32
#define ICON_FRAME   4
#define FOOTER	     24
#define SELECT_WIDTH 3

/* The selection outline: a pale blue no label has. */
#define SELECT_RGB 0x99c1f1u

enum request_kind { REQ_VM_LIST, REQ_APPS_LIST, REQ_ICON };

/* A request on the list connection; replies come in order. */
struct request {
	struct wl_list link; /* launcher.requests, oldest first */
	enum request_kind kind;
	char qube[QUBE_NAME_MAX + 1];
	uint32_t rgb;
	char *id;
	int64_t synced;
};

struct icon {
	struct wl_list link; /* launcher.icons */
	char qube[QUBE_NAME_MAX + 1];
	char *id;
	int64_t synced;
	cairo_surface_t *surface; /* NULL: fetched and refused, or pending */
	bool pending;
};

struct entry {
	char qube[QUBE_NAME_MAX + 1]; /* "" for a host entry */
	char *id;		      /* host: the command line, words split on spaces */
	char *name;		      /* cleaned, capped */
	char *text;		      /* what is drawn and filtered: "qube: name", or the name */
	uint32_t rgb;
	int64_t synced;
	bool has_icon;
	const char *glyph;  /* a host entry's icon, drawn as text */
	struct wlr_box box; /* layout coordinates while drawn; width 0 when not */
};

/* The host's own programs: run on the host, as the user the compositor runs as. The settings
 * are `bulkhead settings` in a host terminal, so they need no window toolkit on the host. */
static const struct host_entry {
	const char *name, *command, *glyph;
} host_programs[] = {
    {"Terminal", "foot", ">_"},
    {"Settings", "foot --title=Settings bulkhead settings", "\u2699"},
};

struct launcher_buffer {
	struct wlr_buffer base;
	cairo_surface_t *surface;
};

struct launcher_output {
	struct wl_list link; /* launcher.outputs */
	struct launcher *launcher;
	struct wl_listener frame;
	struct wl_listener destroy;
};

struct launcher {
	struct server *server;
	bool open;
	struct wlr_scene_tree *tree;
	struct wlr_scene_buffer *image;
	int x, y; /* the image's top-left corner */
	int w, h; /* its size; 0 while not drawn */

	char filter[LAUNCHER_FILTER_MAX + 1];
	struct entry *entries;
	size_t n_entries;
	size_t *shown; /* indices of entries matching the filter */
	size_t n_shown;
	size_t selected; /* into shown */
	size_t scroll;	 /* first row drawn, into shown */
	char status[LAUNCHER_STATUS_MAX];

	struct api_conn *list_conn;
	struct wl_list requests; /* struct request.link */
	struct api_conn *run_conn;
	bool starting;

	struct wl_list icons; /* struct icon.link */
	size_t n_icons;

	uint32_t tap_keycode; /* Super pressed alone, not yet released; 0: none */
	struct wl_listener focus_change;
	struct wl_listener new_output;
	struct wl_list outputs;
};

static void redraw(struct launcher *l);

/* --- text --- */

/* name as drawn: sanitised like a title (no control or format characters) and cut to
 * LAUNCHER_NAME_CHARS characters. */
static char *clean_text(const char *s)
{
	char buf[DECORATION_TITLE_SIZE];
	decoration_title(NULL, s, buf, sizeof(buf));
	if (g_utf8_strlen(buf, -1) > LAUNCHER_NAME_CHARS) {
		char *end = g_utf8_offset_to_pointer(buf, LAUNCHER_NAME_CHARS - 1);
		strcpy(end, "\u2026");
	}
	return xstrdup(buf);
}

/* A desktop-file id as bulkheadd checks them: printable ASCII, no separators. */
static bool id_ok(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > LAUNCHER_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)id[i];
		if (c <= 0x20 || c >= 0x7f || c == '/')
			return false;
	}
	return true;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static void set_status(struct launcher *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_status(struct launcher *l, const char *fmt, ...)
{
	char raw[LAUNCHER_STATUS_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	/* It may carry bulkheadd's message: drawn and listed as plain, single-line text. */
	char buf[DECORATION_TITLE_SIZE];
	decoration_title(NULL, raw, buf, sizeof(buf));
	size_t n = strlen(buf);
	if (n >= sizeof(l->status)) {
		/* Cut at a character boundary. */
		n = sizeof(l->status) - 1;
		while (n > 0 && ((unsigned char)buf[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(l->status, buf, n);
	l->status[n] = '\0';
}

/* --- entries --- */

static void entry_finish(struct entry *e)
{
	free(e->id);
	free(e->name);
	free(e->text);
}

static void entries_clear(struct launcher *l)
{
	for (size_t i = 0; i < l->n_entries; i++)
		entry_finish(&l->entries[i]);
	l->n_entries = 0;
	l->n_shown = 0;
	l->selected = l->scroll = 0;
}

static bool entry_add(struct launcher *l, const char *qube, uint32_t rgb, const char *id,
		      const char *name, int64_t synced, bool has_icon)
{
	if (l->n_entries >= LAUNCHER_MAX_ENTRIES)
		return false;
	struct entry *e = &l->entries[l->n_entries++];
	memset(e, 0, sizeof(*e));
	snprintf(e->qube, sizeof(e->qube), "%s", qube);
	e->id = xstrdup(id);
	e->name = clean_text(name);
	e->text = *qube ? xasprintf("%s: %s", qube, e->name) : xstrdup(e->name);
	e->rgb = rgb;
	e->synced = synced;
	e->has_icon = has_icon;
	return true;
}

static void host_entries(struct launcher *l)
{
	for (size_t i = 0; i < ARRAY_SIZE(host_programs); i++)
		if (entry_add(l, "", LABEL_HOST_RGB, host_programs[i].command,
			      host_programs[i].name, 0, false))
			l->entries[l->n_entries - 1].glyph = host_programs[i].glyph;
}

/* Recomputes which entries match the filter, keeping the selected entry if it still does. */
static void apply_filter(struct launcher *l)
{
	const struct entry *was = l->n_shown ? &l->entries[l->shown[l->selected]] : NULL;
	char *needle = g_utf8_casefold(l->filter, -1);
	l->n_shown = 0;
	size_t keep = 0;
	for (size_t i = 0; i < l->n_entries; i++) {
		char *hay = g_utf8_casefold(l->entries[i].text, -1);
		if (strstr(hay, needle)) {
			if (&l->entries[i] == was)
				keep = l->n_shown;
			l->shown[l->n_shown++] = i;
		}
		g_free(hay);
	}
	g_free(needle);
	l->selected = keep < l->n_shown ? keep : 0;
}

/* --- icons --- */

static struct icon *icon_find(struct launcher *l, const char *qube, const char *id, int64_t synced)
{
	struct icon *ic;
	wl_list_for_each(ic, &l->icons, link)
	{
		if (ic->synced == synced && streq(ic->qube, qube) && streq(ic->id, id))
			return ic;
	}
	return NULL;
}

static void icon_free(struct icon *ic)
{
	wl_list_remove(&ic->link);
	if (ic->surface)
		cairo_surface_destroy(ic->surface);
	free(ic->id);
	free(ic);
}

static void icons_clear(struct launcher *l)
{
	struct icon *ic, *tmp;
	wl_list_for_each_safe(ic, tmp, &l->icons, link) icon_free(ic);
	l->n_icons = 0;
}

/* --- bulkheadd --- */

static void requests_clear(struct launcher *l)
{
	struct request *rq, *tmp;
	wl_list_for_each_safe(rq, tmp, &l->requests, link)
	{
		wl_list_remove(&rq->link);
		free(rq->id);
		free(rq);
	}
}

/* Forgets the requests not answered yet: the icons they asked for are asked for again next
 * time. */
static void requests_drop(struct launcher *l)
{
	requests_clear(l);
	struct icon *ic, *tmp;
	wl_list_for_each_safe(ic, tmp, &l->icons, link)
	{
		if (ic->pending) {
			icon_free(ic);
			l->n_icons--;
		}
	}
}

static void request(struct launcher *l, enum request_kind kind, const char *qube, uint32_t rgb,
		    const char *id, int64_t synced)
{
	if (!l->list_conn)
		return;
	const char *call = kind == REQ_VM_LIST	   ? "admin.vm.List"
			   : kind == REQ_APPS_LIST ? "admin.vm.apps.List"
						   : "admin.vm.apps.Icon";
	if (api_conn_request(l->list_conn, call, qube ? qube : "", id ? id : "", NULL) < 0)
		return;
	struct request *rq = xcalloc(1, sizeof(*rq));
	rq->kind = kind;
	snprintf(rq->qube, sizeof(rq->qube), "%s", qube ? qube : "");
	rq->rgb = rgb;
	rq->id = id ? xstrdup(id) : NULL;
	rq->synced = synced;
	wl_list_insert(l->requests.prev, &rq->link);
}

static void on_vm_list(struct launcher *l, struct json_object *result)
{
	if (!json_object_is_type(result, json_type_array))
		return;
	size_t n = json_object_array_length(result);
	for (size_t i = 0; i < n && i < MAX_QUBES * 4; i++) {
		struct json_object *q = json_object_array_get_idx(result, i);
		const char *name = jstr(q, "name"), *label = jstr(q, "label");
		const char *class = jstr(q, "class");
		uint32_t rgb;
		/* The host (dom0) has no menu of its own there: its programs are host_entries'. */
		if (class && streq(class, "AdminVM"))
			continue;
		if (!name || !label || qube_name_check(name, NULL) < 0 ||
		    label_rgb(label, &rgb) < 0)
			continue;
		request(l, REQ_APPS_LIST, name, rgb, NULL, 0);
	}
}

static void on_apps_list(struct launcher *l, const struct request *rq, struct json_object *result)
{
	struct json_object *apps, *v;
	int64_t synced = 0;
	if (json_object_object_get_ex(result, "synced", &v) &&
	    json_object_is_type(v, json_type_int))
		synced = json_object_get_int64(v);
	if (!json_object_object_get_ex(result, "apps", &apps) ||
	    !json_object_is_type(apps, json_type_array))
		return;
	size_t n = json_object_array_length(apps);
	for (size_t i = 0; i < n; i++) {
		struct json_object *a = json_object_array_get_idx(apps, i);
		const char *id = jstr(a, "id"), *name = jstr(a, "name");
		bool shown =
		    json_object_object_get_ex(a, "shown", &v) && json_object_get_boolean(v);
		bool has_icon =
		    json_object_object_get_ex(a, "icon", &v) && json_object_get_boolean(v);
		if (!shown || !id || !name || !id_ok(id))
			continue;
		if (!entry_add(l, rq->qube, rq->rgb, id, name, synced, has_icon))
			break;
		if (!has_icon || icon_find(l, rq->qube, id, synced))
			continue;
		if (l->n_icons >= LAUNCHER_MAX_ICONS)
			icons_clear(l);
		struct icon *ic = xcalloc(1, sizeof(*ic));
		snprintf(ic->qube, sizeof(ic->qube), "%s", rq->qube);
		ic->id = xstrdup(id);
		ic->synced = synced;
		ic->pending = true;
		wl_list_insert(&l->icons, &ic->link);
		l->n_icons++;
		request(l, REQ_ICON, rq->qube, rq->rgb, id, synced);
	}
	apply_filter(l);
}

static void on_icon(struct launcher *l, const struct request *rq, struct json_object *result)
{
	struct icon *ic = icon_find(l, rq->qube, rq->id, rq->synced);
	if (!ic)
		return;
	ic->pending = false;
	ic->surface = launcher_icon_decode(result ? jstr(result, "png") : NULL);
	if (!ic->surface)
		log_warn("launcher: icon of %s's %s refused (not a PNG of at most %dx%d pixels)",
			 rq->qube, rq->id, LAUNCHER_ICON_MAX, LAUNCHER_ICON_MAX);
}

static void list_on_frame(struct api_conn *conn, uint16_t type, struct json_object *o, void *data)
{
	struct launcher *l = data;
	if (type != CHAN_API_REPLY || wl_list_empty(&l->requests))
		return;
	struct request *rq = wl_container_of(l->requests.next, rq, link);
	wl_list_remove(&rq->link);
	struct json_object *ok, *result = NULL;
	bool good = json_object_object_get_ex(o, "ok", &ok) && json_object_get_boolean(ok);
	json_object_object_get_ex(o, "result", &result);
	if (!good && rq->kind == REQ_VM_LIST)
		set_status(l, "bulkheadd: %s", jstr(o, "message") ? jstr(o, "message") : "refused");
	if (good && rq->kind == REQ_VM_LIST)
		on_vm_list(l, result);
	else if (good && rq->kind == REQ_APPS_LIST)
		on_apps_list(l, rq, result);
	else if (rq->kind == REQ_ICON)
		on_icon(l, rq, good ? result : NULL);
	if (wl_list_empty(&l->requests) && streq(l->status, "loading\u2026"))
		l->status[0] = '\0';
	free(rq->id);
	free(rq);
	if (l->open)
		redraw(l);
}

static void list_on_closed(struct api_conn *conn, int error, void *data)
{
	struct launcher *l = data;
	api_conn_free(l->list_conn);
	l->list_conn = NULL;
	requests_drop(l);
	if (l->open && !l->starting) {
		set_status(l, "bulkheadd is not reachable: only the host's programs");
		redraw(l);
	}
}

static void refresh_lists(struct launcher *l)
{
	requests_drop(l);
	api_conn_free(l->list_conn);
	l->list_conn = NULL;
	entries_clear(l);
	host_entries(l);
	apply_filter(l);
	struct wl_event_loop *loop = wl_display_get_event_loop(l->server->display);
	int r = api_conn_open(loop, api_conn_socket_path(), list_on_frame, list_on_closed, l,
			      &l->list_conn);
	if (r < 0) {
		set_status(l, "bulkheadd is not reachable: only the host's programs");
		return;
	}
	set_status(l, "loading\u2026");
	request(l, REQ_VM_LIST, "", 0, NULL, 0);
}

/* --- starting --- */

static void launcher_close(struct launcher *l);

static void run_on_frame(struct api_conn *conn, uint16_t type, struct json_object *o, void *data)
{
	struct launcher *l = data;
	if (type != CHAN_API_REPLY)
		return;
	struct json_object *ok;
	bool good = json_object_object_get_ex(o, "ok", &ok) && json_object_get_boolean(ok);
	api_conn_free(l->run_conn);
	l->run_conn = NULL;
	bool was = l->starting;
	l->starting = false;
	if (!was)
		return;
	if (good) {
		launcher_close(l);
		return;
	}
	set_status(l, "error: %s", jstr(o, "message") ? jstr(o, "message") : "refused");
	log_warn("launcher: %s", l->status);
	redraw(l);
}

static void run_on_closed(struct api_conn *conn, int error, void *data)
{
	struct launcher *l = data;
	api_conn_free(l->run_conn);
	l->run_conn = NULL;
	if (!l->starting)
		return;
	l->starting = false;
	set_status(l, "error: bulkheadd went away (%s)", strerror(-error));
	redraw(l);
}

static int spawn_host(struct launcher *l, const char *command)
{
	extern char **environ;
	/* Our own fixed command lines (host_programs): words split on spaces, no quoting. */
	_cleanup_free_ char *copy = xstrdup(command);
	char *argv[16];
	size_t n = 0;
	for (char *save = NULL, *w = strtok_r(copy, " ", &save); w && n < ARRAY_SIZE(argv) - 1;
	     w = strtok_r(NULL, " ", &save))
		argv[n++] = w;
	argv[n] = NULL;
	if (n == 0)
		return -EINVAL;
	posix_spawnattr_t attr;
	sigset_t none;
	sigemptyset(&none);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSID);
	pid_t pid;
	int r = posix_spawnp(&pid, argv[0], NULL, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	(void)l;
	return -r;
}

static void start_selected(struct launcher *l)
{
	if (l->starting || l->n_shown == 0)
		return;
	struct entry *e = &l->entries[l->shown[l->selected]];
	if (!*e->qube) {
		int r = spawn_host(l, e->id);
		if (r < 0) {
			set_status(l, "error: cannot run %s: %s", e->id, strerror(-r));
			redraw(l);
			return;
		}
		log_info("launcher: started %s on the host", e->id);
		launcher_close(l);
		return;
	}
	api_conn_free(l->run_conn);
	l->run_conn = NULL;
	struct wl_event_loop *loop = wl_display_get_event_loop(l->server->display);
	int r = api_conn_open(loop, api_conn_socket_path(), run_on_frame, run_on_closed, l,
			      &l->run_conn);
	if (r == 0) {
		struct json_object *payload = json_object_new_object();
		json_object_object_add(payload, "autostart", json_object_new_boolean(true));
		r = api_conn_request(l->run_conn, "admin.vm.apps.Run", e->qube, e->id, payload);
		json_object_put(payload);
	}
	if (r < 0) {
		api_conn_free(l->run_conn);
		l->run_conn = NULL;
		set_status(l, "error: bulkheadd is not reachable (%s)", strerror(-r));
		redraw(l);
		return;
	}
	l->starting = true;
	log_info("launcher: starting %s in %s", e->id, e->qube);
	set_status(l, "starting %s\u2026", e->qube);
	redraw(l);
}

/* --- drawing --- */

static void buffer_destroy(struct wlr_buffer *base)
{
	struct launcher_buffer *b = wl_container_of(base, b, base);
	cairo_surface_destroy(b->surface);
	free(b);
}

static bool buffer_begin_access(struct wlr_buffer *base, uint32_t flags, void **data,
				uint32_t *format, size_t *stride)
{
	struct launcher_buffer *b = wl_container_of(base, b, base);
	if (flags & WLR_BUFFER_DATA_PTR_ACCESS_WRITE)
		return false;
	cairo_surface_flush(b->surface);
	*data = cairo_image_surface_get_data(b->surface);
	*format = DRM_FORMAT_ARGB8888;
	*stride = (size_t)cairo_image_surface_get_stride(b->surface);
	return true;
}

static void buffer_end_access(struct wlr_buffer *base)
{
}

static const struct wlr_buffer_impl buffer_impl = {
    .destroy = buffer_destroy,
    .begin_data_ptr_access = buffer_begin_access,
    .end_data_ptr_access = buffer_end_access,
};

static void set_rgb(cairo_t *cr, uint32_t rgb)
{
	cairo_set_source_rgb(cr, ((rgb >> 16) & 0xff) / 255.0, ((rgb >> 8) & 0xff) / 255.0,
			     (rgb & 0xff) / 255.0);
}

static void draw_text(cairo_t *cr, PangoLayout *layout, const char *text, bool bold, int x, int y,
		      int width, int height)
{
	PangoFontDescription *font =
	    pango_font_description_from_string(bold ? "Sans Bold 11" : "Sans 11");
	pango_layout_set_font_description(layout, font);
	pango_font_description_free(font);
	pango_layout_set_width(layout, width * PANGO_SCALE);
	pango_layout_set_ellipsize(layout, PANGO_ELLIPSIZE_END);
	/* Plain text, never markup. */
	pango_layout_set_text(layout, text, -1);
	int lw, lh;
	pango_layout_get_pixel_size(layout, &lw, &lh);
	cairo_move_to(cr, x, y + (height - lh) / 2);
	pango_cairo_show_layout(cr, layout);
}

static int rows_drawn(const struct launcher *l)
{
	return (int)(l->n_shown < LAUNCHER_ROWS ? l->n_shown : LAUNCHER_ROWS);
}

static int image_height(const struct launcher *l)
{
	int rows = rows_drawn(l);
	return 2 * PADDING + HEADER + STATUS + rows * (ROW + ROW_GAP) + FOOTER;
}

static void draw_entry(struct launcher *l, cairo_t *cr, PangoLayout *layout, struct entry *e, int y,
		       bool selected)
{
	int x = PADDING, w = WIDTH - 2 * PADDING;
	if (selected) {
		set_rgb(cr, SELECT_RGB);
		cairo_rectangle(cr, x - SELECT_WIDTH, y - SELECT_WIDTH, w + 2 * SELECT_WIDTH,
				ROW + 2 * SELECT_WIDTH);
		cairo_fill(cr);
	}
	/* The row in the qube's colour (the host's white for the host's programs); the icon
	 * inside a frame of that colour, on a dark ground of its own. */
	set_rgb(cr, e->rgb);
	cairo_rectangle(cr, x, y, w, ROW);
	cairo_fill(cr);
	int ix = x + ICON_FRAME, iy = y + (ROW - ICON) / 2;
	cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
	cairo_rectangle(cr, ix, iy, ICON, ICON);
	cairo_fill(cr);
	struct icon *ic = e->has_icon ? icon_find(l, e->qube, e->id, e->synced) : NULL;
	if (ic && ic->surface) {
		int iw = cairo_image_surface_get_width(ic->surface);
		int ih = cairo_image_surface_get_height(ic->surface);
		double scale = (double)ICON / (iw > ih ? iw : ih);
		cairo_save(cr);
		cairo_rectangle(cr, ix, iy, ICON, ICON);
		cairo_clip(cr);
		cairo_translate(cr, ix + (ICON - iw * scale) / 2, iy + (ICON - ih * scale) / 2);
		cairo_scale(cr, scale, scale);
		cairo_set_source_surface(cr, ic->surface, 0, 0);
		cairo_paint(cr);
		cairo_restore(cr);
	} else if (e->glyph) {
		cairo_set_source_rgb(cr, 1, 1, 1);
		draw_text(cr, layout, e->glyph, true, ix + 4, iy, ICON - 4, ICON);
	}
	set_rgb(cr, decoration_text_rgb(e->rgb));
	int tx = ix + ICON + 10;
	draw_text(cr, layout, e->text, selected, tx, y, x + w - tx - 8, ROW);
	e->box = (struct wlr_box){l->x + x, l->y + y, w, ROW};
}

static struct launcher_buffer *render(struct launcher *l)
{
	int height = image_height(l);
	struct launcher_buffer *b = xcalloc(1, sizeof(*b));
	b->surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, WIDTH, height);
	if (cairo_surface_status(b->surface) != CAIRO_STATUS_SUCCESS) {
		cairo_surface_destroy(b->surface);
		free(b);
		return NULL;
	}
	cairo_t *cr = cairo_create(b->surface);
	PangoLayout *layout = pango_cairo_create_layout(cr);
	int inner = WIDTH - 2 * PADDING;

	/* Host style: a dark box with a white frame, as the host's windows have. */
	cairo_set_source_rgb(cr, 1, 1, 1);
	cairo_paint(cr);
	cairo_set_source_rgb(cr, 0.16, 0.16, 0.16);
	cairo_rectangle(cr, 2, 2, WIDTH - 4, height - 4);
	cairo_fill(cr);

	int y = PADDING;
	char line[LAUNCHER_FILTER_MAX * 2 + 64];
	snprintf(line, sizeof(line), "Run: %s\u2581", l->filter);
	cairo_set_source_rgb(cr, 1, 1, 1);
	draw_text(cr, layout, line, true, PADDING, y, inner, HEADER);
	y += HEADER;
	cairo_set_source_rgb(cr, 0.85, 0.85, 0.85);
	draw_text(cr, layout, l->status, false, PADDING, y, inner, STATUS);
	y += STATUS;

	for (size_t i = 0; i < l->n_entries; i++)
		l->entries[i].box = (struct wlr_box){0};
	/* The selected row is always among the rows drawn. */
	if (l->selected < l->scroll)
		l->scroll = l->selected;
	if (l->selected >= l->scroll + LAUNCHER_ROWS)
		l->scroll = l->selected + 1 - LAUNCHER_ROWS;
	for (size_t i = l->scroll; i < l->n_shown && i < l->scroll + LAUNCHER_ROWS; i++) {
		y += ROW_GAP / 2;
		draw_entry(l, cr, layout, &l->entries[l->shown[i]], y, i == l->selected);
		y += ROW + ROW_GAP - ROW_GAP / 2;
	}
	size_t below = l->n_shown - (l->scroll + (size_t)rows_drawn(l) < l->n_shown
					 ? l->scroll + (size_t)rows_drawn(l)
					 : l->n_shown);
	cairo_set_source_rgb(cr, 0.7, 0.7, 0.7);
	if (l->n_shown == 0)
		snprintf(line, sizeof(line), "Nothing matches.    Escape: close");
	else if (l->scroll > 0 || below > 0)
		snprintf(line, sizeof(line),
			 "%zu above, +%zu more    Enter: start    Escape: close", l->scroll, below);
	else
		snprintf(line, sizeof(line), "Up/Down: choose    Enter: start    Escape: close");
	draw_text(cr, layout, line, false, PADDING, y, inner, FOOTER);

	g_object_unref(layout);
	cairo_destroy(cr);
	cairo_surface_flush(b->surface);
	wlr_buffer_init(&b->base, &buffer_impl, WIDTH, height);
	return b;
}

static void redraw(struct launcher *l)
{
	if (l->image) {
		wlr_scene_node_destroy(&l->image->node);
		l->image = NULL;
	}
	if (!l->open)
		return;
	struct wlr_box box = {0};
	struct wlr_box *layout_box = wlr_output_layout_get_box(l->server->output_layout, NULL);
	if (layout_box)
		box = *layout_box;
	int x = box.x + (box.width - WIDTH) / 2, y = box.y + box.height / 8;
	l->x = x > box.x ? x : box.x;
	l->y = y > box.y ? y : box.y;
	l->w = l->h = 0;
	struct launcher_buffer *b = render(l);
	if (!b)
		return;
	l->w = b->base.width;
	l->h = b->base.height;
	l->image = wlr_scene_buffer_create(&l->tree->node, &b->base);
	wlr_buffer_drop(&b->base);
	if (l->image)
		wlr_scene_node_set_position(&l->image->node, l->x, l->y);
}

/* --- open and close --- */

static void launcher_open(struct launcher *l)
{
	if (l->open)
		return;
	l->open = true;
	l->filter[0] = '\0';
	l->status[0] = '\0';
	l->starting = false;
	api_conn_free(l->run_conn);
	l->run_conn = NULL;
	refresh_lists(l);
	redraw(l);
	wlr_scene_node_set_enabled(&l->tree->node, true);
	wlr_scene_node_raise_to_top(&l->tree->node);
	wlr_seat_keyboard_clear_focus(l->server->seat);
	log_info("launcher: open");
}

static void launcher_close(struct launcher *l)
{
	if (!l->open)
		return;
	l->open = false;
	redraw(l);
	wlr_scene_node_set_enabled(&l->tree->node, false);
	requests_drop(l);
	api_conn_free(l->list_conn);
	l->list_conn = NULL;
	log_info("launcher: closed");
	if (prompt_active(l->server))
		return;
	/* Focus returns to the topmost window (a window just started takes it when it maps). */
	struct view *view;
	wl_list_for_each(view, &l->server->views, link)
	{
		if (view->xdg_surface->mapped &&
		    view->xdg_surface->role == WLR_XDG_SURFACE_ROLE_TOPLEVEL) {
			view_focus(view);
			break;
		}
	}
}

bool launcher_active(const struct server *server)
{
	return server->launcher && server->launcher->open;
}

static void filter_append(struct launcher *l, uint32_t ch)
{
	char utf8[8];
	int n = g_unichar_to_utf8(ch, utf8);
	size_t len = strlen(l->filter);
	if (len + (size_t)n > LAUNCHER_FILTER_MAX)
		return;
	memcpy(l->filter + len, utf8, (size_t)n);
	l->filter[len + (size_t)n] = '\0';
}

void launcher_handle_key(struct server *server, uint32_t keysym, uint32_t ch)
{
	struct launcher *l = server->launcher;
	if (!l || !l->open)
		return;
	switch (keysym) {
	case XKB_KEY_Escape:
		launcher_close(l);
		return;
	case XKB_KEY_Up:
	case XKB_KEY_KP_Up:
		if (l->selected > 0)
			l->selected--;
		break;
	case XKB_KEY_Down:
	case XKB_KEY_KP_Down:
		if (l->selected + 1 < l->n_shown)
			l->selected++;
		break;
	case XKB_KEY_Return:
	case XKB_KEY_KP_Enter:
		start_selected(l);
		return;
	case XKB_KEY_BackSpace: {
		size_t len = strlen(l->filter);
		if (len == 0)
			return;
		char *prev = g_utf8_find_prev_char(l->filter, l->filter + len);
		*(prev ? prev : l->filter) = '\0';
		apply_filter(l);
		break;
	}
	default:
		/* Printable characters filter; anything else is swallowed. */
		if (l->starting || ch < 0x20 || ch == 0x7f || !g_unichar_isprint(ch))
			return;
		filter_append(l, ch);
		apply_filter(l);
		break;
	}
	if (!l->starting && l->status[0] && strncmp(l->status, "error", 5) == 0)
		l->status[0] = '\0';
	redraw(l);
}

bool launcher_handle_button(struct server *server, double x, double y, bool pressed)
{
	struct launcher *l = server->launcher;
	if (!l || !l->open)
		return false;
	if (!pressed)
		return true;
	/* A click on a row starts it, as Enter on it would; one outside the launcher closes it. */
	for (size_t i = l->scroll; i < l->n_shown && i < l->scroll + LAUNCHER_ROWS; i++) {
		const struct wlr_box *b = &l->entries[l->shown[i]].box;
		if (b->width > 0 && wlr_box_contains_point(b, x, y)) {
			if (l->starting)
				return true;
			l->selected = i;
			redraw(l);
			start_selected(l);
			return true;
		}
	}
	struct wlr_box me = {l->x, l->y, l->w, l->h};
	if (!wlr_box_contains_point(&me, x, y))
		launcher_close(l);
	return true;
}

bool launcher_tap(struct server *server, uint32_t keycode, uint32_t keysym, bool pressed,
		  uint32_t mods)
{
	struct launcher *l = server->launcher;
	if (!l || server->kiosk_qube)
		return false;
	if (pressed) {
		bool super = keysym == XKB_KEY_Super_L || keysym == XKB_KEY_Super_R;
		l->tap_keycode = super && mods == 0 ? keycode : 0;
		return false;
	}
	if (l->tap_keycode == 0 || keycode != l->tap_keycode)
		return false;
	l->tap_keycode = 0;
	return true;
}

void launcher_tap_cancel(struct server *server)
{
	if (server->launcher)
		server->launcher->tap_keycode = 0;
}

void launcher_toggle(struct server *server)
{
	struct launcher *l = server->launcher;
	if (!l || prompt_active(server))
		return;
	if (l->open)
		launcher_close(l);
	else
		launcher_open(l);
}

/* --- the control socket --- */

char *launcher_describe(struct server *server)
{
	struct launcher *l = server->launcher;
	if (!l)
		return xstrdup("ok 0 0\n\t\n");
	GString *s = g_string_new(NULL);
	size_t n = l->open ? l->n_shown : 0;
	g_string_append_printf(s, "ok %d %zu\n%s\t%s\n", l->open ? 1 : 0, n, l->filter, l->status);
	for (size_t i = 0; i < n; i++) {
		const struct entry *e = &l->entries[l->shown[i]];
		/* Names and ids carry no tab or newline (cleaned, checked). */
		g_string_append_printf(
		    s, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\n", *e->qube ? e->qube : "-", e->id, e->name,
		    i == l->selected ? 1 : 0, e->box.x, e->box.y, e->box.width, e->box.height);
	}
	char *out = xstrdup(s->str);
	g_string_free(s, TRUE);
	return out;
}

/* --- staying on top, without focus for anyone --- */

static void handle_focus_change(struct wl_listener *listener, void *data)
{
	struct launcher *l = wl_container_of(listener, l, focus_change);
	struct wlr_seat_keyboard_focus_change_event *event = data;
	if (!l->open)
		return;
	wlr_scene_node_raise_to_top(&l->tree->node);
	if (event->new_surface)
		wlr_seat_keyboard_clear_focus(l->server->seat);
}

static void output_handle_frame(struct wl_listener *listener, void *data)
{
	struct launcher_output *lo = wl_container_of(listener, lo, frame);
	/* Called ahead of the prompt's own listener (ours went in later, at the head of the
	 * list): the prompt is raised after, and stays above. */
	if (lo->launcher->open)
		wlr_scene_node_raise_to_top(&lo->launcher->tree->node);
}

static void launcher_output_free(struct launcher_output *lo)
{
	wl_list_remove(&lo->frame.link);
	wl_list_remove(&lo->destroy.link);
	wl_list_remove(&lo->link);
	free(lo);
}

static void output_handle_destroy(struct wl_listener *listener, void *data)
{
	struct launcher_output *lo = wl_container_of(listener, lo, destroy);
	launcher_output_free(lo);
}

static void launcher_add_output(struct launcher *l, struct wlr_output *output)
{
	struct launcher_output *lo = xcalloc(1, sizeof(*lo));
	lo->launcher = l;
	lo->frame.notify = output_handle_frame;
	wl_list_insert(&output->events.frame.listener_list, &lo->frame.link);
	lo->destroy.notify = output_handle_destroy;
	wl_signal_add(&output->events.destroy, &lo->destroy);
	wl_list_insert(&l->outputs, &lo->link);
}

static void handle_new_output(struct wl_listener *listener, void *data)
{
	struct launcher *l = wl_container_of(listener, l, new_output);
	launcher_add_output(l, data);
}

int launcher_init(struct server *server)
{
	struct launcher *l = xcalloc(1, sizeof(*l));
	l->server = server;
	l->entries = xcalloc(LAUNCHER_MAX_ENTRIES, sizeof(*l->entries));
	l->shown = xcalloc(LAUNCHER_MAX_ENTRIES, sizeof(*l->shown));
	wl_list_init(&l->requests);
	wl_list_init(&l->icons);
	wl_list_init(&l->outputs);
	l->tree = wlr_scene_tree_create(&server->scene->node);
	if (!l->tree) {
		free(l->entries);
		free(l->shown);
		free(l);
		return -ENOMEM;
	}
	wlr_scene_node_set_enabled(&l->tree->node, false);
	l->focus_change.notify = handle_focus_change;
	wl_signal_add(&server->seat->keyboard_state.events.focus_change, &l->focus_change);
	/* After prompt_init: our frame listeners go in ahead of the prompt's, so it is raised
	 * last and stays above. */
	struct output *output;
	wl_list_for_each(output, &server->outputs, link) launcher_add_output(l, output->wlr_output);
	l->new_output.notify = handle_new_output;
	wl_signal_add(&server->backend->events.new_output, &l->new_output);
	server->launcher = l;
	return 0;
}

void launcher_finish(struct server *server)
{
	struct launcher *l = server->launcher;
	if (!l)
		return;
	requests_clear(l);
	api_conn_free(l->list_conn);
	api_conn_free(l->run_conn);
	entries_clear(l);
	icons_clear(l);
	free(l->entries);
	free(l->shown);
	wl_list_remove(&l->focus_change.link);
	wl_list_remove(&l->new_output.link);
	struct launcher_output *lo, *tmp;
	wl_list_for_each_safe(lo, tmp, &l->outputs, link) launcher_output_free(lo);
	wlr_scene_node_destroy(&l->tree->node);
	free(l);
	server->launcher = NULL;
}
