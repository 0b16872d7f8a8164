/* Where the panel's chips go: a pure function of the widths of their texts, so the unit test
 * checks it without fonts. */
#include "panel.h"

#include <stdbool.h>

unsigned panel_layout_chips(const int *text_widths, unsigned n, unsigned n_more, int width,
			    struct wlr_box ret_boxes[static PANEL_MAX_CHIPS], unsigned *ret_hidden)
{
	const int limit = width - PANEL_CLOCK_WIDTH - PANEL_FOCUS_WIDTH - PANEL_CHIP_GAP;
	int x = PANEL_CHIP_GAP;
	unsigned shown = 0;
	*ret_hidden = n_more;
	for (unsigned i = 0; i < n; i++) {
		int w = text_widths[i];
		/* Text measured by pango is never negative or huge, but the sum must not
		 * overflow whatever it is. */
		w = w < 0 ? 0 : w > PANEL_CHIP_MAX_WIDTH ? PANEL_CHIP_MAX_WIDTH : w;
		w += 2 * PANEL_CHIP_PADDING;
		if (w > PANEL_CHIP_MAX_WIDTH)
			w = PANEL_CHIP_MAX_WIDTH;
		bool more_after = i + 1 < n || n_more > 0;
		if (shown == PANEL_MAX_CHIPS ||
		    x + w + (more_after ? PANEL_MORE_WIDTH : 0) > limit) {
			*ret_hidden += n - i;
			break;
		}
		ret_boxes[shown++] =
		    (struct wlr_box){x, PANEL_CHIP_MARGIN, w, PANEL_HEIGHT - 2 * PANEL_CHIP_MARGIN};
		x += w + PANEL_CHIP_GAP;
	}
	return shown;
}
