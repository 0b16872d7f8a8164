/* Label names map to Qubes' colours exactly; anything else is refused. */
#include "label.h"

#include <errno.h>
#include <stdio.h>

static int failures;

static void expect_rgb(const char *name, uint32_t want)
{
	uint32_t rgb = 0x123456;
	int r = label_rgb(name, &rgb);
	if (r < 0 || rgb != want) {
		fprintf(stderr, "%s: got r=%d rgb=%06x, want %06x\n", name, r, rgb, want);
		failures++;
	}
}

static void expect_invalid(const char *name)
{
	uint32_t rgb = 0x123456;
	if (label_rgb(name, &rgb) != -EINVAL || rgb != 0x123456) {
		fprintf(stderr, "%s: accepted or output touched\n", name);
		failures++;
	}
}

int main(void)
{
	expect_rgb("red", 0xcc0000);
	expect_rgb("orange", 0xf57900);
	expect_rgb("yellow", 0xedd400);
	expect_rgb("green", 0x73d216);
	expect_rgb("gray", 0x555753);
	expect_rgb("blue", 0x3465a4);
	expect_rgb("purple", 0x75507b);
	expect_rgb("black", 0x000000);
	expect_invalid("white");
	expect_invalid("Blue");
	expect_invalid("");
	expect_invalid("blue ");

	float c[4];
	label_to_float(0x3465a4, c);
	if (c[0] != 0x34 / 255.0f || c[1] != 0x65 / 255.0f || c[2] != 0xa4 / 255.0f ||
	    c[3] != 1.0f) {
		fprintf(stderr, "label_to_float wrong\n");
		failures++;
	}
	return failures ? 1 : 0;
}
