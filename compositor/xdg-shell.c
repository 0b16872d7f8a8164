/* xdg-shell: toplevels become framed views; popups hang in their parent's scene tree. */
#include "server.h"

#include "log.h"

void xdg_shell_handle_new_surface(struct wl_listener *listener, void *data)
{
	struct server *server = wl_container_of(listener, server, new_xdg_surface);
	struct wlr_xdg_surface *xdg_surface = data;

	if (xdg_surface->role == WLR_XDG_SURFACE_ROLE_POPUP) {
		/* A popup's node goes under its parent's node, so it moves and stacks with it and
		 * never above another window's frame. */
		if (!xdg_surface->popup->parent)
			return;
		struct wlr_xdg_surface *parent =
		    wlr_xdg_surface_from_wlr_surface(xdg_surface->popup->parent);
		if (!parent || !parent->data)
			return;
		xdg_surface->data = wlr_scene_xdg_surface_create(parent->data, xdg_surface);
		return;
	}
	if (xdg_surface->role != WLR_XDG_SURFACE_ROLE_TOPLEVEL)
		return;
	if (!view_create(server, xdg_surface))
		log_error("new toplevel: out of memory");
}
