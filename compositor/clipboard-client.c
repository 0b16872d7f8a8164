/* The clipboard test's client: one small window; with --set TEXT it makes TEXT its selection
 * as soon as it has keyboard focus (and again on every later focus, as a user copying would),
 * and it reads every selection it is offered as text. One line on stdout per event:
 *   ready                      the window is mapped
 *   focus                      keyboard focus arrived
 *   set                        our selection was set
 *   leave                      keyboard focus left
 *   selection TYPES            a selection was offered (its types, comma-separated)
 *   offered TEXT               ...and read (TEXT with \n as "\n")
 *   offered-none               the selection was cleared
 *   offered-unreadable TYPES   a selection without a text type
 *   drag-start / drag-cancelled  with --drag, a button press started a drag / it was refused
 *   drag-enter                 another client's drag came over this window
 *   offer-closed               with --close-offers: asked for an offer's data through a pipe
 *                              whose reading end it had already closed
 * With --title, the window's title (so the test can tell windows apart); --set-size N sets N
 * bytes of "x" instead of TEXT. With --set-on-leave the selection is set only when focus
 * leaves, with the serial of the enter that gave it: a copy asked for while focused that
 * reaches the compositor after the user moved to another window (as a slow client's does). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <wayland-client.h>

#include "xdg-shell-client-protocol.h"

#define WIDTH	   240
#define HEIGHT	   160
#define READ_LIMIT (1024 * 1024)

static struct {
	struct wl_display *display;
	struct wl_compositor *compositor;
	struct wl_shm *shm;
	struct xdg_wm_base *wm_base;
	struct wl_seat *seat;
	struct wl_keyboard *keyboard;
	struct wl_data_device_manager *ddm;
	struct wl_data_device *device;
	struct wl_surface *surface;
	struct xdg_surface *xdg_surface;
	struct xdg_toplevel *toplevel;
	bool configured, mapped;
	const char *text;  /* --set */
	bool drag;	   /* --drag */
	bool close_offers; /* --close-offers */
	bool set_on_leave; /* --set-on-leave */
	uint32_t enter_serial;
	struct wl_pointer *pointer;
	struct wl_data_source *drag_source;
	struct wl_data_source *source;
	struct wl_data_offer *pending; /* introduced, not yet the selection */
	char types[512];	       /* of the pending offer */
} c;

static void die(const char *what)
{
	fprintf(stderr, "clipboard-client: %s: %s\n", what, strerror(errno));
	exit(1);
}

