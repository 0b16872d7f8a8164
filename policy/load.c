/*
 * Loading policy files: the line syntax, the tokens each column accepts, the parameters each
 * action takes, and the directives, as qubes-core-qrexec's qrexec.policy.parser defines them.
 * Every error is collected (lint shows them all); any error fails the whole policy.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "policy-internal.h"
#include "util.h"

/* Caps on what a policy directory can make us read and keep. */
#define MAX_FILE_SIZE  (4u << 20)
#define MAX_TOTAL_SIZE (64u << 20)
#define MAX_DEPTH      32
#define MAX_RULES      1000000
#define MAX_ERRORS     1000
#define MAX_DIR_NAMES  100000
#define MAX_INDEX_SIZE (4u << 20) /* entries of the per-service index */
#define COMPAT_DIRNAME "rpc-policy"

struct loader {
	struct policy *p;
	const char *dir;  /* the policy directory: base of relative includes; NULL: text */
	char *compat_dir; /* where !compat-4.0 reads old per-service files */
	struct policy_error *errors;
	size_t n_errors, cap_errors;
	struct {
		dev_t dev;
		ino_t ino;
	} stack[MAX_DEPTH]; /* files being read, to refuse include loops */
	size_t depth;
	size_t total;
};

static void add_error(struct loader *ld, const char *file, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void add_error(struct loader *ld, const char *file, unsigned line, const char *fmt, ...)
{
	va_list ap;

	if (ld->n_errors >= MAX_ERRORS)
		return;
	if (ld->n_errors == ld->cap_errors) {
		ld->cap_errors = ld->cap_errors ? ld->cap_errors * 2 : 8;
		ld->errors = xrealloc(ld->errors, ld->cap_errors * sizeof(*ld->errors));
	}
	struct policy_error *e = &ld->errors[ld->n_errors++];
	e->file = xstrdup(file);
	e->line = line;
	va_start(ap, fmt);
	if (vasprintf(&e->message, fmt, ap) < 0)
		abort();
	va_end(ap);
}

/* Python's repr() of a str, which Qubes' messages use: quoted, escapes for the unprintable. */
static char *repr(const char *s)
{
	size_t n = strlen(s);
	char *out = xmalloc(n * 4 + 3), *o = out;
	char q = strchr(s, '\'') && !strchr(s, '"') ? '"' : '\'';

	*o++ = q;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '\\' || *c == (unsigned char)q) {
			*o++ = '\\';
			*o++ = (char)*c;
		} else if (*c == '\t') {
			o += sprintf(o, "\\t");
		} else if (*c < 0x20 || *c == 0x7f) {
			o += sprintf(o, "\\x%02x", *c);
		} else {
			*o++ = (char)*c;
		}
	}
	*o++ = q;
	*o = '\0';
	return out;
}

static bool is_rpc_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '-' || c == '.' || c == '_';
}

/* The characters of s outside Qubes' RPC name set (and '+' too if no_plus), as Python prints a
 * sorted tuple of them: ('$',) or ('!', '$'). NULL if there are none. */
static char *invalid_chars(const char *s, bool no_plus)
{
	bool seen[256] = {false};
	size_t n = 0;

	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		if ((!is_rpc_char(*c) || (no_plus && *c == '+')) && !seen[*c]) {
			seen[*c] = true;
			n++;
		}
	if (n == 0)
		return NULL;
	char *out = xmalloc(n * 8 + 4), *o = out;
	*o++ = '(';
	for (unsigned c = 1, k = 0; c < 256; c++) {
		if (!seen[c])
			continue;
		char one[2] = {(char)c, 0};
		_cleanup_free_ char *r = repr(one);
		o += sprintf(o, "%s%s", k++ ? ", " : "", r);
	}
	if (n == 1)
		*o++ = ',';
	*o++ = ')';
	*o = '\0';
	return out;
}

/* Qubes' validate_service_and_argument(): '*' or a name; '*' or "+ARG"; '*' service needs '*'
 * argument. Interns them; ids are STRTAB_NONE for '*'. */
