/*
 * The compositor as bulkheadd's trusted prompt for `ask` (admin.policy.Prompt). A question is a
 * dialog the compositor draws itself, in the host style, in a scene tree above every window, so
 * no qube can draw over it; while it is shown no client has keyboard focus and every key comes
 * here, so no qube can answer it. Up/Down choose a target, Enter allows the call to it, Escape
 * denies. Questions queue and are shown one at a time.
 *
 * A qube can time a call so that its question comes up under the user's typing, or right after
 * the user answered another one: so keys that choose or allow (not Escape, which only denies)
 * do nothing until the question has been shown for PROMPT_INPUT_DELAY_MS. And a qube cannot
 * hold the keyboard with a queue of questions: a few per source qube are queued, the rest are
 * denied at once, and Escape denies the shown question together with every other one queued
 * from the same qube.
 *
 * The compositor's own questions (a clipboard paste whose policy says ask) use the same dialog.
 * bulkheadd may be absent or restart: the prompt reconnects every few seconds.
 */
#include "server.h"

#include <cairo.h>
#include <drm_fourcc.h>
#include <errno.h>
#include <pango/pangocairo.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wlr/types/wlr_buffer.h>
#include <xkbcommon/xkbcommon.h>

#include "frame.h"
#include "log.h"
#include "prompt-api.h"
#include "util.h"

#define PROMPT_RETRY_MS	  3000
#define PROMPT_MAX_QUEUED 32
/* Questions from one source qube queued at once (the shown one included); more are denied. */
#define PROMPT_MAX_PER_SOURCE 2
/* How long a newly shown question ignores Enter and Up/Down: longer than the gap between two
 * keys of someone typing, short enough not to be in the way of someone reading it. */
#define PROMPT_INPUT_DELAY_MS 500
#define PROMPT_MAX_TARGETS    64
#define PROMPT_NAME_MAX	      128 /* bytes of a name shown; longer ones are cut */

#define DIALOG_WIDTH   560
#define DIALOG_PADDING 20
#define DIALOG_BORDER  2
#define LINE_HEIGHT    26

struct question {
	struct wl_list link; /* prompt.queue, oldest first */
	bool local;
	uint64_t id; /* bulkheadd's ask id */
	char *source, *service, *argument, *target;
	char **targets;
	size_t n_targets;
	size_t selected;
	prompt_local_fn fn; /* local questions */
	void *data;
	uint64_t seq; /* which question this is: the delay restarts for each one shown */
};

struct prompt_buffer {
	struct wlr_buffer base;
	cairo_surface_t *surface;
};

/* Per output: the dialog is raised again just before each frame is drawn. */
struct prompt_output {
	struct wl_list link; /* prompt.outputs */
	struct prompt *prompt;
	struct wl_listener frame;
	struct wl_listener destroy;
};

struct prompt {
	struct server *server;
	struct api_conn *conn;
	bool registered;
	bool told_unreachable;
	struct wl_event_source *retry;
	struct wl_list queue; /* struct question.link */
	size_t n_queued;
	struct wlr_scene_tree *tree;
	struct wlr_scene_buffer *dialog;
	bool shown;
	uint64_t next_seq;
	uint64_t shown_seq;   /* the question the dialog shows (0: none yet) */
	uint64_t shown_at_ms; /* when it came up: input waits PROMPT_INPUT_DELAY_MS from there */
	struct wl_listener focus_change;
	struct wl_listener new_output;
	struct wl_list outputs; /* struct prompt_output.link */
};

static void prompt_connect(struct prompt *p);

/* --- questions --- */

/* Names come from bulkheadd (the policy and its store); still, only printable text of bounded
 * length is drawn. */
static char *clean_name(const char *s)
{
	size_t n = strnlen(s ? s : "", PROMPT_NAME_MAX);
	char *out = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	out[n] = '\0';
	return out;
}

static void question_free(struct question *q)
{
	free(q->source);
	free(q->service);
	free(q->argument);
	free(q->target);
	for (size_t i = 0; i < q->n_targets; i++)
		free(q->targets[i]);
	free(q->targets);
	free(q);
}

