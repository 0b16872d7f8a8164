/* The channel process's engine: see engine.h. */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "api-client.h"
#include "frame.h"
#include "log.h"
#include "qmsg.h"
#include "util.h"

/* What we queue towards the qube: every stream's stdin window plus control frames. */
#define CHAN_OUT_LIMIT ((size_t)CHAN_MAX_STREAMS * CHAN_INITIAL_WINDOW + 1024 * 1024)
/* Towards one peer: the window it granted (capped below) plus control frames. */
#define WINDOW_CAP     (16ull * CHAN_INITIAL_WINDOW)
#define PEER_OUT_LIMIT ((size_t)WINDOW_CAP + 4 * CHAN_MAX_PAYLOAD)
/* Relays: host streams (run, services) and the qube's own (calls), each with its own cap so
 * one kind can never starve the other. bulkheadd keeps services waiting for a free host
 * stream, and refuses calls beyond the qube's cap. */
#define MAX_HOST_STREAMS CHAN_MAX_STREAMS
#define MAX_QUBE_STREAMS QCHAN_MAX_CALLS
/* ... plus room for relays that ended while their peer still had output to read. */
#define MAX_RELAYS (MAX_HOST_STREAMS + MAX_QUBE_STREAMS + CHAN_MAX_STREAMS)
/* What a caller may send to an admin call (its JSON payload). */
#define DOM0_INPUT_MAX (CHAN_MAX_PAYLOAD - 1024u)
#define JSON_DEPTH     8
/* MEMINFO frames passed on to bulkheadd at most this often; the agent sends one a second, so
 * only a flooding qube loses any, and only its own. */
#define MEMINFO_MIN_INTERVAL_MS 500u
/* A peer whose queue to the qube is this full is not read until the qube catches up. */
#define BACKPRESSURE (CHAN_OUT_LIMIT / 2)

enum relay_kind {
	R_FREE,
	R_EXEC,		/* a `bulkhead run` command; peer: the client */
	R_SERVICE,	/* a service run for a call; peer: the caller's channel process */
	R_CALL_PENDING, /* a call the qube made, bulkheadd deciding */
	R_CALL,		/* ... allowed to a qube; peer: the target's channel process */
	R_DOM0,		/* ... allowed to the host's API; peer: a connection bound to it */
	R_DRAIN,	/* ended; what is queued for its peer (the last output, the EXIT) is
			   still being written: never dropped */
};

struct peer {
	int fd;
	struct chan_decoder dec;
	struct chan_outbuf out;
};

struct relay {
	enum relay_kind kind;
	uint32_t stream;  /* on the qube channel */
	uint32_t call_id; /* R_SERVICE: bulkheadd's id */
	struct peer *peer;
	uint64_t qube_credit; /* data bytes the qube may still send on this stream */
	uint64_t peer_credit; /* data bytes the peer may still send towards the qube */
	/* R_DOM0 */
	char *in;
	size_t in_len;
	bool in_done;
	char service[CHAN_STRING_MAX + 1], arg[CHAN_STRING_MAX + 1], dest[CHAN_STRING_MAX + 1];
};

struct engine {
	char qube[64];
	int chan_fd, ctl_fd;
	struct chan_decoder dec;
	struct chan_outbuf out;
	bool ready;
	bool done;
	int proto_error;
	uint32_t next_stream;
	struct log_ratelimit meminfo_limit; /* MEMINFO frames passed on */
	struct relay relays[MAX_RELAYS];
	struct qmsg msg;
};

/* --- small helpers ------------------------------------------------------------------------ */

static void violation(struct engine *e, const char *what)
{
	if (!e->proto_error)
		log_warn("qube %s broke the channel protocol (%s)", e->qube, what);
	e->proto_error = -EPROTO;
}

static void to_parent(struct engine *e, uint16_t type, uint32_t id, const void *p, size_t len)
{
	/* bulkheadd reads its messages promptly; one it cannot take means it is gone. */
	if (qmsg_send(e->ctl_fd, type, id, p, len, -1) < 0)
		e->done = true;
}

static void to_qube(struct engine *e, uint16_t type, uint32_t stream, const void *p, size_t len)
{
	/* Bounded by the windows we enforce; a failure means our accounting is wrong, and then
	 * the channel is reset rather than a byte silently lost. */
	if (chan_outbuf_push(&e->out, type, stream, p, len) < 0)
		violation(e, "the queue to the qube overflowed");
}

