/* The host half's engine (host.h). The guest half is untrusted: every frame and every Wayland
 * message from it is checked before anything is done with it. The compositor is trusted, but its
 * events are parsed too, for their descriptors, the objects they create and the globals they
 * announce. */
#include "host.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <lz4.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fd-pass.h"
#include "log.h"
#include "proxy.h"
#include "shm-format.h"
#include "unaligned.h"
#include "util.h"
#include "wire.h"

#define MAX_PENDING_FDS	 28   /* announcements waiting for their message; libwayland's fd cap */
#define MAX_POOLS	 64   /* per connection */
#define MAX_BUFFERS	 1024 /* live wl_buffers per connection */
#define MAX_HOLE_WALK	 32   /* extents looked at when counting a range's unallocated bytes */
#define PAGE		 4096u
#define MAX_TRANSFERS	 8 /* clipboard pipes per connection, each way */
#define MAX_GLOBALS	 128
#define MAX_IN_FDS	 64
#define MAX_FDS_PER_SEND 28 /* libwayland reads at most this many per message */
#define IN_BUF_SIZE	 (16 * WIRE_MAX_SIZE)
#define CONN_MAX_OUT	 (8u << 20) /* bytes queued for one compositor connection */
#define PIPE_CHUNK	 (64u << 10)
#define SHM_WRITE_HEADER 24u
#define DIRECT_MIN	 (128u << 10) /* raw SHM_WRITE payloads read straight into their pool */
#define DIRECT_IOV	 64	      /* rows per readv of a strided one */

/* A descriptor announced by the guest, made on the host, waiting for its message. */
struct pending_fd {
	uint32_t type; /* LINK_FD_SHM or LINK_FD_PIPE */
	uint32_t value;
	int fd;
};

/* A wl_shm_pool's host-side memory, which the compositor maps too. The memfd is sparse: only
 * pages written (SHM_WRITE) or covered by a buffer take memory, counted in resident. */
struct pool {
	uint32_t id;
	int fd;
	uint8_t *map;
	size_t size;
	uint64_t resident;
};

/* A wl_buffer made from a pool: its pages stay allocated while it lives. */
struct buffer {
	uint32_t id;
	uint32_t pool;
	uint64_t offset, len;
};

struct global {
	uint32_t name;
	const struct wl_interface *iface;
	uint32_t version;
};

struct out_fd {
	uint64_t at; /* stream position of the message it belongs to */
	int fd;
};

/* wl_data_offer.receive: the host reads the pipe the compositor writes, the guest gets data. */
struct read_transfer {
	uint32_t id;
	int fd;
	uint64_t bytes;
};

/* wl_data_source.send: the guest sends data, the host writes it into the compositor's fd. */
struct write_transfer {
	uint32_t id;
	int fd;
	uint8_t *buf;
	size_t len;
	uint64_t bytes;
	bool ended;
};

struct conn {
	uint32_t id;
	int fd;
	struct wire_objects *objs;
	struct pending_fd pending[MAX_PENDING_FDS];
	unsigned npending;
	struct pool pools[MAX_POOLS];
	unsigned npools;
	struct buffer *buffers;
	unsigned nbuffers, buffers_cap;
	struct global globals[MAX_GLOBALS];
	unsigned nglobals;
	unsigned surfaces;
	/* to the compositor */
	uint8_t *out;
	size_t out_len, out_cap;
	uint64_t out_pos; /* stream position of out[0] */
	struct out_fd out_fds[MAX_PENDING_FDS];
	unsigned nout_fds;
	/* from the compositor */
	uint8_t in[IN_BUF_SIZE];
	size_t in_len;
	int in_fds[MAX_IN_FDS];
	unsigned nin_fds;
	struct read_transfer reads[MAX_TRANSFERS];
	unsigned nreads;
	struct write_transfer writes[MAX_TRANSFERS];
	unsigned nwrites;
	uint32_t next_write_id;
};

struct host {
	char *qube;
	int link_fd;
	struct link_reader *reader;
	struct link_writer *writer;
	host_connect_fn connect;
	void *userdata;
	bool hello;
	struct conn *conns[LINK_MAX_CONNS + 1];
	uint64_t shm_bytes;    /* address space: every pool and announced pool of the qube */
	uint64_t shm_resident; /* memory: the pages allocated in all pools of the qube */
	uint64_t out_bytes;    /* queued for the compositor and for its pipes */
	/* A raw SHM_WRITE whose rows are being read from the link straight into its pool (the
	 * header was checked as handle_shm_write does). No other frame is read meanwhile. */
	struct {
		uint32_t conn, pool; /* conn 0: none; a conn or pool gone: the rest is dropped */
		uint32_t offset, row_len, stride;
		uint64_t done, total; /* bytes of rows */
		bool holes;	      /* pages were allocated: count them at the end */
	} direct;
	size_t batch_len; /* events for the guest, sent as one LINK_WL frame */
	uint32_t batch_conn;
	uint8_t batch[LINK_MAX_PAYLOAD];
};

/* Returned when a connection was ended for a violation: its state is gone, the link goes on. */
#define CONN_ENDED (-ECONNABORTED)

static bool is(const struct wire_msg *m, const struct wl_interface *iface, const char *name)
{
	return m->iface == iface && streq(m->desc->name, name);
}

static void conn_free(struct host *h, struct conn *c)
{
	if (!c)
		return;
	closep(&c->fd);
	wire_objects_free(c->objs);
	for (unsigned i = 0; i < c->npending; i++)
		closep(&c->pending[i].fd);
	for (unsigned i = 0; i < c->npools; i++) {
		munmap(c->pools[i].map, c->pools[i].size);
		closep(&c->pools[i].fd);
		h->shm_bytes -= c->pools[i].size;
		h->shm_resident -= c->pools[i].resident;
	}
	free(c->buffers);
	for (unsigned i = 0; i < c->npending; i++)
		if (c->pending[i].type == LINK_FD_SHM)
			h->shm_bytes -= c->pending[i].value;
	for (unsigned i = 0; i < c->nout_fds; i++)
		closep(&c->out_fds[i].fd);
	for (unsigned i = 0; i < c->nin_fds; i++)
		closep(&c->in_fds[i]);
	for (unsigned i = 0; i < c->nreads; i++)
		closep(&c->reads[i].fd);
	for (unsigned i = 0; i < c->nwrites; i++) {
		closep(&c->writes[i].fd);
		h->out_bytes -= c->writes[i].len;
		free(c->writes[i].buf);
	}
	h->out_bytes -= c->out_len;
	free(c->out);
	if (h->batch_conn == c->id)
		h->batch_len = 0;
	h->conns[c->id] = NULL;
	free(c);
}