static struct question *head(struct prompt *p)
{
	if (wl_list_empty(&p->queue))
		return NULL;
	struct question *q = wl_container_of(p->queue.next, q, link);
	return q;
}

/* --- drawing --- */

static void buffer_destroy(struct wlr_buffer *base)
{
	struct prompt_buffer *b = wl_container_of(base, b, base);
	cairo_surface_destroy(b->surface);
	free(b);
}

static bool buffer_begin_access(struct wlr_buffer *base, uint32_t flags, void **data,
				uint32_t *format, size_t *stride)
{
	struct prompt_buffer *b = wl_container_of(base, b, base);
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

static void draw_text(cairo_t *cr, PangoLayout *layout, const char *text, bool bold, int x, int y,
		      int width)
{
	PangoFontDescription *font =
	    pango_font_description_from_string(bold ? "Sans Bold 11" : "Sans 11");
	pango_layout_set_font_description(layout, font);
	pango_font_description_free(font);
	pango_layout_set_width(layout, width * PANGO_SCALE);
	pango_layout_set_ellipsize(layout, PANGO_ELLIPSIZE_END);
	/* Plain text, never markup: a name cannot restyle the dialog. */
	pango_layout_set_text(layout, text, -1);
	cairo_move_to(cr, x, y);
	pango_cairo_show_layout(cr, layout);
}

static struct prompt_buffer *render(const struct question *q)
{
	int height = 2 * DIALOG_PADDING + LINE_HEIGHT * (int)(q->n_targets + 4);
	struct prompt_buffer *b = xcalloc(1, sizeof(*b));
	b->surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, DIALOG_WIDTH, height);
	if (cairo_surface_status(b->surface) != CAIRO_STATUS_SUCCESS) {
		cairo_surface_destroy(b->surface);
		free(b);
		return NULL;
	}
	cairo_t *cr = cairo_create(b->surface);
	PangoLayout *layout = pango_cairo_create_layout(cr);
	int inner = DIALOG_WIDTH - 2 * DIALOG_PADDING;
	int y = DIALOG_PADDING;
	char line[4 * PROMPT_NAME_MAX + 64];

	/* Host style: a white box with a dark frame and dark text. */
	cairo_set_source_rgb(cr, 0.16, 0.16, 0.16);
	cairo_paint(cr);
	cairo_set_source_rgb(cr, 1, 1, 1);
	cairo_rectangle(cr, DIALOG_BORDER, DIALOG_BORDER, DIALOG_WIDTH - 2 * DIALOG_BORDER,
			height - 2 * DIALOG_BORDER);
	cairo_fill(cr);

	cairo_set_source_rgb(cr, 0.13, 0.13, 0.13);
	draw_text(cr, layout, "Bulkhead: allow this call?", true, DIALOG_PADDING, y, inner);
	y += LINE_HEIGHT;
	snprintf(line, sizeof(line), "%s wants to call %s%s%s", q->source, q->service,
		 *q->argument ? "+" : "", q->argument);
	draw_text(cr, layout, line, false, DIALOG_PADDING, y, inner);
	y += LINE_HEIGHT;
	snprintf(line, sizeof(line), "Target (asked for: %s):", q->target);
	draw_text(cr, layout, line, false, DIALOG_PADDING, y, inner);
	y += LINE_HEIGHT;
	for (size_t i = 0; i < q->n_targets; i++) {
		if (i == q->selected) {
			cairo_set_source_rgb(cr, 0.80, 0.87, 1.0);
			cairo_rectangle(cr, DIALOG_PADDING, y - 2, inner, LINE_HEIGHT - 2);
			cairo_fill(cr);
		}
		cairo_set_source_rgb(cr, 0.13, 0.13, 0.13);
		snprintf(line, sizeof(line), "%s %s", i == q->selected ? "\u25b8" : " ",
			 q->targets[i]);
		draw_text(cr, layout, line, i == q->selected, DIALOG_PADDING + 8, y, inner - 8);
		y += LINE_HEIGHT;
	}
	cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
	draw_text(cr, layout,
		  q->n_targets ? "Up/Down: choose    Enter: allow    Escape: deny"
			       : "No target is allowed.    Escape: deny",
		  false, DIALOG_PADDING, y, inner);

	g_object_unref(layout);
	cairo_destroy(cr);
	cairo_surface_flush(b->surface);
	wlr_buffer_init(&b->base, &buffer_impl, DIALOG_WIDTH, height);
	return b;
}

