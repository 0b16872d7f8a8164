/* Server-side decorations: the title a window is shown with, and its title bar drawn with
 * cairo and pango into an image that the scene shows through a wlr_buffer of our own. */
#include "decoration.h"

#include <cairo.h>
#include <drm_fourcc.h>
#include <glib.h>
#include <math.h>
#include <pango/pangocairo.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <wlr/types/wlr_buffer.h>

/* Appends len bytes of s if they fit before the NUL; false (nothing written) if not. */
static bool append(char *buf, size_t size, size_t *pos, const char *s, size_t len)
{
	if (size == 0 || len > size - 1 - *pos)
		return false;
	memcpy(buf + *pos, s, len);
	*pos += len;
	buf[*pos] = '\0';
	return true;
}

static bool shown_as_is(gunichar c)
{
	switch (g_unichar_type(c)) {
	case G_UNICODE_CONTROL:
	case G_UNICODE_FORMAT:
	case G_UNICODE_LINE_SEPARATOR:
	case G_UNICODE_PARAGRAPH_SEPARATOR:
	case G_UNICODE_SURROGATE:
	case G_UNICODE_PRIVATE_USE:
		return false;
	default:
		return true;
	}
}

size_t decoration_title(const char *qube, const char *title, char *buf, size_t size)
{
	static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */
	size_t pos = 0;
	if (size == 0)
		return 0;
	buf[0] = '\0';
	if (!title)
		title = "";
	if (qube) {
		size_t qlen = strlen(qube);
		if (title[0] == '[' && strncmp(title + 1, qube, qlen) == 0 &&
		    strncmp(title + 1 + qlen, "] ", 2) == 0)
			title += qlen + 3;
		if (!append(buf, size, &pos, "[", 1) || !append(buf, size, &pos, qube, qlen) ||
		    !append(buf, size, &pos, "]", 1))
			return pos;
		if (title[0] && !append(buf, size, &pos, " ", 1))
			return pos;
	}
	const char *p = title;
	for (size_t n = 0; *p && n < DECORATION_TITLE_CHARS; n++) {
		/* The whole rest is NUL-terminated, so validating up to its end is in bounds. */
		gunichar c = g_utf8_get_char_validated(p, -1);
		bool ok = c != (gunichar)-1 && c != (gunichar)-2 && shown_as_is(c);
		if (ok) {
			const char *next = g_utf8_next_char(p);
			if (!append(buf, size, &pos, p, (size_t)(next - p)))
				break;
			p = next;
		} else {
			if (!append(buf, size, &pos, replacement, sizeof(replacement) - 1))
				break;
			/* An invalid byte stands for itself; a valid but refused character is
			 * skipped whole. */
			p = c == (gunichar)-1 || c == (gunichar)-2 ? p + 1 : g_utf8_next_char(p);
		}
	}
	return pos;
}

static double srgb_to_linear(uint32_t c8)
{
	double c = (double)c8 / 255.0;
	return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4);
}

uint32_t decoration_text_rgb(uint32_t bg_rgb)
{
	double l = 0.2126 * srgb_to_linear((bg_rgb >> 16) & 0xff) +
		   0.7152 * srgb_to_linear((bg_rgb >> 8) & 0xff) +
		   0.0722 * srgb_to_linear(bg_rgb & 0xff);
	double with_white = 1.05 / (l + 0.05), with_black = (l + 0.05) / 0.05;
	return with_black > with_white ? 0x000000 : 0xffffff;
}

/* A cairo image surface as a wlr_buffer: read-only pixels in memory, which every wlroots
 * renderer (pixman and GLES2 alike) can take as a texture. */
struct image_buffer {
	struct wlr_buffer base;
	cairo_surface_t *surface;
};

static void image_buffer_destroy(struct wlr_buffer *wlr_buffer)
{
	struct image_buffer *buffer = wl_container_of(wlr_buffer, buffer, base);
	cairo_surface_destroy(buffer->surface);
	free(buffer);
}

