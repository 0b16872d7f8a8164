/*
 * An icon as a qube's bulkhead.GetImageRGBA service sends it (Qubes' qubes.GetImageRGBA):
 * "W H\n", then W*H pixels of 4 bytes, R G B A. The qube's bytes: the header is checked
 * strictly (decimal, no sign or leading zero, one space) and both sides capped before the
 * pixel count is computed, and the data must be exactly that long. Pure, for the unit tests
 * and the fuzz target; bulkhead-icon-convert runs it in its sandbox.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define ICON_RGBA_DIM_MAX    64 /* pixels per side: a menu icon */
#define ICON_RGBA_HEADER_MAX 16 /* "64 64\n" and then some */
#define ICON_RGBA_INPUT_MAX  (ICON_RGBA_HEADER_MAX + ICON_RGBA_DIM_MAX * ICON_RGBA_DIM_MAX * 4)

struct icon_rgba {
	unsigned width, height;
	const uint8_t *pixels; /* into the caller's buffer: width * height * 4 bytes */
};

/* Returns 0, or -EINVAL / -E2BIG with a static reason in *ret_why. */
int icon_rgba_parse(const uint8_t *data, size_t len, struct icon_rgba *ret, const char **ret_why);
