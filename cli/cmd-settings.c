/*
 * `bulkhead settings`: the host's settings program, a line-driven dialogue in a host terminal
 * (the launcher's "Settings" entry opens it in foot). It only routes lines to the other
 * commands of the table, so each setting keeps one implementation and one set of checks: a
 * qube's name opens that qube; "KEY VALUE" sets a property, "default KEY" resets it, and a
 * command that takes a qube first ("features", "apps --sync", "start") runs on the open qube.
 */
#include <ctype.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "qube-name.h"
#include "util.h"

#define SETTINGS_LINE_MAX 1024
#define SETTINGS_ARGS_MAX 32

/* Commands whose first argument is a qube: typed in a qube's view, they run on it. */
static const char *const qube_commands[] = {
    "features", "tags", "firewall", "apps", "start", "shutdown", "kill", "pause", "unpause", "log",
};

static bool is_qube_command(const char *w)
{
	for (size_t i = 0; i < ARRAY_SIZE(qube_commands); i++)
		if (streq(qube_commands[i], w))
			return true;
	return false;
}

/* Runs `bulkhead WORDS...` through the one command table, as main() would. */
static int run_words(char **words, int n)
{
	const struct cli_command *cmd = cli_find_command(words[0]);
	if (!cmd) {
		fprintf(stderr, "bulkhead settings: no command '%s' (type help)\n", words[0]);
		return CLI_EXIT_USAGE;
	}
	_cleanup_free_ char *argv0 = xasprintf("bulkhead %s", words[0]);
	char *argv[SETTINGS_ARGS_MAX + 2];
	argv[0] = argv0;
	for (int i = 1; i < n; i++)
		argv[i] = words[i];
	argv[n] = NULL;
	optind = 0; /* getopt starts afresh for each command */
	int r = cmd->run(cmd, n, argv);
	fflush(stdout);
	fflush(stderr);
	return r;
}

/* Splits line in place on blanks; returns the number of words, or -1 when there are too many. */
static int split(char *line, char **words)
{
	int n = 0;
	for (char *p = line; *p;) {
		while (*p && isblank((unsigned char)*p))
			p++;
		if (!*p)
			break;
		if (n == SETTINGS_ARGS_MAX)
			return -1;
		words[n++] = p;
		while (*p && !isblank((unsigned char)*p))
			p++;
		if (*p)
			*p++ = '\0';
	}
	return n;
}

static void help_top(void)
{
	puts("Type a qube's name to see and change its settings, \"dom0\" for the host's,\n"
	     "\"ls\" to list the qubes again, \"q\" to leave.");
}

static void help_qube(const char *name)
{
	printf("In %s: \"KEY VALUE\" sets a setting (e.g. \"label red\", \"memory 600\"),\n"
	       "\"default KEY\" resets one, \"features [KEY VALUE]\", \"tags ...\", \"firewall "
	       "...\",\n"
	       "\"apps [--sync]\", \"start\", \"shutdown\" act on %s; an empty line goes back.\n",
	       name, name);
}

static void show_qube(char *name)
{
	char *w[] = {"prefs", name};
	run_words(w, 2);
}

static void show_top(void)
{
	char *w[] = {"ls"};
	run_words(w, 1);
}

/* In whole, a copy of line made before split(): from word to the end, trailing blanks cut. */
static char *rest_of(char *whole, const char *line, const char *word)
{
	char *value = whole + (word - line);
	size_t len = strlen(value);
	while (len && isblank((unsigned char)value[len - 1]))
		value[--len] = '\0';
	return value;
}

