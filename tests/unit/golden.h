/* Golden files of the unit tests: the text a test makes is compared with DIR/NAME; with
 * BULKHEAD_UPDATE_GOLDEN=1 in the environment the file is rewritten instead (then review the
 * diff). Call from a cmocka test: a difference fails it and prints what was made. */
#pragma once

void golden_check(const char *dir, const char *name, const char *text);
