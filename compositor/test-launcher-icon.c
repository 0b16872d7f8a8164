/* The launcher's icon decoder takes only PNGs of 1 to 64 pixels each way, whatever the text. */
#include "launcher-icon.h"

#include <glib.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static cairo_status_t collect(void *closure, const unsigned char *data, unsigned int length)
{
	g_byte_array_append(closure, data, length);
	return CAIRO_STATUS_SUCCESS;
}

/* A w x h PNG of solid red, in base64 (g_free it). */
static char *png_b64(int w, int h)
{
	cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h);
	cairo_t *cr = cairo_create(s);
	cairo_set_source_rgb(cr, 1, 0, 0);
	cairo_paint(cr);
	cairo_destroy(cr);
	GByteArray *bytes = g_byte_array_new();
	assert_int_equal(cairo_surface_write_to_png_stream(s, collect, bytes),
			 CAIRO_STATUS_SUCCESS);
	cairo_surface_destroy(s);
	char *b64 = g_base64_encode(bytes->data, bytes->len);
	g_byte_array_unref(bytes);
	return b64;
}

static void expect_size(int w, int h, bool accepted)
{
	char *b64 = png_b64(w, h);
	cairo_surface_t *s = launcher_icon_decode(b64);
	if (accepted) {
		assert_non_null(s);
		assert_int_equal(cairo_image_surface_get_width(s), w);
		assert_int_equal(cairo_image_surface_get_height(s), h);
		uint32_t px = *(uint32_t *)cairo_image_surface_get_data(s);
		assert_int_equal(px, 0xffff0000u);
		cairo_surface_destroy(s);
	} else {
		assert_null(s);
	}
	g_free(b64);
}

static void test_sizes(void **state)
{
	expect_size(1, 1, true);
	expect_size(48, 48, true);
	expect_size(64, 32, true);
	expect_size(64, 64, true);
	expect_size(65, 64, false);
	expect_size(64, 65, false);
	expect_size(1000, 1, false);
}

static void test_garbage(void **state)
{
	assert_null(launcher_icon_decode(NULL));
	assert_null(launcher_icon_decode(""));
	assert_null(launcher_icon_decode("not base64 at all!"));
	/* Base64 of text, not of a PNG. */
	assert_null(launcher_icon_decode("aGVsbG8gd29ybGQ="));
	/* A PNG cut short. */
	char *b64 = png_b64(16, 16);
	size_t n = strlen(b64);
	b64[n / 2 - (n / 2) % 4] = '\0';
	assert_null(launcher_icon_decode(b64));
	g_free(b64);
	/* Text over the cap is refused before it is decoded. */
	char *big = malloc(LAUNCHER_PNG_MAX + 2);
	assert_non_null(big);
	memset(big, 'A', LAUNCHER_PNG_MAX + 1);
	big[LAUNCHER_PNG_MAX + 1] = '\0';
	assert_null(launcher_icon_decode(big));
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sizes),
	    cmocka_unit_test(test_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
