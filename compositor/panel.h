/*
 * The panel: a strip the compositor draws at the top of every output, above every window and
 * popup, showing the running qubes (a chip each in its label colour, with its name and memory),
 * the qube of the focused window and a clock. Everything it shows comes from bulkheadd
 * (admin.vm.List, admin.Events) or from the compositor itself, never from a qube. Clicking a
 * chip opens the compositor's own menu for that qube (Terminal, Pause/Unpause, Shut down, Kill).
 * In kiosk mode there is no panel.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <wlr/util/box.h>

struct server;
struct wlr_output;

/* The strip's height in layout pixels; windows are placed below it. */
#define PANEL_HEIGHT 26

/* Its layout, left to right: chips, "+N" for the qubes whose chips do not fit, the focused
 * qube, the clock. */
#define PANEL_MAX_CHIPS	     32 /* chips drawn at most, however wide the output */
#define PANEL_CHIP_MARGIN    3	/* above and below a chip */
#define PANEL_CHIP_GAP	     4
#define PANEL_CHIP_PADDING   8 /* left and right of a chip's text */
#define PANEL_CHIP_MAX_WIDTH 220
#define PANEL_MORE_WIDTH     48
#define PANEL_FOCUS_WIDTH    180
#define PANEL_CLOCK_WIDTH    64

/* panel-layout.c: the chips' boxes (relative to the panel's corner) on a panel width wide, for
 * qubes whose chip texts are text_widths wide: as many as fit before the focus area (room kept
 * for "+N" when any are left), at most PANEL_MAX_CHIPS. *ret_hidden counts the rest, n_more
 * (qubes not even measured) included. Returns how many boxes it wrote. */
unsigned panel_layout_chips(const int *text_widths, unsigned n, unsigned n_more, int width,
			    struct wlr_box ret_boxes[static PANEL_MAX_CHIPS], unsigned *ret_hidden);

int panel_init(struct server *server);
void panel_finish(struct server *server);

/* How much of the top of each output the panel takes: PANEL_HEIGHT, or 0 in kiosk mode. */
int panel_reserved_height(const struct server *server);
/* The part of output's box that windows may use (a fullscreen window's too): its box less the
 * panel. false if the output is not in the layout. */
bool panel_usable_box(struct server *server, struct wlr_output *output, struct wlr_box *ret_box);

/* maximize.c: a maximized window's frame fills its output below the panel (panel_init and
 * panel_finish call these). */
int maximize_init(struct server *server);
void maximize_finish(struct server *server);

/* Before each frame: the panel goes back above whatever was raised since. */
void panel_raise(struct server *server);

/* true while the panel's menu is open: every key goes to panel_handle_key, none to a client. */
bool panel_menu_active(const struct server *server);
void panel_handle_key(struct server *server, uint32_t keysym);
/* A button press or release at layout lx, ly: true if the panel took it (on the strip, or any
 * press while the menu is open), and then no client sees it. */
bool panel_handle_button(struct server *server, double lx, double ly, bool pressed);

/* The control socket's `panel` and `panel-menu` answers. */
struct panel_chip_info {
	const char *name, *label, *state;
	int64_t memory_mib;
	struct wlr_box box; /* layout coordinates, on the first output's panel */
};
unsigned panel_chip_count(const struct server *server);
bool panel_chip(const struct server *server, unsigned i, struct panel_chip_info *ret);
/* The open menu's qube and its items' boxes (0 items when closed). */
unsigned panel_menu_count(const struct server *server);
bool panel_menu_item(const struct server *server, unsigned i, const char **ret_name,
		     struct wlr_box *ret_box);
