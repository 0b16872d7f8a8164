/* The wl_shm pixel formats both proxy halves know, in one table: the guest half cuts damaged
 * rectangles out of buffers by their bytes per pixel, the host half checks a buffer's stride
 * against them and passes on only the formats marked so. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct shm_format {
	uint32_t format; /* enum wl_shm_format */
	uint8_t bpp;	 /* bytes per pixel */
	bool passed;	 /* the host half passes buffers of it to the compositor */
};

/* The row of format, or NULL for one not in the table (the guest then sends whole rows, the
 * host refuses the buffer). */
const struct shm_format *shm_format_find(uint32_t format);
