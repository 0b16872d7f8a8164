/* bulkhead: the command line of Bulkhead. One table of subcommands; the dispatcher and
 * `bulkhead --help` both read it. */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>

#include "cli.h"
#include "cmd-policy.h"
#include "util.h"

static const struct cli_command commands[] = {
    {"ls", cmd_ls, "[--json] [--all]", "list qubes and their state",
     "  --json             print the daemon's JSON instead of a table\n"
     "  --all              also list internal qubes (feature internal=1)\n",
     NULL},
    {"create", cmd_create,
     "NAME --label LABEL [--class CLASS] [--template T] [--prop KEY=VALUE]...", "create a qube",
     "  -l, --label LABEL  red, orange, yellow, green, gray, blue, purple or black (required)\n"
     "  -C, --class CLASS  AppVM (default), TemplateVM, StandaloneVM or DispVM\n"
     "  -t, --template T   the template (or disposable template) to base it on\n"
     "  -P, --prop K=V     set property K to V at creation (repeatable)\n",
     NULL},
    {"clone", cmd_clone, "SRC DST", "copy a qube and its volumes under a new name", NULL, NULL},
    {"remove", cmd_simple, "NAME...", "remove halted qubes and their volumes", NULL,
     "admin.vm.Remove"},
    {"start", cmd_start, "NAME...", "start qubes (several boot in parallel)", NULL, NULL},
    {"shutdown", cmd_shutdown, "[--wait] [--force] [--timeout SEC] (--all | NAME...)",
     "shut qubes down cleanly",
     "  --all              every running qube (not dom0)\n"
     "  --wait             wait until halted (always done; for qvm-shutdown compatibility)\n"
     "  --force            power off if the qube does not halt in time\n"
     "  --timeout SEC      how long to wait for a clean halt\n",
     NULL},
    {"kill", cmd_simple, "NAME...", "power qubes off at once", NULL, "admin.vm.Kill"},
    {"pause", cmd_simple, "NAME...", "pause running qubes", NULL, "admin.vm.Pause"},
    {"unpause", cmd_simple, "NAME...", "resume paused qubes", NULL, "admin.vm.Unpause"},
    {"prefs", cmd_prefs, "NAME [KEY [VALUE | --default]]",
     "list, get, set or reset a qube's properties (dom0: the host-wide ones, like default_netvm)",
     "  -D, --default      reset KEY to its default\n", NULL},
    {"features", cmd_features, "NAME [KEY [VALUE]] | NAME --unset KEY",
     "list, get, set or remove a qube's features",
     "  -D, --unset KEY    remove feature KEY (also --delete)\n", NULL},
    {"tags", cmd_tags, "NAME [list | add TAG... | del TAG...]", "list, add or remove tags", NULL,
     NULL},
    {"firewall", cmd_firewall,
     "NAME [list | add [--before N] RULE... | del N | del RULE... | reset] [--json]\n"
     "       bulkhead firewall NAME forward [list [--json] | add PROTO PORT [TO_PORT] |\n"
     "                                       del PROTO PORT]",
     "list or edit a qube's firewall rules (qvm-firewall's) and inbound port forwards",
     "  --json             list: the rules (and their state) as JSON\n"
     "  --before N         add: insert before rule N instead of at the end\n"
     "RULE: action=accept|drop [dsthost=HOST[/PREFIX]] [proto=tcp|udp|icmp]\n"
     "      [dstports=N[-M]] [icmptype=N] [specialtarget=dns] [expire=EPOCH|+SECONDS]\n"
     "      [comment=TEXT]\n"
     "forward: a port of the uplink (where sys-net's passt listens) carried through each\n"
     "      netvm to port TO_PORT (default PORT) of this qube; PROTO tcp or udp, PORT\n"
     "      1024-65535, one qube per port; off until added\n",
     NULL},
    {"audio", cmd_audio, "NAME [--json] [volume N | mute | unmute | mic on|off]",
     "show or set a qube's sound: volume, mute, the microphone",
     "  -j, --json         print the daemon's JSON instead of lines\n"
     "volume N           N percent (0 to 150; 100 is as the qube plays it), kept\n"
     "mute, unmute       silence the qube in the host's mixer, or not; kept\n"
     "mic on|off         grant the host's microphone to this qube (taking it from the qube\n"
     "                   that has it), as the policy for bulkhead.AudioInput decides, or take\n"
     "                   it back; no qube has it after bulkheadd restarts\n",
     NULL},
    {"run", cmd_run,
     "[-p] [--user USER] [--no-autostart] NAME [--] COMMAND [ARG]...\n"
     "       bulkhead run [-p] [--user USER] --dispvm[=TEMPLATE] [--] COMMAND [ARG]...",
     "run a command in a qube, or in a new disposable",
     "  -p, --pass-io      connect the command to this terminal's stdin, stdout and stderr\n"
     "                     and exit with its status\n"
     "  -u, --user USER    run as USER (default: the qube's default user)\n"
     "  -n, --no-autostart fail if the qube is not running\n"
     "  --dispvm[=TEMPLATE] run it in a new disposable of TEMPLATE (default: bulkhead\n"
     "                     prefs dom0 default_dispvm), removed when the command ends\n",
     NULL},
    {"apps", cmd_apps, "[--sync] [--json] [--no-autostart] NAME | --run ID NAME | --icon ID NAME",
     "list a qube's applications (its menu), fetch them again, start one, or get its icon",
     "  -s, --sync         fetch the list and icons from the qube again (started if needed)\n"
     "  -j, --json         print the daemon's JSON instead of a table\n"
     "  -r, --run ID       start the application with desktop-file id ID in the qube\n"
     "  -i, --icon ID      write the stored icon of ID (a PNG the host made) to stdout\n"
     "  -n, --no-autostart with --sync or --run: fail if the qube is not running\n"
     "The menu shows the ids in the qube's menu-items feature (space-separated), or when it\n"
     "is not set, those in its template's default-menu-items.\n",
     NULL},
    {"update", cmd_update, "[--max-concurrency N] [--show-output] (--all | TEMPLATE...)",
     "update templates through the net qube's updates proxy",
     "  --all              every template\n"
     "  -m, --max-concurrency N  templates updated at once (default 4)\n"
     "  -o, --show-output  print all of apt's output, not only progress lines\n",
     NULL},
    {"volume", cmd_volume,
     "ls NAME | info NAME VOLUME | resize NAME VOLUME SIZE | revert TEMPLATE root [REVISION]",
     "list a qube's volumes, show one and its revisions, grow one (SIZE: bytes or 512M, 2G, "
     "1T...), or put a template's root back to a revision (default: the newest)",
     NULL, NULL},
    {"template", cmd_template, "ls [--json] | build NAME --flavour FLAVOUR | build FLAVOUR",
     "list templates or build one (FLAVOUR: minimal, debian or debian-12), showing its progress",
     "  -f, --flavour F    what to build: minimal (busybox), debian (Debian 12, needs\n"
     "                     debootstrap and the Debian mirror) or debian-12 (debian with\n"
     "                     Firefox ESR, zathura, Thunar and foot for Wayland)\n"
     "  --name NAME        with build FLAVOUR: the template's name (default: FLAVOUR)\n",
     NULL},
    {"events", cmd_events, "", "print the daemon's events as JSON lines until interrupted", NULL,
     NULL},
    {"log", cmd_log, "NAME [--tail BYTES]", "print the end of a qube's console log",
     "  --tail BYTES       how much of the end to print (e.g. 64K)\n", NULL},
    {"gui", cmd_gui,
     "[--control PATH] windows | clipboard | key COMBO | pointer X Y [BUTTON] | run QUBE LABEL "
     "[--] COMMAND [ARG]...",
     "talk to bulkhead-compositor: list windows, show the global clipboard, or run a host program "
     "as a qube's client",
     "  -c, --control PATH  the compositor's control socket (default\n"
     "                      $BULKHEAD_GUI_CONTROL, else "
     "$XDG_RUNTIME_DIR/bulkhead-compositor.ctl)\n",
     NULL},
    {"net", cmd_net, "setup [--template NAME]",
     "make sys-net and sys-firewall and set default_netvm (idempotent)",
     "  -t, --template NAME  the net qubes' template (default: debian)\n", NULL},
    {"settings", cmd_settings, "[NAME | dom0]",
     "see and change qubes' settings, one line at a time (the launcher's Settings)", NULL, NULL},
    {"info", cmd_info, "", "show the host's hypervisor and daemon status", NULL, NULL},
    {"policy", cmd_policy,
     "eval [--policy-dir DIR] [--system-info FILE] SERVICE[+ARG] SOURCE TARGET | lint [DIR] | "
     "agent",
     "decide one call as the RPC policy would, check the policy files, or answer 'ask'",
     "  -d, --policy-dir DIR    eval: the policy directory (default /etc/bulkhead/policy.d)\n"
     "  -s, --system-info FILE  eval: the qubes, as Qubes' system-info JSON (default: ask\n"
     "                          bulkheadd for the live ones)\n",
     NULL},
};