static bool image_buffer_begin_data_ptr_access(struct wlr_buffer *wlr_buffer, uint32_t flags,
					       void **data, uint32_t *format, size_t *stride)
{
	struct image_buffer *buffer = wl_container_of(wlr_buffer, buffer, base);
	if (flags & WLR_BUFFER_DATA_PTR_ACCESS_WRITE)
		return false;
	*data = cairo_image_surface_get_data(buffer->surface);
	/* CAIRO_FORMAT_ARGB32: premultiplied, native-endian 32-bit ARGB, as DRM's ARGB8888 on
	 * the little-endian machines we run on. */
	*format = DRM_FORMAT_ARGB8888;
	*stride = (size_t)cairo_image_surface_get_stride(buffer->surface);
	return true;
}

static void image_buffer_end_data_ptr_access(struct wlr_buffer *wlr_buffer)
{
}

static const struct wlr_buffer_impl image_buffer_impl = {
    .destroy = image_buffer_destroy,
    .begin_data_ptr_access = image_buffer_begin_data_ptr_access,
    .end_data_ptr_access = image_buffer_end_data_ptr_access,
};

struct wlr_buffer *decoration_image_buffer(cairo_surface_t *surface)
{
	cairo_surface_flush(surface);
	if (cairo_surface_status(surface) != CAIRO_STATUS_SUCCESS) {
		cairo_surface_destroy(surface);
		return NULL;
	}
	struct image_buffer *buffer = calloc(1, sizeof(*buffer));
	if (!buffer) {
		cairo_surface_destroy(surface);
		return NULL;
	}
	buffer->surface = surface;
	wlr_buffer_init(&buffer->base, &image_buffer_impl, cairo_image_surface_get_width(surface),
			cairo_image_surface_get_height(surface));
	return &buffer->base;
}

static void set_source_rgb(cairo_t *cr, uint32_t rgb)
{
	cairo_set_source_rgb(cr, (double)((rgb >> 16) & 0xff) / 255.0,
			     (double)((rgb >> 8) & 0xff) / 255.0, (double)(rgb & 0xff) / 255.0);
}

#define TITLE_FONT    "Sans Bold 10"
#define TITLE_PADDING 8

struct wlr_buffer *decoration_title_bar(const char *text, uint32_t bg_rgb, int width, int height)
{
	if (width <= 0 || height <= 0)
		return NULL;
	cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, width, height);
	if (cairo_surface_status(surface) != CAIRO_STATUS_SUCCESS) {
		cairo_surface_destroy(surface);
		return NULL;
	}
	cairo_t *cr = cairo_create(surface);
	set_source_rgb(cr, bg_rgb);
	cairo_paint(cr);

	int text_width = width - 2 * TITLE_PADDING;
	if (text_width > 0 && text[0]) {
		PangoLayout *layout = pango_cairo_create_layout(cr);
		PangoFontDescription *font = pango_font_description_from_string(TITLE_FONT);
		pango_layout_set_font_description(layout, font);
		pango_font_description_free(font);
		/* One line whatever the text holds, cut with an ellipsis where the bar ends. */
		pango_layout_set_single_paragraph_mode(layout, TRUE);
		pango_layout_set_width(layout, text_width * PANGO_SCALE);
		pango_layout_set_ellipsize(layout, PANGO_ELLIPSIZE_END);
		pango_layout_set_text(layout, text, -1);
		int lw, lh;
		pango_layout_get_pixel_size(layout, &lw, &lh);
		set_source_rgb(cr, decoration_text_rgb(bg_rgb));
		cairo_move_to(cr, TITLE_PADDING, (height - lh) / 2);
		pango_cairo_show_layout(cr, layout);
		g_object_unref(layout);
	}
	cairo_destroy(cr);
	cairo_surface_flush(surface);
	if (cairo_surface_status(surface) != CAIRO_STATUS_SUCCESS) {
		cairo_surface_destroy(surface);
		return NULL;
	}

	struct image_buffer *buffer = calloc(1, sizeof(*buffer));
	if (!buffer) {
		cairo_surface_destroy(surface);
		return NULL;
	}
	buffer->surface = surface;
	wlr_buffer_init(&buffer->base, &image_buffer_impl, width, height);
	return &buffer->base;
}