static void u32_to_qube(struct engine *e, uint16_t type, uint32_t stream, uint32_t v)
{
	uint8_t b[4];
	chan_u32_encode(b, v);
	to_qube(e, type, stream, b, sizeof(b));
}

static struct peer *peer_new(int fd)
{
	struct peer *p = xcalloc(1, sizeof(*p));
	p->fd = fd;
	chan_decoder_init(&p->dec, CHAN_MAX_PAYLOAD);
	chan_outbuf_init(&p->out, PEER_OUT_LIMIT);
	return p;
}

static void peer_free(struct peer *p)
{
	if (!p)
		return;
	close(p->fd);
	chan_outbuf_finish(&p->out);
	free(p);
}

/* Returns false when the peer cannot take it (it stopped reading past its window). */
static bool to_peer(struct relay *r, uint16_t type, const void *p, size_t len)
{
	if (!r->peer)
		return true;
	/* The API takes requests on stream 0; a run client and the other side of a call see
	 * their one stream as 1. */
	return chan_outbuf_push(&r->peer->out, type, r->kind == R_DOM0 ? 0 : 1, p, len) == 0;
}

static void u32_to_peer(struct relay *r, uint16_t type, uint32_t v)
{
	uint8_t b[4];
	chan_u32_encode(b, v);
	to_peer(r, type, b, sizeof(b));
}

static struct relay *relay_find(struct engine *e, uint32_t stream)
{
	if (stream == 0)
		return NULL;
	for (size_t i = 0; i < MAX_RELAYS; i++)
		if (e->relays[i].kind != R_FREE && e->relays[i].stream == stream)
			return &e->relays[i];
	return NULL;
}

static struct relay *relay_find_call(struct engine *e, uint32_t call_id)
{
	for (size_t i = 0; i < MAX_RELAYS; i++)
		if (e->relays[i].kind == R_SERVICE && e->relays[i].call_id == call_id)
			return &e->relays[i];
	return NULL;
}

/* A free slot, within the cap of its kind. */
static struct relay *relay_alloc(struct engine *e, bool qube_stream)
{
	size_t used = 0;
	struct relay *free_slot = NULL;
	for (size_t i = 0; i < MAX_RELAYS; i++) {
		struct relay *r = &e->relays[i];
		if (r->kind == R_FREE)
			free_slot = free_slot ? free_slot : r;
		else if (r->kind != R_DRAIN && !!(r->stream & CHAN_STREAM_QUBE) == qube_stream)
			used++;
	}
	return used < (qube_stream ? MAX_QUBE_STREAMS : MAX_HOST_STREAMS) ? free_slot : NULL;
}

static void relay_free(struct engine *e, struct relay *r)
{
	peer_free(r->peer);
	free(r->in);
	memset(r, 0, sizeof(*r));
}

/* The end of a relay, told to bulkheadd for its bookkeeping. Output still queued for the
 * peer keeps the slot (without its stream) until it is written or the peer goes. */
static void relay_end(struct engine *e, struct relay *r)
{
	bool drain = r->peer && chan_outbuf_pending(&r->peer->out) > 0 &&
		     chan_outbuf_flush(&r->peer->out, r->peer->fd) == 1;
	switch (r->kind) {
	case R_EXEC:
		to_parent(e, QMSG_EXEC_END, r->stream, NULL, 0);
		break;
	case R_SERVICE:
		to_parent(e, QMSG_SERVICE_END, r->call_id, NULL, 0);
		break;
	case R_CALL_PENDING:
	case R_CALL:
	case R_DOM0:
		to_parent(e, QMSG_CALL_END, r->stream, NULL, 0);
		break;
	default:
		break;
	}
	if (drain) {
		struct peer *p = TAKE_PTR(r->peer);
		relay_free(e, r);
		*r = (struct relay){.kind = R_DRAIN, .peer = p};
		return;
	}
	relay_free(e, r);
}

/* Ends a call the qube made: the reason to the qube, an ERROR to the target's side. */
static void call_fail(struct engine *e, struct relay *r, const char *why)
{
	to_qube(e, CHAN_ERROR, r->stream, why, strlen(why));
	if (r->kind == R_CALL)
		to_peer(r, CHAN_ERROR, why, strlen(why));
	relay_end(e, r);
}

