/*
 * bulkhead-demo-window: one xdg-shell window with a test pattern, for minimal qubes.
 *
 * Debian ships libwayland-client only as a shared library, and the minimal template holds static
 * binaries, so this speaks the Wayland wire protocol itself: a handful of requests on
 * wl_display, wl_registry, wl_compositor, wl_shm and xdg_wm_base, one shm buffer from a memfd.
 * It stays until the compositor closes the window (xdg_toplevel.close) or it is killed.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fd-pass.h"
#include "util.h"

#define MSG_MAX	     4096 /* libwayland's own limit on one message */
#define SIZE_MAX_PX  4096 /* a configure asking for more is capped */
#define DEFAULT_W    320
#define DEFAULT_H    200
#define SHM_XRGB8888 1

/* Object ids: ours are allocated in this order. */
enum {
	ID_DISPLAY = 1,
	ID_REGISTRY,
	ID_SYNC,
	ID_COMPOSITOR,
	ID_SHM,
	ID_WM_BASE,
	ID_SURFACE,
	ID_XDG_SURFACE,
	ID_TOPLEVEL,
	ID_FIRST_FREE,
};

struct global {
	uint32_t name, version;
};

struct client {
	int fd;
	uint8_t in[2 * MSG_MAX];
	size_t in_len;
	uint32_t next_id;
	struct global compositor, shm, wm_base;
	bool synced, configured, closed;
	int32_t want_w, want_h; /* from xdg_toplevel.configure; 0: our choice */
	int32_t cur_w, cur_h;	/* of the attached buffer */
	uint32_t buffer;	/* 0: none */
	const char *title;
};

/* One request being built: header, then arguments, each 4-byte aligned. */
struct msg {
	uint32_t w[MSG_MAX / 4];
	size_t n;
	int fd;
};

static void msg_begin(struct msg *m, uint32_t object, uint32_t opcode)
{
	m->w[0] = object;
	m->w[1] = opcode;
	m->n = 2;
	m->fd = -1;
}

static void msg_u32(struct msg *m, uint32_t v)
{
	if (m->n < ARRAY_SIZE(m->w))
		m->w[m->n++] = v;
}

static void msg_string(struct msg *m, const char *s)
{
	size_t len = strlen(s) + 1;
	size_t words = (len + 3) / 4;
	if (m->n + 1 + words > ARRAY_SIZE(m->w))
		return;
	m->w[m->n++] = (uint32_t)len;
	memset(&m->w[m->n], 0, words * 4);
	memcpy(&m->w[m->n], s, len);
	m->n += words;
}

static int msg_send(struct client *c, struct msg *m)
{
	size_t bytes = m->n * 4;
	m->w[1] |= (uint32_t)bytes << 16;
	/* Our requests are few and small: the socket buffer takes each whole. */
	ssize_t n = send_one_fd(c->fd, m->w, bytes, m->fd, 0);
	if (n < 0)
		return (int)n;
	return (size_t)n == bytes ? 0 : -EIO;
}

static int bind_global(struct client *c, const struct global *g, const char *iface,
		       uint32_t max_version, uint32_t id)
{
	struct msg m;
	msg_begin(&m, ID_REGISTRY, 0); /* wl_registry.bind */
	msg_u32(&m, g->name);
	msg_string(&m, iface);
	msg_u32(&m, g->version < max_version ? g->version : max_version);
	msg_u32(&m, id);
	return msg_send(c, &m);
}

static int simple(struct client *c, uint32_t object, uint32_t opcode, int nargs, ...)
{
	struct msg m;
	va_list ap;
	msg_begin(&m, object, opcode);
	va_start(ap, nargs);
	for (int i = 0; i < nargs; i++)
		msg_u32(&m, va_arg(ap, uint32_t));
	va_end(ap);
	return msg_send(c, &m);
}

/* A pattern that shows scaling or tearing at a glance: diagonal bands over a checkerboard. */
static void draw(uint32_t *px, int32_t w, int32_t h)
{
	for (int32_t y = 0; y < h; y++)
		for (int32_t x = 0; x < w; x++) {
			uint32_t check = ((x / 16) ^ (y / 16)) & 1 ? 0x303030 : 0x505050;
			uint32_t band = (uint32_t)((x + y) / 8) % 3;
			uint32_t tint = band == 0 ? 0x600000 : band == 1 ? 0x006000 : 0x000060;
			px[(size_t)y * (size_t)w + (size_t)x] = 0xff000000u | (check + tint);
		}
}

