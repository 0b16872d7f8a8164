/*
 * The API socket: who may connect (SO_PEERCRED: root or the `bulkhead` group act as dom0),
 * request framing and size caps, and the two long-lived modes a connection can switch to:
 * a `run` relay and an event subscription.
 */
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "api-handlers.h"
#include "api-request.h"
#include "api-server.h"
#include "api.h"
#include "daemon.h"
#include "frame.h"
#include "gui.h"
#include "log.h"
#include "rpc.h"
#include "util.h"

/* A client that does not read its replies must not make us hold unbounded memory. */
#define CLIENT_OUT_LIMIT (4u * 1024 * 1024 + 2 * CHAN_INITIAL_WINDOW)
#define API_MAX_CLIENTS	 256

enum client_mode {
	CLIENT_API,
	CLIENT_BUSY,
	CLIENT_EVENTS,
	CLIENT_PROMPT, /* the trusted `ask` prompt: events out, answers in */
	CLIENT_GUI,    /* the registered compositor: open while it lives (gui.h) */
	CLIENT_CLOSING,
	CLIENT_HANDED, /* its socket went to a channel process; freed from a timer */
};

struct client {
	struct client *next;
	struct daemon *d;
	int fd;
	int watch;
	uint64_t serial;
	uid_t uid;
	pid_t pid;
	enum client_mode mode;
	struct run_request *run;
	/* An admin call from a qube: the one request this connection may make. */
	char *bound_call, *bound_dest, *bound_arg;
	bool bound_used;
	struct chan_decoder dec;
	struct chan_outbuf out;
};

static unsigned n_clients;

uint64_t client_serial(struct client *c)
{
	return c->serial;
}

struct client *client_lookup(struct daemon *d, struct client *c, uint64_t serial)
{
	for (struct client *i = d->clients; i; i = i->next)
		if (i == c && i->serial == serial && i->mode != CLIENT_CLOSING)
			return i;
	return NULL;
}

struct run_request *client_run_request(struct client *c)
{
	return c->run;
}

void client_set_run_request(struct client *c, struct run_request *rr)
{
	run_request_free(c->run);
	c->run = rr;
}

void run_request_free(struct run_request *rr)
{
	if (!rr)
		return;
	for (char **a = rr->argv; a && *a; a++)
		free(*a);
	free(rr->argv);
	free(rr->user);
	free(rr);
}

static void client_update_events(struct client *c)
{
	int ev = 0;
	if (c->mode == CLIENT_API || c->mode == CLIENT_EVENTS || c->mode == CLIENT_PROMPT ||
	    c->mode == CLIENT_GUI)
		ev |= VIR_EVENT_HANDLE_READABLE;
	if (chan_outbuf_pending(&c->out) > 0)
		ev |= VIR_EVENT_HANDLE_WRITABLE;
	virEventUpdateHandle(c->watch, ev);
}

static void client_free(struct client *c)
{
	struct daemon *d = c->d;
	for (struct client **pp = &d->clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	if (c->mode == CLIENT_PROMPT)
		rpc_prompt_gone(d, c);
	if (c->mode == CLIENT_GUI)
		gui_unregister(d);
	virEventRemoveHandle(c->watch);
	close(c->fd);
	chan_outbuf_finish(&c->out);
	run_request_free(c->run);
	free(c->bound_call);
	free(c->bound_dest);
	free(c->bound_arg);
	free(c);
	n_clients--;
}

void client_close(struct client *c)
{
	/* Freed from the event loop callback, after what is queued has been written. */
	c->mode = CLIENT_CLOSING;
	client_update_events(c);
	if (chan_outbuf_pending(&c->out) == 0)
		client_free(c);
}

int client_send_frame(struct client *c, uint16_t type, uint32_t stream, const void *p, size_t len)
{
	int r = chan_outbuf_push(&c->out, type, stream, p, len);
	if (r < 0) {
		/* The client stopped reading: it loses its connection, not our memory. */
		log_warn("client pid %d does not read its replies; disconnecting it", (int)c->pid);
		client_close(c);
		return r;
	}
	client_update_events(c);
	return 0;
}

static void client_send_json(struct client *c, uint16_t type, struct json_object *o)
{
	size_t len;
	const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
	if (len > CHAN_MAX_PAYLOAD) {
		struct json_object *e = json_object_new_object();
		json_object_object_add(e, "ok", json_object_new_boolean(0));
		json_object_object_add(e, "error", json_object_new_string(API_E_PROTOCOL));
		json_object_object_add(e, "message",
				       json_object_new_string("the reply is too large"));
		s = json_object_to_json_string_length(e, JSON_C_TO_STRING_PLAIN, &len);
		client_send_frame(c, type, 0, s, len);
		json_object_put(e);
		return;
	}
	client_send_frame(c, type, 0, s, len);
}

void client_reply_ok(struct client *c, struct json_object *result)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	json_object_object_add(o, "result", result);
	client_send_json(c, CHAN_API_REPLY, o);
	json_object_put(o);
	if (c->mode == CLIENT_BUSY) {
		c->mode = CLIENT_API;
		client_update_events(c);
	}
}