/* Ends a connection: tells the guest why, logs it, frees it. CONN_ENDED, or the link's error. */
static int conn_end(struct host *h, struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int conn_end(struct host *h, struct conn *c, const char *fmt, ...)
{
	char reason[256];
	va_list ap;
	uint32_t id = c->id;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	log_warn("qube %s: connection %u closed: %s", h->qube, id, reason);
	conn_free(h, c);
	int r = link_write_frame(h->writer, LINK_CONN_CLOSE, id, reason, strlen(reason), NULL, 0);
	return r < 0 ? r : CONN_ENDED;
}

/* ---- to the compositor ---- */

static int conn_flush(struct host *h, struct conn *c)
{
	while (c->out_len > 0) {
		unsigned nf = c->nout_fds < MAX_FDS_PER_SEND ? c->nout_fds : MAX_FDS_PER_SEND;
		size_t n = c->out_len;
		/* Messages whose fds do not fit this send wait for the next. */
		if (c->nout_fds > nf)
			n = (size_t)(c->out_fds[nf].at - c->out_pos);
		int fds[MAX_FDS_PER_SEND];
		for (unsigned i = 0; i < nf; i++)
			fds[i] = c->out_fds[i].fd;
		struct iovec iov = {c->out, n};
		ssize_t k = send_fds(c->fd, &iov, 1, fds, nf, MSG_DONTWAIT);
		if (k == -EAGAIN)
			return 0;
		if (k < 0)
			return conn_end(h, c, "writing to the compositor: %s", strerror((int)-k));
		/* the descriptors went with the first byte */
		for (unsigned i = 0; i < nf; i++)
			closep(&c->out_fds[i].fd);
		memmove(c->out_fds, c->out_fds + nf, (c->nout_fds - nf) * sizeof(c->out_fds[0]));
		c->nout_fds -= nf;
		memmove(c->out, c->out + k, c->out_len - (size_t)k);
		c->out_len -= (size_t)k;
		c->out_pos += (uint64_t)k;
		h->out_bytes -= (uint64_t)k;
	}
	return 0;
}

/* Queues one message and the descriptors it carries (taken over, closed on failure). */
static int conn_queue(struct host *h, struct conn *c, const uint8_t *msg, size_t len, int *fds,
		      unsigned nfds)
{
	if (c->nout_fds + nfds > MAX_PENDING_FDS || c->out_len + len > CONN_MAX_OUT ||
	    h->out_bytes + len > LINK_MAX_QUEUED_BYTES) {
		for (unsigned i = 0; i < nfds; i++)
			closep(&fds[i]);
		return conn_end(h, c, "the compositor does not keep up (%zu bytes queued)",
				c->out_len);
	}
	if (c->out_cap - c->out_len < len) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		while (cap - c->out_len < len)
			cap *= 2;
		c->out = xrealloc(c->out, cap);
		c->out_cap = cap;
	}
	for (unsigned i = 0; i < nfds; i++)
		c->out_fds[c->nout_fds++] = (struct out_fd){c->out_pos + c->out_len, fds[i]};
	memcpy(c->out + c->out_len, msg, len);
	c->out_len += len;
	h->out_bytes += len;
	return 0;
}

/* ---- from the guest: descriptors, pools ---- */

static struct pool *find_pool(struct conn *c, uint32_t id)
{
	for (unsigned i = 0; i < c->npools; i++)
		if (c->pools[i].id == id)
			return &c->pools[i];
	return NULL;
}

static int handle_fd_announcement(struct host *h, struct conn *c, uint32_t type, const uint8_t *p,
				  uint32_t len)
{
	if (len != 4)
		return conn_end(h, c, "descriptor announcement of %u bytes", len);
	if (c->npending >= MAX_PENDING_FDS)
		return conn_end(h, c, "more than %u descriptors announced", MAX_PENDING_FDS);
	uint32_t value = unaligned_read_le32(p);
	int fd;
	if (type == LINK_FD_SHM) {
		if (value == 0 || value > LINK_MAX_POOL_BYTES)
			return conn_end(h, c, "shm pool of %u bytes", value);
		if (h->shm_bytes + value > LINK_MAX_SHM_BYTES)
			return conn_end(h, c, "shm pools above %llu bytes in all",
					LINK_MAX_SHM_BYTES);
		fd = memfd_create("bulkhead-shm", MFD_CLOEXEC);
		if (fd < 0)
			return conn_end(h, c, "memfd_create: %s", strerror(errno));
		if (ftruncate(fd, value) < 0) {
			int e = errno;
			close(fd);
			return conn_end(h, c, "sizing a pool of %u bytes: %s", value, strerror(e));
		}
		h->shm_bytes += value;
	} else {
		if (value & LINK_PIPE_HOST_ID)
			return conn_end(h, c, "pipe transfer id %#x in the host's range", value);
		for (unsigned i = 0; i < c->nreads; i++)
			if (c->reads[i].id == value)
				return conn_end(h, c, "pipe transfer id %u in use", value);
		for (unsigned i = 0; i < c->npending; i++)
			if (c->pending[i].type == LINK_FD_PIPE && c->pending[i].value == value)
				return conn_end(h, c, "pipe transfer id %u in use", value);
		fd = -1; /* the pipe is made with its message */
	}
	c->pending[c->npending++] = (struct pending_fd){type, value, fd};
	return 0;
}

static struct pending_fd take_pending(struct conn *c)
{
	struct pending_fd p = c->pending[0];
	memmove(c->pending, c->pending + 1, (c->npending - 1) * sizeof(c->pending[0]));
	c->npending--;
	return p;
}

static int do_create_pool(struct host *h, struct conn *c, const struct wire_msg *m, int *ret_fd)
{
	if (c->npending == 0 || c->pending[0].type != LINK_FD_SHM)
		return conn_end(h, c, "wl_shm.create_pool without an shm announcement");
	int32_t size = m->args[2].i;
	if (size <= 0 || (uint32_t)size != c->pending[0].value)
		return conn_end(h, c, "wl_shm.create_pool of %d bytes announced as %u", size,
				c->pending[0].value);
	if (c->npools >= MAX_POOLS)
		return conn_end(h, c, "more than %u shm pools", MAX_POOLS);
	struct pending_fd p = take_pending(c);
	void *map = mmap(NULL, p.value, PROT_READ | PROT_WRITE, MAP_SHARED, p.fd, 0);
	int dup = map == MAP_FAILED ? -1 : fcntl(p.fd, F_DUPFD_CLOEXEC, 3);
	if (dup < 0) {
		int e = errno;
		if (map != MAP_FAILED)
			munmap(map, p.value);
		close(p.fd);
		h->shm_bytes -= p.value;
		return conn_end(h, c, "mapping a pool: %s", strerror(e));
	}
	c->pools[c->npools++] = (struct pool){m->args[0].u, p.fd, map, p.value, 0};
	*ret_fd = dup;
	return 0;
}

