/*
 * The host end of a qube's control channel. Everything read here comes from the qube and is
 * hostile: frames are size-checked by the decoder, streams must be ours, windows are enforced.
 */
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <linux/vm_sockets.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

/* What we queue towards one qube: every stream's stdin window plus control frames. */
#define QCHAN_OUT_LIMIT	 ((size_t)CHAN_MAX_STREAMS * CHAN_INITIAL_WINDOW + 1024 * 1024)
#define CONNECT_RETRY_MS 100
#define CONNECT_TRIES	 100

static void qchan_io(int watch, int fd, int events, void *opaque);

static void qchan_update_events(struct qchan *ch)
{
	int ev = VIR_EVENT_HANDLE_READABLE;
	if (chan_outbuf_pending(&ch->out) > 0)
		ev |= VIR_EVENT_HANDLE_WRITABLE;
	virEventUpdateHandle(ch->watch, ev);
}

int qchan_send(struct daemon *d, struct vm *vm, uint16_t type, uint32_t stream, const void *p,
	       size_t len)
{
	struct qchan *ch = vm->chan;
	if (!ch)
		return -ENOTCONN;
	int r = chan_outbuf_push(&ch->out, type, stream, p, len);
	if (r < 0)
		return r;
	qchan_update_events(ch);
	return 0;
}

static struct relay *relay_find(struct qchan *ch, uint32_t stream)
{
	if (stream == 0)
		return NULL;
	for (size_t i = 0; i < CHAN_MAX_STREAMS; i++)
		if (ch->relays[i].stream == stream)
			return &ch->relays[i];
	return NULL;
}

static void relay_end(struct relay *r)
{
	if (r->client)
		client_relay_ended(r->client);
	memset(r, 0, sizeof(*r));
}

/* The channel broke (qube gone, protocol violation): every command on it ends. */
static void qchan_teardown(struct daemon *d, struct vm *vm, const char *why)
{
	struct qchan *ch = vm->chan;
	rpc_vm_gone(d, vm);
	for (size_t i = 0; i < CHAN_MAX_STREAMS; i++) {
		struct relay *r = &ch->relays[i];
		if (r->stream && r->client) {
			client_send_frame(r->client, CHAN_ERROR, 1, why, strlen(why));
			relay_end(r);
		}
	}
	vm_fail_waiters(d, vm, WAIT_ECHO, API_E_NOT_RUNNING, why);
}

void qchan_close(struct daemon *d, struct vm *vm)
{
	struct qchan *ch = vm->chan;
	if (!ch)
		return;
	qchan_teardown(d, vm, "the qube's channel closed");
	if (ch->watch >= 0)
		virEventRemoveHandle(ch->watch);
	if (ch->fd >= 0)
		close(ch->fd);
	chan_outbuf_finish(&ch->out);
	free(ch);
	vm->chan = NULL;
}

static void qchan_violation(struct daemon *d, struct vm *vm, const char *what)
{
	log_warn("qube %s broke the channel protocol (%s); closing its channel", vm->q->name, what);
	qchan_close(d, vm);
	/* Reconnecting resets the agent's side too, so later commands can still work. */
	if (vm->state == VM_RUNNING || vm->state == VM_TRANSIENT)
		qchan_connect(d, vm);
}