/* A service (or command) whose other side went away: kill it and let its output drain. */
static void service_orphan(struct engine *e, struct relay *r)
{
	peer_free(r->peer);
	r->peer = NULL;
	u32_to_qube(e, CHAN_SIGNAL, r->stream, 9);
	u32_to_qube(e, CHAN_WINDOW, r->stream, (uint32_t)WINDOW_CAP);
	r->qube_credit += WINDOW_CAP;
}

static bool signal_valid(const struct chan_frame *f, uint32_t *ret)
{
	uint32_t sig;
	if (chan_u32_parse(f->payload, f->len, &sig) < 0 || sig < 1 || sig > 64)
		return false;
	*ret = sig;
	return true;
}

/* Adds a WINDOW grant to a credit, refusing a malformed one or one past the cap. */
static bool window_add(const struct chan_frame *f, uint64_t *credit)
{
	uint32_t n;
	if (chan_u32_parse(f->payload, f->len, &n) < 0 || *credit + n > WINDOW_CAP)
		return false;
	*credit += n;
	return true;
}

/* --- admin calls (the first parse of the qube's JSON happens here, not in bulkheadd) ------ */

static void dom0_send_request(struct engine *e, struct relay *r)
{
	struct json_object *payload = NULL;
	if (r->in_len > 0) {
		struct json_tokener *tok = json_tokener_new_ex(JSON_DEPTH);
		payload = json_tokener_parse_ex(tok, r->in, (int)r->in_len);
		bool good = json_tokener_get_error(tok) == json_tokener_success &&
			    json_tokener_get_parse_end(tok) == r->in_len;
		json_tokener_free(tok);
		if (!payload || !good || !json_object_is_type(payload, json_type_object)) {
			json_object_put(payload);
			static const char msg[] = "the input is not a JSON object\n";
			to_qube(e, CHAN_STDERR, r->stream, msg, sizeof(msg) - 1);
			uint8_t b[8];
			chan_exit_encode(b, CHAN_EXIT_CODE, 2);
			to_qube(e, CHAN_STDOUT, r->stream, NULL, 0);
			to_qube(e, CHAN_EXIT, r->stream, b, sizeof(b));
			relay_end(e, r);
			return;
		}
	}
	_cleanup_free_ char *text = NULL;
	size_t len;
	bool ok = api_request_encode(r->service, r->dest, r->arg, payload, &text, &len) == 0 &&
		  to_peer(r, CHAN_API_REQUEST, text, len);
	json_object_put(payload);
	if (!ok)
		call_fail(e, r, "the call's input is too large");
}

static void dom0_reply(struct engine *e, struct relay *r, const struct chan_frame *f)
{
	_cleanup_free_ char *text = xmalloc(f->len + 1);
	memcpy(text, f->payload, f->len);
	text[f->len] = '\0';
	struct json_object *o = json_tokener_parse(text), *ok = NULL, *v = NULL;
	bool success = o && json_object_object_get_ex(o, "ok", &ok) && json_object_get_boolean(ok);
	uint8_t b[8];
	if (success) {
		json_object_object_get_ex(o, "result", &v);
		const char *s =
		    v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN) : "null";
		size_t len = strlen(s);
		/* The reply fits one frame (the API caps it); the caller's initial window is
		 * larger. */
		if (len > CHAN_MAX_PAYLOAD - 1)
			len = CHAN_MAX_PAYLOAD - 1;
		to_qube(e, CHAN_STDOUT, r->stream, s, len);
		to_qube(e, CHAN_STDOUT, r->stream, "\n", 1);
		chan_exit_encode(b, CHAN_EXIT_CODE, 0);
	} else {
		const char *msg = "the call failed";
		if (o && json_object_object_get_ex(o, "message", &v))
			msg = json_object_get_string(v);
		size_t len = strnlen(msg, CHAN_MAX_PAYLOAD - 1);
		to_qube(e, CHAN_STDERR, r->stream, msg, len);
		to_qube(e, CHAN_STDERR, r->stream, "\n", 1);
		chan_exit_encode(b, CHAN_EXIT_CODE, 1);
	}
	json_object_put(o);
	to_qube(e, CHAN_STDOUT, r->stream, NULL, 0);
	to_qube(e, CHAN_EXIT, r->stream, b, sizeof(b));
	relay_end(e, r);
}

