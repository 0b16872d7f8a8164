#include "json-text.h"

#include <string.h>

bool json_text_has_escaped_nul(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (p[i] != '\\')
			continue;
		if (p[i + 1] == 'u' && len - i >= 6 && memcmp(p + i + 2, "0000", 4) == 0)
			return true;
		i++; /* skip the escaped character: "\\u0000" is a backslash, then text */
	}
	return false;
}
