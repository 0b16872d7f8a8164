/* The control socket (see control.h): the host's GUI side asks here for qube connections. Every
 * peer is checked by SO_PEERCRED, every request line is capped, and nothing blocks the
 * compositor: sockets are non-blocking and driven by the display's event loop. */
#include "control.h"

#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fd-pass.h"
#include "launcher.h"
#include "log.h"
#include "panel.h"
#include "util.h"

#define CONTROL_LINE_MAX  256
#define CONTROL_ARGS_MAX  4
#define MAX_CONTROL_PEERS 16
#define MAX_CONNECTORS	  (2 * MAX_QUBES)
/* The largest answer: `windows` with every window's title at its longest. */
#define CONTROL_ANSWER_MAX (1024 * 1024)

struct control {
	struct server *server;
	int listen_fd;
	struct wl_event_source *listen_source;
	struct wl_list peers;	   /* struct peer.link */
	struct wl_list connectors; /* struct connector.link */
	unsigned n_peers, n_connectors;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	bool quit;
};

struct peer {
	struct wl_list link;
	struct control *control;
	int fd;
	struct wl_event_source *source;
	char in[CONTROL_LINE_MAX + 1];
	size_t in_len;
	bool overlong; /* discarding the rest of a line that was too long */
	bool eof;
	/* One answer at a time: no request is read while one is still going out. */
	char *out;
	size_t out_len, out_pos, out_size;
	int out_fd; /* sent with the answer's first byte, then closed */
};

struct connector {
	struct wl_list link;
	struct control *control;
	struct qube *qube;
	int fd;
	struct wl_event_source *source;
	int pending_fd; /* a connection whose byte could not go out yet */
};

static void peer_free(struct peer *p)
{
	if (!p)
		return;
	wl_list_remove(&p->link);
	p->control->n_peers--;
	wl_event_source_remove(p->source);
	close(p->fd);
	if (p->out_fd >= 0)
		close(p->out_fd);
	free(p->out);
	free(p);
}

static void connector_free(struct connector *c)
{
	if (!c)
		return;
	wl_list_remove(&c->link);
	c->control->n_connectors--;
	c->qube->n_connectors--;
	wl_event_source_remove(c->source);
	close(c->fd);
	if (c->pending_fd >= 0)
		close(c->pending_fd);
	free(c);
}