static void dom0_get_date(struct engine *e, struct relay *r)
{
	char buf[32];
	uint8_t b[8];
	int n = snprintf(buf, sizeof(buf), "%lld\n", (long long)time(NULL));
	to_qube(e, CHAN_STDOUT, r->stream, buf, (size_t)n);
	to_qube(e, CHAN_STDOUT, r->stream, NULL, 0);
	chan_exit_encode(b, CHAN_EXIT_CODE, 0);
	to_qube(e, CHAN_EXIT, r->stream, b, sizeof(b));
	relay_end(e, r);
}

/* --- frames from the qube ----------------------------------------------------------------- */

static void qube_rpc_call(struct engine *e, const struct chan_frame *f)
{
	char storage[2 * (CHAN_STRING_MAX + 1)];
	const char *strs[2];

	if (relay_find(e, f->stream)) {
		violation(e, "a call on a stream in use");
		return;
	}
	if (f->len > sizeof(storage) ||
	    chan_strings_parse(f->payload, f->len, 2, storage, strs) < 0 ||
	    !qmsg_token_valid(strs[0]) || !qmsg_token_valid(strs[1])) {
		static const char msg[] = "malformed call";
		to_qube(e, CHAN_ERROR, f->stream, msg, sizeof(msg) - 1);
		return;
	}
	struct relay *r = relay_alloc(e, true);
	if (!r) {
		static const char msg[] = "too many calls in flight";
		to_qube(e, CHAN_ERROR, f->stream, msg, sizeof(msg) - 1);
		return;
	}
	*r = (struct relay){.kind = R_CALL_PENDING, .stream = f->stream};
	const char *const out[2] = {strs[0], strs[1]};
	uint8_t buf[sizeof(storage)];
	size_t len;
	chan_strings_encode(out, 2, buf, sizeof(buf), &len);
	to_parent(e, QMSG_CALL, f->stream, buf, len);
}

/* Frames on a stream the qube opened (its calls): STDIN, WINDOW, SIGNAL, ERROR. */
static void qube_call_frame(struct engine *e, struct relay *r, const struct chan_frame *f)
{
	uint32_t sig;

	switch (f->type) {
	case CHAN_STDIN:
		if (f->len > r->qube_credit) {
			call_fail(e, r, "sent past the window");
			return;
		}
		r->qube_credit -= f->len;
		if (r->kind == R_DOM0) {
			if (r->in_done) {
				/* One request per call: input after its end ends the call. */
				call_fail(e, r, "input after the end of the request");
				return;
			}
			if (f->len == 0) {
				r->in_done = true;
				dom0_send_request(e, r);
				return;
			}
			r->in = xrealloc(r->in, r->in_len + f->len + 1);
			memcpy(r->in + r->in_len, f->payload, f->len);
			r->in_len += f->len;
			r->in[r->in_len] = '\0';
			return;
		}
		if (!to_peer(r, CHAN_STDIN, f->payload, f->len))
			call_fail(e, r, "the target does not read");
		return;
	case CHAN_WINDOW:
		if (r->kind != R_CALL)
			return;
		if (!window_add(f, &r->peer_credit)) {
			call_fail(e, r, "bad window");
			return;
		}
		to_peer(r, CHAN_WINDOW, f->payload, f->len);
		return;
	case CHAN_SIGNAL:
		/* Only a well-formed signal for the caller's own running call passes. */
		if (!signal_valid(f, &sig)) {
			call_fail(e, r, "malformed signal");
			return;
		}
		if (r->kind == R_CALL)
			u32_to_peer(r, CHAN_SIGNAL, sig);
		return;
	case CHAN_ERROR:
		/* The caller gave up. */
		if (r->kind == R_CALL)
			to_peer(r, CHAN_ERROR, "the caller gave up", 18);
		relay_end(e, r);
		return;
	default:
		violation(e, "a host-side message on a call's stream");
	}
}

