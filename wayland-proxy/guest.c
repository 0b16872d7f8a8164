/* The Wayland proxy's guest half: runs in the qube, serves an ordinary Wayland socket, and
 * carries each client's messages over the link (link.h) to the host half. Buffers cannot cross:
 * wl_shm pools are mapped here and their damaged parts sent as LINK_SHM_WRITE before each
 * commit (shm.c); keymaps and clipboard pipes are rebuilt from LINK_FD_* frames.
 *
 * One thread, poll(). Nothing blocks on a client: every descriptor is non-blocking, each
 * client's unsent events wait in its own capped queue, and a client that lets it overflow is
 * dropped alone. The link is shared: while it is congested no client input is read, and a commit
 * of a large buffer waits for the link to drain. */
#include "proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fd-pass.h"
#include "link-io.h"
#include "link.h"
#include "log.h"
#include "shm.h"
#include "unaligned.h"
#include "util.h"
#include "wire.h"

#define CLIENT_IN_SIZE	   (64u << 10) /* unparsed client bytes; one message is at most 4 KiB */
#define CLIENT_MAX_FDS	   64	       /* received from a client, not yet consumed */
#define CLIENT_OUT_MAX	   (8u << 20)  /* unsent events to one client */
#define CLIENT_OUT_FDS	   256	       /* and their descriptors */
#define EVENT_FDS_MAX	   16	       /* announced by the host, not yet used by an event */
#define MAX_TRANSFERS	   16	       /* clipboard pipes per client */
#define PIPE_CHUNK	   (64u << 10)
#define SENDMSG_MAX_FDS	   28	       /* libwayland's receive limit per message chunk */
#define SKB_SPLIT_MIN	   (16u << 10) /* no socket chunk but a sendmsg's last is shorter */
#define LINK_HIGH_WATER	   (4u << 20)  /* above this, no client or pipe input is read */
#define LINK_SHM_WATER	   (16u << 20) /* a commit's frames wait for the link below this */
#define LINK_SOCKET_BUFFER (4 << 20)   /* SO_SNDBUF of a socket link */

struct out_fd {
	uint64_t pos; /* stream position of the message it goes with */
	int fd;
};

/* Events waiting for a client. */
struct outq {
	uint8_t *buf;
	size_t start, end, cap;
	uint64_t sent; /* stream position of buf[start] */
	struct out_fd fds[CLIENT_OUT_FDS];
	unsigned nfds;
};

struct transfer {
	uint32_t id;
	int fd;
	/* true: the host announced it (wl_data_source.send); we read our pipe's read end and
	 * send PIPE_DATA. false: we announced it (wl_data_offer.receive); PIPE_DATA from the
	 * host goes into the client's fd. */
	bool from_host;
	bool ended;
	uint64_t bytes;
	uint8_t *pending;
	size_t pending_len;
};

struct client {
	uint32_t conn;
	int fd;
	struct wire_objects *objs;
	struct shm_tracker *shm;
	uint8_t in[CLIENT_IN_SIZE];
	size_t in_len;
	int in_fds[CLIENT_MAX_FDS];
	unsigned n_in_fds;
	int ev_fds[EVENT_FDS_MAX];
	unsigned n_ev_fds;
	struct outq out;
	struct transfer transfers[MAX_TRANSFERS];
	uint32_t next_transfer;
	/* requests read but not yet sent as one LINK_WL frame */
	uint8_t *batch;
	size_t batch_len;
	bool batch_pool_change; /* holds a wl_shm.create_pool or wl_shm_pool.resize */
};

static struct {
	int link_fd;
	struct link_reader *reader;
	struct link_writer *writer;
	bool hello;
	int listen_fd;
	struct client *conns[LINK_MAX_CONNS + 1];
	uint32_t last_conn;
} g = {.link_fd = -1, .listen_fd = -1};

/* A link failure ends the guest half: every client goes with it, and the agent restarts us. */
static void link_fatal(const char *what, int r)
{
	log_error("link: %s: %s", what, strerror(-r));
	exit(1);
}

static void link_send(uint32_t type, uint32_t conn, const void *a, size_t alen, const void *b,
		      size_t blen)
{
	int r = link_write_frame(g.writer, type, conn, a, alen, b, blen);

	if (r < 0)
		link_fatal("write", r);
}

static void link_send_u32(uint32_t type, uint32_t conn, uint32_t v)
{
	uint8_t p[4];

	unaligned_write_le32(p, v);
	link_send(type, conn, p, sizeof(p), NULL, 0);
}

static void link_wait_writable(void)
{
	struct pollfd p = {.fd = g.link_fd, .events = POLLOUT};

	if (poll(&p, 1, -1) < 0 && errno != EINTR)
		link_fatal("poll", -errno);
}

