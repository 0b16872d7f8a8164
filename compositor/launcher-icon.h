/* The launcher's icons: only the PNGs bulkheadd's confined converter made
 * (admin.vm.apps.Icon), decoded by cairo and size-checked after decoding. */
#pragma once

#include <cairo.h>

/* What bulkheadd's converter guarantees; anything larger is refused. */
#define LAUNCHER_ICON_MAX 64
/* Base64 text of one icon accepted at most. */
#define LAUNCHER_PNG_MAX (256 * 1024)

/* The PNG in base64 text b64 as an image surface of 1 to LAUNCHER_ICON_MAX pixels each way
 * (the caller destroys it), or NULL: no text, too long, not base64 of a PNG cairo decodes, or
 * of another size. */
cairo_surface_t *launcher_icon_decode(const char *b64);