static int do_resize_pool(struct host *h, struct conn *c, const struct wire_msg *m)
{
	struct pool *pool = find_pool(c, m->id);
	int32_t size = m->args[0].i;
	if (!pool)
		return conn_end(h, c, "resize of unknown pool %u", m->id);
	if (size <= 0 || (size_t)size < pool->size || (uint32_t)size > LINK_MAX_POOL_BYTES)
		return conn_end(h, c, "pool %u resized from %zu to %d bytes", m->id, pool->size,
				size);
	size_t grow = (size_t)size - pool->size;
	if (grow == 0)
		return 0;
	if (h->shm_bytes + grow > LINK_MAX_SHM_BYTES)
		return conn_end(h, c, "shm pools above %llu bytes in all", LINK_MAX_SHM_BYTES);
	if (ftruncate(pool->fd, size) < 0)
		return conn_end(h, c, "growing pool %u: %s", m->id, strerror(errno));
	void *map = mremap(pool->map, pool->size, (size_t)size, MREMAP_MAYMOVE);
	if (map == MAP_FAILED)
		return conn_end(h, c, "remapping pool %u: %s", m->id, strerror(errno));
	pool->map = map;
	pool->size = (size_t)size;
	h->shm_bytes += grow;
	return 0;
}

/* ---- pool memory: what is resident, and the cap on it ---- */

/* Bytes of [off, off + len) of the pool not yet backed by memory (holes of the memfd); past
 * MAX_HOLE_WALK extents the rest counts as a hole, so this never counts too few. */
static uint64_t pool_holes(const struct pool *pool, uint64_t off, uint64_t len)
{
	uint64_t end = off + len, holes = 0;
	for (unsigned i = 0; off < end; i++) {
		off_t hole = lseek(pool->fd, (off_t)off, SEEK_HOLE);
		if (hole < 0 || i == MAX_HOLE_WALK)
			return holes + (end - off);
		if ((uint64_t)hole >= end)
			break;
		off_t data = lseek(pool->fd, hole, SEEK_DATA);
		uint64_t hole_end = data < 0 || (uint64_t)data > end ? end : (uint64_t)data;
		holes += hole_end - (uint64_t)hole;
		off = hole_end;
	}
	return holes;
}

/* The pool's allocated bytes, as the kernel counts them; the qube's total follows. */
static void pool_update_resident(struct host *h, struct pool *pool)
{
	struct stat st;
	/* fstat(2) itself: glibc's goes through newfstatat, which takes paths. */
	if (syscall(SYS_fstat, pool->fd, &st) < 0)
		return;
	uint64_t now = (uint64_t)st.st_blocks * 512;
	h->shm_resident = h->shm_resident - pool->resident + now;
	pool->resident = now;
}

static struct buffer *find_buffer(struct conn *c, uint32_t id);

/* What writing [off, off + len) of the pool may newly allocate: nothing inside a live buffer,
 * whose pages were allocated when it was made and stay while it lives (the usual case, and no
 * system call); elsewhere the holes in that range. */
static uint64_t write_holes(struct conn *c, const struct pool *pool, uint64_t off, uint64_t len)
{
	for (unsigned i = 0; i < c->nbuffers; i++) {
		const struct buffer *b = &c->buffers[i];
		if (b->pool == pool->id && b->offset <= off && off + len <= b->offset + b->len)
			return 0;
	}
	return pool_holes(pool, off, len);
}

/* Room for up to grow more resident bytes in the qube's pools, or the connection ends. */
static int pool_reserve(struct host *h, struct conn *c, uint64_t grow)
{
	if (h->shm_resident + grow > LINK_MAX_SHM_RESIDENT)
		return conn_end(h, c, "shm pools would hold more than %u MiB of memory",
				LINK_MAX_SHM_RESIDENT >> 20);
	return 0;
}

static struct buffer *find_buffer(struct conn *c, uint32_t id)
{
	for (unsigned i = 0; i < c->nbuffers; i++)
		if (c->buffers[i].id == id)
			return &c->buffers[i];
	return NULL;
}