/* Waits until the link's queue is at most limit; only commits call this. */
static void link_drain(size_t limit)
{
	while (link_queued(g.writer) > limit) {
		int r = link_flush(g.writer);

		if (r < 0)
			link_fatal("write", r);
		if (r == 0)
			break;
		link_wait_writable();
	}
}

static void batch_flush(struct client *c)
{
	if (c->batch_len == 0)
		return;
	link_send(LINK_WL, c->conn, c->batch, c->batch_len, NULL, 0);
	c->batch_len = 0;
	c->batch_pool_change = false;
}

static void batch_add(struct client *c, const uint8_t *msg, size_t len)
{
	if (c->batch_len + len > LINK_MAX_PAYLOAD)
		batch_flush(c);
	memcpy(c->batch + c->batch_len, msg, len);
	c->batch_len += len;
}

static void transfer_close(struct transfer *t)
{
	closep(&t->fd);
	t->fd = -1;
	free(t->pending);
	*t = (struct transfer){.fd = -1};
}

static void client_free(struct client *c)
{
	if (!c)
		return;
	g.conns[c->conn] = NULL;
	closep(&c->fd);
	for (unsigned i = 0; i < c->n_in_fds; i++)
		close(c->in_fds[i]);
	for (unsigned i = 0; i < c->n_ev_fds; i++)
		close(c->ev_fds[i]);
	for (unsigned i = 0; i < c->out.nfds; i++)
		close(c->out.fds[i].fd);
	for (unsigned i = 0; i < MAX_TRANSFERS; i++)
		transfer_close(&c->transfers[i]);
	free(c->out.buf);
	free(c->batch);
	shm_tracker_free(c->shm);
	wire_objects_free(c->objs);
	free(c);
}

/* Ends a client; tells the host unless the host ended it. */
static void client_close(struct client *c, const char *reason, bool tell_host)
{
	log_info("client %u closed: %s", c->conn, reason);
	if (tell_host) {
		batch_flush(c);
		link_send(LINK_CONN_CLOSE, c->conn, reason, strlen(reason), NULL, 0);
	}
	client_free(c);
}

static int client_new(int fd)
{
	struct client *c;
	uint32_t conn = 0;

	/* Ids go round, so that late frames for a closed conn rarely meet a new client. */
	for (uint32_t k = 1; k <= LINK_MAX_CONNS; k++) {
		uint32_t id = (g.last_conn + k - 1) % LINK_MAX_CONNS + 1;

		if (!g.conns[id]) {
			conn = id;
			break;
		}
	}
	if (!conn)
		return -EMFILE;
	c = xcalloc(1, sizeof(*c));
	c->conn = conn;
	c->fd = fd;
	c->objs = wire_objects_new();
	if (!c->objs) {
		free(c);
		return -ENOMEM;
	}
	c->shm = shm_tracker_new();
	c->batch = xmalloc(LINK_MAX_PAYLOAD);
	for (unsigned i = 0; i < MAX_TRANSFERS; i++)
		c->transfers[i].fd = -1;
	g.conns[conn] = c;
	g.last_conn = conn;
	link_send(LINK_CONN_OPEN, conn, NULL, 0, NULL, 0);
	return 0;
}

/* --- events to a client --- */

static int outq_add(struct outq *q, const uint8_t *msg, size_t len, const int *fds, unsigned nfds)
{
	uint64_t pos = q->sent + (q->end - q->start);

	if (q->end - q->start + len > CLIENT_OUT_MAX || q->nfds + nfds > CLIENT_OUT_FDS)
		return -ENOBUFS;
	if (q->cap - q->end < len) {
		/* An empty queue may have no buffer yet: memmove's pointers must be valid. */
		if (q->end > q->start)
			memmove(q->buf, q->buf + q->start, q->end - q->start);
		q->end -= q->start;
		q->start = 0;
		if (q->cap - q->end < len) {
			q->cap = q->end + len > 2 * q->cap ? q->end + len : 2 * q->cap;
			q->buf = xrealloc(q->buf, q->cap);
		}
	}
	memcpy(q->buf + q->end, msg, len);
	q->end += len;
	for (unsigned i = 0; i < nfds; i++)
		q->fds[q->nfds++] = (struct out_fd){pos, fds[i]};
	return 0;
}

/* 0 when everything went out or the socket is full, -errno when the client is gone. */
static int client_flush(struct client *c)
{
	struct outq *q = &c->out;

	while (q->end > q->start) {
		size_t len = q->end - q->start;
		unsigned nfds = 0;
		int fds[SENDMSG_MAX_FDS];
		ssize_t k;

		/* Descriptors go with (or before) the bytes of their message. */
		while (nfds < q->nfds && q->fds[nfds].pos < q->sent + len) {
			if (nfds == SENDMSG_MAX_FDS) {
				len = q->fds[nfds].pos - q->sent;
				break;
			}
			fds[nfds] = q->fds[nfds].fd;
			nfds++;
		}
		struct iovec iov = {q->buf + q->start, len};
		k = send_fds(c->fd, &iov, 1, fds, nfds, MSG_DONTWAIT);
		if (k == -EAGAIN)
			return 0;
		if (k < 0)
			return (int)k;
		for (unsigned i = 0; i < nfds; i++)
			close(q->fds[i].fd);
		memmove(q->fds, q->fds + nfds, (q->nfds - nfds) * sizeof(q->fds[0]));
		q->nfds -= nfds;
		q->start += k;
		q->sent += k;
	}
	q->start = q->end = 0;
	return 0;
}

