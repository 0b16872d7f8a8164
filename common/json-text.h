/* Checks on raw JSON text before json-c parses it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* json-c cuts object keys at an escaped NUL ("dest\u0000x" reads as "dest") and C code cuts
 * string values there: text holding one would be read as something other than was written.
 * True when p contains the escape \u0000 (an escaped backslash followed by "u0000" is not). */
bool json_text_has_escaped_nul(const uint8_t *p, size_t len);
