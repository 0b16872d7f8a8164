/* Fuzz target for the stored qube.json: arbitrary bytes through json-c and qube_from_json. What
 * loads must read back through the property table, and must survive the store's round trip
 * (serialize as store.c writes it, parse, load, serialize) unchanged. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "fuzz.h"
#include "qube.h"

/* The same form store.c writes to disk. */
#define STORE_FLAGS (JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE)

static struct json_object *parse(const char *p, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o;

	if (len > INT_MAX)
		return NULL;
	tok = json_tokener_new();
	if (!tok)
		abort();
	o = json_tokener_parse_ex(tok, p, (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* Serializes q the way the store does; the caller frees the string. */
static char *serialize(const struct qube *q)
{
	struct json_object *o = qube_to_json(q);
	const char *s = json_object_to_json_string_ext(o, STORE_FLAGS);
	char *copy;

	if (!s)
		abort();
	copy = strdup(s);
	if (!copy)
		abort();
	json_object_put(o);
	return copy;
}

static void check_props(const struct qube *a, const struct qube *b)
{
	for (const char *const *k = qube_prop_names(); *k; k++) {
		char *va = NULL, *vb = NULL;
		bool da, db;

		if (qube_prop_get(a, *k, &va, &da) < 0 || !va)
			abort();
		if (qube_prop_get(b, *k, &vb, &db) < 0 || !vb)
			abort();
		if (strcmp(va, vb) != 0 || da != db)
			abort();
		free(va);
		free(vb);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *o, *o2;
	struct qube *q = NULL, *q2 = NULL;
	const char *reason = NULL;
	char *s1, *s2;
	int r;

	o = parse((const char *)data, size);
	if (!o)
		return 0;
	r = qube_from_json(o, &q, &reason);
	json_object_put(o);
	if (r < 0) {
		/* Refusals carry a reason for the user and leave *ret alone. */
		if (!reason || q)
			abort();
		return 0;
	}
	if (!q)
		abort();

	s1 = serialize(q);
	o2 = parse(s1, strlen(s1));
	if (!o2)
		abort();
	r = qube_from_json(o2, &q2, &reason);
	json_object_put(o2);
	if (r < 0)
		abort(); /* what we wrote ourselves must load again */
	s2 = serialize(q2);
	if (strcmp(s1, s2) != 0)
		abort();
	check_props(q, q2);

	free(s1);
	free(s2);
	qube_free(q);
	qube_free(q2);
	return 0;
}