/* Frames on a host stream (run commands, services): STDOUT, STDERR, WINDOW, EXIT, ERROR. */
static void qube_host_stream_frame(struct engine *e, struct relay *r, const struct chan_frame *f)
{
	switch (f->type) {
	case CHAN_STDOUT:
	case CHAN_STDERR:
		if (f->len > r->qube_credit) {
			violation(e, "sent past its window");
			return;
		}
		r->qube_credit -= f->len;
		if (!r->peer || (r->kind == R_SERVICE && f->type == CHAN_STDERR)) {
			/* Nobody reads it (a service's stderr stays in its qube): the window
			 * goes back at once. */
			if (f->len)
				u32_to_qube(e, CHAN_WINDOW, r->stream, f->len);
			r->qube_credit += f->len;
			return;
		}
		if (!to_peer(r, f->type, f->payload, f->len))
			service_orphan(e, r);
		return;
	case CHAN_WINDOW:
		if (!window_add(f, &r->peer_credit)) {
			violation(e, "a bad window");
			return;
		}
		to_peer(r, CHAN_WINDOW, f->payload, f->len);
		return;
	case CHAN_EXIT:
	case CHAN_ERROR: {
		uint32_t kind;
		int32_t value;
		if (f->type == CHAN_EXIT &&
		    chan_exit_parse(f->payload, f->len, &kind, &value) < 0) {
			violation(e, "a malformed EXIT");
			return;
		}
		to_peer(r, f->type, f->payload, f->len);
		relay_end(e, r);
		return;
	}
	default:
		violation(e, "an unexpected message on a command's stream");
	}
}

static void qube_frame(struct engine *e, const struct chan_frame *f)
{
	switch (f->type) {
	case CHAN_HELLO: {
		struct chan_hello h;
		if (f->stream != 0 || chan_hello_parse(f->payload, f->len, &h) < 0) {
			violation(e, "a bad HELLO");
			return;
		}
		if (h.version != CHAN_PROTOCOL_VERSION) {
			log_warn("qube %s speaks protocol %u, we speak %u", e->qube, h.version,
				 CHAN_PROTOCOL_VERSION);
			return;
		}
		if (e->ready)
			return;
		e->ready = true;
		/* Printable ASCII only: it ends up in logs and API replies. */
		char v[sizeof(h.peer_version)];
		size_t j = 0;
		for (size_t i = 0; h.peer_version[i] && j + 1 < sizeof(v); i++)
			v[j++] = (h.peer_version[i] > 0x20 && h.peer_version[i] < 0x7f)
				     ? h.peer_version[i]
				     : '?';
		v[j] = '\0';
		const char *strs[1] = {j ? v : "?"};
		uint8_t buf[sizeof(v) + 1];
		size_t len;
		chan_strings_encode(strs, 1, buf, sizeof(buf), &len);
		to_parent(e, QMSG_READY, 0, buf, len);
		return;
	}
	case CHAN_ECHO_REPLY:
		if (f->stream != 0 || f->len > qmsg_lookup(QMSG_ECHO_REPLY)->max_len) {
			violation(e, "a bad ECHO_REPLY");
			return;
		}
		to_parent(e, QMSG_ECHO_REPLY, 0, f->payload, f->len);
		return;
	case CHAN_MEMINFO: {
		if (f->stream != 0 || f->len != 8) {
			violation(e, "a bad MEMINFO");
			return;
		}
		unsigned dropped;
		if (!log_ratelimit_allow(&e->meminfo_limit, 1, MEMINFO_MIN_INTERVAL_MS,
					 monotonic_ms(), &dropped))
			return;
		to_parent(e, QMSG_MEMINFO, 0, f->payload, f->len);
		return;
	}
	case CHAN_RPC_CALL:
		if (!(f->stream & CHAN_STREAM_QUBE)) {
			violation(e, "RPC_CALL on a host stream");
			return;
		}
		qube_rpc_call(e, f);
		return;
	case CHAN_STDIN:
	case CHAN_SIGNAL:
	case CHAN_STDOUT:
	case CHAN_STDERR:
	case CHAN_WINDOW:
	case CHAN_EXIT:
	case CHAN_ERROR:
		break;
	default:
		violation(e, "an unexpected message type");
		return;
	}
	if (f->stream == 0) {
		if (f->type == CHAN_ERROR) {
			/* Printable only: a newline in it must not forge a log line. */
			char msg[201];
			size_t n = f->len < 200 ? f->len : 200;
			for (size_t i = 0; i < n; i++)
				msg[i] = (f->payload[i] >= 0x20 && f->payload[i] < 0x7f)
					     ? (char)f->payload[i]
					     : '?';
			msg[n] = '\0';
			log_warn("agent in %s reports an error: %s", e->qube, msg);
		} else {
			violation(e, "a stream message on stream 0");
		}
		return;
	}
	struct relay *r = relay_find(e, f->stream);
	if (f->stream & CHAN_STREAM_QUBE) {
		if (f->type != CHAN_STDIN && f->type != CHAN_SIGNAL && f->type != CHAN_WINDOW &&
		    f->type != CHAN_ERROR) {
			violation(e, "output on a call's stream");
			return;
		}
		if (r)
			qube_call_frame(e, r, f);
		/* else: frames racing the end of a call */
		return;
	}
	if (f->type == CHAN_STDIN || f->type == CHAN_SIGNAL) {
		violation(e, "stdin or signal on a host stream");
		return;
	}
	if (!r) {
		violation(e, "a message for a stream that is not open");
		return;
	}
	qube_host_stream_frame(e, r, f);
}

