/* An animated Wayland client for the GUI benchmark: an xdg toplevel of a fixed size drawn into
 * wl_shm buffers reused by buffer age, one frame per frame callback.
 *   full:  every pixel changes every frame (a moving pattern), damage is the whole window;
 *   small: a 64x64 square moves over a still background, damage is where it was and is.
 * Prints "ready" after the warm-up frames and "done FRAMES SECONDS" after the measured ones,
 * on stdout, so that the benchmark samples its proxies' counters between the two; then waits
 * for the end of stdin. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <wayland-client.h>

#include "xdg-shell-client-protocol.h"

#define NBUF   3
#define SQUARE 64

struct buffer {
	struct wl_buffer *wl;
	uint32_t *px;
	bool busy;
	int age_frame; /* frame number last drawn into it, -1: never */
};

static struct {
	struct wl_compositor *compositor;
	struct wl_shm *shm;
	struct xdg_wm_base *wm;
	struct wl_surface *surface;
	struct xdg_surface *xdg_surface;
	struct xdg_toplevel *toplevel;
	bool configured, closed, frame_done;
	int width, height;
	bool small;
	struct buffer bufs[NBUF];
	int frame;
} app;

static void registry_global(void *data, struct wl_registry *reg, uint32_t name, const char *iface,
			    uint32_t version)
{
	if (strcmp(iface, wl_compositor_interface.name) == 0)
		app.compositor = wl_registry_bind(reg, name, &wl_compositor_interface, 4);
	else if (strcmp(iface, wl_shm_interface.name) == 0)
		app.shm = wl_registry_bind(reg, name, &wl_shm_interface, 1);
	else if (strcmp(iface, xdg_wm_base_interface.name) == 0)
		app.wm = wl_registry_bind(reg, name, &xdg_wm_base_interface, 1);
}

static void registry_remove(void *data, struct wl_registry *reg, uint32_t name)
{
}

static const struct wl_registry_listener registry_listener = {
    .global = registry_global,
    .global_remove = registry_remove,
};

static void wm_ping(void *data, struct xdg_wm_base *wm, uint32_t serial)
{
	xdg_wm_base_pong(wm, serial);
}

static const struct xdg_wm_base_listener wm_listener = {.ping = wm_ping};

static void xdg_surface_configure(void *data, struct xdg_surface *s, uint32_t serial)
{
	xdg_surface_ack_configure(s, serial);
	app.configured = true;
}

static const struct xdg_surface_listener xdg_surface_listener = {.configure =
								     xdg_surface_configure};

static void toplevel_configure(void *data, struct xdg_toplevel *t, int32_t w, int32_t h,
			       struct wl_array *states)
{
}

static void toplevel_close(void *data, struct xdg_toplevel *t)
{
	app.closed = true;
}

static const struct xdg_toplevel_listener toplevel_listener = {
    .configure = toplevel_configure,
    .close = toplevel_close,
};

static void buffer_release(void *data, struct wl_buffer *wl)
{
	((struct buffer *)data)->busy = false;
}

static const struct wl_buffer_listener buffer_listener = {.release = buffer_release};

static void frame_done(void *data, struct wl_callback *cb, uint32_t time)
{
	wl_callback_destroy(cb);
	app.frame_done = true;
}

static const struct wl_callback_listener frame_listener = {.done = frame_done};

static void square_pos(int frame, int *x, int *y)
{
	*x = (frame * 7) % (app.width - SQUARE);
	*y = (frame * 3) % (app.height - SQUARE);
}

static void fill(uint32_t *px, int x0, int y0, int w, int h, int frame)
{
	for (int y = y0; y < y0 + h; y++)
		for (int x = x0; x < x0 + w; x++) {
			uint32_t v;

			if (app.small) {
				int sx, sy;

				square_pos(frame, &sx, &sy);
				v = x >= sx && x < sx + SQUARE && y >= sy && y < sy + SQUARE
					? 0xffff8000u
					: 0xff203040u + ((x / 16 + y / 16) % 2) * 0x101010u;
			} else {
				/* Changes everywhere each frame, with the smooth structure real
				 * content (gradients, photos, video) has. */
				v = 0xff000000u | ((x + frame) & 0xff) << 16 |
				    ((y + 2 * frame) & 0xff) << 8 | ((x ^ y) + frame) % 251;
			}
			px[y * app.width + x] = v;
		}
}

/* The region frame changed compared with frame - 1: x, y, w, h into r[], count returned. */
static int frame_damage(int frame, int r[2][4])
{
	int x, y;

	if (!app.small) {
		r[0][0] = r[0][1] = 0;
		r[0][2] = app.width;
		r[0][3] = app.height;
		return 1;
	}
	square_pos(frame - 1, &x, &y);
	r[0][0] = x, r[0][1] = y, r[0][2] = r[0][3] = SQUARE;
	square_pos(frame, &x, &y);
	r[1][0] = x, r[1][1] = y, r[1][2] = r[1][3] = SQUARE;
	return 2;
}

