/*
 * bulkhead policy eval | lint: the policy of /etc/bulkhead/policy.d (or another directory) asked
 * about one call, or checked. eval uses the live qubes unless given Qubes' system-info JSON.
 */
#include <fcntl.h>
#include <getopt.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "cli.h"
#include "client.h"
#include "cmd-policy.h"
#include "policy-agent.h"
#include "policy.h"
#include "util.h"

#define POLICY_DIR	 "/etc/bulkhead/policy.d"
#define SYSINFO_MAX_SIZE (16u << 20)

/* Every error of a policy that did not load, one "FILE:LINE: message" line each. */
static void print_errors(FILE *f, const struct policy_error *errs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *line =
		    errs[i].line
			? xasprintf("%s:%u: %s\n", errs[i].file, errs[i].line, errs[i].message)
			: xasprintf("%s: %s\n", errs[i].file, errs[i].message);
		cli_print_sanitized(f, line);
	}
}

static int read_file(const char *path, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size > SYSINFO_MAX_SIZE)
		return -EFBIG;
	_cleanup_free_ char *buf = xmalloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t k = read(fd, buf + got, (size_t)st.st_size - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	buf[got] = '\0';
	*ret = TAKE_PTR(buf);
	*ret_len = got;
	return 0;
}

static unsigned line_at(const char *text, size_t offset)
{
	unsigned line = 1;
	for (size_t i = 0; i < offset && text[i]; i++)
		line += text[i] == '\n';
	return line;
}

/* --system-info FILE: Qubes' shape. Errors name the file, and the line for JSON syntax. */
static int sysinfo_from_file(const char *path, struct policy_sysinfo **ret)
{
	_cleanup_free_ char *text = NULL, *err = NULL;
	size_t len = 0;
	int r = read_file(path, &text, &len);
	if (r < 0) {
		fprintf(stderr, "bulkhead: %s: %s\n", path, strerror(-r));
		return CLI_EXIT_USAGE;
	}
	struct json_tokener *tok = json_tokener_new();
	if (!tok)
		abort();
	/* Strict: json-c would otherwise take trailing commas and the like. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	struct json_object *o = json_tokener_parse_ex(tok, text, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (jerr == json_tokener_success)
		while (end < len && strchr(" \t\r\n", text[end]))
			end++;
	if (jerr != json_tokener_success || end < len) {
		fprintf(stderr, "%s:%u: invalid JSON: %s\n", path, line_at(text, end),
			jerr != json_tokener_success ? json_tokener_error_desc(jerr)
						     : "data after the end");
		json_object_put(o);
		return CLI_EXIT_USAGE;
	}
	r = policy_sysinfo_from_json(o, ret, &err);
	json_object_put(o);
	if (r < 0) {
		fprintf(stderr, "%s: not a system info: %s\n", path, err ? err : strerror(-r));
		return CLI_EXIT_USAGE;
	}
	return 0;
}

static void copy_member(struct json_object *from, const char *key, struct json_object *to,
			const char *as)
{
	struct json_object *v;
	if (json_object_object_get_ex(from, key, &v))
		json_object_object_add(to, as, json_object_get(v));
}

/* The live qubes, from admin.vm.List, in the same shape. */
static int sysinfo_from_daemon(struct policy_sysinfo **ret)
{
	struct json_object *list = NULL;
	_cleanup_free_ char *err = NULL;
	int r = cli_call("admin.vm.List", "", "", NULL, &list);
	if (r != 0)
		return r;
	if (!json_object_is_type(list, json_type_array)) {
		json_object_put(list);
		fputs("bulkhead: admin.vm.List did not return a list\n", stderr);
		return CLI_EXIT_FAIL;
	}
	struct json_object *si = json_object_new_object(), *domains = json_object_new_object();
	json_object_object_add(si, "domains", domains);
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object *q = json_object_array_get_idx(list, i), *name, *d;
		if (!json_object_object_get_ex(q, "name", &name) ||
		    !json_object_is_type(name, json_type_string))
			continue;
		d = json_object_new_object();
		copy_member(q, "class", d, "type");
		copy_member(q, "tags", d, "tags");
		copy_member(q, "default_dispvm", d, "default_dispvm");
		copy_member(q, "template_for_dispvms", d, "template_for_dispvms");
		copy_member(q, "state", d, "power_state");
		copy_member(q, "uuid", d, "uuid");
		/* Qubes' GetSystemInfo: the "internal" feature, any non-empty value */
		struct json_object *features, *internal;
		if (json_object_object_get_ex(q, "features", &features) &&
		    json_object_object_get_ex(features, "internal", &internal) &&
		    json_object_is_type(internal, json_type_string) &&
		    json_object_get_string_len(internal) > 0)
			json_object_object_add(d, "internal", json_object_new_boolean(true));
		json_object_object_add(domains, json_object_get_string(name), d);
	}
	json_object_put(list);
	if (!json_object_object_get_ex(domains, "dom0", NULL)) {
		struct json_object *d = json_object_new_object();
		json_object_object_add(d, "type", json_object_new_string("AdminVM"));
		json_object_object_add(d, "power_state", json_object_new_string("Running"));
		json_object_object_add(domains, "dom0", d);
	}
	r = policy_sysinfo_from_json(si, ret, &err);
	json_object_put(si);
	if (r < 0) {
		fprintf(stderr, "bulkhead: the daemon's qubes make no system info: %s\n",
			err ? err : strerror(-r));
		return CLI_EXIT_FAIL;
	}
	return 0;
}

