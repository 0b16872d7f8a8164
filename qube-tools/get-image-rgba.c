/*
 * bulkhead-get-image-rgba ICON: the bulkhead.GetImageRGBA service (Qubes' qubes.GetImageRGBA).
 * Finds the icon a desktop entry names (an absolute path, or a name looked up in the hicolor
 * theme and /usr/share/pixmaps, PNG only), scales it down to fit 64x64 and prints "W H\n" and
 * the RGBA pixels. The host checks all of it again in a confined process (bulkhead-icon-convert).
 */
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define SIDE_MAX 64 /* ICON_RGBA_DIM_MAX on the host */

static bool find_icon(const char *name, char *path, size_t size)
{
	static const char *const sizes[] = {"48x48",   "64x64", "32x32", "128x128",
					    "256x256", "24x24", "16x16", "512x512"};
	const char *home = getenv("HOME");
	const char *bases[] = {home && *home == '/' ? home : NULL, "/usr/local", "/usr"};

	if (name[0] == '/') {
		snprintf(path, size, "%s", name);
		return access(path, R_OK) == 0;
	}
	for (size_t s = 0; s < ARRAY_SIZE(sizes); s++)
		for (size_t b = 0; b < ARRAY_SIZE(bases); b++) {
			if (!bases[b])
				continue;
			snprintf(path, size, "%s/%sshare/icons/hicolor/%s/apps/%s.png", bases[b],
				 b == 0 ? ".local/" : "", sizes[s], name);
			if (access(path, R_OK) == 0)
				return true;
		}
	snprintf(path, size, "/usr/share/pixmaps/%s.png", name);
	return access(path, R_OK) == 0;
}

int main(int argc, char **argv)
{
	char path[1024];
	png_image img = {.version = PNG_IMAGE_VERSION};

	if (argc != 2 || !argv[1][0] || strstr(argv[1], "..") || strlen(argv[1]) > 255) {
		fprintf(stderr, "usage: bulkhead-get-image-rgba ICON\n");
		return 2;
	}
	if (!find_icon(argv[1], path, sizeof(path))) {
		fprintf(stderr, "bulkhead-get-image-rgba: no PNG icon '%s'\n", argv[1]);
		return 1;
	}
	if (!png_image_begin_read_from_file(&img, path) || img.width == 0 || img.height == 0 ||
	    img.width > 4096 || img.height > 4096) {
		fprintf(stderr, "bulkhead-get-image-rgba: %s: %s\n", path,
			img.message[0] ? img.message : "unusable size");
		return 1;
	}
	img.format = PNG_FORMAT_RGBA;
	uint8_t *src = xmalloc(PNG_IMAGE_SIZE(img));
	if (!png_image_finish_read(&img, NULL, src, 0, NULL)) {
		fprintf(stderr, "bulkhead-get-image-rgba: %s: %s\n", path, img.message);
		return 1;
	}
	/* Nearest neighbour into at most SIDE_MAX per side, keeping the aspect ratio. */
	unsigned w = img.width, h = img.height;
	if (w > SIDE_MAX || h > SIDE_MAX) {
		if (w >= h) {
			h = (unsigned)((uint64_t)h * SIDE_MAX / w) ?: 1;
			w = SIDE_MAX;
		} else {
			w = (unsigned)((uint64_t)w * SIDE_MAX / h) ?: 1;
			h = SIDE_MAX;
		}
	}
	uint8_t *dst = xmalloc((size_t)w * h * 4);
	for (unsigned y = 0; y < h; y++)
		for (unsigned x = 0; x < w; x++) {
			size_t sx = (size_t)x * img.width / w, sy = (size_t)y * img.height / h;
			memcpy(dst + ((size_t)y * w + x) * 4, src + (sy * img.width + sx) * 4, 4);
		}
	printf("%u %u\n", w, h);
	fwrite(dst, 4, (size_t)w * h, stdout);
	free(src);
	free(dst);
	return fflush(stdout) == 0 ? 0 : 1;
}