static void handle_frame(struct daemon *d, struct vm *vm, const struct chan_frame *f)
{
	struct qchan *ch = vm->chan;
	struct relay *r;

	switch (f->type) {
	case CHAN_HELLO: {
		struct chan_hello h;
		if (f->stream != 0 || chan_hello_parse(f->payload, f->len, &h) < 0) {
			qchan_violation(d, vm, "bad HELLO");
			return;
		}
		if (h.version != CHAN_PROTOCOL_VERSION) {
			log_warn("qube %s speaks protocol %u, we speak %u", vm->q->name, h.version,
				 CHAN_PROTOCOL_VERSION);
			return;
		}
		memcpy(ch->agent_version, h.peer_version, sizeof(ch->agent_version));
		if (!ch->ready) {
			ch->ready = true;
			vm_agent_ready(d, vm);
		}
		return;
	}
	case CHAN_ECHO_REPLY: {
		struct waiter *w = vm->echo_waiters;
		if (!w)
			return;
		vm->echo_waiters = w->next;
		struct client *c = client_lookup(d, w->client, w->client_serial);
		if (c) {
			struct json_object *res = json_object_new_object();
			json_object_object_add(
			    res, "data",
			    json_object_new_string_len((const char *)f->payload, (int)f->len));
			client_reply_ok(c, res);
		}
		free(w);
		return;
	}
	case CHAN_RPC_CALL:
		if (!(f->stream & CHAN_STREAM_QUBE)) {
			qchan_violation(d, vm, "RPC_CALL on a host stream");
			return;
		}
		rpc_call_from_qube(d, vm, f->stream, f->payload, f->len);
		return;
	case CHAN_STDIN:
	case CHAN_SIGNAL:
		/* Only on the streams of calls the qube made. */
		if (!(f->stream & CHAN_STREAM_QUBE)) {
			qchan_violation(d, vm, "stdin or signal on a host stream");
			return;
		}
		rpc_frame_from_caller(d, vm, f);
		return;
	case CHAN_STDOUT:
	case CHAN_STDERR:
	case CHAN_WINDOW:
	case CHAN_EXIT:
	case CHAN_ERROR:
		if (f->stream & CHAN_STREAM_QUBE) {
			/* WINDOW (and ERROR) on a call's stream come from the caller. */
			if (f->type == CHAN_WINDOW || f->type == CHAN_ERROR)
				rpc_frame_from_caller(d, vm, f);
			else
				qchan_violation(d, vm, "output on a call's stream");
			return;
		}
		break;
	default:
		qchan_violation(d, vm, "unexpected message type");
		return;
	}

	if (f->stream == 0) {
		if (f->type == CHAN_ERROR) {
			char text[201];
			size_t n = f->len < sizeof(text) ? f->len : sizeof(text) - 1;
			memcpy(text, f->payload, n);
			text[n] = '\0';
			log_warn("agent in %s reports an error: %s", vm->q->name, LOG_ESC(text));
		} else {
			qchan_violation(d, vm, "stream message on stream 0");
		}
		return;
	}
	r = relay_find(ch, f->stream);
	if (!r) {
		qchan_violation(d, vm, "message for a stream that is not open");
		return;
	}
	if (f->type == CHAN_STDOUT || f->type == CHAN_STDERR) {
		if (f->len > r->out_credit) {
			qchan_violation(d, vm, "sent past its window");
			return;
		}
		r->out_credit -= f->len;
	}
	if (r->call) {
		struct rpc_call *call = r->call;
		if (f->type == CHAN_EXIT || f->type == CHAN_ERROR)
			memset(r, 0, sizeof(*r));
		rpc_frame_from_target(d, call, f);
		return;
	}
	if (r->client)
		client_send_frame(r->client, f->type, 1, f->payload, f->len);
	if (f->type == CHAN_EXIT || f->type == CHAN_ERROR)
		relay_end(r);
}

static void qchan_read(struct daemon *d, struct vm *vm)
{
	uint8_t buf[65536];

	for (int rounds = 0; rounds < 16 && vm->chan; rounds++) {
		struct qchan *ch = vm->chan;
		ssize_t n = read(ch->fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			qchan_close(d, vm);
			return;
		}
		if (n == 0) {
			qchan_close(d, vm);
			return;
		}
		size_t off = 0;
		while (vm->chan && off < (size_t)n) {
			struct chan_frame f;
			size_t used = 0;
			int r = chan_decoder_feed(&vm->chan->dec, buf + off, (size_t)n - off, &used,
						  &f);
			off += used;
			if (r < 0) {
				qchan_violation(d, vm, "malformed frame");
				return;
			}
			if (r == 1)
				handle_frame(d, vm, &f);
		}
	}
}

