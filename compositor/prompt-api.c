/* Non-blocking client side of bulkheadd's API, for the compositor's event loop. */
#include "prompt-api.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "api-client.h"
#include "api.h"
#include "frame.h"
#include "util.h"

/* Requests are small; this only bounds what a stuck bulkheadd can make us hold. */
#define API_CONN_OUT_LIMIT (256u * 1024u)

struct api_conn {
	int fd;
	bool connected;
	struct wl_event_source *source;
	struct chan_decoder *dec;
	struct chan_outbuf out;
	api_conn_frame_fn on_frame;
	api_conn_closed_fn on_closed;
	void *data;
	unsigned busy;	  /* inside a callback */
	bool dead;	  /* freed by the owner while busy */
	bool closed_sent; /* on_closed was called */
};

const char *api_conn_socket_path(void)
{
	const char *p = getenv(BULKHEAD_ENV_SOCKET);
	return p && *p ? p : BULKHEAD_DEFAULT_SOCKET;
}

static void conn_destroy(struct api_conn *c)
{
	if (c->source)
		wl_event_source_remove(c->source);
	if (c->fd >= 0)
		close(c->fd);
	chan_outbuf_finish(&c->out);
	free(c->dec);
	free(c);
}

void api_conn_free(struct api_conn *c)
{
	if (!c)
		return;
	if (c->busy) {
		c->dead = true;
		return;
	}
	conn_destroy(c);
}

static void conn_fail(struct api_conn *c, int error)
{
	if (c->closed_sent)
		return;
	c->closed_sent = true;
	if (c->source) {
		wl_event_source_remove(c->source);
		c->source = NULL;
	}
	c->on_closed(c, error, c->data);
}

static void update_mask(struct api_conn *c)
{
	if (!c->source)
		return;
	uint32_t mask = WL_EVENT_READABLE;
	if (!c->connected || chan_outbuf_pending(&c->out) > 0)
		mask |= WL_EVENT_WRITABLE;
	wl_event_source_fd_update(c->source, mask);
}

void sigpipe_guard_begin(struct sigpipe_guard *g)
{
	sigset_t set, pending;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigpending(&pending);
	g->was_pending = sigismember(&pending, SIGPIPE) == 1;
	sigprocmask(SIG_BLOCK, &set, &g->old_mask);
}

void sigpipe_guard_end(struct sigpipe_guard *g)
{
	sigset_t set, pending;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigpending(&pending);
	if (!g->was_pending && sigismember(&pending, SIGPIPE) == 1) {
		const struct timespec zero = {0};
		while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	sigprocmask(SIG_SETMASK, &g->old_mask, NULL);
}

static int flush(struct api_conn *c)
{
	struct sigpipe_guard g;
	int r = 0;

	sigpipe_guard_begin(&g);
	while (chan_outbuf_pending(&c->out) > 0) {
		r = chan_outbuf_flush(&c->out, c->fd);
		if (r != 0)
			break;
	}
	sigpipe_guard_end(&g);
	return r < 0 ? r : 0;
}

/* Returns 0, or -errno when the connection is over. */
static int read_frames(struct api_conn *c)
{
	uint8_t buf[8192];
	ssize_t n = read(c->fd, buf, sizeof(buf));
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (n == 0)
		return -EPIPE;
	size_t off = 0;
	while (off < (size_t)n) {
		struct chan_frame f;
		size_t used;
		int r = chan_decoder_feed(c->dec, buf + off, (size_t)n - off, &used, &f);
		off += used;
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		if (f.type != CHAN_API_REPLY && f.type != CHAN_API_EVENT)
			return -EBADMSG;
		struct json_tokener *tok = json_tokener_new_ex(8);
		if (!tok)
			return -ENOMEM;
		struct json_object *o =
		    json_tokener_parse_ex(tok, (const char *)f.payload, (int)f.len);
		bool good = json_tokener_get_error(tok) == json_tokener_success && o &&
			    json_object_is_type(o, json_type_object);
		json_tokener_free(tok);
		if (!good) {
			json_object_put(o);
			return -EBADMSG;
		}
		c->on_frame(c, f.type, o, c->data);
		json_object_put(o);
		if (c->dead || c->closed_sent)
			return 0;
	}
	return 0;
}

static int handle_event(int fd, uint32_t mask, void *data)
{
	struct api_conn *c = data;
	int r = 0;

	c->busy++;
	if (!c->connected && (mask & (WL_EVENT_WRITABLE | WL_EVENT_ERROR | WL_EVENT_HANGUP))) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err)
			r = -err;
		else
			c->connected = true;
	}
	if (r == 0 && c->connected && (mask & WL_EVENT_WRITABLE))
		r = flush(c);
	if (r == 0 && c->connected && (mask & WL_EVENT_READABLE))
		r = read_frames(c);
	if (r == 0 && !c->dead && !c->closed_sent && (mask & (WL_EVENT_HANGUP | WL_EVENT_ERROR)))
		r = -EPIPE;
	if (r < 0 && !c->dead)
		conn_fail(c, r);
	else if (!c->dead)
		update_mask(c);
	c->busy--;
	if (c->dead)
		conn_destroy(c);
	return 0;
}

int api_conn_open(struct wl_event_loop *loop, const char *path, api_conn_frame_fn on_frame,
		  api_conn_closed_fn on_closed, void *data, struct api_conn **ret)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = strlen(path);

	if (len >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, len + 1);

	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	bool connected = true;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		/* A unix socket connects at once unless the listener's backlog is full. */
		if (errno != EAGAIN && errno != EINPROGRESS && errno != EINTR)
			return -errno;
		connected = false;
	}

	struct api_conn *c = xcalloc(1, sizeof(*c));
	c->dec = xmalloc(sizeof(*c->dec));
	chan_decoder_init(c->dec, CHAN_MAX_PAYLOAD);
	chan_outbuf_init(&c->out, API_CONN_OUT_LIMIT);
	c->connected = connected;
	c->on_frame = on_frame;
	c->on_closed = on_closed;
	c->data = data;
	c->source =
	    wl_event_loop_add_fd(loop, fd, WL_EVENT_READABLE | WL_EVENT_WRITABLE, handle_event, c);
	if (!c->source) {
		c->fd = -1;
		conn_destroy(c);
		return -ENOMEM;
	}
	c->fd = TAKE_FD(fd);
	*ret = c;
	return 0;
}

int api_conn_request(struct api_conn *c, const char *call, const char *dest, const char *arg,
		     struct json_object *payload)
{
	if (c->closed_sent || c->dead)
		return -EPIPE;
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = api_request_encode(call, dest, arg, payload, &text, &len);
	if (r < 0)
		return r;
	r = chan_outbuf_push(&c->out, CHAN_API_REQUEST, 0, text, len);
	if (r < 0)
		return r;
	update_mask(c);
	return 0;
}
