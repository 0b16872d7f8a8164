/* Views: a toplevel's scene tree holds the client's surfaces and, above them, the frame in its
 * qube's colour (title bar and borders), so nothing the client draws can cover the frame.
 * Popups and subsurfaces are kept inside the frame: popups are placed there, and anything that
 * still is not wholly inside is hidden until it is. */
#include "decoration.h"
#include "label.h"
#include "server.h"

#include <stdlib.h>
#include <string.h>
#include <wlr/types/wlr_compositor.h>

#include "log.h"
#include "panel.h"

enum { BORDER_TOP, BORDER_BOTTOM, BORDER_LEFT, BORDER_RIGHT };

_Static_assert(QUBE_NAME_MAX + 1 <= 32, "DECORATION_TITLE_SIZE assumes qube names of 31 bytes");

/* Title bars wider than this are drawn this wide; the label-coloured rectangle under the bar
 * covers the rest. Bounds the memory a huge window makes us allocate. */
#define TITLE_BAR_MAX_WIDTH 8192

size_t view_title(const struct view *view, char *buf, size_t size)
{
	return decoration_title(view->qube ? view->qube->name : NULL,
				view->xdg_surface->toplevel->title, buf, size);
}

static uint32_t view_rgb(const struct view *view)
{
	return view->qube ? view->qube->rgb : LABEL_HOST_RGB;
}

/* In kiosk mode only the kiosk window is ever shown or focused. */
static bool view_allowed(const struct view *view)
{
	return !view->server->kiosk_qube || view == view->server->kiosk_view;
}

void view_frame_box(const struct view *view, struct wlr_box *ret_box)
{
	const int b = view->fullscreen ? 0 : BORDER_WIDTH;
	struct wlr_box box = {
	    .x = view->x,
	    .y = view->y,
	    .width = view->content.width + 2 * b,
	    .height = TITLE_HEIGHT + view->content.height + b,
	};
	if (view->fullscreen) {
		/* At least its whole output below the panel, whatever size the client drew. */
		struct wlr_box out;
		if (panel_usable_box(view->server,
				     output_for_point(view->server, view->x + 1, view->y + 1),
				     &out)) {
			if (out.width > box.width)
				box.width = out.width;
			if (out.height > box.height)
				box.height = out.height;
		}
	}
	*ret_box = box;
}

/* Window geometry and surface sizes come from the client: clamped to this before any sum, so
 * no arithmetic on them overflows. Far larger than any output. */
#define COORD_LIMIT (1 << 16)

static int64_t clamp_coord(int64_t v)
{
	return v < -COORD_LIMIT ? -COORD_LIMIT : v > COORD_LIMIT ? COORD_LIMIT : v;
}

/* What the frame must enclose, in the toplevel's surface coordinates: its main surface, and the
 * window geometry the client set (which may be larger). Subsurfaces do not count: one outside
 * this box is hidden, not framed. */
static void view_surface_box(struct view *view, struct wlr_box *ret_box)
{
	struct wlr_surface *surface = view->xdg_surface->surface;
	int64_t x1 = 0, y1 = 0;
	int64_t x2 = clamp_coord(surface->current.width), y2 = clamp_coord(surface->current.height);
	const struct wlr_box *geo = &view->xdg_surface->current.geometry;
	if (geo->width > 0 && geo->height > 0) {
		int64_t gx = clamp_coord(geo->x), gy = clamp_coord(geo->y);
		int64_t gx2 = clamp_coord(gx + clamp_coord(geo->width));
		int64_t gy2 = clamp_coord(gy + clamp_coord(geo->height));
		x1 = gx < x1 ? gx : x1;
		y1 = gy < y1 ? gy : y1;
		x2 = gx2 > x2 ? gx2 : x2;
		y2 = gy2 > y2 ? gy2 : y2;
	}
	*ret_box = (struct wlr_box){(int)x1, (int)y1, (int)(x2 - x1), (int)(y2 - y1)};
}

