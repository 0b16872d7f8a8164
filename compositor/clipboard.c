/*
 * The clipboard, the Qubes way. Each qube (and the host) has its own selection; the seat only
 * ever offers the focused qube's own one, through a stand-in data source the compositor owns.
 * Text moves between qubes only through the global clipboard: Ctrl+Shift+C reads the focused
 * qube's selection into it, Ctrl+Shift+V (after bulkheadd's policy allows
 * bulkhead.ClipboardPaste) makes it the focused qube's selection and empties it.
 *
 * wlroots' wlr_seat_set_selection destroys the source it replaces, so the seat never holds a
 * qube's real source: it holds a stand-in that forwards send() to the real one, and a new
 * stand-in replaces it whenever focus moves to another qube, before the new client gets focus
 * (a keyboard grab sees every focus change first). Destroying the old stand-in also makes
 * every offer a client still holds for it inert.
 *
 * wlroots refuses a set_selection whose serial is older than the seat's selection's. Our
 * stand-in is put up at every focus change: with a fresh serial it would make a copy a client
 * asked for just before the user moved to another window look superseded, and which qube is
 * shown would decide about another qube's copy. So the seat's serial is kept far in the past
 * (SERIAL_PAST) and each owner's copies are ordered against that owner's own last one, as
 * wlroots would order them with a single owner.
 *
 * The primary selection is never offered (its global is not created) and drags are refused,
 * so neither crosses qubes.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wlr/types/wlr_data_device.h>

#include "log.h"
#include "prompt-api.h"
#include "util.h"

/* The most text one copy may carry; more is refused, not cut. */
#define CLIPBOARD_MAX_BYTES (256u * 1024u)
/* A qube that never finishes writing its selection, or a bulkheadd that never answers, does
 * not keep the gesture pending for ever. */
#define CLIPBOARD_TIMEOUT_MS 10000
/* Pastes being written into qubes' pipes at once. */
#define CLIPBOARD_MAX_WRITERS 16
#define PASTE_SERVICE	      "bulkhead.ClipboardPaste"
/* How far behind the display's serial the seat's selection serial is kept: every serial a
 * client can still be holding is newer (wlroots compares them modulo 2^32, half the range
 * each way), and it is moved up at every focus change and every selection request. */
#define SERIAL_PAST (1u << 30)

/* Text types, most preferred first: what a copy reads and what a paste offers. */
static const char *const text_mime_types[] = {
    "text/plain;charset=utf-8", "text/plain", "UTF8_STRING", "TEXT", "STRING",
};

/* One owner's selection: a qube's, or the host's (qube NULL). */
struct selection {
	struct wl_list link; /* clipboard.selections */
	struct clipboard *cb;
	const struct qube *qube;
	struct wlr_data_source *source; /* or NULL */
	struct wl_listener source_destroy;
	uint32_t serial; /* of the request (or paste) that set or cleared it last */
	bool has_serial;
};

/* What the seat offers: stands for the selection of one owner. */
struct seat_source {
	struct wlr_data_source base;
	struct clipboard *cb;
	const struct qube *qube;
};

/* A paste: the global clipboard's text, owned by the compositor, as a qube's selection. */
struct text_source {
	struct wlr_data_source base;
	struct clipboard *cb;
	char *text;
	size_t len;
};

/* Writing a paste into the pipe a client gave us, as fast as it reads. */
struct text_writer {
	struct wl_list link; /* clipboard.writers */
	struct clipboard *cb;
	int fd;
	char *text;
	size_t len, off;
	struct wl_event_source *source;
	char qube_name[QUBE_NAME_MAX + 1]; /* whose paste: for the log */
};

struct clipboard {
	struct server *server;
	struct wl_list selections; /* struct selection.link */
	struct wl_list writers;	   /* struct text_writer.link */
	size_t n_writers;
	struct seat_source *seat_source; /* what the seat holds now, or NULL */
	const struct qube *shown;	 /* whose selection the seat offers */
	bool shown_set;

	/* Every keyboard focus change passes here first (see grab_enter). */
	struct wlr_seat_keyboard_grab grab;
	struct wlr_seat_keyboard_grab *saved_default_grab;
	struct wl_listener request_set_selection;
	struct wl_listener request_start_drag;
	struct wl_listener focus_change;

