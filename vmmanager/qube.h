/*
 * The qube model: what bulkheadd stores about each qube, the naming rules (common/qube-name.h),
 * and the property table that `bulkhead prefs` reads and writes. Pure data, no I/O (see store.h for
 * persistence).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "qube-name.h" /* QUBE_NAME_MAX and qube_name_check(): the one rule, in common/ */

/* Defaults and bounds of the property table (MiB for memory). */
#define QUBE_DEFAULT_MEMORY	    400
#define QUBE_DEFAULT_MAXMEM	    4000
#define QUBE_DEFAULT_VCPUS	    2
#define QUBE_MEMORY_MIN		    32
#define QUBE_MEMORY_MAX		    1048576
#define QUBE_VCPUS_MAX		    64
#define QUBE_DEFAULT_QREXEC_TIMEOUT 60
#define QUBE_QREXEC_TIMEOUT_MAX	    3600
#define QUBE_DEFAULT_REVISIONS	    1	/* Qubes' default revisions_to_keep */
#define QUBE_REVISIONS_MAX	    100 /* each revision of a root can be gigabytes */

/* Caps on what a caller can make a qube hold. */
#define QUBE_TAGS_MAX	       64
#define QUBE_TAG_MAX	       31
#define QUBE_FEATURES_MAX      128
#define QUBE_FEATURE_KEY_MAX   64
#define QUBE_FEATURE_VALUE_MAX 1024

/* The "version" field of the stored JSON. */
#define QUBE_JSON_VERSION 1

#define QUBE_UUID_LEN 36

enum qube_class { QUBE_APPVM, QUBE_TEMPLATEVM, QUBE_STANDALONEVM, QUBE_DISPVM, QUBE_CLASS_COUNT };

/* Qubes' eight labels, in Qubes' order (index is also Qubes' label index). */
enum qube_label {
	LABEL_RED,
	LABEL_ORANGE,
	LABEL_YELLOW,
	LABEL_GREEN,
	LABEL_GRAY,
	LABEL_BLUE,
	LABEL_PURPLE,
	LABEL_BLACK,
	LABEL_COUNT
};

struct qube_kv {
	char *key;
	char *value;
};

struct qube {
	char *name;
	enum qube_class klass;
	enum qube_label label;
	char *template;	 /* AppVM, DispVM: the template it is based on; NULL otherwise */
	unsigned memory; /* MiB at start */
	unsigned maxmem; /* MiB the balloon may grow to */
	unsigned vcpus;
	char *kernel;	  /* kernel version under <state>/kernels/, NULL = the default kernel */
	char *kernelopts; /* extra kernel command line, NULL = default */
	bool autostart;
	/* NULL: none when explicit, else the default (the host's default_netvm; see
	 * vmmanager/net.h for what the chain resolves to). */
	char *netvm;
	bool provides_network; /* other qubes may use it as their netvm */
	/* With provides_network and netvm none: its uplink is passt into the host's network
	 * (sys-net's; net.h). Explicit, so that no other qube ever gets one by accident. */
	bool uplink;
	char *default_dispvm;
	bool template_for_dispvms;
	unsigned qrexec_timeout; /* seconds the agent has to say hello after a start */
	/* TemplateVM: how many earlier roots its stops keep (root-revisions.h). */
	unsigned revisions_to_keep;
	/* Which properties were set explicitly (bit per entry of the property table). */
	unsigned long long explicit_props;
	char **tags;
	size_t n_tags;
	struct qube_kv *features;
	size_t n_features;
	/* Qubes' uuid: random when the qube is made (a clone gets its own), never changed;
	 * lowercase 8-4-4-4-12. Policy rules may name the qube "uuid:UUID". */
	char uuid[QUBE_UUID_LEN + 1];
	/* A DispVM made for one call: bulkheadd removes it when it stops, and at its next start
	 * whether it runs or not. Set only when the daemon creates it, stored in qube.json with
	 * the rest (so atomically with its creation), and never a property or feature: nothing a
	 * qube or an admin call can set makes a qube deletable. */
	bool call_disposable;
	/* Qubes' qid: a small number unique among the qubes of this host, from which the qube's
	 * network addresses and MACs are made (net/addr.h). Given when the qube is made (a clone
	 * gets its own), never changed; 0 only for qubes stored before qids were kept, until
	 * bulkheadd gives them one at load. Stored as "qid". */
	unsigned qid;
};

/* qids run 1..QUBE_QID_MAX (net/addr.h maps each to its own address). */
#define QUBE_QID_MAX 65000