static int cmp_u64_pair(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;
	return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* wl_buffer.destroy: the pages of its range that no other live buffer of the pool covers are
 * given back (as foot does with its own pool behind a scrolled buffer). The guest half sends a
 * new buffer's contents whole before its first commit, so nothing relies on them any more. */
static void destroy_buffer(struct host *h, struct conn *c, uint32_t id)
{
	struct buffer *b = find_buffer(c, id);
	if (!b)
		return;
	struct buffer gone = *b;
	*b = c->buffers[--c->nbuffers];
	struct pool *pool = find_pool(c, gone.pool);
	if (!pool)
		return;
	/* the other live buffers' ranges that overlap, in order */
	_cleanup_free_ uint64_t(*cover)[2] = xmalloc((c->nbuffers + 1) * sizeof(*cover));
	unsigned n = 0;
	for (unsigned i = 0; i < c->nbuffers; i++) {
		const struct buffer *o = &c->buffers[i];
		if (o->pool == gone.pool && o->offset < gone.offset + gone.len &&
		    gone.offset < o->offset + o->len) {
			cover[n][0] = o->offset;
			cover[n][1] = o->offset + o->len;
			n++;
		}
	}
	qsort(cover, n, sizeof(*cover), cmp_u64_pair);
	uint64_t at = gone.offset, end = gone.offset + gone.len;
	for (unsigned i = 0; i <= n && at < end; i++) {
		uint64_t gap_end = i < n && cover[i][0] < end ? cover[i][0] : end;
		/* whole pages only: a partly covered page keeps its bytes */
		uint64_t from = (at + PAGE - 1) / PAGE * PAGE, to = gap_end / PAGE * PAGE;
		if (from < to)
			(void)fallocate(pool->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					(off_t)from, (off_t)(to - from));
		if (i < n && cover[i][1] > at)
			at = cover[i][1];
	}
	pool_update_resident(h, pool);
}

static int destroy_pool(struct host *h, struct conn *c, uint32_t id)
{
	struct pool *pool = find_pool(c, id);
	if (!pool)
		return 0;
	/* The guest half holds a pool's destroy back until its buffers are gone (link.h), so
	 * that every page the compositor may read stays counted here. */
	for (unsigned i = 0; i < c->nbuffers; i++)
		if (c->buffers[i].pool == id)
			return conn_end(h, c, "pool %u destroyed before its buffers", id);
	munmap(pool->map, pool->size);
	close(pool->fd);
	h->shm_bytes -= pool->size;
	h->shm_resident -= pool->resident;
	*pool = c->pools[--c->npools];
	return 0;
}

static int check_create_buffer(struct host *h, struct conn *c, const struct wire_msg *m)
{
	struct pool *pool = find_pool(c, m->id);
	int32_t offset = m->args[1].i, width = m->args[2].i, height = m->args[3].i;
	int32_t stride = m->args[4].i;
	uint32_t format = m->args[5].u;
	const struct shm_format *f = shm_format_find(format);
	unsigned bpp = f && f->passed ? f->bpp : 0;

	if (!pool)
		return conn_end(h, c, "buffer from unknown pool %u", m->id);
	if (bpp == 0)
		return conn_end(h, c, "buffer format %#x", format);
	if (offset < 0 || width <= 0 || height <= 0 || stride <= 0 ||
	    (uint64_t)stride < (uint64_t)width * bpp)
		return conn_end(h, c, "buffer %dx%d stride %d offset %d", width, height, stride,
				offset);
	if ((uint64_t)width * (uint64_t)height * 4 > LINK_MAX_BUFFER_BYTES)
		return conn_end(h, c, "buffer %dx%d above the cap", width, height);
	if ((uint64_t)offset + (uint64_t)stride * (uint64_t)height > pool->size)
		return conn_end(h, c, "buffer %dx%d stride %d offset %d outside its pool of %zu",
				width, height, stride, offset, pool->size);
	if (c->nbuffers >= MAX_BUFFERS)
		return conn_end(h, c, "more than %u buffers", MAX_BUFFERS);
	/* The compositor reads the buffer's pages through its own mapping, which would allocate
	 * them unseen: they are allocated (and counted) here, now. */
	uint64_t len = (uint64_t)stride * (uint64_t)height;
	int r = pool_reserve(h, c, pool_holes(pool, (uint64_t)offset, len));
	if (r < 0)
		return r;
	if (fallocate(pool->fd, FALLOC_FL_KEEP_SIZE, offset, (off_t)len) < 0)
		return conn_end(h, c, "allocating a buffer of %" PRIu64 " bytes: %s", len,
				strerror(errno));
	pool_update_resident(h, pool);
	if (c->nbuffers == c->buffers_cap) {
		c->buffers_cap = c->buffers_cap ? 2 * c->buffers_cap : 16;
		c->buffers = xrealloc(c->buffers, c->buffers_cap * sizeof(*c->buffers));
	}
	c->buffers[c->nbuffers++] = (struct buffer){m->args[0].u, m->id, (uint64_t)offset, len};
	return 0;
}

/* The rows of a checked SHM_WRITE into the pool. */
static int shm_write_rows(struct host *h, struct conn *c, struct pool *pool, uint32_t offset,
			  uint32_t row_len, uint32_t stride, uint32_t rows, uint32_t flags,
			  const uint8_t *data, uint32_t data_len)
{
	uint64_t total = (uint64_t)rows * row_len;
	uint8_t *dst = pool->map + offset;
	bool contiguous = rows == 1 || stride == row_len;
	if (!(flags & LINK_SHM_LZ4)) {
		if (data_len != total)
			return conn_end(h, c, "shm write of %u bytes for %" PRIu64, data_len,
					total);
		if (contiguous)
			memcpy(dst, data, total);
		else
			for (uint32_t i = 0; i < rows; i++)
				memcpy(dst + (size_t)i * stride, data + (size_t)i * row_len,
				       row_len);
		return 0;
	}
	/* total <= LINK_MAX_BUFFER_BYTES < INT_MAX, data_len <= LINK_MAX_PAYLOAD */
	_cleanup_free_ uint8_t *scratch = contiguous ? NULL : xmalloc(total);
	int n = LZ4_decompress_safe((const char *)data, (char *)(contiguous ? dst : scratch),
				    (int)data_len, (int)total);
	if (n < 0 || (uint64_t)n != total)
		return conn_end(h, c, "shm write: LZ4 block does not give %" PRIu64 " bytes",
				total);
	if (!contiguous)
		for (uint32_t i = 0; i < rows; i++)
			memcpy(dst + (size_t)i * stride, scratch + (size_t)i * row_len, row_len);
	return 0;
}

/* The rows' range of an SHM_WRITE lies inside the pool and they do not overlap. */
static bool shm_write_fits(const struct pool *pool, uint32_t offset, uint32_t row_len,
			   uint32_t stride, uint32_t rows)
{
	uint64_t total = (uint64_t)rows * row_len;
	return total > 0 && !(rows > 1 && stride < row_len) && total <= LINK_MAX_BUFFER_BYTES &&
	       (uint64_t)offset + (uint64_t)(rows - 1) * stride + row_len <= pool->size;
}

static int handle_shm_write(struct host *h, struct conn *c, const uint8_t *p, uint32_t len)
{
	if (len < SHM_WRITE_HEADER)
		return conn_end(h, c, "shm write of %u bytes", len);
	uint32_t pool_id = unaligned_read_le32(p), offset = unaligned_read_le32(p + 4),
		 row_len = unaligned_read_le32(p + 8);
	uint32_t stride = unaligned_read_le32(p + 12), rows = unaligned_read_le32(p + 16),
		 flags = unaligned_read_le32(p + 20);
	const uint8_t *data = p + SHM_WRITE_HEADER;
	uint32_t data_len = len - SHM_WRITE_HEADER;
	struct pool *pool = find_pool(c, pool_id);

	if (!pool)
		return conn_end(h, c, "shm write to unknown pool %u", pool_id);
	if (flags & ~LINK_SHM_LZ4)
		return conn_end(h, c, "shm write flags %#x", flags);
	uint64_t total = (uint64_t)rows * row_len;
	if (total == 0)
		return data_len == 0 ? 0 : conn_end(h, c, "empty shm write with data");
	if (rows > 1 && stride < row_len)
		return conn_end(h, c, "shm write rows of %u bytes %u apart", row_len, stride);
	if (total > LINK_MAX_BUFFER_BYTES ||
	    (uint64_t)offset + (uint64_t)(rows - 1) * stride + row_len > pool->size)
		return conn_end(h, c, "shm write of %u rows of %u at %u stride %u outside pool %zu",
				rows, row_len, offset, stride, pool->size);
	uint64_t span = (uint64_t)(rows - 1) * stride + row_len;
	uint64_t holes = write_holes(c, pool, offset, span);
	int r = pool_reserve(h, c, holes);
	if (r < 0)
		return r;
	r = shm_write_rows(h, c, pool, offset, row_len, stride, rows, flags, data, data_len);
	if (r == 0 && holes > 0)
		pool_update_resident(h, pool);
	return r;
}

/* ---- from the guest: Wayland requests ---- */

static const struct global *find_global(const struct conn *c, uint32_t name)
{
	for (unsigned i = 0; i < c->nglobals; i++)
		if (c->globals[i].name == name)
			return &c->globals[i];
	return NULL;
}

/* Writes the message with its string argument k replaced by prefix + the old string, cut at a
 * character boundary so the message stays within WIRE_MAX_SIZE. Returns the new size. */
static size_t rewrite_string(const uint8_t *msg, const struct wire_msg *m, unsigned k,
			     const char *prefix, uint8_t *out)
{
	const struct wire_arg *a = &m->args[k];
	size_t plen = strlen(prefix), slen = a->s.str ? a->s.len : 0;
	size_t head = a->offset,
	       tail_off = a->offset + 4 + ((a->s.str ? a->s.len + 1 : 0) + 3) / 4 * 4;
	size_t tail = m->size - tail_off;
	size_t room = WIRE_MAX_SIZE - head - 4 - tail - 1; /* bytes of string, NUL excluded */
	if (plen > room)
		plen = room;
	if (slen > room - plen) {
		slen = room - plen;
		/* back to the start of a character */
		while (slen > 0 && ((uint8_t)a->s.str[slen] & 0xc0) == 0x80)
			slen--;
	}
	size_t n = plen + slen + 1, padded = (n + 3) / 4 * 4;
	memcpy(out, msg, head);
	unaligned_write_ne32(out + head, (uint32_t)n);
	memset(out + head + 4, 0, padded);
	memcpy(out + head + 4, prefix, plen);
	if (slen)
		memcpy(out + head + 4 + plen, a->s.str, slen);
	memcpy(out + head + 4 + padded, msg + tail_off, tail);
	size_t size = head + 4 + padded + tail;
	unaligned_write_ne32(out + 4, (uint32_t)(size << 16 | m->opcode));
	return size;
}

static int handle_request(struct host *h, struct conn *c, const uint8_t *msg,
			  const struct wire_msg *m)
{
	uint8_t rewritten[WIRE_MAX_SIZE];
	const uint8_t *out = msg;
	size_t out_len = m->size;
	int fds[1] = {-1};
	unsigned nfds = 0;
	int r;

	if (m->nfds > 1)
		return conn_end(h, c, "%s.%s with %u descriptors", m->iface->name, m->desc->name,
				m->nfds);
	if (is(m, &wl_registry_interface, "bind")) {
		const struct global *g = find_global(c, m->args[0].u);
		if (!g || g->iface != m->args[3].new_iface || m->args[3].new_version > g->version)
			return conn_end(h, c, "bind to global %u (%s version %u) not announced",
					m->args[0].u, m->args[1].s.str, m->args[3].new_version);
	} else if (is(m, &wl_shm_interface, "create_pool")) {
		r = do_create_pool(h, c, m, &fds[0]);
		if (r < 0)
			return r;
		nfds = 1;
	} else if (is(m, &wl_data_offer_interface, "receive")) {
		if (c->npending == 0 || c->pending[0].type != LINK_FD_PIPE)
			return conn_end(h, c, "wl_data_offer.receive without a pipe announcement");
		if (c->nreads >= MAX_TRANSFERS)
			return conn_end(h, c, "more than %u pipes open", MAX_TRANSFERS);
		struct pending_fd p = take_pending(c);
		int pipefd[2];
		if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0)
			return conn_end(h, c, "pipe: %s", strerror(errno));
		c->reads[c->nreads++] = (struct read_transfer){p.value, pipefd[0], 0};
		fds[0] = pipefd[1];
		nfds = 1;
	} else if (m->nfds > 0) {
		return conn_end(h, c, "%s.%s carries a descriptor we do not pass", m->iface->name,
				m->desc->name);
	} else if (is(m, &wl_compositor_interface, "create_surface")) {
		if (c->surfaces >= LINK_MAX_SURFACES)
			return conn_end(h, c, "more than %u surfaces", LINK_MAX_SURFACES);
		c->surfaces++;
	} else if (is(m, &wl_surface_interface, "destroy")) {
		if (c->surfaces > 0)
			c->surfaces--;
	} else if (is(m, &wl_shm_pool_interface, "resize")) {
		r = do_resize_pool(h, c, m);
		if (r < 0)
			return r;
	} else if (is(m, &wl_shm_pool_interface, "create_buffer")) {
		r = check_create_buffer(h, c, m);
		if (r < 0)
			return r;
	} else if (is(m, &wl_shm_pool_interface, "destroy")) {
		r = destroy_pool(h, c, m->id);
		if (r < 0)
			return r;
	} else if (is(m, &wl_buffer_interface, "destroy")) {
		destroy_buffer(h, c, m->id);
	} else if (is(m, &xdg_toplevel_interface, "set_title") ||
		   is(m, &xdg_toplevel_interface, "set_app_id")) {
		char prefix[80];
		if (streq(m->desc->name, "set_title"))
			snprintf(prefix, sizeof(prefix), "[%s] ", h->qube);
		else
			snprintf(prefix, sizeof(prefix), "%s:", h->qube);
		out_len = rewrite_string(msg, m, 0, prefix, rewritten);
		out = rewritten;
	}

	/* The guest announces a message's descriptors right before it (link.h): one still
	 * queued after the message took its own belongs to no message. conn_end closes the
	 * memfds made for such announcements with the rest of the connection. */
	if (c->npending > 0) {
		for (unsigned i = 0; i < nfds; i++)
			closep(&fds[i]);
		return conn_end(h, c, "%s.%s leaves %u descriptor announcement(s) unused",
				m->iface->name, m->desc->name, c->npending);
	}
	r = wire_objects_apply(c->objs, m, LINK_MAX_OBJECTS);
	if (r < 0) {
		for (unsigned i = 0; i < nfds; i++)
			closep(&fds[i]);
		if (r == -E2BIG)
			return conn_end(h, c, "more than %u objects", LINK_MAX_OBJECTS);
		return conn_end(h, c, "object map: %s", strerror(-r));
	}
	return conn_queue(h, c, out, out_len, fds, nfds);
}

