/* bulkhead apps: a qube's application menu (admin.vm.apps.*). */
#include <getopt.h>
#include <unistd.h>

#include "base64.h"
#include "cli.h"
#include "client.h"
#include "util.h"

static void print_table(struct json_object *res)
{
	struct json_object *apps;
	size_t width = 2;

	if (!json_object_object_get_ex(res, "apps", &apps))
		return;
	size_t n = json_object_array_length(apps);
	for (size_t i = 0; i < n; i++) {
		struct json_object *id;
		if (json_object_object_get_ex(json_object_array_get_idx(apps, i), "id", &id) &&
		    strlen(json_object_get_string(id)) > width)
			width = strlen(json_object_get_string(id));
	}
	printf("%-*s  %-4s  %s\n", (int)width, "ID", "MENU", "NAME");
	for (size_t i = 0; i < n; i++) {
		struct json_object *a = json_object_array_get_idx(apps, i), *id, *name, *shown;
		if (!json_object_object_get_ex(a, "id", &id) ||
		    !json_object_object_get_ex(a, "name", &name))
			continue;
		bool s =
		    json_object_object_get_ex(a, "shown", &shown) && json_object_get_boolean(shown);
		printf("%-*s  %-4s  ", (int)width, json_object_get_string(id), s ? "yes" : "-");
		/* The daemon keeps names to printable UTF-8; the terminal is guarded anyway. */
		cli_print_sanitized(stdout, json_object_get_string(name));
		putchar('\n');
	}
}

static int write_icon(struct json_object *res)
{
	struct json_object *png;
	_cleanup_free_ uint8_t *bytes = NULL;
	size_t len;

	if (!json_object_object_get_ex(res, "png", &png) ||
	    base64_decode(json_object_get_string(png), &bytes, &len) < 0) {
		fprintf(stderr, "bulkhead: the daemon's icon reply is not base64\n");
		return CLI_EXIT_FAIL;
	}
	if (isatty(1)) {
		fprintf(stderr, "bulkhead: the icon is a PNG image: redirect it to a file\n");
		return CLI_EXIT_USAGE;
	}
	return write_all(1, bytes, len) < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

int cmd_apps(const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"sync", no_argument, NULL, 's'},
	    {"json", no_argument, NULL, 'j'},
	    {"run", required_argument, NULL, 'r'},
	    {"icon", required_argument, NULL, 'i'},
	    {"no-autostart", no_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	bool sync = false, json = false, autostart = true;
	const char *run = NULL, *icon = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "sjr:i:nh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			sync = true;
			break;
		case 'j':
			json = true;
			break;
		case 'r':
			run = optarg;
			break;
		case 'i':
			icon = optarg;
			break;
		case 'n':
			autostart = false;
			break;
		default:
			return cli_getopt_default(cmd, c);
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error(cmd, "name one qube");
	if ((sync != 0) + (run != NULL) + (icon != NULL) > 1)
		return cli_usage_error(cmd, "--sync, --run and --icon go one at a time");
	const char *name = argv[optind];
	struct json_object *payload = json_object_new_object(), *res = NULL;
	json_object_object_add(payload, "autostart", json_object_new_boolean(autostart));
	const char *call = sync	  ? "admin.vm.apps.Sync"
			   : run  ? "admin.vm.apps.Run"
			   : icon ? "admin.vm.apps.Icon"
				  : "admin.vm.apps.List";
	r = cli_call(call, name, run ? run : icon ? icon : "", payload, &res);
	json_object_put(payload);
	if (r)
		return r;
	if (icon)
		r = write_icon(res);
	else if (run)
		r = CLI_EXIT_OK;
	else if (json)
		puts(json_object_to_json_string_ext(res, JSON_C_TO_STRING_PRETTY |
							     JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		print_table(res);
	json_object_put(res);
	return r;
}
