/* bulkhead-compositor's shared state: one server, its qubes, outputs and views. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <wayland-server-core.h>
#include <wlr/backend.h>
#include <wlr/render/allocator.h>
#include <wlr/render/wlr_renderer.h>
#include <wlr/types/wlr_cursor.h>
#include <wlr/types/wlr_output_layout.h>
#include <wlr/types/wlr_scene.h>
#include <wlr/types/wlr_seat.h>
#include <wlr/types/wlr_xdg_shell.h>

#include "qube-name.h" /* QUBE_NAME_MAX */

/* Qubes known at once. A qube with no connection and no connector left (a disposable that
 * is gone) is forgotten when the table is full, so fresh names never run it out; qubes named
 * on the command line stay. */
#define MAX_QUBES 64
/* Wayland connections one qube may hold at once (its proxy asks for one per guest client). */
#define MAX_QUBE_CONNECTIONS 128
/* Frame width in layout pixels. */
#define BORDER_WIDTH 4
/* The title bar's height: the top of every frame, and the label strip of a fullscreen window. */
#define TITLE_HEIGHT 22
/* The border round a popup. */
#define POPUP_BORDER_WIDTH 2

struct qube {
	struct wl_list link; /* server.qubes */
	char name[QUBE_NAME_MAX + 1];
	uint32_t rgb;
	char *spawn_command;	    /* NULL: no client started for it */
	struct wl_list connections; /* struct qube_connection.link */
	unsigned n_connections;
	unsigned n_connectors; /* control.c's connectors bound to it: they hold a pointer */
	bool permanent;	       /* from --qube: never forgotten */
	pid_t pid;
};

/* One Wayland client connection the compositor created for a qube; gone with its client. */
struct qube_connection {
	struct wl_list link; /* qube.connections */
	struct qube *qube;
	struct wl_client *client;
	struct wl_listener destroy;
};

struct server {
	struct wl_display *display;
	struct wlr_backend *backend;
	struct wlr_renderer *renderer;
	struct wlr_allocator *allocator;
	struct wlr_scene *scene;
	struct wlr_output_layout *output_layout;
	struct wl_list outputs; /* struct output.link */
	struct wl_listener new_output;

	struct wlr_xdg_shell *xdg_shell;
	struct wl_listener new_xdg_surface;
	struct wl_listener new_decoration;
	struct wl_list views; /* struct view.link, topmost first */
	unsigned views_placed;

	struct wlr_seat *seat;
	struct wlr_cursor *cursor;
	struct wl_list keyboards;
	struct wl_listener new_input;
	struct cursor *cursor_state;   /* cursor.c: whose image the pointer shows */
	struct popup_grab *popup_grab; /* popup-grab.c */
	struct wl_listener cursor_motion;
	struct wl_listener cursor_motion_absolute;
	struct wl_listener cursor_button;
	struct wl_listener cursor_axis;
	struct wl_listener cursor_frame;

	struct wl_list qubes; /* struct qube.link */

	/* --- owned by the windows/decorations work (view.c, decoration.c, output.c) --- */
	const char *kiosk_qube;	 /* --kiosk QUBE, or NULL */
	struct view *kiosk_view; /* in kiosk mode, the one window shown, or NULL */

	/* --- owned by the input/control work (input.c, control.c) --- */
	struct control *control;
	struct wlr_input_device *virtual_keyboard; /* NULL: not a headless backend */
	struct wlr_input_device *virtual_pointer;
	uint32_t next_view_id; /* control's window ids, given on first listing */

	/* --- owned by the clipboard/prompt work (clipboard.c, prompt.c) --- */
	struct clipboard *clipboard;
	struct prompt *prompt;
	struct session *session; /* session.c */

	/* --- owned by the panel work (panel.c) --- */
	struct panel *panel; /* NULL in kiosk mode */
	/* --- owned by the launcher work (launcher.c, launcher.h) --- */
	struct launcher *launcher;
};