static int answer_append(struct peer *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int answer_append(struct peer *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	size_t need = p->out_len + (size_t)n + 1;
	if (need > CONTROL_ANSWER_MAX)
		return -E2BIG;
	if (need > p->out_size) {
		size_t size = p->out_size ? p->out_size : 256;
		while (size < need)
			size *= 2;
		char *out = realloc(p->out, size);
		if (!out)
			return -ENOMEM;
		p->out = out;
		p->out_size = size;
	}
	va_start(ap, fmt);
	vsnprintf(p->out + p->out_len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	p->out_len += (size_t)n;
	return 0;
}

static void answer_error(struct peer *p, const char *message)
{
	p->out_len = 0;
	if (p->out_fd >= 0) {
		close(p->out_fd);
		p->out_fd = -1;
	}
	if (answer_append(p, "error %s\n", message) < 0)
		p->eof = true;
}

static const char *errno_message(int r)
{
	switch (r) {
	case -EINVAL:
		return "invalid argument";
	case -EEXIST:
		return "label mismatch";
	case -E2BIG:
		return "too many qubes";
	case -EMFILE:
		return "too many connections";
	case -ENODEV:
		return "no virtual input";
	default:
		return strerror(-r);
	}
}

/* --- commands --- */

static void cmd_connect(struct peer *p, char **argv)
{
	struct qube *q;
	int r = qube_register(p->control->server, argv[1], argv[2], &q);
	if (r < 0) {
		answer_error(p, errno_message(r));
		return;
	}
	int fd;
	r = qube_connect(p->control->server, q, &fd);
	if (r < 0) {
		answer_error(p, errno_message(r));
		return;
	}
	p->out_fd = fd;
	if (answer_append(p, "ok\n") < 0)
		answer_error(p, "out of memory");
}

static int connector_dispatch(int fd, uint32_t mask, void *data);

static void cmd_connector(struct peer *p, char **argv)
{
	struct control *control = p->control;
	if (control->n_connectors >= MAX_CONNECTORS) {
		answer_error(p, "too many connectors");
		return;
	}
	struct qube *q;
	int r = qube_register(control->server, argv[1], argv[2], &q);
	if (r < 0) {
		answer_error(p, errno_message(r));
		return;
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0) {
		answer_error(p, strerror(errno));
		return;
	}
	struct connector *c = calloc(1, sizeof(*c));
	if (!c) {
		close(sv[0]);
		close(sv[1]);
		answer_error(p, "out of memory");
		return;
	}
	c->control = control;
	c->qube = q;
	c->fd = sv[0];
	c->pending_fd = -1;
	c->source = wl_event_loop_add_fd(wl_display_get_event_loop(control->server->display), c->fd,
					 WL_EVENT_READABLE, connector_dispatch, c);
	if (!c->source) {
		close(sv[0]);
		close(sv[1]);
		free(c);
		answer_error(p, "out of memory");
		return;
	}
	wl_list_insert(&control->connectors, &c->link);
	control->n_connectors++;
	q->n_connectors++;
	/* The holder may block on its end; ours stays non-blocking. */
	int flags = fcntl(sv[1], F_GETFL);
	if (flags >= 0)
		fcntl(sv[1], F_SETFL, flags & ~O_NONBLOCK);
	p->out_fd = sv[1];
	if (answer_append(p, "ok\n") < 0)
		answer_error(p, "out of memory");
}

/* The user's PipeWire socket: $PIPEWIRE_REMOTE if absolute, else under $XDG_RUNTIME_DIR
 * ($PIPEWIRE_REMOTE or pipewire-0). NULL (with why) when it cannot be named. */
static const char *pipewire_path(char *buf, size_t size, const char **ret_why)
{
	const char *remote = getenv("PIPEWIRE_REMOTE");
	const char *dir = getenv("XDG_RUNTIME_DIR");
	int n;

	if (!remote || !*remote)
		remote = "pipewire-0";
	if (remote[0] == '/') {
		n = snprintf(buf, size, "%s", remote);
	} else {
		if (!dir || dir[0] != '/') {
			*ret_why = "no sound server: XDG_RUNTIME_DIR is not set";
			return NULL;
		}
		n = snprintf(buf, size, "%s/%s", dir, remote);
	}
	if (n < 0 || (size_t)n >= size) {
		*ret_why = "no sound server: the PipeWire socket's path is too long";
		return NULL;
	}
	return buf;
}

/* A connection to the user's sound server, made as the compositor's user, for bulkheadd's
 * audio host half of one qube (vmmanager/audio.h). */
static void cmd_audio(struct peer *p, char **argv)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *why = NULL;
	char msg[sizeof(sa.sun_path) + 64];

	if (!pipewire_path(sa.sun_path, sizeof(sa.sun_path), &why)) {
		answer_error(p, why);
		return;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		answer_error(p, strerror(errno));
		return;
	}
	/* A unix socket's connect does not wait for the server: it is accepted into its backlog
	 * or refused at once (EAGAIN when the backlog is full). */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(msg, sizeof(msg), "no sound server at %s: %s", sa.sun_path,
			 strerror(errno));
		close(fd);
		answer_error(p, msg);
		return;
	}
	int flags = fcntl(fd, F_GETFL);
	if (flags >= 0)
		fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	p->out_fd = fd;
	if (answer_append(p, "ok\n") < 0)
		answer_error(p, "out of memory");
}

static void cmd_windows(struct peer *p, char **argv)
{
	struct server *server = p->control->server;
	struct wlr_surface *focused = server->seat->keyboard_state.focused_surface;
	unsigned n = 0;
	struct view *v;
	wl_list_for_each(v, &server->views, link)
	{
		if (v->xdg_surface->mapped)
			n++;
	}
	int r = answer_append(p, "ok %u\n", n);
	wl_list_for_each(v, &server->views, link)
	{
		if (r < 0 || !v->xdg_surface->mapped)
			continue;
		if (v->id == 0)
			v->id = ++server->next_view_id;
		char title[1024];
		view_title(v, title, sizeof(title));
		/* The title bar text has no control characters, so no tab or newline either. */
		struct wlr_box frame;
		view_frame_box(v, &frame);
		r = answer_append(p, "%" PRIu32 "\t%s\t%s\t%d\t%d\t%d\t%d\t%d\n", v->id,
				  v->qube ? v->qube->name : "-", title, frame.x, frame.y,
				  frame.width, frame.height,
				  focused == v->xdg_surface->surface ? 1 : 0);
	}
	if (r < 0)
		answer_error(p, errno_message(r));
}

