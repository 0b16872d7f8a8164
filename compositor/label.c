#include "label.h"

#include <errno.h>
#include <string.h>

static const struct {
	const char *name;
	uint32_t rgb;
} labels[] = {
    {"red", 0xcc0000},	{"orange", 0xf57900}, {"yellow", 0xedd400}, {"green", 0x73d216},
    {"gray", 0x555753}, {"blue", 0x3465a4},   {"purple", 0x75507b}, {"black", 0x000000},
};

int label_rgb(const char *name, uint32_t *ret_rgb)
{
	for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
		if (strcmp(labels[i].name, name) == 0) {
			*ret_rgb = labels[i].rgb;
			return 0;
		}
	}
	return -EINVAL;
}

void label_to_float(uint32_t rgb, float ret_color[static 4])
{
	ret_color[0] = (float)((rgb >> 16) & 0xff) / 255.0f;
	ret_color[1] = (float)((rgb >> 8) & 0xff) / 255.0f;
	ret_color[2] = (float)(rgb & 0xff) / 255.0f;
	ret_color[3] = 1.0f;
}
