/* Interned strings for the policy: each distinct service, argument, name, tag and type gets a
 * small integer once, at load time. */
#include <stdint.h>
#include <string.h>

#include "policy-internal.h"
#include "util.h"

static uint32_t hash_bytes(const char *s, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

static bool slot_is(const struct strtab *t, uint32_t slot, const char *s, size_t len)
{
	const char *c = t->strs[slot - 1];
	return strncmp(c, s, len) == 0 && c[len] == '\0';
}

int32_t strtab_lookup(const struct strtab *t, const char *s, size_t len)
{
	if (t->n_slots == 0)
		return STRTAB_NONE;
	size_t mask = t->n_slots - 1;
	for (size_t i = hash_bytes(s, len) & mask;; i = (i + 1) & mask) {
		uint32_t v = t->slots[i];
		if (v == 0)
			return STRTAB_NONE;
		if (slot_is(t, v, s, len))
			return (int32_t)(v - 1);
	}
}

static void rehash(struct strtab *t, size_t n_slots)
{
	uint32_t *slots = xcalloc(n_slots, sizeof(*slots));
	size_t mask = n_slots - 1;
	for (size_t id = 0; id < t->n; id++) {
		size_t i = hash_bytes(t->strs[id], strlen(t->strs[id])) & mask;
		while (slots[i])
			i = (i + 1) & mask;
		slots[i] = (uint32_t)id + 1;
	}
	free(t->slots);
	t->slots = slots;
	t->n_slots = n_slots;
}

int32_t strtab_intern(struct strtab *t, const char *s, size_t len)
{
	int32_t id = strtab_lookup(t, s, len);
	if (id != STRTAB_NONE)
		return id;
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->strs = xrealloc(t->strs, t->cap * sizeof(*t->strs));
	}
	t->strs[t->n] = strndup(s, len);
	if (!t->strs[t->n])
		abort();
	t->n++;
	/* Keep the table at most half full so probes stay short. */
	if (t->n * 2 > t->n_slots)
		rehash(t, t->n_slots ? t->n_slots * 2 : 32);
	else {
		size_t mask = t->n_slots - 1, i = hash_bytes(s, len) & mask;
		while (t->slots[i])
			i = (i + 1) & mask;
		t->slots[i] = (uint32_t)t->n;
	}
	return (int32_t)(t->n - 1);
}

void strtab_done(struct strtab *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->strs[i]);
	free(t->strs);
	free(t->slots);
	*t = (struct strtab){0};
}