int engine_feed_channel(struct engine *e, const uint8_t *buf, size_t len)
{
	size_t off = 0;
	while (off < len && !e->proto_error && !e->done) {
		struct chan_frame f;
		size_t used = 0;
		int r = chan_decoder_feed(&e->dec, buf + off, len - off, &used, &f);
		off += used;
		if (r < 0) {
			violation(e, "a malformed frame");
			break;
		}
		if (r == 1)
			qube_frame(e, &f);
	}
	return e->proto_error ? e->proto_error : e->done ? 1 : 0;
}

/* --- frames from peers ---------------------------------------------------------------------- */

static void peer_frame(struct engine *e, struct relay *r, const struct chan_frame *f)
{
	uint32_t sig;

	switch (r->kind) {
	case R_EXEC:
	case R_SERVICE:
		switch (f->type) {
		case CHAN_STDIN:
			/* The qube's stdin window, granted by its WINDOW frames, is spent here
			 * for run clients and callers alike. */
			if (f->len > r->peer_credit) {
				service_orphan(e, r);
				return;
			}
			r->peer_credit -= f->len;
			to_qube(e, CHAN_STDIN, r->stream, f->payload, f->len);
			return;
		case CHAN_WINDOW:
			if (!window_add(f, &r->qube_credit)) {
				service_orphan(e, r);
				return;
			}
			to_qube(e, CHAN_WINDOW, r->stream, f->payload, f->len);
			return;
		case CHAN_SIGNAL:
			if (signal_valid(f, &sig))
				u32_to_qube(e, CHAN_SIGNAL, r->stream, sig);
			else
				service_orphan(e, r);
			return;
		default:
			/* ERROR (the caller gave up) or anything else: the command ends. */
			service_orphan(e, r);
			return;
		}
	case R_CALL:
		switch (f->type) {
		case CHAN_STDOUT:
			if (f->len > r->peer_credit) {
				call_fail(e, r, "the service sent past its window");
				return;
			}
			r->peer_credit -= f->len;
			to_qube(e, CHAN_STDOUT, r->stream, f->payload, f->len);
			return;
		case CHAN_WINDOW:
			if (!window_add(f, &r->qube_credit)) {
				call_fail(e, r, "the service sent a bad window");
				return;
			}
			to_qube(e, CHAN_WINDOW, r->stream, f->payload, f->len);
			return;
		case CHAN_EXIT: {
			uint32_t kind;
			int32_t value;
			if (chan_exit_parse(f->payload, f->len, &kind, &value) < 0) {
				call_fail(e, r, "the service failed");
				return;
			}
			to_qube(e, CHAN_EXIT, r->stream, f->payload, f->len);
			relay_end(e, r);
			return;
		}
		default:
			call_fail(e, r, "the service failed");
			return;
		}
	case R_DOM0:
		if (f->type == CHAN_API_REPLY && r->in_done)
			dom0_reply(e, r, f);
		else
			call_fail(e, r, "bad reply from the host's API");
		return;
	default:
		return;
	}
}

static void peer_gone(struct engine *e, struct relay *r)
{
	switch (r->kind) {
	case R_EXEC:
	case R_SERVICE:
		service_orphan(e, r);
		return;
	case R_CALL:
		call_fail(e, r, "the target stopped (or its channel was reset) during the call");
		return;
	case R_DOM0:
		call_fail(e, r, "the host's API closed the call");
		return;
	default:
		return;
	}
}

static void peer_read(struct engine *e, struct relay *r)
{
	uint8_t buf[65536];
	ssize_t n = read(r->peer->fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		peer_gone(e, r);
		return;
	}
	size_t off = 0;
	while (off < (size_t)n && r->peer && !e->proto_error) {
		struct chan_frame f;
		size_t used = 0;
		int res = chan_decoder_feed(&r->peer->dec, buf + off, (size_t)n - off, &used, &f);
		off += used;
		if (res < 0) {
			peer_gone(e, r);
			return;
		}
		if (res == 1)
			peer_frame(e, r, &f);
	}
}

