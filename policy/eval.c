/*
 * Deciding a call: Qubes' first-match evaluation over the rules the loader built. The request's
 * names are looked up once; each rule is then a handful of integer comparisons and bit tests.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "policy-internal.h"
#include "util.h"

/* A qube named in the request, as the rules see it. */
struct side {
	const struct policy_domain *dom; /* NULL: not in the system info */
	int32_t name;			 /* id in names, or STRTAB_NONE */
	int32_t uuid;			 /* id of "uuid:UUID" in names, or STRTAB_NONE */
	int32_t type;			 /* id in types, or STRTAB_NONE */
	uint64_t *tags;			 /* bit per id in tags */
};

/* What the caller asked for as target (Qubes' IntendedTarget). */
enum intended { IT_NAME, IT_ADMIN, IT_DEFAULT, IT_DISPVM, IT_DISPVM_TEMPLATE };

struct request {
	int32_t service, arg;
	const char *source;
	bool src_admin;
	struct side src;
	enum intended tkind;
	struct side tgt;  /* IT_NAME */
	struct side disp; /* IT_DISPVM_TEMPLATE: its template; IT_DISPVM: the source's default */
};

/* A qube by name or by "uuid:UUID", as Qubes' system info has an entry under each. */
static const struct policy_domain *find_domain(const struct policy_sysinfo *si, const char *name)
{
	if (!name)
		return NULL;
	if (strncmp(name, UUID_PREFIX, UUID_PREFIX_LEN) == 0) {
		for (size_t i = 0; i < si->n_domains; i++)
			if (si->domains[i].uuid &&
			    streq(si->domains[i].uuid, name + UUID_PREFIX_LEN))
				return &si->domains[i];
		/* dom0's uuid is fixed, whether or not the system info says it. */
		return streq(name, DOM0_UUID_NAME) ? find_domain(si, "dom0") : NULL;
	}
	for (size_t i = 0; i < si->n_domains; i++)
		if (si->domains[i].name && streq(si->domains[i].name, name))
			return &si->domains[i];
	return NULL;
}

/* Does the rule's name token t (a name or "uuid:UUID") name d? */
static bool names_domain(const char *t, const struct policy_domain *d)
{
	if (strncmp(t, UUID_PREFIX, UUID_PREFIX_LEN) == 0)
		return d->uuid && streq(d->uuid, t + UUID_PREFIX_LEN);
	return streq(d->name, t);
}

static bool is_admin_domain(const struct policy_domain *d)
{
	return d && d->type && streq(d->type, "AdminVM");
}

static bool has_tag(const struct policy_domain *d, const char *tag)
{
	for (size_t i = 0; i < d->n_tags; i++)
		if (d->tags[i] && streq(d->tags[i], tag))
			return true;
	return false;
}

static bool bit(const uint64_t *set, int32_t id)
{
	return id >= 0 && (set[id / 64] >> (id % 64)) & 1;
}

static void side_init(const struct policy *p, const struct policy_domain *dom, const char *name,
		      struct side *s)
{
	s->dom = dom;
	s->name = name ? strtab_lookup(&p->names, name, strlen(name)) : STRTAB_NONE;
	s->uuid = STRTAB_NONE;
	s->type = STRTAB_NONE;
	if (!s->dom)
		return;
	/* Rules may name it "uuid:UUID" too. */
	char buf[UUID_PREFIX_LEN + 64];
	if (s->dom->uuid && strlen(s->dom->uuid) < sizeof(buf) - UUID_PREFIX_LEN) {
		int n = snprintf(buf, sizeof(buf), UUID_PREFIX "%s", s->dom->uuid);
		s->uuid = strtab_lookup(&p->names, buf, (size_t)n);
	}
	if (s->dom->type)
		s->type = strtab_lookup(&p->types, s->dom->type, strlen(s->dom->type));
	for (size_t i = 0; i < s->dom->n_tags; i++) {
		if (!s->dom->tags[i])
			continue;
		int32_t id = strtab_lookup(&p->tags, s->dom->tags[i], strlen(s->dom->tags[i]));
		if (id >= 0)
			s->tags[id / 64] |= UINT64_C(1) << (id % 64);
	}
}

static bool match_source(const struct ptoken *t, const struct request *q)
{
	switch (t->kind) {
	case TOK_WILDCARD:
		return true;
	case TOK_NAME:
		return q->src.name == t->id || q->src.uuid == t->id;
	case TOK_ADMINVM:
		return q->src_admin;
	case TOK_ANYVM:
		return !q->src_admin;
	case TOK_TYPE:
		return q->src.dom && q->src.type == t->id;
	case TOK_TAG:
		return q->src.dom && bit(q->src.tags, t->id);
	default:
		/* @dispvm:NAME and @dispvm:@tag:T name disposables to be, never a caller. */
		return false;
	}
}

