/* bulkhead events, log and info. */
#include <getopt.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "frame.h"
#include "size.h"
#include "util.h"

static int no_options(const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1)
		return cli_getopt_default(cmd, c);
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	return -1;
}

int cmd_events(const struct cli_command *cmd, int argc, char **argv)
{
	_cleanup_close_ int fd = -1;
	struct api_error err = {0};
	struct json_object *result = NULL;
	int r = no_options(cmd, argc, argv);
	if (r >= 0)
		return r;
	if ((r = cli_connect(&fd)))
		return r;
	r = client_request(fd, "admin.Events", "", "", NULL, &result, &err);
	json_object_put(result);
	if (r < 0) {
		int code = cli_report(r, &err, NULL);
		api_error_done(&err);
		return code;
	}
	for (;;) {
		struct chan_frame f;
		_cleanup_free_ uint8_t *p = NULL;
		r = chan_recv(fd, CHAN_MAX_PAYLOAD, &f, &p);
		if (r < 0)
			return cli_report(r, NULL, "events");
		if (f.type != CHAN_API_EVENT)
			continue;
		/* Re-serialised so each event is one line of valid JSON whatever arrived. */
		struct json_tokener *tok = json_tokener_new();
		struct json_object *ev = json_tokener_parse_ex(tok, (const char *)p, (int)f.len);
		json_tokener_free(tok);
		if (!ev)
			continue;
		puts(json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN |
							    JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(ev);
		if (fflush(stdout) != 0)
			/* The reader went away (events | head): that ends the subscription. */
			return CLI_EXIT_OK;
	}
}

int cmd_log(const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"tail", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	uint64_t tail = 0;
	bool have_tail = false;
	int c, r;

	while ((c = getopt_long(argc, argv, "t:h", opts, NULL)) != -1) {
		if (c != 't')
			return cli_getopt_default(cmd, c);
		if (size_parse(optarg, &tail) < 0 || tail == 0 || tail > INT64_MAX)
			return cli_usage_error(
			    cmd, "--tail wants a size in bytes (e.g. 64K), not '%s'", optarg);
		have_tail = true;
	}
	if (argc - optind != 1)
		return cli_usage_error(cmd, "log needs exactly one qube NAME");

	struct json_object *p = NULL, *result = NULL, *log;
	if (have_tail) {
		p = json_object_new_object();
		json_object_object_add(p, "tail", json_object_new_int64((int64_t)tail));
	}
	r = cli_call("admin.vm.Console", argv[optind], "", p, &result);
	json_object_put(p);
	if (r)
		return r;
	if (json_object_object_get_ex(result, "log", &log) &&
	    json_object_is_type(log, json_type_string)) {
		const char *s = json_object_get_string(log);
		/* The console is the qube's output: a terminal gets it without control sequences;
		 * a pipe or file gets it as it was. */
		if (isatty(STDOUT_FILENO))
			cli_print_sanitized(stdout, s);
		else
			fwrite(s, 1, (size_t)json_object_get_string_len(log), stdout);
	}
	json_object_put(result);
	return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

static void print_value(const char *key, struct json_object *v, bool highlight)
{
	if (highlight)
		fputs("\033[1;33m", stdout);
	printf("%s: ", key);
	cli_print_sanitized(stdout,
			    json_object_is_type(v, json_type_string)
				? json_object_get_string(v)
				: json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	if (highlight)
		fputs("\033[0m", stdout);
	putchar('\n');
}

int cmd_info(const struct cli_command *cmd, int argc, char **argv)
{
	struct json_object *info = NULL, *warning;
	int r = no_options(cmd, argc, argv);
	if (r >= 0)
		return r;
	if ((r = cli_call("admin.host.Info", "", "", NULL, &info)))
		return r;
	if (!json_object_is_type(info, json_type_object)) {
		json_object_put(info);
		fputs("bulkhead: bulkheadd sent host information that is not an object\n", stderr);
		return CLI_EXIT_FAIL;
	}
	/* The warning (no KVM, ...) goes first, and stands out on a terminal. */
	if (json_object_object_get_ex(info, "warning", &warning)) {
		const char *no = getenv("NO_COLOR");
		print_value("warning", warning, isatty(STDOUT_FILENO) && !(no && *no));
	}
	json_object_object_foreach(info, key, val)
	{
		if (!streq(key, "warning"))
			print_value(key, val, false);
	}
	json_object_put(info);
	return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