static void view_draw_title(struct view *view, int width)
{
	char text[DECORATION_TITLE_SIZE];
	view_title(view, text, sizeof(text));
	if (width > TITLE_BAR_MAX_WIDTH)
		width = TITLE_BAR_MAX_WIDTH;
	if (view->title_bar && view->title_drawn_width == width && view->title_drawn &&
	    strcmp(view->title_drawn, text) == 0)
		return;
	char *drawn = strdup(text);
	if (!drawn)
		return;
	/* wlroots 0.15's scene cannot swap a buffer node's buffer: the node is made anew, at the
	 * top of the view's tree like the one it replaces. */
	if (view->title_bar) {
		wlr_scene_node_destroy(&view->title_bar->node);
		view->title_bar = NULL;
	}
	free(view->title_drawn);
	view->title_drawn = drawn;
	view->title_drawn_width = width;
	struct wlr_buffer *buffer = decoration_title_bar(text, view_rgb(view), width, TITLE_HEIGHT);
	if (!buffer) {
		/* The label-coloured rectangle stays; only the text is missing. */
		log_error("title bar %dx%d: cannot draw it", width, TITLE_HEIGHT);
		return;
	}
	view->title_bar = wlr_scene_buffer_create(&view->tree->node, buffer);
	wlr_buffer_drop(buffer);
}

void view_update_frame(struct view *view)
{
	struct wlr_box surface_box, geo;
	view_surface_box(view, &surface_box);
	wlr_xdg_surface_get_geometry(view->xdg_surface, &geo);
	const int b = view->fullscreen ? 0 : BORDER_WIDTH;
	int frame_width = surface_box.width + 2 * b;
	view->content = (struct wlr_box){b, TITLE_HEIGHT, surface_box.width, surface_box.height};
	if (view->fullscreen) {
		struct wlr_box out;
		if (panel_usable_box(view->server,
				     output_for_point(view->server, view->x + 1, view->y + 1),
				     &out)) {
			frame_width = out.width;
			wlr_scene_rect_set_size(view->backdrop, out.width,
						out.height - TITLE_HEIGHT);
			wlr_scene_node_set_position(&view->backdrop->node, 0, TITLE_HEIGHT);
		}
	}
	wlr_scene_node_set_enabled(&view->backdrop->node, view->fullscreen);
	/* The scene's xdg node puts the window geometry's corner at its origin; the main
	 * surface's own corner goes to the content box's, shifted by what the box has left of
	 * or above it. */
	wlr_scene_node_set_position(
	    view->surface_node, (int)clamp_coord(b + clamp_coord(geo.x) - surface_box.x),
	    (int)clamp_coord(TITLE_HEIGHT + clamp_coord(geo.y) - surface_box.y));
	const int w = surface_box.width, h = surface_box.height;
	wlr_scene_rect_set_size(view->border[BORDER_TOP], frame_width, TITLE_HEIGHT);
	wlr_scene_node_set_position(&view->border[BORDER_TOP]->node, 0, 0);
	wlr_scene_rect_set_size(view->border[BORDER_BOTTOM], w + 2 * b, b);
	wlr_scene_node_set_position(&view->border[BORDER_BOTTOM]->node, 0, TITLE_HEIGHT + h);
	wlr_scene_rect_set_size(view->border[BORDER_LEFT], b, h);
	wlr_scene_node_set_position(&view->border[BORDER_LEFT]->node, 0, TITLE_HEIGHT);
	wlr_scene_rect_set_size(view->border[BORDER_RIGHT], b, h);
	wlr_scene_node_set_position(&view->border[BORDER_RIGHT]->node, w + b, TITLE_HEIGHT);
	view_draw_title(view, frame_width);
}

void view_move(struct view *view, int x, int y)
{
	if (view->fullscreen)
		return;
	view->x = x;
	view->y = y;
	wlr_scene_node_set_position(&view->tree->node, x, y);
}

