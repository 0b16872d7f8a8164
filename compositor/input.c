/* Seat, keyboards and pointer: keys go only to the focused window and pointer events only to
 * the surface under the pointer. Focus moves by a click, by Alt+Tab, or to a new window that
 * cannot take it from another qube. The compositor's own bindings never reach a client, and on
 * a headless backend a virtual keyboard and pointer let the control socket drive all of this. */
#include "server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <wlr/backend/headless.h>
#include <wlr/backend/multi.h>
#include <wlr/interfaces/wlr_keyboard.h>
#include <wlr/types/wlr_input_device.h>
#include <wlr/types/wlr_keyboard.h>
#include <wlr/types/wlr_pointer.h>
#include <xkbcommon/xkbcommon.h>

#include "launcher.h"
#include "log.h"
#include "panel.h"
#include "util.h"

/* evdev button codes (linux/input-event-codes.h). */
#define BUTTON_LEFT   0x110
#define BUTTON_RIGHT  0x111
#define BUTTON_MIDDLE 0x112

/* Keys whose press started a binding: their release is swallowed too, and the binding runs
 * then, so a window that gets focus from it is not told the bound key is still held. */
#define CONSUMED_MAX 16

enum binding {
	BINDING_NONE,
	BINDING_CLOSE,
	BINDING_CYCLE,
	BINDING_COPY,
	BINDING_PASTE,
};

struct keyboard {
	struct wl_list link;
	struct server *server;
	struct wlr_input_device *device;
	struct wl_listener modifiers;
	struct wl_listener key;
	struct wl_listener destroy;
	struct {
		uint32_t keycode;
		enum binding binding;
	} consumed[CONSUMED_MAX];
	size_t n_consumed;
};

enum cursor_mode { CURSOR_PASSTHROUGH, CURSOR_MOVE, CURSOR_RESIZE };

/* The one Super+drag in progress. Kept here rather than in struct server: nothing else needs
 * it, and there is one seat. */
static struct grab {
	enum cursor_mode mode;
	struct view *view;
	uint32_t button; /* the button that started it; its release is swallowed too */
	double start_lx, start_ly;
	int start_x, start_y;
	int start_width, start_height;
	struct wl_listener view_destroy;
} grab = {.mode = CURSOR_PASSTHROUGH};

