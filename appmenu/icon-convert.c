/*
 * bulkhead-icon-convert --uid UID: turns one icon a qube sent (stdin: "W H\n" and RGBA, see
 * icon-rgba.h) into a PNG the host made itself, printed as "png BASE64\n" (or "error: WHY\n"
 * and exit status 1). bulkheadd runs it once per icon under the qube's own uid, in the same
 * sandbox as the qube's other host processes (common/sandbox.h: no file system, no network, no
 * new processes), with memory and CPU time capped: a flaw in the decoding reaches nothing.
 */
#include <errno.h>
#include <getopt.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "base64.h"
#include "icon-rgba.h"
#include "sandbox.h"
#include "util.h"

#define CONVERT_MEMORY_MAX (64ull * 1024 * 1024)
#define CONVERT_CPU_S	   5

static int fail(const char *why)
{
	printf("error: %s\n", why);
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"uid", required_argument, NULL, 'u'}, {0}};
	uid_t uid = SANDBOX_NOBODY_UID;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'u' || sandbox_uid_parse(optarg, &uid) < 0) {
			fprintf(stderr, "usage: bulkhead-icon-convert [--uid UID] <ICON >PNG\n");
			return 2;
		}
	}
	/* Everything that allocates for stdio, and the buffers, before the sandbox. */
	setvbuf(stdout, NULL, _IOFBF, 0);
	uint8_t *in = xmalloc(ICON_RGBA_INPUT_MAX + 1);
	size_t png_max = 1024 + (size_t)ICON_RGBA_DIM_MAX * ICON_RGBA_DIM_MAX * 5;
	uint8_t *png = xmalloc(png_max);
	char *text = xmalloc(BASE64_LEN(png_max) + 1);
	const struct {
		int resource;
		rlim_t value;
	} limits[] = {
#ifndef __SANITIZE_ADDRESS__
	    /* AddressSanitizer reserves terabytes of address space. */
	    {RLIMIT_AS, CONVERT_MEMORY_MAX},
#endif
	    {RLIMIT_CPU, CONVERT_CPU_S},
	};
	for (size_t i = 0; i < ARRAY_SIZE(limits); i++) {
		struct rlimit rl = {limits[i].value, limits[i].value};
		if (setrlimit(limits[i].resource, &rl) < 0)
			return fail("cannot set resource limits");
	}
	struct sandbox_config sb = {.keep_max = 2, .uid = uid, .fsize = 0};
	int r = sandbox_enter(&sb);
	if (r < 0) {
		fprintf(stderr, "bulkhead-icon-convert: entering the sandbox: %s\n", strerror(-r));
		return 1;
	}

	size_t len = 0;
	while (len <= ICON_RGBA_INPUT_MAX) {
		ssize_t n = read(0, in + len, ICON_RGBA_INPUT_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail("cannot read the icon");
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > ICON_RGBA_INPUT_MAX)
		return fail("the icon is larger than 64x64 pixels");
	struct icon_rgba icon;
	const char *why = NULL;
	if (icon_rgba_parse(in, len, &icon, &why) < 0)
		return fail(why);

	png_image img = {.version = PNG_IMAGE_VERSION,
			 .width = icon.width,
			 .height = icon.height,
			 .format = PNG_FORMAT_RGBA};
	png_alloc_size_t png_len = png_max;
	if (!png_image_write_to_memory(&img, png, &png_len, 0, icon.pixels, 0, NULL)) {
		png_image_free(&img);
		return fail("the icon could not be encoded");
	}
	base64_encode(png, png_len, text);
	printf("png %s\n", text);
	return fflush(stdout) == 0 ? 0 : 1;
}