void view_set_fullscreen(struct view *view, bool fullscreen)
{
	struct server *server = view->server;
	/* The kiosk window stays fullscreen whatever its client asks. */
	if (view == server->kiosk_view)
		fullscreen = true;
	if (fullscreen == view->fullscreen) {
		/* The client asked, so it gets a configure either way. */
		wlr_xdg_surface_schedule_configure(view->xdg_surface);
		return;
	}
	if (fullscreen) {
		struct wlr_box frame;
		view_frame_box(view, &frame);
		struct wlr_output *output = output_for_point(server, frame.x + frame.width / 2.0,
							     frame.y + frame.height / 2.0);
		struct wlr_xdg_toplevel_requested *req = &view->xdg_surface->toplevel->requested;
		if (req->fullscreen_output &&
		    wlr_output_layout_get_box(server->output_layout, req->fullscreen_output))
			output = req->fullscreen_output;
		/* Its output below the panel: no window covers the panel. */
		struct wlr_box usable, *out = &usable;
		if (!panel_usable_box(server, output, &usable) || out->height <= TITLE_HEIGHT) {
			wlr_xdg_surface_schedule_configure(view->xdg_surface);
			return;
		}
		view->saved =
		    (struct wlr_box){view->x, view->y, view->content.width, view->content.height};
		view->fullscreen = true;
		view->x = out->x;
		view->y = out->y;
		wlr_xdg_toplevel_set_fullscreen(view->xdg_surface, true);
		wlr_xdg_toplevel_set_size(view->xdg_surface, (uint32_t)out->width,
					  (uint32_t)(out->height - TITLE_HEIGHT));
		/* Only the window being typed into comes to the top: an unfocused one going
		 * fullscreen must not cover it. */
		if (server->seat->keyboard_state.focused_surface == view->xdg_surface->surface)
			wlr_scene_node_raise_to_top(&view->tree->node);
	} else {
		view->fullscreen = false;
		view->x = view->saved.x;
		view->y = view->saved.y;
		wlr_xdg_toplevel_set_fullscreen(view->xdg_surface, false);
		wlr_xdg_toplevel_set_size(view->xdg_surface, (uint32_t)view->saved.width,
					  (uint32_t)view->saved.height);
	}
	wlr_scene_node_set_position(&view->tree->node, view->x, view->y);
	view_update_frame(view);
}

void view_focus(struct view *view)
{
	struct server *server = view->server;
	struct wlr_seat *seat = server->seat;
	struct wlr_surface *surface = view->xdg_surface->surface;
	struct wlr_surface *prev = seat->keyboard_state.focused_surface;

	if (!view_allowed(view) || !view->xdg_surface->mapped)
		return;
	wlr_scene_node_raise_to_top(&view->tree->node);
	wl_list_remove(&view->link);
	wl_list_insert(&server->views, &view->link);
	if (prev == surface)
		return;
	if (prev && wlr_surface_is_xdg_surface(prev)) {
		struct wlr_xdg_surface *p = wlr_xdg_surface_from_wlr_surface(prev);
		if (p && p->role == WLR_XDG_SURFACE_ROLE_TOPLEVEL)
			wlr_xdg_toplevel_set_activated(p, false);
	}
	wlr_xdg_toplevel_set_activated(view->xdg_surface, true);
	struct wlr_keyboard *kb = wlr_seat_get_keyboard(seat);
	if (kb)
		wlr_seat_keyboard_notify_enter(seat, surface, kb->keycodes, kb->num_keycodes,
					       &kb->modifiers);
	else
		wlr_seat_keyboard_notify_enter(seat, surface, NULL, 0, NULL);
}

struct view *view_at(struct server *server, double lx, double ly, struct wlr_surface **ret_surface,
		     double *ret_sx, double *ret_sy)
{
	double sx, sy;
	struct wlr_scene_node *node = wlr_scene_node_at(&server->scene->node, lx, ly, &sx, &sy);
	if (!node)
		return NULL;
	struct wlr_surface *surface = NULL;
	if (node->type == WLR_SCENE_NODE_SURFACE)
		surface = wlr_scene_surface_from_node(node)->surface;
	/* Only a view's own tree carries data; the frame and the client's nodes lead up to it. */
	while (node && !node->data)
		node = node->parent;
	if (!node)
		return NULL;
	*ret_surface = surface;
	*ret_sx = sx;
	*ret_sy = sy;
	return node->data;
}

static void log_mapped(struct view *view, const char *state)
{
	struct wlr_box frame;
	view_frame_box(view, &frame);
	log_info("%s qube=%s x=%d y=%d width=%d height=%d border=%d title=%d", state,
		 view->qube ? view->qube->name : "@host", frame.x, frame.y, frame.width,
		 frame.height, view->fullscreen ? 0 : BORDER_WIDTH, TITLE_HEIGHT);
}