static struct transfer *transfer_find(struct client *c, uint32_t id, bool from_host)
{
	for (unsigned i = 0; i < MAX_TRANSFERS; i++)
		if (c->transfers[i].fd >= 0 && c->transfers[i].id == id &&
		    c->transfers[i].from_host == from_host)
			return &c->transfers[i];
	return NULL;
}

static struct transfer *transfer_slot(struct client *c)
{
	for (unsigned i = 0; i < MAX_TRANSFERS; i++)
		if (c->transfers[i].fd < 0)
			return &c->transfers[i];
	return NULL;
}

static int event_fd_push(struct client *c, int fd)
{
	if (c->n_ev_fds == EVENT_FDS_MAX) {
		close(fd);
		return -ENOBUFS;
	}
	c->ev_fds[c->n_ev_fds++] = fd;
	return 0;
}

/* LINK_FD_FILE: a sealed memfd holding the contents (wl_keyboard.keymap). */
static int host_fd_file(struct client *c, const uint8_t *data, uint32_t len)
{
	_cleanup_close_ int fd = -1;

	if (len > LINK_MAX_FILE_BYTES)
		return -EFBIG;
	fd = memfd_create("bulkhead-wayland-file", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (write_all(fd, data, len) < 0 || lseek(fd, 0, SEEK_SET) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		return -errno;
	return event_fd_push(c, TAKE_FD(fd));
}

/* LINK_FD_PIPE from the host (wl_data_source.send): the client writes into our pipe; what it
 * writes goes back as PIPE_DATA. */
static int host_fd_pipe(struct client *c, uint32_t id)
{
	struct transfer *t = transfer_slot(c);
	int p[2];

	if (!(id & LINK_PIPE_HOST_ID))
		return -EPROTO;
	if (!t || transfer_find(c, id, true))
		return -EBUSY;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	*t = (struct transfer){.id = id, .fd = p[0], .from_host = true};
	return event_fd_push(c, p[1]);
}

static void transfer_read(struct client *c, struct transfer *t)
{
	uint8_t buf[4 + PIPE_CHUNK];
	uint32_t id = t->id;
	ssize_t n;

	unaligned_write_le32(buf, id);
	n = read(t->fd, buf + 4, PIPE_CHUNK);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0 && t->bytes + n <= LINK_MAX_PIPE_BYTES) {
		t->bytes += n;
		link_send(LINK_PIPE_DATA, c->conn, buf, 4 + n, NULL, 0);
		return;
	}
	/* End of data, an error, or more than the cap: the receiver gets what came in time. */
	if (n > 0)
		log_warn("client %u: clipboard transfer over %u bytes cut", c->conn,
			 LINK_MAX_PIPE_BYTES);
	transfer_close(t);
	link_send_u32(LINK_PIPE_END, c->conn, id);
}

/* Writes PIPE_DATA the host sent into the client's fd (wl_data_offer.receive). */
static void transfer_write(struct client *c, struct transfer *t)
{
	while (t->pending_len > 0) {
		ssize_t n = write(t->fd, t->pending, t->pending_len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			/* The client closed its end: tell the host to stop. */
			link_send_u32(LINK_PIPE_END, c->conn, t->id);
			transfer_close(t);
			return;
		}
		memmove(t->pending, t->pending + n, t->pending_len - n);
		t->pending_len -= n;
	}
	if (t->ended)
		transfer_close(t);
}

static void host_pipe_data(struct client *c, const uint8_t *p, uint32_t len)
{
	struct transfer *t;

	if (len < 4 || !(t = transfer_find(c, unaligned_read_le32(p), false)))
		return;
	len -= 4;
	if (t->bytes + len > LINK_MAX_PIPE_BYTES) {
		link_send_u32(LINK_PIPE_END, c->conn, t->id);
		transfer_close(t);
		return;
	}
	t->bytes += len;
	t->pending = xrealloc(t->pending, t->pending_len + len);
	memcpy(t->pending + t->pending_len, p + 4, len);
	t->pending_len += len;
	transfer_write(c, t);
}

static void host_pipe_end(struct client *c, const uint8_t *p, uint32_t len)
{
	struct transfer *t;
	uint32_t id;

	if (len < 4)
		return;
	id = unaligned_read_le32(p);
	if ((t = transfer_find(c, id, !!(id & LINK_PIPE_HOST_ID))) && !t->from_host) {
		t->ended = true;
		transfer_write(c, t);
	} else if (t) {
		/* The host aborts a transfer it announced. */
		transfer_close(t);
	}
}

/* LINK_WL from the host: events, checked against the tables and passed on with their fds. */
static int host_events(struct client *c, const uint8_t *p, uint32_t len)
{
	while (len > 0) {
		struct wire_msg msg;
		uint16_t size;
		int r = wire_peek(p, len, NULL, NULL, &size);

		if (r < 0 || size > len)
			return -EBADMSG;
		r = wire_parse(c->objs, proxy_globals, p, size, false, &msg);
		if (r < 0)
			return r;
		if (msg.nfds > c->n_ev_fds)
			return -EBADF;
		r = outq_add(&c->out, p, size, c->ev_fds, msg.nfds);
		if (r < 0)
			return r;
		memmove(c->ev_fds, c->ev_fds + msg.nfds, (c->n_ev_fds - msg.nfds) * sizeof(int));
		c->n_ev_fds -= msg.nfds;
		r = wire_objects_apply(c->objs, &msg, LINK_MAX_OBJECTS);
		if (r < 0)
			return r;
		p += size;
		len -= size;
	}
	return 0;
}

static void handle_link_frame(const struct link_frame *f)
{
	struct client *c;
	int r = 0;

	if (!g.hello) {
		if (f->type != LINK_HELLO || f->len < 4 ||
		    unaligned_read_le32(f->payload) != LINK_VERSION) {
			log_error("link: the host half does not speak link version %u",
				  LINK_VERSION);
			exit(1);
		}
		g.hello = true;
		return;
	}
	if (f->conn == 0 || f->conn > LINK_MAX_CONNS || !(c = g.conns[f->conn]))
		return;
	switch (f->type) {
	case LINK_CONN_CLOSE:
		/* What the compositor said last (a protocol error, typically) still goes out, as
		 * far as the client takes it now. */
		(void)client_flush(c);
		client_close(c, "closed by the host", false);
		return;
	case LINK_WL:
		r = host_events(c, f->payload, f->len);
		break;
	case LINK_FD_FILE:
		r = host_fd_file(c, f->payload, f->len);
		break;
	case LINK_FD_PIPE:
		r = f->len == 4 ? host_fd_pipe(c, unaligned_read_le32(f->payload)) : -EBADMSG;
		break;
	case LINK_PIPE_DATA:
		host_pipe_data(c, f->payload, f->len);
		break;
	case LINK_PIPE_END:
		host_pipe_end(c, f->payload, f->len);
		break;
	default:
		r = -EBADMSG;
	}
	if (r < 0) {
		char reason[96];

		if (r == -ENOBUFS)
			snprintf(reason, sizeof(reason), "not reading its events");
		else
			snprintf(reason, sizeof(reason), "bad frame %u from the host: %s", f->type,
				 strerror(-r));
		client_close(c, reason, true);
		return;
	}
	r = client_flush(c);
	if (r < 0)
		client_close(c, "gone", true);
}

/* --- requests from a client --- */

struct request {
	struct client *c;
	const struct wire_msg *msg;
	const uint8_t *bytes;
	const int *fds;	   /* msg->nfds of them, owned by the handler */
	bool hold;	   /* not forwarded (a held-back wl_shm_pool.destroy) */
	uint32_t due_pool; /* a held-back pool destroy to send after this request */
};

/* Writes all of buf to the link, waiting for it; the writer's queue must be empty. */
static void link_write_direct(const void *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(g.link_fd, buf, len);

		if (n < 0 && errno == EAGAIN)
			link_wait_writable();
		else if (n < 0 && errno != EINTR)
			link_fatal("write", -errno);
		else if (n > 0) {
			buf = (const uint8_t *)buf + n;
			len -= n;
		}
	}
}