	/* the global clipboard */
	char *text; /* NULL when empty */
	size_t len;
	char source_name[QUBE_NAME_MAX + 1];
	uint64_t generation; /* changes with every copy and paste */

	/* Ctrl+Shift+C in progress */
	int copy_fd;
	struct wl_event_source *copy_source, *copy_timer;
	char *copy_buf;
	size_t copy_len;
	char copy_name[QUBE_NAME_MAX + 1];

	/* Ctrl+Shift+V waiting for bulkheadd or the user */
	struct api_conn *check;
	struct wl_event_source *check_timer;
	const struct qube *paste_target;
	uint64_t paste_generation;
	bool paste_asking;
};

static const struct qube *qube_of_wl_client(const struct clipboard *cb, struct wl_client *client)
{
	return client ? qube_of_client(cb->server, client) : NULL;
}

static void selection_handle_source_destroy(struct wl_listener *listener, void *data);
static const struct qube *qube_of_surface(struct clipboard *cb, struct wlr_surface *surface);

static struct selection *selection_find(struct clipboard *cb, const struct qube *q, bool create)
{
	struct selection *sel;
	wl_list_for_each(sel, &cb->selections, link)
	{
		if (sel->qube == q)
			return sel;
	}
	if (!create)
		return NULL;
	sel = xcalloc(1, sizeof(*sel));
	sel->cb = cb;
	sel->qube = q;
	sel->source_destroy.notify = selection_handle_source_destroy;
	wl_list_init(&sel->source_destroy.link);
	wl_list_insert(&cb->selections, &sel->link);
	return sel;
}

/* The qube whose client has keyboard focus (NULL: a host client, or nobody). */
static const struct qube *focused_owner(struct clipboard *cb, bool *ret_any)
{
	struct wlr_seat_client *sc = cb->server->seat->keyboard_state.focused_client;
	if (ret_any)
		*ret_any = sc != NULL;
	return sc ? qube_of_wl_client(cb, sc->client) : NULL;
}

/* --- the stand-in the seat holds --- */

static void seat_source_send(struct wlr_data_source *base, const char *mime_type, int32_t fd)
{
	struct seat_source *ss = wl_container_of(base, ss, base);
	struct clipboard *cb = ss->cb;
	bool any;
	const struct qube *focused = focused_owner(cb, &any);

	/* Offers go only to the focused client; a stale offer held by a client of another qube is
	 * refused here as well, whatever wlroots would let through. */
	struct selection *sel = selection_find(cb, ss->qube, false);
	if (!any || focused != ss->qube || !sel || !sel->source) {
		close(fd);
		return;
	}
	wlr_data_source_send(sel->source, mime_type, fd);
}

static void seat_source_destroy(struct wlr_data_source *base)
{
	struct seat_source *ss = wl_container_of(base, ss, base);
	if (ss->cb->seat_source == ss)
		ss->cb->seat_source = NULL;
	free(ss);
}

static const struct wlr_data_source_impl seat_source_impl = {
    .send = seat_source_send,
    .destroy = seat_source_destroy,
};

/* Newer than every serial a client may still use for a request: see SERIAL_PAST. */
static uint32_t seat_serial(struct clipboard *cb)
{
	return wl_display_get_serial(cb->server->display) - SERIAL_PAST;
}

/* Whether a request with this serial comes after the one that last set q's selection. */
static bool serial_current(const struct selection *sel, uint32_t serial)
{
	return !sel || !sel->has_serial || serial - sel->serial <= UINT32_MAX / 2;
}

static void serial_note(struct selection *sel, uint32_t serial)
{
	sel->serial = serial;
	sel->has_serial = true;
}

/* Makes the seat offer q's selection (nothing if q has none). */
static void seat_show(struct clipboard *cb, const struct qube *q)
{
	struct selection *sel = selection_find(cb, q, false);
	struct seat_source *ss = NULL;

	cb->shown = q;
	cb->shown_set = true;
	if (sel && sel->source) {
		ss = xcalloc(1, sizeof(*ss));
		wlr_data_source_init(&ss->base, &seat_source_impl);
		ss->cb = cb;
		ss->qube = q;
		char **mime;
		wl_array_for_each(mime, &sel->source->mime_types)
		{
			char **slot = wl_array_add(&ss->base.mime_types, sizeof(*slot));
			if (!slot)
				break;
			*slot = xstrdup(*mime);
		}
	}
	/* The previous stand-in is destroyed by this, and with it every offer made for it. */
	wlr_seat_set_selection(cb->server->seat, ss ? &ss->base : NULL, seat_serial(cb));
	cb->seat_source = ss;
}