static void cmd_key(struct peer *p, char **argv)
{
	int r = input_key_combo(p->control->server, argv[1]);
	if (r < 0) {
		answer_error(p, r == -EINVAL ? "unknown key" : errno_message(r));
		return;
	}
	answer_append(p, "ok\n");
}

static int parse_coordinate(const char *s, double *ret)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < -1000000 || v > 1000000)
		return -EINVAL;
	*ret = (double)v;
	return 0;
}

static void cmd_pointer(struct peer *p, char **argv)
{
	double x, y;
	if (parse_coordinate(argv[1], &x) < 0 || parse_coordinate(argv[2], &y) < 0) {
		answer_error(p, "invalid coordinates");
		return;
	}
	int r = input_pointer(p->control->server, x, y, argv[3]);
	if (r < 0) {
		answer_error(p, r == -EINVAL ? "unknown button" : errno_message(r));
		return;
	}
	answer_append(p, "ok\n");
}

static void cmd_clipboard(struct peer *p, char **argv)
{
	const char *source;
	size_t bytes = clipboard_global_size(p->control->server, &source);
	if (!source) {
		answer_append(p, "ok - 0\n");
		return;
	}
	answer_append(p, "ok %s %zu\n", source, bytes);
}

static void cmd_panel(struct peer *p, char **argv)
{
	const struct server *server = p->control->server;
	unsigned n = panel_chip_count(server);
	int r = answer_append(p, "ok %u\n", n);
	struct panel_chip_info chip;
	for (unsigned i = 0; r >= 0 && panel_chip(server, i, &chip); i++)
		r = answer_append(p, "%s\t%s\t%s\t%" PRId64 "\t%d\t%d\t%d\t%d\n", chip.name,
				  chip.label, chip.state, chip.memory_mib, chip.box.x, chip.box.y,
				  chip.box.width, chip.box.height);
	if (r < 0)
		answer_error(p, errno_message(r));
}

static void cmd_panel_menu(struct peer *p, char **argv)
{
	const struct server *server = p->control->server;
	unsigned n = panel_menu_count(server);
	int r = answer_append(p, "ok %u\n", n);
	const char *name;
	struct wlr_box box;
	for (unsigned i = 0; r >= 0 && panel_menu_item(server, i, &name, &box); i++)
		r = answer_append(p, "%s\t%d\t%d\t%d\t%d\n", name, box.x, box.y, box.width,
				  box.height);
	if (r < 0)
		answer_error(p, errno_message(r));
}

static void cmd_launcher(struct peer *p, char **argv)
{
	_cleanup_free_ char *text = launcher_describe(p->control->server);
	if (answer_append(p, "%s", text) < 0)
		answer_error(p, "out of memory");
}

static void cmd_quit(struct peer *p, char **argv)
{
	p->control->quit = true;
	answer_append(p, "ok\n");
}

static const struct command {
	const char *name;
	unsigned min_args, max_args;
	void (*handler)(struct peer *p, char **argv);
} commands[] = {
    {"connect", 2, 2, cmd_connect},
    {"connector", 2, 2, cmd_connector},
    {"audio", 0, 0, cmd_audio},
    {"windows", 0, 0, cmd_windows},
    {"key", 1, 1, cmd_key},
    {"pointer", 2, 3, cmd_pointer},
    {"clipboard", 0, 0, cmd_clipboard},
    {"quit", 0, 0, cmd_quit},
    {"panel", 0, 0, cmd_panel},
    {"panel-menu", 0, 0, cmd_panel_menu},
    {"launcher", 0, 0, cmd_launcher},
};