void cli_help(const struct cli_command *cmd, FILE *f)
{
	fprintf(f, "Usage: bulkhead %s%s%s\n%c%s.\n", cmd->name, *cmd->usage ? " " : "", cmd->usage,
		cmd->summary[0] >= 'a' && cmd->summary[0] <= 'z' ? cmd->summary[0] - 'a' + 'A'
								 : cmd->summary[0],
		cmd->summary + 1);
	fprintf(f, "\nOptions:\n%s  -h, --help         show this help\n",
		cmd->options ? cmd->options : "");
}

int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
{
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		fputs("bulkhead: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
	fprintf(stderr, "see bulkhead %s --help\n", cmd->name);
	return CLI_EXIT_USAGE;
}

int cli_getopt_default(const struct cli_command *cmd, int c)
{
	if (c == 'h') {
		cli_help(cmd, stdout);
		return CLI_EXIT_OK;
	}
	/* getopt has said what was wrong. */
	return cli_usage_error(cmd, NULL);
}

void cli_print_sanitized(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (p[0] == '\r' && (p[1] == '\n' || p[1] == '\r'))
			continue; /* a console's line ends */
		fputc((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f ? '?' : *p, f);
	}
}

const struct cli_command *cli_find_command(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (streq(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static void main_help(FILE *f)
{
	size_t w = 0;
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (strlen(commands[i].name) > w)
			w = strlen(commands[i].name);
	fputs("Usage: bulkhead COMMAND [OPTION]... [ARG]...\n"
	      "Manage the qubes of this host through bulkheadd.\n\nCommands:\n",
	      f);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-*s  %s\n", (int)w, commands[i].name, commands[i].summary);
	fputs("\n  -h, --help     show this help\n"
	      "  -V, --version  show the version\n\n"
	      "Run 'bulkhead COMMAND --help' for a command's options; see bulkhead(1).\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {0},
	};
	int c;

	/* A closed socket or pipe is an error to report, not a reason to die silently. */
	signal(SIGPIPE, SIG_IGN);

	while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			main_help(stdout);
			return CLI_EXIT_OK;
		case 'V':
			printf("bulkhead %s\n", BULKHEAD_VERSION);
			return CLI_EXIT_OK;
		default:
			fputs("see bulkhead --help\n", stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		main_help(stderr);
		return CLI_EXIT_USAGE;
	}

	const char *name = argv[optind];
	const struct cli_command *cmd = cli_find_command(name);
	if (cmd) {
		/* getopt names the command in its messages ("bulkhead ls: unrecognized option"). */
		_cleanup_free_ char *argv0 = xasprintf("bulkhead %s", name);
		char **sub = argv + optind;
		sub[0] = argv0;
		optind = 0;
		return cmd->run(cmd, argc - (int)(sub - argv), sub);
	}
	fprintf(stderr, "bulkhead: unknown command '%s'\nsee bulkhead --help\n", name);
	return CLI_EXIT_USAGE;
}
