/*
 * The qube model: names, classes, labels, the property table, tags, features, and the JSON form
 * kept on disk. Every setter validates completely before it changes anything, so a refused
 * value leaves the qube exactly as it was.
 */
#include "qube.h"

#include <limits.h>
#include <stdint.h>
#include <sys/random.h>

#include "util.h"

static const char *const class_names[QUBE_CLASS_COUNT] = {
    [QUBE_APPVM] = "AppVM",
    [QUBE_TEMPLATEVM] = "TemplateVM",
    [QUBE_STANDALONEVM] = "StandaloneVM",
    [QUBE_DISPVM] = "DispVM",
};

static const struct {
	const char *name;
	unsigned rgb;
} labels[LABEL_COUNT] = {
    [LABEL_RED] = {"red", 0xcc0000},	   [LABEL_ORANGE] = {"orange", 0xf57900},
    [LABEL_YELLOW] = {"yellow", 0xedd400}, [LABEL_GREEN] = {"green", 0x73d216},
    [LABEL_GRAY] = {"gray", 0x555753},	   [LABEL_BLUE] = {"blue", 0x3465a4},
    [LABEL_PURPLE] = {"purple", 0x75507b}, [LABEL_BLACK] = {"black", 0x000000},
};

const char *qube_class_to_string(enum qube_class c)
{
	if ((unsigned)c >= QUBE_CLASS_COUNT)
		return NULL;
	return class_names[c];
}

int qube_class_from_string(const char *s, enum qube_class *ret)
{
	if (!s)
		return -EINVAL;
	for (unsigned i = 0; i < QUBE_CLASS_COUNT; i++)
		if (streq(s, class_names[i])) {
			if (ret)
				*ret = (enum qube_class)i;
			return 0;
		}
	return -EINVAL;
}

const char *qube_label_to_string(enum qube_label l)
{
	if ((unsigned)l >= LABEL_COUNT)
		return NULL;
	return labels[l].name;
}

int qube_label_from_string(const char *s, enum qube_label *ret)
{
	if (!s)
		return -EINVAL;
	for (unsigned i = 0; i < LABEL_COUNT; i++)
		if (streq(s, labels[i].name)) {
			if (ret)
				*ret = (enum qube_label)i;
			return 0;
		}
	return -EINVAL;
}