static void peer_handle_line(struct peer *p, char *line)
{
	char *argv[CONTROL_ARGS_MAX + 2] = {0};
	unsigned argc = 0;
	char *save = NULL;
	for (char *tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		if (argc > CONTROL_ARGS_MAX) {
			answer_error(p, "too many arguments");
			return;
		}
		argv[argc++] = tok;
	}
	if (argc == 0) {
		answer_error(p, "empty request");
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		const struct command *c = &commands[i];
		if (!streq(argv[0], c->name))
			continue;
		if (argc - 1 < c->min_args || argc - 1 > c->max_args) {
			answer_error(p, "wrong number of arguments");
			return;
		}
		c->handler(p, argv);
		return;
	}
	answer_error(p, "unknown command");
}

static bool line_printable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

/* Answers the first complete line in the buffer, if any. */
static void peer_process(struct peer *p)
{
	if (p->out_len > 0)
		return;
	char *nl = memchr(p->in, '\n', p->in_len);
	if (!nl) {
		if (p->in_len >= CONTROL_LINE_MAX) {
			/* Too long: answer once, then drop bytes up to the next newline. */
			p->overlong = true;
			p->in_len = 0;
			answer_error(p, "line too long");
		}
		return;
	}
	size_t len = (size_t)(nl - p->in);
	size_t text = len > 0 && p->in[len - 1] == '\r' ? len - 1 : len;
	p->in[text] = '\0';
	/* Checked over the whole length, so an embedded NUL is refused too. */
	if (!line_printable(p->in, text))
		answer_error(p, "invalid characters");
	else
		peer_handle_line(p, p->in);
	memmove(p->in, nl + 1, p->in_len - len - 1);
	p->in_len -= len + 1;
}

/* Returns 0, or -errno when the peer is to be dropped. */
static int peer_flush(struct peer *p)
{
	while (p->out_pos < p->out_len) {
		ssize_t n = send_one_fd(p->fd, p->out + p->out_pos, p->out_len - p->out_pos,
					p->out_fd, MSG_DONTWAIT);
		if (n == -EAGAIN)
			return 0;
		if (n < 0)
			return (int)n;
		if (p->out_fd >= 0) {
			close(p->out_fd);
			p->out_fd = -1;
		}
		p->out_pos += (size_t)n;
	}
	p->out_len = p->out_pos = 0;
	return 0;
}

static int peer_dispatch(int fd, uint32_t mask, void *data)
{
	struct peer *p = data;
	struct control *control = p->control;
	for (;;) {
		if (peer_flush(p) < 0) {
			peer_free(p);
			return 0;
		}
		if (p->out_len > 0)
			break;
		peer_process(p);
		if (p->out_len > 0)
			continue;
		if (p->eof) {
			/* Every complete line is answered; a partial one has no answer. */
			peer_free(p);
			p = NULL;
			break;
		}
		ssize_t n = read(p->fd, p->in + p->in_len, CONTROL_LINE_MAX - p->in_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			p->eof = true;
			continue;
		}
		if (p->overlong) {
			/* Still inside a line that was too long: keep only what follows it. */
			char *nl = memchr(p->in, '\n', (size_t)n);
			if (!nl)
				continue;
			p->in_len = (size_t)n - (size_t)(nl + 1 - p->in);
			memmove(p->in, nl + 1, p->in_len);
			p->overlong = false;
			continue;
		}
		p->in_len += (size_t)n;
	}
	if (p)
		wl_event_source_fd_update(p->source,
					  p->out_len > 0 ? WL_EVENT_WRITABLE : WL_EVENT_READABLE);
	if (control->quit && (!p || p->out_len == 0))
		wl_display_terminate(control->server->display);
	return 0;
}

static int connector_dispatch(int fd, uint32_t mask, void *data)
{
	struct connector *c = data;
	for (;;) {
		if (c->pending_fd >= 0) {
			char byte = 0;
			ssize_t n = send_one_fd(c->fd, &byte, 1, c->pending_fd, MSG_DONTWAIT);
			if (n == -EAGAIN) {
				wl_event_source_fd_update(c->source, WL_EVENT_WRITABLE);
				return 0;
			}
			if (n < 0) {
				connector_free(c);
				return 0;
			}
			close(c->pending_fd);
			c->pending_fd = -1;
		}
		char byte;
		ssize_t n = read(c->fd, &byte, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			/* EOF: the holder is gone; the connections it made live on. */
			connector_free(c);
			return 0;
		}
		int r = qube_connect(c->control->server, c->qube, &c->pending_fd);
		if (r < 0) {
			/* Out of connections for this qube: the holder gets nothing for this
			 * byte and sees that as EOF. */
			log_warn("qube %s: no new connection: %s", c->qube->name, strerror(-r));
			connector_free(c);
			return 0;
		}
	}
	wl_event_source_fd_update(c->source, WL_EVENT_READABLE);
	return 0;
}