static void qchan_io(int watch, int fd, int events, void *opaque)
{
	struct vm *vm = opaque;
	struct daemon *d = vm->daemon;

	if (!vm->chan)
		return;
	if (events & VIR_EVENT_HANDLE_WRITABLE) {
		int r = chan_outbuf_flush(&vm->chan->out, fd);
		if (r < 0) {
			qchan_close(d, vm);
			return;
		}
	}
	if (events & (VIR_EVENT_HANDLE_READABLE | VIR_EVENT_HANDLE_HANGUP | VIR_EVENT_HANDLE_ERROR))
		qchan_read(d, vm);
	if (vm->chan)
		qchan_update_events(vm->chan);
}

/* vsock: the agent listens on AGENT_VSOCK_PORT in the qube; connect to the CID libvirt chose. */
static int open_vsock(struct daemon *d, struct vm *vm)
{
	unsigned cid;
	int r = backend_vsock_cid(d, vm->q->name, &cid);
	if (r < 0)
		return r;
	struct sockaddr_vm sa = {.svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = 5000};
	_cleanup_close_ int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Blocking: a vsock connect is answered at once, with a refusal while nobody listens. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		return -errno;
	return TAKE_FD(fd);
}

static int open_unix(struct daemon *d, struct vm *vm)
{
	_cleanup_free_ char *path = daemon_channel_path(d, vm->q->name);
	_cleanup_close_ int fd = -1;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	return TAKE_FD(fd);
}

static int qchan_try_connect(struct daemon *d, struct vm *vm)
{
	_cleanup_close_ int fd = d->vsock ? open_vsock(d, vm) : open_unix(d, vm);
	if (fd < 0)
		return fd;

	struct qchan *ch = xcalloc(1, sizeof(*ch));
	ch->fd = TAKE_FD(fd);
	chan_decoder_init(&ch->dec, CHAN_MAX_PAYLOAD);
	chan_outbuf_init(&ch->out, QCHAN_OUT_LIMIT);
	ch->next_stream = 1;
	ch->watch = virEventAddHandle(ch->fd, VIR_EVENT_HANDLE_READABLE, qchan_io, vm, NULL);
	if (ch->watch < 0) {
		close(ch->fd);
		chan_outbuf_finish(&ch->out);
		free(ch);
		return -EIO;
	}
	vm->chan = ch;

	uint8_t hello[128];
	size_t len;
	chan_hello_encode(BULKHEAD_VERSION, hello, sizeof(hello), &len);
	return qchan_send(d, vm, CHAN_HELLO, 0, hello, len);
}

static void connect_retry(int timer, void *opaque)
{
	struct vm *vm = opaque;

	if (vm->chan || vm->state == VM_HALTED) {
		virEventRemoveTimeout(timer);
		vm->connect_timer = -1;
		return;
	}
	/* Over vsock the agent answers only once the qube has booted: keep trying while the
	 * start timer runs. The virtio-serial socket exists as soon as QEMU does. */
	bool patient = vm->daemon->vsock && vm->state == VM_TRANSIENT;
	if (qchan_try_connect(vm->daemon, vm) == 0 ||
	    (++vm->connect_tries >= CONNECT_TRIES && !patient)) {
		virEventRemoveTimeout(timer);
		vm->connect_timer = -1;
	}
}

/* QEMU listens on the socket as soon as the domain exists; retry briefly in case it lags. */
int qchan_connect(struct daemon *d, struct vm *vm)
{
	if (vm->chan)
		return 0;
	int r = qchan_try_connect(d, vm);
	if (r == 0)
		return 0;
	if (vm->connect_timer < 0) {
		vm->connect_tries = 0;
		vm->connect_timer = virEventAddTimeout(CONNECT_RETRY_MS, connect_retry, vm, NULL);
	}
	return r;
}

/* Opens a host stream: a free relay slot, a new id, the opening frame sent. Both EXEC (for a
 * client) and SERVICE (for an RPC call) start this way. */
