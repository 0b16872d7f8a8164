/* Properties, features and tags of a qube, printed as qvm-prefs, qvm-features and qvm-tags do. */
#include <getopt.h>

#include "cli.h"
#include "client.h"
#include "util.h"

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of a JSON object, sorted (pointers into the object). */
static const char **sorted_keys(struct json_object *o, size_t *ret_n, size_t *ret_width)
{
	size_t n = 0, w = 0;
	const char **keys = xcalloc((size_t)json_object_object_length(o) + 1, sizeof(char *));
	json_object_object_foreach(o, key, val)
	{
		(void)val;
		keys[n++] = key;
		if (strlen(key) > w)
			w = strlen(key);
	}
	qsort(keys, n, sizeof(char *), cmp_str);
	*ret_n = n;
	*ret_width = w;
	return keys;
}

static const char *json_str(struct json_object *o)
{
	if (json_object_is_type(o, json_type_string))
		return json_object_get_string(o);
	return o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : "";
}

static int print_props(struct json_object *props)
{
	if (!json_object_is_type(props, json_type_object)) {
		fputs("bulkhead: bulkheadd sent properties that are not an object\n", stderr);
		return CLI_EXIT_FAIL;
	}
	size_t n, w;
	_cleanup_free_ const char **keys = sorted_keys(props, &n, &w);
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_object_get(props, keys[i]), *v, *d;
		bool def =
		    json_object_object_get_ex(e, "default", &d) && json_object_get_boolean(d);
		const char *value =
		    json_object_object_get_ex(e, "value", &v) ? json_str(v) : json_str(e);
		/* qvm-prefs: D marks a value that is the default, - one that was set. */
		printf("%-*s  %c", (int)w, keys[i], def ? 'D' : '-');
		if (*value) {
			fputs("  ", stdout);
			cli_print_sanitized(stdout, value);
		}
		putchar('\n');
	}
	return CLI_EXIT_OK;
}

int cmd_prefs(const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"default", no_argument, NULL, 'D'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	bool reset = false;
	int c, r;

	while ((c = getopt_long(argc, argv, "Dh", opts, NULL)) != -1) {
		if (c == 'D')
			reset = true;
		else
			return cli_getopt_default(cmd, c);
	}
	int n = argc - optind;
	if (n < 1)
		return cli_usage_error(cmd, "prefs needs a qube NAME");
	if (n > 3)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + 3]);
	const char *name = argv[optind], *key = n > 1 ? argv[optind + 1] : NULL;
	if (reset && n != 2)
		return cli_usage_error(cmd, "--default needs exactly one KEY and no VALUE");

	struct json_object *result = NULL;
	/* dom0's are the host-wide settings (Qubes' qubes-prefs): default_netvm. */
	bool host = streq(name, "dom0");
	const char *dest = host ? "" : name;
#define CALL(what) (host ? "admin.property." what : "admin.vm.property." what)
	if (reset)
		return cli_call(CALL("Reset"), dest, key, NULL, NULL);
	if (n == 3) {
		struct json_object *p = json_object_new_object();
		json_object_object_add(p, "value", json_object_new_string(argv[optind + 2]));
		r = cli_call(CALL("Set"), dest, key, p, NULL);
		json_object_put(p);
		return r;
	}
	if (key) {
		r = cli_call(CALL("Get"), dest, key, NULL, &result);
		if (r)
			return r;
		struct json_object *v;
		const char *value =
		    json_object_object_get_ex(result, "value", &v) ? json_str(v) : json_str(result);
		cli_print_sanitized(stdout, value);
		putchar('\n');
		json_object_put(result);
		return CLI_EXIT_OK;
	}
	r = cli_call(CALL("List"), dest, "", NULL, &result);
#undef CALL
	if (r)
		return r;
	r = print_props(result);
	json_object_put(result);
	return r;
}

int cmd_features(const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"unset", required_argument, NULL, 'D'},
	    {"delete", required_argument, NULL, 'D'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *unset = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "D:h", opts, NULL)) != -1) {
		if (c == 'D')
			unset = optarg;
		else
			return cli_getopt_default(cmd, c);
	}
	int n = argc - optind;
	if (n < 1)
		return cli_usage_error(cmd, "features needs a qube NAME");
	if (n > 3 || (unset && n > 1))
		return cli_usage_error(cmd, "unexpected argument '%s'",
				       argv[optind + (unset ? 1 : 3)]);
	const char *name = argv[optind];

	if (unset)
		return cli_call("admin.vm.feature.Remove", name, unset, NULL, NULL);
	if (n == 3) {
		struct json_object *p = json_object_new_object();
		json_object_object_add(p, "value", json_object_new_string(argv[optind + 2]));
		r = cli_call("admin.vm.feature.Set", name, argv[optind + 1], p, NULL);
		json_object_put(p);
		return r;
	}
	struct json_object *result = NULL;
	if (n == 2) {
		r = cli_call("admin.vm.feature.Get", name, argv[optind + 1], NULL, &result);
		if (r)
			return r;
		cli_print_sanitized(stdout, json_str(result));
		putchar('\n');
		json_object_put(result);
		return CLI_EXIT_OK;
	}
	r = cli_call("admin.vm.feature.List", name, "", NULL, &result);
	if (r)
		return r;
	if (!json_object_is_type(result, json_type_object)) {
		json_object_put(result);
		fputs("bulkhead: bulkheadd sent features that are not an object\n", stderr);
		return CLI_EXIT_FAIL;
	}
	size_t k, w;
	_cleanup_free_ const char **keys = sorted_keys(result, &k, &w);
	for (size_t i = 0; i < k; i++) {
		printf("%-*s  ", (int)w, keys[i]);
		cli_print_sanitized(stdout, json_str(json_object_object_get(result, keys[i])));
		putchar('\n');
	}
	json_object_put(result);
	return CLI_EXIT_OK;
}

int cmd_tags(const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1)
		return cli_getopt_default(cmd, c);
	int n = argc - optind;
	if (n < 1)
		return cli_usage_error(cmd, "tags needs a qube NAME");
	const char *name = argv[optind];
	const char *action = n > 1 ? argv[optind + 1] : "list";

	if (streq(action, "list")) {
		if (n > 2)
			return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + 2]);
		struct json_object *result = NULL;
		r = cli_call("admin.vm.tag.List", name, "", NULL, &result);
		if (r)
			return r;
		size_t k = json_object_is_type(result, json_type_array)
			       ? json_object_array_length(result)
			       : 0;
		for (size_t i = 0; i < k; i++) {
			cli_print_sanitized(stdout, json_str(json_object_array_get_idx(result, i)));
			putchar('\n');
		}
		json_object_put(result);
		return CLI_EXIT_OK;
	}
	const char *call = streq(action, "add") || streq(action, "set")	     ? "admin.vm.tag.Set"
			   : streq(action, "del") || streq(action, "remove") ? "admin.vm.tag.Remove"
									     : NULL;
	if (!call)
		return cli_usage_error(cmd, "unknown tags action '%s' (list, add or del)", action);
	if (n < 3)
		return cli_usage_error(cmd, "tags %s needs at least one TAG", action);
	for (int i = optind + 2; i < argc; i++) {
		r = cli_call(call, name, argv[i], NULL, NULL);
		if (r)
			return r;
	}
	return CLI_EXIT_OK;
}
