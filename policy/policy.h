/*
 * The Qubes OS 4.1+ qrexec policy language: loading /etc/bulkhead/policy.d (or any directory),
 * and deciding calls. The rules are those of qubes-core-qrexec's qrexec.policy.parser; where
 * Bulkhead differs, docs/bulkhead-policy.5 says so (one list, "Differences from Qubes OS").
 *
 * Loading parses everything once: services, arguments, qube names, tags and types become small
 * integers, so that evaluation compares integers and allocates nothing per rule.
 *
 * Functions return 0 or a negative errno and never log.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct json_object;
struct policy;

/* One error found while loading. line is 0 when the error is about a whole file (an invalid file
 * name, a file that cannot be read). */
struct policy_error {
	char *file;
	unsigned line;
	char *message;
};

/* Loads every *.policy file of dir, in C-locale order of their names. Names may only use
 * [0-9a-z_.-]; names starting with '.' and names not ending in ".policy" are ignored; any other
 * invalid name is an error. Paths in !include, !include-dir and !include-service are relative to
 * dir (or absolute). !compat-4.0 reads the old per-service files of the directory "rpc-policy"
 * beside dir (/etc/bulkhead/rpc-policy for /etc/bulkhead/policy.d), as Qubes reads
 * /etc/qubes-rpc/policy, skipping what Qubes skips there (dot files, names ending in .rpmsave,
 * .rpmnew or .swp, names outside [A-Za-z0-9_.+-]).
 *
 * Returns 0 and *ret, or -EINVAL with every error found in *ret_errors / *ret_n_errors (the
 * caller frees them with policy_errors_free()); *ret is then untouched. A policy that does not
 * load must deny every call: the caller keeps no old policy around. */
int policy_load_dir(const char *dir, struct policy **ret, struct policy_error **ret_errors,
		    size_t *ret_n_errors);
/* The same for one file's text, named name in errors and rules. Directives that read other files
 * are errors here (this is what tests and the fuzzer use: no file system access). */
int policy_load_string(const char *name, const char *text, struct policy **ret,
		       struct policy_error **ret_errors, size_t *ret_n_errors);
void policy_free(struct policy *p);
void policy_errors_free(struct policy_error *e, size_t n);
size_t policy_n_rules(const struct policy *p);

/* One qube as the policy sees it (Qubes' system info). */
struct policy_domain {
	const char *name;
	const char *type; /* AppVM, TemplateVM, StandaloneVM, DispVM or AdminVM */
	const char *const *tags;
	size_t n_tags;
	const char *default_dispvm; /* or NULL */
	bool template_for_dispvms;
	const char *power_state; /* Running, Halted, ... (NULL: not running) */
	/* Qubes 4.2+: the qube's UUID (lowercase 8-4-4-4-12, without "uuid:"), or NULL. Rules,
	 * target= and requests may name a qube "uuid:UUID"; dom0 is always
	 * uuid:00000000-0000-0000-0000-000000000000. */
	const char *uuid;
	bool internal; /* Qubes' "internal" feature: never offered by an ask prompt */
};

/* Every qube, dom0 included (as AdminVM). Borrowed by policy_evaluate(), never kept. */
struct policy_sysinfo {
	const struct policy_domain *domains;
	size_t n_domains;
};

/* Reads Qubes' system-info shape {"domains": {NAME: {"type", "tags", "default_dispvm",
 * "template_for_dispvms", "power_state", "uuid", "internal"}}} into a system info that owns its
 * strings; free it with policy_sysinfo_free(). On -EINVAL, *ret_error (if not NULL) says what is
 * wrong (the caller frees it). */
int policy_sysinfo_from_json(struct json_object *o, struct policy_sysinfo **ret, char **ret_error);
void policy_sysinfo_free(struct policy_sysinfo *si);

enum policy_action { POLICY_DENY, POLICY_ALLOW, POLICY_ASK };

struct policy_result {
	enum policy_action action;
	char *target;	/* allow: the resolved target: a qube, "dom0", or "@dispvm:NAME" for a new
			   disposable of NAME */
	char **targets; /* ask: what the prompt may offer, sorted, resolved like target */
	size_t n_targets;
	char *default_target; /* ask: the preselected one (one of targets), or NULL */
	char *user;	      /* allow, ask: user= of the rule, or NULL for the default */
	bool autostart;	      /* allow, ask */
	bool notify;
	char *rule;   /* "FILE:LINE" of the deciding rule, or NULL when none matched */
	char *reason; /* deny: why */
};

/*
 * Decides a call of service_arg ("SERVICE+ARG", or "SERVICE" for the empty argument) from the
 * qube source (a name, "dom0", or "uuid:UUID") to target (a qube name or "uuid:UUID", "dom0",
 * "@adminvm", "@default" or "" for none given, "@dispvm" or "@dispvm:NAME"). As in Qubes, a
 * target that names no qube is a call to @default. The first matching rule decides; no match
 * denies. Targets in the result are names, never "uuid:...".
 *
 * Returns 0 with *ret filled (deny included: an invalid name or target is a deny with its
 * reason), or a negative errno for a misuse (NULL arguments); call policy_result_finish() after
 * a 0 return. Where this differs from Qubes is listed in docs/bulkhead-policy.5 ("Differences
 * from Qubes OS").
 */
int policy_evaluate(const struct policy *p, const struct policy_sysinfo *si,
		    const char *service_arg, const char *source, const char *target,
		    struct policy_result *ret);
void policy_result_finish(struct policy_result *r);

/* The shape `bulkhead policy eval` prints: {"action":"allow","target","user","autostart",
 * "notify","rule"}, {"action":"ask","targets","default_target","rule"} or
 * {"action":"deny","rule","reason"}. A new reference. */
struct json_object *policy_result_to_json(const struct policy_result *r);

/* Limits on a called name, checked before the policy sees it: SERVICE is 1 to
 * POLICY_SERVICE_MAX characters of [A-Za-z0-9_.-], not "." or ".."; the optional "+ARG" is 0 to
 * POLICY_ARGUMENT_MAX characters of [A-Za-z0-9_.+-] (Qubes' character sets). Returns 0, or
 * -EINVAL with *ret_reason (if not NULL) set to a static description. */
#define POLICY_SERVICE_MAX  64
#define POLICY_ARGUMENT_MAX 64
int policy_check_service_name(const char *service_arg, const char **ret_reason);
