/*
 * RPC calls made from inside the qube: `bulkhead-call` connects to the agent's local socket and
 * speaks the channel framing on stream 1; the agent forwards the call to the host on a stream
 * of its own (CHAN_STREAM_QUBE set) and relays frames both ways. The host decides; the agent
 * only relays, so a program here cannot do more through us than through the channel itself.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include "log.h"
#include "util.h"

/* A caller's queue holds at most one output window plus control frames. */
#define CLIENT_OUT_LIMIT (2 * CHAN_INITIAL_WINDOW + 4096)

struct rpc_client {
	int fd;
	uint32_t chan_stream; /* 0 until the call went to the host */
	bool closing;	      /* close once the queue is written */
	struct chan_decoder dec;
	struct chan_outbuf out;
};

int rpc_local_listen(struct agent *a)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	if (!a->rpc_socket || !*a->rpc_socket)
		return 0;
	if (strlen(a->rpc_socket) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, a->rpc_socket);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(a->rpc_socket);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	/* Every user of the qube may make calls; the policy on the host decides. */
	if (chmod(a->rpc_socket, 0666) < 0 || listen(fd, 16) < 0)
		return -errno;
	a->rpc_listen_fd = TAKE_FD(fd);
	return 0;
}

static void client_free(struct agent *a, size_t slot)
{
	struct rpc_client *c = a->rpc_clients[slot];
	if (!c)
		return;
	close(c->fd);
	chan_outbuf_finish(&c->out);
	free(c);
	a->rpc_clients[slot] = NULL;
}

static void client_send(struct rpc_client *c, uint16_t type, const void *p, size_t len)
{
	if (chan_outbuf_push(&c->out, type, 1, p, len) < 0)
		c->closing = true; /* it does not read: drop it once what is queued is gone */
}

static void client_fail(struct rpc_client *c, const char *msg)
{
	client_send(c, CHAN_ERROR, msg, strlen(msg));
	c->closing = true;
}

static struct rpc_client *client_by_stream(struct agent *a, uint32_t stream, size_t *ret_slot)
{
	for (size_t i = 0; i < AGENT_RPC_CLIENTS; i++)
		if (a->rpc_clients[i] && a->rpc_clients[i]->chan_stream == stream) {
			*ret_slot = i;
			return a->rpc_clients[i];
		}
	return NULL;
}

static uint32_t new_stream(struct agent *a)
{
	a->rpc_next = (a->rpc_next + 1) & ~CHAN_STREAM_QUBE;
	if (a->rpc_next == 0)
		a->rpc_next = 1;
	return CHAN_STREAM_QUBE | a->rpc_next;
}

/* The agent's own call at connect time: the host's clock, since a qube has no RTC to trust. */
void rpc_local_get_date(struct agent *a)
{
	static const char *const call[] = {"dom0", "bulkhead.GetDate"};
	uint8_t p[64];
	size_t len;

	if (chan_strings_encode(call, 2, p, sizeof(p), &len) < 0)
		return;
	a->date_stream = new_stream(a);
	agent_send(a, CHAN_RPC_CALL, a->date_stream, p, len);
	agent_send(a, CHAN_STDIN, a->date_stream, NULL, 0);
}

static void date_frame(struct agent *a, const struct chan_frame *f)
{
	if (f->type == CHAN_STDOUT && f->len > 0 && f->len < 32) {
		char buf[32];
		memcpy(buf, f->payload, f->len);
		buf[f->len] = '\0';
		char *end;
		errno = 0;
		long long secs = strtoll(buf, &end, 10);
		if (errno == 0 && end != buf && (*end == '\n' || *end == '\0') && secs > 0 &&
		    a->pid1) {
			struct timeval tv = {.tv_sec = (time_t)secs};
			if (settimeofday(&tv, NULL) == 0)
				log_info("clock set from the host");
		}
		uint8_t w[4];
		chan_u32_encode(w, f->len);
		agent_send(a, CHAN_WINDOW, f->stream, w, sizeof(w));
	}
	if (f->type == CHAN_EXIT || f->type == CHAN_ERROR)
		a->date_stream = 0;
}

void rpc_local_from_host(struct agent *a, const struct chan_frame *f)
{
	size_t slot;

	if (a->date_stream && f->stream == a->date_stream) {
		date_frame(a, f);
		return;
	}
	struct rpc_client *c = client_by_stream(a, f->stream, &slot);
	if (!c)
		return; /* the caller went away; late frames are harmless */
	switch (f->type) {
	case CHAN_STDOUT:
	case CHAN_STDERR:
	case CHAN_WINDOW:
		client_send(c, f->type, f->payload, f->len);
		break;
	case CHAN_EXIT:
	case CHAN_ERROR:
		client_send(c, f->type, f->payload, f->len);
		c->chan_stream = 0;
		c->closing = true;
		break;
	default:
		break;
	}
}