static struct wl_buffer *make_buffer(void)
{
	size_t stride = WIDTH * 4, size = stride * HEIGHT;
	int fd = memfd_create("clipboard-client", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		die("memfd");
	uint32_t *px = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (px == MAP_FAILED)
		die("mmap");
	for (size_t i = 0; i < size / 4; i++)
		px[i] = 0xff808080;
	munmap(px, size);
	struct wl_shm_pool *pool = wl_shm_create_pool(c.shm, fd, (int32_t)size);
	struct wl_buffer *b = wl_shm_pool_create_buffer(pool, 0, WIDTH, HEIGHT, (int32_t)stride,
							WL_SHM_FORMAT_XRGB8888);
	wl_shm_pool_destroy(pool);
	close(fd);
	return b;
}

static void say(const char *line, const char *arg)
{
	printf("%s%s%s\n", line, *arg ? " " : "", arg);
	fflush(stdout);
}

/* --- our own selection --- */

static void source_target(void *data, struct wl_data_source *s, const char *mime)
{
}

static void source_send(void *data, struct wl_data_source *s, const char *mime, int32_t fd)
{
	size_t len = strlen(c.text), off = 0;
	while (off < len) {
		ssize_t n = write(fd, c.text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
}

static void source_cancelled(void *data, struct wl_data_source *s)
{
	if (s == c.drag_source) {
		say("drag-cancelled", "");
		c.drag_source = NULL;
	}
	wl_data_source_destroy(s);
	if (c.source == s)
		c.source = NULL;
}

static void source_noop(void *data, struct wl_data_source *s)
{
}

static void source_action(void *data, struct wl_data_source *s, uint32_t action)
{
}

static const struct wl_data_source_listener source_listener = {
    .target = source_target,
    .send = source_send,
    .cancelled = source_cancelled,
    .dnd_drop_performed = source_noop,
    .dnd_finished = source_noop,
    .action = source_action,
};

/* "set" is said once the compositor has handled the request, so the test can rely on it. */
static void set_done(void *data, struct wl_callback *cb, uint32_t unused)
{
	wl_callback_destroy(cb);
	say("set", "");
}

static const struct wl_callback_listener set_done_listener = {.done = set_done};

static void set_selection(uint32_t serial)
{
	if (!c.text || !c.device)
		return;
	struct wl_data_source *s = wl_data_device_manager_create_data_source(c.ddm);
	wl_data_source_add_listener(s, &source_listener, NULL);
	wl_data_source_offer(s, "text/plain;charset=utf-8");
	wl_data_source_offer(s, "text/plain");
	wl_data_device_set_selection(c.device, s, serial);
	c.source = s;
	wl_callback_add_listener(wl_display_sync(c.display), &set_done_listener, NULL);
}

/* --- offers --- */

static void offer_offer(void *data, struct wl_data_offer *offer, const char *mime)
{
	if (offer != c.pending)
		return;
	size_t have = strlen(c.types);
	if (have + strlen(mime) + 2 < sizeof(c.types))
		snprintf(c.types + have, sizeof(c.types) - have, "%s%s", have ? "," : "", mime);
}

static void offer_source_actions(void *data, struct wl_data_offer *o, uint32_t a)
{
}

static void offer_action(void *data, struct wl_data_offer *o, uint32_t a)
{
}

static const struct wl_data_offer_listener offer_listener = {
    .offer = offer_offer,
    .source_actions = offer_source_actions,
    .action = offer_action,
};

/* The offer being read: read in the main loop, since the writer may be this very client. */
static struct {
	int fd;
	char *buf;
	size_t len;
} rd = {.fd = -1};

static void read_finish(void)
{
	if (rd.fd < 0)
		return;
	close(rd.fd);
	rd.fd = -1;
	printf("offered ");
	for (size_t i = 0; i < rd.len; i++) {
		if (rd.buf[i] == '\n')
			fputs("\\n", stdout);
		else
			putchar(rd.buf[i]);
	}
	putchar('\n');
	fflush(stdout);
	free(rd.buf);
	rd.buf = NULL;
	rd.len = 0;
}

static void read_some(void)
{
	ssize_t n = read(rd.fd, rd.buf + rd.len, READ_LIMIT - rd.len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		read_finish();
		return;
	}
	rd.len += (size_t)n;
	if (rd.len == READ_LIMIT)
		read_finish();
}

static void read_offer(struct wl_data_offer *offer)
{
	static const char *const types[] = {"text/plain;charset=utf-8", "text/plain"};
	const char *mime = NULL;
	for (size_t i = 0; i < 2 && !mime; i++) {
		/* c.types is a comma list: match whole items */
		char *p = strstr(c.types, types[i]);
		size_t n = strlen(types[i]);
		if (p && (p == c.types || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
			mime = types[i];
	}
	if (!mime) {
		say("offered-unreadable", c.types);
		return;
	}
	if (c.close_offers) {
		/* Asks for the data with the reading end already closed: the writer meets a
		 * reader that went away. */
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0)
			die("pipe");
		close(p[0]);
		wl_data_offer_receive(offer, mime, p[1]);
		close(p[1]);
		say("offer-closed", "");
		return;
	}
	/* A newer selection replaces one still being read. */
	if (rd.fd >= 0) {
		close(rd.fd);
		rd.fd = -1;
		free(rd.buf);
		rd.len = 0;
	}
	int fds[2];
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
		die("pipe");
	wl_data_offer_receive(offer, mime, fds[1]);
	close(fds[1]);
	rd.fd = fds[0];
	rd.buf = malloc(READ_LIMIT + 1);
	if (!rd.buf)
		die("malloc");
}

static void device_data_offer(void *data, struct wl_data_device *d, struct wl_data_offer *offer)
{
	if (c.pending)
		wl_data_offer_destroy(c.pending);
	c.pending = offer;
	c.types[0] = '\0';
	wl_data_offer_add_listener(offer, &offer_listener, NULL);
}

static void device_enter(void *data, struct wl_data_device *d, uint32_t serial,
			 struct wl_surface *s, wl_fixed_t x, wl_fixed_t y, struct wl_data_offer *o)
{
	say("drag-enter", "");
}

static void device_leave(void *data, struct wl_data_device *d)
{
}

static void device_motion(void *data, struct wl_data_device *d, uint32_t t, wl_fixed_t x,
			  wl_fixed_t y)
{
}

static void device_drop(void *data, struct wl_data_device *d)
{
}

static void device_selection(void *data, struct wl_data_device *d, struct wl_data_offer *offer)
{
	if (!offer) {
		say("offered-none", "");
		return;
	}
	if (offer == c.pending)
		c.pending = NULL;
	/* Said at once, so that a later line (leave) orders it for the test. */
	say("selection", c.types);
	read_offer(offer);
	wl_data_offer_destroy(offer);
}

static const struct wl_data_device_listener device_listener = {
    .data_offer = device_data_offer,
    .enter = device_enter,
    .leave = device_leave,
    .motion = device_motion,
    .drop = device_drop,
    .selection = device_selection,
};

/* --- keyboard: focus is when a selection may be set --- */

static void kb_keymap(void *data, struct wl_keyboard *k, uint32_t format, int32_t fd, uint32_t size)
{
	close(fd);
}

static void kb_enter(void *data, struct wl_keyboard *k, uint32_t serial, struct wl_surface *s,
		     struct wl_array *keys)
{
	static bool set;
	say("focus", "");
	c.enter_serial = serial;
	if (!set && !c.set_on_leave) {
		set = true;
		set_selection(serial);
	}
}

static void kb_leave(void *data, struct wl_keyboard *k, uint32_t serial, struct wl_surface *s)
{
	static bool set;
	say("leave", "");
	if (!set && c.set_on_leave) {
		set = true;
		set_selection(c.enter_serial);
	}
}

static void kb_key(void *data, struct wl_keyboard *k, uint32_t serial, uint32_t t, uint32_t key,
		   uint32_t state)
{
	printf("key %u %u\n", key, state);
	fflush(stdout);
}

static void kb_modifiers(void *data, struct wl_keyboard *k, uint32_t serial, uint32_t d, uint32_t l,
			 uint32_t lk, uint32_t g)
{
}

static void kb_repeat(void *data, struct wl_keyboard *k, int32_t rate, int32_t delay)
{
}

static const struct wl_keyboard_listener keyboard_listener = {
    .keymap = kb_keymap,
    .enter = kb_enter,
    .leave = kb_leave,
    .key = kb_key,
    .modifiers = kb_modifiers,
    .repeat_info = kb_repeat,
};

/* --- pointer: --drag starts a drag from a button press --- */

static void ptr_enter(void *data, struct wl_pointer *p, uint32_t serial, struct wl_surface *s,
		      wl_fixed_t x, wl_fixed_t y)
{
}

static void ptr_leave(void *data, struct wl_pointer *p, uint32_t serial, struct wl_surface *s)
{
}

static void ptr_motion(void *data, struct wl_pointer *p, uint32_t t, wl_fixed_t x, wl_fixed_t y)
{
}

static void ptr_button(void *data, struct wl_pointer *p, uint32_t serial, uint32_t t,
		       uint32_t button, uint32_t state)
{
	if (!c.drag || state != WL_POINTER_BUTTON_STATE_PRESSED || c.drag_source)
		return;
	c.drag_source = wl_data_device_manager_create_data_source(c.ddm);
	wl_data_source_add_listener(c.drag_source, &source_listener, NULL);
	wl_data_source_offer(c.drag_source, "text/plain");
	if (wl_data_source_get_version(c.drag_source) >= 3)
		wl_data_source_set_actions(c.drag_source, WL_DATA_DEVICE_MANAGER_DND_ACTION_COPY);
	wl_data_device_start_drag(c.device, c.drag_source, c.surface, NULL, serial);
	say("drag-start", "");
}

static void ptr_axis(void *data, struct wl_pointer *p, uint32_t t, uint32_t axis, wl_fixed_t v)
{
}

static void ptr_frame(void *data, struct wl_pointer *p)
{
}

static void ptr_axis_source(void *data, struct wl_pointer *p, uint32_t source)
{
}

static void ptr_axis_stop(void *data, struct wl_pointer *p, uint32_t t, uint32_t axis)
{
}

static void ptr_axis_discrete(void *data, struct wl_pointer *p, uint32_t axis, int32_t d)
{
}

static const struct wl_pointer_listener pointer_listener = {
    .enter = ptr_enter,
    .leave = ptr_leave,
    .motion = ptr_motion,
    .button = ptr_button,
    .axis = ptr_axis,
    .frame = ptr_frame,
    .axis_source = ptr_axis_source,
    .axis_stop = ptr_axis_stop,
    .axis_discrete = ptr_axis_discrete,
};

static void seat_caps(void *data, struct wl_seat *seat, uint32_t caps)
{
	if ((caps & WL_SEAT_CAPABILITY_POINTER) && !c.pointer) {
		c.pointer = wl_seat_get_pointer(seat);
		wl_pointer_add_listener(c.pointer, &pointer_listener, NULL);
	}
	if ((caps & WL_SEAT_CAPABILITY_KEYBOARD) && !c.keyboard) {
		c.keyboard = wl_seat_get_keyboard(seat);
		wl_keyboard_add_listener(c.keyboard, &keyboard_listener, NULL);
	}
}

static void seat_name(void *data, struct wl_seat *seat, const char *name)
{
}

static const struct wl_seat_listener seat_listener = {
    .capabilities = seat_caps,
    .name = seat_name,
};

/* --- window --- */

static void wm_ping(void *data, struct xdg_wm_base *wm, uint32_t serial)
{
	xdg_wm_base_pong(wm, serial);
}

static const struct xdg_wm_base_listener wm_listener = {.ping = wm_ping};

static void xdg_configure(void *data, struct xdg_surface *s, uint32_t serial)
{
	xdg_surface_ack_configure(s, serial);
	if (!c.configured) {
		c.configured = true;
		wl_surface_attach(c.surface, make_buffer(), 0, 0);
		wl_surface_commit(c.surface);
	}
}

static const struct xdg_surface_listener xdg_surface_listener = {.configure = xdg_configure};

static void toplevel_configure(void *data, struct xdg_toplevel *t, int32_t w, int32_t h,
			       struct wl_array *states)
{
}

static void toplevel_close(void *data, struct xdg_toplevel *t)
{
	exit(0);
}

static const struct xdg_toplevel_listener toplevel_listener = {
    .configure = toplevel_configure,
    .close = toplevel_close,
};

static void registry_global(void *data, struct wl_registry *r, uint32_t name, const char *iface,
			    uint32_t version)
{
	if (strcmp(iface, wl_compositor_interface.name) == 0)
		c.compositor = wl_registry_bind(r, name, &wl_compositor_interface, 4);
	else if (strcmp(iface, wl_shm_interface.name) == 0)
		c.shm = wl_registry_bind(r, name, &wl_shm_interface, 1);
	else if (strcmp(iface, xdg_wm_base_interface.name) == 0)
		c.wm_base = wl_registry_bind(r, name, &xdg_wm_base_interface, 1);
	else if (strcmp(iface, wl_seat_interface.name) == 0 && !c.seat)
		c.seat = wl_registry_bind(r, name, &wl_seat_interface, version < 5 ? version : 5);
	else if (strcmp(iface, wl_data_device_manager_interface.name) == 0)
		c.ddm = wl_registry_bind(r, name, &wl_data_device_manager_interface,
					 version < 3 ? version : 3);
}

static void registry_remove(void *data, struct wl_registry *r, uint32_t name)
{
}

static const struct wl_registry_listener registry_listener = {
    .global = registry_global,
    .global_remove = registry_remove,
};

int main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"set", required_argument, NULL, 's'},
	    {"title", required_argument, NULL, 't'},
	    {"set-size", required_argument, NULL, 'n'},
	    {"drag", no_argument, NULL, 'd'},
	    {"close-offers", no_argument, NULL, 'x'},
	    {"set-on-leave", no_argument, NULL, 'l'},
	    {0},
	};
	const char *title = "clipboard-client";
	int opt;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (opt == 's')
			c.text = optarg;
		else if (opt == 't')
			title = optarg;
		else if (opt == 'd')
			c.drag = true;
		else if (opt == 'x')
			c.close_offers = true;
		else if (opt == 'l')
			c.set_on_leave = true;
		else if (opt == 'n') {
			/* --set-size N: N bytes of "x", more than a command line can carry */
			size_t n = strtoul(optarg, NULL, 10);
			char *t = malloc(n + 1);
			if (!t)
				die("malloc");
			memset(t, 'x', n);
			t[n] = '\0';
			c.text = t;
		} else
			return 2;
	}