void client_reply_error(struct client *c, const char *error, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(error));
	json_object_object_add(o, "message", json_object_new_string(msg));
	client_send_json(c, CHAN_API_REPLY, o);
	json_object_put(o);
	if (c->mode == CLIENT_BUSY) {
		c->mode = CLIENT_API;
		client_update_events(c);
	}
}

static void free_handed(int timer, void *opaque)
{
	struct client *c = opaque;
	virEventRemoveTimeout(timer);
	client_free(c);
}

int client_hand_over(struct client *c)
{
	/* The reply queued for it goes first, written here: the channel process must not
	 * write its first frame before it. The client waits for that reply, so this is short;
	 * one that does not read within a second loses its command. */
	while (chan_outbuf_pending(&c->out) > 0) {
		struct pollfd p = {.fd = c->fd, .events = POLLOUT};
		if (poll(&p, 1, 1000) <= 0 || chan_outbuf_flush(&c->out, c->fd) < 0) {
			client_close(c);
			return -ETIMEDOUT;
		}
	}
	/* Our copy of the fd is closed when the client is freed, once the event loop is back
	 * in control (the caller may still be inside this client's handlers). */
	c->mode = CLIENT_HANDED;
	virEventUpdateHandle(c->watch, 0);
	if (virEventAddTimeout(0, free_handed, c, NULL) < 0)
		return -ENOMEM;
	return c->fd;
}

void client_enter_prompt(struct client *c)
{
	c->mode = CLIENT_PROMPT;
	client_update_events(c);
}

void client_enter_gui(struct client *c)
{
	c->mode = CLIENT_GUI;
	client_update_events(c);
}

uid_t client_uid(const struct client *c)
{
	return c->uid;
}

bool client_is_prompt(struct client *c)
{
	return c->mode == CLIENT_PROMPT;
}

struct client *prompt_find(struct daemon *d)
{
	for (struct client *c = d->clients; c; c = c->next)
		if (c->mode == CLIENT_PROMPT)
			return c;
	return NULL;
}

void client_send_event(struct client *c, struct json_object *o)
{
	client_send_json(c, CHAN_API_EVENT, o);
}

void client_enter_events(struct client *c)
{
	c->mode = CLIENT_EVENTS;
	client_update_events(c);
}

void events_emit(struct daemon *d, const char *event, const char *vm, struct json_object *extra)
{
	struct json_object *o = extra ? extra : json_object_new_object();
	json_object_object_add(o, "event", json_object_new_string(event));
	json_object_object_add(o, "vm", json_object_new_string(vm ? vm : ""));
	for (struct client *c = d->clients, *next; c; c = next) {
		next = c->next;
		if (c->mode == CLIENT_EVENTS)
			client_send_json(c, CHAN_API_EVENT, o);
	}
	json_object_put(o);
}

