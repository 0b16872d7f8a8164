/* The qube model: names, classes, labels, the property table, tags, features, JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "qube.h"
#include "util.h"

static struct qube *new_qube(const char *name, enum qube_class klass)
{
	struct qube *q = NULL;

	assert_int_equal(qube_new(name, klass, LABEL_BLUE, &q), 0);
	assert_non_null(q);
	return q;
}

static void test_names(void **state)
{
	static const char *const good[] = {
	    "work",
	    "a",
	    "Work-2",
	    "sys-net",
	    "debian-12.minimal",
	    "x_y",
	    "A123456789012345678901234567890",
	};
	static const char *const bad[] = {
	    "",	    "1work",  "-work", ".",    "..",	  ".tmp-x",	"_x",	"wo rk", "wo/rk",
	    "wörk", "work\n", "dom0",  "none", "default", "sys-net-dm", "a-dm", "x;y",
	};
	const char *reason;

	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		assert_int_equal(qube_name_check(good[i], NULL), 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		reason = NULL;
		assert_int_equal(qube_name_check(bad[i], &reason), -EINVAL);
		assert_non_null(reason);
	}
	assert_int_equal(qube_name_check(NULL, NULL), -EINVAL);
	/* Reserved names only as whole names. */
	assert_int_equal(qube_name_check("dom0x", NULL), 0);
	assert_int_equal(qube_name_check("nonexistent", NULL), 0);
	assert_int_equal(qube_name_check("a-dmz", NULL), 0);
	assert_int_equal(qube_name_check("Dom0", NULL), 0);
	/* 31 is the limit. */
	assert_int_equal(qube_name_check("abcdefghijklmnopqrstuvwxyz01234", NULL), 0);
	assert_int_equal(qube_name_check("abcdefghijklmnopqrstuvwxyz012345", &reason), -EINVAL);
	assert_string_equal(reason, "name is longer than 31 characters");
}

static void test_classes_labels(void **state)
{
	static const struct {
		const char *name;
		unsigned rgb;
	} labels[] = {
	    {"red", 0xcc0000},	{"orange", 0xf57900}, {"yellow", 0xedd400}, {"green", 0x73d216},
	    {"gray", 0x555753}, {"blue", 0x3465a4},   {"purple", 0x75507b}, {"black", 0x000000},
	};
	static const char *const classes[] = {"AppVM", "TemplateVM", "StandaloneVM", "DispVM"};
	enum qube_label l;
	enum qube_class c;

	assert_int_equal(ARRAY_SIZE(labels), LABEL_COUNT);
	for (unsigned i = 0; i < LABEL_COUNT; i++) {
		assert_string_equal(qube_label_to_string((enum qube_label)i), labels[i].name);
		assert_int_equal(qube_label_rgb((enum qube_label)i), labels[i].rgb);
		assert_int_equal(qube_label_from_string(labels[i].name, &l), 0);
		assert_int_equal(l, i);
	}
	assert_int_equal(qube_label_from_string("grey", &l), -EINVAL);
	assert_int_equal(qube_label_from_string("Red", &l), -EINVAL);
	assert_int_equal(qube_label_from_string(NULL, &l), -EINVAL);
	assert_null(qube_label_to_string(LABEL_COUNT));

	assert_int_equal(ARRAY_SIZE(classes), QUBE_CLASS_COUNT);
	for (unsigned i = 0; i < QUBE_CLASS_COUNT; i++) {
		assert_string_equal(qube_class_to_string((enum qube_class)i), classes[i]);
		assert_int_equal(qube_class_from_string(classes[i], &c), 0);
		assert_int_equal(c, i);
	}
	assert_int_equal(qube_class_from_string("appvm", &c), -EINVAL);
	assert_int_equal(qube_class_from_string("AdminVM", &c), -EINVAL);
	assert_null(qube_class_to_string(QUBE_CLASS_COUNT));
}

