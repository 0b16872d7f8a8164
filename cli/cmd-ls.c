/* bulkhead ls (and the listing `template ls` shares). */
#include <getopt.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "ls-format.h"
#include "util.h"

/* Colour only for a terminal, never when NO_COLOR is set (no-color.org); 24-bit where the
 * terminal says it has it. */
static enum ls_colour colour_for_stdout(void)
{
	const char *no = getenv("NO_COLOR");
	if ((no && *no) || !isatty(STDOUT_FILENO))
		return LS_COLOUR_NONE;
	const char *ct = getenv("COLORTERM");
	if (ct && (streq(ct, "truecolor") || streq(ct, "24bit")))
		return LS_COLOUR_24BIT;
	return LS_COLOUR_8;
}

int cli_list_qubes(bool json, bool all, const char *only_class)
{
	struct json_object *qubes = NULL;
	int r = cli_call("admin.vm.List", "", "", NULL, &qubes);
	if (r)
		return r;
	if (!json_object_is_type(qubes, json_type_array)) {
		json_object_put(qubes);
		fputs("bulkhead: bulkheadd sent a qube list that is not a list\n", stderr);
		return CLI_EXIT_FAIL;
	}
	if (json) {
		/* The daemon's own JSON; only the class filter of `template ls` applies. */
		struct json_object *shown =
		    only_class ? ls_filter(qubes, true, only_class) : json_object_get(qubes);
		puts(json_object_to_json_string_ext(shown, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_SPACED |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(shown);
	} else {
		struct json_object *shown = ls_filter(qubes, all, only_class);
		r = ls_format(shown, stdout, colour_for_stdout());
		json_object_put(shown);
	}
	json_object_put(qubes);
	if (r < 0 || fflush(stdout) != 0) {
		perror("bulkhead: writing the list");
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

int cmd_ls(const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"all", no_argument, NULL, 'a'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	bool json = false, all = false;
	int c;

	while ((c = getopt_long(argc, argv, "ajh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'a':
			all = true;
			break;
		default:
			return cli_getopt_default(cmd, c);
		}
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	return cli_list_qubes(json, all, NULL);
}