static void handle_request(struct client *c, const struct chan_frame *f)
{
	struct api_request req;
	struct json_object *owner = NULL;
	const char *reason = NULL;

	if (api_request_parse(f->payload, f->len, &req, &owner, &reason) < 0) {
		client_reply_error(c, API_E_PROTOCOL, "%s", reason);
		return;
	}
	if (c->bound_call) {
		/* Exactly the call the policy allowed, once. */
		if (c->bound_used || !streq(req.call, c->bound_call) ||
		    !streq(req.dest, c->bound_dest) || !streq(req.arg, c->bound_arg)) {
			client_reply_error(c, API_E_PERMISSION, "not the call the policy allowed");
			client_close(c);
			json_object_put(owner);
			return;
		}
		c->bound_used = true;
	}
	/* A prompt keeps its mode: its answers are replied to in passing. */
	if (c->mode != CLIENT_PROMPT)
		c->mode = CLIENT_BUSY;
	api_dispatch(c->d, c, &req);
	if (c->mode != CLIENT_CLOSING)
		client_update_events(c);
	json_object_put(owner);
}

static void handle_frame(struct client *c, const struct chan_frame *f)
{
	switch (c->mode) {
	case CLIENT_API:
		if (f->type != CHAN_API_REQUEST || f->stream != 0) {
			client_reply_error(c, API_E_PROTOCOL, "expected an API request");
			client_close(c);
			return;
		}
		handle_request(c, f);
		return;
	case CLIENT_PROMPT:
		if (f->type != CHAN_API_REQUEST || f->stream != 0) {
			client_close(c);
			return;
		}
		handle_request(c, f);
		return;
	default:
		/* Event subscribers and busy clients have nothing to say. */
		return;
	}
}

static void client_read(struct client *c)
{
	uint8_t buf[65536];
	ssize_t n = read(c->fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_free(c);
		return;
	}
	size_t off = 0;
	while (off < (size_t)n && (c->mode == CLIENT_API || c->mode == CLIENT_PROMPT)) {
		struct chan_frame f;
		size_t used = 0;
		int r = chan_decoder_feed(&c->dec, buf + off, (size_t)n - off, &used, &f);
		off += used;
		if (r == -EMSGSIZE) {
			client_reply_error(c, API_E_PROTOCOL,
					   "the request is larger than the limit of %u bytes",
					   CHAN_MAX_PAYLOAD);
			client_close(c);
			return;
		}
		if (r < 0) {
			client_reply_error(c, API_E_PROTOCOL, "malformed frame");
			client_close(c);
			return;
		}
		if (r == 1) {
			uint64_t serial = c->serial;
			struct daemon *d = c->d;
			handle_frame(c, &f);
			if (!client_lookup(d, c, serial))
				return;
		}
	}
	/* Bytes after a request that made us busy wait in the kernel for the next read. */
	if (off < (size_t)n && c->mode == CLIENT_BUSY) {
		/* A pipelined request while busy: the protocol does not allow it. */
		client_reply_error(c, API_E_PROTOCOL, "one request at a time");
		client_close(c);
	}
}

static void client_io(int watch, int fd, int events, void *opaque)
{
	struct client *c = opaque;

	if (events & VIR_EVENT_HANDLE_WRITABLE) {
		int r = chan_outbuf_flush(&c->out, fd);
		if (r < 0) {
			client_free(c);
			return;
		}
		if (r == 0 && c->mode == CLIENT_CLOSING) {
			client_free(c);
			return;
		}
	}
	if (c->mode == CLIENT_HANDED)
		return;
	if (c->mode == CLIENT_CLOSING) {
		if (events & (VIR_EVENT_HANDLE_HANGUP | VIR_EVENT_HANDLE_ERROR))
			client_free(c);
		return;
	}
	if (events &
	    (VIR_EVENT_HANDLE_READABLE | VIR_EVENT_HANDLE_HANGUP | VIR_EVENT_HANDLE_ERROR)) {
		if (c->mode == CLIENT_BUSY) {
			/* Only a hangup matters now; data waits until the reply is sent. */
			if (events & (VIR_EVENT_HANDLE_HANGUP | VIR_EVENT_HANDLE_ERROR))
				client_free(c);
			return;
		}
		uint64_t serial = c->serial;
		struct daemon *d = c->d;
		client_read(c);
		if (!client_lookup(d, c, serial))
			return;
	}
	client_update_events(c);
}