/* A LINK_SHM_WRITE whose rows come from the client's pool file: the kernel copies them onto the
 * link. The frame goes out whole before anything else, so the writer's queue is drained first
 * and the frame written past it. A file shorter than promised is padded (the frame is already
 * announced) and fails the commit. */
static int emit_from_file(struct client *c, const void *hdr, size_t len, int fd, uint64_t offset)
{
	uint8_t head[LINK_HEADER_SIZE + SHM_WRITE_HEADER_SIZE];
	off_t off = offset;
	bool short_file = false;

	unaligned_write_le32(head, LINK_SHM_WRITE);
	unaligned_write_le32(head + 4, c->conn);
	unaligned_write_le32(head + 8, SHM_WRITE_HEADER_SIZE + len);
	memcpy(head + LINK_HEADER_SIZE, hdr, SHM_WRITE_HEADER_SIZE);
	link_drain(0);
	link_write_direct(head, sizeof(head));
	while (len > 0) {
		ssize_t n = short_file ? -1 : sendfile(g.link_fd, fd, &off, len);

		if (n > 0) {
			len -= n;
			continue;
		}
		if (n < 0 && errno == EAGAIN) {
			link_wait_writable();
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		/* No sendfile for this file, or its end: read what there is, pad the rest. */
		uint8_t buf[64 << 10];
		size_t want = len < sizeof(buf) ? len : sizeof(buf);
		ssize_t k = short_file ? 0 : pread(fd, buf, want, off);

		if (k <= 0) {
			short_file = true;
			k = want;
			memset(buf, 0, want);
		}
		off += k;
		link_write_direct(buf, k);
		len -= k;
	}
	return short_file ? -EFAULT : 0;
}

static int emit_shm_write(void *userdata, const void *hdr, const void *data, size_t len, int fd,
			  uint64_t fd_offset)
{
	struct client *c = userdata;

	if (!data)
		return emit_from_file(c, hdr, len, fd, fd_offset);
	link_send(LINK_SHM_WRITE, c->conn, hdr, SHM_WRITE_HEADER_SIZE, data, len);
	link_drain(LINK_SHM_WATER);
	return 0;
}

static int req_create_pool(struct request *q)
{
	int32_t size = q->msg->args[2].i;
	int r;

	if (size <= 0 || (uint32_t)size > LINK_MAX_POOL_BYTES)
		return -EFBIG;
	r = shm_pool_new(q->c->shm, q->msg->args[0].u, q->fds[0], size);
	if (r < 0)
		return r;
	batch_flush(q->c);
	link_send_u32(LINK_FD_SHM, q->c->conn, size);
	q->c->batch_pool_change = true;
	return 0;
}

static int req_pool_resize(struct request *q)
{
	q->c->batch_pool_change = true;
	return shm_pool_resize(q->c->shm, q->msg->id, q->msg->args[0].i);
}

static int req_pool_destroy(struct request *q)
{
	int r = shm_pool_destroy(q->c->shm, q->msg->id);

	if (r < 0)
		return r;
	q->hold = r > 0;
	return 0;
}

static int req_create_buffer(struct request *q)
{
	const struct wire_arg *a = q->msg->args;

	return shm_buffer_new(q->c->shm, q->msg->id, a[0].u, a[1].i, a[2].i, a[3].i, a[4].i,
			      a[5].u);
}

static int req_buffer_destroy(struct request *q)
{
	shm_buffer_destroy(q->c->shm, q->msg->id, &q->due_pool);
	return 0;
}

static int req_create_surface(struct request *q)
{
	return shm_surface_new(q->c->shm, q->msg->args[0].u);
}

static int req_surface_destroy(struct request *q)
{
	shm_surface_destroy(q->c->shm, q->msg->id);
	return 0;
}

static int req_attach(struct request *q)
{
	shm_surface_attach(q->c->shm, q->msg->id, q->msg->args[0].u);
	return 0;
}

static int req_damage(struct request *q)
{
	const struct wire_arg *a = q->msg->args;

	shm_surface_damage(q->c->shm, q->msg->id, a[0].i, a[1].i, a[2].i, a[3].i, false);
	return 0;
}

static int req_damage_buffer(struct request *q)
{
	const struct wire_arg *a = q->msg->args;

	shm_surface_damage(q->c->shm, q->msg->id, a[0].i, a[1].i, a[2].i, a[3].i, true);
	return 0;
}

static int req_set_scale(struct request *q)
{
	shm_surface_set_scale(q->c->shm, q->msg->id, q->msg->args[0].i);
	return 0;
}

static int req_set_transform(struct request *q)
{
	shm_surface_set_transform(q->c->shm, q->msg->id, q->msg->args[0].i);
	return 0;
}

static int req_commit(struct request *q)
{
	/* The commit follows its SHM_WRITE frames; the requests before it may go after them,
	 * except a pool's creation or growth, which the frames need on the host already. */
	if (q->c->batch_pool_change)
		batch_flush(q->c);
	return shm_surface_commit(q->c->shm, q->msg->id, emit_shm_write, q->c);
}

static int req_get_viewport(struct request *q)
{
	return shm_viewport_new(q->c->shm, q->msg->args[0].u, q->msg->args[1].u);
}

static int req_viewport_destroy(struct request *q)
{
	shm_viewport_destroy(q->c->shm, q->msg->id);
	return 0;
}

static int req_viewport_source(struct request *q)
{
	const struct wire_arg *a = q->msg->args;
	const uint32_t unset = (uint32_t)wl_fixed_from_int(-1);
	bool set = !(a[0].u == unset && a[1].u == unset && a[2].u == unset && a[3].u == unset);

	shm_viewport_set(q->c->shm, q->msg->id, true, set);
	return 0;
}

static int req_viewport_destination(struct request *q)
{
	const struct wire_arg *a = q->msg->args;

	shm_viewport_set(q->c->shm, q->msg->id, false, !(a[0].i == -1 && a[1].i == -1));
	return 0;
}

/* wl_data_offer.receive: the host's pipe data comes back as PIPE_DATA into the client's fd. */
static int req_offer_receive(struct request *q)
{
	struct client *c = q->c;
	struct transfer *t = transfer_slot(c);
	int fd = q->fds[0];

	if (!t) {
		close(fd);
		return -EBUSY;
	}
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		close(fd);
		return -errno;
	}
	/* Our ids leave LINK_PIPE_HOST_ID clear, so a PIPE_END from the host names one transfer. */
	c->next_transfer = (c->next_transfer + 1) & ~LINK_PIPE_HOST_ID;
	*t = (struct transfer){.id = c->next_transfer, .fd = fd};
	batch_flush(c);
	link_send_u32(LINK_FD_PIPE, c->conn, t->id);
	return 0;
}

