/* Qubes' label colours; the only colours a qube's frame can have. */
#pragma once

#include <stdint.h>

/* The host's own windows: a colour no label has, so a qube cannot look like the host. */
#define LABEL_HOST_RGB 0xffffffu

/* Sets *ret_rgb to 0xRRGGBB for a label name; -EINVAL for anything else. */
int label_rgb(const char *name, uint32_t *ret_rgb);

/* RGB into the premultiplied float colour wlroots wants (alpha 1). */
void label_to_float(uint32_t rgb, float ret_color[static 4]);
