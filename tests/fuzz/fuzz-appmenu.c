/* Fuzz target for what a qube says about its applications: its bulkhead.GetAppmenus output
 * through appmenu_list_parse, and its bulkhead.GetImageRGBA output through icon_rgba_parse
 * (what bulkhead-icon-convert checks before encoding). The input's first byte chooses: 'I' an
 * icon, anything else the list (the whole input). */
#include <assert.h>
#include <string.h>

#include "appmenu-list.h"
#include "fuzz.h"
#include "icon-rgba.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why = NULL;

	if (size > 0 && data[0] == 'I') {
		struct icon_rgba icon;
		if (icon_rgba_parse(data + 1, size - 1, &icon, &why) == 0) {
			assert(icon.width >= 1 && icon.width <= ICON_RGBA_DIM_MAX);
			assert(icon.height >= 1 && icon.height <= ICON_RGBA_DIM_MAX);
			assert(icon.pixels + (size_t)icon.width * icon.height * 4 == data + size);
		} else {
			assert(why);
		}
		return 0;
	}
	struct appmenu_list l;
	if (appmenu_list_parse((const char *)data, size, &l, &why) < 0) {
		assert(why);
		return 0;
	}
	assert(l.n <= APPMENU_ENTRIES_MAX);
	for (size_t i = 0; i < l.n; i++) {
		assert(appmenu_id_valid(l.v[i].id));
		assert(strlen(l.v[i].name) <= APPMENU_NAME_MAX);
		assert(appmenu_text_valid(l.v[i].name, strlen(l.v[i].name)));
		assert(!l.v[i].icon || appmenu_icon_valid(l.v[i].icon));
		assert(i == 0 || strcmp(l.v[i - 1].id, l.v[i].id) < 0);
	}
	appmenu_list_done(&l);
	return 0;
}