struct output {
	struct wl_list link;
	struct server *server;
	struct wlr_output *wlr_output;
	struct wl_listener frame;
	struct wl_listener destroy;
};

struct view {
	struct wl_list link;
	struct server *server;
	struct wlr_xdg_surface *xdg_surface;
	/* NULL for a host client. Fixed at creation from the connection, never from the client. */
	const struct qube *qube;
	struct wlr_scene_tree *tree;
	struct wlr_scene_node *surface_node;
	struct wlr_scene_rect *border[4]; /* the top one is the title bar's background */
	struct wlr_scene_rect *backdrop;  /* behind a fullscreen window, filling its output */
	struct wlr_scene_buffer *title_bar;
	char *title_drawn; /* what title_bar shows, and how wide: redrawn only when they change */
	int title_drawn_width;
	/* Where the client's surface (its window geometry and its whole main surface) lies,
	 * relative to the frame's top-left corner; subsurfaces and popups must stay inside it. */
	struct wlr_box content;
	struct wl_list popups; /* struct popup.link */
	bool fullscreen;
	struct wlr_box saved; /* frame position and content size before fullscreen */
	/* The frame's top-left corner (title bar included), layout coordinates. */
	int x, y;
	uint32_t id; /* 0 until the control socket lists it */
	struct wl_listener map;
	struct wl_listener unmap;
	struct wl_listener destroy;
	struct wl_listener commit;
	struct wl_listener set_title;
	struct wl_listener request_fullscreen;
};

/* An xdg popup, anywhere below a view: the client's surfaces and, above them, a thin border in
 * the view's colour, in one tree under the parent's node. */
struct popup {
	struct wl_list link; /* view.popups */
	struct view *view;
	struct wlr_xdg_surface *xdg_surface;
	struct wlr_scene_tree *tree; /* NULL once destroyed with an ancestor */
	struct wlr_scene_node *surface_node;
	struct wlr_scene_rect *border[4];
	struct wl_listener map;
	struct wl_listener unmap;
	struct wl_listener commit;
	struct wl_listener destroy;
	struct wl_listener tree_destroy;
};

/* server.c */
int server_init(struct server *server);
void server_finish(struct server *server);

/* qube.c */
int qube_add(struct server *server, const char *name_label);
int qube_set_spawn(struct server *server, const char *name_command);
int qube_start_clients(struct server *server);
const struct qube *qube_of_client(const struct server *server, const struct wl_client *client);
/* The qube NAME, registered with LABEL if new; -EEXIST if known with another label. */
int qube_register(struct server *server, const char *name, const char *label,
		  struct qube **ret_qube);
/* A new Wayland client connection for q; *ret_fd is the client's end (O_CLOEXEC). */
int qube_connect(struct server *server, struct qube *q, int *ret_fd);
void qubes_free(struct server *server);

/* output.c */
void output_handle_new(struct wl_listener *listener, void *data);
/* The output for a fullscreen window at layout point lx, ly (the first one if none is there). */
struct wlr_output *output_for_point(struct server *server, double lx, double ly);

/* input.c */
int input_init(struct server *server);
/* The virtual devices of a headless backend (for `key` and `pointer` on the control socket):
 * -ENODEV on any other backend. */
int input_key_combo(struct server *server, const char *combo);
int input_pointer(struct server *server, double x, double y, const char *button);
/* A window was just mapped (view.c calls this instead of view_focus): it takes the focus only
 * when nothing is focused or the focused window belongs to the same qube (or both are the
 * host's); otherwise it goes just below the focused window. So no qube takes focus from
 * another, or covers its window, by opening a window. */
void input_view_mapped(struct view *view);

/* cursor.c: a client's cursor image only over its own surface, bounded in size; the
 * compositor's own everywhere else. */
int cursor_init(struct server *server);
void cursor_finish(struct server *server);
/* Shows the compositor's own image, whatever a client set. */
void cursor_set_default(struct server *server);

