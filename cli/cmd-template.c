/* bulkhead template ls / build. */
#include <getopt.h>
#include <unistd.h>

#include "api-client.h"
#include "cli.h"
#include "client.h"
#include "util.h"

/* A progress line of the build ("[2/5] installing packages"), shown as it comes. */
static void show_progress(struct json_object *event, void *userdata)
{
	struct json_object *v;
	(void)userdata;
	if (!json_object_object_get_ex(event, "line", &v) ||
	    !json_object_is_type(v, json_type_string))
		return;
	const char *line = json_object_get_string(v);
	/* Only printable text reaches the terminal. */
	for (const char *p = line; *p; p++)
		fputc((unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p, stderr);
	fputc('\n', stderr);
}

static int template_build(const char *name, const char *flavour)
{
	_cleanup_close_ int fd = -1;
	struct api_error err = {0};
	struct json_object *result = NULL;
	int r;

	if (isatty(STDERR_FILENO))
		fprintf(stderr, "Building template %s from %s; this takes a few minutes.\n", name,
			flavour);
	r = cli_connect(&fd);
	if (r != 0)
		return r;
	struct json_object *p = json_object_new_object();
	json_object_object_add(p, "name", json_object_new_string(name));
	json_object_object_add(p, "progress", json_object_new_boolean(true));
	r = api_request_send(fd, "admin.template.Build", "", flavour, p);
	json_object_put(p);
	/* A refusal may arrive even when the request could not be written in full. */
	int q = client_recv_reply_events(fd, show_progress, NULL, &result, &err);
	if (r >= 0 || q == -EREMOTEIO)
		r = q;
	json_object_put(result);
	int code = cli_report(r, &err, NULL);
	api_error_done(&err);
	if (code == 0)
		fprintf(stderr, "Template %s is ready.\n", name);
	return code;
}

int cmd_template(const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"name", required_argument, NULL, 'n'},
	    {"flavour", required_argument, NULL, 'f'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *name = NULL, *flavour = NULL;
	bool json = false;
	int c;

	while ((c = getopt_long(argc, argv, "n:f:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			name = optarg;
			break;
		case 'f':
			flavour = optarg;
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
		if (n != 1 || name || flavour)
			return cli_usage_error(cmd, "template ls takes no arguments but --json");
		return cli_list_qubes(json, true, "TemplateVM");
	}
	if (streq(action, "build")) {
		/* template build NAME --flavour FLAVOUR, or the older template build FLAVOUR
		 * [--name NAME] (the template is then named after the flavour). */
		if (n != 2 || json)
			return cli_usage_error(
			    cmd, "template build needs NAME --flavour FLAVOUR (or just FLAVOUR)");
		if (flavour && name)
			return cli_usage_error(
			    cmd, "give the name once: template build NAME --flavour FLAVOUR");
		if (flavour)
			name = argv[optind + 1];
		else
			flavour = argv[optind + 1];
		return template_build(name ? name : flavour, flavour);
	}
	return cli_usage_error(cmd, "unknown template action '%s' (ls or build)", action);
}
