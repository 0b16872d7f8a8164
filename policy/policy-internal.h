/* What the loader builds and the evaluator reads. Private to policy/. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "util.h"

/* Interned strings: index i is the id of strs[i]. Open addressing over a power of two. */
struct strtab {
	char **strs;
	size_t n, cap;
	uint32_t *slots; /* id + 1, 0 = empty */
	size_t n_slots;
};

#define STRTAB_NONE (-1)

int32_t strtab_intern(struct strtab *t, const char *s, size_t len);
int32_t strtab_lookup(const struct strtab *t, const char *s, size_t len);
void strtab_done(struct strtab *t);

enum tok_kind {
	TOK_NONE = 0,
	TOK_NAME,	     /* id: names (a qube name, or "uuid:UUID") */
	TOK_ADMINVM,	     /* @adminvm, dom0 */
	TOK_ANYVM,	     /* @anyvm */
	TOK_DEFAULT,	     /* @default */
	TOK_TYPE,	     /* @type:T, id: types */
	TOK_TAG,	     /* @tag:T, id: tags */
	TOK_DISPVM,	     /* @dispvm */
	TOK_DISPVM_TEMPLATE, /* @dispvm:NAME, id: names */
	TOK_DISPVM_TAG,	     /* @dispvm:@tag:T, id: tags */
	TOK_WILDCARD,	     /* a bare *: every qube and every target, dom0 included */
};

/* Qubes 4.2+ names a qube "uuid:UUID" wherever it takes a name; dom0's is fixed. */
#define UUID_PREFIX	"uuid:"
#define UUID_PREFIX_LEN 5
#define DOM0_UUID_NAME	"uuid:00000000-0000-0000-0000-000000000000"
/* Qubes' is_dom0(): the names of the admin domain besides @adminvm. */
static inline bool is_dom0_name(const char *s)
{
	return streq(s, "dom0") || streq(s, DOM0_UUID_NAME);
}

struct ptoken {
	uint8_t kind;
	int32_t id;
	const char *value; /* the name, tag or type (interned), for ask expansion */
};

struct prule {
	int32_t service; /* id in services, or STRTAB_NONE for '*' */
	int32_t arg;	 /* id in args (without the '+'), or STRTAB_NONE for '*' */
	struct ptoken source, target;
	uint8_t action;		      /* enum policy_action */
	struct ptoken redirect;	      /* target=, kind TOK_NONE if absent */
	struct ptoken default_target; /* default_target=, ask only */
	const char *user;	      /* interned in names-independent pool, or NULL */
	bool autostart, notify;
	const char *file; /* interned path */
	unsigned line;
	const char *where;	 /* "FILE:LINE", made at load so evaluation does not format */
	const char *deny_reason; /* deny: "denied by policy FILE:LINE" */
};

struct policy {
	struct prule *rules;
	size_t n_rules, cap_rules;
	struct strtab services, args, names, tags, types, files, users, texts;
	/* For each service id, the rules that can match it (its own and the '*' ones), in order;
	 * any_rules: the '*' rules alone, for services no rule names. NULL when the index would be
	 * too big: then every rule is scanned. */
	uint32_t **by_service;
	uint32_t *n_by_service;
	uint32_t *any_rules;
	uint32_t n_any_rules;
};