static int check_service_arg(struct loader *ld, const char *file, unsigned line,
			     const char *service, const char *arg, int32_t *ret_service,
			     int32_t *ret_arg)
{
	bool any_service = streq(service, "*"), any_arg = streq(arg, "*");
	_cleanup_free_ char *bad = NULL;

	if (!any_service && (bad = invalid_chars(service, true))) {
		_cleanup_free_ char *r = repr(service);
		add_error(ld, file, line, "service %s contains invalid characters: %s", r, bad);
		return -EINVAL;
	}
	if (!any_arg) {
		_cleanup_free_ char *r = repr(arg);
		if ((bad = invalid_chars(arg, false))) {
			add_error(ld, file, line, "argument %s contains invalid characters: %s", r,
				  bad);
			return -EINVAL;
		}
		if (arg[0] != '+') {
			add_error(ld, file, line, "argument %s does not start with +", r);
			return -EINVAL;
		}
		if (any_service) {
			add_error(ld, file, line, "only * argument allowed for * service");
			return -EINVAL;
		}
	}
	*ret_service =
	    any_service ? STRTAB_NONE : strtab_intern(&ld->p->services, service, strlen(service));
	*ret_arg = any_arg ? STRTAB_NONE : strtab_intern(&ld->p->args, arg + 1, strlen(arg + 1));
	return 0;
}

/* Which tokens each column accepts (Qubes' Source, Target and Redirect classes). */
enum { CTX_SOURCE = 1, CTX_TARGET = 2, CTX_REDIRECT = 4 };
static const char *const ctx_names[] = {
    [CTX_SOURCE] = "source", [CTX_TARGET] = "target", [CTX_REDIRECT] = "redirect"};

static const struct {
	const char *text;
	uint8_t kind, ctx;
} exact_tokens[] = {
    {"*", TOK_WILDCARD, CTX_SOURCE | CTX_TARGET},
    {"@adminvm", TOK_ADMINVM, CTX_SOURCE | CTX_TARGET | CTX_REDIRECT},
    {"@anyvm", TOK_ANYVM, CTX_SOURCE | CTX_TARGET},
    {"@default", TOK_DEFAULT, CTX_TARGET},
    {"@dispvm", TOK_DISPVM, CTX_TARGET | CTX_REDIRECT},
};

/* Tried in this order; a value starting with '@' belongs to a longer prefix. */
static const struct {
	const char *prefix;
	uint8_t kind, ctx;
} prefix_tokens[] = {
    {"@type:", TOK_TYPE, CTX_SOURCE | CTX_TARGET},
    {"@tag:", TOK_TAG, CTX_SOURCE | CTX_TARGET},
    {"@dispvm:", TOK_DISPVM_TEMPLATE, CTX_SOURCE | CTX_TARGET | CTX_REDIRECT},
    {"@dispvm:@tag:", TOK_DISPVM_TAG, CTX_SOURCE | CTX_TARGET},
};

static struct strtab *token_table(struct policy *p, uint8_t kind)
{
	switch (kind) {
	case TOK_NAME:
	case TOK_DISPVM_TEMPLATE:
		return &p->names;
	case TOK_TYPE:
		return &p->types;
	default:
		return &p->tags;
	}
}

static int parse_token(struct loader *ld, const char *file, unsigned line, int ctx,
		       const char *text, struct ptoken *ret)
{
	/* dom0 and its uuid are @adminvm in every column, as Qubes' is_dom0() has it. */
	const char *t = is_dom0_name(text) ? "@adminvm" : text;

	/* A name, or "uuid:UUID" (matched against the system info's uuids when deciding). */
	if (t[0] != '@' && !streq(t, "*")) {
		int32_t id = strtab_intern(&ld->p->names, t, strlen(t));
		*ret = (struct ptoken){TOK_NAME, id, ld->p->names.strs[id]};
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(exact_tokens); i++)
		if ((exact_tokens[i].ctx & ctx) && streq(t, exact_tokens[i].text)) {
			*ret = (struct ptoken){exact_tokens[i].kind, STRTAB_NONE, NULL};
			return 0;
		}
	for (size_t i = 0; i < ARRAY_SIZE(prefix_tokens); i++) {
		size_t plen = strlen(prefix_tokens[i].prefix);
		if (!(prefix_tokens[i].ctx & ctx) || strncmp(t, prefix_tokens[i].prefix, plen) != 0)
			continue;
		const char *value = t + plen;
		if (!*value) {
			_cleanup_free_ char *r = repr(text);
			add_error(ld, file, line, "invalid empty %s token: %s",
				  prefix_tokens[i].prefix, r);
			return -EINVAL;
		}
		if (value[0] == '@')
			continue;
		struct strtab *tab = token_table(ld->p, prefix_tokens[i].kind);
		int32_t id = strtab_intern(tab, value, strlen(value));
		*ret = (struct ptoken){prefix_tokens[i].kind, id, tab->strs[id]};
		return 0;
	}
	_cleanup_free_ char *r = repr(text);
	add_error(ld, file, line, "invalid %s token: %s", ctx_names[ctx], r);
	return -EINVAL;
}

