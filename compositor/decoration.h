/* Server-side decorations: the title text a window is shown with, and the title bar image. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct wlr_buffer;
typedef struct _cairo_surface cairo_surface_t;

/* A client's title is cut to this many characters before the qube's prefix is added. */
#define DECORATION_TITLE_CHARS 256
/* Enough for any title decoration_title writes: "[" qube "] ", 4 bytes per character, NUL. */
#define DECORATION_TITLE_SIZE (32 + 3 + DECORATION_TITLE_CHARS * 4 + 1)

/* A CAIRO_FORMAT_ARGB32 image surface as a read-only wlr_buffer, which takes it over (destroyed
 * with the buffer, or at once on failure: NULL). The caller holds the producer's reference. */
struct wlr_buffer *decoration_image_buffer(cairo_surface_t *surface);

/* Writes the title a window is shown with into buf (NUL-terminated, cut at a character boundary
 * to fit size): "[qube] title" for a qube's window (qube not NULL), the title alone for the
 * host's. title may be NULL or anything a client sent: invalid UTF-8 and control, format and
 * line-separator characters (which could hide or reorder text, or break a control socket line)
 * become U+FFFD, and at most DECORATION_TITLE_CHARS characters are kept. A title that already
 * starts with "[qube] " for this same qube (the Wayland proxy prefixes titles) is not prefixed
 * twice. Returns the length written. */
size_t decoration_title(const char *qube, const char *title, char *buf, size_t size);

/* The text colour for a title bar of colour bg_rgb: white or black, whichever contrasts more
 * (WCAG relative luminance). */
uint32_t decoration_text_rgb(uint32_t bg_rgb);

/* A width x height title bar in colour bg_rgb reading text (already made safe by
 * decoration_title) in its contrasting colour, ellipsized to fit. The caller holds the
 * producer's reference (wlr_buffer_drop). NULL if it cannot be drawn. */
struct wlr_buffer *decoration_title_bar(const char *text, uint32_t bg_rgb, int width, int height);