static void test_new_defaults(void **state)
{
	struct qube *q = new_qube("work", QUBE_APPVM);
	struct qube *r = NULL;

	assert_string_equal(q->name, "work");
	assert_int_equal(q->klass, QUBE_APPVM);
	assert_int_equal(q->label, LABEL_BLUE);
	assert_int_equal(q->memory, 400);
	assert_int_equal(q->maxmem, 4000);
	assert_int_equal(q->vcpus, 2);
	assert_null(q->kernel);
	assert_null(q->kernelopts);
	assert_null(q->netvm);
	assert_null(q->template);
	assert_null(q->default_dispvm);
	assert_false(q->autostart);
	assert_false(q->template_for_dispvms);
	assert_int_equal(q->qrexec_timeout, 60);
	assert_int_equal(q->n_tags, 0);
	assert_int_equal(q->n_features, 0);

	assert_int_equal(qube_new("dom0", QUBE_APPVM, LABEL_RED, &r), -EINVAL);
	assert_int_equal(qube_new("ok", QUBE_CLASS_COUNT, LABEL_RED, &r), -EINVAL);
	assert_int_equal(qube_new("ok", QUBE_APPVM, LABEL_COUNT, &r), -EINVAL);
	assert_null(r);
	qube_free(q);
	qube_free(NULL);
}

static void expect_prop(const struct qube *q, const char *key, const char *value, bool is_default)
{
	char *v = NULL;
	bool d = !is_default;

	assert_int_equal(qube_prop_get(q, key, &v, &d), 0);
	assert_string_equal(v, value);
	assert_int_equal(d, is_default);
	free(v);
}

/* Every settable property: default, a good value, reading back, reset. */
static void test_props_get_set_reset(void **state)
{
	static const struct {
		const char *key, *def, *set, *readback;
	} cases[] = {
	    {"template", "", "debian-12", "debian-12"},
	    {"netvm", "", "sys-firewall", "sys-firewall"},
	    {"default_dispvm", "", "dvm-tpl", "dvm-tpl"},
	    {"memory", "400", "1024", "1024"},
	    {"maxmem", "4000", "0", "0"},
	    {"vcpus", "2", "64", "64"},
	    {"kernel", "", "6.1.0-28-amd64", "6.1.0-28-amd64"},
	    {"kernelopts", "", "console=hvc0 quiet", "console=hvc0 quiet"},
	    {"autostart", "False", "yes", "True"},
	    {"template_for_dispvms", "False", "1", "True"},
	    {"qrexec_timeout", "60", "3600", "3600"},
	    {"revisions_to_keep", "1", "0", "0"},
	    {"provides_network", "False", "True", "True"},
	    {"uplink", "False", "True", "True"},
	};
	struct qube *q = new_qube("work", QUBE_APPVM);
	const char *const *names = qube_prop_names();
	size_t n = 0;

	for (; names[n]; n++)
		assert_int_equal(qube_prop_get(q, names[n], NULL, NULL), 0);
	assert_int_equal(n, ARRAY_SIZE(cases) + 3);

	expect_prop(q, "name", "work", false);
	expect_prop(q, "klass", "AppVM", false);
	expect_prop(q, "label", "blue", false);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *reason = NULL;

		expect_prop(q, cases[i].key, cases[i].def, true);
		assert_int_equal(qube_prop_set(q, cases[i].key, cases[i].set, &reason), 0);
		expect_prop(q, cases[i].key, cases[i].readback, false);
		assert_int_equal(qube_prop_reset(q, cases[i].key), 0);
		expect_prop(q, cases[i].key, cases[i].def, true);
		/* Setting the default value explicitly is still explicit, as in Qubes. */
		if (*cases[i].def) {
			assert_int_equal(qube_prop_set(q, cases[i].key, cases[i].def, NULL), 0);
			expect_prop(q, cases[i].key, cases[i].def, false);
			assert_int_equal(qube_prop_reset(q, cases[i].key), 0);
		}
	}
	/* Setting a reference to "" is explicitly none. */
	assert_int_equal(qube_prop_set(q, "netvm", "", NULL), 0);
	expect_prop(q, "netvm", "", false);
	assert_null(q->netvm);
	/* Empty kernelopts is explicitly "no extra options", not the default. */
	assert_int_equal(qube_prop_set(q, "kernelopts", "", NULL), 0);
	expect_prop(q, "kernelopts", "", false);
	assert_non_null(q->kernelopts);

	assert_int_equal(qube_prop_set(q, "label", "purple", NULL), 0);
	assert_int_equal(q->label, LABEL_PURPLE);
	assert_int_equal(qube_prop_reset(q, "label"), -ENODATA);
	assert_int_equal(q->label, LABEL_PURPLE);

	assert_int_equal(qube_prop_set(q, "name", "other", NULL), -EPERM);
	assert_int_equal(qube_prop_set(q, "klass", "TemplateVM", NULL), -EPERM);
	assert_int_equal(qube_prop_reset(q, "name"), -EPERM);
	assert_int_equal(qube_prop_reset(q, "klass"), -EPERM);
	assert_string_equal(q->name, "work");
	assert_int_equal(q->klass, QUBE_APPVM);

	assert_int_equal(qube_prop_get(q, "nosuch", NULL, NULL), -ENOENT);
	assert_int_equal(qube_prop_set(q, "nosuch", "1", NULL), -ENOENT);
	assert_int_equal(qube_prop_reset(q, "nosuch"), -ENOENT);
	assert_int_equal(qube_prop_get(q, "Memory", NULL, NULL), -ENOENT);

	static const char *const bools[][2] = {
	    {"True", "True"}, {"False", "False"}, {"true", "True"}, {"false", "False"},
	    {"1", "True"},    {"0", "False"},	  {"yes", "True"},  {"no", "False"}};
	for (size_t i = 0; i < ARRAY_SIZE(bools); i++) {
		assert_int_equal(qube_prop_set(q, "autostart", bools[i][0], NULL), 0);
		expect_prop(q, "autostart", bools[i][1], false);
	}
	qube_free(q);
}