/* Parameters each action takes; the rest is Python's TypeError in Qubes. */
enum { P_TARGET, P_DEFAULT_TARGET, P_USER, P_NOTIFY, P_AUTOSTART, N_PARAMS };
static const char *const param_names[N_PARAMS] = {"target", "default_target", "user", "notify",
						  "autostart"};
static const struct {
	const char *word, *class_name;
	unsigned params; /* bit per P_* */
} actions[] = {
    [POLICY_DENY] = {"deny", "Deny", 1u << P_NOTIFY},
    [POLICY_ALLOW] = {"allow", "Allow",
		      1u << P_TARGET | 1u << P_USER | 1u << P_NOTIFY | 1u << P_AUTOSTART},
    [POLICY_ASK] = {"ask", "Ask",
		    1u << P_TARGET | 1u << P_DEFAULT_TARGET | 1u << P_USER | 1u << P_NOTIFY |
			1u << P_AUTOSTART},
};

/* Python's repr() of the list of parameters, for "invalid parameters for action". */
static char *params_repr(char **params, size_t n)
{
	size_t len = 3;
	for (size_t i = 0; i < n; i++)
		len += strlen(params[i]) * 4 + 4;
	char *out = xmalloc(len), *o = out;
	*o++ = '[';
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *r = repr(params[i]);
		o += sprintf(o, "%s%s", i ? ", " : "", r);
	}
	*o++ = ']';
	*o = '\0';
	return out;
}

static void push_rule(struct loader *ld, const char *file, unsigned line, const struct prule *r)
{
	struct policy *p = ld->p;
	if (p->n_rules >= MAX_RULES) {
		add_error(ld, file, line, "too many rules (at most %u)", MAX_RULES);
		return;
	}
	if (p->n_rules == p->cap_rules) {
		p->cap_rules = p->cap_rules ? p->cap_rules * 2 : 64;
		p->rules = xrealloc(p->rules, p->cap_rules * sizeof(*p->rules));
	}
	p->rules[p->n_rules] = *r;
	int32_t fid = strtab_intern(&p->files, file, strlen(file));
	p->rules[p->n_rules].file = p->files.strs[fid];
	p->rules[p->n_rules].line = line;
	_cleanup_free_ char *where = xasprintf("%s:%u", file, line);
	int32_t wid = strtab_intern(&p->texts, where, strlen(where));
	p->rules[p->n_rules].where = p->texts.strs[wid];
	if (r->action == POLICY_DENY) {
		_cleanup_free_ char *why = xasprintf("denied by policy %s", where);
		int32_t did = strtab_intern(&p->texts, why, strlen(why));
		p->rules[p->n_rules].deny_reason = p->texts.strs[did];
	}
	p->n_rules++;
}

