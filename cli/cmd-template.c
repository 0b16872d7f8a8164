/* bulkhead template ls / build. */
#include <getopt.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "util.h"

int cmd_template(const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"name", required_argument, NULL, 'n'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *name = NULL;
	bool json = false;
	int c, r;

	while ((c = getopt_long(argc, argv, "n:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			name = optarg;
			break;
		case 'j':
			json = true;
			break;
		default:
			return cli_getopt_default(cmd, c);
		}
	}
	int n = argc - optind;
	if (n < 1)
		return cli_usage_error(cmd, "template needs an action: ls or build");
	const char *action = argv[optind];

	if (streq(action, "ls") || streq(action, "list")) {
		if (n != 1 || name)
			return cli_usage_error(cmd, "template ls takes no arguments but --json");
		return cli_list_qubes(json, true, "TemplateVM");
	}
	if (streq(action, "build")) {
		if (n != 2 || json)
			return cli_usage_error(cmd, "template build needs exactly one FLAVOUR");
		const char *flavour = argv[optind + 1];
		if (isatty(STDERR_FILENO))
			fprintf(stderr, "Building template %s from %s; this takes a few minutes.\n",
				name ? name : flavour, flavour);
		struct json_object *p = json_object_new_object();
		json_object_object_add(p, "name", json_object_new_string(name ? name : flavour));
		r = cli_call("admin.template.Build", "", flavour, p, NULL);
		json_object_put(p);
		return r;
	}
	return cli_usage_error(cmd, "unknown template action '%s' (ls or build)", action);
}