/* One line typed in a qube's view. Returns false to go back to the list. */
static bool qube_line(char *name, char *line)
{
	char *words[SETTINGS_ARGS_MAX + 2];
	/* A value is the rest of the line as typed, spaces and all: split() cuts the line. */
	char whole[SETTINGS_LINE_MAX];
	snprintf(whole, sizeof(whole), "%s", line);
	int n = split(line, words + 1);
	if (n == 0)
		return false;
	if (n < 0) {
		fprintf(stderr, "bulkhead settings: too many words (at most %d)\n",
			SETTINGS_ARGS_MAX);
		return true;
	}
	if (streq(words[1], "help") || streq(words[1], "?")) {
		help_qube(name);
		return true;
	}
	if (streq(words[1], "q") || streq(words[1], "back"))
		return false;
	if (is_qube_command(words[1])) {
		/* bulkhead CMD [OPTIONS] NAME ARGS: options first, so "apps --sync" works. */
		words[0] = words[1];
		int k = 1;
		char *args[SETTINGS_ARGS_MAX + 2];
		args[0] = words[0];
		for (int i = 2; i <= n && words[i][0] == '-'; i++, k++)
			args[k] = words[i];
		args[k] = name;
		int m = k + 1;
		for (int i = k + 1; i <= n; i++)
			args[m++] = words[i];
		/* "features KEY VALUE": the value is the rest of the line, as for properties. */
		if (streq(words[0], "features") && k == 1 && n > 3) {
			args[3] = rest_of(whole, line, words[3]);
			m = 4;
		}
		run_words(args, m);
		return true;
	}
	if (streq(words[1], "default")) {
		if (n != 2) {
			fputs("bulkhead settings: default takes one KEY\n", stderr);
			return true;
		}
		char *w[] = {"prefs", "--default", name, words[2]};
		if (run_words(w, 4) == CLI_EXIT_OK)
			show_qube(name);
		return true;
	}
	if (n == 1) {
		char *w[] = {"prefs", name, words[1]};
		run_words(w, 3);
		return true;
	}
	char *w[] = {"prefs", name, words[1], rest_of(whole, line, words[2])};
	if (run_words(w, 4) == CLI_EXIT_OK)
		show_qube(name);
	return true;
}

/* Reads one line; false at the end of input. Long lines are refused whole. */
static bool read_line(const char *prompt, char *buf, size_t size)
{
	for (;;) {
		fputs(prompt, stdout);
		fflush(stdout);
		if (!fgets(buf, (int)size, stdin))
			return false;
		size_t len = strlen(buf);
		if (len && buf[len - 1] == '\n') {
			buf[--len] = '\0';
			return true;
		}
		if (feof(stdin))
			return true;
		int c;
		while ((c = getchar()) != EOF && c != '\n')
			;
		fprintf(stderr, "bulkhead settings: line longer than %d bytes ignored\n",
			SETTINGS_LINE_MAX - 2);
	}
}

int cmd_settings(const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1)
		return cli_getopt_default(cmd, c);
	if (argc - optind > 1)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
	char start[QUBE_NAME_MAX + 1] = "";
	if (argc - optind == 1) {
		if (!streq(argv[optind], "dom0") && qube_name_check(argv[optind], NULL) < 0)
			return cli_usage_error(cmd, "'%s' is not a qube name", argv[optind]);
		snprintf(start, sizeof(start), "%s", argv[optind]);
	}

	puts("Bulkhead settings");
	char line[SETTINGS_LINE_MAX];
	for (;;) {
		char name[QUBE_NAME_MAX + 1];
		if (*start) {
			memcpy(name, start, sizeof(name));
			*start = '\0';
		} else {
			show_top();
			help_top();
			if (!read_line("settings> ", line, sizeof(line)))
				break;
			char *words[SETTINGS_ARGS_MAX];
			int n = split(line, words);
			if (n == 0 || (n == 1 && streq(words[0], "ls")))
				continue;
			if (n == 1 && (streq(words[0], "q") || streq(words[0], "quit")))
				break;
			if (n != 1 ||
			    (!streq(words[0], "dom0") && qube_name_check(words[0], NULL) < 0)) {
				fputs("bulkhead settings: type one qube name, \"dom0\" or \"q\"\n",
				      stderr);
				continue;
			}
			snprintf(name, sizeof(name), "%s", words[0]);
		}
		show_qube(name);
		help_qube(name);
		_cleanup_free_ char *prompt = xasprintf("%s> ", name);
		bool more = true;
		while (more && read_line(prompt, line, sizeof(line)))
			more = qube_line(name, line);
		if (more)
			break; /* end of input inside a qube's view */
	}
	putchar('\n');
	return CLI_EXIT_OK;
}