/* One rule: Qubes' Rule.__init__(), checks in the same order. */
static void add_rule(struct loader *ld, const char *file, unsigned line, const char *service,
		     const char *arg, const char *source, const char *target, const char *action,
		     char **params, size_t n_params)
{
	struct prule r = {0};
	const char *values[N_PARAMS] = {NULL};

	if (check_service_arg(ld, file, line, service, arg, &r.service, &r.arg) < 0 ||
	    parse_token(ld, file, line, CTX_SOURCE, source, &r.source) < 0 ||
	    parse_token(ld, file, line, CTX_TARGET, target, &r.target) < 0)
		return;

	size_t a;
	for (a = 0; a < ARRAY_SIZE(actions); a++)
		if (streq(action, actions[a].word))
			break;
	if (a == ARRAY_SIZE(actions)) {
		add_error(ld, file, line, "invalid action: %s", action);
		return;
	}
	r.action = (uint8_t)a;

	bool unknown = false;
	for (size_t i = 0; i < n_params; i++) {
		char *eq = strchr(params[i], '=');
		if (!eq) {
			_cleanup_free_ char *rp = repr(params[i]);
			add_error(ld, file, line, "invalid action parameter syntax: %s", rp);
			return;
		}
		size_t klen = (size_t)(eq - params[i]), k;
		for (k = 0; k < N_PARAMS; k++)
			if (strlen(param_names[k]) == klen &&
			    strncmp(params[i], param_names[k], klen) == 0)
				break;
		/* A duplicate is found before an unknown name is, as in Qubes. */
		for (size_t j = 0; j < i; j++)
			if (strncmp(params[j], params[i], klen + 1) == 0) {
				_cleanup_free_ char *key = strndup(params[i], klen);
				_cleanup_free_ char *rk = repr(key ? key : "");
				add_error(ld, file, line, "parameter given twice: %s", rk);
				return;
			}
		if (k == N_PARAMS || !(actions[a].params & (1u << k)))
			unknown = true;
		else
			values[k] = eq + 1;
	}
	static const int bools[] = {P_NOTIFY, P_AUTOSTART};
	for (size_t i = 0; i < ARRAY_SIZE(bools); i++) {
		const char *v = NULL;
		/* Checked whether or not the action takes it. */
		for (size_t j = 0; j < n_params; j++) {
			size_t kl = strlen(param_names[bools[i]]);
			if (strncmp(params[j], param_names[bools[i]], kl) == 0 &&
			    params[j][kl] == '=')
				v = params[j] + kl + 1;
		}
		if (v && !streq(v, "yes") && !streq(v, "no")) {
			_cleanup_free_ char *rk = repr(param_names[bools[i]]), *rv = repr(v);
			add_error(ld, file, line, "%s is %s, but can be only 'yes' or 'no'", rk,
				  rv);
			return;
		}
	}
	if (unknown) {
		_cleanup_free_ char *rp = params_repr(params, n_params);
		add_error(ld, file, line, "invalid parameters for action %s: %s",
			  actions[a].class_name, rp);
		return;
	}
	if (values[P_TARGET] &&
	    parse_token(ld, file, line, CTX_REDIRECT, values[P_TARGET], &r.redirect) < 0)
		return;
	if (values[P_DEFAULT_TARGET] &&
	    parse_token(ld, file, line, CTX_REDIRECT, values[P_DEFAULT_TARGET], &r.default_target) <
		0)
		return;
	if (values[P_USER]) {
		int32_t uid = strtab_intern(&ld->p->users, values[P_USER], strlen(values[P_USER]));
		r.user = ld->p->users.strs[uid];
	}
	r.notify = values[P_NOTIFY] ? streq(values[P_NOTIFY], "yes") : a == POLICY_DENY;
	r.autostart = values[P_AUTOSTART] ? streq(values[P_AUTOSTART], "yes") : true;

	if (r.target.kind == TOK_DEFAULT && a == POLICY_ALLOW && r.redirect.kind == TOK_NONE) {
		add_error(ld, file, line,
			  "allow action for @default rule must specify target= option");
		return;
	}
	push_rule(ld, file, line, &r);
}

