/* Qube identity: each qube's client arrives on a connection the compositor made for it. */
#include "label.h"
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

static struct qube *qube_find(struct server *server, const char *name, size_t len)
{
	struct qube *q;
	wl_list_for_each(q, &server->qubes, link)
	{
		if (strlen(q->name) == len && memcmp(q->name, name, len) == 0)
			return q;
	}
	return NULL;
}

static void qube_free(struct server *server, struct qube *q)
{
	clipboard_qube_gone(server, q);
	wl_list_remove(&q->link);
	free(q->spawn_command);
	free(q);
}

/* Nothing refers to an idle qube but the table: no client (so no window), no connector, no
 * client to start. Called only from a control request, never while a client is being
 * destroyed (its windows still point at their qube then). */
static bool qube_idle(const struct qube *q)
{
	return !q->permanent && !q->spawn_command && q->n_connections == 0 &&
	       q->n_connectors == 0 && q->pid <= 0;
}

/* Forgets every idle qube; returns how many. */
static size_t qubes_reap(struct server *server)
{
	struct qube *q, *tmp;
	size_t n = 0;
	wl_list_for_each_safe(q, tmp, &server->qubes, link)
	{
		if (!qube_idle(q))
			continue;
		qube_free(server, q);
		n++;
	}
	return n;
}

static int qube_new(struct server *server, const char *name, size_t len, const char *label,
		    struct qube **ret_qube)
{
	if (qube_name_check_len(name, len, NULL) < 0)
		return -EINVAL;
	if (qube_find(server, name, len))
		return -EEXIST;
	/* Disposables come and go with fresh names: the ones gone make room. */
	if ((size_t)wl_list_length(&server->qubes) >= MAX_QUBES && qubes_reap(server) == 0)
		return -E2BIG;
	uint32_t rgb;
	int r = label_rgb(label, &rgb);
	if (r < 0)
		return r;
	struct qube *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	memcpy(q->name, name, len);
	q->rgb = rgb;
	q->pid = -1;
	wl_list_init(&q->connections);
	wl_list_insert(server->qubes.prev, &q->link);
	*ret_qube = q;
	return 0;
}

int qube_add(struct server *server, const char *name_label)
{
	const char *colon = strchr(name_label, ':');
	if (!colon)
		return -EINVAL;
	struct qube *q;
	int r = qube_new(server, name_label, (size_t)(colon - name_label), colon + 1, &q);
	if (r < 0)
		return r;
	q->permanent = true;
	return 0;
}

int qube_register(struct server *server, const char *name, const char *label,
		  struct qube **ret_qube)
{
	size_t len = strlen(name);
	uint32_t rgb;
	int r = label_rgb(label, &rgb);
	if (r < 0)
		return r;
	struct qube *q = qube_find(server, name, len);
	if (q) {
		/* A qube's colour never changes under its windows. */
		if (q->rgb != rgb)
			return -EEXIST;
		*ret_qube = q;
		return 0;
	}
	return qube_new(server, name, len, label, ret_qube);
}

int qube_set_spawn(struct server *server, const char *name_command)
{
	const char *eq = strchr(name_command, '=');
	if (!eq || eq[1] == '\0')
		return -EINVAL;
	struct qube *q = qube_find(server, name_command, (size_t)(eq - name_command));
	if (!q)
		return -ENOENT;
	if (q->spawn_command)
		return -EEXIST;
	q->spawn_command = strdup(eq + 1);
	return q->spawn_command ? 0 : -ENOMEM;
}

static void handle_connection_destroy(struct wl_listener *listener, void *data)
{
	struct qube_connection *c = wl_container_of(listener, c, destroy);
	wl_list_remove(&c->destroy.link);
	wl_list_remove(&c->link);
	c->qube->n_connections--;
	free(c);
}

int qube_connect(struct server *server, struct qube *q, int *ret_fd)
{
	if (q->n_connections >= MAX_QUBE_CONNECTIONS)
		return -EMFILE;
	struct qube_connection *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		int r = -errno;
		free(c);
		return r;
	}
	c->client = wl_client_create(server->display, sv[0]);
	if (!c->client) {
		close(sv[0]);
		close(sv[1]);
		free(c);
		return -ENOMEM;
	}
	c->qube = q;
	c->destroy.notify = handle_connection_destroy;
	wl_client_add_destroy_listener(c->client, &c->destroy);
	wl_list_insert(&q->connections, &c->link);
	q->n_connections++;
	*ret_fd = sv[1];
	return 0;
}

static int qube_start_client(struct server *server, struct qube *q)
{
	_cleanup_close_ int peer = -1;
	int r = qube_connect(server, q, &peer);
	if (r < 0)
		return r;

	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* The child's copy must survive exec; every other descriptor of ours is O_CLOEXEC.
		 */
		int fd = dup(peer);
		if (fd < 0)
			_exit(127);
		char buf[16];
		snprintf(buf, sizeof(buf), "%d", fd);
		setenv("WAYLAND_SOCKET", buf, 1);
		unsetenv("WAYLAND_DISPLAY");
		/* Nested in X11, the parent X server would be a way around the compositor. */
		unsetenv("DISPLAY");
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		execl("/bin/sh", "sh", "-c", q->spawn_command, (char *)NULL);
		_exit(127);
	}
	q->pid = pid;
	return 0;
}

int qube_start_clients(struct server *server)
{
	struct qube *q;
	wl_list_for_each(q, &server->qubes, link)
	{
		if (!q->spawn_command)
			continue;
		int r = qube_start_client(server, q);
		if (r < 0)
			return r;
	}
	return 0;
}

const struct qube *qube_of_client(const struct server *server, const struct wl_client *client)
{
	/* Our destroy listener on a client marks it as one of a qube's connections. */
	struct wl_listener *l =
	    wl_client_get_destroy_listener((struct wl_client *)client, handle_connection_destroy);
	if (!l)
		return NULL;
	struct qube_connection *c = wl_container_of(l, c, destroy);
	return c->qube;
}

void qubes_free(struct server *server)
{
	struct qube *q, *tmp;
	wl_list_for_each_safe(q, tmp, &server->qubes, link)
	{
		if (q->pid > 0)
			kill(q->pid, SIGTERM);
		/* Connections still open are the display's clients; they outlive their qube only
		 * in server_finish, which destroys the clients first. */
		struct qube_connection *c, *ctmp;
		wl_list_for_each_safe(c, ctmp, &q->connections, link)
		{
			wl_list_remove(&c->destroy.link);
			wl_list_remove(&c->link);
			free(c);
		}
		qube_free(server, q);
	}
}