static void view_show(struct view *view)
{
	wlr_scene_node_set_position(&view->tree->node, view->x, view->y);
	view_update_frame(view);
	wlr_scene_node_set_enabled(&view->tree->node, true);
	if (view == view->server->kiosk_view || view->xdg_surface->toplevel->requested.fullscreen)
		view_set_fullscreen(view, true);
	/* The kiosk window always has the focus; any other new window only when input.c's rule
	 * lets it (never from another qube's window), else it goes below the focused one. */
	if (view == view->server->kiosk_view)
		view_focus(view);
	else
		input_view_mapped(view);
	log_mapped(view, "mapped");
}

static void handle_map(struct wl_listener *listener, void *data)
{
	struct view *view = wl_container_of(listener, view, map);
	struct server *server = view->server;
	/* Cascade new windows so each one's frame stays visible. */
	unsigned n = server->views_placed++ % 10;
	view->x = 20 + 40 * (int)n;
	view->y = panel_reserved_height(server) + 20 + 40 * (int)n;
	if (server->kiosk_qube && !server->kiosk_view && view->qube &&
	    strcmp(view->qube->name, server->kiosk_qube) == 0)
		server->kiosk_view = view;
	if (!view_allowed(view)) {
		/* Mapped for its client, shown to no one. */
		log_mapped(view, "hidden");
		return;
	}
	view_show(view);
}

/* The kiosk window went away: the kiosk qube's next mapped window takes its place. */
static void kiosk_replace(struct server *server, struct view *gone)
{
	server->kiosk_view = NULL;
	struct view *v;
	wl_list_for_each(v, &server->views, link)
	{
		if (v != gone && v->xdg_surface->mapped && v->qube &&
		    strcmp(v->qube->name, server->kiosk_qube) == 0) {
			server->kiosk_view = v;
			view_show(v);
			return;
		}
	}
}

static void handle_unmap(struct wl_listener *listener, void *data)
{
	struct view *view = wl_container_of(listener, view, unmap);
	struct server *server = view->server;
	wlr_scene_node_set_enabled(&view->tree->node, false);
	bool had_focus = server->seat->keyboard_state.focused_surface == view->xdg_surface->surface;
	if (had_focus)
		wlr_seat_keyboard_clear_focus(server->seat);
	if (view == server->kiosk_view) {
		/* The next one comes up fullscreen again, placed afresh. */
		view->fullscreen = false;
		kiosk_replace(server, view);
		return;
	}
	if (!had_focus)
		return;
	struct view *next;
	wl_list_for_each(next, &server->views, link)
	{
		if (next != view && next->xdg_surface->mapped && view_allowed(next)) {
			view_focus(next);
			break;
		}
	}
}

static void handle_commit(struct wl_listener *listener, void *data)
{
	struct view *view = wl_container_of(listener, view, commit);
	if (view->xdg_surface->mapped)
		view_update_frame(view);
}

static void handle_set_title(struct wl_listener *listener, void *data)
{
	struct view *view = wl_container_of(listener, view, set_title);
	if (view->xdg_surface->mapped)
		view_update_frame(view);
}

static void handle_request_fullscreen(struct wl_listener *listener, void *data)
{
	struct view *view = wl_container_of(listener, view, request_fullscreen);
	const struct wlr_xdg_toplevel_set_fullscreen_event *event = data;
	/* Before the map, wlroots keeps the request in toplevel->requested, which the map
	 * honours. */
	if (view->xdg_surface->mapped)
		view_set_fullscreen(view, event->fullscreen);
}

static void handle_destroy(struct wl_listener *listener, void *data)
{
	struct view *view = wl_container_of(listener, view, destroy);
	struct server *server = view->server;
	if (server->kiosk_view == view)
		kiosk_replace(server, view);
	/* Popups still alive lose their view; their nodes go with the view's tree. */
	struct popup *popup, *tmp;
	wl_list_for_each_safe(popup, tmp, &view->popups, link)
	{
		popup->view = NULL;
		wl_list_remove(&popup->link);
		wl_list_init(&popup->link);
	}
	wl_list_remove(&view->map.link);
	wl_list_remove(&view->unmap.link);
	wl_list_remove(&view->commit.link);
	wl_list_remove(&view->destroy.link);
	wl_list_remove(&view->set_title.link);
	wl_list_remove(&view->request_fullscreen.link);
	wl_list_remove(&view->link);
	wlr_scene_node_destroy(&view->tree->node);
	free(view->title_drawn);
	free(view);
}