/* Draws the question at the head of the queue, or hides the dialog when there is none. */
static void refresh(struct prompt *p)
{
	struct server *server = p->server;
	struct question *q = head(p);

	if (p->dialog) {
		wlr_scene_node_destroy(&p->dialog->node);
		p->dialog = NULL;
	}
	if (!q) {
		wlr_scene_node_set_enabled(&p->tree->node, false);
		if (p->shown) {
			p->shown = false;
			/* Focus returns to the topmost window. */
			struct view *view;
			wl_list_for_each(view, &server->views, link)
			{
				if (view->xdg_surface->mapped &&
				    view->xdg_surface->role == WLR_XDG_SURFACE_ROLE_TOPLEVEL) {
					view_focus(view);
					break;
				}
			}
		}
		return;
	}
	struct prompt_buffer *b = render(q);
	if (b) {
		p->dialog = wlr_scene_buffer_create(&p->tree->node, &b->base);
		wlr_buffer_drop(&b->base);
	}
	struct wlr_box box = {0};
	struct wlr_box *layout_box = wlr_output_layout_get_box(server->output_layout, NULL);
	if (layout_box)
		box = *layout_box;
	if (p->dialog && b) {
		int x = box.x + (box.width - b->base.width) / 2;
		int y = box.y + (box.height - b->base.height) / 3;
		wlr_scene_node_set_position(&p->dialog->node, x > box.x ? x : box.x,
					    y > box.y ? y : box.y);
	}
	wlr_scene_node_set_enabled(&p->tree->node, true);
	wlr_scene_node_raise_to_top(&p->tree->node);
	if (q->seq != p->shown_seq) {
		/* Another question in the same place: keys already on their way are not for it. */
		p->shown_seq = q->seq;
		p->shown_at_ms = monotonic_ms();
	}
	if (!p->shown) {
		p->shown = true;
		wlr_seat_keyboard_clear_focus(server->seat);
		log_info("prompt: asking: %s wants %s%s%s", q->source, q->service,
			 *q->argument ? "+" : "", q->argument);
	}
}

/* While a question is shown, focus stays away from every client and the dialog on top of
 * every window, whatever raised or focused one. */
static void handle_focus_change(struct wl_listener *listener, void *data)
{
	struct prompt *p = wl_container_of(listener, p, focus_change);
	struct wlr_seat_keyboard_focus_change_event *event = data;
	if (!p->shown)
		return;
	wlr_scene_node_raise_to_top(&p->tree->node);
	if (event->new_surface)
		wlr_seat_keyboard_clear_focus(p->server->seat);
}

static void output_handle_frame(struct wl_listener *listener, void *data)
{
	struct prompt_output *po = wl_container_of(listener, po, frame);
	/* Whatever raised a window since (a click, a new window, fullscreen), the dialog is
	 * drawn above it. */
	if (po->prompt->shown)
		wlr_scene_node_raise_to_top(&po->prompt->tree->node);
}

static void prompt_output_free(struct prompt_output *po)
{
	wl_list_remove(&po->frame.link);
	wl_list_remove(&po->destroy.link);
	wl_list_remove(&po->link);
	free(po);
}

static void output_handle_destroy(struct wl_listener *listener, void *data)
{
	struct prompt_output *po = wl_container_of(listener, po, destroy);
	prompt_output_free(po);
}

static void prompt_add_output(struct prompt *p, struct wlr_output *output)
{
	struct prompt_output *po = xcalloc(1, sizeof(*po));
	po->prompt = p;
	po->frame.notify = output_handle_frame;
	/* First in line, ahead of the listener that renders the frame. */
	wl_list_insert(&output->events.frame.listener_list, &po->frame.link);
	po->destroy.notify = output_handle_destroy;
	wl_signal_add(&output->events.destroy, &po->destroy);
	wl_list_insert(&p->outputs, &po->link);
}