static int handle_wl(struct host *h, struct conn *c, const uint8_t *p, uint32_t len)
{
	uint32_t off = 0;
	while (off < len) {
		uint32_t id;
		uint16_t opcode, size;
		struct wire_msg m;
		int r = wire_peek(p + off, len - off, &id, &opcode, &size);
		if (r == -EAGAIN || (r == 0 && size > len - off))
			return conn_end(h, c, "truncated message");
		if (r < 0)
			return conn_end(h, c, "message size not a multiple of 4 in 8..%u",
					WIRE_MAX_SIZE);
		r = wire_parse(c->objs, proxy_globals, p + off, size, true, &m);
		if (r < 0) {
			uint32_t version;
			const struct wl_interface *iface = wire_objects_get(c->objs, id, &version);
			return conn_end(h, c, "request %u on object %u (%s) refused: %s", opcode,
					id, iface ? iface->name : "unknown",
					r == -ENOTSUP  ? "interface not allowed"
					: r == -ENOENT ? "unknown object"
					: r == -EPROTO ? "bad opcode or argument"
						       : "malformed");
		}
		r = handle_request(h, c, p + off, &m);
		if (r < 0)
			return r;
		off += size;
	}
	return conn_flush(h, c);
}

/* ---- clipboard pipes ---- */

static struct write_transfer *find_write(struct conn *c, uint32_t id)
{
	for (unsigned i = 0; i < c->nwrites; i++)
		if (c->writes[i].id == id)
			return &c->writes[i];
	return NULL;
}

static void drop_write(struct host *h, struct conn *c, struct write_transfer *w)
{
	closep(&w->fd);
	h->out_bytes -= w->len;
	free(w->buf);
	*w = c->writes[--c->nwrites];
}

static void drop_read(struct conn *c, unsigned i)
{
	closep(&c->reads[i].fd);
	c->reads[i] = c->reads[--c->nreads];
}

/* Writes what the compositor's pipe takes; drops the transfer when done or broken (telling the
 * guest to stop when it is not done). 0, or the link's error. */
static int write_transfer_flush(struct host *h, struct conn *c, struct write_transfer *w)
{
	while (w->len > 0) {
		ssize_t k = write(w->fd, w->buf, w->len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN)
			return 0;
		if (k <= 0) {
			uint8_t id[4];
			bool ended = w->ended;
			unaligned_write_le32(id, w->id);
			drop_write(h, c, w);
			return ended ? 0
				     : link_write_frame(h->writer, LINK_PIPE_END, c->id, id, 4,
							NULL, 0);
		}
		memmove(w->buf, w->buf + k, w->len - (size_t)k);
		w->len -= (size_t)k;
		h->out_bytes -= (uint64_t)k;
	}
	if (w->ended)
		drop_write(h, c, w);
	return 0;
}

