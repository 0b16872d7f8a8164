/* A small Wayland client for the compositor's pixel tests: one toplevel in a solid colour, with
 * optional subsurfaces and popups in colours of their own, optionally fullscreen. Prints
 * "test-client ready" on stderr once everything is committed and the compositor has seen it. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <wayland-client.h>

#include "xdg-shell-client-protocol.h"

#define MAX_PARTS 4

struct part {
	int x, y, width, height;
	uint32_t rgb;
	bool fixed; /* popups: no constraint adjustment (the compositor must still keep it in) */
	/* popups: adjusted as Firefox's menus ask (flip, resize, slide sideways), and drawn at
	 * the size the compositor configures, as a real client does */
	bool menu;
	int conf_width, conf_height;
	struct wl_surface *surface;
	struct wl_subsurface *subsurface;
	struct xdg_surface *xdg_surface;
	struct xdg_popup *popup;
	bool configured;
};

static struct {
	struct wl_display *display;
	struct wl_compositor *compositor;
	struct wl_subcompositor *subcompositor;
	struct wl_shm *shm;
	struct xdg_wm_base *wm_base;
	struct wl_surface *surface;
	struct xdg_surface *xdg_surface;
	struct xdg_toplevel *toplevel;
	int width, height;	     /* the size asked for */
	int conf_width, conf_height; /* the last configure's, 0 if none */
	bool configured, dirty, closed;
	uint32_t rgb;
	struct part subsurfaces[MAX_PARTS], popups[MAX_PARTS];
	int n_subsurfaces, n_popups;
} c;

static void die(const char *what)
{
	fprintf(stderr, "test-client: %s\n", what);
	exit(1);
}

