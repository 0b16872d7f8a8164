/* xdg-shell: toplevels become framed views; popups hang in their parent's scene tree, kept
 * inside their toplevel's frame (view.c). */
#include "server.h"

#include <stdlib.h>
#include <wlr/types/wlr_xdg_decoration_v1.h>

#include "log.h"

void xdg_shell_handle_new_surface(struct wl_listener *listener, void *data)
{
	struct server *server = wl_container_of(listener, server, new_xdg_surface);
	struct wlr_xdg_surface *xdg_surface = data;

	if (xdg_surface->role == WLR_XDG_SURFACE_ROLE_POPUP) {
		/* A popup's node goes under its parent's node, so it moves and stacks with it and
		 * never above another window's frame. */
		view_popup_create(xdg_surface);
		return;
	}
	if (xdg_surface->role != WLR_XDG_SURFACE_ROLE_TOPLEVEL)
		return;
	if (!view_create(server, xdg_surface))
		log_error("new toplevel: out of memory");
}

/* Decorations are always the compositor's: whatever mode a client asks for, it is told
 * server-side, so it has no reason to draw a frame of its own. */
struct decoration {
	struct wlr_xdg_toplevel_decoration_v1 *wlr_decoration;
	struct wl_listener request_mode;
	struct wl_listener destroy;
};

static void decoration_handle_request_mode(struct wl_listener *listener, void *data)
{
	struct decoration *d = wl_container_of(listener, d, request_mode);
	wlr_xdg_toplevel_decoration_v1_set_mode(d->wlr_decoration,
						WLR_XDG_TOPLEVEL_DECORATION_V1_MODE_SERVER_SIDE);
}

static void decoration_handle_destroy(struct wl_listener *listener, void *data)
{
	struct decoration *d = wl_container_of(listener, d, destroy);
	wl_list_remove(&d->request_mode.link);
	wl_list_remove(&d->destroy.link);
	free(d);
}

void xdg_shell_handle_new_decoration(struct wl_listener *listener, void *data)
{
	struct wlr_xdg_toplevel_decoration_v1 *wlr_decoration = data;
	struct decoration *d = calloc(1, sizeof(*d));
	if (!d) {
		log_error("new decoration: out of memory");
		return;
	}
	d->wlr_decoration = wlr_decoration;
	d->request_mode.notify = decoration_handle_request_mode;
	wl_signal_add(&wlr_decoration->events.request_mode, &d->request_mode);
	d->destroy.notify = decoration_handle_destroy;
	wl_signal_add(&wlr_decoration->events.destroy, &d->destroy);
	wlr_xdg_toplevel_decoration_v1_set_mode(wlr_decoration,
						WLR_XDG_TOPLEVEL_DECORATION_V1_MODE_SERVER_SIDE);
}