static int handle_pipe_data(struct host *h, struct conn *c, const uint8_t *p, uint32_t len)
{
	if (len < 4)
		return conn_end(h, c, "pipe data of %u bytes", len);
	/* Unknown ids are transfers we ended while the guest was still sending. */
	struct write_transfer *w = find_write(c, unaligned_read_le32(p));
	if (!w || w->ended)
		return 0;
	uint32_t n = len - 4;
	if (w->bytes + n > LINK_MAX_PIPE_BYTES || h->out_bytes + n > LINK_MAX_QUEUED_BYTES) {
		uint8_t id[4];
		unaligned_write_le32(id, w->id);
		log_warn("qube %s: connection %u: clipboard transfer cut at %" PRIu64 " bytes",
			 h->qube, c->id, w->bytes);
		drop_write(h, c, w);
		return link_write_frame(h->writer, LINK_PIPE_END, c->id, id, 4, NULL, 0);
	}
	w->buf = xrealloc(w->buf, w->len + n);
	memcpy(w->buf + w->len, p + 4, n);
	w->len += n;
	w->bytes += n;
	h->out_bytes += n;
	return write_transfer_flush(h, c, w);
}

static int handle_pipe_end(struct host *h, struct conn *c, const uint8_t *p, uint32_t len)
{
	if (len != 4)
		return conn_end(h, c, "pipe end of %u bytes", len);
	uint32_t id = unaligned_read_le32(p);
	struct write_transfer *w = find_write(c, id);
	if (w) {
		w->ended = true;
		return write_transfer_flush(h, c, w);
	}
	for (unsigned i = 0; i < c->nreads; i++)
		if (c->reads[i].id == id) {
			drop_read(c, i);
			break;
		}
	return 0;
}

/* The compositor wrote into a pipe of wl_data_offer.receive: on to the guest. */
static int read_transfer_ready(struct host *h, struct conn *c, unsigned i)
{
	uint8_t buf[4 + PIPE_CHUNK];
	struct read_transfer *t = &c->reads[i];
	ssize_t k = read(t->fd, buf + 4, PIPE_CHUNK);
	if (k < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	unaligned_write_le32(buf, t->id);
	if (k > 0 && t->bytes + (uint64_t)k <= LINK_MAX_PIPE_BYTES) {
		t->bytes += (uint64_t)k;
		return link_write_frame(h->writer, LINK_PIPE_DATA, c->id, buf, 4 + (size_t)k, NULL,
					0);
	}
	if (k > 0)
		log_warn("qube %s: connection %u: clipboard transfer cut at %u bytes", h->qube,
			 c->id, LINK_MAX_PIPE_BYTES);
	drop_read(c, i);
	return link_write_frame(h->writer, LINK_PIPE_END, c->id, buf, 4, NULL, 0);
}

/* ---- from the compositor: events ---- */

static int batch_flush(struct host *h)
{
	if (h->batch_len == 0)
		return 0;
	size_t n = h->batch_len;
	h->batch_len = 0;
	return link_write_frame(h->writer, LINK_WL, h->batch_conn, h->batch, n, NULL, 0);
}

static int batch_add(struct host *h, struct conn *c, const uint8_t *msg, size_t len)
{
	if (h->batch_len > 0 && (h->batch_conn != c->id || h->batch_len + len > sizeof(h->batch))) {
		int r = batch_flush(h);
		if (r < 0)
			return r;
	}
	h->batch_conn = c->id;
	memcpy(h->batch + h->batch_len, msg, len);
	h->batch_len += len;
	return 0;
}

static int take_in_fd(struct conn *c)
{
	int fd = c->in_fds[0];
	memmove(c->in_fds, c->in_fds + 1, (c->nin_fds - 1) * sizeof(int));
	c->nin_fds--;
	return fd;
}

static const struct wl_interface *allowed_global(const char *name)
{
	for (size_t i = 0; proxy_globals[i]; i++)
		if (streq(proxy_globals[i]->name, name))
			return proxy_globals[i];
	return NULL;
}

static int handle_event(struct host *h, struct conn *c, const uint8_t *msg,
			const struct wire_msg *m)
{
	uint8_t copy[WIRE_MAX_SIZE];
	const uint8_t *out = msg;
	int r;

	if (m->nfds > c->nin_fds)
		return conn_end(h, c, "event %s.%s without its descriptor", m->iface->name,
				m->desc->name);
	if (is(m, &wl_registry_interface, "global")) {
		const struct wl_interface *iface = allowed_global(m->args[1].s.str);
		if (!iface)
			return 0; /* invisible to the qube */
		uint32_t version = m->args[2].u;
		if (version > (uint32_t)iface->version)
			version = (uint32_t)iface->version;
		if (!find_global(c, m->args[0].u)) {
			if (c->nglobals >= MAX_GLOBALS)
				return conn_end(h, c, "more than %u globals", MAX_GLOBALS);
			c->globals[c->nglobals++] = (struct global){m->args[0].u, iface, version};
		}
		memcpy(copy, msg, m->size);
		unaligned_write_ne32(copy + m->args[2].offset, version);
		out = copy;
	} else if (is(m, &wl_registry_interface, "global_remove")) {
		if (!find_global(c, m->args[0].u))
			return 0;
	} else if (is(m, &wl_keyboard_interface, "keymap")) {
		_cleanup_close_ int fd = take_in_fd(c);
		uint32_t size = m->args[2].u;
		if (size > LINK_MAX_FILE_BYTES)
			return conn_end(h, c, "keymap of %u bytes", size);
		_cleanup_free_ uint8_t *data = xmalloc(size ? size : 1);
		size_t got = 0;
		while (got < size) {
			ssize_t k = pread(fd, data + got, size - got, (off_t)got);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				break;
			got += (size_t)k;
		}
		r = batch_flush(h);
		if (r < 0)
			return r;
		r = link_write_frame(h->writer, LINK_FD_FILE, c->id, data, got, NULL, 0);
		if (r < 0)
			return r;
	} else if (is(m, &wl_data_source_interface, "send")) {
		int fd = take_in_fd(c);
		if (c->nwrites >= MAX_TRANSFERS) {
			close(fd);
			return 0; /* the reader sees the pipe end empty */
		}
		if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
			close(fd);
			return 0;
		}
		uint32_t id = LINK_PIPE_HOST_ID | (c->next_write_id++ & ~LINK_PIPE_HOST_ID);
		c->writes[c->nwrites++] = (struct write_transfer){.id = id, .fd = fd};
		uint8_t idb[4];
		unaligned_write_le32(idb, id);
		r = batch_flush(h);
		if (r < 0)
			return r;
		r = link_write_frame(h->writer, LINK_FD_PIPE, c->id, idb, 4, NULL, 0);
		if (r < 0)
			return r;
	} else if (m->nfds > 0) {
		return conn_end(h, c, "event %s.%s carries a descriptor we do not pass",
				m->iface->name, m->desc->name);
	}
	r = wire_objects_apply(c->objs, m, LINK_MAX_OBJECTS);
	if (r < 0)
		return conn_end(h, c, "more than %u objects", LINK_MAX_OBJECTS);
	return batch_add(h, c, out, m->size);
}