/* A field written directly (not through the table) still counts as set. */
static void test_props_direct_field(void **state)
{
	struct qube *q = new_qube("work", QUBE_APPVM);

	q->template = xstrdup("debian-12");
	expect_prop(q, "template", "debian-12", false);
	q->memory = 800;
	expect_prop(q, "memory", "800", false);
	qube_free(q);
}

static void test_props_bad_values(void **state)
{
	static const struct {
		const char *key, *value;
	} bad[] = {
	    {"memory", "31"},
	    {"memory", "1048577"},
	    {"memory", ""},
	    {"memory", "-1"},
	    {"memory", "+500"},
	    {"memory", " 500"},
	    {"memory", "500 "},
	    {"memory", "0x100"},
	    {"memory", "99999999999999999999"},
	    {"memory", "4001"}, /* above maxmem */
	    {"memory", "0"},
	    {"maxmem", "399"}, /* below memory */
	    {"maxmem", "31"},
	    {"maxmem", "1048577"},
	    {"vcpus", "0"},
	    {"vcpus", "65"},
	    {"vcpus", "two"},
	    {"autostart", "TRUE"},
	    {"autostart", ""},
	    {"autostart", "2"},
	    {"qrexec_timeout", "0"},
	    {"qrexec_timeout", "3601"},
	    {"revisions_to_keep", "101"},
	    {"revisions_to_keep", "-1"},
	    {"template_for_dispvms", "on"},
	    {"label", "grey"},
	    {"label", ""},
	    {"template", "dom0"},
	    {"template", "1abc"},
	    {"netvm", "a b"},
	    {"netvm", "abcdefghijklmnopqrstuvwxyz012345"},
	    {"default_dispvm", "none"},
	    {"kernel", ""},
	    {"kernel", "../../etc"},
	    {"kernel", ".hidden"},
	    {"kernel", "6.1 amd64"},
	    {"kernel", "a/b"},
	    {"kernel", "12345678901234567890123456789012345678901234567890123456789012345"},
	    {"kernelopts", "quiet\ninit=/bin/sh"},
	    {"kernelopts", "tab\there"},
	    {"kernelopts", "caf\xc3\xa9"},
	};
	struct qube *q = new_qube("work", QUBE_APPVM);
	struct json_object *before = qube_to_json(q);

	assert_int_equal(qube_prop_set(q, "kernel", "6.1.0-28-amd64", NULL), 0);
	json_object_put(before);
	before = qube_to_json(q);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		const char *reason = NULL;
		struct json_object *after;

		assert_int_equal(qube_prop_set(q, bad[i].key, bad[i].value, &reason), -EINVAL);
		assert_non_null(reason);
		after = qube_to_json(q);
		/* Nothing changed, not even the explicit bits. */
		assert_true(json_object_equal(before, after));
		json_object_put(after);
	}
	assert_int_equal(qube_prop_set(q, "memory", NULL, NULL), -EINVAL);

	/* Limits themselves are fine. */
	assert_int_equal(qube_prop_set(q, "memory", "32", NULL), 0);
	assert_int_equal(qube_prop_set(q, "maxmem", "1048576", NULL), 0);
	assert_int_equal(qube_prop_set(q, "memory", "1048576", NULL), 0);
	assert_int_equal(qube_prop_set(q, "vcpus", "1", NULL), 0);
	char opts[1025];
	memset(opts, 'x', sizeof(opts) - 1);
	opts[1024] = '\0';
	assert_int_equal(qube_prop_set(q, "kernelopts", opts, NULL), 0);
	char longer[1026];
	memset(longer, 'x', sizeof(longer) - 1);
	longer[1025] = '\0';
	assert_int_equal(qube_prop_set(q, "kernelopts", longer, NULL), -EINVAL);
	assert_string_equal(q->kernelopts, opts);

	/* A reset that would put memory above maxmem is refused. */
	assert_int_equal(qube_prop_set(q, "memory", "8000", NULL), 0);
	assert_int_equal(qube_prop_reset(q, "maxmem"), -EINVAL);
	assert_int_equal(q->maxmem, 1048576);
	assert_int_equal(qube_prop_set(q, "maxmem", "0", NULL), 0);
	assert_int_equal(qube_prop_set(q, "memory", "100000", NULL), 0);
	json_object_put(before);
	qube_free(q);
}