/* popup-grab.c: xdg_popup.grab only on the client's own recent input serial; a click
 * outside the grabbing client ends its grab first. */
int popup_grab_init(struct server *server);
void popup_grab_finish(struct server *server);
/* A key press went to the focused client with this serial. */
void popup_grab_key_sent(struct server *server, uint32_t serial);
/* A button press on surface (NULL: none of a client's): ends a client's grab unless the
 * surface is the grabbing client's. */
void popup_grab_button(struct server *server, struct wlr_surface *surface);
/* Ends any client's grab (each popup of it is told popup_done). */
void popup_grab_dismiss(struct server *server);

/* xdg-shell.c */
void xdg_shell_handle_new_surface(struct wl_listener *listener, void *data);
void xdg_shell_handle_new_decoration(struct wl_listener *listener, void *data);

/* view.c */
struct view *view_create(struct server *server, struct wlr_xdg_surface *xdg_surface);
void view_focus(struct view *view);
struct view *view_at(struct server *server, double lx, double ly, struct wlr_surface **ret_surface,
		     double *ret_sx, double *ret_sy);
void view_update_frame(struct view *view);
/* The title as the title bar shows it ("[qube] title" for a qube's window), NUL-terminated,
 * truncated to size. Returns its length. */
size_t view_title(const struct view *view, char *buf, size_t size);
/* The frame's box in layout coordinates (title bar and borders included). */
void view_frame_box(const struct view *view, struct wlr_box *ret_box);
/* Moves the frame's top-left corner to layout x, y (ignored while fullscreen). */
void view_move(struct view *view, int x, int y);
void view_set_fullscreen(struct view *view, bool fullscreen);
/* Before each frame is drawn: hides every subsurface and popup not wholly inside its window's
 * frame, and shows it again once it is inside. */
void views_constrain(struct server *server);
/* A new popup: placed inside its toplevel's frame, with a border. */
void view_popup_create(struct wlr_xdg_surface *xdg_surface);

/* clipboard.c: per-qube selections; the global clipboard moves only by these two gestures. */
int clipboard_init(struct server *server);
void clipboard_finish(struct server *server);
void clipboard_copy(struct server *server);  /* Ctrl+Shift+C */
void clipboard_paste(struct server *server); /* Ctrl+Shift+V */
/* Focus moved to a window of qube q (NULL: a host window or none): that qube's own selection
 * becomes the seat's. */
void clipboard_focus_changed(struct server *server, const struct qube *q);
/* q is about to be freed (forgotten with no connection left): its selection goes with it, so
 * a qube that later gets the same memory inherits nothing. */
void clipboard_qube_gone(struct server *server, const struct qube *q);

/* session.c: registers the control socket with bulkheadd (admin.gui.Register) while the
 * compositor runs, so that qubes' windows come here with nothing configured. */
int session_init(struct server *server);
void session_finish(struct server *server);

/* prompt.c: the compositor as bulkheadd's trusted prompt for `ask`. */
int prompt_init(struct server *server);
void prompt_finish(struct server *server);
/* true while a prompt is shown: every key goes to it (this function), none to any client. */
bool prompt_active(const struct server *server);
bool prompt_handle_key(struct server *server, uint32_t keysym);
/* The compositor's own question (a clipboard paste the policy says to ask about), shown with
 * the same dialog: "SOURCE wants to call SERVICE" with TARGET as the one choice. fn is called
 * once with the answer, unless prompt_cancel_local(data) comes first. */
typedef void (*prompt_local_fn)(struct server *server, bool allowed, void *data);
int prompt_ask_local(struct server *server, const char *source, const char *service,
		     const char *target, prompt_local_fn fn, void *data);
void prompt_cancel_local(struct server *server, void *data);
/* The global clipboard for the control socket's `clipboard`: its size in bytes and its source
 * qube (*ret_source NULL and 0 when empty). */
size_t clipboard_global_size(const struct server *server, const char **ret_source);
