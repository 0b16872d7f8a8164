/*
 * The panel (panel.h). What it shows comes from three trusted places only: bulkheadd's
 * admin.vm.List (names, labels, states, memory), refreshed on each of its admin.Events; the
 * compositor's own tie between the focused window and its qube (never the window's title); and
 * the clock. It is drawn with cairo and pango into images shown in a scene tree that is raised
 * above every window before each frame, and redrawn only when what it shows changed.
 *
 * bulkheadd may be absent or restart: the events connection is retried every few seconds, and
 * the chips are cleared while it is down (their state is unknown then).
 */
#include "panel.h"

#include <cairo.h>
#include <errno.h>
#include <inttypes.h>
#include <pango/pangocairo.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wlr/types/wlr_buffer.h>
#include <xkbcommon/xkbcommon.h>

#include "decoration.h"
#include "frame.h"
#include "label.h"
#include "log.h"
#include "prompt-api.h"
#include "server.h"
#include "util.h"

extern char **environ;

#define PANEL_RETRY_MS	3000
#define PANEL_MEMORY_MS 5000 /* how often the chips' memory is asked for again */
/* Qubes kept from one admin.vm.List (running, paused or on their way); more are counted only. */
#define PANEL_MAX_QUBES	  256
#define PANEL_MAX_ACTIONS 8

#define PANEL_BG	 0x1e1e1eu
#define PANEL_FG	 0xffffffu
#define PANEL_FONT	 "Sans 10"
#define MENU_WIDTH	 150
#define MENU_ITEM_HEIGHT 26
#define MENU_BORDER	 2
#define MENU_MAX_ITEMS	 4

struct panel_qube {
	char name[QUBE_NAME_MAX + 1];
	char label[16];
	char state[16];
	int64_t memory; /* MiB */
	uint32_t rgb;
	bool
	    recording; /* it records from the host's microphone (admin.vm.List "audio_recording") */
};

struct chip {
	unsigned qube; /* index in panel.qubes */
	struct wlr_box box;
};

enum menu_action { MENU_TERMINAL, MENU_PAUSE, MENU_UNPAUSE, MENU_SHUTDOWN, MENU_KILL };

static const struct {
	const char *name;
	const char *call; /* NULL: the terminal, started through the CLI */
} menu_actions[] = {
    [MENU_TERMINAL] = {"Terminal", NULL},
    [MENU_PAUSE] = {"Pause", "admin.vm.Pause"},
    [MENU_UNPAUSE] = {"Unpause", "admin.vm.Unpause"},
    [MENU_SHUTDOWN] = {"Shut down", "admin.vm.Shutdown"},
    [MENU_KILL] = {"Kill", "admin.vm.Kill"},
};

struct menu_item {
	enum menu_action action;
	struct wlr_box box; /* layout coordinates */
};

struct action {
	struct panel *panel;
	struct api_conn *conn;
	char call[32];
	char qube[QUBE_NAME_MAX + 1];
};

struct panel {
	struct server *server;
	struct wlr_scene_tree *tree;
	struct wlr_scene_buffer **bars;
	size_t n_bars;
	struct wlr_scene_buffer *menu_node;
	cairo_surface_t *scratch; /* for measuring text */
	cairo_t *scratch_cr;
	PangoLayout *measure;

	struct panel_qube qubes[PANEL_MAX_QUBES];
	unsigned n_qubes;
	unsigned n_qubes_more; /* past PANEL_MAX_QUBES */
	bool known;	       /* a list arrived since bulkheadd was last reached */

	/* The first output's chips, for the control socket. */
	struct chip chips[PANEL_MAX_CHIPS];
	unsigned n_chips;
	struct wlr_box first_output;

	char focus[QUBE_NAME_MAX + 1]; /* "" nothing focused, "host", or a qube's name */
	uint32_t focus_rgb;
	char clock[8];

	bool menu_open;
	char menu_qube[QUBE_NAME_MAX + 1];
	struct menu_item menu[MENU_MAX_ITEMS];
	unsigned n_menu;
	unsigned menu_selected;
	bool swallow_release;

	struct api_conn *events;
	bool subscribed;
	struct api_conn *list;
	bool list_again;
	bool told;
	struct wl_event_source *retry;
	struct wl_event_source *clock_timer;
	struct action *actions[PANEL_MAX_ACTIONS];

	struct wl_listener focus_change;
	struct wl_listener layout_change;
};

static void set_source_rgb(cairo_t *cr, uint32_t rgb)
{
	cairo_set_source_rgb(cr, (double)((rgb >> 16) & 0xff) / 255.0,
			     (double)((rgb >> 8) & 0xff) / 255.0, (double)(rgb & 0xff) / 255.0);
}