const char *qube_class_to_string(enum qube_class c);
int qube_class_from_string(const char *s, enum qube_class *ret);
const char *qube_label_to_string(enum qube_label l);
int qube_label_from_string(const char *s, enum qube_label *ret);
/* 24-bit RGB of a label, as Qubes draws it (0xcc0000 red, ...). */
unsigned qube_label_rgb(enum qube_label l);

/* A new qube with the defaults for its class (memory 400, maxmem 4000, vcpus 2, ...). */
int qube_new(const char *name, enum qube_class klass, enum qube_label label, struct qube **ret);
void qube_free(struct qube *q);
/* Deep copy under a new name (for clone). */
int qube_dup(const struct qube *q, const char *new_name, struct qube **ret);
/* (The copy keeps the qid: edits go through copies. A clone gets its own from the caller.) */

/* Properties as strings, through one table. Unknown key: -ENOENT. Bad value: -EINVAL with a
 * reason, and the qube is left unchanged. "name" and "klass" are read-only (-EPERM). Reset
 * returns the key to its default; "label" has none (-ENODATA); a reset that would leave memory
 * above maxmem is refused (-EINVAL).
 *
 * Values: booleans accept True/False/true/false/1/0/yes/no and read back as "True"/"False";
 * template, netvm and default_dispvm take a qube name (whether it exists is the caller's check)
 * or "" for none, and read back "" for none; kernel and kernelopts read back "" for the default.
 * memory 32..1048576, maxmem 0 (no balancing) or 32..1048576 and not below memory, vcpus 1..64,
 * qrexec_timeout 1..3600 (default 60), revisions_to_keep 0..100 (default 1).
 *
 * *ret_is_default is true when the property was never set (or was reset) and holds its default;
 * a field the caller filled in directly with a non-default value counts as set. Set fields
 * through qube_prop_set so that "explicit" is recorded faithfully. */
int qube_prop_get(const struct qube *q, const char *key, char **ret_value, bool *ret_is_default);
int qube_prop_set(struct qube *q, const char *key, const char *value, const char **ret_reason);
int qube_prop_reset(struct qube *q, const char *key);
/* Property names in table order, NULL-terminated. */
const char *const *qube_prop_names(void);

/* Tags: Qubes' tag rules (letters, digits, '_', '-'; <= 31 chars). Adding a tag that is there
 * already is a no-op; more than QUBE_TAGS_MAX: -E2BIG; bad tag: -EINVAL; del of a missing tag:
 * -ENOENT. */
int qube_tag_check(const char *tag);
int qube_tag_add(struct qube *q, const char *tag);
int qube_tag_del(struct qube *q, const char *tag);
bool qube_has_tag(const struct qube *q, const char *tag);
/* The feature that marked disposables made for calls before the marker was internal
 * (call_disposable). Setting it through the API is refused so that nobody relies on it. */
#define QUBE_FEATURE_RESERVED_AUTO_CLEANUP "disposable-auto-cleanup"

/* Features: key is [A-Za-z0-9_.-]+, at most 64 chars; value printable ASCII, at most 1024 chars
 * (may be empty). Set replaces; a new key beyond QUBE_FEATURES_MAX: -E2BIG. */
int qube_feature_check(const char *key, const char *value);
int qube_feature_set(struct qube *q, const char *key, const char *value);
int qube_feature_del(struct qube *q, const char *key);
const char *qube_feature_get(const struct qube *q, const char *key);

/* The stored form (also what admin.vm.List returns, plus runtime fields the caller adds):
 *   {"version": 1, "name", "class", "label", "template", "netvm", "default_dispvm", "memory",
 *    "maxmem", "vcpus", "kernel", "kernelopts", "autostart", "template_for_dispvms",
 *    "qrexec_timeout", "provides_network", "uplink", "qid", "explicit": [names of properties set
 * explicitly], "tags": [...], "features": {k: v}}, and "call_disposable": true for such a DispVM
 * (absent otherwise) Unset references and default strings are null; numbers and booleans are JSON
 * ones. */
struct json_object *qube_to_json(const struct qube *q);
/* Parses and validates everything (it comes from disk, which could be damaged): unknown keys,
 * wrong types, out-of-range values, a version other than 1 (-EPROTONOSUPPORT) are refused, with
 * a static reason in *ret_reason. Properties not listed in "explicit" take the current default. */
int qube_from_json(struct json_object *obj, struct qube **ret, const char **ret_reason);