unsigned qube_label_rgb(enum qube_label l)
{
	if ((unsigned)l >= LABEL_COUNT)
		return 0;
	return labels[l].rgb;
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_printable_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

/* ---- the property table ---- */

enum prop_type { PROP_NAME, PROP_CLASS, PROP_LABEL, PROP_QUBE_REF, PROP_UINT, PROP_BOOL, PROP_STR };

enum {
	PROPF_READONLY = 1 << 0,   /* set/reset: -EPERM */
	PROPF_NO_DEFAULT = 1 << 1, /* reset: -ENODATA (Qubes: "property has no default") */
	PROPF_ZERO_OK = 1 << 2,	   /* uint: 0 allowed besides [min, max] */
};

struct prop_def {
	const char *name;     /* the key for qvm-prefs-style access */
	const char *json_key; /* the key in the stored JSON (and admin.vm.List) */
	enum prop_type type;
	unsigned flags;
	size_t offset;
	unsigned def_uint; /* PROP_UINT / PROP_BOOL default; string defaults are all NULL */
	unsigned min, max; /* PROP_UINT bounds; PROP_STR maximum length in max */
	/* Extra check for PROP_STR; returns a reason or NULL. */
	const char *(*check)(const char *value);
};

#define QUBE_FIELD(f) offsetof(struct qube, f)

static const char *check_kernel(const char *v)
{
	if (!*v)
		return "kernel must be a version, like 6.1.0-28-amd64";
	for (const char *p = v; *p; p++)
		if (!is_alpha(*p) && !is_digit(*p) && *p != '.' && *p != '_' && *p != '+' &&
		    *p != '-')
			return "kernel may contain only letters, digits, '.', '_', '+' and '-'";
	/* A leading '.' would let "..": the version names a directory under kernels/. */
	if (v[0] == '.')
		return "kernel must not start with '.'";
	return NULL;
}

static const char *check_kernelopts(const char *v)
{
	/* It ends up on a kernel command line and in the domain XML: printable ASCII only. */
	if (!is_printable_ascii(v))
		return "kernelopts may contain only printable ASCII (no newline)";
	return NULL;
}

static const struct prop_def props[] = {
    {"name", "name", PROP_NAME, PROPF_READONLY, QUBE_FIELD(name), 0, 0, 0, NULL},
    {"klass", "class", PROP_CLASS, PROPF_READONLY, QUBE_FIELD(klass), 0, 0, 0, NULL},
    {"label", "label", PROP_LABEL, PROPF_NO_DEFAULT, QUBE_FIELD(label), 0, 0, 0, NULL},
    {"template", "template", PROP_QUBE_REF, 0, QUBE_FIELD(template), 0, 0, 0, NULL},
    {"netvm", "netvm", PROP_QUBE_REF, 0, QUBE_FIELD(netvm), 0, 0, 0, NULL},
    {"default_dispvm", "default_dispvm", PROP_QUBE_REF, 0, QUBE_FIELD(default_dispvm), 0, 0, 0,
     NULL},
    {"memory", "memory", PROP_UINT, 0, QUBE_FIELD(memory), QUBE_DEFAULT_MEMORY, QUBE_MEMORY_MIN,
     QUBE_MEMORY_MAX, NULL},
    {"maxmem", "maxmem", PROP_UINT, PROPF_ZERO_OK, QUBE_FIELD(maxmem), QUBE_DEFAULT_MAXMEM,
     QUBE_MEMORY_MIN, QUBE_MEMORY_MAX, NULL},
    {"vcpus", "vcpus", PROP_UINT, 0, QUBE_FIELD(vcpus), QUBE_DEFAULT_VCPUS, 1, QUBE_VCPUS_MAX,
     NULL},
    {"kernel", "kernel", PROP_STR, 0, QUBE_FIELD(kernel), 0, 0, 64, check_kernel},
    {"kernelopts", "kernelopts", PROP_STR, 0, QUBE_FIELD(kernelopts), 0, 0, 1024, check_kernelopts},
    {"autostart", "autostart", PROP_BOOL, 0, QUBE_FIELD(autostart), false, 0, 0, NULL},
    {"template_for_dispvms", "template_for_dispvms", PROP_BOOL, 0, QUBE_FIELD(template_for_dispvms),
     false, 0, 0, NULL},
    {"qrexec_timeout", "qrexec_timeout", PROP_UINT, 0, QUBE_FIELD(qrexec_timeout),
     QUBE_DEFAULT_QREXEC_TIMEOUT, 1, QUBE_QREXEC_TIMEOUT_MAX, NULL},
    {"revisions_to_keep", "revisions_to_keep", PROP_UINT, 0, QUBE_FIELD(revisions_to_keep),
     QUBE_DEFAULT_REVISIONS, 0, QUBE_REVISIONS_MAX, NULL},
    {"provides_network", "provides_network", PROP_BOOL, 0, QUBE_FIELD(provides_network), false, 0,
     0, NULL},
    {"uplink", "uplink", PROP_BOOL, 0, QUBE_FIELD(uplink), false, 0, 0, NULL},
};

_Static_assert(ARRAY_SIZE(props) <= sizeof(unsigned long long) * CHAR_BIT,
	       "explicit_props has one bit per property");

#define FIELD(q, p, type)  ((type *)((char *)(q) + (p)->offset))
#define CFIELD(q, p, type) ((const type *)((const char *)(q) + (p)->offset))

static const struct prop_def *prop_find(const char *key, size_t *ret_index)
{
	if (!key)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(props); i++)
		if (streq(props[i].name, key)) {
			if (ret_index)
				*ret_index = i;
			return &props[i];
		}
	return NULL;
}

/* A parsed value, before it is stored. */
struct pval {
	unsigned u; /* uint, bool, label */
	char *s;    /* owned; NULL for "none" */
};

static int parse_uint(const char *v, unsigned *ret)
{
	unsigned long long n = 0;

	/* Digits only: no sign, no spaces, no hex, and stop before it can overflow. */
	if (!*v)
		return -EINVAL;
	for (const char *p = v; *p; p++) {
		if (!is_digit(*p))
			return -EINVAL;
		n = n * 10 + (unsigned)(*p - '0');
		if (n > UINT_MAX)
			return -ERANGE;
	}
	*ret = (unsigned)n;
	return 0;
}