static int open_stream(struct daemon *d, struct vm *vm, uint16_t type, const void *payload,
		       size_t len, struct relay **ret_slot, uint32_t *ret_stream)
{
	struct qchan *ch = vm->chan;
	struct relay *slot = NULL;

	if (!ch || !ch->ready)
		return -ENOTCONN;
	for (size_t i = 0; i < CHAN_MAX_STREAMS && !slot; i++)
		if (ch->relays[i].stream == 0)
			slot = &ch->relays[i];
	if (!slot)
		return -EBUSY;
	uint32_t stream = ch->next_stream++;
	if (ch->next_stream & CHAN_STREAM_QUBE)
		ch->next_stream = 1;
	int r = qchan_send(d, vm, type, stream, payload, len);
	if (r < 0)
		return r;
	*slot = (struct relay){.stream = stream, .out_credit = CHAN_INITIAL_WINDOW};
	*ret_slot = slot;
	*ret_stream = stream;
	return 0;
}

int qchan_exec(struct daemon *d, struct vm *vm, struct client *c, const char *user,
	       const char *const *argv, uint32_t *ret_stream)
{
	_cleanup_free_ uint8_t *payload = NULL;
	struct relay *slot;
	size_t len;

	int r = chan_exec_encode(user, argv, &payload, &len);
	if (r < 0)
		return r;
	r = open_stream(d, vm, CHAN_EXEC, payload, len, &slot, ret_stream);
	if (r < 0)
		return r;
	slot->client = c;
	return 0;
}

int qchan_open_service(struct daemon *d, struct vm *vm, struct rpc_call *call, const char *user,
		       const char *service, const char *arg, const char *source,
		       uint32_t *ret_stream)
{
	const char *strs[4] = {user, service, arg, source};
	uint8_t payload[4 * (CHAN_STRING_MAX + 1)];
	struct relay *slot;
	size_t len;

	int r = chan_strings_encode(strs, 4, payload, sizeof(payload), &len);
	if (r < 0)
		return r;
	r = open_stream(d, vm, CHAN_SERVICE, payload, len, &slot, ret_stream);
	if (r < 0)
		return r;
	slot->call = call;
	return 0;
}

void qchan_forget_call(struct daemon *d, struct vm *vm, uint32_t stream)
{
	struct relay *r = vm->chan ? relay_find(vm->chan, stream) : NULL;
	if (r && r->call)
		memset(r, 0, sizeof(*r));
}

/* A frame from the client of a `run` relay, already rewritten to the channel's stream. */
void qchan_client_frame(struct daemon *d, struct vm *vm, uint32_t stream,
			const struct chan_frame *f)
{
	struct qchan *ch = vm->chan;
	struct relay *r = ch ? relay_find(ch, stream) : NULL;
	if (!r)
		return;
	if (f->type == CHAN_WINDOW) {
		uint32_t n;
		if (chan_u32_parse(f->payload, f->len, &n) < 0)
			return;
		/* Capped so a confused client cannot make us believe in a huge window. */
		if ((uint64_t)r->out_credit + n > 16ull * CHAN_INITIAL_WINDOW)
			return;
		r->out_credit += n;
	}
	qchan_send(d, vm, f->type, stream, f->payload, f->len);
}

void qchan_client_gone(struct daemon *d, struct vm *vm, uint32_t stream)
{
	struct qchan *ch = vm->chan;
	struct relay *r = ch ? relay_find(ch, stream) : NULL;
	if (!r)
		return;
	r->client = NULL;
	/* Nobody reads the output any more: end the command and let its output drain. */
	uint8_t sig[4];
	chan_u32_encode(sig, 9);
	qchan_send(d, vm, CHAN_SIGNAL, stream, sig, sizeof(sig));
	uint8_t win[4];
	chan_u32_encode(win, 16 * CHAN_INITIAL_WINDOW);
	r->out_credit += 16 * CHAN_INITIAL_WINDOW;
	qchan_send(d, vm, CHAN_WINDOW, stream, win, sizeof(win));
}
