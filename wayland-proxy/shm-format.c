/* The wl_shm format table (see shm-format.h). */
#include "shm-format.h"

#include <stddef.h>
#include <wayland-client-protocol.h>

#include "util.h"

/* The host half passes on the formats it always has (the 32-bit ones and RGB565 and BGR565);
 * the others are here for the guest half, which cuts their rectangles all the same. */
static const struct shm_format formats[] = {
    {WL_SHM_FORMAT_ARGB8888, 4, true},	     {WL_SHM_FORMAT_XRGB8888, 4, true},
    {WL_SHM_FORMAT_ABGR8888, 4, true},	     {WL_SHM_FORMAT_XBGR8888, 4, true},
    {WL_SHM_FORMAT_RGBA8888, 4, true},	     {WL_SHM_FORMAT_RGBX8888, 4, true},
    {WL_SHM_FORMAT_BGRA8888, 4, true},	     {WL_SHM_FORMAT_BGRX8888, 4, true},
    {WL_SHM_FORMAT_ARGB2101010, 4, true},    {WL_SHM_FORMAT_XRGB2101010, 4, true},
    {WL_SHM_FORMAT_ABGR2101010, 4, true},    {WL_SHM_FORMAT_XBGR2101010, 4, true},
    {WL_SHM_FORMAT_RGB565, 2, true},	     {WL_SHM_FORMAT_BGR565, 2, true},
    {WL_SHM_FORMAT_RGB888, 3, false},	     {WL_SHM_FORMAT_BGR888, 3, false},
    {WL_SHM_FORMAT_XRGB4444, 2, false},	     {WL_SHM_FORMAT_ARGB4444, 2, false},
    {WL_SHM_FORMAT_XRGB1555, 2, false},	     {WL_SHM_FORMAT_ARGB1555, 2, false},
    {WL_SHM_FORMAT_XRGB16161616F, 8, false}, {WL_SHM_FORMAT_ARGB16161616F, 8, false},
    {WL_SHM_FORMAT_XBGR16161616F, 8, false}, {WL_SHM_FORMAT_ABGR16161616F, 8, false},
};

const struct shm_format *shm_format_find(uint32_t format)
{
	for (size_t i = 0; i < ARRAY_SIZE(formats); i++)
		if (formats[i].format == format)
			return &formats[i];
	return NULL;
}
