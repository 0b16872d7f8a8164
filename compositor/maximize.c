/*
 * Maximized windows (xdg_toplevel.set_maximized): the frame fills its output below the panel
 * (panel_usable_box), and goes back to where it was and its size before when unmaximized. Kept
 * apart from view.c, listening to the xdg shell itself; a fullscreen or kiosk window only gets
 * its configure. Every request is answered with a configure, as xdg-shell asks.
 */
#include "panel.h"
#include "server.h"

#include <stdlib.h>

#include "log.h"

struct maximize {
	struct server *server;
	struct wlr_xdg_surface *xdg_surface;
	bool maximized;
	struct wlr_box saved; /* frame position and content size before */
	struct wl_listener request_maximize;
	struct wl_listener map;
	struct wl_listener destroy;
};

/* One compositor per process: its xdg shell's listener. */
static struct wl_listener new_surface;
static struct server *the_server;

static struct view *view_of(struct server *server, struct wlr_xdg_surface *xdg_surface)
{
	struct view *v;
	wl_list_for_each(v, &server->views, link)
	{
		if (v->xdg_surface == xdg_surface)
			return v;
	}
	return NULL;
}

static void apply(struct maximize *m, bool maximize)
{
	struct server *server = m->server;
	struct view *view = view_of(server, m->xdg_surface);
	if (!view || view->fullscreen || server->kiosk_qube || maximize == m->maximized) {
		wlr_xdg_surface_schedule_configure(m->xdg_surface);
		return;
	}
	if (maximize) {
		struct wlr_box frame, usable;
		view_frame_box(view, &frame);
		struct wlr_output *output = output_for_point(server, frame.x + frame.width / 2.0,
							     frame.y + frame.height / 2.0);
		int w, h;
		if (!panel_usable_box(server, output, &usable) ||
		    (w = usable.width - 2 * BORDER_WIDTH) <= 0 ||
		    (h = usable.height - TITLE_HEIGHT - BORDER_WIDTH) <= 0) {
			wlr_xdg_surface_schedule_configure(m->xdg_surface);
			return;
		}
		m->saved =
		    (struct wlr_box){view->x, view->y, view->content.width, view->content.height};
		m->maximized = true;
		view_move(view, usable.x, usable.y);
		wlr_xdg_toplevel_set_size(m->xdg_surface, (uint32_t)w, (uint32_t)h);
	} else {
		m->maximized = false;
		view_move(view, m->saved.x, m->saved.y);
		wlr_xdg_toplevel_set_size(m->xdg_surface, (uint32_t)m->saved.width,
					  (uint32_t)m->saved.height);
	}
	wlr_xdg_toplevel_set_maximized(m->xdg_surface, maximize);
}

static void handle_request_maximize(struct wl_listener *listener, void *data)
{
	struct maximize *m = wl_container_of(listener, m, request_maximize);
	/* Before the map, the request waits in toplevel->requested for handle_map. */
	if (m->xdg_surface->mapped)
		apply(m, m->xdg_surface->toplevel->requested.maximized);
}

static void handle_map(struct wl_listener *listener, void *data)
{
	struct maximize *m = wl_container_of(listener, m, map);
	/* After view.c placed the window (its listener came first). */
	if (m->xdg_surface->toplevel->requested.maximized)
		apply(m, true);
}

static void handle_destroy(struct wl_listener *listener, void *data)
{
	struct maximize *m = wl_container_of(listener, m, destroy);
	wl_list_remove(&m->request_maximize.link);
	wl_list_remove(&m->map.link);
	wl_list_remove(&m->destroy.link);
	free(m);
}

static void handle_new_surface(struct wl_listener *listener, void *data)
{
	struct wlr_xdg_surface *xdg_surface = data;
	if (xdg_surface->role != WLR_XDG_SURFACE_ROLE_TOPLEVEL)
		return;
	struct maximize *m = calloc(1, sizeof(*m));
	if (!m) {
		log_error("maximize: out of memory");
		return;
	}
	m->server = the_server;
	m->xdg_surface = xdg_surface;
	m->request_maximize.notify = handle_request_maximize;
	wl_signal_add(&xdg_surface->toplevel->events.request_maximize, &m->request_maximize);
	m->map.notify = handle_map;
	wl_signal_add(&xdg_surface->events.map, &m->map);
	m->destroy.notify = handle_destroy;
	wl_signal_add(&xdg_surface->events.destroy, &m->destroy);
}

int maximize_init(struct server *server)
{
	the_server = server;
	new_surface.notify = handle_new_surface;
	wl_signal_add(&server->xdg_shell->events.new_surface, &new_surface);
	return 0;
}

void maximize_finish(struct server *server)
{
	if (new_surface.link.next)
		wl_list_remove(&new_surface.link);
	new_surface.link.next = NULL;
	the_server = NULL;
}