static void test_tags(void **state)
{
	struct qube *q = new_qube("work", QUBE_APPVM);
	char tag[32];

	assert_int_equal(qube_tag_add(q, "created-by-dom0"), 0);
	assert_int_equal(qube_tag_add(q, "created-by-dom0"), 0);
	assert_int_equal(q->n_tags, 1);
	assert_true(qube_has_tag(q, "created-by-dom0"));
	assert_false(qube_has_tag(q, "other"));
	assert_int_equal(qube_tag_add(q, ""), -EINVAL);
	assert_int_equal(qube_tag_add(q, "a.b"), -EINVAL);
	assert_int_equal(qube_tag_add(q, "a b"), -EINVAL);
	assert_int_equal(qube_tag_add(q, "abcdefghijklmnopqrstuvwxyz012345"), -EINVAL);
	assert_int_equal(qube_tag_add(q, "abcdefghijklmnopqrstuvwxyz01234"), 0);
	assert_int_equal(qube_tag_del(q, "nosuch"), -ENOENT);
	assert_int_equal(qube_tag_del(q, "created-by-dom0"), 0);
	assert_false(qube_has_tag(q, "created-by-dom0"));
	assert_true(qube_has_tag(q, "abcdefghijklmnopqrstuvwxyz01234"));
	assert_int_equal(q->n_tags, 1);

	for (int i = 0; q->n_tags < QUBE_TAGS_MAX; i++) {
		snprintf(tag, sizeof(tag), "t%d", i);
		assert_int_equal(qube_tag_add(q, tag), 0);
	}
	assert_int_equal(qube_tag_add(q, "one-too-many"), -E2BIG);
	assert_int_equal(q->n_tags, QUBE_TAGS_MAX);
	/* Re-adding one that is there is still fine at the cap. */
	assert_int_equal(qube_tag_add(q, "t0"), 0);
	qube_free(q);
}

static void test_features(void **state)
{
	struct qube *q = new_qube("work", QUBE_APPVM);
	char key[70], value[1026];

	assert_int_equal(qube_feature_set(q, "service.cups", "1"), 0);
	assert_string_equal(qube_feature_get(q, "service.cups"), "1");
	assert_int_equal(qube_feature_set(q, "service.cups", ""), 0);
	assert_string_equal(qube_feature_get(q, "service.cups"), "");
	assert_int_equal(q->n_features, 1);
	assert_null(qube_feature_get(q, "nosuch"));
	assert_int_equal(qube_feature_set(q, "", "x"), -EINVAL);
	assert_int_equal(qube_feature_set(q, "a b", "x"), -EINVAL);
	assert_int_equal(qube_feature_set(q, "a/b", "x"), -EINVAL);
	assert_int_equal(qube_feature_set(q, "k", "line\nbreak"), -EINVAL);
	assert_int_equal(qube_feature_set(q, "k", NULL), -EINVAL);
	memset(key, 'k', 64);
	key[64] = '\0';
	assert_int_equal(qube_feature_set(q, key, "x"), 0);
	key[64] = 'k';
	key[65] = '\0';
	assert_int_equal(qube_feature_set(q, key, "x"), -EINVAL);
	memset(value, 'v', 1024);
	value[1024] = '\0';
	assert_int_equal(qube_feature_set(q, "big", value), 0);
	value[1024] = 'v';
	value[1025] = '\0';
	assert_int_equal(qube_feature_set(q, "big", value), -EINVAL);
	assert_int_equal(strlen(qube_feature_get(q, "big")), 1024);
	assert_int_equal(qube_feature_del(q, "nosuch"), -ENOENT);
	assert_int_equal(qube_feature_del(q, "big"), 0);
	assert_null(qube_feature_get(q, "big"));
	assert_string_equal(qube_feature_get(q, "service.cups"), "");

	for (int i = 0; q->n_features < QUBE_FEATURES_MAX; i++) {
		snprintf(key, sizeof(key), "f%d", i);
		assert_int_equal(qube_feature_set(q, key, "v"), 0);
	}
	assert_int_equal(qube_feature_set(q, "one-too-many", "v"), -E2BIG);
	assert_int_equal(qube_feature_set(q, "f0", "replaced"), 0);
	assert_string_equal(qube_feature_get(q, "f0"), "replaced");
	qube_free(q);
}