/* --- messages from bulkheadd ------------------------------------------------------------------ */

static uint32_t new_host_stream(struct engine *e)
{
	uint32_t s;
	do {
		s = e->next_stream++;
		if (e->next_stream & CHAN_STREAM_QUBE)
			e->next_stream = 1;
	} while (relay_find(e, s));
	return s;
}

static int set_nonblock(int fd)
{
	return fcntl(fd, F_SETFL, O_NONBLOCK) < 0 ? -errno : 0;
}

static void parent_msg(struct engine *e, struct qmsg *m)
{
	struct relay *r;
	int fd = m->fd;
	m->fd = -1;

	switch (m->type) {
	case QMSG_EXEC:
	case QMSG_SERVICE:
		r = e->ready ? relay_alloc(e, false) : NULL;
		if (!r || set_nonblock(fd) < 0) {
			if (m->type == QMSG_EXEC) {
				static const char msg[] = "too many commands running in the qube";
				chan_send(fd, CHAN_ERROR, 1, msg, sizeof(msg) - 1);
				to_parent(e, QMSG_EXEC_END, 0, NULL, 0);
			} else {
				to_parent(e, QMSG_SERVICE_END, m->id, NULL, 0);
			}
			close(fd);
			return;
		}
		*r = (struct relay){.kind = m->type == QMSG_EXEC ? R_EXEC : R_SERVICE,
				    .stream = new_host_stream(e),
				    .call_id = m->id,
				    .peer = peer_new(fd),
				    .qube_credit = CHAN_INITIAL_WINDOW,
				    .peer_credit = CHAN_INITIAL_WINDOW};
		to_qube(e, m->type == QMSG_EXEC ? CHAN_EXEC : CHAN_SERVICE, r->stream, m->payload,
			m->len);
		return;
	case QMSG_CALL_CONNECT:
	case QMSG_CALL_DOM0:
		r = relay_find(e, m->id);
		if (!r || r->kind != R_CALL_PENDING || (fd >= 0 && set_nonblock(fd) < 0)) {
			if (fd >= 0)
				close(fd);
			return;
		}
		if (m->type == QMSG_CALL_DOM0 && streq(m->str[0], "bulkhead.GetDate")) {
			if (fd >= 0)
				close(fd);
			dom0_get_date(e, r);
			return;
		}
		if (fd < 0) {
			call_fail(e, r, "the host cannot answer this call");
			return;
		}
		r->peer = peer_new(fd);
		if (m->type == QMSG_CALL_CONNECT) {
			r->kind = R_CALL;
			r->qube_credit = CHAN_INITIAL_WINDOW; /* the service's stdin */
			r->peer_credit = CHAN_INITIAL_WINDOW; /* the caller's stdout */
			u32_to_qube(e, CHAN_WINDOW, r->stream, CHAN_INITIAL_WINDOW);
		} else {
			r->kind = R_DOM0;
			snprintf(r->service, sizeof(r->service), "%s", m->str[0]);
			snprintf(r->arg, sizeof(r->arg), "%s", m->str[1]);
			snprintf(r->dest, sizeof(r->dest), "%s", m->str[2]);
			r->qube_credit = DOM0_INPUT_MAX;
			u32_to_qube(e, CHAN_WINDOW, r->stream, DOM0_INPUT_MAX);
		}
		return;
	case QMSG_CALL_REFUSE:
		r = relay_find(e, m->id);
		if (r && r->kind == R_CALL_PENDING) {
			char msg[CHAN_STRING_MAX + 32];
			snprintf(msg, sizeof(msg), "request refused: %s", m->str[0]);
			to_qube(e, CHAN_ERROR, r->stream, msg, strlen(msg));
			relay_free(e, r);
		}
		return;
	case QMSG_CALL_ABORT:
		r = relay_find(e, m->id);
		if (r && (r->kind == R_CALL_PENDING || r->kind == R_CALL || r->kind == R_DOM0))
			call_fail(e, r, m->str[0]);
		return;
	case QMSG_SERVICE_KILL:
		r = relay_find_call(e, m->id);
		if (r && r->peer)
			service_orphan(e, r);
		return;
	case QMSG_ECHO:
		to_qube(e, CHAN_ECHO, 0, m->payload, m->len);
		return;
	case QMSG_SHUTDOWN:
		to_qube(e, CHAN_SHUTDOWN, 0, NULL, 0);
		return;
	default:
		if (fd >= 0)
			close(fd);
		return;
	}
}

