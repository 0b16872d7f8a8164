/* xdg_popup.grab, checked. wlroots 0.15 starts a popup's pointer and keyboard grab on any
 * serial and lets no compositor refuse it, so the request is seen on its way in (a protocol
 * logger sees every request with its arguments, before it is dispatched) and judged against
 * the seat's state then: the serial must be the one of the button press the popup's own client
 * is being given (button still held) or of the last key press sent to that client while it
 * has keyboard focus. A grab that fails is dismissed right after the request (popup_done), as
 * the protocol allows a compositor to do. And a click outside the grabbing client's surfaces
 * ends a grab before the click is handled, so focus moves with it. */
#include "server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

struct popup_grab {
	struct server *server;
	struct wl_protocol_logger *logger;
	struct wl_event_source *idle;
	/* The last key press sent to a client: its serial and that client. */
	uint32_t key_serial;
	struct wl_client *key_client;
	bool refused; /* a grab request just failed the check: dismiss it once dispatched */
};

static bool grab_serial_valid(struct server *server, struct wl_client *client, uint32_t serial)
{
	struct wlr_seat *seat = server->seat;
	struct popup_grab *pg = server->popup_grab;
	struct wlr_seat_client *pointer = seat->pointer_state.focused_client;
	if (pointer && pointer->client == client &&
	    wlr_seat_validate_pointer_grab_serial(seat, NULL, serial))
		return true;
	struct wlr_seat_client *keyboard = seat->keyboard_state.focused_client;
	return keyboard && keyboard->client == client && pg->key_client == client &&
	       serial == pg->key_serial;
}

void popup_grab_dismiss(struct server *server)
{
	struct wlr_seat *seat = server->seat;
	if (seat->pointer_state.grab != seat->pointer_state.default_grab) {
		/* xdg's cancel sends popup_done to each popup of the grab. */
		struct wlr_seat_pointer_grab *g = seat->pointer_state.grab;
		if (g->interface->cancel)
			g->interface->cancel(g);
		else
			wlr_seat_pointer_end_grab(seat);
	}
	if (seat->keyboard_state.grab != seat->keyboard_state.default_grab) {
		struct wlr_seat_keyboard_grab *g = seat->keyboard_state.grab;
		if (g->interface->cancel)
			g->interface->cancel(g);
		else
			wlr_seat_keyboard_end_grab(seat);
	}
	if (seat->touch_state.grab != seat->touch_state.default_grab)
		wlr_seat_touch_end_grab(seat);
}

static void dismiss_refused(void *data)
{
	struct popup_grab *pg = data;
	pg->idle = NULL;
	if (!pg->refused)
		return;
	pg->refused = false;
	log_info("popup: a grab with a serial that is not the client's own input: dismissed");
	popup_grab_dismiss(pg->server);
}

static void logger(void *data, enum wl_protocol_logger_type type,
		   const struct wl_protocol_logger_message *m)
{
	struct popup_grab *pg = data;
	if (type != WL_PROTOCOL_LOGGER_REQUEST || m->arguments_count != 2 ||
	    !streq(m->message->name, "grab") ||
	    !streq(wl_resource_get_class(m->resource), "xdg_popup"))
		return;
	struct wl_client *client = wl_resource_get_client(m->resource);
	if (grab_serial_valid(pg->server, client, m->arguments[1].u))
		return;
	pg->refused = true;
	if (!pg->idle)
		pg->idle = wl_event_loop_add_idle(wl_display_get_event_loop(pg->server->display),
						  dismiss_refused, pg);
}

void popup_grab_key_sent(struct server *server, uint32_t serial)
{
	struct popup_grab *pg = server->popup_grab;
	struct wlr_seat_client *focused = server->seat->keyboard_state.focused_client;
	if (!pg || !focused)
		return;
	pg->key_serial = serial;
	pg->key_client = focused->client;
}

void popup_grab_button(struct server *server, struct wlr_surface *surface)
{
	struct wlr_seat *seat = server->seat;
	if (seat->pointer_state.grab == seat->pointer_state.default_grab &&
	    seat->keyboard_state.grab == seat->keyboard_state.default_grab)
		return;
	/* The grabbing client keeps the keyboard focus for as long as its grab lasts. */
	struct wlr_seat_client *holder = seat->keyboard_state.focused_client;
	struct wl_client *clicked =
	    surface && surface->resource ? wl_resource_get_client(surface->resource) : NULL;
	if (!holder || clicked != holder->client)
		popup_grab_dismiss(server);
}

int popup_grab_init(struct server *server)
{
	struct popup_grab *pg = xcalloc(1, sizeof(*pg));
	pg->server = server;
	pg->logger = wl_display_add_protocol_logger(server->display, logger, pg);
	if (!pg->logger) {
		free(pg);
		return -ENOMEM;
	}
	server->popup_grab = pg;
	return 0;
}

void popup_grab_finish(struct server *server)
{
	struct popup_grab *pg = server->popup_grab;
	if (!pg)
		return;
	wl_protocol_logger_destroy(pg->logger);
	if (pg->idle)
		wl_event_source_remove(pg->idle);
	free(pg);
	server->popup_grab = NULL;
}