static int load_policy(const char *dir, struct policy **ret)
{
	struct policy_error *errs = NULL;
	size_t n = 0;
	if (policy_load_dir(dir, ret, &errs, &n) < 0) {
		print_errors(stderr, errs, n);
		if (n == 0)
			fprintf(stderr, "bulkhead: cannot load the policy in %s\n", dir);
		policy_errors_free(errs, n);
		return CLI_EXIT_USAGE;
	}
	return 0;
}

static int policy_eval(const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"policy-dir", required_argument, NULL, 'd'},
	    {"system-info", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *dir = POLICY_DIR, *sysinfo_path = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "d:s:h", opts, NULL)) != -1) {
		if (c == 'd')
			dir = optarg;
		else if (c == 's')
			sysinfo_path = optarg;
		else
			return cli_getopt_default(cmd, c);
	}
	if (argc - optind != 3)
		return cli_usage_error(cmd, "eval needs SERVICE+ARG SOURCE TARGET");
	const char *service = argv[optind], *source = argv[optind + 1], *target = argv[optind + 2];

	struct policy *p = NULL;
	if ((r = load_policy(dir, &p)))
		return r;
	struct policy_sysinfo *si = NULL;
	r = sysinfo_path ? sysinfo_from_file(sysinfo_path, &si) : sysinfo_from_daemon(&si);
	if (r) {
		policy_free(p);
		return r;
	}
	struct policy_result res;
	r = policy_evaluate(p, si, service, source, target, &res);
	policy_free(p);
	policy_sysinfo_free(si);
	if (r < 0) {
		fprintf(stderr, "bulkhead: cannot evaluate: %s\n", strerror(-r));
		return CLI_EXIT_FAIL;
	}
	struct json_object *o = policy_result_to_json(&res);
	policy_result_finish(&res);
	/* Names in the output come from the command line and the policy: keep the terminal
	 * safe, JSON escapes control characters anyway. */
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						   JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

static int policy_lint(const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1)
		return cli_getopt_default(cmd, c);
	if (argc - optind > 1)
		return cli_usage_error(cmd, "lint takes at most one directory");
	const char *dir = optind < argc ? argv[optind] : POLICY_DIR;

	struct policy *p = NULL;
	struct policy_error *errs = NULL;
	size_t n = 0;
	if (policy_load_dir(dir, &p, &errs, &n) < 0) {
		print_errors(stdout, errs, n);
		if (n == 0)
			printf("%s: cannot be loaded\n", dir);
		policy_errors_free(errs, n);
		return CLI_EXIT_FAIL;
	}
	policy_free(p);
	puts("ok");
	return CLI_EXIT_OK;
}

int cmd_policy(const struct cli_command *cmd, int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error(cmd, "policy needs eval, lint or agent");
	if (streq(argv[1], "-h") || streq(argv[1], "--help")) {
		cli_help(cmd, stdout);
		return CLI_EXIT_OK;
	}
	/* getopt starts again on the subcommand's own arguments. */
	optind = 0;
	if (streq(argv[1], "eval"))
		return policy_eval(cmd, argc - 1, argv + 1);
	if (streq(argv[1], "lint"))
		return policy_lint(cmd, argc - 1, argv + 1);
	if (streq(argv[1], "agent")) {
		if (argc != 2)
			return cli_usage_error(cmd, "policy agent takes no arguments");
		return policy_agent_run();
	}
	return cli_usage_error(cmd, "unknown policy command '%s'", argv[1]);
}