static PangoLayout *text_layout(cairo_t *cr, const char *text, int width)
{
	PangoLayout *layout = pango_cairo_create_layout(cr);
	PangoFontDescription *font = pango_font_description_from_string(PANEL_FONT);
	pango_layout_set_font_description(layout, font);
	pango_font_description_free(font);
	pango_layout_set_single_paragraph_mode(layout, TRUE);
	if (width > 0) {
		pango_layout_set_width(layout, width * PANGO_SCALE);
		pango_layout_set_ellipsize(layout, PANGO_ELLIPSIZE_END);
	}
	pango_layout_set_text(layout, text, -1);
	return layout;
}

static void draw_text(cairo_t *cr, const char *text, uint32_t rgb, int x, int y, int width,
		      int height)
{
	if (width <= 0)
		return;
	PangoLayout *layout = text_layout(cr, text, width);
	int lw, lh;
	pango_layout_get_pixel_size(layout, &lw, &lh);
	set_source_rgb(cr, rgb);
	cairo_move_to(cr, x, y + (height - lh) / 2);
	pango_cairo_show_layout(cr, layout);
	g_object_unref(layout);
}

static void chip_text(const struct panel_qube *q, char *buf, size_t size)
{
	const char *state = strcmp(q->state, "Running") == 0	 ? ""
			    : strcmp(q->state, "Paused") == 0	 ? " (paused)"
			    : strcmp(q->state, "Transient") == 0 ? " (starting)"
			    : strcmp(q->state, "Halting") == 0	 ? " (halting)"
								 : " (?)";
	/* Room at the chip's end for the microphone mark (draw_mic). */
	snprintf(buf, size, "%s %" PRId64 " MiB%s%s", q->name, q->memory, state,
		 q->recording ? "     " : "");
}

#define MIC_MARK_WIDTH 14

/* A microphone (capsule, cradle and stand) in the qube's colour on a patch of the panel's,
 * at the right end of box: the qube records from the host's microphone now. */
static void draw_mic(cairo_t *cr, const struct wlr_box *b, uint32_t rgb)
{
	int x = b->x + b->width - PANEL_CHIP_PADDING - MIC_MARK_WIDTH, y = b->y + 3;
	int h = b->height - 6;
	set_source_rgb(cr, PANEL_BG);
	cairo_rectangle(cr, x, y, MIC_MARK_WIDTH, h);
	cairo_fill(cr);
	set_source_rgb(cr, rgb == 0x000000 ? 0x888888 : rgb);
	double cx = x + MIC_MARK_WIDTH / 2.0, top = y + 2, cap_h = h * 0.5;
	cairo_rectangle(cr, cx - 2.5, top, 5, cap_h);
	cairo_fill(cr);
	cairo_set_line_width(cr, 1.5);
	cairo_arc_negative(cr, cx, top + cap_h - 1, 4.5, 0, 3.14159265);
	cairo_stroke(cr);
	cairo_move_to(cr, cx, top + cap_h + 3.5);
	cairo_line_to(cr, cx, y + h - 2);
	cairo_move_to(cr, cx - 3, y + h - 2);
	cairo_line_to(cr, cx + 3, y + h - 2);
	cairo_stroke(cr);
}

/* Chips for a panel width wide (panel_layout_chips), with their qubes' indexes. */
static unsigned layout_chips(struct panel *p, int width, struct chip *chips, unsigned *ret_hidden)
{
	int widths[PANEL_MAX_CHIPS + 1];
	struct wlr_box boxes[PANEL_MAX_CHIPS];
	/* One more than can be drawn: enough to know whether "+N" needs room. */
	unsigned n = p->n_qubes < PANEL_MAX_CHIPS + 1 ? p->n_qubes : PANEL_MAX_CHIPS + 1;
	for (unsigned i = 0; i < n; i++) {
		char text[QUBE_NAME_MAX + 64];
		chip_text(&p->qubes[i], text, sizeof(text));
		pango_layout_set_text(p->measure, text, -1);
		int th;
		pango_layout_get_pixel_size(p->measure, &widths[i], &th);
	}
	unsigned shown = panel_layout_chips(widths, n, p->n_qubes - n + p->n_qubes_more, width,
					    boxes, ret_hidden);
	for (unsigned i = 0; i < shown; i++) {
		chips[i].qube = i;
		chips[i].box = boxes[i];
	}
	return shown;
}

static struct wlr_buffer *draw_bar(struct panel *p, int width)
{
	cairo_surface_t *surface =
	    cairo_image_surface_create(CAIRO_FORMAT_ARGB32, width, PANEL_HEIGHT);
	if (cairo_surface_status(surface) != CAIRO_STATUS_SUCCESS) {
		cairo_surface_destroy(surface);
		return NULL;
	}
	cairo_t *cr = cairo_create(surface);
	set_source_rgb(cr, PANEL_BG);
	cairo_paint(cr);