static void selection_handle_source_destroy(struct wl_listener *listener, void *data)
{
	struct selection *sel = wl_container_of(listener, sel, source_destroy);
	struct clipboard *cb = sel->cb;

	wl_list_remove(&sel->source_destroy.link);
	wl_list_init(&sel->source_destroy.link);
	sel->source = NULL;
	if (cb->shown_set && cb->shown == sel->qube)
		seat_show(cb, sel->qube);
}

/* Replaces q's selection with source (owned from now on; NULL clears it). The replaced source
 * is destroyed, as wlroots does: a client's is told it was cancelled. */
static void selection_set(struct clipboard *cb, const struct qube *q,
			  struct wlr_data_source *source)
{
	struct selection *sel = selection_find(cb, q, true);
	if (sel->source == source)
		return;
	struct wlr_data_source *old = sel->source;
	wl_list_remove(&sel->source_destroy.link);
	wl_list_init(&sel->source_destroy.link);
	sel->source = source;
	if (source)
		wl_signal_add(&source->events.destroy, &sel->source_destroy);
	if (old)
		wlr_data_source_destroy(old);
	if (cb->shown_set && cb->shown == q)
		seat_show(cb, q);
}

/* --- a client's selection request --- */

struct find_source {
	const void *source;
	struct wl_client *client;
};

static enum wl_iterator_result find_source_resource(struct wl_resource *resource, void *data)
{
	struct find_source *fs = data;
	/* A client's wl_data_source resource carries wlroots' source as its user data. */
	if (strcmp(wl_resource_get_class(resource), "wl_data_source") == 0 &&
	    wl_resource_get_user_data(resource) == fs->source) {
		fs->client = wl_resource_get_client(resource);
		return WL_ITERATOR_STOP;
	}
	return WL_ITERATOR_CONTINUE;
}

/* The client that created source: the request event does not say who asked, and the owner
 * must come from the connection, never from which window happens to be focused. */
static struct wl_client *source_client(struct clipboard *cb, struct wlr_data_source *source)
{
	struct find_source fs = {.source = source};
	struct wl_client *client;
	wl_client_for_each(client, wl_display_get_client_list(cb->server->display))
	{
		wl_client_for_each_resource(client, find_source_resource, &fs);
		if (fs.client)
			return fs.client;
	}
	return NULL;
}

/* The owner of the client that asked to clear its selection with this serial. A clear carries
 * no source: the serial tells who asked, as wlroots gives each serial to one client and has
 * checked the asker was given it. Only old serials can be matched by more than one client
 * (wlroots' check may accept those): when they are of more than one owner, *ret_q is not set. */
static int serial_owner(struct clipboard *cb, uint32_t serial, const struct qube **ret_q)
{
	struct wlr_seat_client *sc;
	const struct qube *owner = NULL;
	bool found = false;
	wl_list_for_each(sc, &cb->server->seat->clients, link)
	{
		if (!wlr_seat_client_validate_event_serial(sc, serial))
			continue;
		const struct qube *q = qube_of_wl_client(cb, sc->client);
		if (found && q != owner)
			return -EBADMSG;
		owner = q;
		found = true;
	}
	if (!found)
		return -ESRCH;
	*ret_q = owner;
	return 0;
}

static void handle_request_set_selection(struct wl_listener *listener, void *data)
{
	struct clipboard *cb = wl_container_of(listener, cb, request_set_selection);
	struct wlr_seat_request_set_selection_event *event = data;
	const struct qube *q;

	if (event->source) {
		struct wl_client *client = source_client(cb, event->source);
		if (!client) {
			wlr_data_source_destroy(event->source);
			return;
		}
		q = qube_of_wl_client(cb, client);
	} else if (serial_owner(cb, event->serial, &q) < 0) {
		return;
	}
	struct selection *sel = selection_find(cb, q, false);
	/* Left alone, as wlroots leaves a source it refuses: its client may still use it. */
	if (!serial_current(sel, event->serial))
		return;
	if (!sel && !event->source)
		return;
	sel = selection_find(cb, q, true);
	serial_note(sel, event->serial);
	/* Keeps every serial a client may still be holding newer than the seat's. */
	wlr_seat_set_selection(cb->server->seat, cb->server->seat->selection_source,
			       seat_serial(cb));
	if (sel->source == event->source)
		return;
	selection_set(cb, q, event->source);
}