static int parse_bool(const char *v, bool *ret)
{
	static const char *const yes[] = {"True", "true", "1", "yes"};
	static const char *const no[] = {"False", "false", "0", "no"};

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (streq(v, yes[i])) {
			*ret = true;
			return 0;
		}
		if (streq(v, no[i])) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int prop_parse(const struct prop_def *p, const char *value, struct pval *ret,
		      const char **ret_reason)
{
	const char *reason = NULL;
	struct pval v = {0, NULL};
	bool b;

	switch (p->type) {
	case PROP_NAME:
	case PROP_CLASS:
		return -EPERM;
	case PROP_LABEL: {
		enum qube_label l;
		if (qube_label_from_string(value, &l) < 0) {
			reason = "label must be one of red, orange, yellow, green, gray, blue, "
				 "purple, black";
			goto bad;
		}
		v.u = l;
		break;
	}
	case PROP_QUBE_REF:
		if (*value) {
			if (qube_name_check(value, &reason) < 0)
				goto bad;
			v.s = xstrdup(value);
		}
		break;
	case PROP_UINT:
		if (parse_uint(value, &v.u) < 0) {
			reason = "value must be a decimal number";
			goto bad;
		}
		if (v.u == 0 && (p->flags & PROPF_ZERO_OK))
			break;
		if (v.u < p->min || v.u > p->max) {
			reason = "value out of range";
			goto bad;
		}
		break;
	case PROP_BOOL:
		if (parse_bool(value, &b) < 0) {
			reason = "value must be True or False";
			goto bad;
		}
		v.u = b;
		break;
	case PROP_STR:
		if (strnlen(value, p->max + 1) > p->max) {
			reason = "value too long";
			goto bad;
		}
		if (p->check && (reason = p->check(value)))
			goto bad;
		v.s = xstrdup(value);
		break;
	}
	*ret = v;
	return 0;
bad:
	if (ret_reason)
		*ret_reason = reason;
	return -EINVAL;
}

/* Moves v into the qube (the old string is freed). */
static void prop_store(struct qube *q, const struct prop_def *p, struct pval *v)
{
	switch (p->type) {
	case PROP_NAME:
	case PROP_CLASS:
		break;
	case PROP_LABEL:
		*FIELD(q, p, enum qube_label) = (enum qube_label)v->u;
		break;
	case PROP_UINT:
		*FIELD(q, p, unsigned) = v->u;
		break;
	case PROP_BOOL:
		*FIELD(q, p, bool) = v->u != 0;
		break;
	case PROP_QUBE_REF:
	case PROP_STR:
		free(*FIELD(q, p, char *));
		*FIELD(q, p, char *) = TAKE_PTR(v->s);
		break;
	}
}

static struct pval prop_default(const struct prop_def *p)
{
	/* Strings and qube references all default to NULL ("none" / "the default kernel"). */
	return (struct pval){p->def_uint, NULL};
}

/* A memory above maxmem could never be given to the qube; maxmem 0 means no balancing. */
static const char *check_memory(unsigned memory, unsigned maxmem)
{
	if (maxmem != 0 && memory > maxmem)
		return "memory must not be larger than maxmem (set maxmem first)";
	return NULL;
}

static const char *check_memory_with(const struct qube *q, const struct prop_def *p, unsigned u)
{
	unsigned memory = q->memory, maxmem = q->maxmem;

	if (p->offset == QUBE_FIELD(memory))
		memory = u;
	else if (p->offset == QUBE_FIELD(maxmem))
		maxmem = u;
	else
		return NULL;
	return check_memory(memory, maxmem);
}

static bool prop_equals_default(const struct qube *q, const struct prop_def *p)
{
	switch (p->type) {
	case PROP_NAME:
	case PROP_CLASS:
	case PROP_LABEL:
		return false;
	case PROP_UINT:
		return *CFIELD(q, p, unsigned) == p->def_uint;
	case PROP_BOOL:
		return *CFIELD(q, p, bool) == (p->def_uint != 0);
	case PROP_QUBE_REF:
	case PROP_STR:
		return *CFIELD(q, p, char *) == NULL;
	}
	return false;
}

/* Explicit when set through the table, or when the field differs from the default anyway (a
 * caller that fills in a field directly must not see it silently dropped at the next load). */
static bool prop_is_explicit(const struct qube *q, size_t i)
{
	if (props[i].flags & (PROPF_READONLY | PROPF_NO_DEFAULT))
		return true;
	return (q->explicit_props & (1ULL << i)) || !prop_equals_default(q, &props[i]);
}

int qube_prop_get(const struct qube *q, const char *key, char **ret_value, bool *ret_is_default)
{
	const struct prop_def *p;
	size_t i;
	char *s = NULL;

	p = prop_find(key, &i);
	if (!p)
		return -ENOENT;
	switch (p->type) {
	case PROP_NAME:
		s = xstrdup(q->name);
		break;
	case PROP_CLASS:
		s = xstrdup(qube_class_to_string(q->klass) ?: "");
		break;
	case PROP_LABEL:
		s = xstrdup(qube_label_to_string(q->label) ?: "");
		break;
	case PROP_UINT:
		s = xasprintf("%u", *CFIELD(q, p, unsigned));
		break;
	case PROP_BOOL:
		s = xstrdup(*CFIELD(q, p, bool) ? "True" : "False");
		break;
	case PROP_QUBE_REF:
	case PROP_STR:
		s = xstrdup(*CFIELD(q, p, char *) ?: "");
		break;
	}
	if (ret_value)
		*ret_value = s;
	else
		free(s);
	if (ret_is_default)
		*ret_is_default = !prop_is_explicit(q, i);
	return 0;
}

int qube_prop_set(struct qube *q, const char *key, const char *value, const char **ret_reason)
{
	const struct prop_def *p;
	struct pval v;
	const char *reason;
	size_t i;
	int r;

	p = prop_find(key, &i);
	if (!p)
		return -ENOENT;
	if (p->flags & PROPF_READONLY) {
		if (ret_reason)
			*ret_reason = "property is read-only";
		return -EPERM;
	}
	if (!value)
		return -EINVAL;
	r = prop_parse(p, value, &v, ret_reason);
	if (r < 0)
		return r;
	if (p->type == PROP_UINT && (reason = check_memory_with(q, p, v.u))) {
		if (ret_reason)
			*ret_reason = reason;
		return -EINVAL;
	}
	prop_store(q, p, &v);
	q->explicit_props |= 1ULL << i;
	return 0;
}

int qube_prop_reset(struct qube *q, const char *key)
{
	const struct prop_def *p;
	struct pval v;
	size_t i;

	p = prop_find(key, &i);
	if (!p)
		return -ENOENT;
	if (p->flags & PROPF_READONLY)
		return -EPERM;
	if (p->flags & PROPF_NO_DEFAULT)
		return -ENODATA;
	v = prop_default(p);
	if (p->type == PROP_UINT && check_memory_with(q, p, v.u))
		return -EINVAL;
	prop_store(q, p, &v);
	q->explicit_props &= ~(1ULL << i);
	return 0;
}

const char *const *qube_prop_names(void)
{
	/* Same order as the table; the unit test checks that they agree. */
	static const char *const names[] = {
	    "name",
	    "klass",
	    "label",
	    "template",
	    "netvm",
	    "default_dispvm",
	    "memory",
	    "maxmem",
	    "vcpus",
	    "kernel",
	    "kernelopts",
	    "autostart",
	    "template_for_dispvms",
	    "qrexec_timeout",
	    "revisions_to_keep",
	    "provides_network",
	    "uplink",
	    NULL,
	};
	_Static_assert(ARRAY_SIZE(names) == ARRAY_SIZE(props) + 1, "one name per property");
	return names;
}

/* ---- creation ---- */

/* A random (version 4) uuid, as Python's str(uuid.uuid4()) writes it. */
static void uuid_generate(char out[QUBE_UUID_LEN + 1])
{
	uint8_t b[16];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			abort(); /* no randomness at all: nothing sensible to go on with */
		got += (size_t)n;
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, QUBE_UUID_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
		 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
		 b[15]);
}

