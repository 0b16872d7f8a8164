/*
 * The command table of `bulkhead` and what every subcommand shares: exit codes, usage errors,
 * --help. main.c holds the one table; each cmd-*.c file implements a group of handlers.
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>

/* Exit codes, documented in bulkhead(1). */
enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAIL = 1,	/* the daemon refused or the operation failed */
	CLI_EXIT_USAGE = 2,	/* bad command line */
	CLI_EXIT_NO_DAEMON = 3, /* bulkheadd is not reachable */
	CLI_EXIT_DENIED = 4,	/* not allowed to use bulkheadd */
};

struct cli_command {
	const char *name;
	int (*run)(const struct cli_command *cmd, int argc, char **argv);
	const char *usage;   /* what follows "bulkhead NAME " */
	const char *summary; /* one line, for `bulkhead --help` */
	const char *options; /* option lines for `bulkhead NAME --help`, or NULL */
	const char *call;    /* the API call of commands that are one call per qube, else NULL */
};

/* Prints "bulkhead: MSG" (if fmt) and the --help hint on stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The command of the table called name, or NULL. */
const struct cli_command *cli_find_command(const char *name);
/* Prints the help of one command. */
void cli_help(const struct cli_command *cmd, FILE *f);

/* Writes s to f with control characters (other than newline, tab and the CR of a CRLF) shown
 * as '?', so text that came from a qube cannot drive the terminal. */
void cli_print_sanitized(FILE *f, const char *s);

/* Handlers, grouped by file. */
int cmd_ls(const struct cli_command *cmd, int argc, char **argv);
int cmd_create(const struct cli_command *cmd, int argc, char **argv);
int cmd_clone(const struct cli_command *cmd, int argc, char **argv);
int cmd_start(const struct cli_command *cmd, int argc, char **argv);
int cmd_shutdown(const struct cli_command *cmd, int argc, char **argv);
int cmd_simple(const struct cli_command *cmd, int argc, char **argv);
int cmd_prefs(const struct cli_command *cmd, int argc, char **argv);
int cmd_features(const struct cli_command *cmd, int argc, char **argv);
int cmd_tags(const struct cli_command *cmd, int argc, char **argv);
int cmd_firewall(const struct cli_command *cmd, int argc, char **argv);
int cmd_run(const struct cli_command *cmd, int argc, char **argv);
int cmd_volume(const struct cli_command *cmd, int argc, char **argv);
int cmd_template(const struct cli_command *cmd, int argc, char **argv);
int cmd_gui(const struct cli_command *cmd, int argc, char **argv);
int cmd_events(const struct cli_command *cmd, int argc, char **argv);
int cmd_log(const struct cli_command *cmd, int argc, char **argv);
int cmd_info(const struct cli_command *cmd, int argc, char **argv);
int cmd_net(const struct cli_command *cmd, int argc, char **argv);
int cmd_update(const struct cli_command *cmd, int argc, char **argv);
int cmd_apps(const struct cli_command *cmd, int argc, char **argv);
int cmd_settings(const struct cli_command *cmd, int argc, char **argv);
int cmd_audio(const struct cli_command *cmd, int argc, char **argv);

/* Shared by `ls` and `template ls`: lists qubes (only those of class only_class if not NULL). */
int cli_list_qubes(bool json, bool all, const char *only_class);

/* Shuts the qubes down (each call returns once its qube is halted), all at once; returns the
 * exit code, the worst one. */
int cli_shutdown_names(char **names, size_t n);

/* The getopt loop's common cases. Returns -1 to go on, or the exit code to return with. */
int cli_getopt_default(const struct cli_command *cmd, int c);