static void handle_request_start_drag(struct wl_listener *listener, void *data)
{
	struct wlr_seat_request_start_drag_event *event = data;
	/* Drag and drop could carry data between qubes without the gesture: refused. Destroying
	 * the source ends the drag. */
	log_info("clipboard: drag and drop refused");
	if (event->drag->source)
		wlr_data_source_destroy(event->drag->source);
}

static void handle_focus_change(struct wl_listener *listener, void *data)
{
	struct clipboard *cb = wl_container_of(listener, cb, focus_change);
	struct wlr_seat_keyboard_focus_change_event *event = data;
	/* For focus set without passing through grab_enter: too late to keep the previous
	 * qube's offer from the new client, but its stand-in, and so the offer, dies here and
	 * would not have forwarded anything to it (see seat_source_send). */
	clipboard_focus_changed(cb->server, qube_of_surface(cb, event->new_surface));
}

static const struct qube *qube_of_surface(struct clipboard *cb, struct wlr_surface *surface)
{
	if (!surface || !surface->resource)
		return NULL;
	return qube_of_wl_client(cb, wl_resource_get_client(surface->resource));
}

/* Keyboard focus moves here, before the new client hears of it. wlroots offers the seat's
 * selection to a client the moment it gets focus, so the selection must be the new qube's
 * already; and changing it while the old client still has focus would offer the new qube's
 * to the old one. So: the old client loses focus, the new qube's selection goes up with
 * nobody to offer it to, then the new client gets focus and, with it, its own qube's
 * selection. While the trusted prompt is shown, no client gets focus at all. */
static void grab_enter(struct wlr_seat_keyboard_grab *grab, struct wlr_surface *surface,
		       uint32_t keycodes[], size_t num_keycodes,
		       struct wlr_keyboard_modifiers *modifiers)
{
	struct clipboard *cb = grab->data;
	struct wlr_seat *seat = grab->seat;

	if (surface && prompt_active(cb->server))
		return;
	/* Moved up with every focus change: see SERIAL_PAST. */
	wlr_seat_set_selection(seat, seat->selection_source, seat_serial(cb));
	const struct qube *q = qube_of_surface(cb, surface);
	if (!cb->shown_set || cb->shown != q) {
		if (seat->keyboard_state.focused_surface)
			wlr_seat_keyboard_enter(seat, NULL, NULL, 0, NULL);
		seat_show(cb, q);
	}
	wlr_seat_keyboard_enter(seat, surface, keycodes, num_keycodes, modifiers);
}

static void grab_clear_focus(struct wlr_seat_keyboard_grab *grab)
{
	wlr_seat_keyboard_clear_focus(grab->seat);
}

static void grab_key(struct wlr_seat_keyboard_grab *grab, uint32_t time_msec, uint32_t key,
		     uint32_t state)
{
	wlr_seat_keyboard_send_key(grab->seat, time_msec, key, state);
}

static void grab_modifiers(struct wlr_seat_keyboard_grab *grab,
			   struct wlr_keyboard_modifiers *modifiers)
{
	wlr_seat_keyboard_send_modifiers(grab->seat, modifiers);
}

static const struct wlr_keyboard_grab_interface grab_impl = {
    .enter = grab_enter,
    .clear_focus = grab_clear_focus,
    .key = grab_key,
    .modifiers = grab_modifiers,
};

void clipboard_focus_changed(struct server *server, const struct qube *q)
{
	struct clipboard *cb = server->clipboard;
	if (!cb || (cb->shown_set && cb->shown == q))
		return;
	seat_show(cb, q);
}

static void paste_end(struct clipboard *cb);