static bool match_target(const struct ptoken *t, const struct request *q)
{
	switch (t->kind) {
	case TOK_WILDCARD:
		return true; /* @default and the disposables too */
	case TOK_NAME:
		return q->tkind == IT_NAME && (q->tgt.name == t->id || q->tgt.uuid == t->id);
	case TOK_ADMINVM:
		return q->tkind == IT_ADMIN;
	case TOK_ANYVM:
		return q->tkind != IT_ADMIN;
	case TOK_DEFAULT:
		return q->tkind == IT_DEFAULT;
	/* tgt.dom is dom0's entry for a call to "dom0" (not to "@adminvm"), as in Qubes, where
	 * these look the requested name up in the system info. */
	case TOK_TYPE:
		return (q->tkind == IT_NAME || q->tkind == IT_ADMIN) && q->tgt.dom &&
		       q->tgt.type == t->id;
	case TOK_TAG:
		return (q->tkind == IT_NAME || q->tkind == IT_ADMIN) && q->tgt.dom &&
		       bit(q->tgt.tags, t->id);
	case TOK_DISPVM:
		return q->tkind == IT_DISPVM;
	case TOK_DISPVM_TEMPLATE:
		return (q->tkind == IT_DISPVM_TEMPLATE || q->tkind == IT_DISPVM) &&
		       (q->disp.name == t->id || q->disp.uuid == t->id);
	case TOK_DISPVM_TAG:
		return (q->tkind == IT_DISPVM_TEMPLATE || q->tkind == IT_DISPVM) && q->disp.dom &&
		       q->disp.dom->template_for_dispvms && bit(q->disp.tags, t->id);
	default:
		return false;
	}
}

static bool match_but_target(const struct prule *r, const struct request *q)
{
	return (r->service == STRTAB_NONE || r->service == q->service) &&
	       (r->arg == STRTAB_NONE || r->arg == q->arg) && match_source(&r->source, q);
}