struct request_handler {
	const struct wl_interface *iface;
	uint16_t opcode;
	int (*fn)(struct request *q);
};

/* The requests whose fds or buffer contents we carry; everything else passes unchanged. */
static const struct request_handler request_handlers[] = {
    {&wl_shm_interface, WL_SHM_CREATE_POOL, req_create_pool},
    {&wl_shm_pool_interface, WL_SHM_POOL_CREATE_BUFFER, req_create_buffer},
    {&wl_shm_pool_interface, WL_SHM_POOL_DESTROY, req_pool_destroy},
    {&wl_shm_pool_interface, WL_SHM_POOL_RESIZE, req_pool_resize},
    {&wl_buffer_interface, WL_BUFFER_DESTROY, req_buffer_destroy},
    {&wl_compositor_interface, WL_COMPOSITOR_CREATE_SURFACE, req_create_surface},
    {&wl_surface_interface, WL_SURFACE_DESTROY, req_surface_destroy},
    {&wl_surface_interface, WL_SURFACE_ATTACH, req_attach},
    {&wl_surface_interface, WL_SURFACE_DAMAGE, req_damage},
    {&wl_surface_interface, WL_SURFACE_DAMAGE_BUFFER, req_damage_buffer},
    {&wl_surface_interface, WL_SURFACE_SET_BUFFER_SCALE, req_set_scale},
    {&wl_surface_interface, WL_SURFACE_SET_BUFFER_TRANSFORM, req_set_transform},
    {&wl_surface_interface, WL_SURFACE_COMMIT, req_commit},
    {&wp_viewporter_interface, WP_VIEWPORTER_GET_VIEWPORT, req_get_viewport},
    {&wp_viewport_interface, WP_VIEWPORT_DESTROY, req_viewport_destroy},
    {&wp_viewport_interface, WP_VIEWPORT_SET_SOURCE, req_viewport_source},
    {&wp_viewport_interface, WP_VIEWPORT_SET_DESTINATION, req_viewport_destination},
    {&wl_data_offer_interface, WL_DATA_OFFER_RECEIVE, req_offer_receive},
};

