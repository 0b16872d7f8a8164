/* The pointer's image. A client's cursor surface is drawn only while the pointer is over that
 * client's own surface (the one with pointer focus), at most CURSOR_MAX_SIZE square with its
 * hotspot inside it; everywhere else (title bars, borders, the background, another client's
 * window) and for an image out of bounds, the compositor's own cursor is drawn. So no qube can
 * paint over another qube's window or over a frame with its cursor. */
#include "server.h"

#include <errno.h>
#include <stdlib.h>
#include <wlr/types/wlr_xcursor_manager.h>

#include "log.h"
#include "util.h"

/* Largest cursor image, in surface coordinates: what cursor themes use at large sizes. */
#define CURSOR_MAX_SIZE 64
/* Its buffer may be scaled for HiDPI outputs, up to this factor. */
#define CURSOR_MAX_SCALE 4
#define DEFAULT_CURSOR	 "left_ptr"
#define DEFAULT_SIZE	 24

struct cursor {
	struct server *server;
	struct wlr_xcursor_manager *xcursor;
	/* The client whose surface the cursor shows now, or NULL: the default image. */
	struct wl_client *client;
	struct wlr_surface *surface;
	int32_t hotspot_x, hotspot_y;
	struct wl_listener surface_commit;
	struct wl_listener surface_destroy;
	struct wl_listener request_set_cursor;
	struct wl_listener focus_change;
	bool is_default;
};

static void cursor_forget_surface(struct cursor *c)
{
	if (!c->surface)
		return;
	wl_list_remove(&c->surface_commit.link);
	wl_list_remove(&c->surface_destroy.link);
	wl_list_init(&c->surface_commit.link);
	wl_list_init(&c->surface_destroy.link);
	c->surface = NULL;
	c->client = NULL;
}

void cursor_set_default(struct server *server)
{
	struct cursor *c = server->cursor_state;
	if (!c)
		return;
	cursor_forget_surface(c);
	if (c->is_default)
		return;
	wlr_xcursor_manager_set_cursor_image(c->xcursor, DEFAULT_CURSOR, server->cursor);
	c->is_default = true;
}

/* Whether the surface's committed image and the hotspot fit the bounds. */
static bool image_fits(const struct wlr_surface *surface, int32_t hx, int32_t hy)
{
	const struct wlr_surface_state *s = &surface->current;
	if (s->width > CURSOR_MAX_SIZE || s->height > CURSOR_MAX_SIZE)
		return false;
	if (s->buffer_width > CURSOR_MAX_SIZE * CURSOR_MAX_SCALE ||
	    s->buffer_height > CURSOR_MAX_SIZE * CURSOR_MAX_SCALE)
		return false;
	return hx >= 0 && hy >= 0 && hx <= CURSOR_MAX_SIZE && hy <= CURSOR_MAX_SIZE;
}

static void handle_surface_commit(struct wl_listener *listener, void *data)
{
	struct cursor *c = wl_container_of(listener, c, surface_commit);
	/* wlroots moves the hotspot by the attach offset, as the protocol says; so do we. */
	c->hotspot_x -= c->surface->current.dx;
	c->hotspot_y -= c->surface->current.dy;
	if (!image_fits(c->surface, c->hotspot_x, c->hotspot_y)) {
		log_info("cursor: a client's cursor image is out of bounds; the default is shown");
		cursor_set_default(c->server);
	}
}

static void handle_surface_destroy(struct wl_listener *listener, void *data)
{
	struct cursor *c = wl_container_of(listener, c, surface_destroy);
	cursor_set_default(c->server);
}

static void handle_request_set_cursor(struct wl_listener *listener, void *data)
{
	struct cursor *c = wl_container_of(listener, c, request_set_cursor);
	struct server *server = c->server;
	struct wlr_seat_pointer_request_set_cursor_event *event = data;
	/* Only the client under the pointer may set its image (wlroots has checked the serial
	 * was one it sent this client). */
	if (server->seat->pointer_state.focused_client != event->seat_client)
		return;
	if (event->surface && !image_fits(event->surface, event->hotspot_x, event->hotspot_y)) {
		cursor_set_default(server);
		return;
	}
	cursor_forget_surface(c);
	wlr_cursor_set_surface(server->cursor, event->surface, event->hotspot_x, event->hotspot_y);
	c->is_default = false;
	if (!event->surface)
		return; /* a hidden cursor: allowed over the client's own surface */
	c->surface = event->surface;
	c->client = event->seat_client->client;
	c->hotspot_x = event->hotspot_x;
	c->hotspot_y = event->hotspot_y;
	/* After wlroots' own commit listener: a bad commit is replaced right after it is shown
	 * and before any frame is drawn with it. */
	wl_signal_add(&event->surface->events.commit, &c->surface_commit);
	wl_signal_add(&event->surface->events.destroy, &c->surface_destroy);
}

/* The pointer entered another surface, or none: the image set for the one it left goes. The
 * client it entered sets its own again (it is told of the enter), for its own surface. */
static void handle_focus_change(struct wl_listener *listener, void *data)
{
	struct cursor *c = wl_container_of(listener, c, focus_change);
	struct wlr_seat_pointer_focus_change_event *event = data;
	struct wl_client *client = event->new_surface && event->new_surface->resource
				       ? wl_resource_get_client(event->new_surface->resource)
				       : NULL;
	if (!client || client != c->client)
		cursor_set_default(c->server);
}

int cursor_init(struct server *server)
{
	struct cursor *c = xcalloc(1, sizeof(*c));
	c->server = server;
	/* The theme from XCURSOR_THEME ("default" when unset), else wlroots' built-in one. */
	c->xcursor = wlr_xcursor_manager_create(getenv("XCURSOR_THEME"), DEFAULT_SIZE);
	if (!c->xcursor || !wlr_xcursor_manager_load(c->xcursor, 1)) {
		if (c->xcursor)
			wlr_xcursor_manager_destroy(c->xcursor);
		free(c);
		return -ENOMEM;
	}
	c->surface_commit.notify = handle_surface_commit;
	c->surface_destroy.notify = handle_surface_destroy;
	wl_list_init(&c->surface_commit.link);
	wl_list_init(&c->surface_destroy.link);
	c->request_set_cursor.notify = handle_request_set_cursor;
	wl_signal_add(&server->seat->events.request_set_cursor, &c->request_set_cursor);
	c->focus_change.notify = handle_focus_change;
	wl_signal_add(&server->seat->pointer_state.events.focus_change, &c->focus_change);
	server->cursor_state = c;
	cursor_set_default(server);
	return 0;
}

void cursor_finish(struct server *server)
{
	struct cursor *c = server->cursor_state;
	if (!c)
		return;
	cursor_forget_surface(c);
	wl_list_remove(&c->request_set_cursor.link);
	wl_list_remove(&c->focus_change.link);
	wlr_xcursor_manager_destroy(c->xcursor);
	free(c);
	server->cursor_state = NULL;
}
