/* panel_layout_chips: chips never reach the focus and clock areas, leave room for "+N", count
 * every qube they do not show, and stop at PANEL_MAX_CHIPS. */
#include "panel.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#define MANY (PANEL_MAX_CHIPS + 10)

/* Where the chips (and "+N") must end: the focus area begins there. */
static int chips_end(int width)
{
	return width - PANEL_CLOCK_WIDTH - PANEL_FOCUS_WIDTH;
}

static void boxes_are_sane(const struct wlr_box *boxes, unsigned n, int width)
{
	for (unsigned i = 0; i < n; i++) {
		assert_true(boxes[i].x >= 0);
		assert_true(boxes[i].width > 0 && boxes[i].width <= PANEL_CHIP_MAX_WIDTH);
		assert_true(boxes[i].x + boxes[i].width <= chips_end(width));
		assert_true(boxes[i].y >= 0 && boxes[i].y + boxes[i].height <= PANEL_HEIGHT);
		if (i > 0)
			assert_true(boxes[i].x >= boxes[i - 1].x + boxes[i - 1].width);
	}
}

static void test_all_fit(void **state)
{
	int widths[3] = {50, 60, 70};
	struct wlr_box boxes[PANEL_MAX_CHIPS];
	unsigned hidden = 99;
	unsigned n = panel_layout_chips(widths, 3, 0, 1280, boxes, &hidden);
	assert_int_equal(n, 3);
	assert_int_equal(hidden, 0);
	assert_int_equal(boxes[0].width, 50 + 2 * PANEL_CHIP_PADDING);
	boxes_are_sane(boxes, n, 1280);
}

static void test_overflow_counts_the_rest(void **state)
{
	int widths[MANY];
	for (unsigned i = 0; i < MANY; i++)
		widths[i] = 100;
	struct wlr_box boxes[PANEL_MAX_CHIPS];
	unsigned hidden;
	unsigned n = panel_layout_chips(widths, MANY, 5, 1280, boxes, &hidden);
	assert_true(n > 0 && n < MANY);
	assert_int_equal(n + hidden, MANY + 5);
	boxes_are_sane(boxes, n, 1280);
	/* "+N" fits after the last chip. */
	const struct wlr_box *last = &boxes[n - 1];
	assert_true(last->x + last->width + PANEL_CHIP_GAP + PANEL_MORE_WIDTH <= chips_end(1280));
}

static void test_cap(void **state)
{
	/* However wide the output, at most PANEL_MAX_CHIPS chips. */
	int widths[MANY];
	for (unsigned i = 0; i < MANY; i++)
		widths[i] = 10;
	struct wlr_box boxes[PANEL_MAX_CHIPS];
	unsigned hidden;
	unsigned n = panel_layout_chips(widths, MANY, 0, 1 << 20, boxes, &hidden);
	assert_int_equal(n, PANEL_MAX_CHIPS);
	assert_int_equal(hidden, MANY - PANEL_MAX_CHIPS);
	boxes_are_sane(boxes, n, 1 << 20);
}

static void test_wide_and_odd_widths(void **state)
{
	/* A long name is cut to the widest chip; nonsense widths do not overflow. */
	int widths[4] = {100000, -5, 1 << 30, 0};
	struct wlr_box boxes[PANEL_MAX_CHIPS];
	unsigned hidden;
	unsigned n = panel_layout_chips(widths, 4, 0, 4000, boxes, &hidden);
	assert_int_equal(n + hidden, 4);
	assert_int_equal(boxes[0].width, PANEL_CHIP_MAX_WIDTH);
	boxes_are_sane(boxes, n, 4000);
}

static void test_narrow_output(void **state)
{
	/* No room at all: no chip, everything counted. */
	int widths[2] = {40, 40};
	struct wlr_box boxes[PANEL_MAX_CHIPS];
	unsigned hidden;
	assert_int_equal(panel_layout_chips(widths, 2, 0, 200, boxes, &hidden), 0);
	assert_int_equal(hidden, 2);
	assert_int_equal(panel_layout_chips(widths, 0, 0, 200, boxes, &hidden), 0);
	assert_int_equal(hidden, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_all_fit),	  cmocka_unit_test(test_overflow_counts_the_rest),
	    cmocka_unit_test(test_cap),		  cmocka_unit_test(test_wide_and_odd_widths),
	    cmocka_unit_test(test_narrow_output),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
