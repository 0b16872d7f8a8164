/* Base64 (RFC 4648, with padding): how icon images travel inside JSON (the store's apps.json,
 * the admin API's replies) without a second, binary format. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The encoded length of n bytes, without the final NUL. */
#define BASE64_LEN(n) ((((n) + 2) / 3) * 4)

/* Writes BASE64_LEN(len) + 1 bytes (NUL-terminated) to out. */
void base64_encode(const uint8_t *in, size_t len, char *out);
/* Decodes text (padded, no white space) into a new buffer. Returns 0, or -EINVAL for a byte
 * outside the alphabet or a bad length. */
int base64_decode(const char *text, uint8_t **ret, size_t *ret_len);