static bool uuid_valid(const char *s)
{
	for (size_t i = 0; i < QUBE_UUID_LEN; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-'
			 : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return s[QUBE_UUID_LEN] == '\0';
}

int qube_new(const char *name, enum qube_class klass, enum qube_label label, struct qube **ret)
{
	struct qube *q;

	if (qube_name_check(name, NULL) < 0)
		return -EINVAL;
	if ((unsigned)klass >= QUBE_CLASS_COUNT || (unsigned)label >= LABEL_COUNT)
		return -EINVAL;
	q = xcalloc(1, sizeof(*q));
	q->name = xstrdup(name);
	q->klass = klass;
	q->label = label;
	uuid_generate(q->uuid);
	for (size_t i = 0; i < ARRAY_SIZE(props); i++)
		if (!(props[i].flags & (PROPF_READONLY | PROPF_NO_DEFAULT))) {
			struct pval v = prop_default(&props[i]);
			prop_store(q, &props[i], &v);
		}
	*ret = q;
	return 0;
}

void qube_free(struct qube *q)
{
	if (!q)
		return;
	free(q->name);
	free(q->template);
	free(q->kernel);
	free(q->kernelopts);
	free(q->netvm);
	free(q->default_dispvm);
	for (size_t i = 0; i < q->n_tags; i++)
		free(q->tags[i]);
	free(q->tags);
	for (size_t i = 0; i < q->n_features; i++) {
		free(q->features[i].key);
		free(q->features[i].value);
	}
	free(q->features);
	free(q);
}

static char *strdup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

int qube_dup(const struct qube *q, const char *new_name, struct qube **ret)
{
	struct qube *c;

	if (qube_name_check(new_name, NULL) < 0)
		return -EINVAL;
	c = xcalloc(1, sizeof(*c));
	*c = *q;
	c->name = xstrdup(new_name);
	uuid_generate(c->uuid);
	c->template = strdup_or_null(q->template);
	c->kernel = strdup_or_null(q->kernel);
	c->kernelopts = strdup_or_null(q->kernelopts);
	c->netvm = strdup_or_null(q->netvm);
	c->default_dispvm = strdup_or_null(q->default_dispvm);
	c->tags = q->n_tags ? xcalloc(q->n_tags, sizeof(char *)) : NULL;
	for (size_t i = 0; i < q->n_tags; i++)
		c->tags[i] = xstrdup(q->tags[i]);
	c->features = q->n_features ? xcalloc(q->n_features, sizeof(struct qube_kv)) : NULL;
	for (size_t i = 0; i < q->n_features; i++) {
		c->features[i].key = xstrdup(q->features[i].key);
		c->features[i].value = xstrdup(q->features[i].value);
	}
	*ret = c;
	return 0;
}

/* ---- tags and features ---- */

int qube_tag_check(const char *tag)
{
	size_t len;

	if (!tag)
		return -EINVAL;
	len = strnlen(tag, QUBE_TAG_MAX + 1);
	if (len == 0 || len > QUBE_TAG_MAX)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (!is_alpha(tag[i]) && !is_digit(tag[i]) && tag[i] != '_' && tag[i] != '-')
			return -EINVAL;
	return 0;
}

static ssize_t tag_index(const struct qube *q, const char *tag)
{
	for (size_t i = 0; i < q->n_tags; i++)
		if (streq(q->tags[i], tag))
			return (ssize_t)i;
	return -1;
}

int qube_tag_add(struct qube *q, const char *tag)
{
	if (qube_tag_check(tag) < 0)
		return -EINVAL;
	if (tag_index(q, tag) >= 0)
		return 0;
	if (q->n_tags >= QUBE_TAGS_MAX)
		return -E2BIG;
	q->tags = xrealloc(q->tags, (q->n_tags + 1) * sizeof(char *));
	q->tags[q->n_tags++] = xstrdup(tag);
	return 0;
}

int qube_tag_del(struct qube *q, const char *tag)
{
	ssize_t i;

	if (!tag)
		return -EINVAL;
	i = tag_index(q, tag);
	if (i < 0)
		return -ENOENT;
	free(q->tags[i]);
	memmove(&q->tags[i], &q->tags[i + 1], (q->n_tags - (size_t)i - 1) * sizeof(char *));
	q->n_tags--;
	return 0;
}

bool qube_has_tag(const struct qube *q, const char *tag)
{
	return tag && tag_index(q, tag) >= 0;
}

int qube_feature_check(const char *key, const char *value)
{
	size_t len;

	if (!key || !value)
		return -EINVAL;
	len = strnlen(key, QUBE_FEATURE_KEY_MAX + 1);
	if (len == 0 || len > QUBE_FEATURE_KEY_MAX)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (!is_alpha(key[i]) && !is_digit(key[i]) && key[i] != '_' && key[i] != '.' &&
		    key[i] != '-')
			return -EINVAL;
	if (strnlen(value, QUBE_FEATURE_VALUE_MAX + 1) > QUBE_FEATURE_VALUE_MAX)
		return -EINVAL;
	if (!is_printable_ascii(value))
		return -EINVAL;
	return 0;
}

static ssize_t feature_index(const struct qube *q, const char *key)
{
	for (size_t i = 0; i < q->n_features; i++)
		if (streq(q->features[i].key, key))
			return (ssize_t)i;
	return -1;
}

int qube_feature_set(struct qube *q, const char *key, const char *value)
{
	ssize_t i;

	if (qube_feature_check(key, value) < 0)
		return -EINVAL;
	i = feature_index(q, key);
	if (i >= 0) {
		free(q->features[i].value);
		q->features[i].value = xstrdup(value);
		return 0;
	}
	if (q->n_features >= QUBE_FEATURES_MAX)
		return -E2BIG;
	q->features = xrealloc(q->features, (q->n_features + 1) * sizeof(struct qube_kv));
	q->features[q->n_features].key = xstrdup(key);
	q->features[q->n_features].value = xstrdup(value);
	q->n_features++;
	return 0;
}

int qube_feature_del(struct qube *q, const char *key)
{
	ssize_t i;

	if (!key)
		return -EINVAL;
	i = feature_index(q, key);
	if (i < 0)
		return -ENOENT;
	free(q->features[i].key);
	free(q->features[i].value);
	memmove(&q->features[i], &q->features[i + 1],
		(q->n_features - (size_t)i - 1) * sizeof(struct qube_kv));
	q->n_features--;
	return 0;
}

const char *qube_feature_get(const struct qube *q, const char *key)
{
	ssize_t i;

	if (!key)
		return NULL;
	i = feature_index(q, key);
	return i < 0 ? NULL : q->features[i].value;
}

/* ---- JSON ---- */

/* The string of a JSON string value, or NULL if it is not one or holds a NUL (which C code
 * would silently cut at). */
static const char *json_cstr(struct json_object *v)
{
	const char *s;

	if (!json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	if ((size_t)json_object_get_string_len(v) != strlen(s))
		return NULL;
	return s;
}

static struct json_object *json_string_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

struct json_object *qube_to_json(const struct qube *q)
{
	struct json_object *o, *explicit, *tags, *features;

	o = json_object_new_object();
	if (!o)
		abort();
	json_object_object_add(o, "version", json_object_new_int(QUBE_JSON_VERSION));
	for (size_t i = 0; i < ARRAY_SIZE(props); i++) {
		const struct prop_def *p = &props[i];
		struct json_object *v = NULL;

		switch (p->type) {
		case PROP_NAME:
			v = json_object_new_string(q->name);
			break;
		case PROP_CLASS:
			v = json_object_new_string(qube_class_to_string(q->klass) ?: "");
			break;
		case PROP_LABEL:
			v = json_object_new_string(qube_label_to_string(q->label) ?: "");
			break;
		case PROP_UINT:
			v = json_object_new_int64(*CFIELD(q, p, unsigned));
			break;
		case PROP_BOOL:
			v = json_object_new_boolean(*CFIELD(q, p, bool));
			break;
		case PROP_QUBE_REF:
		case PROP_STR:
			v = json_string_or_null(*CFIELD(q, p, char *));
			break;
		}
		json_object_object_add(o, p->json_key, v);
	}
	explicit = json_object_new_array();
	for (size_t i = 0; i < ARRAY_SIZE(props); i++)
		if (!(props[i].flags & (PROPF_READONLY | PROPF_NO_DEFAULT)) &&
		    prop_is_explicit(q, i))
			json_object_array_add(explicit, json_object_new_string(props[i].name));
	json_object_object_add(o, "explicit", explicit);
	tags = json_object_new_array();
	for (size_t i = 0; i < q->n_tags; i++)
		json_object_array_add(tags, json_object_new_string(q->tags[i]));
	json_object_object_add(o, "tags", tags);
	features = json_object_new_object();
	for (size_t i = 0; i < q->n_features; i++)
		json_object_object_add(features, q->features[i].key,
				       json_object_new_string(q->features[i].value));
	json_object_object_add(o, "features", features);
	json_object_object_add(o, "uuid", json_object_new_string(q->uuid));
	if (q->call_disposable)
		json_object_object_add(o, "call_disposable", json_object_new_boolean(true));
	if (q->qid)
		json_object_object_add(o, "qid", json_object_new_int64(q->qid));
	return o;
}

static const struct prop_def *prop_find_json(const char *json_key, size_t *ret_index)
{
	for (size_t i = 0; i < ARRAY_SIZE(props); i++)
		if (streq(props[i].json_key, json_key)) {
			*ret_index = i;
			return &props[i];
		}
	return NULL;
}

static int json_explicit_bits(struct json_object *arr, unsigned long long *ret, const char **reason)
{
	unsigned long long bits = 0;
	size_t n;

	if (!json_object_is_type(arr, json_type_array)) {
		*reason = "\"explicit\" is not an array";
		return -EINVAL;
	}
	n = json_object_array_length(arr);
	if (n > ARRAY_SIZE(props)) {
		*reason = "\"explicit\" has too many entries";
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		const struct prop_def *p;
		size_t idx;

		if (!(p = prop_find(json_cstr(e), &idx)) ||
		    (p->flags & (PROPF_READONLY | PROPF_NO_DEFAULT)) || (bits & (1ULL << idx))) {
			*reason = "\"explicit\" has an entry that is not a settable property";
			return -EINVAL;
		}
		bits |= 1ULL << idx;
	}
	*ret = bits;
	return 0;
}

/* Converts a stored JSON value to the string form the table parses, checking its type. */
static int json_prop_string(const struct prop_def *p, struct json_object *v, char **ret)
{
	switch (p->type) {
	case PROP_NAME:
	case PROP_CLASS:
	case PROP_LABEL:
		if (!json_cstr(v))
			return -EINVAL;
		*ret = xstrdup(json_cstr(v));
		return 0;
	case PROP_QUBE_REF:
	case PROP_STR:
		/* null is "none" for a reference and "the default" for a string. */
		if (!v) {
			*ret = p->type == PROP_QUBE_REF ? xstrdup("") : NULL;
			return 0;
		}
		if (!json_cstr(v))
			return -EINVAL;
		*ret = xstrdup(json_cstr(v));
		return 0;
	case PROP_UINT: {
		int64_t n;
		if (!json_object_is_type(v, json_type_int))
			return -EINVAL;
		n = json_object_get_int64(v);
		if (n < 0 || n > UINT_MAX)
			return -EINVAL;
		*ret = xasprintf("%u", (unsigned)n);
		return 0;
	}
	case PROP_BOOL:
		if (!json_object_is_type(v, json_type_boolean))
			return -EINVAL;
		*ret = xstrdup(json_object_get_boolean(v) ? "True" : "False");
		return 0;
	}
	return -EINVAL;
}

static int json_tags(struct qube *q, struct json_object *arr, const char **reason)
{
	size_t n;

	if (!json_object_is_type(arr, json_type_array)) {
		*reason = "\"tags\" is not an array";
		return -EINVAL;
	}
	n = json_object_array_length(arr);
	if (n > QUBE_TAGS_MAX) {
		*reason = "too many tags";
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		const char *t;

		t = json_cstr(e);
		if (!t || qube_tag_check(t) < 0 || qube_has_tag(q, t)) {
			*reason = "a tag is invalid or repeated";
			return -EINVAL;
		}
		if (qube_tag_add(q, t) < 0)
			return -EINVAL;
	}
	return 0;
}

static int json_features(struct qube *q, struct json_object *obj, const char **reason)
{
	if (!json_object_is_type(obj, json_type_object)) {
		*reason = "\"features\" is not an object";
		return -EINVAL;
	}
	if (json_object_object_length(obj) > QUBE_FEATURES_MAX) {
		*reason = "too many features";
		return -EINVAL;
	}
	json_object_object_foreach(obj, key, val)
	{
		const char *s;

		s = json_cstr(val);
		if (!s || qube_feature_check(key, s) < 0 || qube_feature_set(q, key, s) < 0) {
			*reason = "a feature is invalid";
			return -EINVAL;
		}
	}
	return 0;
}

int qube_from_json(struct json_object *obj, struct qube **ret, const char **ret_reason)
{
	struct json_object *v, *name_o = NULL, *class_o = NULL, *label_o = NULL, *explicit_o;
	const char *name;
	const char *reason = "damaged";
	unsigned long long bits = 0;
	enum qube_class klass;
	enum qube_label label;
	struct qube *q = NULL;
	int r = -EINVAL;

	if (!json_object_is_type(obj, json_type_object)) {
		reason = "not a JSON object";
		goto fail;
	}
	if (!json_object_object_get_ex(obj, "version", &v) ||
	    !json_object_is_type(v, json_type_int)) {
		reason = "no version";
		goto fail;
	}
	if (json_object_get_int64(v) != QUBE_JSON_VERSION) {
		reason = "unknown version";
		r = -EPROTONOSUPPORT;
		goto fail;
	}
	/* Unknown keys mean damage or a newer writer: refuse rather than drop data silently. */
	json_object_object_foreach(obj, key, val)
	{
		size_t idx;
		(void)val;
		if (!streq(key, "version") && !streq(key, "explicit") && !streq(key, "tags") &&
		    !streq(key, "features") && !streq(key, "uuid") &&
		    !streq(key, "call_disposable") && !streq(key, "qid") &&
		    !prop_find_json(key, &idx)) {
			reason = "unknown key";
			goto fail;
		}
	}
	json_object_object_get_ex(obj, "name", &name_o);
	if (!(name = json_cstr(name_o))) {
		reason = "no name";
		goto fail;
	}
	if (qube_name_check(name, &reason) < 0)
		goto fail;
	json_object_object_get_ex(obj, "class", &class_o);
	if (qube_class_from_string(json_cstr(class_o), &klass) < 0) {
		reason = "no valid class";
		goto fail;
	}
	json_object_object_get_ex(obj, "label", &label_o);
	if (qube_label_from_string(json_cstr(label_o), &label) < 0) {
		reason = "no valid label";
		goto fail;
	}
	if (json_object_object_get_ex(obj, "explicit", &explicit_o) &&
	    json_explicit_bits(explicit_o, &bits, &reason) < 0)
		goto fail;

	r = qube_new(name, klass, label, &q);
	if (r < 0)
		goto fail;
	r = -EINVAL;

	/* memory and maxmem are checked against each other once both are in. */
	for (size_t i = 0; i < ARRAY_SIZE(props); i++) {
		const struct prop_def *p = &props[i];
		_cleanup_free_ char *s = NULL;
		struct pval pv;
		bool present;

		if (p->flags & (PROPF_READONLY | PROPF_NO_DEFAULT))
			continue;
		present = json_object_object_get_ex(obj, p->json_key, &v);
		if (present && json_prop_string(p, v, &s) < 0) {
			reason = "a property has the wrong type";
			goto fail;
		}
		if (!(bits & (1ULL << i))) {
			/* Not set explicitly: it follows the current default. */
			pv = prop_default(p);
			prop_store(q, p, &pv);
			continue;
		}
		if (!present || !s) {
			reason = "an explicit property has no value";
			goto fail;
		}
		if (prop_parse(p, s, &pv, &reason) < 0)
			goto fail;
		prop_store(q, p, &pv);
	}
	if ((reason = check_memory(q->memory, q->maxmem)))
		goto fail;
	q->explicit_props = bits;

	if (json_object_object_get_ex(obj, "tags", &v) && json_tags(q, v, &reason) < 0)
		goto fail;
	if (json_object_object_get_ex(obj, "features", &v) && json_features(q, v, &reason) < 0)
		goto fail;
	/* Qubes made before uuids were kept have none: they keep the fresh one from qube_new(). */
	if (json_object_object_get_ex(obj, "uuid", &v)) {
		const char *u = json_cstr(v);
		if (!u || !uuid_valid(u)) {
			reason = "uuid is not a lowercase 8-4-4-4-12 uuid";
			goto fail;
		}
		memcpy(q->uuid, u, QUBE_UUID_LEN + 1);
	}
	if (json_object_object_get_ex(obj, "call_disposable", &v)) {
		/* Only ever written as true, and only for a DispVM: anything else is damage that
		 * must not make a qube deletable. */
		if (!json_object_is_type(v, json_type_boolean) || !json_object_get_boolean(v) ||
		    q->klass != QUBE_DISPVM) {
			reason = "\"call_disposable\" is not true on a DispVM";
			goto fail;
		}
		q->call_disposable = true;
	}
	if (json_object_object_get_ex(obj, "qid", &v)) {
		int64_t n = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : 0;
		if (n < 1 || n > QUBE_QID_MAX) {
			reason = "\"qid\" is not a number from 1 to 65000";
			goto fail;
		}
		q->qid = (unsigned)n;
	}
	*ret = q;
	return 0;
fail:
	qube_free(q);
	if (ret_reason)
		*ret_reason = reason;
	return r;
}
