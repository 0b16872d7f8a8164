/* bulkhead volume ls / info / resize / revert (qvm-volume). */
#include <getopt.h>

#include "cli.h"
#include "client.h"
#include "size.h"
#include "util.h"

enum { V_NAME, V_SIZE, V_USAGE, V_PERSISTENT, V_PATH, V_COLS };

static char *volume_cell(struct json_object *v, int col)
{
	static const char *const keys[V_COLS] = {"name", "size", "usage", "persistent", "path"};
	struct json_object *f;
	char buf[32];

	if (!json_object_object_get_ex(v, keys[col], &f) || !f)
		return xstrdup("-");
	if (col == V_SIZE || col == V_USAGE) {
		int64_t n = json_object_get_int64(f);
		return xstrdup(n < 0 ? "-" : size_format((uint64_t)n, buf, sizeof(buf)));
	}
	if (col == V_PERSISTENT)
		return xstrdup(json_object_get_boolean(f) ? "True" : "False");
	const char *s = json_object_get_string(f);
	char *t = xstrdup(s && *s ? s : "-");
	for (unsigned char *p = (unsigned char *)t; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
	return t;
}

static int print_volumes(struct json_object *vols)
{
	static const char *const titles[V_COLS] = {"VOLUME", "SIZE", "USAGE", "PERSISTENT", "PATH"};
	if (!json_object_is_type(vols, json_type_array)) {
		fputs("bulkhead: bulkheadd sent a volume list that is not a list\n", stderr);
		return CLI_EXIT_FAIL;
	}
	size_t n = json_object_array_length(vols), w[V_COLS];
	char **cells = xcalloc((n + 1) * V_COLS, sizeof(char *));
	for (int c = 0; c < V_COLS; c++) {
		cells[c] = xstrdup(titles[c]);
		w[c] = strlen(titles[c]);
	}
	for (size_t i = 0; i < n; i++)
		for (int c = 0; c < V_COLS; c++) {
			char *t = volume_cell(json_object_array_get_idx(vols, i), c);
			if (strlen(t) > w[c])
				w[c] = strlen(t);
			cells[(i + 1) * V_COLS + c] = t;
		}
	for (size_t r = 0; r <= n; r++) {
		for (int c = 0; c < V_COLS; c++) {
			const char *t = cells[r * V_COLS + c];
			if (c + 1 < V_COLS)
				printf("%-*s  ", (int)w[c], t);
			else
				printf("%s\n", t);
		}
	}
	for (size_t i = 0; i < (n + 1) * V_COLS; i++)
		free(cells[i]);
	free(cells);
	return CLI_EXIT_OK;
}

/* qvm-volume info's layout: a line per property, then the revisions. */
static int print_info(struct json_object *o)
{
	static const char *const keys[] = {
	    "name", "path", "size", "usage", "persistent", "readonly", "revisions_to_keep"};
	struct json_object *f, *revs = NULL;

	if (!json_object_is_type(o, json_type_object)) {
		fputs("bulkhead: bulkheadd sent volume info that is not an object\n", stderr);
		return CLI_EXIT_FAIL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		if (!json_object_object_get_ex(o, keys[i], &f) || !f)
			continue;
		_cleanup_free_ char *t = NULL;
		if (json_object_is_type(f, json_type_boolean))
			t = xstrdup(json_object_get_boolean(f) ? "True" : "False");
		else
			t = xstrdup(json_object_get_string(f));
		for (unsigned char *p = (unsigned char *)t; *p; p++)
			if (*p < 0x20 || *p == 0x7f)
				*p = '?';
		printf("%-18s %s\n", keys[i], t);
	}
	json_object_object_get_ex(o, "revisions", &revs);
	size_t n = json_object_is_type(revs, json_type_array) ? json_object_array_length(revs) : 0;
	printf("List of available revisions (for revert):%s\n", n ? "" : " none");
	for (size_t i = 0; i < n; i++) {
		const char *r = json_object_get_string(json_object_array_get_idx(revs, i));
		printf("  %s\n", r ? r : "?");
	}
	return CLI_EXIT_OK;
}

int cmd_volume(const struct cli_command *cmd, int argc, char **argv)
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
		return cli_usage_error(cmd, "volume needs an action: ls, info, resize or revert");
	const char *action = argv[optind];

	if (streq(action, "ls") || streq(action, "list")) {
		if (n != 2)
			return cli_usage_error(cmd, "volume ls needs exactly one qube NAME");
		struct json_object *vols = NULL;
		r = cli_call("admin.vm.volume.List", argv[optind + 1], "", NULL, &vols);
		if (r)
			return r;
		r = print_volumes(vols);
		json_object_put(vols);
		return r;
	}
	if (streq(action, "info")) {
		if (n != 3)
			return cli_usage_error(cmd, "volume info needs NAME VOLUME");
		struct json_object *o = NULL;
		r = cli_call("admin.vm.volume.Info", argv[optind + 1], argv[optind + 2], NULL, &o);
		if (r)
			return r;
		r = print_info(o);
		json_object_put(o);
		return r;
	}
	if (streq(action, "revert")) {
		if (n != 3 && n != 4)
			return cli_usage_error(cmd,
					       "volume revert needs TEMPLATE VOLUME [REVISION]");
		struct json_object *p = json_object_new_object();
		if (n == 4)
			json_object_object_add(p, "revision",
					       json_object_new_string(argv[optind + 3]));
		r = cli_call("admin.vm.volume.Revert", argv[optind + 1], argv[optind + 2], p, NULL);
		json_object_put(p);
		return r;
	}
	if (streq(action, "resize") || streq(action, "extend")) {
		if (n != 4)
			return cli_usage_error(cmd, "volume resize needs NAME VOLUME SIZE");
		uint64_t size;
		const char *s = argv[optind + 3];
		r = size_parse(s, &size);
		if (r < 0 || size > INT64_MAX)
			return cli_usage_error(
			    cmd,
			    "invalid size '%s': give bytes or a number with K, "
			    "M, G or T (e.g. 512M, 20G)%s",
			    s, r == -ERANGE || r == 0 ? ", and less than 8 EiB" : "");
		struct json_object *p = json_object_new_object();
		json_object_object_add(p, "size", json_object_new_int64((int64_t)size));
		r = cli_call("admin.vm.volume.Resize", argv[optind + 1], argv[optind + 2], p, NULL);
		json_object_put(p);
		return r;
	}
	return cli_usage_error(cmd, "unknown volume action '%s' (ls, info, resize or revert)",
			       action);
}
