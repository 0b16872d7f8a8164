/* Views: a toplevel's scene tree holds the client's surfaces and, above them, the frame in its
 * qube's colour, so nothing the client draws can cover the frame. */
#include "decoration.h"
#include "label.h"
#include "server.h"

#include <stdlib.h>

#include "log.h"

enum { BORDER_TOP, BORDER_BOTTOM, BORDER_LEFT, BORDER_RIGHT };

void view_update_frame(struct view *view)
{
	struct wlr_box geo;
	wlr_xdg_surface_get_geometry(view->xdg_surface, &geo);
	const int b = BORDER_WIDTH;
	/* The scene's xdg node already shifts the surface so that its window geometry, not its
	 * full extent, starts at the node's origin. */
	wlr_scene_node_set_position(view->surface_node, b, b);
	wlr_scene_rect_set_size(view->border[BORDER_TOP], geo.width + 2 * b, b);
	wlr_scene_node_set_position(&view->border[BORDER_TOP]->node, 0, 0);
	wlr_scene_rect_set_size(view->border[BORDER_BOTTOM], geo.width + 2 * b, b);
	wlr_scene_node_set_position(&view->border[BORDER_BOTTOM]->node, 0, geo.height + b);
	wlr_scene_rect_set_size(view->border[BORDER_LEFT], b, geo.height);
	wlr_scene_node_set_position(&view->border[BORDER_LEFT]->node, 0, b);
	wlr_scene_rect_set_size(view->border[BORDER_RIGHT], b, geo.height);
	wlr_scene_node_set_position(&view->border[BORDER_RIGHT]->node, geo.width + b, b);
}

_Static_assert(QUBE_NAME_MAX + 1 <= 32, "DECORATION_TITLE_SIZE assumes qube names of 31 bytes");

size_t view_title(const struct view *view, char *buf, size_t size)
{
	return decoration_title(view->qube ? view->qube->name : NULL,
				view->xdg_surface->toplevel->title, buf, size);
}

void view_focus(struct view *view)
{
	struct server *server = view->server;
	struct wlr_seat *seat = server->seat;
	struct wlr_surface *surface = view->xdg_surface->surface;
	struct wlr_surface *prev = seat->keyboard_state.focused_surface;

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

static void handle_map(struct wl_listener *listener, void *data)
{
	struct view *view = wl_container_of(listener, view, map);
	struct server *server = view->server;
	/* Cascade new windows so each one's frame stays visible. */
	unsigned n = server->views_placed++ % 10;
	view->x = 20 + 40 * (int)n;
	view->y = 20 + 40 * (int)n;
	wlr_scene_node_set_position(&view->tree->node, view->x, view->y);
	view_update_frame(view);
	wlr_scene_node_set_enabled(&view->tree->node, true);
	view_focus(view);

	struct wlr_box geo;
	wlr_xdg_surface_get_geometry(view->xdg_surface, &geo);
	log_info("mapped qube=%s x=%d y=%d width=%d height=%d border=%d",
		 view->qube ? view->qube->name : "@host", view->x, view->y,
		 geo.width + 2 * BORDER_WIDTH, geo.height + 2 * BORDER_WIDTH, BORDER_WIDTH);
}

static void handle_unmap(struct wl_listener *listener, void *data)
{
	struct view *view = wl_container_of(listener, view, unmap);
	struct server *server = view->server;
	wlr_scene_node_set_enabled(&view->tree->node, false);
	if (server->seat->keyboard_state.focused_surface != view->xdg_surface->surface)
		return;
	wlr_seat_keyboard_clear_focus(server->seat);
	struct view *next;
	wl_list_for_each(next, &server->views, link)
	{
		if (next != view && next->xdg_surface->mapped) {
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

static void handle_destroy(struct wl_listener *listener, void *data)
{
	struct view *view = wl_container_of(listener, view, destroy);
	wl_list_remove(&view->map.link);
	wl_list_remove(&view->unmap.link);
	wl_list_remove(&view->commit.link);
	wl_list_remove(&view->destroy.link);
	wl_list_remove(&view->link);
	wlr_scene_node_destroy(&view->tree->node);
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

	view->tree = wlr_scene_tree_create(&server->scene->node);
	if (!view->tree) {
		free(view);
		return NULL;
	}
	view->tree->node.data = view;
	view->surface_node = wlr_scene_xdg_surface_create(&view->tree->node, xdg_surface);
	/* Created after the client's node, so drawn above it. */
	float color[4];
	label_to_float(view->qube ? view->qube->rgb : LABEL_HOST_RGB, color);
	for (int i = 0; i < 4; i++)
		view->border[i] = wlr_scene_rect_create(&view->tree->node, 0, 0, color);
	if (!view->surface_node || !view->border[0] || !view->border[1] || !view->border[2] ||
	    !view->border[3]) {
		wlr_scene_node_destroy(&view->tree->node);
		free(view);
		return NULL;
	}
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
	wl_list_insert(&server->views, &view->link);
	return view;
}