static uint32_t now_msec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)(ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static struct view *focused_view(struct server *server)
{
	struct wlr_surface *focused = server->seat->keyboard_state.focused_surface;
	struct view *v;
	wl_list_for_each(v, &server->views, link)
	{
		if (focused && v->xdg_surface->surface == focused)
			return v;
	}
	return NULL;
}

void input_view_mapped(struct view *view)
{
	struct view *focused = focused_view(view->server);
	/* A qube never takes focus from another qube's window, nor from the host's; the host's
	 * own windows do not take it from a qube either. */
	if (!focused || focused == view || focused->qube == view->qube) {
		view_focus(view);
		return;
	}
	/* Nor does it cover the window being typed into: it goes just below. */
	wlr_scene_node_place_below(&view->tree->node, &focused->tree->node);
	wl_list_remove(&view->link);
	wl_list_insert(&focused->link, &view->link);
}

/* Focus and raise the bottom-most other window: repeated, this visits every window. */
static void cycle_focus(struct server *server)
{
	struct view *focused = focused_view(server), *v, *pick = NULL;
	wl_list_for_each_reverse(v, &server->views, link)
	{
		if (v != focused && v->xdg_surface->mapped) {
			pick = v;
			break;
		}
	}
	if (pick)
		view_focus(pick);
}

static void close_focused(struct server *server)
{
	struct view *v = focused_view(server);
	if (v)
		wlr_xdg_toplevel_send_close(v->xdg_surface);
}

static enum binding binding_for(struct server *server, uint32_t mods, xkb_keysym_t sym)
{
	const uint32_t ctrl_shift = WLR_MODIFIER_CTRL | WLR_MODIFIER_SHIFT;
	/* The clipboard gestures work everywhere: in kiosk mode too. */
	if (mods == ctrl_shift && sym == XKB_KEY_c)
		return BINDING_COPY;
	if (mods == ctrl_shift && sym == XKB_KEY_v)
		return BINDING_PASTE;
	/* A kiosk has no way out and no other window. */
	if (server->kiosk_qube)
		return BINDING_NONE;
	if ((mods == WLR_MODIFIER_ALT && sym == XKB_KEY_F4) ||
	    (mods == (WLR_MODIFIER_LOGO | WLR_MODIFIER_SHIFT) && sym == XKB_KEY_q))
		return BINDING_CLOSE;
	if ((mods == WLR_MODIFIER_ALT || mods == WLR_MODIFIER_LOGO) && sym == XKB_KEY_Tab)
		return BINDING_CYCLE;
	return BINDING_NONE;
}

static void binding_run(struct server *server, enum binding binding)
{
	/* A binding whose key went down before the prompt came up does nothing under it. */
	if (prompt_active(server))
		return;
	switch (binding) {
	case BINDING_CLOSE:
		close_focused(server);
		break;
	case BINDING_CYCLE:
		cycle_focus(server);
		break;
	case BINDING_COPY:
		clipboard_copy(server);
		break;
	case BINDING_PASTE:
		clipboard_paste(server);
		break;
	case BINDING_NONE:
		break;
	}
}

/* Takes the key's consumed entry away, if it has one. */
static bool consumed_take(struct keyboard *kb, uint32_t keycode, enum binding *ret_binding)
{
	for (size_t i = 0; i < kb->n_consumed; i++) {
		if (kb->consumed[i].keycode != keycode)
			continue;
		*ret_binding = kb->consumed[i].binding;
		kb->consumed[i] = kb->consumed[--kb->n_consumed];
		return true;
	}
	return false;
}

static void keyboard_handle_modifiers(struct wl_listener *listener, void *data)
{
	struct keyboard *kb = wl_container_of(listener, kb, modifiers);
	wlr_seat_set_keyboard(kb->server->seat, kb->device);
	wlr_seat_keyboard_notify_modifiers(kb->server->seat, &kb->device->keyboard->modifiers);
}

static void keyboard_handle_key(struct wl_listener *listener, void *data)
{
	struct keyboard *kb = wl_container_of(listener, kb, key);
	struct server *server = kb->server;
	struct wlr_event_keyboard_key *event = data;
	struct wlr_keyboard *wlr_kb = kb->device->keyboard;
	/* The key signal comes before this key updates the xkb state. */
	xkb_keycode_t xkb_keycode = event->keycode + 8;
	bool pressed = event->state == WL_KEYBOARD_KEY_STATE_PRESSED;

	enum binding binding;
	if (!pressed && consumed_take(kb, event->keycode, &binding)) {
		binding_run(server, binding);
		return;
	}
	if (prompt_active(server)) {
		/* The trusted prompt has every key while it is up; a press's release goes with it.
		 */
		if (pressed) {
			xkb_keysym_t sym =
			    xkb_state_key_get_one_sym(wlr_kb->xkb_state, xkb_keycode);
			prompt_handle_key(server, sym);
			if (kb->n_consumed < CONSUMED_MAX) {
				kb->consumed[kb->n_consumed].keycode = event->keycode;
				kb->consumed[kb->n_consumed].binding = BINDING_NONE;
				kb->n_consumed++;
			}
		}
		return;
	}
	if (panel_menu_active(server)) {
		/* The panel's menu has every key while it is open, as the prompt does. */
		if (pressed) {
			panel_handle_key(server,
					 xkb_state_key_get_one_sym(wlr_kb->xkb_state, xkb_keycode));
			if (kb->n_consumed < CONSUMED_MAX) {
				kb->consumed[kb->n_consumed].keycode = event->keycode;
				kb->consumed[kb->n_consumed].binding = BINDING_NONE;
				kb->n_consumed++;
			}
		}
		return;
	}
	if (launcher_active(server)) {
		/* The launcher has every key while it is open, below the prompt. */
		if (pressed) {
			xkb_keysym_t sym =
			    xkb_state_key_get_one_sym(wlr_kb->xkb_state, xkb_keycode);
			launcher_handle_key(
			    server, sym, xkb_state_key_get_utf32(wlr_kb->xkb_state, xkb_keycode));
			if (kb->n_consumed < CONSUMED_MAX) {
				kb->consumed[kb->n_consumed].keycode = event->keycode;
				kb->consumed[kb->n_consumed].binding = BINDING_NONE;
				kb->n_consumed++;
			}
		}
		return;
	}
	/* Super pressed and released alone opens the launcher, once the release went out. */
	bool open_launcher = launcher_tap(server, event->keycode,
					  xkb_state_key_get_one_sym(wlr_kb->xkb_state, xkb_keycode),
					  pressed, wlr_keyboard_get_modifiers(wlr_kb));
	if (pressed) {
		/* Bindings match the key's unshifted symbol, so Ctrl+Shift+C is "c". */
		const xkb_keysym_t *syms;
		xkb_layout_index_t layout =
		    xkb_state_key_get_layout(wlr_kb->xkb_state, xkb_keycode);
		int n = xkb_keymap_key_get_syms_by_level(wlr_kb->keymap, xkb_keycode,
							 layout == XKB_LAYOUT_INVALID ? 0 : layout,
							 0, &syms);
		uint32_t mods = wlr_keyboard_get_modifiers(wlr_kb);
		for (int i = 0; i < n; i++) {
			binding = binding_for(server, mods, syms[i]);
			if (binding == BINDING_NONE)
				continue;
			if (kb->n_consumed < CONSUMED_MAX) {
				kb->consumed[kb->n_consumed].keycode = event->keycode;
				kb->consumed[kb->n_consumed].binding = binding;
				kb->n_consumed++;
			} else {
				binding_run(server, binding);
			}
			return;
		}
	}
	wlr_seat_set_keyboard(server->seat, kb->device);
	uint32_t before = wl_display_get_serial(server->display);
	wlr_seat_keyboard_notify_key(server->seat, event->time_msec, event->keycode, event->state);
	uint32_t serial = wl_display_get_serial(server->display);
	/* A press the focused client was sent: a serial it may open a grabbing popup with. */
	if (pressed && serial != before)
		popup_grab_key_sent(server, serial);
	if (open_launcher)
		launcher_toggle(server);
}

static void keyboard_handle_destroy(struct wl_listener *listener, void *data)
{
	struct keyboard *kb = wl_container_of(listener, kb, destroy);
	if (kb->server->virtual_keyboard == kb->device)
		kb->server->virtual_keyboard = NULL;
	wl_list_remove(&kb->modifiers.link);
	wl_list_remove(&kb->key.link);
	wl_list_remove(&kb->destroy.link);
	wl_list_remove(&kb->link);
	free(kb);
}

static void add_keyboard(struct server *server, struct wlr_input_device *device)
{
	/* Layout from XKB_DEFAULT_* in the environment, as xkbcommon does by default. */
	struct xkb_context *context = xkb_context_new(XKB_CONTEXT_NO_FLAGS);
	if (!context)
		return;
	struct xkb_keymap *keymap =
	    xkb_keymap_new_from_names(context, NULL, XKB_KEYMAP_COMPILE_NO_FLAGS);
	if (!keymap) {
		xkb_context_unref(context);
		log_warn("keyboard %s: no keymap", device->name);
		return;
	}
	struct keyboard *kb = calloc(1, sizeof(*kb));
	if (!kb) {
		xkb_keymap_unref(keymap);
		xkb_context_unref(context);
		return;
	}
	wlr_keyboard_set_keymap(device->keyboard, keymap);
	xkb_keymap_unref(keymap);
	xkb_context_unref(context);
	wlr_keyboard_set_repeat_info(device->keyboard, 25, 600);

	kb->server = server;
	kb->device = device;
	kb->modifiers.notify = keyboard_handle_modifiers;
	wl_signal_add(&device->keyboard->events.modifiers, &kb->modifiers);
	kb->key.notify = keyboard_handle_key;
	wl_signal_add(&device->keyboard->events.key, &kb->key);
	kb->destroy.notify = keyboard_handle_destroy;
	wl_signal_add(&device->events.destroy, &kb->destroy);
	wl_list_insert(&server->keyboards, &kb->link);
	wlr_seat_set_keyboard(server->seat, device);
}

static void handle_new_input(struct wl_listener *listener, void *data)
{
	struct server *server = wl_container_of(listener, server, new_input);
	struct wlr_input_device *device = data;
	switch (device->type) {
	case WLR_INPUT_DEVICE_KEYBOARD:
		add_keyboard(server, device);
		break;
	case WLR_INPUT_DEVICE_POINTER:
		wlr_cursor_attach_input_device(server->cursor, device);
		break;
	default:
		break;
	}
}

static void grab_end(void)
{
	if (grab.mode == CURSOR_PASSTHROUGH)
		return;
	if (grab.mode == CURSOR_RESIZE)
		wlr_xdg_toplevel_set_resizing(grab.view->xdg_surface, false);
	wl_list_remove(&grab.view_destroy.link);
	grab.mode = CURSOR_PASSTHROUGH;
	grab.view = NULL;
}

static void grab_handle_view_destroy(struct wl_listener *listener, void *data)
{
	/* The window is going: nothing more to tell its client. */
	wl_list_remove(&grab.view_destroy.link);
	grab.mode = CURSOR_PASSTHROUGH;
	grab.view = NULL;
}

static void grab_begin(struct server *server, struct view *view, enum cursor_mode mode,
		       uint32_t button)
{
	struct wlr_box geo;
	wlr_xdg_surface_get_geometry(view->xdg_surface, &geo);
	grab.mode = mode;
	grab.view = view;
	grab.button = button;
	grab.start_lx = server->cursor->x;
	grab.start_ly = server->cursor->y;
	grab.start_x = view->x;
	grab.start_y = view->y;
	grab.start_width = geo.width;
	grab.start_height = geo.height;
	/* The pointer leaves the client's surface during the drag: its image stays behind. */
	cursor_set_default(server);
	grab.view_destroy.notify = grab_handle_view_destroy;
	wl_signal_add(&view->xdg_surface->events.destroy, &grab.view_destroy);
	if (mode == CURSOR_RESIZE)
		wlr_xdg_toplevel_set_resizing(view->xdg_surface, true);
}

static void grab_motion(struct server *server)
{
	int dx = (int)(server->cursor->x - grab.start_lx);
	int dy = (int)(server->cursor->y - grab.start_ly);
	if (grab.mode == CURSOR_MOVE) {
		view_move(grab.view, grab.start_x + dx, grab.start_y + dy);
		return;
	}
	/* The client picks its size within what it is offered; it is never offered less than a
	 * pixel or more than the layout could ever show. */
	int w = grab.start_width + dx, h = grab.start_height + dy;
	w = w < 1 ? 1 : w > 16384 ? 16384 : w;
	h = h < 1 ? 1 : h > 16384 ? 16384 : h;
	wlr_xdg_toplevel_set_size(grab.view->xdg_surface, (uint32_t)w, (uint32_t)h);
}

static void pointer_motion(struct server *server, uint32_t time)
{
	if (grab.mode != CURSOR_PASSTHROUGH) {
		grab_motion(server);
		return;
	}
	struct wlr_surface *surface = NULL;
	double sx, sy;
	struct view *view =
	    view_at(server, server->cursor->x, server->cursor->y, &surface, &sx, &sy);
	if (!view || !surface) {
		wlr_seat_pointer_clear_focus(server->seat);
		return;
	}
	wlr_seat_pointer_notify_enter(server->seat, surface, sx, sy);
	wlr_seat_pointer_notify_motion(server->seat, time, sx, sy);
}

static void handle_cursor_motion(struct wl_listener *listener, void *data)
{
	struct server *server = wl_container_of(listener, server, cursor_motion);
	struct wlr_event_pointer_motion *event = data;
	wlr_cursor_move(server->cursor, event->device, event->delta_x, event->delta_y);
	pointer_motion(server, event->time_msec);
}

static void handle_cursor_motion_absolute(struct wl_listener *listener, void *data)
{
	struct server *server = wl_container_of(listener, server, cursor_motion_absolute);
	struct wlr_event_pointer_motion_absolute *event = data;
	wlr_cursor_warp_absolute(server->cursor, event->device, event->x, event->y);
	pointer_motion(server, event->time_msec);
}

static bool logo_held(struct server *server)
{
	struct wlr_keyboard *kb = wlr_seat_get_keyboard(server->seat);
	return kb && (wlr_keyboard_get_modifiers(kb) & WLR_MODIFIER_LOGO);
}

static void handle_cursor_button(struct wl_listener *listener, void *data)
{
	struct server *server = wl_container_of(listener, server, cursor_button);
	struct wlr_event_pointer_button *event = data;
	bool pressed = event->state == WLR_BUTTON_PRESSED;

	/* A button pressed or released while Super is down: its release opens no launcher. */
	launcher_tap_cancel(server);
	if (!pressed && grab.button && event->button == grab.button) {
		/* A drag's button is the compositor's, press and release alike, even when its
		 * window went away during the drag. */
		grab_end();
		grab.button = 0;
		return;
	}
	if (grab.mode != CURSOR_PASSTHROUGH)
		return;
	/* The launcher, the panel and its menu are the compositor's: no client sees a click on
	 * them, nor any click while the launcher is open. */
	if (launcher_handle_button(server, server->cursor->x, server->cursor->y, pressed))
		return;
	if (panel_handle_button(server, server->cursor->x, server->cursor->y, pressed))
		return;
	if (pressed) {
		struct wlr_surface *surface = NULL;
		double sx, sy;
		struct view *view =
		    view_at(server, server->cursor->x, server->cursor->y, &surface, &sx, &sy);
		/* A popup's grab would keep the focus where it is: a click elsewhere ends it. */
		popup_grab_button(server, surface);
		if (view)
			view_focus(view);
		bool drag = event->button == BUTTON_LEFT || event->button == BUTTON_RIGHT;
		if (view && drag && logo_held(server) && !server->kiosk_qube && !view->fullscreen) {
			grab_begin(server, view,
				   event->button == BUTTON_LEFT ? CURSOR_MOVE : CURSOR_RESIZE,
				   event->button);
			return;
		}
	}
	wlr_seat_pointer_notify_button(server->seat, event->time_msec, event->button, event->state);
}

static void handle_cursor_axis(struct wl_listener *listener, void *data)
{
	struct server *server = wl_container_of(listener, server, cursor_axis);
	struct wlr_event_pointer_axis *event = data;
	wlr_seat_pointer_notify_axis(server->seat, event->time_msec, event->orientation,
				     event->delta, event->delta_discrete, event->source);
}

static void handle_cursor_frame(struct wl_listener *listener, void *data)
{
	struct server *server = wl_container_of(listener, server, cursor_frame);
	wlr_seat_pointer_notify_frame(server->seat);
}

/* --- virtual input (headless backend only) --- */

static void find_headless(struct wlr_backend *backend, void *data)
{
	struct wlr_backend **ret = data;
	if (!*ret && wlr_backend_is_headless(backend))
		*ret = backend;
}

static void add_virtual_devices(struct server *server)
{
	struct wlr_backend *headless = NULL;
	if (wlr_backend_is_multi(server->backend))
		wlr_multi_for_each_backend(server->backend, find_headless, &headless);
	else
		find_headless(server->backend, &headless);
	if (!headless)
		return;
	/* Announced through new_input when the backend starts, like any other device. */
	server->virtual_keyboard =
	    wlr_headless_add_input_device(headless, WLR_INPUT_DEVICE_KEYBOARD);
	server->virtual_pointer = wlr_headless_add_input_device(headless, WLR_INPUT_DEVICE_POINTER);
}

static const struct {
	const char *name;
	xkb_keysym_t sym;
} modifier_names[] = {
    {"ctrl", XKB_KEY_Control_L}, {"control", XKB_KEY_Control_L}, {"shift", XKB_KEY_Shift_L},
    {"alt", XKB_KEY_Alt_L},	 {"super", XKB_KEY_Super_L},	 {"logo", XKB_KEY_Super_L},
};

/* The keycode (evdev numbering) that gives sym, at level 0 or, with Shift, level 1. */
static int keycode_for(struct xkb_keymap *keymap, xkb_keysym_t sym, uint32_t *ret_keycode,
		       bool *ret_shift)
{
	for (unsigned level = 0; level < 2; level++) {
		for (xkb_keycode_t kc = xkb_keymap_min_keycode(keymap);
		     kc <= xkb_keymap_max_keycode(keymap) && kc >= 8; kc++) {
			const xkb_keysym_t *syms;
			int n = xkb_keymap_key_get_syms_by_level(keymap, kc, 0, level, &syms);
			for (int i = 0; i < n; i++) {
				if (syms[i] != sym)
					continue;
				*ret_keycode = kc - 8;
				*ret_shift = level == 1;
				return 0;
			}
		}
	}
	return -EINVAL;
}

static int keysym_for(const char *name, xkb_keysym_t *ret_sym)
{
	xkb_keysym_t sym = xkb_keysym_from_name(name, XKB_KEYSYM_NO_FLAGS);
	if (sym == XKB_KEY_NoSymbol)
		sym = xkb_keysym_from_name(name, XKB_KEYSYM_CASE_INSENSITIVE);
	/* A single printable character stands for itself: "!" as well as "exclam". */
	if (sym == XKB_KEY_NoSymbol && name[0] > 0x20 && name[0] < 0x7f && name[1] == '\0')
		sym = xkb_utf32_to_keysym((uint32_t)name[0]);
	if (sym == XKB_KEY_NoSymbol)
		return -EINVAL;
	*ret_sym = sym;
	return 0;
}

static void virtual_key(struct wlr_keyboard *kb, uint32_t keycode, bool pressed)
{
	struct wlr_event_keyboard_key event = {
	    .time_msec = now_msec(),
	    .keycode = keycode,
	    .update_state = true,
	    .state = pressed ? WL_KEYBOARD_KEY_STATE_PRESSED : WL_KEYBOARD_KEY_STATE_RELEASED,
	};
	wlr_keyboard_notify_key(kb, &event);
}

#define COMBO_KEYS_MAX 8

/* Parses "mod+mod+key" (key optional when mods_only) into keycodes, modifiers first. */
static int combo_parse(struct wlr_keyboard *kb, const char *combo, bool mods_only,
		       uint32_t keycodes[static COMBO_KEYS_MAX], size_t *ret_n)
{
	char buf[128];
	if (strlen(combo) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, combo);
	size_t n = 0;
	bool need_shift = false;
	char *save = NULL;
	for (char *tok = strtok_r(buf, "+", &save); tok; tok = strtok_r(NULL, "+", &save)) {
		if (n + 2 > COMBO_KEYS_MAX)
			return -EINVAL;
		xkb_keysym_t sym = XKB_KEY_NoSymbol;
		for (size_t i = 0; i < ARRAY_SIZE(modifier_names); i++) {
			if (strcasecmp(tok, modifier_names[i].name) == 0)
				sym = modifier_names[i].sym;
		}
		bool is_mod = sym != XKB_KEY_NoSymbol;
		if (!is_mod) {
			/* Only the last part may be an ordinary key. */
			if (mods_only || save == NULL || *save != '\0')
				return -EINVAL;
			if (keysym_for(tok, &sym) < 0)
				return -EINVAL;
		}
		bool shift = false;
		if (keycode_for(kb->keymap, sym, &keycodes[n], &shift) < 0)
			return -EINVAL;
		need_shift |= shift;
		n++;
	}
	if (n == 0)
		return -EINVAL;
	if (need_shift) {
		/* "A" or "exclam": Shift goes down just before the key that needs it. */
		bool shift;
		memmove(&keycodes[n], &keycodes[n - 1], sizeof(keycodes[0]));
		if (keycode_for(kb->keymap, XKB_KEY_Shift_L, &keycodes[n - 1], &shift) < 0)
			return -EINVAL;
		n++;
	}
	*ret_n = n;
	return 0;
}

int input_key_combo(struct server *server, const char *combo)
{
	if (!server->virtual_keyboard)
		return -ENODEV;
	struct wlr_keyboard *kb = server->virtual_keyboard->keyboard;
	uint32_t keycodes[COMBO_KEYS_MAX];
	size_t n;
	int r = combo_parse(kb, combo, false, keycodes, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		virtual_key(kb, keycodes[i], true);
	for (size_t i = n; i-- > 0;)
		virtual_key(kb, keycodes[i], false);
	return 0;
}

static void virtual_button(struct server *server, uint32_t button, bool pressed)
{
	struct wlr_event_pointer_button event = {
	    .device = server->virtual_pointer,
	    .time_msec = now_msec(),
	    .button = button,
	    .state = pressed ? WLR_BUTTON_PRESSED : WLR_BUTTON_RELEASED,
	};
	wl_signal_emit(&server->virtual_pointer->pointer->events.button, &event);
	wl_signal_emit(&server->virtual_pointer->pointer->events.frame,
		       server->virtual_pointer->pointer);
}

int input_pointer(struct server *server, double x, double y, const char *button)
{
	if (!server->virtual_pointer || !server->virtual_keyboard)
		return -ENODEV;
	/* BUTTON is [MODS+]NAME[-down|-up]: a click, or half of one for drags, with modifier
	 * keys held around it. */
	static const struct {
		const char *name;
		uint32_t code;
	} buttons[] = {{"left", BUTTON_LEFT}, {"right", BUTTON_RIGHT}, {"middle", BUTTON_MIDDLE}};
	uint32_t code = 0, mods[COMBO_KEYS_MAX];
	size_t n_mods = 0;
	bool down = true, up = true;
	if (button) {
		char buf[128];
		if (strlen(button) >= sizeof(buf))
			return -EINVAL;
		strcpy(buf, button);
		char *name = strrchr(buf, '+');
		if (name) {
			*name++ = '\0';
			int r = combo_parse(server->virtual_keyboard->keyboard, buf, true, mods,
					    &n_mods);
			if (r < 0)
				return r;
		} else {
			name = buf;
		}
		char *half = strchr(name, '-');
		if (half) {
			*half++ = '\0';
			if (streq(half, "down"))
				up = false;
			else if (streq(half, "up"))
				down = false;
			else
				return -EINVAL;
		}
		for (size_t i = 0; i < ARRAY_SIZE(buttons); i++) {
			if (streq(name, buttons[i].name))
				code = buttons[i].code;
		}
		if (!code)
			return -EINVAL;
	}
	struct wlr_box *box = wlr_output_layout_get_box(server->output_layout, NULL);
	if (!box || box->width <= 0 || box->height <= 0)
		return -ENODEV;
	struct wlr_event_pointer_motion_absolute motion = {
	    .device = server->virtual_pointer,
	    .time_msec = now_msec(),
	    .x = (x - box->x) / box->width,
	    .y = (y - box->y) / box->height,
	};
	struct wlr_pointer *pointer = server->virtual_pointer->pointer;
	wl_signal_emit(&pointer->events.motion_absolute, &motion);
	wl_signal_emit(&pointer->events.frame, pointer);
	if (!code)
		return 0;
	struct wlr_keyboard *kb = server->virtual_keyboard->keyboard;
	for (size_t i = 0; i < n_mods; i++)
		virtual_key(kb, mods[i], true);
	if (down)
		virtual_button(server, code, true);
	if (up)
		virtual_button(server, code, false);
	for (size_t i = n_mods; i-- > 0;)
		virtual_key(kb, mods[i], false);
	return 0;
}

int input_init(struct server *server)
{
	server->cursor = wlr_cursor_create();
	if (!server->cursor)
		return -ENOMEM;
	wlr_cursor_attach_output_layout(server->cursor, server->output_layout);
	server->cursor_motion.notify = handle_cursor_motion;
	wl_signal_add(&server->cursor->events.motion, &server->cursor_motion);
	server->cursor_motion_absolute.notify = handle_cursor_motion_absolute;
	wl_signal_add(&server->cursor->events.motion_absolute, &server->cursor_motion_absolute);
	server->cursor_button.notify = handle_cursor_button;
	wl_signal_add(&server->cursor->events.button, &server->cursor_button);
	server->cursor_axis.notify = handle_cursor_axis;
	wl_signal_add(&server->cursor->events.axis, &server->cursor_axis);
	server->cursor_frame.notify = handle_cursor_frame;
	wl_signal_add(&server->cursor->events.frame, &server->cursor_frame);

	server->new_input.notify = handle_new_input;
	wl_signal_add(&server->backend->events.new_input, &server->new_input);
	wlr_seat_set_capabilities(server->seat,
				  WL_SEAT_CAPABILITY_POINTER | WL_SEAT_CAPABILITY_KEYBOARD);
	add_virtual_devices(server);
	return 0;
}
