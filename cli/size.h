/* Sizes on the command line ("2G", "512M", "4096") and sizes shown to people ("3.0 GiB"). */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Parses digits with an optional binary unit K, M, G, T, P or E (either case, optionally
 * followed by "iB"). Nothing else is accepted: no sign, space, fraction or empty number.
 * Returns 0, -EINVAL for bad syntax, -ERANGE when the value does not fit in 64 bits. */
int size_parse(const char *s, uint64_t *ret);

/* "512 B", "1.5 KiB", "3.0 GiB" (one decimal from KiB up). Returns buf. */
char *size_format(uint64_t bytes, char *buf, size_t size);
