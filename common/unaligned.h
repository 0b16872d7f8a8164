/* Fixed-width integers at any address, with the byte order in the name: the one place the
 * tree spells out little-endian (the channel, qchan, Wayland proxy link and file copy formats are
 * little-endian), big-endian (qcow2 headers) and native order (the Wayland wire format: libwayland
 * writes the host's own). */
#pragma once

#include <stdint.h>
#include <string.h>

static inline uint16_t unaligned_read_le16(const void *p)
{
	const uint8_t *b = p;
	return (uint16_t)(b[0] | (b[1] << 8));
}

static inline uint32_t unaligned_read_le32(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) |
	       ((uint32_t)b[3] << 24);
}

static inline void unaligned_write_le16(void *p, uint16_t v)
{
	uint8_t *b = p;
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}

static inline void unaligned_write_le32(void *p, uint32_t v)
{
	uint8_t *b = p;
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
	b[2] = (uint8_t)(v >> 16);
	b[3] = (uint8_t)(v >> 24);
}

static inline uint64_t unaligned_read_le64(const void *p)
{
	const uint8_t *b = p;
	return (uint64_t)unaligned_read_le32(b) | (uint64_t)unaligned_read_le32(b + 4) << 32;
}

static inline void unaligned_write_le64(void *p, uint64_t v)
{
	uint8_t *b = p;
	unaligned_write_le32(b, (uint32_t)v);
	unaligned_write_le32(b + 4, (uint32_t)(v >> 32));
}

/* Big-endian ("be"): on-disk formats made elsewhere (the qcow2 header). */
static inline uint32_t unaligned_read_be32(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

static inline uint64_t unaligned_read_be64(const void *p)
{
	const uint8_t *b = p;
	return (uint64_t)unaligned_read_be32(b) << 32 | unaligned_read_be32(b + 4);
}

/* Native ("ne") byte order: memcpy, which the compiler turns into one unaligned load or store. */
static inline uint32_t unaligned_read_ne32(const void *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static inline void unaligned_write_ne32(void *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}