/* Python's str.split() and str.strip() whitespace, in ASCII. */
static bool is_space(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

/* Splits s in place; returns the number of words (at most max). */
static size_t split_words(char *s, char **words, size_t max)
{
	size_t n = 0;
	for (;;) {
		while (*s && is_space((unsigned char)*s))
			s++;
		if (!*s || n == max)
			return n;
		words[n++] = s;
		while (*s && !is_space((unsigned char)*s))
			s++;
		if (*s)
			*s++ = '\0';
	}
}

static void load_file(struct loader *ld, const char *base, const char *path, const char *inc_file,
		      unsigned inc_line, const char *service, const char *arg);
static void load_dir(struct loader *ld, const char *dir, const char *inc_file, unsigned inc_line);
static void load_compat(struct loader *ld, const char *file, unsigned line);

static char *resolve(const char *base, const char *path)
{
	return path[0] == '/' ? xstrdup(path) : xasprintf("%s/%s", base, path);
}

static bool no_files(struct loader *ld, const char *file, unsigned line, const char *directive)
{
	if (ld->dir)
		return false;
	add_error(ld, file, line, "%s cannot be used in a policy given as text", directive);
	return true;
}

static void parse_directive(struct loader *ld, const char *file, unsigned line, char **w, size_t n)
{
	if (streq(w[0], "!include") || streq(w[0], "!include-dir")) {
		if (n != 2) {
			add_error(ld, file, line, "invalid number of params");
			return;
		}
		if (no_files(ld, file, line, w[0]))
			return;
		_cleanup_free_ char *path = resolve(ld->dir, w[1]);
		if (streq(w[0], "!include"))
			load_file(ld, ld->dir, path, file, line, NULL, NULL);
		else
			load_dir(ld, path, file, line);
	} else if (streq(w[0], "!include-service")) {
		int32_t s, a;
		if (n != 4) {
			add_error(ld, file, line, "invalid number of params");
			return;
		}
		if (check_service_arg(ld, file, line, w[1], w[2], &s, &a) < 0 ||
		    no_files(ld, file, line, w[0]))
			return;
		_cleanup_free_ char *path = resolve(ld->dir, w[3]);
		load_file(ld, ld->dir, path, file, line, w[1], w[2]);
	} else if (streq(w[0], "!compat-4.0")) {
		if (n != 1) {
			add_error(ld, file, line, "invalid number of params");
			return;
		}
		if (no_files(ld, file, line, w[0]))
			return;
		load_compat(ld, file, line);
	} else {
		add_error(ld, file, line, "invalid directive");
	}
}

/* Replaces every from in s by to; a new string. */
static char *replace_all(const char *s, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to), n = 0;
	for (const char *p = s; (p = strstr(p, from)); p += fl)
		n++;
	char *out = xmalloc(strlen(s) + n * (tl > fl ? tl - fl : 0) + 1), *o = out;
	for (const char *p = s;;) {
		const char *q = strstr(p, from);
		if (!q) {
			strcpy(o, p);
			return out;
		}
		memcpy(o, p, (size_t)(q - p));
		o += q - p;
		memcpy(o, to, tl);
		o += tl;
		p = q + fl;
	}
}

/* One stripped, non-empty, non-comment line. service set: the old three-column format of
 * !include-service and !compat-4.0 files. */
static void parse_line(struct loader *ld, const char *base, const char *file, unsigned line,
		       char *text, const char *service, const char *arg)
{
	_cleanup_free_ char *old = NULL;

	if (service) {
		/* Qubes' compatibility substitutions for the 4.0 format. */
		_cleanup_free_ char *a = replace_all(text, "$include:", "!include ");
		_cleanup_free_ char *b = replace_all(a, "$", "@");
		old = replace_all(b, ",", " ");
		text = old;
	}
	size_t max = strlen(text) / 2 + 2;
	_cleanup_free_ char **w = xcalloc(max, sizeof(char *));
	size_t n = split_words(text, w, max);

	if (text[0] == '!') {
		if (!service) {
			parse_directive(ld, file, line, w, n);
		} else if (!streq(w[0], "!include")) {
			add_error(ld, file, line, "invalid directive");
		} else if (n != 2) {
			add_error(ld, file, line, "invalid number of params");
		} else {
			_cleanup_free_ char *path = resolve(base, w[1]);
			load_file(ld, base, path, file, line, service, arg);
		}
		return;
	}
	if (service) {
		if (n < 3)
			add_error(ld, file, line, "wrong number of fields");
		else
			add_rule(ld, file, line, service, arg, w[0], w[1], w[2], w + 3, n - 3);
	} else {
		if (n < 5)
			add_error(ld, file, line, "wrong number of fields");
		else
			add_rule(ld, file, line, w[0], w[1], w[2], w[3], w[4], w + 5, n - 5);
	}
}