static struct qube *full_qube(void)
{
	struct qube *q = new_qube("work", QUBE_APPVM);

	assert_int_equal(qube_prop_set(q, "template", "debian-12", NULL), 0);
	assert_int_equal(qube_prop_set(q, "netvm", "sys-firewall", NULL), 0);
	assert_int_equal(qube_prop_set(q, "memory", "1000", NULL), 0);
	assert_int_equal(qube_prop_set(q, "vcpus", "4", NULL), 0);
	assert_int_equal(qube_prop_set(q, "kernelopts", "quiet \"x\" <&>", NULL), 0);
	assert_int_equal(qube_prop_set(q, "autostart", "True", NULL), 0);
	assert_int_equal(qube_tag_add(q, "t1"), 0);
	assert_int_equal(qube_tag_add(q, "t2"), 0);
	assert_int_equal(qube_feature_set(q, "gui", "1"), 0);
	assert_int_equal(qube_feature_set(q, "empty", ""), 0);
	return q;
}

static void assert_same_qube(const struct qube *a, const struct qube *b)
{
	const char *const *names = qube_prop_names();

	for (size_t i = 0; names[i]; i++) {
		char *va, *vb;
		bool da, db;

		assert_int_equal(qube_prop_get(a, names[i], &va, &da), 0);
		assert_int_equal(qube_prop_get(b, names[i], &vb, &db), 0);
		assert_string_equal(va, vb);
		assert_int_equal(da, db);
		free(va);
		free(vb);
	}
	assert_int_equal(a->n_tags, b->n_tags);
	for (size_t i = 0; i < a->n_tags; i++)
		assert_string_equal(a->tags[i], b->tags[i]);
	assert_int_equal(a->n_features, b->n_features);
	for (size_t i = 0; i < a->n_features; i++)
		assert_string_equal(qube_feature_get(b, a->features[i].key), a->features[i].value);
}