static int conn_readable(struct host *h, struct conn *c)
{
	struct iovec iov = {c->in + c->in_len, sizeof(c->in) - c->in_len};
	size_t got;
	/* At most what libwayland sends with one message, and what the table holds. */
	size_t room = MAX_IN_FDS - c->nin_fds;
	ssize_t k = recv_fds(c->fd, &iov, 1, c->in_fds + c->nin_fds,
			     room < MAX_FDS_PER_SEND ? room : MAX_FDS_PER_SEND, &got, MSG_DONTWAIT);
	if (k == -EAGAIN)
		return 0;
	if (k == -EBADMSG)
		return conn_end(h, c, "too many descriptors from the compositor");
	if (k < 0)
		return conn_end(h, c, "reading from the compositor: %s", strerror((int)-k));
	c->nin_fds += got;
	if (k == 0)
		return conn_end(h, c, "the compositor closed the connection");
	if (c->nin_fds >= MAX_IN_FDS)
		return conn_end(h, c, "too many descriptors from the compositor");
	c->in_len += (size_t)k;

	size_t off = 0;
	int r = 0;
	while (r >= 0) {
		uint32_t id;
		uint16_t opcode, size;
		struct wire_msg m;
		r = wire_peek(c->in + off, c->in_len - off, &id, &opcode, &size);
		if (r == -EAGAIN || (r == 0 && size > c->in_len - off))
			break;
		if (r < 0)
			return conn_end(h, c, "malformed event from the compositor");
		r = wire_parse(c->objs, NULL, c->in + off, size, false, &m);
		if (r == -ENOENT) {
			/* For an object the client has destroyed (a wl_data_offer): libwayland
			 * drops these too. */
			off += size;
			r = 0;
			continue;
		}
		if (r < 0)
			return conn_end(h, c, "event %u on object %u refused", opcode, id);
		r = handle_event(h, c, c->in + off, &m);
		off += size;
	}
	if (r == CONN_ENDED)
		return r;
	if (r < 0 && r != -EAGAIN)
		return r;
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	return batch_flush(h);
}

/* ---- the link ---- */

static int open_conn(struct host *h, uint32_t id)
{
	/* Without the connector no connection can ever be made: the caller ends the link. */
	int fd = h->connect(h->userdata);
	if (fd < 0)
		return -ENOTCONN;
	struct conn *c = xcalloc(1, sizeof(*c));
	c->id = id;
	c->fd = fd;
	c->objs = wire_objects_new();
	if (!c->objs || fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		h->conns[id] = c;
		return conn_end(h, c, "setting up the connection failed");
	}
	h->conns[id] = c;
	return 0;
}

int host_handle_frame(struct host *h, const struct link_frame *f)
{
	int r;

	if (!h->hello) {
		if (f->type != LINK_HELLO || f->conn != 0 || f->len != 4)
			return -EPROTO;
		if (unaligned_read_le32(f->payload) != LINK_VERSION)
			return -EPROTONOSUPPORT;
		uint8_t v[4];
		unaligned_write_le32(v, LINK_VERSION);
		h->hello = true;
		return link_write_frame(h->writer, LINK_HELLO, 0, v, 4, NULL, 0);
	}
	if (f->type == LINK_HELLO || f->type < LINK_HELLO || f->type > LINK_SHM_WRITE)
		return -EPROTO;
	if (f->conn < 1 || f->conn > LINK_MAX_CONNS)
		return -EPROTO;
	struct conn *c = h->conns[f->conn];
	if (f->type == LINK_CONN_OPEN) {
		if (c)
			return -EPROTO; /* never reused while open */
		return open_conn(h, f->conn);
	}
	if (!c)
		return 0; /* ended by us while the guest was still sending */
	switch (f->type) {
	case LINK_CONN_CLOSE:
		conn_free(h, c);
		return 0;
	case LINK_WL:
		r = handle_wl(h, c, f->payload, f->len);
		break;
	case LINK_FD_SHM:
	case LINK_FD_PIPE:
		r = handle_fd_announcement(h, c, f->type, f->payload, f->len);
		break;
	case LINK_PIPE_DATA:
		r = handle_pipe_data(h, c, f->payload, f->len);
		break;
	case LINK_PIPE_END:
		r = handle_pipe_end(h, c, f->payload, f->len);
		break;
	case LINK_SHM_WRITE:
		r = handle_shm_write(h, c, f->payload, f->len);
		break;
	default: /* LINK_FD_FILE goes to the guest only */
		r = conn_end(h, c, "frame type %u from the guest", f->type);
		break;
	}
	return r == CONN_ENDED ? 0 : r;
}

/* ---- SHM_WRITE rows straight from the link into the pool ---- */

/* The link's next frame is a raw SHM_WRITE with only part of its rows read: when its header
 * passes every check of handle_shm_write, the rows read so far go into the pool and the rest
 * is read there directly (direct_read), which saves copying them through the reader's buffer.
 * Anything else is left to the ordinary path (which refuses what is wrong). 1 when started. */
static int direct_start(struct host *h)
{
	struct link_frame f;
	size_t have;
	if (!h->hello || link_reader_partial(h->reader, &f, &have) != 1)
		return 0;
	if (f.type != LINK_SHM_WRITE || f.conn < 1 || f.conn > LINK_MAX_CONNS ||
	    !h->conns[f.conn] || f.len < SHM_WRITE_HEADER + DIRECT_MIN || have < SHM_WRITE_HEADER)
		return 0;
	struct conn *c = h->conns[f.conn];
	const uint8_t *p = f.payload;
	uint32_t pool_id = unaligned_read_le32(p), offset = unaligned_read_le32(p + 4),
		 row_len = unaligned_read_le32(p + 8);
	uint32_t stride = unaligned_read_le32(p + 12), rows = unaligned_read_le32(p + 16),
		 flags = unaligned_read_le32(p + 20);
	struct pool *pool = find_pool(c, pool_id);
	uint64_t total = (uint64_t)rows * row_len;
	if (!pool || flags != 0 || total != f.len - SHM_WRITE_HEADER ||
	    !shm_write_fits(pool, offset, row_len, stride, rows))
		return 0;
	uint64_t holes = write_holes(c, pool, offset, (uint64_t)(rows - 1) * stride + row_len);
	if (h->shm_resident + holes > LINK_MAX_SHM_RESIDENT)
		return 0;
	h->direct.conn = f.conn;
	h->direct.pool = pool_id;
	h->direct.offset = offset;
	h->direct.row_len = row_len;
	h->direct.stride = rows == 1 ? row_len : stride;
	h->direct.total = total;
	h->direct.holes = holes > 0;
	/* what was read with the header */
	const uint8_t *data = p + SHM_WRITE_HEADER;
	uint64_t done = 0, n = have - SHM_WRITE_HEADER;
	while (done < n) {
		uint64_t row = done / row_len, col = done % row_len;
		uint64_t k = row_len - col < n - done ? row_len - col : n - done;
		memcpy(pool->map + offset + row * h->direct.stride + col, data + done, k);
		done += k;
	}
	h->direct.done = done;
	link_reader_skip_partial(h->reader);
	return 1;
}