/* Python reads text files with universal newlines: \n, \r\n and a lone \r end a line. */
static void parse_text(struct loader *ld, const char *base, const char *file, const char *text,
		       size_t len, const char *service, const char *arg)
{
	unsigned line = 0;
	for (size_t pos = 0; pos < len;) {
		size_t end = pos;
		while (end < len && text[end] != '\n' && text[end] != '\r')
			end++;
		line++;
		size_t start = pos;
		pos = end;
		if (pos + 1 < len && text[pos] == '\r' && text[pos + 1] == '\n')
			pos += 2;
		else if (pos < len)
			pos++;
		/* A NUL would cut a token short; refuse the line rather than guess. */
		if (memchr(text + start, '\0', end - start)) {
			add_error(ld, file, line, "NUL byte in line");
			continue;
		}
		_cleanup_free_ char *l = strndup(text + start, end - start);
		if (!l)
			abort();
		char *s = l;
		while (*s && is_space((unsigned char)*s))
			s++;
		size_t sl = strlen(s);
		while (sl > 0 && is_space((unsigned char)s[sl - 1]))
			s[--sl] = '\0';
		if (!*s || *s == '#')
			continue;
		parse_line(ld, base, file, line, s, service, arg);
	}
}

static void load_file(struct loader *ld, const char *base, const char *path, const char *inc_file,
		      unsigned inc_line, const char *service, const char *arg)
{
	/* Errors about the file itself belong to the line that included it, if any. */
	const char *ef = inc_file ? inc_file : path;
	unsigned el = inc_file ? inc_line : 0;
	struct stat st;

	/* O_NONBLOCK: a FIFO must not hang the loader; it is refused below anyway. */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd < 0 && errno != ENOENT && errno != ENOTDIR)
			add_error(ld, ef, el, "cannot read %s: %s", path, strerror(errno));
		else
			add_error(ld, ef, el, "not a file: %s", path);
		return;
	}
	for (size_t i = 0; i < ld->depth; i++)
		if (ld->stack[i].dev == st.st_dev && ld->stack[i].ino == st.st_ino) {
			add_error(ld, ef, el, "include loop: %s is already being read", path);
			return;
		}
	if (ld->depth == MAX_DEPTH) {
		add_error(ld, ef, el, "includes nested deeper than %d", MAX_DEPTH);
		return;
	}
	if ((uint64_t)st.st_size > MAX_FILE_SIZE) {
		add_error(ld, ef, el, "%s is too big (at most %u bytes)", path, MAX_FILE_SIZE);
		return;
	}
	size_t size = (size_t)st.st_size;
	if (ld->total + size > MAX_TOTAL_SIZE) {
		add_error(ld, ef, el, "the policy is too big (at most %u bytes in all)",
			  MAX_TOTAL_SIZE);
		return;
	}
	_cleanup_free_ char *buf = xmalloc(size + 1);
	size_t got = 0;
	while (got < size) {
		ssize_t k = read(fd, buf + got, size - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			add_error(ld, ef, el, "cannot read %s: %s", path, strerror(errno));
			return;
		}
		if (k == 0)
			break; /* shrank while we read: parse what is there */
		got += (size_t)k;
	}
	ld->total += got;
	ld->stack[ld->depth].dev = st.st_dev;
	ld->stack[ld->depth].ino = st.st_ino;
	ld->depth++;
	parse_text(ld, base, path, buf, got, service, arg);
	ld->depth--;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Regular files of dir (symbolic links followed), names filtered by want(). */
static int list_dir(const char *dir, bool (*want)(const char *name), char ***ret, size_t *ret_n)
{
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	DIR *d = fdopendir(dfd);
	if (!d)
		return -errno;
	dfd = -1; /* owned by d now */
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int r = 0;

	while ((de = readdir(d))) {
		struct stat st;
		if (!want(de->d_name))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (n == MAX_DIR_NAMES) {
			r = -E2BIG;
			break;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			free(names[i]);
		free(names);
		return r;
	}
	/* An empty directory has no array at all, and qsort's must not be NULL. */
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_str);
	*ret = names;
	*ret_n = n;
	return 0;
}

static bool is_policy_name(const char *name)
{
	size_t n = strlen(name);
	return name[0] != '.' && n > 7 && streq(name + n - 7, ".policy");
}

static void load_dir(struct loader *ld, const char *dir, const char *inc_file, unsigned inc_line)
{
	char **names = NULL;
	size_t n = 0;
	int r = list_dir(dir, is_policy_name, &names, &n);

	if (r < 0) {
		const char *ef = inc_file ? inc_file : dir;
		unsigned el = inc_file ? inc_line : 0;
		if (r == -ENOENT || r == -ENOTDIR)
			add_error(ld, ef, el, "not a directory: %s", dir);
		else
			add_error(ld, ef, el, "cannot read %s: %s", dir, strerror(-r));
		return;
	}
	/* One invalid name fails the whole policy (Qubes: all or nothing). The other files are
	 * still read, so that lint shows their errors too. */
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, names[i]);
		bool ok = true;
		for (const char *c = names[i]; *c; c++)
			if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' ||
			      *c == '.' || *c == '-'))
				ok = false;
		if (!ok)
			add_error(ld, path, 0, "invalid filename: %s", path);
	}
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, names[i]);
		load_file(ld, ld->dir, path, inc_file, inc_line, NULL, NULL);
		free(names[i]);
	}
	free(names);
}