	struct chip chips[PANEL_MAX_CHIPS];
	unsigned hidden;
	unsigned n = layout_chips(p, width, chips, &hidden);
	int more_x = PANEL_CHIP_GAP;
	for (unsigned i = 0; i < n; i++) {
		const struct panel_qube *q = &p->qubes[chips[i].qube];
		const struct wlr_box *b = &chips[i].box;
		set_source_rgb(cr, q->rgb);
		cairo_rectangle(cr, b->x, b->y, b->width, b->height);
		cairo_fill(cr);
		if (strcmp(q->state, "Running") != 0) {
			/* Not running: a darker band along the chip's bottom edge. */
			set_source_rgb(cr, PANEL_BG);
			cairo_rectangle(cr, b->x, b->y + b->height - 3, b->width, 3);
			cairo_fill(cr);
		}
		char text[QUBE_NAME_MAX + 64];
		chip_text(q, text, sizeof(text));
		draw_text(cr, text, decoration_text_rgb(q->rgb), b->x + PANEL_CHIP_PADDING, b->y,
			  b->width - 2 * PANEL_CHIP_PADDING, b->height);
		if (q->recording)
			draw_mic(cr, b, q->rgb);
		more_x = b->x + b->width + PANEL_CHIP_GAP;
	}
	if (hidden > 0) {
		char more[32];
		snprintf(more, sizeof(more), "+%u", hidden);
		draw_text(cr, more, PANEL_FG, more_x, 0, PANEL_MORE_WIDTH, PANEL_HEIGHT);
	}
	int focus_x = width - PANEL_CLOCK_WIDTH - PANEL_FOCUS_WIDTH;
	if (p->focus[0] && focus_x > 0) {
		/* The focused window's qube: a square and its name in its label colour (gray
		 * for black, which would not show on the panel). */
		uint32_t rgb = p->focus_rgb == 0x000000 ? 0x888888 : p->focus_rgb;
		set_source_rgb(cr, rgb);
		cairo_rectangle(cr, focus_x + 4, (PANEL_HEIGHT - 10) / 2, 10, 10);
		cairo_fill(cr);
		draw_text(cr, p->focus, rgb, focus_x + 20, 0, PANEL_FOCUS_WIDTH - 24, PANEL_HEIGHT);
	}
	if (width > PANEL_CLOCK_WIDTH)
		draw_text(cr, p->clock, PANEL_FG, width - PANEL_CLOCK_WIDTH + 12, 0,
			  PANEL_CLOCK_WIDTH - 12, PANEL_HEIGHT);
	cairo_destroy(cr);
	return decoration_image_buffer(surface);
}

static void draw_menu(struct panel *p);

static void panel_redraw(struct panel *p)
{
	struct server *server = p->server;
	for (size_t i = 0; i < p->n_bars; i++)
		wlr_scene_node_destroy(&p->bars[i]->node);
	free(p->bars);
	p->bars = NULL;
	p->n_bars = 0;
	p->n_chips = 0;
	p->first_output = (struct wlr_box){0};

	size_t n_outputs = (size_t)wl_list_length(&server->outputs);
	if (n_outputs == 0)
		return;
	p->bars = calloc(n_outputs, sizeof(*p->bars));
	if (!p->bars)
		return;
	struct wlr_output *first = output_for_point(server, 0, 0);
	struct output *output;
	wl_list_for_each(output, &server->outputs, link)
	{
		struct wlr_box *box =
		    wlr_output_layout_get_box(server->output_layout, output->wlr_output);
		if (!box || box->width <= 0)
			continue;
		if (output->wlr_output == first) {
			unsigned hidden;
			p->first_output = *box;
			p->n_chips = layout_chips(p, box->width, p->chips, &hidden);
		}
		struct wlr_buffer *buffer = draw_bar(p, box->width);
		if (!buffer) {
			log_error("panel %dx%d: cannot draw it", box->width, PANEL_HEIGHT);
			continue;
		}
		struct wlr_scene_buffer *node = wlr_scene_buffer_create(&p->tree->node, buffer);
		wlr_buffer_drop(buffer);
		if (!node)
			continue;
		wlr_scene_node_set_position(&node->node, box->x, box->y);
		p->bars[p->n_bars++] = node;
	}
	/* The menu stays above the bars. */
	if (p->menu_node)
		wlr_scene_node_raise_to_top(&p->menu_node->node);
}

/* --- the qubes, from bulkheadd --- */

static const struct panel_qube *find_qube(const struct panel *p, const char *name)
{
	for (unsigned i = 0; i < p->n_qubes; i++)
		if (strcmp(p->qubes[i].name, name) == 0)
			return &p->qubes[i];
	return NULL;
}

static void menu_close(struct panel *p);