static void handle_new_output(struct wl_listener *listener, void *data)
{
	struct prompt *p = wl_container_of(listener, p, new_output);
	prompt_add_output(p, data);
}

static size_t queued_from(struct prompt *p, const char *source)
{
	struct question *q;
	size_t n = 0;
	wl_list_for_each(q, &p->queue, link) n += streq(q->source, source);
	return n;
}

static void enqueue(struct prompt *p, struct question *q)
{
	q->seq = ++p->next_seq;
	wl_list_insert(p->queue.prev, &q->link);
	p->n_queued++;
	if (head(p) == q)
		refresh(p);
}

/* Answers q and frees it, without redrawing: target is one of its targets, or NULL to deny. */
static void answer_one(struct prompt *p, struct question *q, const char *target)
{
	wl_list_remove(&q->link);
	p->n_queued--;
	log_info("prompt: %s%s%s from %s: %s%s", q->service, *q->argument ? "+" : "", q->argument,
		 q->source, target ? "allowed to " : "denied", target ? target : "");
	if (q->local) {
		q->fn(p->server, target != NULL, q->data);
	} else if (p->conn) {
		char id[32];
		snprintf(id, sizeof(id), "%llu", (unsigned long long)q->id);
		struct json_object *payload = json_object_new_object();
		json_object_object_add(payload, "target",
				       target ? json_object_new_string(target) : NULL);
		if (api_conn_request(p->conn, "admin.policy.Answer", "", id, payload) < 0)
			log_warn("prompt: cannot send the answer to bulkheadd");
		json_object_put(payload);
	}
	question_free(q);
}

/* Answers the shown question: target is one of its targets, or NULL to deny. A denial takes
 * every other question queued from the same source with it: one Escape ends a flood. */
static void answer(struct prompt *p, const char *target)
{
	struct question *q = head(p);
	if (!q)
		return;
	if (!target) {
		struct question *other, *tmp;
		wl_list_for_each_safe(other, tmp, &p->queue, link)
		{
			if (other != q && !other->local && !q->local &&
			    streq(other->source, q->source))
				answer_one(p, other, NULL);
		}
	}
	answer_one(p, q, target);
	refresh(p);
}

bool prompt_active(const struct server *server)
{
	return server->prompt && server->prompt->shown;
}

bool prompt_handle_key(struct server *server, uint32_t keysym)
{
	struct prompt *p = server->prompt;
	struct question *q = p ? head(p) : NULL;
	if (!q || !p->shown)
		return false;
	/* Swallowed, as every key is while the prompt is up, but not acted on yet. */
	bool early = monotonic_ms() - p->shown_at_ms < PROMPT_INPUT_DELAY_MS;
	if (early && keysym != XKB_KEY_Escape)
		return true;
	switch (keysym) {
	case XKB_KEY_Up:
	case XKB_KEY_KP_Up:
		if (q->selected > 0) {
			q->selected--;
			refresh(p);
		}
		break;
	case XKB_KEY_Down:
	case XKB_KEY_KP_Down:
		if (q->selected + 1 < q->n_targets) {
			q->selected++;
			refresh(p);
		}
		break;
	case XKB_KEY_Return:
	case XKB_KEY_KP_Enter:
		if (q->n_targets > 0)
			answer(p, q->targets[q->selected]);
		break;
	case XKB_KEY_Escape:
		answer(p, NULL);
		break;
	default:
		break;
	}
	return true;
}

int prompt_ask_local(struct server *server, const char *source, const char *service,
		     const char *target, prompt_local_fn fn, void *data)
{
	struct prompt *p = server->prompt;
	if (!p)
		return -ENODEV;
	if (p->n_queued >= PROMPT_MAX_QUEUED)
		return -EBUSY;
	_cleanup_free_ char *src = clean_name(source);
	if (queued_from(p, src) >= PROMPT_MAX_PER_SOURCE)
		return -EBUSY;
	struct question *q = xcalloc(1, sizeof(*q));
	q->local = true;
	q->source = clean_name(source);
	q->service = clean_name(service);
	q->argument = xstrdup("");
	q->target = clean_name(target);
	q->targets = xcalloc(1, sizeof(char *));
	q->targets[0] = clean_name(target);
	q->n_targets = 1;
	q->fn = fn;
	q->data = data;
	enqueue(p, q);
	return 0;
}