/* Qubes' parser_compat IGNORED_SUFFIXES, compared with pathlib's suffix: from the last '.',
 * when that is neither the first nor the last character. */
static const char *const compat_ignored_suffixes[] = {".rpmsave", ".rpmnew", ".swp"};

/* Qubes' _list_compat_files(): dot files, leftovers of rpm and vim, and names outside the RPC
 * name set are skipped silently. */
static bool is_compat_name(const char *name)
{
	if (name[0] == '.')
		return false;
	const char *dot = strrchr(name, '.');
	if (dot && dot != name && dot[1])
		for (size_t i = 0; i < ARRAY_SIZE(compat_ignored_suffixes); i++)
			if (streq(dot, compat_ignored_suffixes[i]))
				return false;
	for (const char *c = name; *c; c++)
		if (!is_rpc_char((unsigned char)*c))
			return false;
	return true;
}

/* Old files sort by service, then by argument with the file for every argument ("SERVICE",
 * no '+') after the specific ones, so that those come first. */
static int cmp_compat(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	size_t xs = strcspn(x, "+"), ys = strcspn(y, "+");
	int c = strncmp(x, y, xs < ys ? xs : ys);
	if (c != 0 || xs != ys)
		return c != 0 ? c : (xs < ys ? -1 : 1);
	if (!x[xs] || !y[ys])
		return !x[xs] && !y[ys] ? 0 : (!x[xs] ? 1 : -1);
	return strcmp(x + xs, y + ys);
}

/* !compat-4.0: the old per-service files, each as !include-service SERVICE ARG FILE, and after
 * a file for one argument the denies that 4.0 implied. */
static void load_compat(struct loader *ld, const char *file, unsigned line)
{
	char **names = NULL;
	size_t n = 0;
	int r = list_dir(ld->compat_dir, is_compat_name, &names, &n);

	if (r == -ENOENT)
		return; /* no old policy: nothing to add */
	if (r < 0) {
		add_error(ld, file, line, "cannot read %s: %s", ld->compat_dir, strerror(-r));
		return;
	}
	qsort(names, n, sizeof(*names), cmp_compat);
	for (size_t i = 0; i < n; i++) {
		char *plus = strchr(names[i], '+');
		_cleanup_free_ char *service =
		    plus ? strndup(names[i], (size_t)(plus - names[i])) : xstrdup(names[i]);
		const char *arg = plus ? plus : "*";
		_cleanup_free_ char *path = xasprintf("%s/%s", ld->compat_dir, names[i]);
		int32_t s, a;

		if (service && check_service_arg(ld, file, line, service, arg, &s, &a) == 0) {
			load_file(ld, ld->compat_dir, path, file, line, service, arg);
			if (!streq(arg, "*")) {
				struct ptoken anyvm = {TOK_ANYVM, STRTAB_NONE, NULL};
				struct prule deny = {.service = s,
						     .arg = a,
						     .source = anyvm,
						     .target = anyvm,
						     .action = POLICY_DENY,
						     .autostart = true,
						     .notify = true};
				push_rule(ld, path, 0, &deny);
				deny.target = (struct ptoken){TOK_ADMINVM, STRTAB_NONE, NULL};
				push_rule(ld, path, 0, &deny);
			}
		}
		free(names[i]);
	}
	free(names);
}