void rpc_local_host_gone(struct agent *a)
{
	a->date_stream = 0;
	for (size_t i = 0; i < AGENT_RPC_CLIENTS; i++) {
		struct rpc_client *c = a->rpc_clients[i];
		if (c && c->chan_stream) {
			c->chan_stream = 0;
			client_fail(c, "the host went away");
		}
	}
}

static void client_frame(struct agent *a, struct rpc_client *c, const struct chan_frame *f)
{
	if (f->stream != 1) {
		client_fail(c, "frames must use stream 1");
		return;
	}
	if (!c->chan_stream) {
		char storage[2 * (CHAN_STRING_MAX + 1)];
		const char *strs[2];
		if (f->type != CHAN_RPC_CALL || f->len > sizeof(storage) ||
		    chan_strings_parse(f->payload, f->len, 2, storage, strs) < 0) {
			client_fail(c, "expected RPC_CALL with TARGET and SERVICE");
			return;
		}
		if (!a->connected) {
			client_fail(c, "the host is not connected");
			return;
		}
		c->chan_stream = new_stream(a);
		agent_send(a, CHAN_RPC_CALL, c->chan_stream, f->payload, f->len);
		return;
	}
	switch (f->type) {
	case CHAN_STDIN:
	case CHAN_WINDOW:
	case CHAN_SIGNAL:
		agent_send(a, f->type, c->chan_stream, f->payload, f->len);
		return;
	default:
		client_fail(c, "unexpected frame");
	}
}

static void client_read(struct agent *a, size_t slot)
{
	struct rpc_client *c = a->rpc_clients[slot];
	uint8_t buf[16384];
	ssize_t n = read(c->fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* The caller is gone: its service has nobody to talk to. */
		if (c->chan_stream) {
			uint8_t sig[4];
			chan_u32_encode(sig, SIGKILL);
			agent_send(a, CHAN_SIGNAL, c->chan_stream, sig, sizeof(sig));
		}
		client_free(a, slot);
		return;
	}
	size_t off = 0;
	while (off < (size_t)n && !c->closing) {
		struct chan_frame f;
		size_t used;
		int r = chan_decoder_feed(&c->dec, buf + off, (size_t)n - off, &used, &f);
		off += used;
		if (r < 0) {
			client_fail(c, "malformed frame");
			return;
		}
		if (r > 0)
			client_frame(a, c, &f);
	}
}

static void accept_client(struct agent *a)
{
	int fd = accept4(a->rpc_listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	for (size_t i = 0; i < AGENT_RPC_CLIENTS; i++) {
		if (a->rpc_clients[i])
			continue;
		struct rpc_client *c = xcalloc(1, sizeof(*c));
		c->fd = fd;
		chan_decoder_init(&c->dec, CHAN_MAX_PAYLOAD);
		chan_outbuf_init(&c->out, CLIENT_OUT_LIMIT);
		a->rpc_clients[i] = c;
		return;
	}
	static const char busy[] = "too many calls at once";
	uint8_t hdr[CHAN_HEADER_SIZE];
	chan_header_encode(hdr, CHAN_ERROR, 1, sizeof(busy) - 1);
	(void)!write(fd, hdr, sizeof(hdr));
	(void)!write(fd, busy, sizeof(busy) - 1);
	close(fd);
}

void rpc_local_poll_fill(struct agent *a, struct pollfd *pfd, size_t *n, size_t *ret_first)
{
	*ret_first = *n;
	pfd[(*n)++] = (struct pollfd){.fd = a->rpc_listen_fd, .events = POLLIN};
	for (size_t i = 0; i < AGENT_RPC_CLIENTS; i++) {
		struct rpc_client *c = a->rpc_clients[i];
		short ev = 0;
		if (c) {
			if (!c->closing && chan_outbuf_pending(&c->out) < CHAN_INITIAL_WINDOW)
				ev |= POLLIN;
			if (chan_outbuf_pending(&c->out) > 0)
				ev |= POLLOUT;
		}
		pfd[(*n)++] = (struct pollfd){.fd = c ? c->fd : -1, .events = ev};
	}
}

void rpc_local_poll_handle(struct agent *a, const struct pollfd *pfd)
{
	if (pfd[0].revents & POLLIN)
		accept_client(a);
	for (size_t i = 0; i < AGENT_RPC_CLIENTS; i++) {
		const struct pollfd *p = &pfd[1 + i];
		struct rpc_client *c = a->rpc_clients[i];
		if (!c || p->fd != c->fd)
			continue;
		if (p->revents & POLLOUT && chan_outbuf_flush(&c->out, c->fd) < 0) {
			client_free(a, i);
			continue;
		}
		if (p->revents & (POLLIN | POLLHUP | POLLERR))
			client_read(a, i);
	}
	/* Flush what frames from the host queued, and close finished calls. */
	for (size_t i = 0; i < AGENT_RPC_CLIENTS; i++) {
		struct rpc_client *c = a->rpc_clients[i];
		if (!c)
			continue;
		int r = chan_outbuf_flush(&c->out, c->fd);
		if (r < 0 || (r == 0 && c->closing))
			client_free(a, i);
	}
}