/* A new buffer at the size the compositor wants, attached and committed. */
static int present(struct client *c)
{
	int32_t w = c->want_w > 0 ? c->want_w : DEFAULT_W;
	int32_t h = c->want_h > 0 ? c->want_h : DEFAULT_H;
	if (w > SIZE_MAX_PX)
		w = SIZE_MAX_PX;
	if (h > SIZE_MAX_PX)
		h = SIZE_MAX_PX;
	if (c->buffer && w == c->cur_w && h == c->cur_h)
		return simple(c, ID_SURFACE, 6, 0); /* wl_surface.commit: acks the configure */

	size_t stride = (size_t)w * 4, size = stride * (size_t)h;
	_cleanup_close_ int fd = memfd_create("bulkhead-demo-window", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		return -errno;
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	draw(p, w, h);
	munmap(p, size);

	uint32_t pool = c->next_id++, buffer = c->next_id++;
	struct msg m;
	msg_begin(&m, ID_SHM, 0); /* wl_shm.create_pool */
	msg_u32(&m, pool);
	msg_u32(&m, (uint32_t)size);
	m.fd = fd;
	int r = msg_send(c, &m);
	if (r < 0)
		return r;
	/* wl_shm_pool.create_buffer, then the pool is not needed any more */
	if ((r = simple(c, pool, 0, 6, buffer, 0u, (uint32_t)w, (uint32_t)h, (uint32_t)stride,
			(uint32_t)SHM_XRGB8888)) < 0 ||
	    (r = simple(c, pool, 1, 0)) < 0)
		return r;
	/* wl_surface.attach, damage, commit */
	if ((r = simple(c, ID_SURFACE, 1, 3, buffer, 0u, 0u)) < 0 ||
	    (r = simple(c, ID_SURFACE, 2, 4, 0u, 0u, (uint32_t)w, (uint32_t)h)) < 0 ||
	    (r = simple(c, ID_SURFACE, 6, 0)) < 0)
		return r;
	if (c->buffer && (r = simple(c, c->buffer, 0, 0)) < 0) /* wl_buffer.destroy */
		return r;
	c->buffer = buffer;
	c->cur_w = w;
	c->cur_h = h;
	return 0;
}

/* A string argument inside [p, end): length-checked, NUL-terminated. */
static const char *arg_string(const uint8_t *p, const uint8_t *end, const uint8_t **next)
{
	uint32_t len;
	if (end - p < 4)
		return NULL;
	memcpy(&len, p, 4);
	size_t padded = ((size_t)len + 3) & ~(size_t)3;
	if (len == 0 || padded > (size_t)(end - p - 4) || p[4 + len - 1] != '\0')
		return NULL;
	*next = p + 4 + padded;
	return (const char *)p + 4;
}

static uint32_t arg_u32(const uint8_t *p, const uint8_t *end, size_t i)
{
	uint32_t v = 0;
	if ((size_t)(end - p) >= (i + 1) * 4)
		memcpy(&v, p + i * 4, 4);
	return v;
}

static int handle_event(struct client *c, uint32_t object, uint32_t opcode, const uint8_t *a,
			const uint8_t *end)
{
	const uint8_t *next;

	if (object == ID_DISPLAY && opcode == 0) { /* wl_display.error */
		const char *msg = end - a >= 8 ? arg_string(a + 8, end, &next) : NULL;
		fprintf(stderr, "bulkhead-demo-window: protocol error on object %u, code %u: %s\n",
			arg_u32(a, end, 0), arg_u32(a, end, 1), msg ? msg : "?");
		return -EPROTO;
	}
	if (object == ID_REGISTRY && opcode == 0) { /* wl_registry.global */
		if (end - a < 4)
			return -EBADMSG;
		uint32_t name = arg_u32(a, end, 0);
		const char *iface = arg_string(a + 4, end, &next);
		if (!iface)
			return -EBADMSG;
		struct global g = {name, arg_u32(next, end, 0)};
		if (streq(iface, "wl_compositor"))
			c->compositor = g;
		else if (streq(iface, "wl_shm"))
			c->shm = g;
		else if (streq(iface, "xdg_wm_base"))
			c->wm_base = g;
		return 0;
	}
	if (object == ID_SYNC && opcode == 0) { /* wl_callback.done */
		c->synced = true;
		return 0;
	}
	if (object == ID_WM_BASE && opcode == 0) /* xdg_wm_base.ping */
		return simple(c, ID_WM_BASE, 3, 1, arg_u32(a, end, 0));
	if (object == ID_TOPLEVEL && opcode == 0) { /* xdg_toplevel.configure */
		c->want_w = (int32_t)arg_u32(a, end, 0);
		c->want_h = (int32_t)arg_u32(a, end, 1);
		return 0;
	}
	if (object == ID_TOPLEVEL && opcode == 1) { /* xdg_toplevel.close */
		c->closed = true;
		return 0;
	}
	if (object == ID_XDG_SURFACE && opcode == 0) { /* xdg_surface.configure */
		int r = simple(c, ID_XDG_SURFACE, 4, 1, arg_u32(a, end, 0));
		if (r < 0)
			return r;
		c->configured = true;
		return present(c);
	}
	/* Everything else (wl_shm.format, wl_buffer.release, delete_id, ...) needs no answer. */
	return 0;
}

/* Reads what arrived and handles every whole message. */
static int dispatch(struct client *c)
{
	int fd;
	ssize_t n = receive_one_fd(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, &fd, 0);
	if (n < 0)
		return (int)n;
	if (n == 0)
		return -ECONNRESET;
	/* We bind nothing that sends descriptors; one that comes anyway is closed (and any
	 * beyond it already were). */
	if (fd >= 0)
		close(fd);
	c->in_len += (size_t)n;

	size_t off = 0;
	while (c->in_len - off >= 8) {
		uint32_t object, word;
		memcpy(&object, c->in + off, 4);
		memcpy(&word, c->in + off + 4, 4);
		uint32_t size = word >> 16;
		if (size < 8 || size > MSG_MAX || size % 4)
			return -EBADMSG;
		if (c->in_len - off < size)
			break;
		int r = handle_event(c, object, word & 0xffff, c->in + off + 8, c->in + off + size);
		if (r < 0)
			return r;
		off += size;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	return 0;
}

static int connect_display(int *ret_fd)
{
	const char *display = getenv("WAYLAND_DISPLAY");
	const char *runtime = getenv("XDG_RUNTIME_DIR");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int n;

	if (!display || !*display)
		display = "wayland-0";
	if (display[0] == '/')
		n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", display);
	else if (runtime && *runtime)
		n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", runtime, display);
	else
		return -ENOENT;
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int run(struct client *c)
{
	int r;

	/* wl_display.get_registry, then a sync: its done event follows every global. */
	if ((r = simple(c, ID_DISPLAY, 1, 1, (uint32_t)ID_REGISTRY)) < 0 ||
	    (r = simple(c, ID_DISPLAY, 0, 1, (uint32_t)ID_SYNC)) < 0)
		return r;
	while (!c->synced)
		if ((r = dispatch(c)) < 0)
			return r;
	if (!c->compositor.name || !c->shm.name || !c->wm_base.name) {
		fprintf(stderr, "bulkhead-demo-window: the compositor lacks wl_compositor, wl_shm "
				"or xdg_wm_base\n");
		return -ENOTSUP;
	}
	if ((r = bind_global(c, &c->compositor, "wl_compositor", 4, ID_COMPOSITOR)) < 0 ||
	    (r = bind_global(c, &c->shm, "wl_shm", 1, ID_SHM)) < 0 ||
	    (r = bind_global(c, &c->wm_base, "xdg_wm_base", 1, ID_WM_BASE)) < 0 ||
	    /* wl_compositor.create_surface, xdg_wm_base.get_xdg_surface, get_toplevel */
	    (r = simple(c, ID_COMPOSITOR, 0, 1, (uint32_t)ID_SURFACE)) < 0 ||
	    (r = simple(c, ID_WM_BASE, 2, 2, (uint32_t)ID_XDG_SURFACE, (uint32_t)ID_SURFACE)) < 0 ||
	    (r = simple(c, ID_XDG_SURFACE, 1, 1, (uint32_t)ID_TOPLEVEL)) < 0)
		return r;
	struct msg m;
	msg_begin(&m, ID_TOPLEVEL, 2); /* xdg_toplevel.set_title */
	msg_string(&m, c->title);
	if ((r = msg_send(c, &m)) < 0)
		return r;
	msg_begin(&m, ID_TOPLEVEL, 3); /* xdg_toplevel.set_app_id */
	msg_string(&m, "bulkhead-demo-window");
	if ((r = msg_send(c, &m)) < 0)
		return r;
	/* The first commit, without a buffer, asks for the first configure. */
	if ((r = simple(c, ID_SURFACE, 6, 0)) < 0)
		return r;
	while (!c->closed)
		if ((r = dispatch(c)) < 0)
			return r;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"title", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	struct client c = {.fd = -1, .next_id = ID_FIRST_FREE, .title = "bulkhead-demo-window"};
	int opt;

	while ((opt = getopt_long(argc, argv, "t:h", opts, NULL)) != -1) {
		switch (opt) {
		case 't':
			c.title = optarg;
			break;
		case 'h':
			printf("Usage: bulkhead-demo-window [--title TITLE]\n"
			       "Shows one window with a test pattern until it is closed.\n");
			return 0;
		default:
			return 2;
		}
	}
	if (strlen(c.title) > 1024) {
		fprintf(stderr, "bulkhead-demo-window: the title is too long\n");
		return 2;
	}
	int r = connect_display(&c.fd);
	if (r < 0) {
		fprintf(stderr, "bulkhead-demo-window: cannot connect to the Wayland display: %s\n",
			strerror(-r));
		return 1;
	}
	r = run(&c);
	close(c.fd);
	if (r < 0 && r != -EPROTO && r != -ENOTSUP)
		fprintf(stderr, "bulkhead-demo-window: %s\n", strerror(-r));
	return r < 0 ? 1 : 0;
}