static int client_request(struct client *c, const uint8_t *bytes, uint16_t size)
{
	struct wire_msg msg;
	const struct request_handler *h = NULL;
	int fd = -1;
	struct request q = {.c = c, .msg = &msg, .bytes = bytes, .fds = &fd};
	int r;

	r = wire_parse(c->objs, proxy_globals, bytes, size, true, &msg);
	if (r < 0)
		return r;
	if (msg.nfds > c->n_in_fds)
		return -EBADF;
	for (size_t i = 0; i < ARRAY_SIZE(request_handlers); i++)
		if (request_handlers[i].iface == msg.iface &&
		    request_handlers[i].opcode == msg.opcode) {
			h = &request_handlers[i];
			break;
		}
	/* Only the handlers that carry descriptors take them (one each). */
	if (msg.nfds > 1 ||
	    (msg.nfds > 0 && (!h || (h->fn != req_create_pool && h->fn != req_offer_receive))))
		return -EBADF;
	/* The handler owns the descriptor now, also when it fails. */
	if (msg.nfds) {
		fd = c->in_fds[0];
		c->n_in_fds--;
		memmove(c->in_fds, c->in_fds + 1, c->n_in_fds * sizeof(int));
	}
	if (h) {
		r = h->fn(&q);
		if (r < 0)
			return r;
	}
	if (!q.hold)
		batch_add(c, bytes, size);
	r = wire_objects_apply(c->objs, &msg, LINK_MAX_OBJECTS);
	if (r < 0)
		return r;
	if (q.due_pool) {
		uint8_t destroy[WIRE_HEADER_SIZE];

		/* A Wayland message: native order, like the client's own around it. */
		unaligned_write_ne32(destroy, q.due_pool);
		unaligned_write_ne32(destroy + 4,
				     (uint32_t)WIRE_HEADER_SIZE << 16 | WL_SHM_POOL_DESTROY);
		batch_add(c, destroy, sizeof(destroy));
	}
	return 0;
}