/* For each service, the rules that can match it, so that evaluation skips the others. */
static void build_index(struct policy *p)
{
	size_t n_any = 0, total = 0;
	uint32_t *count = xcalloc(p->services.n + 1, sizeof(*count));

	for (size_t i = 0; i < p->n_rules; i++) {
		if (p->rules[i].service == STRTAB_NONE)
			n_any++;
		else
			count[p->rules[i].service]++;
	}
	total = n_any * (p->services.n + 1);
	for (size_t s = 0; s < p->services.n; s++)
		total += count[s];
	free(count);
	if (total > MAX_INDEX_SIZE)
		return; /* evaluation scans every rule instead */

	p->by_service = xcalloc(p->services.n + 1, sizeof(*p->by_service));
	p->n_by_service = xcalloc(p->services.n + 1, sizeof(*p->n_by_service));
	p->any_rules = xcalloc(n_any + 1, sizeof(*p->any_rules));
	for (size_t s = 0; s < p->services.n; s++)
		p->by_service[s] = xcalloc(p->n_rules + 1, sizeof(uint32_t));
	for (size_t i = 0; i < p->n_rules; i++) {
		int32_t s = p->rules[i].service;
		if (s == STRTAB_NONE) {
			p->any_rules[p->n_any_rules++] = (uint32_t)i;
			for (size_t t = 0; t < p->services.n; t++)
				p->by_service[t][p->n_by_service[t]++] = (uint32_t)i;
		} else {
			p->by_service[s][p->n_by_service[s]++] = (uint32_t)i;
		}
	}
	/* Trim each list to its size. */
	for (size_t s = 0; s < p->services.n; s++)
		p->by_service[s] =
		    xrealloc(p->by_service[s], (p->n_by_service[s] + 1) * sizeof(uint32_t));
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	if (p->by_service)
		for (size_t s = 0; s < p->services.n; s++)
			free(p->by_service[s]);
	free(p->by_service);
	free(p->n_by_service);
	free(p->any_rules);
	free(p->rules);
	strtab_done(&p->services);
	strtab_done(&p->args);
	strtab_done(&p->names);
	strtab_done(&p->tags);
	strtab_done(&p->types);
	strtab_done(&p->files);
	strtab_done(&p->users);
	strtab_done(&p->texts);
	free(p);
}

void policy_errors_free(struct policy_error *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(e[i].file);
		free(e[i].message);
	}
	free(e);
}

size_t policy_n_rules(const struct policy *p)
{
	return p ? p->n_rules : 0;
}

static int finish(struct loader *ld, struct policy **ret, struct policy_error **ret_errors,
		  size_t *ret_n_errors)
{
	free(ld->compat_dir);
	if (ld->n_errors > 0) {
		policy_free(ld->p);
		if (ret_errors)
			*ret_errors = ld->errors;
		else
			policy_errors_free(ld->errors, ld->n_errors);
		if (ret_n_errors)
			*ret_n_errors = ld->n_errors;
		return -EINVAL;
	}
	build_index(ld->p);
	*ret = ld->p;
	if (ret_errors)
		*ret_errors = NULL;
	if (ret_n_errors)
		*ret_n_errors = 0;
	return 0;
}

/* "rpc-policy" beside dir: /etc/bulkhead/policy.d -> /etc/bulkhead/rpc-policy. */
static char *compat_dir_for(const char *dir)
{
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	while (n > 0 && dir[n - 1] != '/')
		n--;
	if (n == 0)
		return xstrdup(COMPAT_DIRNAME);
	return xasprintf("%.*s%s", (int)n, dir, COMPAT_DIRNAME);
}

int policy_load_dir(const char *dir, struct policy **ret, struct policy_error **ret_errors,
		    size_t *ret_n_errors)
{
	if (!dir || !ret)
		return -EINVAL;
	struct loader ld = {.p = xcalloc(1, sizeof(struct policy)), .dir = dir};
	ld.compat_dir = compat_dir_for(dir);
	load_dir(&ld, dir, NULL, 0);
	return finish(&ld, ret, ret_errors, ret_n_errors);
}

int policy_load_string(const char *name, const char *text, struct policy **ret,
		       struct policy_error **ret_errors, size_t *ret_n_errors)
{
	if (!name || !text || !ret)
		return -EINVAL;
	struct loader ld = {.p = xcalloc(1, sizeof(struct policy))};
	size_t len = strlen(text);
	if (len > MAX_FILE_SIZE)
		add_error(&ld, name, 0, "%s is too big (at most %u bytes)", name, MAX_FILE_SIZE);
	else
		parse_text(&ld, NULL, name, text, len, NULL, NULL);
	return finish(&ld, ret, ret_errors, ret_n_errors);
}