static int make_buffers(void)
{
	size_t stride = app.width * 4, size = stride * app.height;
	int fd = memfd_create("bench-gui", MFD_CLOEXEC);
	struct wl_shm_pool *pool;
	uint8_t *mem;

	if (fd < 0 || ftruncate(fd, size * NBUF) < 0)
		return -errno;
	mem = mmap(NULL, size * NBUF, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED)
		return -errno;
	pool = wl_shm_create_pool(app.shm, fd, size * NBUF);
	for (int i = 0; i < NBUF; i++) {
		app.bufs[i].wl = wl_shm_pool_create_buffer(pool, i * size, app.width, app.height,
							   stride, WL_SHM_FORMAT_XRGB8888);
		app.bufs[i].px = (uint32_t *)(mem + i * size);
		app.bufs[i].age_frame = -1;
		wl_buffer_add_listener(app.bufs[i].wl, &buffer_listener, &app.bufs[i]);
	}
	wl_shm_pool_destroy(pool);
	close(fd);
	return 0;
}

static void draw(void)
{
	struct buffer *b = NULL;
	struct wl_callback *cb;
	int r[2][4], n;

	for (int i = 0; i < NBUF && !b; i++)
		if (!app.bufs[i].busy)
			b = &app.bufs[i];
	if (!b) {
		fprintf(stderr, "no free buffer\n");
		exit(1);
	}
	/* Repaint what changed since this buffer was last shown (buffer age). */
	if (b->age_frame < 0 || app.frame - b->age_frame > 8)
		fill(b->px, 0, 0, app.width, app.height, app.frame);
	else
		for (int f = b->age_frame + 1; f <= app.frame; f++) {
			n = frame_damage(f, r);
			for (int i = 0; i < n; i++)
				fill(b->px, r[i][0], r[i][1], r[i][2], r[i][3], app.frame);
		}
	b->age_frame = app.frame;
	b->busy = true;
	wl_surface_attach(app.surface, b->wl, 0, 0);
	n = frame_damage(app.frame, r);
	if (app.frame == 0)
		wl_surface_damage_buffer(app.surface, 0, 0, app.width, app.height);
	else
		for (int i = 0; i < n; i++)
			wl_surface_damage_buffer(app.surface, r[i][0], r[i][1], r[i][2], r[i][3]);
	cb = wl_surface_frame(app.surface);
	wl_callback_add_listener(cb, &frame_listener, NULL);
	app.frame_done = false;
	wl_surface_commit(app.surface);
	app.frame++;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct wl_display *display;
	int warmup, frames;
	double start = 0;

	if (argc != 6 || (strcmp(argv[1], "full") && strcmp(argv[1], "small"))) {
		fprintf(stderr, "Usage: bench-gui-client full|small WIDTH HEIGHT WARMUP FRAMES\n");
		return 2;
	}
	app.small = strcmp(argv[1], "small") == 0;
	app.width = atoi(argv[2]);
	app.height = atoi(argv[3]);
	warmup = atoi(argv[4]);
	frames = atoi(argv[5]);
	if (app.width <= SQUARE || app.height <= SQUARE || warmup < 1 || frames < 1) {
		fprintf(stderr, "bench-gui-client: bad sizes\n");
		return 2;
	}
	display = wl_display_connect(NULL);
	if (!display) {
		fprintf(stderr, "bench-gui-client: cannot connect to the Wayland display\n");
		return 1;
	}
	wl_registry_add_listener(wl_display_get_registry(display), &registry_listener, NULL);
	wl_display_roundtrip(display);
	if (!app.compositor || !app.shm || !app.wm) {
		fprintf(stderr, "bench-gui-client: missing globals\n");
		return 1;
	}
	xdg_wm_base_add_listener(app.wm, &wm_listener, NULL);
	app.surface = wl_compositor_create_surface(app.compositor);
	app.xdg_surface = xdg_wm_base_get_xdg_surface(app.wm, app.surface);
	xdg_surface_add_listener(app.xdg_surface, &xdg_surface_listener, NULL);
	app.toplevel = xdg_surface_get_toplevel(app.xdg_surface);
	xdg_toplevel_add_listener(app.toplevel, &toplevel_listener, NULL);
	xdg_toplevel_set_title(app.toplevel, "bench");
	wl_surface_commit(app.surface);
	while (!app.configured && wl_display_dispatch(display) >= 0)
		;
	if (make_buffers() < 0) {
		fprintf(stderr, "bench-gui-client: cannot make buffers\n");
		return 1;
	}
	draw();
	while (!app.closed && app.frame < warmup + frames) {
		if (wl_display_dispatch(display) < 0) {
			fprintf(stderr, "bench-gui-client: connection lost\n");
			return 1;
		}
		if (!app.frame_done)
			continue;
		if (app.frame == warmup) {
			/* Everything up to here is on the compositor's side. */
			wl_display_roundtrip(display);
			printf("ready\n");
			fflush(stdout);
			start = now();
		}
		draw();
	}
	wl_display_roundtrip(display);
	printf("done %d %.6f\n", frames, now() - start);
	fflush(stdout);
	/* Alive until the benchmark has sampled its proxies' CPU times: the parent of a client
	 * run by waypipe would add ours to them once it reaps us. */
	while (getchar() != EOF)
		;
	wl_display_disconnect(display);
	return 0;
}
