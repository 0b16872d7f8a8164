/*
 * The table of `bulkhead ls`, as qvm-ls prints it: NAME STATE CLASS LABEL TEMPLATE NETVM IP MEMORY,
 * columns as wide as their content, "-" for an empty cell. Kept apart from the daemon call so
 * tests can feed it fixed JSON and compare with golden files.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>

enum ls_colour {
	LS_COLOUR_NONE,
	LS_COLOUR_8,	 /* the closest of the 8 ANSI colours */
	LS_COLOUR_24BIT, /* the label's own RGB */
};

/* Writes the table for the JSON array qubes (objects as admin.vm.List returns them). Returns 0,
 * -EINVAL if qubes is not an array, or -EIO if writing failed. */
int ls_format(struct json_object *qubes, FILE *out, enum ls_colour colour);

/* A new array with the qubes to show: without all, qubes whose feature "internal" is "1" are
 * left out; with only_class, only qubes of that class are kept. */
struct json_object *ls_filter(struct json_object *qubes, bool all, const char *only_class);