void clipboard_qube_gone(struct server *server, const struct qube *q)
{
	struct clipboard *cb = server->clipboard;
	if (!cb || !q)
		return;
	if (cb->paste_target == q)
		paste_end(cb);
	if (cb->shown_set && cb->shown == q) {
		/* Shown to nobody (q has no client left): the next focus change shows anew. */
		cb->shown_set = false;
		cb->shown = NULL;
		wlr_seat_set_selection(server->seat, NULL, seat_serial(cb));
		cb->seat_source = NULL;
	}
	struct selection *sel = selection_find(cb, q, false);
	if (!sel)
		return;
	struct wlr_data_source *source = sel->source;
	wl_list_remove(&sel->source_destroy.link);
	wl_list_remove(&sel->link);
	free(sel);
	if (source)
		wlr_data_source_destroy(source);
}

/* --- the global clipboard --- */

static void global_clear(struct clipboard *cb)
{
	if (cb->text) {
		explicit_bzero(cb->text, cb->len);
		free(cb->text);
	}
	cb->text = NULL;
	cb->len = 0;
	cb->source_name[0] = '\0';
	cb->generation++;
}

size_t clipboard_global_size(const struct server *server, const char **ret_source)
{
	const struct clipboard *cb = server->clipboard;
	if (!cb || !cb->text) {
		*ret_source = NULL;
		return 0;
	}
	*ret_source = cb->source_name;
	return cb->len;
}

/* --- Ctrl+Shift+C --- */

static void copy_end(struct clipboard *cb)
{
	if (cb->copy_source)
		wl_event_source_remove(cb->copy_source);
	if (cb->copy_timer)
		wl_event_source_remove(cb->copy_timer);
	if (cb->copy_fd >= 0)
		close(cb->copy_fd);
	if (cb->copy_buf) {
		explicit_bzero(cb->copy_buf, cb->copy_len);
		free(cb->copy_buf);
	}
	cb->copy_source = cb->copy_timer = NULL;
	cb->copy_fd = -1;
	cb->copy_buf = NULL;
	cb->copy_len = 0;
}

static int copy_readable(int fd, uint32_t mask, void *data)
{
	struct clipboard *cb = data;
	char buf[16384];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			log_warn("clipboard: reading %s's selection: %s", cb->copy_name,
				 strerror(errno));
			copy_end(cb);
			return 0;
		}
		if (n == 0)
			break;
		if ((size_t)n > CLIPBOARD_MAX_BYTES - cb->copy_len) {
			log_warn("clipboard: copy from %s refused: more than %u bytes",
				 cb->copy_name, CLIPBOARD_MAX_BYTES);
			explicit_bzero(buf, sizeof(buf));
			copy_end(cb);
			return 0;
		}
		cb->copy_buf = xrealloc(cb->copy_buf, cb->copy_len + (size_t)n + 1);
		memcpy(cb->copy_buf + cb->copy_len, buf, (size_t)n);
		cb->copy_len += (size_t)n;
	}
	explicit_bzero(buf, sizeof(buf));
	if (cb->copy_len == 0) {
		log_info("clipboard: %s's selection is empty; nothing copied", cb->copy_name);
		copy_end(cb);
		return 0;
	}
	global_clear(cb);
	cb->text = TAKE_PTR(cb->copy_buf);
	cb->text[cb->copy_len] = '\0';
	cb->len = cb->copy_len;
	cb->copy_len = 0;
	snprintf(cb->source_name, sizeof(cb->source_name), "%s", cb->copy_name);
	log_info("clipboard: copied %zu bytes from %s", cb->len, cb->source_name);
	copy_end(cb);
	return 0;
}

static int copy_timed_out(void *data)
{
	struct clipboard *cb = data;
	log_warn("clipboard: %s did not hand over its selection in time; nothing copied",
		 cb->copy_name);
	copy_end(cb);
	return 0;
}

static const char *pick_text_type(const struct wlr_data_source *source)
{
	for (size_t i = 0; i < ARRAY_SIZE(text_mime_types); i++) {
		char **mime;
		wl_array_for_each(mime, (struct wl_array *)&source->mime_types)
		{
			if (streq(*mime, text_mime_types[i]))
				return text_mime_types[i];
		}
	}
	return NULL;
}