void prompt_cancel_local(struct server *server, void *data)
{
	struct prompt *p = server->prompt;
	struct question *q, *tmp;
	bool was_head = false;
	if (!p)
		return;
	wl_list_for_each_safe(q, tmp, &p->queue, link)
	{
		if (!q->local || q->data != data)
			continue;
		was_head |= q == head(p);
		wl_list_remove(&q->link);
		p->n_queued--;
		question_free(q);
	}
	if (was_head)
		refresh(p);
}

/* --- bulkheadd --- */

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static void on_ask(struct prompt *p, struct json_object *ev)
{
	struct json_object *targets, *id;
	const char *def = jstr(ev, "default_target");

	if (!json_object_object_get_ex(ev, "targets", &targets) ||
	    !json_object_is_type(targets, json_type_array) ||
	    !json_object_object_get_ex(ev, "id", &id) || !json_object_is_type(id, json_type_int)) {
		log_warn("prompt: bulkheadd sent a malformed question");
		return;
	}
	size_t n = json_object_array_length(targets);
	char idbuf[32];
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)json_object_get_int64(id));
	/* Unanswerable here (too many questions, from this qube or in all, or too many
	 * targets): denied at once rather than left to time out. */
	_cleanup_free_ char *source = clean_name(jstr(ev, "source"));
	if (p->n_queued >= PROMPT_MAX_QUEUED || queued_from(p, source) >= PROMPT_MAX_PER_SOURCE ||
	    n > PROMPT_MAX_TARGETS) {
		log_warn("prompt: question %s denied: too many questions or targets", idbuf);
		struct json_object *payload = json_object_new_object();
		json_object_object_add(payload, "target", NULL);
		api_conn_request(p->conn, "admin.policy.Answer", "", idbuf, payload);
		json_object_put(payload);
		return;
	}
	struct question *q = xcalloc(1, sizeof(*q));
	q->id = (uint64_t)json_object_get_int64(id);
	q->source = TAKE_PTR(source);
	q->service = clean_name(jstr(ev, "service"));
	q->argument = clean_name(jstr(ev, "argument"));
	q->target = clean_name(jstr(ev, "target"));
	q->targets = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		struct json_object *t = json_object_array_get_idx(targets, i);
		const char *s =
		    json_object_is_type(t, json_type_string) ? json_object_get_string(t) : NULL;
		/* The answer must name a target exactly as offered: one that had to be cleaned
		 * cannot be chosen. */
		if (!s || strlen(s) >= PROMPT_NAME_MAX)
			continue;
		q->targets[q->n_targets] = clean_name(s);
		if (!streq(q->targets[q->n_targets], s)) {
			free(q->targets[q->n_targets]);
			continue;
		}
		if (def && streq(def, s))
			q->selected = q->n_targets;
		q->n_targets++;
	}
	enqueue(p, q);
}

static void drop_remote_questions(struct prompt *p)
{
	struct question *q, *tmp;
	bool was_head = false;
	wl_list_for_each_safe(q, tmp, &p->queue, link)
	{
		if (q->local)
			continue;
		was_head |= q == head(p);
		wl_list_remove(&q->link);
		p->n_queued--;
		question_free(q);
	}
	if (was_head)
		refresh(p);
}

static void on_frame(struct api_conn *conn, uint16_t type, struct json_object *o, void *data)
{
	struct prompt *p = data;
	struct json_object *ok;

	if (type == CHAN_API_EVENT) {
		const char *event = jstr(o, "event");
		if (p->registered && event && streq(event, "ask"))
			on_ask(p, o);
		return;
	}
	bool good = json_object_object_get_ex(o, "ok", &ok) && json_object_get_boolean(ok);
	if (!p->registered) {
		if (!good) {
			/* Refused (not root, or not in the bulkhead group): keep trying, quietly.
			 */
			if (!p->told_unreachable)
				log_warn("prompt: bulkheadd refused the prompt: %s",
					 jstr(o, "message") ? jstr(o, "message") : "?");
			p->told_unreachable = true;
			api_conn_free(p->conn);
			p->conn = NULL;
			wl_event_source_timer_update(p->retry, PROMPT_RETRY_MS);
			return;
		}
		p->registered = true;
		p->told_unreachable = false;
		log_info("prompt: registered with bulkheadd (%s) for 'ask'",
			 api_conn_socket_path());
		return;
	}
	if (!good)
		log_warn("prompt: bulkheadd refused an answer: %s",
			 jstr(o, "message") ? jstr(o, "message") : "?");
}

