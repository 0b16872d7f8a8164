/* The compositor's control socket, $XDG_RUNTIME_DIR/bulkhead-compositor.ctl (mode 0600; a peer
 * whose SO_PEERCRED uid is neither the compositor's nor root is refused). Host side only: no
 * qube can reach it.
 *
 * Requests are one line each (at most 256 bytes, '\n'-terminated), answered by one line
 * "ok[ ...]" or "error MESSAGE"; some answers carry a descriptor (SCM_RIGHTS on the answer's
 * first byte):
 *
 *   connect QUBE LABEL   -> "ok" + a new Wayland client connection belonging to QUBE (created
 *                           by the compositor with wl_client_create on a socketpair). The qube
 *                           is registered with LABEL if new; a known qube keeps its label
 *                           unless LABEL equals it ("error label mismatch" otherwise).
 *                           With MAX_QUBES known, qubes with no connection or connector left
 *                           are forgotten to make room ("error too many qubes" only when
 *                           none can be).
 *   connector QUBE LABEL -> "ok" + a connector socket bound to QUBE: each byte written to it is
 *                           answered by one byte with a new connection for QUBE attached. The
 *                           GUI proxy's host half holds one; it cannot ask for any other qube.
 *   audio                -> "ok" + a socket connected, as the compositor's user, to the user's
 *                           PipeWire: $PIPEWIRE_REMOTE if absolute, else
 *                           $XDG_RUNTIME_DIR/$PIPEWIRE_REMOTE (default pipewire-0); "error no
 *                           sound server at PATH: REASON" when nothing listens there. bulkheadd
 *                           hands it to a qube's audio host half (vmmanager/audio.h).
 *   windows              -> "ok N", then N lines "ID\tQUBE\tTITLE\tX\tY\tW\tH\tFOCUSED"
 *                           (QUBE is "-" for host windows; TITLE as the title bar shows it;
 *                           X Y W H the frame's box in layout coordinates, title bar and
 *                           borders included; FOCUSED 0 or 1), topmost first. ID is given on a
 *                           window's first listing and stays with it.
 *   key COMBO            -> presses and releases a key combination (e.g. ctrl+shift+c, alt+tab,
 *                           super+q, A, Return) on the compositor's own virtual keyboard,
 *                           through the same path as a real keyboard (tests; a headless session
 *                           has no other). Modifiers: ctrl, shift, alt, super (or logo); the key
 *                           is an xkb keysym name or one printable character ("error unknown
 *                           key" otherwise); Shift is added for a symbol that needs it.
 *   pointer X Y [BUTTON] -> moves the pointer of the compositor's virtual pointer to layout X,Y
 *                           and optionally clicks BUTTON (left, right, middle) there. BUTTON
 *                           may carry modifiers held around it and a half: "super+left-down",
 *                           then "pointer X2 Y2", then "left-up" is a Super+drag.
 *                           Both answer "error no virtual input" unless the backend is headless.
 *   clipboard            -> "ok SOURCE BYTES" of the global clipboard, or "ok - 0" when empty.
 *   panel                -> "ok N", then N lines "QUBE\tLABEL\tSTATE\tMEMORY\tX\tY\tW\tH": the
 *                           chips the panel (panel.h) draws on the first output, left to right,
 *                           as bulkheadd last listed them (STATE as admin.vm.List says it,
 *                           MEMORY in MiB; X Y W H the chip's box in layout coordinates).
 *                           Qubes past the chips that fit are not listed ("+N" on the panel).
 *                           "ok 0" in kiosk mode (no panel) or while bulkheadd is unreachable.
 *   panel-menu           -> "ok N", then N lines "ITEM\tX\tY\tW\tH": the items of the panel's
 *                           open menu (Terminal, Pause or Unpause, Shut down, Kill) and their
 *                           boxes in layout coordinates; "ok 0" when no menu is open.
 *   launcher             -> "ok OPEN N" (OPEN 1 while the launcher is shown, else 0 and N 0),
 *                           then one line "FILTER\tSTATUS" (what was typed; the progress or
 *                           error line shown, or empty), then N lines
 *                           "QUBE\tID\tNAME\tSELECTED\tX\tY\tW\tH", one per entry matching the
 *                           filter in the launcher's order (QUBE "-" for the host's programs;
 *                           NAME as drawn; SELECTED 0 or 1; X Y W H the row's box in layout
 *                           coordinates, 0 0 0 0 for a row scrolled out of view).
 *   quit                 -> "ok", then the compositor exits.
 *
 * A request that is malformed, unknown or longer than the cap is answered "error ..." and the
 * connection carries on (after a line too long, with the line that follows it).
 */
#pragma once

struct server;

#define CONTROL_SOCKET_NAME "bulkhead-compositor.ctl"

int control_init(struct server *server);
void control_finish(struct server *server);
/* The socket's path, for the startup message; NULL before control_init. */
const char *control_path(const struct server *server);