/* Reads what the client sent; returns -errno when it must go. */
static int client_read(struct client *c)
{
	struct iovec iov = {c->in + c->in_len, sizeof(c->in) - c->in_len};
	size_t room = CLIENT_MAX_FDS - c->n_in_fds, got;
	size_t pos = 0;
	bool full;
	ssize_t n;
	int r = 0;

	/* At most what libwayland sends with one message, and what the client may have waiting. */
	n = recv_fds(c->fd, &iov, 1, c->in_fds + c->n_in_fds,
		     room < SENDMSG_MAX_FDS ? room : SENDMSG_MAX_FDS, &got, MSG_DONTWAIT);
	if (n == -EAGAIN)
		return 0;
	if (n == -EBADMSG) /* more descriptors than that: all closed, and the client goes */
		return -EMFILE;
	if (n < 0)
		return (int)n;
	c->n_in_fds += got;
	if (n == 0)
		return -EPIPE;
	full = (size_t)n == iov.iov_len;
	c->in_len += n;
	for (;;) {
		uint16_t size;

		r = wire_peek(c->in + pos, c->in_len - pos, NULL, NULL, &size);
		if (r == -EAGAIN || (r == 0 && size > c->in_len - pos))
			break;
		if (r < 0)
			return r;
		r = client_request(c, c->in + pos, size);
		if (r < 0)
			return r;
		pos += size;
	}
	/* Descriptors no message can take any more end the client (link.h: they could not be
	 * announced to the host). When that is certain: Linux hands a sendmsg's descriptors out
	 * with its first chunk of bytes (skb) and ends the read at that chunk's end, or where
	 * our buffer is full. libwayland sends all descriptors of a flush with that flush's only
	 * sendmsg (a partial write sends the rest later, without them). A sendmsg goes as one
	 * chunk unless it is longer than a chunk can be (half the send buffer or 32 KiB and a
	 * page, both far above SKB_SPLIT_MIN; libwayland flushes 4 KiB by default), so every
	 * chunk but a sendmsg's last is at least SKB_SPLIT_MIN long. A read that did not fill
	 * our buffer and brought fewer bytes therefore holds no chunk with more of a flush to
	 * come: every flush begun is here whole, and with no partial message left, fds left over
	 * belong to no message. Otherwise they may belong to bytes still on their way; they wait,
	 * up to one flush's worth (more cannot be outstanding, since a flush's fds come only after
	 * the previous flush's bytes). */
	if (c->n_in_fds > SENDMSG_MAX_FDS ||
	    (c->n_in_fds > 0 && pos == c->in_len && (size_t)n < SKB_SPLIT_MIN && !full))
		return -EBADF;
	memmove(c->in, c->in + pos, c->in_len - pos);
	c->in_len -= pos;
	batch_flush(c);
	return 0;
}

/* --- set-up and the loop --- */