static void on_closed(struct api_conn *conn, int error, void *data)
{
	struct prompt *p = data;
	if (p->registered)
		log_warn("prompt: bulkheadd went away (%s); reconnecting", strerror(-error));
	else if (!p->told_unreachable)
		log_info("prompt: bulkheadd not reachable at %s (%s); retrying every %d s",
			 api_conn_socket_path(), strerror(-error), PROMPT_RETRY_MS / 1000);
	p->told_unreachable = true;
	p->registered = false;
	api_conn_free(p->conn);
	p->conn = NULL;
	/* bulkheadd denies what it asked a prompt that went away. */
	drop_remote_questions(p);
	wl_event_source_timer_update(p->retry, PROMPT_RETRY_MS);
}

static void prompt_connect(struct prompt *p)
{
	struct wl_event_loop *loop = wl_display_get_event_loop(p->server->display);
	int r = api_conn_open(loop, api_conn_socket_path(), on_frame, on_closed, p, &p->conn);
	if (r == 0)
		r = api_conn_request(p->conn, "admin.policy.Prompt", "", "", NULL);
	if (r < 0) {
		if (!p->told_unreachable)
			log_info("prompt: bulkheadd not reachable at %s (%s); retrying every %d s",
				 api_conn_socket_path(), strerror(-r), PROMPT_RETRY_MS / 1000);
		p->told_unreachable = true;
		api_conn_free(p->conn);
		p->conn = NULL;
		wl_event_source_timer_update(p->retry, PROMPT_RETRY_MS);
	}
}

static int retry_timer(void *data)
{
	struct prompt *p = data;
	if (!p->conn)
		prompt_connect(p);
	return 0;
}

int prompt_init(struct server *server)
{
	struct prompt *p = xcalloc(1, sizeof(*p));
	p->server = server;
	wl_list_init(&p->queue);
	p->tree = wlr_scene_tree_create(&server->scene->node);
	p->retry =
	    wl_event_loop_add_timer(wl_display_get_event_loop(server->display), retry_timer, p);
	if (!p->tree || !p->retry) {
		if (p->tree)
			wlr_scene_node_destroy(&p->tree->node);
		if (p->retry)
			wl_event_source_remove(p->retry);
		free(p);
		return -ENOMEM;
	}
	wlr_scene_node_set_enabled(&p->tree->node, false);
	p->focus_change.notify = handle_focus_change;
	wl_signal_add(&server->seat->keyboard_state.events.focus_change, &p->focus_change);
	wl_list_init(&p->outputs);
	struct output *output;
	wl_list_for_each(output, &server->outputs, link) prompt_add_output(p, output->wlr_output);
	p->new_output.notify = handle_new_output;
	wl_signal_add(&server->backend->events.new_output, &p->new_output);
	server->prompt = p;
	prompt_connect(p);
	return 0;
}

void prompt_finish(struct server *server)
{
	struct prompt *p = server->prompt;
	if (!p)
		return;
	struct question *q, *tmp;
	wl_list_for_each_safe(q, tmp, &p->queue, link)
	{
		wl_list_remove(&q->link);
		question_free(q);
	}
	api_conn_free(p->conn);
	wl_event_source_remove(p->retry);
	wl_list_remove(&p->focus_change.link);
	wl_list_remove(&p->new_output.link);
	struct prompt_output *po, *ptmp;
	wl_list_for_each_safe(po, ptmp, &p->outputs, link) prompt_output_free(po);
	wlr_scene_node_destroy(&p->tree->node);
	free(p);
	server->prompt = NULL;
}