/* Reads more of the direct rows: 1 when they are all in, 0 when the link has no more now,
 * -EPIPE at its end, other negative errno on errors. */
static int direct_read(struct host *h)
{
	static uint8_t drop[PIPE_CHUNK];
	struct conn *c = h->conns[h->direct.conn];
	struct pool *pool = c ? find_pool(c, h->direct.pool) : NULL;
	struct iovec iov[DIRECT_IOV];
	int n = 0;
	uint64_t at = h->direct.done, left = h->direct.total - at;

	if (!pool) {
		/* its connection ended meanwhile: the rest of the frame goes nowhere */
		iov[n++] = (struct iovec){drop, left < sizeof(drop) ? left : sizeof(drop)};
	} else if (h->direct.stride == h->direct.row_len) {
		iov[n++] = (struct iovec){pool->map + h->direct.offset + at, left};
	} else {
		while (n < DIRECT_IOV && at < h->direct.total) {
			uint64_t row = at / h->direct.row_len, col = at % h->direct.row_len;
			size_t k = h->direct.row_len - col;
			iov[n++] = (struct iovec){
			    pool->map + h->direct.offset + row * h->direct.stride + col, k};
			at += k;
		}
	}
	ssize_t k = readv(h->link_fd, iov, n);
	if (k < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (k == 0)
		return -EPIPE;
	h->direct.done += (uint64_t)k;
	/* short: the link had no more for now (the next readv would say EAGAIN) */
	if (h->direct.done < h->direct.total)
		return 0;
	if (pool && h->direct.holes)
		pool_update_resident(h, pool);
	h->direct.conn = 0;
	return 1;
}

/* ---- the loop ---- */

enum { TAG_LINK, TAG_CONN, TAG_READ, TAG_WRITE };

struct tag {
	uint8_t kind;
	uint32_t conn;
};

int host_dispatch(struct host *h, int timeout_ms)
{
	struct pollfd pfd[1 + LINK_MAX_CONNS * (1 + 2 * MAX_TRANSFERS)];
	struct tag tags[ARRAY_SIZE(pfd)];
	unsigned n = 0;
	/* While the guest does not read, nothing more is read for it. */
	bool backlog = link_queued(h->writer) > LINK_MAX_QUEUED_BYTES / 2;
	int r;

	pfd[n] = (struct pollfd){h->link_fd,
				 (short)(POLLIN | (link_queued(h->writer) ? POLLOUT : 0)), 0};
	tags[n++] = (struct tag){TAG_LINK, 0};
	for (uint32_t id = 1; id <= LINK_MAX_CONNS; id++) {
		struct conn *c = h->conns[id];
		if (!c)
			continue;
		pfd[n] = (struct pollfd){
		    c->fd, (short)((backlog ? 0 : POLLIN) | (c->out_len ? POLLOUT : 0)), 0};
		tags[n++] = (struct tag){TAG_CONN, id};
		for (unsigned i = 0; i < c->nreads; i++) {
			pfd[n] = (struct pollfd){c->reads[i].fd, backlog ? 0 : POLLIN, 0};
			tags[n++] = (struct tag){TAG_READ, id};
		}
		/* A pipe with nothing to write is not polled: a reader that left would make
		 * poll report it at once, forever. */
		for (unsigned i = 0; i < c->nwrites; i++) {
			pfd[n] =
			    (struct pollfd){c->writes[i].len ? c->writes[i].fd : -1, POLLOUT, 0};
			tags[n++] = (struct tag){TAG_WRITE, id};
		}
	}
	r = poll(pfd, n, timeout_ms);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;

	/* Connections and pipes first: none is made until the link's frames are read below, so
	 * a tag's connection is the one polled, if it still exists. */
	for (unsigned i = 1; i < n; i++) {
		if (!pfd[i].revents)
			continue;
		struct conn *c = h->conns[tags[i].conn];
		if (!c)
			continue;
		if (tags[i].kind == TAG_CONN) {
			if (c->fd != pfd[i].fd)
				continue;
			if (pfd[i].revents & POLLOUT) {
				r = conn_flush(h, c);
				if (r == CONN_ENDED)
					continue;
				if (r < 0)
					return r;
			}
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) {
				r = conn_readable(h, c);
				if (r < 0 && r != CONN_ENDED)
					return r;
			}
		} else if (tags[i].kind == TAG_READ) {
			for (unsigned k = 0; k < c->nreads; k++)
				if (c->reads[k].fd == pfd[i].fd) {
					r = read_transfer_ready(h, c, k);
					if (r < 0)
						return r;
					break;
				}
		} else {
			for (unsigned k = 0; k < c->nwrites; k++)
				if (c->writes[k].fd == pfd[i].fd) {
					r = write_transfer_flush(h, c, &c->writes[k]);
					if (r < 0)
						return r;
					break;
				}
		}
	}

	if (pfd[0].revents & POLLOUT) {
		r = link_flush(h->writer);
		if (r < 0)
			return r;
	}
	if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
		struct link_frame f;
		for (;;) {
			if (h->direct.conn) {
				r = direct_read(h);
				if (r == -EPIPE)
					return 1;
				if (r <= 0)
					return r;
				continue;
			}
			r = link_read_frame(h->reader, &f);
			if (r == -EPIPE)
				return 1;
			/* 2: a large frame is partly here; read on when it is not for direct_start
			 */
			if (r == 2) {
				direct_start(h);
				continue;
			}
			if (r == 0 && direct_start(h))
				continue;
			if (r <= 0)
				return r;
			r = host_handle_frame(h, &f);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int host_new(const char *qube, int link_fd, host_connect_fn connect, void *userdata,
	     struct host **ret)
{
	struct host *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->qube = strdup(qube);
	h->link_fd = link_fd;
	h->reader = link_reader_new(link_fd);
	if (h->reader)
		link_reader_stop_at_partial(h->reader, true);
	h->writer = link_writer_new(link_fd, LINK_MAX_QUEUED_BYTES);
	h->connect = connect;
	h->userdata = userdata;
	if (!h->qube || !h->reader || !h->writer) {
		host_free(h);
		return -ENOMEM;
	}
	*ret = h;
	return 0;
}

void host_free(struct host *h)
{
	if (!h)
		return;
	for (uint32_t id = 1; id <= LINK_MAX_CONNS; id++)
		conn_free(h, h->conns[id]);
	link_reader_free(h->reader);
	link_writer_free(h->writer);
	free(h->qube);
	free(h);
}

unsigned host_conn_count(const struct host *h)
{
	unsigned n = 0;
	for (uint32_t id = 1; id <= LINK_MAX_CONNS; id++)
		n += h->conns[id] != NULL;
	return n;
}