static void set_qubes(struct panel *p, const struct panel_qube *qubes, unsigned n, unsigned more)
{
	if (n == p->n_qubes && more == p->n_qubes_more &&
	    (n == 0 || memcmp(qubes, p->qubes, n * sizeof(*qubes)) == 0))
		return;
	if (n > 0)
		memcpy(p->qubes, qubes, n * sizeof(*qubes));
	p->n_qubes = n;
	p->n_qubes_more = more;
	if (p->menu_open) {
		/* The menu follows its qube's state, and goes with it. */
		if (find_qube(p, p->menu_qube))
			draw_menu(p);
		else
			menu_close(p);
	}
	panel_redraw(p);
}

static const char *json_string(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static void handle_list(struct panel *p, struct json_object *o)
{
	struct json_object *v, *result;
	if (!json_object_object_get_ex(o, "ok", &v) || !json_object_get_boolean(v) ||
	    !json_object_object_get_ex(o, "result", &result) ||
	    !json_object_is_type(result, json_type_array)) {
		log_warn("panel: admin.vm.List failed: %s",
			 json_string(o, "message") ? json_string(o, "message") : "?");
		return;
	}
	static struct panel_qube qubes[PANEL_MAX_QUBES];
	memset(qubes, 0, sizeof(qubes));
	unsigned n = 0, more = 0;
	size_t len = json_object_array_length(result);
	for (size_t i = 0; i < len; i++) {
		struct json_object *q = json_object_array_get_idx(result, i);
		const char *name = json_string(q, "name"), *label = json_string(q, "label");
		const char *state = json_string(q, "state"), *cls = json_string(q, "class");
		const char *reason;
		uint32_t rgb;
		if (!name || !label || !state || (cls && strcmp(cls, "AdminVM") == 0) ||
		    strcmp(state, "Halted") == 0 || qube_name_check(name, &reason) < 0 ||
		    label_rgb(label, &rgb) < 0 || strlen(state) >= sizeof(qubes[0].state))
			continue;
		if (n == PANEL_MAX_QUBES) {
			more++;
			continue;
		}
		struct panel_qube *pq = &qubes[n++];
		snprintf(pq->name, sizeof(pq->name), "%s", name);
		snprintf(pq->label, sizeof(pq->label), "%s", label);
		snprintf(pq->state, sizeof(pq->state), "%s", state);
		pq->rgb = rgb;
		if (json_object_object_get_ex(q, "memory_current", &v) ||
		    json_object_object_get_ex(q, "memory", &v))
			pq->memory = json_object_get_int64(v);
		if (pq->memory < 0)
			pq->memory = 0;
		pq->recording = json_object_object_get_ex(q, "audio_recording", &v) &&
				json_object_get_boolean(v);
	}
	set_qubes(p, qubes, n, more);
}

static void list_request(struct panel *p);

static void list_on_frame(struct api_conn *conn, uint16_t type, struct json_object *o, void *data)
{
	struct panel *p = data;
	if (type != CHAN_API_REPLY)
		return;
	api_conn_free(p->list);
	p->list = NULL;
	handle_list(p, o);
	if (p->list_again)
		list_request(p);
}

static void list_on_closed(struct api_conn *conn, int error, void *data)
{
	struct panel *p = data;
	api_conn_free(p->list);
	p->list = NULL;
	/* The events connection notices bulkheadd going away and starts over. */
}

/* Asks for the whole list again: events say which qube changed, the list says how it is now,
 * so a missed or reordered event cannot leave a stale chip. One request at a time. */
static void list_request(struct panel *p)
{
	if (p->list) {
		p->list_again = true;
		return;
	}
	p->list_again = false;
	struct wl_event_loop *loop = wl_display_get_event_loop(p->server->display);
	if (api_conn_open(loop, api_conn_socket_path(), list_on_frame, list_on_closed, p,
			  &p->list) < 0) {
		p->list = NULL;
		return;
	}
	if (api_conn_request(p->list, "admin.vm.List", "", "", NULL) < 0) {
		api_conn_free(p->list);
		p->list = NULL;
	}
}

static void events_again_later(struct panel *p)
{
	api_conn_free(p->events);
	p->events = NULL;
	p->subscribed = false;
	/* A list asked for before is as stale as the chips. */
	api_conn_free(p->list);
	p->list = NULL;
	p->list_again = false;
	set_qubes(p, NULL, 0, 0);
	wl_event_source_timer_update(p->retry, PANEL_RETRY_MS);
}

static void events_on_frame(struct api_conn *conn, uint16_t type, struct json_object *o, void *data)
{
	struct panel *p = data;
	if (type == CHAN_API_REPLY && !p->subscribed) {
		struct json_object *v;
		if (!json_object_object_get_ex(o, "ok", &v) || !json_object_get_boolean(v)) {
			if (!p->told)
				log_warn("panel: bulkheadd refused admin.Events: %s",
					 json_string(o, "message") ? json_string(o, "message")
								   : "?");
			p->told = true;
			events_again_later(p);
			return;
		}
		p->subscribed = true;
		p->told = false;
		/* Subscribed first, listed second: no change falls between the two. */
		list_request(p);
		wl_event_source_timer_update(p->retry, PANEL_MEMORY_MS);
		return;
	}
	if (type != CHAN_API_EVENT)
		return;
	const char *event = json_string(o, "event");
	if (event && (strncmp(event, "domain-", 7) == 0 || strcmp(event, "property-set") == 0 ||
		      strcmp(event, "audio-state") == 0))
		list_request(p);
}

static void events_on_closed(struct api_conn *conn, int error, void *data)
{
	struct panel *p = data;
	if (!p->told)
		log_info("panel: bulkheadd not reachable at %s (%s); retrying every %d s",
			 api_conn_socket_path(), strerror(-error), PANEL_RETRY_MS / 1000);
	p->told = true;
	events_again_later(p);
}

static void events_connect(struct panel *p)
{
	struct wl_event_loop *loop = wl_display_get_event_loop(p->server->display);
	int r = api_conn_open(loop, api_conn_socket_path(), events_on_frame, events_on_closed, p,
			      &p->events);
	if (r == 0)
		r = api_conn_request(p->events, "admin.Events", "", "", NULL);
	if (r < 0) {
		if (!p->told)
			log_info("panel: bulkheadd not reachable at %s (%s); retrying every %d s",
				 api_conn_socket_path(), strerror(-r), PANEL_RETRY_MS / 1000);
		p->told = true;
		if (p->events)
			events_again_later(p);
		else
			wl_event_source_timer_update(p->retry, PANEL_RETRY_MS);
	}
}

/* Reconnects while bulkheadd is away; while subscribed, lists again every PANEL_MEMORY_MS: the
 * memory balancer moves qubes' memory without an event. */
static int retry_timer(void *data)
{
	struct panel *p = data;
	if (!p->events) {
		events_connect(p);
	} else if (p->subscribed) {
		list_request(p);
		wl_event_source_timer_update(p->retry, PANEL_MEMORY_MS);
	}
	return 0;
}

/* --- actions from the menu --- */

static void action_free(struct action *a)
{
	for (size_t i = 0; i < PANEL_MAX_ACTIONS; i++)
		if (a->panel->actions[i] == a)
			a->panel->actions[i] = NULL;
	api_conn_free(a->conn);
	free(a);
}

static void action_on_frame(struct api_conn *conn, uint16_t type, struct json_object *o, void *data)
{
	struct action *a = data;
	if (type != CHAN_API_REPLY)
		return;
	struct json_object *v;
	if (!json_object_object_get_ex(o, "ok", &v) || !json_object_get_boolean(v))
		log_warn("panel: %s %s: %s", a->call, a->qube,
			 json_string(o, "message") ? json_string(o, "message") : "failed");
	action_free(a);
}

static void action_on_closed(struct api_conn *conn, int error, void *data)
{
	struct action *a = data;
	log_warn("panel: %s %s: %s", a->call, a->qube, strerror(-error));
	action_free(a);
}

static void action_call(struct panel *p, const char *call, const char *qube)
{
	size_t slot = PANEL_MAX_ACTIONS;
	for (size_t i = 0; i < PANEL_MAX_ACTIONS; i++)
		if (!p->actions[i]) {
			slot = i;
			break;
		}
	if (slot == PANEL_MAX_ACTIONS) {
		log_warn("panel: %s %s: too many calls under way", call, qube);
		return;
	}
	struct action *a = calloc(1, sizeof(*a));
	if (!a)
		return;
	a->panel = p;
	snprintf(a->call, sizeof(a->call), "%s", call);
	snprintf(a->qube, sizeof(a->qube), "%s", qube);
	struct wl_event_loop *loop = wl_display_get_event_loop(p->server->display);
	int r = api_conn_open(loop, api_conn_socket_path(), action_on_frame, action_on_closed, a,
			      &a->conn);
	if (r == 0) {
		struct json_object *payload = NULL;
		if (strcmp(call, "admin.vm.Shutdown") == 0) {
			payload = json_object_new_object();
			json_object_object_add(payload, "force", json_object_new_boolean(false));
		}
		r = api_conn_request(a->conn, call, qube, "", payload);
		json_object_put(payload);
	}
	if (r < 0) {
		log_warn("panel: %s %s: %s", call, qube, strerror(-r));
		api_conn_free(a->conn);
		free(a);
		return;
	}
	p->actions[slot] = a;
	log_info("panel: %s %s", call, qube);
}

/* A terminal in the qube, through the CLI as a user would start one ($BULKHEAD_CLI, as the
 * session scripts take it). The compositor reaps it (SIGCHLD). */
static void run_terminal(const char *qube)
{
	const char *cli = getenv("BULKHEAD_CLI");
	if (!cli || !*cli)
		cli = "bulkhead";
	char *argv[] = {(char *)cli, "run", (char *)qube, "--", "foot", NULL};
	/* Not the compositor's signal mask (its event loop blocks the signals it handles). */
	posix_spawnattr_t attr;
	sigset_t none;
	sigemptyset(&none);
	int r = posix_spawnattr_init(&attr);
	if (r == 0) {
		posix_spawnattr_setsigmask(&attr, &none);
		posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
		pid_t pid;
		r = posix_spawnp(&pid, cli, NULL, &attr, argv, environ);
		posix_spawnattr_destroy(&attr);
	}
	if (r != 0)
		log_warn("panel: cannot start %s run %s -- foot: %s", cli, qube, strerror(r));
	else
		log_info("panel: terminal in %s", qube);
}

/* --- the menu --- */

static void draw_menu(struct panel *p)
{
	if (p->menu_node) {
		wlr_scene_node_destroy(&p->menu_node->node);
		p->menu_node = NULL;
	}
	const struct panel_qube *q = find_qube(p, p->menu_qube);
	if (!q)
		return;
	/* The items' boxes are laid out once when the menu opens; only Pause/Unpause follows
	 * the state. */
	for (unsigned i = 0; i < p->n_menu; i++) {
		if (p->menu[i].action == MENU_PAUSE || p->menu[i].action == MENU_UNPAUSE)
			p->menu[i].action =
			    strcmp(q->state, "Paused") == 0 ? MENU_UNPAUSE : MENU_PAUSE;
	}
	int height = (int)p->n_menu * MENU_ITEM_HEIGHT + 2 * MENU_BORDER;
	cairo_surface_t *surface =
	    cairo_image_surface_create(CAIRO_FORMAT_ARGB32, MENU_WIDTH, height);
	if (cairo_surface_status(surface) != CAIRO_STATUS_SUCCESS) {
		cairo_surface_destroy(surface);
		return;
	}
	cairo_t *cr = cairo_create(surface);
	/* Framed in the qube's colour, so it is plain which qube the actions are for. */
	set_source_rgb(cr, q->rgb == 0x000000 ? 0x888888 : q->rgb);
	cairo_paint(cr);
	set_source_rgb(cr, 0x2a2a2a);
	cairo_rectangle(cr, MENU_BORDER, MENU_BORDER, MENU_WIDTH - 2 * MENU_BORDER,
			height - 2 * MENU_BORDER);
	cairo_fill(cr);
	for (unsigned i = 0; i < p->n_menu; i++) {
		int y = MENU_BORDER + (int)i * MENU_ITEM_HEIGHT;
		if (i == p->menu_selected) {
			set_source_rgb(cr, 0x4a4a4a);
			cairo_rectangle(cr, MENU_BORDER, y, MENU_WIDTH - 2 * MENU_BORDER,
					MENU_ITEM_HEIGHT);
			cairo_fill(cr);
		}
		draw_text(cr, menu_actions[p->menu[i].action].name, PANEL_FG, MENU_BORDER + 10, y,
			  MENU_WIDTH - 2 * MENU_BORDER - 20, MENU_ITEM_HEIGHT);
	}
	cairo_destroy(cr);
	struct wlr_buffer *buffer = decoration_image_buffer(surface);
	if (!buffer)
		return;
	p->menu_node = wlr_scene_buffer_create(&p->tree->node, buffer);
	wlr_buffer_drop(buffer);
	if (p->menu_node)
		wlr_scene_node_set_position(&p->menu_node->node, p->menu[0].box.x,
					    p->menu[0].box.y - MENU_BORDER);
}

static void menu_open(struct panel *p, const struct panel_qube *q, int lx, int ly)
{
	static const enum menu_action items[MENU_MAX_ITEMS] = {MENU_TERMINAL, MENU_PAUSE,
							       MENU_SHUTDOWN, MENU_KILL};
	snprintf(p->menu_qube, sizeof(p->menu_qube), "%s", q->name);
	p->n_menu = MENU_MAX_ITEMS;
	p->menu_selected = 0;
	for (unsigned i = 0; i < p->n_menu; i++) {
		p->menu[i].action = items[i];
		p->menu[i].box =
		    (struct wlr_box){lx + MENU_BORDER, ly + MENU_BORDER + (int)i * MENU_ITEM_HEIGHT,
				     MENU_WIDTH - 2 * MENU_BORDER, MENU_ITEM_HEIGHT};
	}
	p->menu_open = true;
	draw_menu(p);
	log_info("panel: menu for %s", q->name);
}

static void menu_close(struct panel *p)
{
	if (p->menu_node)
		wlr_scene_node_destroy(&p->menu_node->node);
	p->menu_node = NULL;
	p->menu_open = false;
	p->n_menu = 0;
}

static void menu_activate(struct panel *p, unsigned i)
{
	char qube[QUBE_NAME_MAX + 1];
	enum menu_action action = p->menu[i].action;
	snprintf(qube, sizeof(qube), "%s", p->menu_qube);
	menu_close(p);
	if (menu_actions[action].call)
		action_call(p, menu_actions[action].call, qube);
	else
		run_terminal(qube);
}

bool panel_menu_active(const struct server *server)
{
	return server->panel && server->panel->menu_open;
}

void panel_handle_key(struct server *server, uint32_t keysym)
{
	struct panel *p = server->panel;
	if (!p || !p->menu_open)
		return;
	switch (keysym) {
	case XKB_KEY_Escape:
		menu_close(p);
		break;
	case XKB_KEY_Up:
		p->menu_selected = (p->menu_selected + p->n_menu - 1) % p->n_menu;
		draw_menu(p);
		break;
	case XKB_KEY_Down:
		p->menu_selected = (p->menu_selected + 1) % p->n_menu;
		draw_menu(p);
		break;
	case XKB_KEY_Return:
	case XKB_KEY_KP_Enter:
		menu_activate(p, p->menu_selected);
		break;
	default:
		break;
	}
}

static bool in_box(const struct wlr_box *b, double x, double y)
{
	return x >= b->x && x < b->x + b->width && y >= b->y && y < b->y + b->height;
}

bool panel_handle_button(struct server *server, double lx, double ly, bool pressed)
{
	struct panel *p = server->panel;
	if (!p)
		return false;
	if (!pressed) {
		bool swallow = p->swallow_release;
		p->swallow_release = false;
		return swallow;
	}
	struct wlr_output *output = wlr_output_layout_output_at(server->output_layout, lx, ly);
	struct wlr_box *box =
	    output ? wlr_output_layout_get_box(server->output_layout, output) : NULL;
	bool on_strip = box && ly >= box->y && ly < box->y + PANEL_HEIGHT;
	if (!p->menu_open && !on_strip)
		return false;
	/* As a click on another window would, it ends a client's popup grab. */
	popup_grab_dismiss(server);
	if (p->menu_open) {
		p->swallow_release = true;
		for (unsigned i = 0; i < p->n_menu; i++)
			if (in_box(&p->menu[i].box, lx, ly)) {
				menu_activate(p, i);
				return true;
			}
		/* A click anywhere else closes the menu, and does nothing more. */
		menu_close(p);
		return true;
	}
	p->swallow_release = true;
	struct chip chips[PANEL_MAX_CHIPS];
	unsigned hidden;
	unsigned n = layout_chips(p, box->width, chips, &hidden);
	for (unsigned i = 0; i < n; i++) {
		if (in_box(&chips[i].box, lx - box->x, ly - box->y)) {
			menu_open(p, &p->qubes[chips[i].qube], box->x + chips[i].box.x,
				  box->y + PANEL_HEIGHT);
			break;
		}
	}
	return true;
}

/* --- focus, clock, outputs --- */

static void handle_focus_change(struct wl_listener *listener, void *data)
{
	struct panel *p = wl_container_of(listener, p, focus_change);
	struct wlr_seat_keyboard_focus_change_event *event = data;
	char focus[sizeof(p->focus)] = "";
	uint32_t rgb = LABEL_HOST_RGB;
	struct view *v;
	if (event->new_surface) {
		wl_list_for_each(v, &p->server->views, link)
		{
			if (v->xdg_surface->surface != event->new_surface)
				continue;
			/* The qube of the window's connection, never anything the window says. */
			snprintf(focus, sizeof(focus), "%s", v->qube ? v->qube->name : "host");
			rgb = v->qube ? v->qube->rgb : LABEL_HOST_RGB;
			break;
		}
	}
	if (strcmp(focus, p->focus) == 0 && rgb == p->focus_rgb)
		return;
	memcpy(p->focus, focus, sizeof(focus));
	p->focus_rgb = rgb;
	panel_redraw(p);
}

static int clock_tick(void *data)
{
	struct panel *p = data;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	char now[sizeof(p->clock)];
	if (!localtime_r(&ts.tv_sec, &tm) || strftime(now, sizeof(now), "%H:%M", &tm) == 0)
		snprintf(now, sizeof(now), "--:--");
	if (strcmp(now, p->clock) != 0) {
		memcpy(p->clock, now, sizeof(now));
		panel_redraw(p);
	}
	/* Just after the next minute begins. */
	long ms = (60 - (long)tm.tm_sec) * 1000 - ts.tv_nsec / 1000000 + 50;
	wl_event_source_timer_update(p->clock_timer, ms > 0 ? (int)ms : 1000);
	return 0;
}

static void handle_layout_change(struct wl_listener *listener, void *data)
{
	struct panel *p = wl_container_of(listener, p, layout_change);
	panel_redraw(p);
}

void panel_raise(struct server *server)
{
	if (!server->panel)
		return;
	struct wlr_scene_node *node = &server->panel->tree->node;
	struct wl_list *children = &server->scene->node.state.children;
	struct wlr_scene_node *top = wl_container_of(children->prev, top, state.link);
	if (top == node)
		return;
	/* The trusted prompt (prompt.c) raises itself after this, before the same frame: the
	 * panel goes just below it then, or the two would swap places, and damage the output,
	 * on every frame the prompt is shown. */
	if (prompt_active(server)) {
		if (node->state.link.next != &top->state.link)
			wlr_scene_node_place_below(node, top);
		return;
	}
	wlr_scene_node_raise_to_top(node);
}

int panel_reserved_height(const struct server *server)
{
	return server->kiosk_qube ? 0 : PANEL_HEIGHT;
}

bool panel_usable_box(struct server *server, struct wlr_output *output, struct wlr_box *ret_box)
{
	struct wlr_box *box =
	    output ? wlr_output_layout_get_box(server->output_layout, output) : NULL;
	if (!box)
		return false;
	struct wlr_box usable = *box;
	int reserved = panel_reserved_height(server);
	if (usable.height > reserved) {
		usable.y += reserved;
		usable.height -= reserved;
	}
	*ret_box = usable;
	return true;
}

unsigned panel_chip_count(const struct server *server)
{
	return server->panel ? server->panel->n_chips : 0;
}

bool panel_chip(const struct server *server, unsigned i, struct panel_chip_info *ret)
{
	const struct panel *p = server->panel;
	if (!p || i >= p->n_chips)
		return false;
	const struct panel_qube *q = &p->qubes[p->chips[i].qube];
	*ret = (struct panel_chip_info){
	    .name = q->name,
	    .label = q->label,
	    .state = q->state,
	    .memory_mib = q->memory,
	    .box = p->chips[i].box,
	};
	ret->box.x += p->first_output.x;
	ret->box.y += p->first_output.y;
	return true;
}

unsigned panel_menu_count(const struct server *server)
{
	return server->panel && server->panel->menu_open ? server->panel->n_menu : 0;
}

bool panel_menu_item(const struct server *server, unsigned i, const char **ret_name,
		     struct wlr_box *ret_box)
{
	const struct panel *p = server->panel;
	if (!p || !p->menu_open || i >= p->n_menu)
		return false;
	*ret_name = menu_actions[p->menu[i].action].name;
	*ret_box = p->menu[i].box;
	return true;
}

int panel_init(struct server *server)
{
	maximize_init(server);
	/* The kiosk window keeps its whole output. */
	if (server->kiosk_qube)
		return 0;
	struct panel *p = xcalloc(1, sizeof(*p));
	p->server = server;
	struct wl_event_loop *loop = wl_display_get_event_loop(server->display);
	p->tree = wlr_scene_tree_create(&server->scene->node);
	p->scratch = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1);
	p->scratch_cr = cairo_create(p->scratch);
	p->measure = text_layout(p->scratch_cr, "", 0);
	p->retry = wl_event_loop_add_timer(loop, retry_timer, p);
	p->clock_timer = wl_event_loop_add_timer(loop, clock_tick, p);
	if (!p->tree || !p->retry || !p->clock_timer) {
		server->panel = p;
		panel_finish(server);
		return -ENOMEM;
	}
	p->focus_change.notify = handle_focus_change;
	wl_signal_add(&server->seat->keyboard_state.events.focus_change, &p->focus_change);
	p->layout_change.notify = handle_layout_change;
	wl_signal_add(&server->output_layout->events.change, &p->layout_change);
	server->panel = p;
	clock_tick(p);
	panel_redraw(p);
	events_connect(p);
	return 0;
}

void panel_finish(struct server *server)
{
	maximize_finish(server);
	struct panel *p = server->panel;
	if (!p)
		return;
	for (size_t i = 0; i < PANEL_MAX_ACTIONS; i++)
		if (p->actions[i])
			action_free(p->actions[i]);
	api_conn_free(p->events);
	api_conn_free(p->list);
	if (p->focus_change.link.next)
		wl_list_remove(&p->focus_change.link);
	if (p->layout_change.link.next)
		wl_list_remove(&p->layout_change.link);
	if (p->retry)
		wl_event_source_remove(p->retry);
	if (p->clock_timer)
		wl_event_source_remove(p->clock_timer);
	if (p->measure)
		g_object_unref(p->measure);
	if (p->scratch_cr)
		cairo_destroy(p->scratch_cr);
	if (p->scratch)
		cairo_surface_destroy(p->scratch);
	free(p->bars);
	/* The scene nodes go with the scene. */
	free(p);
	server->panel = NULL;
}