void clipboard_copy(struct server *server)
{
	struct clipboard *cb = server->clipboard;
	bool any;
	const struct qube *q = focused_owner(cb, &any);
	int fds[2];

	if (!any || !q) {
		log_info("clipboard: copy ignored: no qube window has focus");
		return;
	}
	struct selection *sel = selection_find(cb, q, false);
	if (!sel || !sel->source) {
		log_info("clipboard: %s has no selection; nothing copied", q->name);
		return;
	}
	const char *mime = pick_text_type(sel->source);
	if (!mime) {
		log_info("clipboard: %s's selection is not text; nothing copied", q->name);
		return;
	}
	copy_end(cb);
	/* Only our end is non-blocking: the client gets an ordinary pipe to write into. */
	if (pipe2(fds, O_CLOEXEC) < 0) {
		log_warn("clipboard: copy from %s: %s", q->name, strerror(errno));
		return;
	}
	if (fcntl(fds[0], F_SETFL, O_NONBLOCK) < 0) {
		log_warn("clipboard: copy from %s: %s", q->name, strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return;
	}
	struct wl_event_loop *loop = wl_display_get_event_loop(server->display);
	cb->copy_fd = fds[0];
	snprintf(cb->copy_name, sizeof(cb->copy_name), "%s", q->name);
	cb->copy_source = wl_event_loop_add_fd(loop, fds[0], WL_EVENT_READABLE, copy_readable, cb);
	cb->copy_timer = wl_event_loop_add_timer(loop, copy_timed_out, cb);
	if (!cb->copy_source || !cb->copy_timer) {
		close(fds[1]);
		copy_end(cb);
		return;
	}
	wl_event_source_timer_update(cb->copy_timer, CLIPBOARD_TIMEOUT_MS);
	/* The source owns the write end from here (a client's source sends it and closes it). */
	wlr_data_source_send(sel->source, mime, fds[1]);
}

/* --- pastes offered to a qube --- */

static void writer_free(struct text_writer *w)
{
	wl_list_remove(&w->link);
	w->cb->n_writers--;
	if (w->source)
		wl_event_source_remove(w->source);
	close(w->fd);
	explicit_bzero(w->text, w->len);
	free(w->text);
	free(w);
}

static int writer_writable(int fd, uint32_t mask, void *data)
{
	struct text_writer *w = data;
	struct sigpipe_guard g;
	bool again = false;

	/* The reader (a qube's client) may have gone away at any time. */
	sigpipe_guard_begin(&g);
	while (w->off < w->len) {
		ssize_t n = write(fd, w->text + w->off, w->len - w->off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			again = errno == EAGAIN;
			if (!again)
				log_info("clipboard: %s stopped reading its paste: %s",
					 w->qube_name, strerror(errno));
			break;
		}
		w->off += (size_t)n;
	}
	sigpipe_guard_end(&g);
	if (!again)
		writer_free(w);
	return 0;
}

static void text_source_send(struct wlr_data_source *base, const char *mime_type, int32_t fd)
{
	struct text_source *ts = wl_container_of(base, ts, base);
	struct clipboard *cb = ts->cb;
	const struct qube *q = focused_owner(cb, NULL);
	bool known = false;

	for (size_t i = 0; i < ARRAY_SIZE(text_mime_types); i++)
		known |= streq(mime_type, text_mime_types[i]);
	if (!known || cb->n_writers >= CLIPBOARD_MAX_WRITERS ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		close(fd);
		return;
	}
	struct text_writer *w = xcalloc(1, sizeof(*w));
	w->cb = cb;
	w->fd = fd;
	snprintf(w->qube_name, sizeof(w->qube_name), "%s", q ? q->name : "host");
	w->len = ts->len;
	w->text = xmalloc(ts->len + 1);
	memcpy(w->text, ts->text, ts->len);
	wl_list_insert(&cb->writers, &w->link);
	cb->n_writers++;
	w->source = wl_event_loop_add_fd(wl_display_get_event_loop(cb->server->display), fd,
					 WL_EVENT_WRITABLE, writer_writable, w);
	if (!w->source)
		writer_free(w);
}

static void text_source_destroy(struct wlr_data_source *base)
{
	struct text_source *ts = wl_container_of(base, ts, base);
	explicit_bzero(ts->text, ts->len);
	free(ts->text);
	free(ts);
}

static const struct wlr_data_source_impl text_source_impl = {
    .send = text_source_send,
    .destroy = text_source_destroy,
};

/* Gives the global clipboard's text to q as its selection, and empties the global one. */
static void paste_deliver(struct clipboard *cb, const struct qube *q)
{
	struct text_source *ts = xcalloc(1, sizeof(*ts));
	wlr_data_source_init(&ts->base, &text_source_impl);
	ts->cb = cb;
	ts->text = TAKE_PTR(cb->text);
	ts->len = cb->len;
	for (size_t i = 0; i < ARRAY_SIZE(text_mime_types); i++) {
		char **slot = wl_array_add(&ts->base.mime_types, sizeof(*slot));
		if (!slot)
			break;
		*slot = xstrdup(text_mime_types[i]);
	}
	log_info("clipboard: pasted %zu bytes from %s into %s", ts->len, cb->source_name, q->name);
	global_clear(cb);
	/* A copy q's client asked for before the gesture, arriving after it, does not undo it. */
	serial_note(selection_find(cb, q, true), wl_display_next_serial(cb->server->display));
	selection_set(cb, q, &ts->base);
}

static void paste_end(struct clipboard *cb)
{
	if (cb->paste_asking)
		prompt_cancel_local(cb->server, cb);
	api_conn_free(cb->check);
	cb->check = NULL;
	if (cb->check_timer)
		wl_event_source_remove(cb->check_timer);
	cb->check_timer = NULL;
	cb->paste_target = NULL;
	cb->paste_asking = false;
}

/* The user answered the compositor's own prompt for a paste policy says to ask about. */
static void paste_answered(struct server *server, bool allowed, void *data)
{
	struct clipboard *cb = data;
	const struct qube *q = cb->paste_target;

	if (!q || !cb->paste_asking)
		return;
	if (!allowed) {
		log_info("clipboard: paste into %s denied at the prompt", q->name);
	} else if (!cb->text || cb->generation != cb->paste_generation) {
		log_info("clipboard: the global clipboard changed while asking; nothing pasted");
	} else {
		paste_deliver(cb, q);
	}
	paste_end(cb);
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static void check_frame(struct api_conn *conn, uint16_t type, struct json_object *o, void *data)
{
	struct clipboard *cb = data;
	const struct qube *q = cb->paste_target;
	struct json_object *ok, *result = NULL;

	if (!q)
		return;
	if (!json_object_object_get_ex(o, "ok", &ok) || !json_object_get_boolean(ok)) {
		log_warn("clipboard: paste into %s not pasted: bulkheadd refused the policy check "
			 "(%s)",
			 q->name, jstr(o, "message") ? jstr(o, "message") : "?");
		paste_end(cb);
		return;
	}
	json_object_object_get_ex(o, "result", &result);
	const char *action = jstr(result, "result");
	const char *line = jstr(result, "line");
	if (cb->generation != cb->paste_generation || !cb->text) {
		log_info("clipboard: the global clipboard changed during the policy check; nothing "
			 "pasted");
		paste_end(cb);
	} else if (action && streq(action, "allow")) {
		log_info("clipboard: %s from %s to %s allowed (%s)", PASTE_SERVICE, cb->source_name,
			 q->name, line ? line : "-");
		paste_deliver(cb, q);
		paste_end(cb);
	} else if (action && streq(action, "ask")) {
		log_info("clipboard: %s from %s to %s: asking (%s)", PASTE_SERVICE, cb->source_name,
			 q->name, line ? line : "-");
		api_conn_free(cb->check);
		cb->check = NULL;
		if (cb->check_timer)
			wl_event_source_remove(cb->check_timer);
		cb->check_timer = NULL;
		cb->paste_asking = true;
		if (prompt_ask_local(cb->server, cb->source_name, PASTE_SERVICE, q->name,
				     paste_answered, cb) < 0) {
			log_warn("clipboard: cannot show the prompt; nothing pasted");
			paste_end(cb);
		}
	} else {
		log_info("clipboard: %s from %s to %s denied (%s)", PASTE_SERVICE, cb->source_name,
			 q->name, jstr(result, "reason") ? jstr(result, "reason") : "-");
		paste_end(cb);
	}
}

static void check_closed(struct api_conn *conn, int error, void *data)
{
	struct clipboard *cb = data;
	log_warn("clipboard: nothing pasted: bulkheadd (%s) did not answer the policy check: %s",
		 api_conn_socket_path(), strerror(-error));
	paste_end(cb);
}

static int check_timed_out(void *data)
{
	struct clipboard *cb = data;
	log_warn("clipboard: nothing pasted: bulkheadd did not answer the policy check in time");
	paste_end(cb);
	return 0;
}

void clipboard_paste(struct server *server)
{
	struct clipboard *cb = server->clipboard;
	bool any;
	const struct qube *q = focused_owner(cb, &any);

	if (!cb->text) {
		log_info("clipboard: paste ignored: the global clipboard is empty");
		return;
	}
	if (!any || !q) {
		log_info("clipboard: paste ignored: no qube window has focus");
		return;
	}
	if (cb->paste_target) {
		log_info("clipboard: paste ignored: another paste is waiting for its policy check");
		return;
	}
	/* Back into the qube it came from: no boundary is crossed, and the policy never allows
	 * a call to oneself. */
	if (streq(q->name, cb->source_name)) {
		paste_deliver(cb, q);
		return;
	}

	struct wl_event_loop *loop = wl_display_get_event_loop(server->display);
	int r =
	    api_conn_open(loop, api_conn_socket_path(), check_frame, check_closed, cb, &cb->check);
	if (r < 0) {
		log_warn("clipboard: nothing pasted: cannot reach bulkheadd at %s: %s",
			 api_conn_socket_path(), strerror(-r));
		return;
	}
	struct json_object *payload = json_object_new_object();
	json_object_object_add(payload, "source", json_object_new_string(cb->source_name));
	r = api_conn_request(cb->check, "admin.policy.Check", q->name, PASTE_SERVICE, payload);
	json_object_put(payload);
	cb->check_timer = wl_event_loop_add_timer(loop, check_timed_out, cb);
	if (r < 0 || !cb->check_timer) {
		log_warn("clipboard: nothing pasted: cannot ask bulkheadd");
		paste_end(cb);
		return;
	}
	wl_event_source_timer_update(cb->check_timer, CLIPBOARD_TIMEOUT_MS);
	cb->paste_target = q;
	cb->paste_generation = cb->generation;
}

/* --- set-up --- */

int clipboard_init(struct server *server)
{
	struct clipboard *cb = xcalloc(1, sizeof(*cb));

	cb->server = server;
	cb->copy_fd = -1;
	wl_list_init(&cb->selections);
	wl_list_init(&cb->writers);
	cb->request_set_selection.notify = handle_request_set_selection;
	wl_signal_add(&server->seat->events.request_set_selection, &cb->request_set_selection);
	cb->request_start_drag.notify = handle_request_start_drag;
	wl_signal_add(&server->seat->events.request_start_drag, &cb->request_start_drag);
	cb->grab.interface = &grab_impl;
	cb->grab.data = cb;
	/* The seat's default grab too: a client's popup grab ends by restoring the default, and
	 * wlroots' own would let the previous qube's selection be offered at the next focus
	 * change. */
	cb->saved_default_grab = server->seat->keyboard_state.default_grab;
	server->seat->keyboard_state.default_grab = &cb->grab;
	cb->grab.seat = server->seat;
	wlr_seat_keyboard_start_grab(server->seat, &cb->grab);
	cb->focus_change.notify = handle_focus_change;
	wl_signal_add(&server->seat->keyboard_state.events.focus_change, &cb->focus_change);
	server->clipboard = cb;
	return 0;
}

void clipboard_finish(struct server *server)
{
	struct clipboard *cb = server->clipboard;
	if (!cb)
		return;
	copy_end(cb);
	paste_end(cb);
	global_clear(cb);
	wl_list_remove(&cb->request_set_selection.link);
	wl_list_remove(&cb->request_start_drag.link);
	wl_list_remove(&cb->focus_change.link);
	server->seat->keyboard_state.default_grab = cb->saved_default_grab;
	if (server->seat->keyboard_state.grab == &cb->grab)
		wlr_seat_keyboard_end_grab(server->seat);
	wlr_seat_set_selection(server->seat, NULL, 0);
	struct text_writer *w, *wtmp;
	wl_list_for_each_safe(w, wtmp, &cb->writers, link) writer_free(w);
	struct selection *sel, *tmp;
	wl_list_for_each_safe(sel, tmp, &cb->selections, link)
	{
		struct wlr_data_source *source = sel->source;
		wl_list_remove(&sel->source_destroy.link);
		wl_list_remove(&sel->link);
		free(sel);
		if (source)
			wlr_data_source_destroy(source);
	}
	free(cb);
	server->clipboard = NULL;
}