struct view *view_create(struct server *server, struct wlr_xdg_surface *xdg_surface)
{
	struct view *view = calloc(1, sizeof(*view));
	if (!view)
		return NULL;
	view->server = server;
	view->xdg_surface = xdg_surface;
	view->qube = qube_of_client(server, wl_resource_get_client(xdg_surface->resource));
	wl_list_init(&view->popups);

	view->tree = wlr_scene_tree_create(&server->scene->node);
	if (!view->tree) {
		free(view);
		return NULL;
	}
	view->tree->node.data = view;
	static const float black[4] = {0, 0, 0, 1};
	view->backdrop = wlr_scene_rect_create(&view->tree->node, 0, 0, black);
	view->surface_node = wlr_scene_xdg_surface_create(&view->tree->node, xdg_surface);
	/* Created after the client's node, so drawn above it (and above its popups). */
	float color[4];
	label_to_float(view_rgb(view), color);
	for (int i = 0; i < 4; i++)
		view->border[i] = wlr_scene_rect_create(&view->tree->node, 0, 0, color);
	if (!view->backdrop || !view->surface_node || !view->border[0] || !view->border[1] ||
	    !view->border[2] || !view->border[3]) {
		wlr_scene_node_destroy(&view->tree->node);
		free(view);
		return NULL;
	}
	wlr_scene_node_set_enabled(&view->backdrop->node, false);
	xdg_surface->data = view->surface_node;
	wlr_scene_node_set_enabled(&view->tree->node, false);

	view->map.notify = handle_map;
	wl_signal_add(&xdg_surface->events.map, &view->map);
	view->unmap.notify = handle_unmap;
	wl_signal_add(&xdg_surface->events.unmap, &view->unmap);
	view->destroy.notify = handle_destroy;
	wl_signal_add(&xdg_surface->events.destroy, &view->destroy);
	view->commit.notify = handle_commit;
	wl_signal_add(&xdg_surface->surface->events.commit, &view->commit);
	view->set_title.notify = handle_set_title;
	wl_signal_add(&xdg_surface->toplevel->events.set_title, &view->set_title);
	view->request_fullscreen.notify = handle_request_fullscreen;
	wl_signal_add(&xdg_surface->toplevel->events.request_fullscreen, &view->request_fullscreen);
	wl_list_insert(&server->views, &view->link);
	return view;
}

/* --- popups --- */

static void popup_update_border(struct popup *popup)
{
	const struct wlr_box *g = &popup->xdg_surface->popup->geometry;
	const int b = POPUP_BORDER_WIDTH;
	wlr_scene_rect_set_size(popup->border[BORDER_TOP], g->width + 2 * b, b);
	wlr_scene_node_set_position(&popup->border[BORDER_TOP]->node, g->x - b, g->y - b);
	wlr_scene_rect_set_size(popup->border[BORDER_BOTTOM], g->width + 2 * b, b);
	wlr_scene_node_set_position(&popup->border[BORDER_BOTTOM]->node, g->x - b,
				    g->y + g->height);
	wlr_scene_rect_set_size(popup->border[BORDER_LEFT], b, g->height);
	wlr_scene_node_set_position(&popup->border[BORDER_LEFT]->node, g->x - b, g->y);
	wlr_scene_rect_set_size(popup->border[BORDER_RIGHT], b, g->height);
	wlr_scene_node_set_position(&popup->border[BORDER_RIGHT]->node, g->x + g->width, g->y);
}

static void popup_handle_commit(struct wl_listener *listener, void *data)
{
	struct popup *popup = wl_container_of(listener, popup, commit);
	if (popup->tree)
		popup_update_border(popup);
}

static void popup_handle_map(struct wl_listener *listener, void *data)
{
	struct popup *popup = wl_container_of(listener, popup, map);
	/* Shown for real only once views_constrain finds it inside its frame. */
	if (popup->tree)
		popup_update_border(popup);
}

static void popup_handle_unmap(struct wl_listener *listener, void *data)
{
	struct popup *popup = wl_container_of(listener, popup, unmap);
	if (popup->tree)
		wlr_scene_node_set_enabled(&popup->tree->node, false);
}

static void popup_handle_tree_destroy(struct wl_listener *listener, void *data)
{
	struct popup *popup = wl_container_of(listener, popup, tree_destroy);
	wl_list_remove(&popup->tree_destroy.link);
	wl_list_init(&popup->tree_destroy.link);
	popup->tree = NULL;
	popup->surface_node = NULL;
}

