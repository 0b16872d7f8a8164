/* bulkhead-compositor: draws every qube's windows framed in its label colour. */
#include "control.h"
#include "panel.h"
#include "launcher.h"
#include "server.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <wlr/util/log.h>

#include "log.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: bulkhead-compositor [--qube NAME:LABEL]... [--spawn NAME=COMMAND]...\n"
		   "                           [--kiosk QUBE]\n"
		   "  --qube NAME:LABEL     a qube and its label (red orange yellow green gray\n"
		   "                        blue purple black)\n"
		   "  --spawn NAME=COMMAND  run COMMAND as a client of qube NAME\n"
		   "  --kiosk QUBE          show only QUBE's first window, full screen\n");
}

static int handle_sigchld(int signo, void *data)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	return 0;
}

static int handle_terminate(int signo, void *data)
{
	wl_display_terminate(data);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"qube", required_argument, NULL, 'q'},
	    {"spawn", required_argument, NULL, 's'},
	    {"kiosk", required_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct server server = {0};
	const char *reason;
	int r, c, ret = 1;

	log_set_ident("bulkhead-compositor");
	wlr_log_init(WLR_ERROR, NULL);
	wl_list_init(&server.qubes);
	/* --spawn refers to qubes, which may come later on the command line. */
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'q':
			r = qube_add(&server, optarg);
			if (r < 0) {
				log_error("--qube %s: %s", optarg, strerror(-r));
				goto out;
			}
			break;
		case 's':
			break;
		case 'k':
			/* The qube may connect later (through the control socket): only its name is
			 * known now. */
			if (qube_name_check(optarg, &reason) < 0) {
				log_error("--kiosk %s: %s", optarg, reason);
				goto out;
			}
			server.kiosk_qube = optarg;
			break;
		case 'h':
			usage(stdout);
			ret = 0;
			goto out;
		default:
			usage(stderr);
			goto out;
		}
	}
	if (optind != argc) {
		usage(stderr);
		goto out;
	}
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		if (c != 's')
			continue;
		r = qube_set_spawn(&server, optarg);
		if (r < 0) {
			log_error("--spawn %s: %s", optarg, strerror(-r));
			goto out;
		}
	}

	r = server_init(&server);
	if (r < 0) {
		log_error("cannot set up the compositor: %s", strerror(-r));
		goto out;
	}
	const char *socket = wl_display_add_socket_auto(server.display);
	if (!socket) {
		log_error("cannot create the Wayland socket");
		goto out;
	}
	if (!wlr_backend_start(server.backend)) {
		log_error("cannot start the backend");
		goto out;
	}
	setenv("WAYLAND_DISPLAY", socket, 1);
	r = control_init(&server);
	if (r < 0) {
		log_error("cannot create the control socket in $XDG_RUNTIME_DIR: %s", strerror(-r));
		goto out;
	}
	r = clipboard_init(&server);
	if (r == 0)
		r = prompt_init(&server);
	if (r == 0)
		r = session_init(&server);
	if (r == 0)
		r = panel_init(&server);
	if (r == 0)
		r = launcher_init(&server); /* after the prompt: the prompt stays above it */
	if (r < 0) {
		log_error("cannot set up the clipboard, the prompt, the session, the panel and the "
			  "launcher: %s",
			  strerror(-r));
		goto out;
	}

	struct wl_event_loop *loop = wl_display_get_event_loop(server.display);
	struct wl_event_source *sources[3] = {
	    wl_event_loop_add_signal(loop, SIGCHLD, handle_sigchld, NULL),
	    wl_event_loop_add_signal(loop, SIGTERM, handle_terminate, server.display),
	    wl_event_loop_add_signal(loop, SIGINT, handle_terminate, server.display),
	};
	r = qube_start_clients(&server);
	if (r < 0) {
		log_error("cannot start a qube's client: %s", strerror(-r));
	} else {
		log_info("running on WAYLAND_DISPLAY=%s", socket);
		log_info("control socket at %s", control_path(&server));
		wl_display_run(server.display);
		ret = 0;
	}
	for (size_t i = 0; i < 3; i++)
		if (sources[i])
			wl_event_source_remove(sources[i]);
out:
	panel_finish(&server);
	launcher_finish(&server);
	session_finish(&server);
	prompt_finish(&server);
	clipboard_finish(&server);
	control_finish(&server);
	server_finish(&server);
	qubes_free(&server);
	return ret;
}
