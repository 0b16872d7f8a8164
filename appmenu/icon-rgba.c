/* The check of an icon a qube sent (icon-rgba.h). */
#include "icon-rgba.h"

#include <errno.h>
#include <string.h>

/* A decimal number 1..ICON_RGBA_DIM_MAX at *p, ending at the byte end; moves *p past it. */
static int dimension(const uint8_t **p, const uint8_t *limit, uint8_t end, unsigned *ret)
{
	const uint8_t *s = *p;
	unsigned v = 0;
	size_t digits = 0;

	while (s < limit && *s >= '0' && *s <= '9' && digits < 3) {
		v = v * 10 + (unsigned)(*s - '0');
		s++;
		digits++;
	}
	if (digits == 0 || s >= limit || *s != end || (digits > 1 && **p == '0'))
		return -EINVAL;
	*ret = v;
	*p = s + 1;
	return 0;
}

int icon_rgba_parse(const uint8_t *data, size_t len, struct icon_rgba *ret, const char **ret_why)
{
	const uint8_t *p = data,
		      *hdr_end = data + (len < ICON_RGBA_HEADER_MAX ? len : ICON_RGBA_HEADER_MAX);
	unsigned w, h;

	if (dimension(&p, hdr_end, ' ', &w) < 0 || dimension(&p, hdr_end, '\n', &h) < 0) {
		*ret_why = "the icon does not start with \"WIDTH HEIGHT\\n\"";
		return -EINVAL;
	}
	if (w == 0 || h == 0 || w > ICON_RGBA_DIM_MAX || h > ICON_RGBA_DIM_MAX) {
		*ret_why = "the icon's size is not 1 to 64 pixels per side";
		return -E2BIG;
	}
	size_t want = (size_t)w * h * 4, have = len - (size_t)(p - data);
	if (have != want) {
		*ret_why = have < want ? "the icon's pixel data is short"
				       : "the icon has more data than its size";
		return -EINVAL;
	}
	*ret = (struct icon_rgba){.width = w, .height = h, .pixels = p};
	return 0;
}