static struct wl_buffer *solid_buffer(int width, int height, uint32_t rgb)
{
	if (width <= 0 || height <= 0 || width > 8192 || height > 8192)
		die("bad buffer size");
	size_t stride = (size_t)width * 4, size = stride * (size_t)height;
	int fd = memfd_create("test-client", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		die("memfd");
	uint32_t *data = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (data == MAP_FAILED)
		die("mmap");
	for (size_t i = 0; i < size / 4; i++)
		data[i] = 0xff000000u | rgb;
	munmap(data, size);
	struct wl_shm_pool *pool = wl_shm_create_pool(c.shm, fd, (int32_t)size);
	struct wl_buffer *buffer = wl_shm_pool_create_buffer(
	    pool, 0, width, height, (int32_t)stride, WL_SHM_FORMAT_XRGB8888);
	wl_shm_pool_destroy(pool);
	close(fd);
	return buffer;
}

static void buffer_release(void *data, struct wl_buffer *buffer)
{
	wl_buffer_destroy(buffer);
}

static const struct wl_buffer_listener buffer_listener = {.release = buffer_release};

static void attach_solid(struct wl_surface *surface, int width, int height, uint32_t rgb)
{
	struct wl_buffer *buffer = solid_buffer(width, height, rgb);
	wl_buffer_add_listener(buffer, &buffer_listener, NULL);
	wl_surface_attach(surface, buffer, 0, 0);
	wl_surface_damage(surface, 0, 0, width, height);
}

static void wm_base_ping(void *data, struct xdg_wm_base *wm_base, uint32_t serial)
{
	xdg_wm_base_pong(wm_base, serial);
}

static const struct xdg_wm_base_listener wm_base_listener = {.ping = wm_base_ping};

/* --log-pointer: each button event on stderr, "test-client button SX SY STATE", with where the
 * pointer was on the surface (so a test can tell which click reached it). */
static bool log_pointer;
static int pointer_x, pointer_y;

static void pointer_enter(void *data, struct wl_pointer *p, uint32_t serial, struct wl_surface *s,
			  wl_fixed_t x, wl_fixed_t y)
{
	pointer_x = wl_fixed_to_int(x);
	pointer_y = wl_fixed_to_int(y);
}

static void pointer_leave(void *data, struct wl_pointer *p, uint32_t serial, struct wl_surface *s)
{
}

static void pointer_motion(void *data, struct wl_pointer *p, uint32_t t, wl_fixed_t x, wl_fixed_t y)
{
	pointer_x = wl_fixed_to_int(x);
	pointer_y = wl_fixed_to_int(y);
}

static void pointer_button(void *data, struct wl_pointer *p, uint32_t serial, uint32_t t,
			   uint32_t button, uint32_t state)
{
	fprintf(stderr, "test-client button %d %d %u\n", pointer_x, pointer_y, state);
}

static void pointer_axis(void *data, struct wl_pointer *p, uint32_t t, uint32_t axis,
			 wl_fixed_t value)
{
}

static const struct wl_pointer_listener pointer_listener = {
    .enter = pointer_enter,
    .leave = pointer_leave,
    .motion = pointer_motion,
    .button = pointer_button,
    .axis = pointer_axis,
};

static void seat_capabilities(void *data, struct wl_seat *seat, uint32_t caps)
{
	static struct wl_pointer *pointer;
	if ((caps & WL_SEAT_CAPABILITY_POINTER) && !pointer) {
		pointer = wl_seat_get_pointer(seat);
		wl_pointer_add_listener(pointer, &pointer_listener, NULL);
	}
}

static const struct wl_seat_listener seat_listener = {.capabilities = seat_capabilities};

static void registry_global(void *data, struct wl_registry *registry, uint32_t name,
			    const char *interface, uint32_t version)
{
	if (strcmp(interface, wl_compositor_interface.name) == 0)
		c.compositor = wl_registry_bind(registry, name, &wl_compositor_interface, 4);
	else if (strcmp(interface, wl_subcompositor_interface.name) == 0)
		c.subcompositor = wl_registry_bind(registry, name, &wl_subcompositor_interface, 1);
	else if (strcmp(interface, wl_shm_interface.name) == 0)
		c.shm = wl_registry_bind(registry, name, &wl_shm_interface, 1);
	else if (strcmp(interface, xdg_wm_base_interface.name) == 0) {
		c.wm_base = wl_registry_bind(registry, name, &xdg_wm_base_interface, 1);
		xdg_wm_base_add_listener(c.wm_base, &wm_base_listener, NULL);
	} else if (log_pointer && strcmp(interface, wl_seat_interface.name) == 0) {
		struct wl_seat *seat = wl_registry_bind(registry, name, &wl_seat_interface, 1);
		wl_seat_add_listener(seat, &seat_listener, NULL);
	}
}

static void registry_global_remove(void *data, struct wl_registry *registry, uint32_t name)
{
}

static const struct wl_registry_listener registry_listener = {
    .global = registry_global,
    .global_remove = registry_global_remove,
};

static void xdg_surface_configure(void *data, struct xdg_surface *xdg_surface, uint32_t serial)
{
	xdg_surface_ack_configure(xdg_surface, serial);
	c.configured = true;
	c.dirty = true;
}

static const struct xdg_surface_listener xdg_surface_listener = {.configure =
								     xdg_surface_configure};

static void toplevel_configure(void *data, struct xdg_toplevel *toplevel, int32_t width,
			       int32_t height, struct wl_array *states)
{
	c.conf_width = width;
	c.conf_height = height;
}

static void toplevel_close(void *data, struct xdg_toplevel *toplevel)
{
	c.closed = true;
}

static const struct xdg_toplevel_listener toplevel_listener = {
    .configure = toplevel_configure,
    .close = toplevel_close,
};

static void popup_surface_configure(void *data, struct xdg_surface *xdg_surface, uint32_t serial)
{
	struct part *p = data;
	xdg_surface_ack_configure(xdg_surface, serial);
	if (!p->configured) {
		bool sized = p->menu && p->conf_width > 0 && p->conf_height > 0;
		attach_solid(p->surface, sized ? p->conf_width : p->width,
			     sized ? p->conf_height : p->height, p->rgb);
		wl_surface_commit(p->surface);
	}
	p->configured = true;
}

static const struct xdg_surface_listener popup_surface_listener = {.configure =
								       popup_surface_configure};

static void popup_configure(void *data, struct xdg_popup *popup, int32_t x, int32_t y,
			    int32_t width, int32_t height)
{
	struct part *p = data;
	p->conf_width = width;
	p->conf_height = height;
}

static void popup_done(void *data, struct xdg_popup *popup)
{
}

static const struct xdg_popup_listener popup_listener = {
    .configure = popup_configure,
    .popup_done = popup_done,
};

static void redraw(void)
{
	int w = c.conf_width > 0 ? c.conf_width : c.width;
	int h = c.conf_height > 0 ? c.conf_height : c.height;
	attach_solid(c.surface, w, h, c.rgb);
	wl_surface_commit(c.surface);
	c.dirty = false;
}

static void add_popup(struct part *p)
{
	struct xdg_positioner *pos = xdg_wm_base_create_positioner(c.wm_base);
	xdg_positioner_set_size(pos, p->width, p->height);
	xdg_positioner_set_anchor_rect(pos, p->x, p->y, 1, 1);
	xdg_positioner_set_anchor(pos, XDG_POSITIONER_ANCHOR_TOP_LEFT);
	xdg_positioner_set_gravity(pos, XDG_POSITIONER_GRAVITY_BOTTOM_RIGHT);
	uint32_t adjust = XDG_POSITIONER_CONSTRAINT_ADJUSTMENT_SLIDE_X |
			  XDG_POSITIONER_CONSTRAINT_ADJUSTMENT_SLIDE_Y;
	if (p->fixed)
		adjust = XDG_POSITIONER_CONSTRAINT_ADJUSTMENT_NONE;
	else if (p->menu)
		adjust = XDG_POSITIONER_CONSTRAINT_ADJUSTMENT_SLIDE_X |
			 XDG_POSITIONER_CONSTRAINT_ADJUSTMENT_FLIP_X |
			 XDG_POSITIONER_CONSTRAINT_ADJUSTMENT_FLIP_Y |
			 XDG_POSITIONER_CONSTRAINT_ADJUSTMENT_RESIZE_X |
			 XDG_POSITIONER_CONSTRAINT_ADJUSTMENT_RESIZE_Y;
	xdg_positioner_set_constraint_adjustment(pos, adjust);
	p->surface = wl_compositor_create_surface(c.compositor);
	p->xdg_surface = xdg_wm_base_get_xdg_surface(c.wm_base, p->surface);
	xdg_surface_add_listener(p->xdg_surface, &popup_surface_listener, p);
	p->popup = xdg_surface_get_popup(p->xdg_surface, c.xdg_surface, pos);
	xdg_popup_add_listener(p->popup, &popup_listener, p);
	xdg_positioner_destroy(pos);
	wl_surface_commit(p->surface);
}

static void add_subsurface(struct part *p)
{
	p->surface = wl_compositor_create_surface(c.compositor);
	p->subsurface = wl_subcompositor_get_subsurface(c.subcompositor, p->surface, c.surface);
	wl_subsurface_set_position(p->subsurface, p->x, p->y);
	attach_solid(p->surface, p->width, p->height, p->rgb);
	/* Synchronized: it appears with the parent's next commit, all subsurfaces at once. */
	wl_surface_commit(p->surface);
}

static int parse_part(const char *arg, struct part *p)
{
	int n = 0;
	unsigned rgb = 0;
	if (sscanf(arg, "%d,%d,%d,%d%n", &p->x, &p->y, &p->width, &p->height, &n) != 4)
		return -EINVAL;
	arg += n;
	if (*arg == ',' && sscanf(arg + 1, "%6x%n", &rgb, &n) == 1) {
		p->rgb = rgb;
		arg += 1 + n;
	}
	if (strcmp(arg, ",fixed") == 0)
		p->fixed = true;
	else if (strcmp(arg, ",menu") == 0)
		p->menu = true;
	else if (*arg)
		return -EINVAL;
	return p->width > 0 && p->height > 0 ? 0 : -EINVAL;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: test-client [--title T] [--colour RRGGBB] [--size WxH] [--fullscreen] "
		   "[--maximized]\n"
		   "  [--log-pointer] [--subsurface X,Y,W,H[,RRGGBB]]... [--popup "
		   "X,Y,W,H[,RRGGBB][,fixed|,menu]]...\n");
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"title", required_argument, NULL, 't'},
	    {"colour", required_argument, NULL, 'c'},
	    {"size", required_argument, NULL, 's'},
	    {"fullscreen", no_argument, NULL, 'f'},
	    {"maximized", no_argument, NULL, 'm'},
	    {"log-pointer", no_argument, NULL, 'l'},
	    {"subsurface", required_argument, NULL, 'u'},
	    {"popup", required_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *title = "test-client";
	bool fullscreen = false, maximized = false;
	int opt;
	c.width = 300;
	c.height = 200;
	c.rgb = 0x808080;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case 't':
			title = optarg;
			break;
		case 'c':
			c.rgb = (uint32_t)strtoul(optarg, NULL, 16) & 0xffffff;
			break;
		case 's':
			if (sscanf(optarg, "%dx%d", &c.width, &c.height) != 2 || c.width <= 0 ||
			    c.height <= 0)
				die("bad --size");
			break;
		case 'f':
			fullscreen = true;
			break;
		case 'm':
			maximized = true;
			break;
		case 'l':
			log_pointer = true;
			break;
		case 'u':
			if (c.n_subsurfaces == MAX_PARTS ||
			    parse_part(optarg, &c.subsurfaces[c.n_subsurfaces]) < 0)
				die("bad --subsurface");
			c.n_subsurfaces++;
			break;
		case 'p':
			if (c.n_popups == MAX_PARTS ||
			    parse_part(optarg, &c.popups[c.n_popups]) < 0)
				die("bad --popup");
			c.n_popups++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}

	c.display = wl_display_connect(NULL);
	if (!c.display)
		die("cannot connect");
	struct wl_registry *registry = wl_display_get_registry(c.display);
	wl_registry_add_listener(registry, &registry_listener, NULL);
	wl_display_roundtrip(c.display);
	if (!c.compositor || !c.subcompositor || !c.shm || !c.wm_base)
		die("missing globals");

	c.surface = wl_compositor_create_surface(c.compositor);
	c.xdg_surface = xdg_wm_base_get_xdg_surface(c.wm_base, c.surface);
	xdg_surface_add_listener(c.xdg_surface, &xdg_surface_listener, NULL);
	c.toplevel = xdg_surface_get_toplevel(c.xdg_surface);
	xdg_toplevel_add_listener(c.toplevel, &toplevel_listener, NULL);
	xdg_toplevel_set_title(c.toplevel, title);
	if (fullscreen)
		xdg_toplevel_set_fullscreen(c.toplevel, NULL);
	if (maximized)
		xdg_toplevel_set_maximized(c.toplevel);
	wl_surface_commit(c.surface);
	while (!c.configured)
		if (wl_display_dispatch(c.display) < 0)
			die("connection lost");

	for (int i = 0; i < c.n_subsurfaces; i++)
		add_subsurface(&c.subsurfaces[i]);
	redraw();
	/* A fullscreen request before the map is honoured at the map: the window is configured
	 * again, and redrawn at its new size before the popups come. */
	if (wl_display_roundtrip(c.display) < 0)
		die("connection lost");
	if (c.dirty)
		redraw();
	for (int i = 0; i < c.n_popups; i++)
		add_popup(&c.popups[i]);
	/* Ready after two round trips with nothing to redraw: a configure the compositor
	 * scheduled while handling the first comes before the second's answer. */
	for (int calm = 0; calm < 2;) {
		if (wl_display_roundtrip(c.display) < 0)
			die("connection lost");
		bool popups = true;
		for (int i = 0; i < c.n_popups; i++)
			popups = popups && c.popups[i].configured;
		if (c.dirty) {
			redraw();
			calm = 0;
		} else if (popups) {
			calm++;
		}
	}
	fprintf(stderr, "test-client ready\n");

	while (!c.closed && wl_display_dispatch(c.display) >= 0)
		if (c.dirty)
			redraw();
	return 0;
}