static bool peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred))
		return false;
	return cred.uid == 0 || cred.uid == getuid();
}

/* Answers a peer we will not serve and closes it, dropping what it sent so far so that the
 * close does not turn into a reset that would swallow the answer. */
static void refuse(int fd, const char *answer)
{
	char buf[512];
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	(void)!send(fd, answer, strlen(answer), MSG_NOSIGNAL | MSG_DONTWAIT);
	shutdown(fd, SHUT_WR);
	close(fd);
}

static int listen_dispatch(int fd, uint32_t mask, void *data)
{
	struct control *control = data;
	for (;;) {
		int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return 0;
		}
		if (!peer_allowed(cfd)) {
			refuse(cfd, "error permission denied\n");
			continue;
		}
		if (control->n_peers >= MAX_CONTROL_PEERS) {
			refuse(cfd, "error too many peers\n");
			continue;
		}
		struct peer *p = calloc(1, sizeof(*p));
		if (!p) {
			close(cfd);
			continue;
		}
		p->control = control;
		p->fd = cfd;
		p->out_fd = -1;
		p->source =
		    wl_event_loop_add_fd(wl_display_get_event_loop(control->server->display), cfd,
					 WL_EVENT_READABLE, peer_dispatch, p);
		if (!p->source) {
			close(cfd);
			free(p);
			continue;
		}
		wl_list_insert(&control->peers, &p->link);
		control->n_peers++;
	}
}

/* Binds path with mode 0600, replacing a stale socket but never a live one. */
static int bind_socket(const char *path, int *ret_fd)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	_cleanup_close_ int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe < 0)
		return -errno;
	if (connect(probe, (struct sockaddr *)&addr, sizeof(addr)) == 0)
		return -EADDRINUSE;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	/* The socket file is born 0600: no window in which another user could connect. */
	mode_t old = umask(0177);
	int r = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	int saved = errno;
	umask(old);
	if (r < 0)
		return -saved;
	if (listen(fd, 16) < 0) {
		r = -errno;
		unlink(path);
		return r;
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int control_init(struct server *server)
{
	const char *dir = getenv("XDG_RUNTIME_DIR");
	if (!dir || dir[0] != '/')
		return -ENOENT;
	struct control *control = calloc(1, sizeof(*control));
	if (!control)
		return -ENOMEM;
	control->server = server;
	control->listen_fd = -1;
	wl_list_init(&control->peers);
	wl_list_init(&control->connectors);
	int n = snprintf(control->path, sizeof(control->path), "%s/%s", dir, CONTROL_SOCKET_NAME);
	if (n < 0 || (size_t)n >= sizeof(control->path)) {
		free(control);
		return -ENAMETOOLONG;
	}
	int r = bind_socket(control->path, &control->listen_fd);
	if (r < 0) {
		free(control);
		return r;
	}
	control->listen_source =
	    wl_event_loop_add_fd(wl_display_get_event_loop(server->display), control->listen_fd,
				 WL_EVENT_READABLE, listen_dispatch, control);
	if (!control->listen_source) {
		unlink(control->path);
		close(control->listen_fd);
		free(control);
		return -ENOMEM;
	}
	server->control = control;
	return 0;
}

const char *control_path(const struct server *server)
{
	return server->control ? server->control->path : NULL;
}

void control_finish(struct server *server)
{
	struct control *control = server->control;
	if (!control)
		return;
	struct peer *p, *ptmp;
	wl_list_for_each_safe(p, ptmp, &control->peers, link) peer_free(p);
	struct connector *c, *ctmp;
	wl_list_for_each_safe(c, ctmp, &control->connectors, link) connector_free(c);
	wl_event_source_remove(control->listen_source);
	close(control->listen_fd);
	unlink(control->path);
	free(control);
	server->control = NULL;
}