static void test_json_round_trip(void **state)
{
	struct qube *q = full_qube(), *back = NULL, *empty = NULL;
	struct json_object *o = qube_to_json(q), *v;
	const char *reason = NULL;

	/* The shape admin.vm.List relies on. */
	assert_true(json_object_object_get_ex(o, "version", &v));
	assert_int_equal(json_object_get_int(v), 1);
	assert_true(json_object_object_get_ex(o, "class", &v));
	assert_string_equal(json_object_get_string(v), "AppVM");
	assert_true(json_object_object_get_ex(o, "memory", &v));
	assert_true(json_object_is_type(v, json_type_int));
	assert_true(json_object_object_get_ex(o, "autostart", &v));
	assert_true(json_object_is_type(v, json_type_boolean));
	assert_true(json_object_object_get_ex(o, "kernel", &v));
	assert_null(v);

	/* Through text, as on disk. */
	struct json_object *parsed =
	    json_tokener_parse(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	assert_non_null(parsed);
	assert_int_equal(qube_from_json(parsed, &back, &reason), 0);
	assert_same_qube(q, back);
	json_object_put(parsed);

	/* A qube with nothing set survives too, and stays "default". */
	empty = new_qube("plain", QUBE_TEMPLATEVM);
	json_object_put(o);
	o = qube_to_json(empty);
	qube_free(back);
	back = NULL;
	assert_int_equal(qube_from_json(o, &back, &reason), 0);
	assert_same_qube(empty, back);
	expect_prop(back, "memory", "400", true);
	assert_int_equal(back->klass, QUBE_TEMPLATEVM);

	/* dup copies everything under the new name. */
	struct qube *d = NULL;
	assert_int_equal(qube_dup(q, "bad name", &d), -EINVAL);
	assert_int_equal(qube_dup(q, "work2", &d), 0);
	assert_string_equal(d->name, "work2");
	assert_int_equal(qube_prop_set(q, "name", "work2", NULL), -EPERM);
	free(d->name);
	d->name = xstrdup("work");
	assert_same_qube(q, d);
	qube_free(d);

	json_object_put(o);
	qube_free(back);
	qube_free(empty);
	qube_free(q);
}

/* Returns the error of qube_from_json on q's JSON after edit(key, value). */
static int from_json_edited(const char *key, struct json_object *value, const char **reason)
{
	struct qube *q = full_qube(), *back = NULL;
	struct json_object *o = qube_to_json(q);
	int r;

	if (value == (struct json_object *)-1)
		json_object_object_del(o, key);
	else
		json_object_object_add(o, key, value);
	*reason = NULL;
	r = qube_from_json(o, &back, reason);
	if (r < 0) {
		assert_null(back);
		assert_non_null(*reason);
	}
	qube_free(back);
	json_object_put(o);
	qube_free(q);
	return r;
}

static void test_json_damaged(void **state)
{
	struct json_object *const DEL = (struct json_object *)-1;
	const char *reason;
	struct qube *back = NULL;

	assert_int_equal(from_json_edited("version", json_object_new_int(2), &reason),
			 -EPROTONOSUPPORT);
	assert_string_equal(reason, "unknown version");
	assert_int_equal(from_json_edited("version", json_object_new_string("1"), &reason),
			 -EINVAL);
	assert_int_equal(from_json_edited("version", DEL, &reason), -EINVAL);
	assert_int_equal(from_json_edited("surprise", json_object_new_int(1), &reason), -EINVAL);
	assert_string_equal(reason, "unknown key");
	assert_int_equal(from_json_edited("name", json_object_new_string("dom0"), &reason),
			 -EINVAL);
	assert_int_equal(from_json_edited("name", json_object_new_string_len("ab\0c", 4), &reason),
			 -EINVAL);
	assert_int_equal(from_json_edited("name", json_object_new_int(3), &reason), -EINVAL);
	assert_int_equal(from_json_edited("name", DEL, &reason), -EINVAL);
	assert_int_equal(from_json_edited("class", json_object_new_string("AdminVM"), &reason),
			 -EINVAL);
	assert_int_equal(from_json_edited("label", json_object_new_string("pink"), &reason),
			 -EINVAL);
	assert_int_equal(from_json_edited("label", DEL, &reason), -EINVAL);
	/* Explicit properties with bad values or types. */
	assert_int_equal(from_json_edited("memory", json_object_new_string("1000"), &reason),
			 -EINVAL);
	assert_int_equal(from_json_edited("memory", json_object_new_int(5), &reason), -EINVAL);
	assert_int_equal(from_json_edited("memory", json_object_new_int(-1000), &reason), -EINVAL);
	assert_int_equal(from_json_edited("memory", json_object_new_int64(1LL << 40), &reason),
			 -EINVAL);
	assert_int_equal(from_json_edited("memory", json_object_new_double(1000.0), &reason),
			 -EINVAL);
	assert_int_equal(from_json_edited("memory", json_object_new_int(5000), &reason),
			 -EINVAL); /* above maxmem 4000 */
	assert_int_equal(from_json_edited("memory", DEL, &reason), -EINVAL);
	assert_int_equal(from_json_edited("autostart", json_object_new_string("True"), &reason),
			 -EINVAL);
	assert_int_equal(from_json_edited("netvm", json_object_new_string("a b"), &reason),
			 -EINVAL);
	assert_int_equal(from_json_edited("kernelopts", json_object_new_string("a\nb"), &reason),
			 -EINVAL);
	assert_int_equal(from_json_edited("kernelopts", NULL, &reason), -EINVAL);
	/* Non-explicit properties still must have the right type. */
	assert_int_equal(from_json_edited("maxmem", json_object_new_string("x"), &reason), -EINVAL);
	assert_int_equal(from_json_edited("kernel", json_object_new_int(1), &reason), -EINVAL);

	struct json_object *a = json_object_new_array();
	json_object_array_add(a, json_object_new_string("name"));
	assert_int_equal(from_json_edited("explicit", a, &reason), -EINVAL);
	a = json_object_new_array();
	json_object_array_add(a, json_object_new_string("memory"));
	json_object_array_add(a, json_object_new_string("memory"));
	assert_int_equal(from_json_edited("explicit", a, &reason), -EINVAL);
	a = json_object_new_array();
	json_object_array_add(a, json_object_new_string("bogus"));
	assert_int_equal(from_json_edited("explicit", a, &reason), -EINVAL);
	assert_int_equal(from_json_edited("explicit", json_object_new_object(), &reason), -EINVAL);

	a = json_object_new_array();
	json_object_array_add(a, json_object_new_string("t1"));
	json_object_array_add(a, json_object_new_string("t1"));
	assert_int_equal(from_json_edited("tags", a, &reason), -EINVAL);
	a = json_object_new_array();
	json_object_array_add(a, json_object_new_int(1));
	assert_int_equal(from_json_edited("tags", a, &reason), -EINVAL);
	a = json_object_new_array();
	for (int i = 0; i <= QUBE_TAGS_MAX; i++) {
		char t[16];
		snprintf(t, sizeof(t), "t%d", i);
		json_object_array_add(a, json_object_new_string(t));
	}
	assert_int_equal(from_json_edited("tags", a, &reason), -EINVAL);
	assert_string_equal(reason, "too many tags");
	assert_int_equal(from_json_edited("tags", json_object_new_string("t1"), &reason), -EINVAL);

	struct json_object *f = json_object_new_object();
	json_object_object_add(f, "bad key", json_object_new_string("v"));
	assert_int_equal(from_json_edited("features", f, &reason), -EINVAL);
	f = json_object_new_object();
	json_object_object_add(f, "k", json_object_new_int(1));
	assert_int_equal(from_json_edited("features", f, &reason), -EINVAL);
	f = json_object_new_object();
	for (int i = 0; i <= QUBE_FEATURES_MAX; i++) {
		char k[16];
		snprintf(k, sizeof(k), "f%d", i);
		json_object_object_add(f, k, json_object_new_string("v"));
	}
	assert_int_equal(from_json_edited("features", f, &reason), -EINVAL);
	assert_string_equal(reason, "too many features");

	/* Valid edits are accepted (the helper itself is not always failing). */
	assert_int_equal(from_json_edited("memory", json_object_new_int(2000), &reason), 0);
	assert_int_equal(from_json_edited("tags", DEL, &reason), 0);

	/* Not an object at all. */
	struct json_object *arr = json_object_new_array();
	assert_int_equal(qube_from_json(arr, &back, &reason), -EINVAL);
	assert_int_equal(qube_from_json(NULL, &back, &reason), -EINVAL);
	assert_null(back);
	json_object_put(arr);
}

/* A value that is not explicit follows the default, whatever the file says. */
/* Qubes' uuid property: random at creation, its own for a clone, kept through JSON. */
/* The qid is kept, checked, and a copy does not inherit it; an explicit "no netvm" survives a
 * round trip (it is not the default, which follows the host's default_netvm). */
static void test_qid_netvm_none(void **state)
{
	struct qube *a = new_qube("a", QUBE_APPVM), *c = NULL, *back = NULL;
	const char *reason = NULL;
	char *v = NULL;
	bool def = true;

	a->qid = 42;
	assert_int_equal(qube_prop_set(a, "netvm", "", &reason), 0);
	struct json_object *o = qube_to_json(a);
	assert_int_equal(qube_from_json(o, &back, &reason), 0);
	assert_int_equal(back->qid, 42);
	assert_null(back->netvm);
	assert_int_equal(qube_prop_get(back, "netvm", &v, &def), 0);
	assert_string_equal(v, "");
	assert_false(def);
	free(v);
	qube_free(back);
	back = NULL;
	assert_int_equal(qube_dup(a, "c", &c), 0);
	assert_int_equal(c->qid, 42); /* edits go through copies; a clone's caller gives another */
	static const char *const bad[] = {"0", "65001", "\"5\"", "-1", "1.5"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		json_object_object_add(o, "qid", json_tokener_parse(bad[i]));
		assert_int_equal(qube_from_json(o, &back, &reason), -EINVAL);
		assert_null(back);
	}
	json_object_put(o);
	qube_free(a);
	qube_free(c);
}

static void test_uuid(void **state)
{
	struct qube *a = new_qube("a", QUBE_APPVM), *b = new_qube("b", QUBE_APPVM);
	struct qube *c = NULL, *back = NULL;
	const char *reason = NULL;

	assert_int_equal(strlen(a->uuid), QUBE_UUID_LEN);
	assert_int_equal(a->uuid[8], '-');
	assert_int_equal(a->uuid[14], '4'); /* version 4 */
	assert_string_not_equal(a->uuid, b->uuid);
	assert_int_equal(qube_dup(a, "c", &c), 0);
	assert_string_not_equal(c->uuid, a->uuid);

	struct json_object *o = qube_to_json(a), *v;
	assert_true(json_object_object_get_ex(o, "uuid", &v));
	assert_string_equal(json_object_get_string(v), a->uuid);
	assert_int_equal(qube_from_json(o, &back, &reason), 0);
	assert_string_equal(back->uuid, a->uuid);
	qube_free(back);
	back = NULL;

	/* stored before uuids were kept: loads, with a fresh one */
	json_object_object_del(o, "uuid");
	assert_int_equal(qube_from_json(o, &back, &reason), 0);
	assert_int_equal(strlen(back->uuid), QUBE_UUID_LEN);
	assert_string_not_equal(back->uuid, a->uuid);
	qube_free(back);
	back = NULL;

	/* anything but the canonical form is damage */
	static const char *const bad[] = {"", "x", "C9024A97-9B15-46CC-8341-38D75D5D421B",
					  "c9024a97-9b15-46cc-8341-38d75d5d421b0",
					  "c9024a97x9b15-46cc-8341-38d75d5d421b"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		json_object_object_add(o, "uuid", json_object_new_string(bad[i]));
		back = (struct qube *)0x1;
		assert_int_equal(qube_from_json(o, &back, &reason), -EINVAL);
		assert_ptr_equal(back, (struct qube *)0x1);
		assert_string_equal(reason, "uuid is not a lowercase 8-4-4-4-12 uuid");
	}
	json_object_object_add(o, "uuid", json_object_new_int(1));
	assert_int_equal(qube_from_json(o, &back, &reason), -EINVAL);
	json_object_put(o);
	qube_free(a);
	qube_free(b);
	qube_free(c);
}

static void test_json_default_follows(void **state)
{
	struct qube *q = new_qube("work", QUBE_APPVM), *back = NULL;
	struct json_object *o = qube_to_json(q);

	json_object_object_add(o, "vcpus", json_object_new_int(7));
	assert_int_equal(qube_from_json(o, &back, NULL), 0);
	assert_int_equal(back->vcpus, 2);
	expect_prop(back, "vcpus", "2", true);
	qube_free(back);
	json_object_put(o);
	qube_free(q);
}

/* The mark of a disposable made for a call: kept through the store and copies, written only
 * when set, and refused anywhere but as true on a DispVM (damage must not make a qube
 * deletable). */
static void test_json_call_disposable(void **state)
{
	struct qube *q = new_qube("disp12", QUBE_DISPVM), *back = NULL, *copy = NULL;
	struct json_object *o = qube_to_json(q), *v;
	const char *reason = NULL;

	assert_false(json_object_object_get_ex(o, "call_disposable", &v));
	json_object_put(o);
	q->call_disposable = true;
	o = qube_to_json(q);
	assert_true(json_object_object_get_ex(o, "call_disposable", &v));
	assert_int_equal(qube_from_json(o, &back, NULL), 0);
	assert_true(back->call_disposable);
	assert_int_equal(qube_dup(back, "disp12", &copy), 0);
	assert_true(copy->call_disposable);
	qube_free(copy);
	qube_free(back);
	back = NULL;
	json_object_object_add(o, "call_disposable", json_object_new_boolean(false));
	assert_int_equal(qube_from_json(o, &back, &reason), -EINVAL);
	json_object_object_add(o, "call_disposable", json_object_new_string("1"));
	assert_int_equal(qube_from_json(o, &back, &reason), -EINVAL);
	json_object_put(o);
	qube_free(q);
	/* On an AppVM (or a template) it is damage. */
	assert_int_equal(
	    from_json_edited("call_disposable", json_object_new_boolean(true), &reason), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_classes_labels),
	    cmocka_unit_test(test_new_defaults),
	    cmocka_unit_test(test_props_get_set_reset),
	    cmocka_unit_test(test_props_direct_field),
	    cmocka_unit_test(test_props_bad_values),
	    cmocka_unit_test(test_tags),
	    cmocka_unit_test(test_features),
	    cmocka_unit_test(test_json_round_trip),
	    cmocka_unit_test(test_json_damaged),
	    cmocka_unit_test(test_json_default_follows),
	    cmocka_unit_test(test_uuid),
	    cmocka_unit_test(test_qid_netvm_none),
	    cmocka_unit_test(test_json_call_disposable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