/* --- the loop ----------------------------------------------------------------------------- */

int engine_new(const char *qube, int chan_fd, int ctl_fd, struct engine **ret)
{
	struct engine *e = xcalloc(1, sizeof(*e));
	snprintf(e->qube, sizeof(e->qube), "%s", qube);
	e->chan_fd = chan_fd;
	e->ctl_fd = ctl_fd;
	e->next_stream = 1;
	chan_decoder_init(&e->dec, CHAN_MAX_PAYLOAD);
	chan_outbuf_init(&e->out, CHAN_OUT_LIMIT);
	/* Our side of the handshake goes first, as the host's always did. */
	uint8_t hello[128];
	size_t len;
	chan_hello_encode(BULKHEAD_VERSION, hello, sizeof(hello), &len);
	to_qube(e, CHAN_HELLO, 0, hello, len);
	*ret = e;
	return 0;
}

void engine_free(struct engine *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < MAX_RELAYS; i++)
		relay_free(e, &e->relays[i]);
	chan_outbuf_finish(&e->out);
	free(e);
}

int engine_run_once(struct engine *e, int timeout_ms)
{
	struct pollfd pfd[2 + MAX_RELAYS];
	struct relay *who[2 + MAX_RELAYS];
	nfds_t n = 0;

	/* Back-pressure: while the qube is slow to take what peers send it, peers wait. */
	bool qube_full = chan_outbuf_pending(&e->out) > BACKPRESSURE;
	pfd[n] = (struct pollfd){.fd = e->chan_fd,
				 .events = POLLIN | (chan_outbuf_pending(&e->out) ? POLLOUT : 0)};
	who[n++] = NULL;
	pfd[n] = (struct pollfd){.fd = e->ctl_fd, .events = qube_full ? 0 : POLLIN};
	who[n++] = NULL;
	for (size_t i = 0; i < MAX_RELAYS; i++) {
		struct relay *r = &e->relays[i];
		if (r->kind == R_FREE || !r->peer)
			continue;
		short ev = qube_full || r->kind == R_DRAIN ? 0 : POLLIN;
		if (chan_outbuf_pending(&r->peer->out))
			ev |= POLLOUT;
		pfd[n] = (struct pollfd){.fd = r->peer->fd, .events = ev};
		who[n++] = r;
	}
	int k = poll(pfd, n, timeout_ms);
	if (k < 0)
		return errno == EINTR ? 0 : -errno;

	if (pfd[0].revents & POLLOUT) {
		if (chan_outbuf_flush(&e->out, e->chan_fd) < 0)
			return 1;
	}
	if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
		uint8_t buf[65536];
		ssize_t got = read(e->chan_fd, buf, sizeof(buf));
		if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR))
			return 1; /* the qube went away */
		if (got > 0 && engine_feed_channel(e, buf, (size_t)got) != 0)
			return e->proto_error ? e->proto_error : 1;
	}
	if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
		int r = qmsg_recv(e->ctl_fd, QMSG_TO_CHILD, &e->msg);
		if (r == -EPIPE || (r < 0 && r != -EAGAIN))
			return 1; /* bulkheadd went away, or speaks nonsense */
		if (r == 0)
			parent_msg(e, &e->msg);
	}
	for (nfds_t i = 2; i < n; i++) {
		struct relay *r = who[i];
		/* An earlier handler may have ended this relay or given its slot to another. */
		if (r->kind == R_FREE || !r->peer || r->peer->fd != pfd[i].fd)
			continue;
		if (r->kind == R_DRAIN) {
			/* Written out, or the peer left: either way the slot is free. */
			if (pfd[i].revents & (POLLOUT | POLLHUP | POLLERR) &&
			    chan_outbuf_flush(&r->peer->out, r->peer->fd) != 1)
				relay_free(e, r);
			continue;
		}
		if (pfd[i].revents & POLLOUT) {
			if (chan_outbuf_flush(&r->peer->out, r->peer->fd) < 0) {
				peer_gone(e, r);
				continue;
			}
		}
		if (r->peer && (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
			peer_read(e, r);
	}
	if (e->proto_error)
		return e->proto_error;
	return e->done ? 1 : 0;
}