	/* Its own selection may be asked for by itself with --close-offers. */
	signal(SIGPIPE, SIG_IGN);
	c.display = wl_display_connect(NULL);
	if (!c.display)
		die("cannot connect to the compositor");
	struct wl_registry *registry = wl_display_get_registry(c.display);
	wl_registry_add_listener(registry, &registry_listener, NULL);
	wl_display_roundtrip(c.display);
	if (!c.compositor || !c.shm || !c.wm_base || !c.seat || !c.ddm)
		die("a global is missing");
	xdg_wm_base_add_listener(c.wm_base, &wm_listener, NULL);
	wl_seat_add_listener(c.seat, &seat_listener, NULL);
	c.device = wl_data_device_manager_get_data_device(c.ddm, c.seat);
	wl_data_device_add_listener(c.device, &device_listener, NULL);

	c.surface = wl_compositor_create_surface(c.compositor);
	c.xdg_surface = xdg_wm_base_get_xdg_surface(c.wm_base, c.surface);
	xdg_surface_add_listener(c.xdg_surface, &xdg_surface_listener, NULL);
	c.toplevel = xdg_surface_get_toplevel(c.xdg_surface);
	xdg_toplevel_add_listener(c.toplevel, &toplevel_listener, NULL);
	xdg_toplevel_set_title(c.toplevel, title);
	wl_surface_commit(c.surface);
	while (!c.configured)
		if (wl_display_dispatch(c.display) < 0)
			die("dispatch");
	wl_display_roundtrip(c.display);
	say("ready", "");
	for (;;) {
		while (wl_display_prepare_read(c.display) != 0)
			wl_display_dispatch_pending(c.display);
		wl_display_flush(c.display);
		struct pollfd pfd[2] = {
		    {.fd = wl_display_get_fd(c.display), .events = POLLIN},
		    {.fd = rd.fd, .events = POLLIN},
		};
		if (poll(pfd, rd.fd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR) {
			wl_display_cancel_read(c.display);
			die("poll");
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (wl_display_read_events(c.display) < 0)
				return 0;
		} else {
			wl_display_cancel_read(c.display);
		}
		if (wl_display_dispatch_pending(c.display) < 0)
			return 0;
		if (rd.fd >= 0 && pfd[1].revents)
			read_some();
	}
}