static bool caller_is_admin(struct daemon *d, const struct ucred *cred)
{
	if (cred->uid == 0)
		return true;
	if (d->admin_gid == (gid_t)-1)
		return false;
	if (cred->gid == d->admin_gid)
		return true;
	/* Supplementary groups of the peer, read from /proc: the kernel's view, not the peer's. */
	_cleanup_free_ char *path = xasprintf("/proc/%d/status", (int)cred->pid);
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char line[4096];
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Groups:", 7) != 0)
			continue;
		char *p = line + 7, *end;
		for (;;) {
			unsigned long g = strtoul(p, &end, 10);
			if (end == p)
				break;
			if ((gid_t)g == d->admin_gid)
				return true;
			p = end;
		}
	}
	return false;
}

static struct client *client_new(struct daemon *d, int cfd, const struct ucred *cred)
{
	struct client *c = xcalloc(1, sizeof(*c));
	c->d = d;
	c->fd = cfd;
	c->uid = cred->uid;
	c->pid = cred->pid;
	c->serial = ++d->client_serial;
	chan_decoder_init(&c->dec, CHAN_MAX_PAYLOAD);
	chan_outbuf_init(&c->out, CLIENT_OUT_LIMIT);
	c->watch = virEventAddHandle(cfd, VIR_EVENT_HANDLE_READABLE, client_io, c, NULL);
	if (c->watch < 0) {
		close(cfd);
		chan_outbuf_finish(&c->out);
		free(c);
		return NULL;
	}
	c->next = d->clients;
	d->clients = c;
	n_clients++;
	return c;
}

int api_server_add_bound(struct daemon *d, int fd, const char *call, const char *dest,
			 const char *arg)
{
	struct ucred cred = {.pid = getpid(), .uid = 0, .gid = 0};
	struct client *c = client_new(d, fd, &cred);
	if (!c)
		return -ENOMEM;
	c->bound_call = xstrdup(call);
	c->bound_dest = xstrdup(dest);
	c->bound_arg = xstrdup(arg);
	return 0;
}

static void listen_io(int watch, int fd, int events, void *opaque)
{
	struct daemon *d = opaque;
	struct ucred cred;
	socklen_t len = sizeof(cred);

	int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (cfd < 0)
		return;
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    n_clients >= API_MAX_CLIENTS) {
		close(cfd);
		return;
	}
	struct client *c = client_new(d, cfd, &cred);
	if (!c)
		return;
	if (!caller_is_admin(d, &cred)) {
		c->mode = CLIENT_BUSY;
		client_reply_error(c, API_E_PERMISSION,
				   "uid %u may not use bulkheadd: only root and members of the "
				   "'bulkhead' group act as dom0",
				   (unsigned)cred.uid);
		client_close(c);
	}
}

int api_server_start(struct daemon *d)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct group *g = getgrnam("bulkhead");

	d->admin_gid = g ? g->gr_gid : (gid_t)-1;
	if (strlen(d->socket_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, d->socket_path);

	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(d->socket_path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	/* Anyone may connect; SO_PEERCRED decides who is answered. The group may use it too. */
	chmod(d->socket_path, 0666);
	if (listen(fd, 64) < 0)
		return -errno;
	d->listen_watch = virEventAddHandle(fd, VIR_EVENT_HANDLE_READABLE, listen_io, d, NULL);
	if (d->listen_watch < 0)
		return -EIO;
	d->listen_fd = TAKE_FD(fd);
	return 0;
}

void api_server_stop(struct daemon *d)
{
	while (d->clients)
		client_free(d->clients);
	if (d->listen_watch >= 0)
		virEventRemoveHandle(d->listen_watch);
	if (d->listen_fd >= 0) {
		close(d->listen_fd);
		unlink(d->socket_path);
	}
}