static int mkdir_parents(const char *path)
{
	_cleanup_free_ char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');

	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int listen_at(const char *path, int *ret_fd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	r = mkdir_parents(path);
	if (r < 0)
		return r;
	/* A socket left by an earlier run of ours. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static void accept_clients(void)
{
	for (;;) {
		int fd = accept4(g.listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		int r;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("accept: %m");
			return;
		}
		r = client_new(fd);
		if (r < 0) {
			log_warn("client refused: %s", strerror(-r));
			close(fd);
			return;
		}
	}
}

static void read_link(void)
{
	for (;;) {
		struct link_frame f;
		int r = link_read_frame(g.reader, &f);

		if (r == 0)
			return;
		if (r == -EPIPE) {
			log_info("link closed by the host half");
			exit(0);
		}
		if (r < 0)
			link_fatal("read", r);
		handle_link_frame(&f);
	}
}

enum watch_kind { W_LINK, W_LISTEN, W_CLIENT, W_TRANSFER };

struct watch {
	enum watch_kind kind;
	uint32_t conn;
	unsigned transfer;
	int fd;
};

static void loop(void)
{
	enum { MAX_WATCH = 2 + LINK_MAX_CONNS * (1 + MAX_TRANSFERS) };
	static struct pollfd pfd[MAX_WATCH];
	static struct watch w[MAX_WATCH];

	for (;;) {
		bool congested = link_queued(g.writer) > LINK_HIGH_WATER;
		unsigned n = 0;

		pfd[n] = (struct pollfd){.fd = g.link_fd,
					 .events = POLLIN | (link_queued(g.writer) ? POLLOUT : 0)};
		w[n++] = (struct watch){W_LINK, 0, 0, g.link_fd};
		for (uint32_t id = 1; id <= LINK_MAX_CONNS; id++) {
			struct client *c = g.conns[id];

			if (!c)
				continue;
			pfd[n] =
			    (struct pollfd){.fd = c->fd,
					    .events = (congested ? 0 : POLLIN) |
						      (c->out.end > c->out.start ? POLLOUT : 0)};
			w[n++] = (struct watch){W_CLIENT, id, 0, c->fd};
			for (unsigned i = 0; i < MAX_TRANSFERS; i++) {
				struct transfer *t = &c->transfers[i];
				short ev;

				if (t->fd < 0)
					continue;
				ev = t->from_host ? (congested ? 0 : POLLIN)
						  : (t->pending_len ? POLLOUT : 0);
				if (!ev)
					continue;
				pfd[n] = (struct pollfd){.fd = t->fd, .events = ev};
				w[n++] = (struct watch){W_TRANSFER, id, i, t->fd};
			}
		}
		if (g.hello && !congested) {
			pfd[n] = (struct pollfd){.fd = g.listen_fd, .events = POLLIN};
			w[n++] = (struct watch){W_LISTEN, 0, 0, g.listen_fd};
		}
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			link_fatal("poll", -errno);
		}
		for (unsigned i = 0; i < n; i++) {
			struct client *c = w[i].conn ? g.conns[w[i].conn] : NULL;
			short re = pfd[i].revents;
			int r;

			if (!re)
				continue;
			switch (w[i].kind) {
			case W_LINK:
				if (re & POLLOUT) {
					r = link_flush(g.writer);
					if (r < 0)
						link_fatal("write", r);
				}
				if (re & (POLLIN | POLLHUP | POLLERR))
					read_link();
				break;
			case W_LISTEN:
				accept_clients();
				break;
			case W_CLIENT:
				/* Gone, or a new client under the same conn since the poll. */
				if (!c || c->fd != w[i].fd)
					break;
				if (re & POLLOUT) {
					r = client_flush(c);
					if (r < 0) {
						client_close(c, "gone", true);
						break;
					}
				}
				if (re & (POLLIN | POLLHUP | POLLERR)) {
					/* A commit's small frames and requests go in one write. */
					link_writer_cork(g.writer, true);
					r = client_read(c);
					if (r < 0) {
						char reason[96];

						snprintf(reason, sizeof(reason), "%s",
							 r == -EPIPE ? "disconnected"
								     : strerror(-r));
						client_close(c, reason, true);
					}
					r = link_writer_cork(g.writer, false);
					if (r < 0)
						link_fatal("write", r);
				}
				break;
			case W_TRANSFER: {
				struct transfer *t;

				if (!c)
					break;
				t = &c->transfers[w[i].transfer];
				if (t->fd != w[i].fd)
					break;
				if (t->from_host)
					transfer_read(c, t);
				else if (re & (POLLOUT | POLLERR | POLLHUP))
					transfer_write(c, t);
				break;
			}
			}
		}
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: bulkhead-wayland-proxy guest (--link PATH | --link-fd N) --socket PATH\n"
		"  --link PATH    the link to the host half (the qube's GUI virtio-serial port)\n"
		"  --link-fd N    the link as an inherited descriptor (tests)\n"
		"  --socket PATH  where applications connect (their WAYLAND_DISPLAY)\n");
}

int guest_main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"link", required_argument, NULL, 'l'},
	    {"link-fd", required_argument, NULL, 'f'},
	    {"socket", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *link_path = NULL, *socket_path = NULL;
	int link_fd = -1, c, r;
	uint8_t hello[4];

	log_set_ident("bulkhead-wayland-proxy guest");
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'l':
			link_path = optarg;
			break;
		case 'f': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || v < 0 || v > INT_MAX) {
				log_error("--link-fd %s: not a descriptor", optarg);
				return 2;
			}
			link_fd = v;
			break;
		}
		case 's':
			socket_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !socket_path || !link_path == (link_fd < 0)) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (link_path) {
		link_fd = open(link_path, O_RDWR | O_CLOEXEC | O_NOCTTY);
		if (link_fd < 0) {
			log_error("cannot open the link %s: %m", link_path);
			return 1;
		}
	}
	if (fcntl(link_fd, F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(link_fd, F_SETFL, fcntl(link_fd, F_GETFL) | O_NONBLOCK) < 0) {
		log_error("link descriptor %d: %m", link_fd);
		return 1;
	}
	g.link_fd = link_fd;
	/* A socket link (tests, benchmarks) takes a few large frames at once rather than one
	 * poll round per default-sized buffer; a serial port is not a socket and keeps its own. */
	int sndbuf = LINK_SOCKET_BUFFER;
	(void)setsockopt(link_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	g.reader = link_reader_new(link_fd);
	g.writer = link_writer_new(link_fd, LINK_MAX_QUEUED_BYTES);
	if (!g.reader || !g.writer) {
		log_error("out of memory");
		return 1;
	}
	unaligned_write_le32(hello, LINK_VERSION);
	link_send(LINK_HELLO, 0, hello, sizeof(hello), NULL, 0);
	r = listen_at(socket_path, &g.listen_fd);
	if (r < 0) {
		log_error("cannot listen on %s: %s", socket_path, strerror(-r));
		return 1;
	}
	log_info("serving %s", socket_path);
	loop();
	return 0;
}
