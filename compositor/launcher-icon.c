#include "launcher-icon.h"

#include <glib.h>
#include <string.h>

struct png_reader {
	const guchar *data;
	gsize len, pos;
};

static cairo_status_t png_read(void *closure, unsigned char *data, unsigned int length)
{
	struct png_reader *r = closure;
	if (length > r->len - r->pos)
		return CAIRO_STATUS_READ_ERROR;
	memcpy(data, r->data + r->pos, length);
	r->pos += length;
	return CAIRO_STATUS_SUCCESS;
}

cairo_surface_t *launcher_icon_decode(const char *b64)
{
	if (!b64 || strnlen(b64, LAUNCHER_PNG_MAX + 1) > LAUNCHER_PNG_MAX)
		return NULL;
	gsize len = 0;
	guchar *png = g_base64_decode(b64, &len);
	if (!png)
		return NULL;
	struct png_reader r = {.data = png, .len = len};
	cairo_surface_t *s = cairo_image_surface_create_from_png_stream(png_read, &r);
	g_free(png);
	if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
		cairo_surface_destroy(s);
		return NULL;
	}
	int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
	if (w < 1 || h < 1 || w > LAUNCHER_ICON_MAX || h > LAUNCHER_ICON_MAX) {
		cairo_surface_destroy(s);
		return NULL;
	}
	return s;
}
