/*
 * The compositor tells bulkheadd where its control socket is (admin.gui.Register), so that a
 * login session needs nothing configured: bulkheadd sends qubes' windows here while this
 * connection stays open, and stops when it ends. A refusal (bulkheadd started with
 * --gui-control, another session's compositor registered) or a bulkheadd that is not up is
 * retried every few seconds, logged once per run of failures.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "frame.h"
#include "log.h"
#include "prompt-api.h"
#include "server.h"
#include "util.h"

#define SESSION_RETRY_MS 3000

struct session {
	struct server *server;
	struct api_conn *conn;
	struct wl_event_source *retry;
	bool registered;
	bool told; /* the current run of failures was logged */
};

static void again_later(struct session *s)
{
	api_conn_free(s->conn);
	s->conn = NULL;
	s->registered = false;
	wl_event_source_timer_update(s->retry, SESSION_RETRY_MS);
}

static void on_frame(struct api_conn *conn, uint16_t type, struct json_object *o, void *data)
{
	struct session *s = data;
	struct json_object *v;

	if (type != CHAN_API_REPLY || s->registered)
		return;
	if (json_object_object_get_ex(o, "ok", &v) && json_object_get_boolean(v)) {
		s->registered = true;
		s->told = false;
		log_info("session: registered with bulkheadd (%s): qubes' windows come here",
			 api_conn_socket_path());
		return;
	}
	if (!s->told) {
		const char *msg =
		    json_object_object_get_ex(o, "message", &v) ? json_object_get_string(v) : "?";
		log_warn("session: bulkheadd refused this compositor: %s; retrying every %d s", msg,
			 SESSION_RETRY_MS / 1000);
	}
	s->told = true;
	again_later(s);
}

static void on_closed(struct api_conn *conn, int error, void *data)
{
	struct session *s = data;
	if (s->registered)
		log_warn("session: bulkheadd went away (%s); registering again when it is back",
			 strerror(-error));
	else if (!s->told)
		log_info("session: bulkheadd not reachable at %s (%s); retrying every %d s",
			 api_conn_socket_path(), strerror(-error), SESSION_RETRY_MS / 1000);
	s->told = true;
	again_later(s);
}

static void session_connect(struct session *s)
{
	struct wl_event_loop *loop = wl_display_get_event_loop(s->server->display);
	int r = api_conn_open(loop, api_conn_socket_path(), on_frame, on_closed, s, &s->conn);
	if (r == 0) {
		struct json_object *payload = json_object_new_object();
		json_object_object_add(payload, "control",
				       json_object_new_string(control_path(s->server)));
		r = api_conn_request(s->conn, "admin.gui.Register", "", "", payload);
		json_object_put(payload);
	}
	if (r < 0) {
		if (!s->told)
			log_info("session: bulkheadd not reachable at %s (%s); retrying every %d s",
				 api_conn_socket_path(), strerror(-r), SESSION_RETRY_MS / 1000);
		s->told = true;
		again_later(s);
	}
}

static int retry_timer(void *data)
{
	struct session *s = data;
	if (!s->conn)
		session_connect(s);
	return 0;
}

int session_init(struct server *server)
{
	struct session *s = xcalloc(1, sizeof(*s));
	s->server = server;
	s->retry =
	    wl_event_loop_add_timer(wl_display_get_event_loop(server->display), retry_timer, s);
	if (!s->retry) {
		free(s);
		return -ENOMEM;
	}
	server->session = s;
	session_connect(s);
	return 0;
}

void session_finish(struct server *server)
{
	struct session *s = server->session;
	if (!s)
		return;
	api_conn_free(s->conn);
	wl_event_source_remove(s->retry);
	free(s);
	server->session = NULL;
}