static void deny(struct policy_result *res, const char *rule, bool notify, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void deny(struct policy_result *res, const char *rule, bool notify, const char *fmt, ...)
{
	va_list ap;
	policy_result_finish(res);
	res->action = POLICY_DENY;
	res->notify = notify;
	res->rule = rule ? xstrdup(rule) : NULL;
	va_start(ap, fmt);
	if (vasprintf(&res->reason, fmt, ap) < 0)
		abort();
	va_end(ap);
}

/* "@dispvm:NAME" for a new disposable of NAME (a name or "uuid:UUID"), if NAME may be one's
 * template. */
static char *dispvm_of(const struct policy_sysinfo *si, const char *name)
{
	const struct policy_domain *d = find_domain(si, name);
	if (!d || !d->template_for_dispvms)
		return NULL;
	return xasprintf("@dispvm:%s", d->name);
}

static const char *source_default_dispvm(const struct request *q)
{
	return q->src.dom ? q->src.dom->default_dispvm : NULL;
}

/* A redirect (target=, default_target=) as the target it names, or NULL if it names none.
 * A qube named by uuid comes back as its name: that is what callers and prompts use. */
static char *resolve_redirect(const struct ptoken *t, const struct request *q,
			      const struct policy_sysinfo *si)
{
	switch (t->kind) {
	case TOK_ADMINVM:
		return xstrdup("dom0");
	case TOK_DISPVM:
		return source_default_dispvm(q) ? dispvm_of(si, source_default_dispvm(q)) : NULL;
	case TOK_DISPVM_TEMPLATE:
		return dispvm_of(si, t->value);
	case TOK_NAME: {
		const struct policy_domain *d = find_domain(si, t->value);
		return d ? xstrdup(d->name) : NULL;
	}
	default:
		return NULL;
	}
}

/* Qubes' allow_no_autostart(): may the call go there without starting anything? */
static bool runs_without_autostart(const struct policy_sysinfo *si, const char *target)
{
	if (streq(target, "dom0"))
		return true;
	if (strncmp(target, "@dispvm", 7) == 0)
		return false;
	const struct policy_domain *d = find_domain(si, target);
	return d && d->power_state && streq(d->power_state, "Running");
}

static void evaluate_allow(const struct prule *r, const char *rule, const struct request *q,
			   const struct policy_sysinfo *si, struct policy_result *res)
{
	_cleanup_free_ char *target = NULL;

	if (r->redirect.kind != TOK_NONE) {
		target = resolve_redirect(&r->redirect, q, si);
		if (!target) {
			if (r->redirect.kind == TOK_DISPVM && !source_default_dispvm(q))
				goto no_dispvm;
			deny(res, rule, true, "invalid target at %s: %s", rule,
			     r->redirect.kind == TOK_DISPVM ? source_default_dispvm(q)
			     : r->redirect.value	    ? r->redirect.value
							    : "?");
			return;
		}
	} else {
		switch (q->tkind) {
		case IT_ADMIN:
			target = xstrdup("dom0");
			break;
		case IT_DEFAULT:
			deny(res, rule, true,
			     "policy define 'allow' action at %s but no target is specified by "
			     "caller or policy",
			     rule);
			return;
		case IT_DISPVM:
			if (!source_default_dispvm(q))
				goto no_dispvm;
			target = dispvm_of(si, source_default_dispvm(q));
			if (!target) {
				deny(res, rule, true, "not a template for dispvm: %s",
				     source_default_dispvm(q));
				return;
			}
			break;
		case IT_DISPVM_TEMPLATE:
			target = xasprintf("@dispvm:%s", q->disp.dom->name);
			break;
		default:
			target = xstrdup(q->tgt.dom->name);
			break;
		}
	}
	if (!r->autostart && !runs_without_autostart(si, target)) {
		deny(res, rule, true, "target %s is denied because it would require autostart",
		     target);
		return;
	}
	/* Qubes refuses a call to the caller itself (qubes-issues#951). */
	if (streq(target, q->source)) {
		deny(res, rule, true, "loopback qrexec connection not supported");
		return;
	}
	res->action = POLICY_ALLOW;
	res->target = TAKE_PTR(target);
	res->user = r->user ? xstrdup(r->user) : NULL;
	res->autostart = r->autostart;
	res->notify = r->notify;
	res->rule = xstrdup(rule);
	return;
no_dispvm:
	deny(res, rule, true,
	     "policy define 'allow' action to @dispvm at %s but no DispVM base is set for this VM",
	     rule);
}

/* The targets an `ask` rule's token stands for, marked in set: [0, n) qube names, [n, 2n)
 * "@dispvm:" + name, 2n "@dispvm", 2n + 1 "@adminvm". */
static void expand(const struct ptoken *t, const struct policy_sysinfo *si, uint8_t *set,
		   uint8_t value)
{
	size_t n = si->n_domains;
	const struct policy_domain *d = si->domains;

	switch (t->kind) {
	case TOK_ADMINVM:
		set[2 * n + 1] = value;
		return;
	case TOK_DISPVM:
		set[2 * n] = value;
		return;
	case TOK_ANYVM:
	case TOK_WILDCARD:
		set[2 * n] = value;
		break;
	case TOK_NONE:
	case TOK_DEFAULT:
		return;
	default:
		break;
	}
	for (size_t i = 0; i < n; i++) {
		if (!d[i].name)
			continue;
		switch (t->kind) {
		case TOK_NAME:
			if (names_domain(t->value, &d[i]))
				set[i] = value;
			break;
		case TOK_WILDCARD:
			set[i] = value; /* dom0 too */
			if (d[i].template_for_dispvms)
				set[n + i] = value;
			break;
		case TOK_ANYVM:
			if (!is_admin_domain(&d[i]))
				set[i] = value;
			if (d[i].template_for_dispvms)
				set[n + i] = value;
			break;
		case TOK_TYPE:
			if (d[i].type && streq(d[i].type, t->value))
				set[i] = value;
			break;
		case TOK_TAG:
			if (has_tag(&d[i], t->value))
				set[i] = value;
			break;
		case TOK_DISPVM_TEMPLATE:
			if (names_domain(t->value, &d[i]) && d[i].template_for_dispvms)
				set[n + i] = value;
			break;
		case TOK_DISPVM_TAG:
			if (has_tag(&d[i], t->value) && d[i].template_for_dispvms)
				set[n + i] = value;
			break;
		default:
			break;
		}
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_target(char ***v, size_t *n, char *s)
{
	if (!s)
		return;
	*v = xrealloc(*v, (*n + 1) * sizeof(char *));
	(*v)[(*n)++] = s;
}

/* Qubes' collect_targets_for_ask(): every matching rule, last first, adds what it allows and
 * takes away what it denies; earlier rules have the last word. */
static void collect_ask_targets(const struct policy *p, const uint32_t *list, size_t n_list,
				const struct request *q, const struct policy_sysinfo *si,
				char ***ret, size_t *ret_n)
{
	size_t n = si->n_domains;
	_cleanup_free_ uint8_t *set = xcalloc(2 * n + 2, 1);

	for (size_t k = n_list; k-- > 0;) {
		const struct prule *r = &p->rules[list ? list[k] : k];
		if (!match_but_target(r, q))
			continue;
		const struct ptoken *t = r->action != POLICY_DENY && r->redirect.kind != TOK_NONE
					     ? &r->redirect
					     : &r->target;
		expand(t, si, set, r->action != POLICY_DENY);
	}
	if (set[2 * n] && source_default_dispvm(q)) {
		const struct policy_domain *d = find_domain(si, source_default_dispvm(q));
		if (d && d->template_for_dispvms)
			set[n + (size_t)(d - si->domains)] = 1;
	}
	/* Qubes never offers an internal qube, nor a disposable of one. */
	for (size_t i = 0; i < n; i++)
		if (si->domains[i].internal)
			set[i] = set[n + i] = 0;
	const struct policy_domain *dom0 = find_domain(si, "dom0");
	if (dom0 && dom0->internal)
		set[2 * n + 1] = 0;
	for (size_t i = 0; i < n; i++) {
		if (set[i])
			add_target(ret, ret_n, xstrdup(si->domains[i].name));
		if (set[n + i])
			add_target(ret, ret_n, xasprintf("@dispvm:%s", si->domains[i].name));
	}
	if (set[2 * n + 1])
		add_target(ret, ret_n, xstrdup("dom0"));
}

static void evaluate_ask(const struct policy *p, const uint32_t *list, size_t n_list,
			 const struct prule *r, const char *rule, const struct request *q,
			 const struct policy_sysinfo *si, struct policy_result *res)
{
	char **v = NULL;
	size_t n = 0, out = 0;

	if (r->redirect.kind != TOK_NONE)
		add_target(&v, &n, resolve_redirect(&r->redirect, q, si));
	else
		collect_ask_targets(p, list, n_list, q, si, &v, &n);

	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_str);
	for (size_t i = 0; i < n; i++) {
		bool drop = (out > 0 && streq(v[out - 1], v[i])) ||
			    (r->redirect.kind == TOK_NONE && streq(v[i], q->source)) ||
			    (!r->autostart && !runs_without_autostart(si, v[i]));
		if (drop)
			free(v[i]);
		else
			v[out++] = v[i];
	}
	if (out == 0) {
		free(v);
		deny(res, rule, true,
		     "policy define 'ask' action at %s but no target is available to choose from",
		     rule);
		return;
	}
	res->action = POLICY_ASK;
	res->targets = v;
	res->n_targets = out;
	if (r->default_target.kind != TOK_NONE) {
		_cleanup_free_ char *def = resolve_redirect(&r->default_target, q, si);
		for (size_t i = 0; def && i < out; i++)
			if (streq(v[i], def))
				res->default_target = TAKE_PTR(def);
	}
	res->user = r->user ? xstrdup(r->user) : NULL;
	res->autostart = r->autostart;
	res->notify = r->notify;
	res->rule = xstrdup(rule);
}

/* Sets up q's target from what the caller asked for; returns false (and denies) if it names no
 * valid target, as Qubes' IntendedTarget.verify() refuses it. A name that is no qube's is a call
 * to @default, as in Qubes. */
static bool intended_target(const struct policy *p, const struct policy_sysinfo *si,
			    const char *target, struct request *q, struct policy_result *res)
{
	if (!*target || streq(target, "@default")) {
		q->tkind = IT_DEFAULT;
	} else if (streq(target, "@adminvm")) {
		q->tkind = IT_ADMIN;
	} else if (is_dom0_name(target)) {
		/* Named so, dom0 is looked up in the system info (its tags and type). */
		q->tkind = IT_ADMIN;
		side_init(p, find_domain(si, "dom0"), "dom0", &q->tgt);
	} else if (streq(target, "@dispvm")) {
		q->tkind = IT_DISPVM;
		const struct policy_domain *d = find_domain(si, source_default_dispvm(q));
		side_init(p, d, d ? d->name : source_default_dispvm(q), &q->disp);
	} else if (strncmp(target, "@dispvm:", 8) == 0 && target[8] && target[8] != '@') {
		const struct policy_domain *d = find_domain(si, target + 8);
		if (!d || !d->template_for_dispvms) {
			deny(res, NULL, true, "not a template for dispvm: %s", target + 8);
			return false;
		}
		q->tkind = IT_DISPVM_TEMPLATE;
		side_init(p, d, d->name, &q->disp);
	} else if (target[0] == '@' || streq(target, "*")) {
		deny(res, NULL, true, "invalid target: %s", target);
		return false;
	} else {
		const struct policy_domain *d = find_domain(si, target);
		if (!d) {
			q->tkind = IT_DEFAULT;
			return true;
		}
		q->tkind = IT_NAME;
		side_init(p, d, d->name, &q->tgt);
	}
	return true;
}

/* A valid name from a known source: find the deciding rule and apply it. */
static void decide(const struct policy *p, const struct policy_sysinfo *si, const char *service_arg,
		   const char *source, const struct policy_domain *src_dom, const char *target,
		   struct policy_result *res)
{
	struct request q = {0};

	/* Tag sets for source, target and disposable template: on the stack unless the policy
	 * names very many tags. */
	size_t words = (p->tags.n + 63) / 64;
	uint64_t stack_bits[3 * 16] = {0};
	_cleanup_free_ uint64_t *heap_bits = NULL;
	uint64_t *bits = stack_bits;
	if (3 * words > ARRAY_SIZE(stack_bits))
		bits = heap_bits = xcalloc(3 * words, sizeof(uint64_t));
	q.src.tags = bits;
	q.tgt.tags = bits + words;
	q.disp.tags = bits + 2 * words;
	q.disp.name = q.tgt.name = q.disp.uuid = q.tgt.uuid = STRTAB_NONE;
	q.tgt.type = q.disp.type = STRTAB_NONE;

	const char *plus = strchr(service_arg, '+');
	size_t slen = plus ? (size_t)(plus - service_arg) : strlen(service_arg);
	const char *arg = plus ? plus + 1 : "";
	q.service = strtab_lookup(&p->services, service_arg, slen);
	q.arg = strtab_lookup(&p->args, arg, strlen(arg));
	q.source = source;
	side_init(p, src_dom, source, &q.src);
	q.src_admin = streq(source, "dom0") || is_admin_domain(q.src.dom);

	if (!intended_target(p, si, target, &q, res))
		return;

	/* The rules that can match this service, in order. */
	const uint32_t *list = NULL;
	size_t n_list = p->n_rules;
	if (p->by_service) {
		list = q.service >= 0 ? p->by_service[q.service] : p->any_rules;
		n_list = q.service >= 0 ? p->n_by_service[q.service] : p->n_any_rules;
	}
	const struct prule *r = NULL;
	for (size_t k = 0; k < n_list; k++) {
		const struct prule *c = &p->rules[list ? list[k] : k];
		if (match_but_target(c, &q) && match_target(&c->target, &q)) {
			r = c;
			break;
		}
	}
	if (!r) {
		deny(res, NULL, true, "no matching rule found");
		return;
	}
	const char *rule = r->where;
	switch (r->action) {
	case POLICY_ALLOW:
		evaluate_allow(r, rule, &q, si, res);
		break;
	case POLICY_ASK:
		evaluate_ask(p, list, n_list, r, rule, &q, si, res);
		break;
	default:
		/* The common case: no formatting at all. */
		res->action = POLICY_DENY;
		res->notify = r->notify;
		res->rule = xstrdup(rule);
		res->reason = xstrdup(r->deny_reason);
		break;
	}
}

int policy_evaluate(const struct policy *p, const struct policy_sysinfo *si,
		    const char *service_arg, const char *source, const char *target,
		    struct policy_result *ret)
{
	struct policy_result res = {.action = POLICY_DENY};
	const char *why = NULL;

	if (!p || !si || !service_arg || !source || !target || !ret ||
	    (si->n_domains > 0 && !si->domains))
		return -EINVAL;

	const struct policy_domain *src_dom = NULL;
	if (policy_check_service_name(service_arg, &why) < 0)
		deny(&res, NULL, true, "invalid service name: %s", why);
	else if (!(src_dom = find_domain(si, source)) && !is_dom0_name(source))
		/* Qubes trusts its caller here; we decide only for qubes we know. */
		deny(&res, NULL, true, "unknown source: %s", source);
	else
		/* A caller named by uuid is decided under its name (the loopback check, the
		 * prompt's list). */
		decide(p, si, service_arg, src_dom ? src_dom->name : "dom0", src_dom, target, &res);
	*ret = res;
	return 0;
}

void policy_result_finish(struct policy_result *r)
{
	if (!r)
		return;
	free(r->target);
	for (size_t i = 0; i < r->n_targets; i++)
		free(r->targets[i]);
	free(r->targets);
	free(r->default_target);
	free(r->user);
	free(r->rule);
	free(r->reason);
	*r = (struct policy_result){.action = POLICY_DENY};
}