static void popup_handle_destroy(struct wl_listener *listener, void *data)
{
	struct popup *popup = wl_container_of(listener, popup, destroy);
	wl_list_remove(&popup->map.link);
	wl_list_remove(&popup->unmap.link);
	wl_list_remove(&popup->commit.link);
	wl_list_remove(&popup->destroy.link);
	wl_list_remove(&popup->tree_destroy.link);
	wl_list_remove(&popup->link);
	if (popup->tree)
		wlr_scene_node_destroy(&popup->tree->node);
	free(popup);
}

/* One axis of popup_clamp: *pos and *size within [lo, lo + len), as far as the client's
 * adjustments allow (slide moves, resize shrinks); never larger than it asked (want). */
static void clamp_axis(int *pos, int *size, int want, int lo, int len, bool slide, bool resize)
{
	if (*size > want)
		*size = want;
	if (slide) {
		if (*size > len)
			*size = len;
		if (*pos + *size > lo + len)
			*pos = lo + len - *size;
		if (*pos < lo)
			*pos = lo;
	}
	if (resize) {
		int start = *pos < lo ? lo : *pos;
		int end = *pos + *size > lo + len ? lo + len : *pos + *size;
		if (end - start >= 1) {
			*pos = start;
			*size = end - start;
		}
	}
}

/* wlroots 0.15's resize adjustment can configure a popup larger than the client asked for, and
 * past the box: Firefox's context menu asked for 291 pixels below a point 259 above the bottom
 * and was given 324, asked for that next time, and grew until Firefox crashed. What wlroots
 * decided is kept where it fits; what still does not is slid or shrunk into BOX (in the
 * toplevel's surface coordinates) as the client's adjustments allow. A popup that may not be
 * adjusted stays where it asked to be (and is not drawn if that is outside). */
static void popup_clamp(struct wlr_xdg_popup *p, int want_w, int want_h, const struct wlr_box *box)
{
	int px, py;
	/* The geometry is relative to the parent: BOX in those coordinates. */
	wlr_xdg_popup_get_toplevel_coords(p, 0, 0, &px, &py);
	const uint32_t adj = p->positioner.constraint_adjustment;
	struct wlr_box *g = &p->geometry;
	clamp_axis(&g->x, &g->width, want_w, box->x - px, box->width,
		   adj & XDG_POSITIONER_CONSTRAINT_ADJUSTMENT_SLIDE_X,
		   adj & XDG_POSITIONER_CONSTRAINT_ADJUSTMENT_RESIZE_X);
	clamp_axis(&g->y, &g->height, want_h, box->y - py, box->height,
		   adj & XDG_POSITIONER_CONSTRAINT_ADJUSTMENT_SLIDE_Y,
		   adj & XDG_POSITIONER_CONSTRAINT_ADJUSTMENT_RESIZE_Y);
}

