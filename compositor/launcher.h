/* launcher.c: the launcher the compositor draws (Super alone opens it). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct server;

int launcher_init(struct server *server);
void launcher_finish(struct server *server);
/* true while the launcher is open: every key goes to it (launcher_handle_key), none to any
 * client. The trusted prompt comes first. */
bool launcher_active(const struct server *server);
/* A key pressed while open: keysym, and ch the character it types (0: none). */
void launcher_handle_key(struct server *server, uint32_t keysym, uint32_t ch);
/* Every key that reaches the ordinary path (mods: the modifiers held before it): true when
 * this is the release of a Super pressed and released alone, which opens the launcher. */
bool launcher_tap(struct server *server, uint32_t keycode, uint32_t keysym, bool pressed,
		  uint32_t mods);
/* A pointer button pressed or released (a Super+drag): the Super release opens nothing. */
void launcher_tap_cancel(struct server *server);
/* A pointer button at layout x,y while the launcher is open: a press on a row starts that
 * entry, a press outside the launcher closes it. Returns true (no client sees it) while open. */
bool launcher_handle_button(struct server *server, double x, double y, bool pressed);
/* Opens the launcher, or closes it when open; nothing while the prompt is shown. */
void launcher_toggle(struct server *server);
/* The control socket's `launcher` answer (control.h), newly allocated. */
char *launcher_describe(struct server *server);