void view_popup_create(struct wlr_xdg_surface *xdg_surface)
{
	struct wlr_xdg_popup *wlr_popup = xdg_surface->popup;
	if (!wlr_popup->parent || !wlr_surface_is_xdg_surface(wlr_popup->parent))
		return;
	struct wlr_xdg_surface *parent = wlr_xdg_surface_from_wlr_surface(wlr_popup->parent);
	if (!parent || !parent->data)
		return;
	/* The parent's node (a view's or another popup's) leads up to its view's tree. */
	struct wlr_scene_node *parent_node = parent->data, *n = parent_node;
	while (n && !n->data)
		n = n->parent;
	if (!n)
		return;
	struct view *view = n->data;

	struct popup *popup = calloc(1, sizeof(*popup));
	if (!popup) {
		log_error("new popup: out of memory");
		return;
	}
	popup->view = view;
	popup->xdg_surface = xdg_surface;
	popup->tree = wlr_scene_tree_create(parent_node);
	if (!popup->tree) {
		free(popup);
		log_error("new popup: out of memory");
		return;
	}
	popup->surface_node = wlr_scene_xdg_surface_create(&popup->tree->node, xdg_surface);
	float color[4];
	label_to_float(view_rgb(view), color);
	for (int i = 0; i < 4; i++)
		popup->border[i] = wlr_scene_rect_create(&popup->tree->node, 0, 0, color);
	if (!popup->surface_node || !popup->border[0] || !popup->border[1] || !popup->border[2] ||
	    !popup->border[3]) {
		wlr_scene_node_destroy(&popup->tree->node);
		free(popup);
		log_error("new popup: out of memory");
		return;
	}
	wlr_scene_node_set_enabled(&popup->tree->node, false);
	xdg_surface->data = popup->surface_node;

	/* Inside the toplevel's content box, less the popup's own border, in the toplevel's
	 * surface coordinates (which is what wlroots 0.15 expects). */
	struct wlr_box box;
	view_surface_box(view, &box);
	const int b = POPUP_BORDER_WIDTH;
	box.x += b;
	box.y += b;
	box.width -= 2 * b;
	box.height -= 2 * b;
	if (box.width > 0 && box.height > 0) {
		int want_w = wlr_popup->positioner.size.width;
		int want_h = wlr_popup->positioner.size.height;
		wlr_xdg_popup_unconstrain_from_box(wlr_popup, &box);
		popup_clamp(wlr_popup, want_w, want_h, &box);
	}
	popup_update_border(popup);

	popup->map.notify = popup_handle_map;
	wl_signal_add(&xdg_surface->events.map, &popup->map);
	popup->unmap.notify = popup_handle_unmap;
	wl_signal_add(&xdg_surface->events.unmap, &popup->unmap);
	popup->destroy.notify = popup_handle_destroy;
	wl_signal_add(&xdg_surface->events.destroy, &popup->destroy);
	popup->commit.notify = popup_handle_commit;
	wl_signal_add(&xdg_surface->surface->events.commit, &popup->commit);
	popup->tree_destroy.notify = popup_handle_tree_destroy;
	wl_signal_add(&popup->tree->node.events.destroy, &popup->tree_destroy);
	wl_list_insert(&view->popups, &popup->link);
}

/* --- keeping everything inside the frame --- */

static struct popup *view_find_popup(struct view *view, struct wlr_xdg_surface *xdg_surface)
{
	struct popup *popup;
	wl_list_for_each(popup, &view->popups, link)
	{
		if (popup->xdg_surface == xdg_surface)
			return popup;
	}
	return NULL;
}

static void constrain_node(struct view *view, const struct wlr_box *inside,
			   struct wlr_scene_node *node)
{
	if (node->type == WLR_SCENE_NODE_SURFACE) {
		struct wlr_surface *surface = wlr_scene_surface_from_node(node)->surface;
		int lx, ly;
		wlr_scene_node_coords(node, &lx, &ly);
		bool in = lx >= inside->x && ly >= inside->y &&
			  (long)lx + surface->current.width <= (long)inside->x + inside->width &&
			  (long)ly + surface->current.height <= (long)inside->y + inside->height;
		if (wlr_surface_is_subsurface(surface)) {
			/* Its parent node is the subsurface's own tree (it and its children),
			 * which wlroots enables while the subsurface is mapped. */
			struct wlr_subsurface *sub = wlr_subsurface_from_wlr_surface(surface);
			bool want = sub && sub->mapped && in;
			if (node->parent && node->parent->state.enabled != want)
				wlr_scene_node_set_enabled(node->parent, want);
		} else if (wlr_surface_is_xdg_surface(surface)) {
			struct wlr_xdg_surface *xdg = wlr_xdg_surface_from_wlr_surface(surface);
			struct popup *popup = xdg && xdg->role == WLR_XDG_SURFACE_ROLE_POPUP
						  ? view_find_popup(view, xdg)
						  : NULL;
			if (popup && popup->tree) {
				bool want = xdg->mapped && in;
				if (popup->tree->node.state.enabled != want)
					wlr_scene_node_set_enabled(&popup->tree->node, want);
			}
		}
	}
	struct wlr_scene_node *child;
	wl_list_for_each(child, &node->state.children, state.link)
	    constrain_node(view, inside, child);
}

void views_constrain(struct server *server)
{
	struct view *view;
	wl_list_for_each(view, &server->views, link)
	{
		if (!view->tree->node.state.enabled)
			continue;
		int lx, ly;
		wlr_scene_node_coords(&view->tree->node, &lx, &ly);
		struct wlr_box inside = view->content;
		inside.x += lx;
		inside.y += ly;
		constrain_node(view, &inside, view->surface_node);
	}
}
