/*
 * Calls between qubes. A qube's agent sends RPC_CALL on a stream of its own; the caller is the
 * qube whose channel it came on, whatever the payload says. The policy decides; an allowed call
 * gets its target started if needed, the service is run there (SERVICE), and the two streams are
 * relayed with their windows enforced. The host answers calls addressed to it (dom0) itself.
 */
#include <stdarg.h>
#include <sys/socket.h>
#include <time.h>

#include "daemon.h"
#include "log.h"
#include "rpc-policy.h"
#include "util.h"

/* Calls in flight over all qubes, and per calling qube. */
#define RPC_MAX_CALLS	      1024u
#define RPC_MAX_CALLS_PER_VM  (CHAN_MAX_STREAMS * 2u)
#define RPC_DEFAULT_TIMEOUT_S 300u
/* What one calling qube can make the host do at once: disposables made for its calls, and
 * targets its calls are starting. (Every start is also admitted against the host's memory.) */
#define RPC_MAX_DISPOSABLES_PER_VM 4u
#define RPC_MAX_AUTOSTARTS_PER_VM  4u
/* Lines about one qube's refused calls: at most this many per interval, then a count. */
#define RPC_DENY_LOG_BURST	 10u
#define RPC_DENY_LOG_INTERVAL_MS 10000u
/* What a caller may send to a dom0 service (an admin call's JSON payload). */
#define DOM0_INPUT_MAX (CHAN_MAX_PAYLOAD - 1024u)

enum call_state {
	CALL_ASKING,  /* the prompt on the host decides */
	CALL_WAITING, /* target starting */
	CALL_RUNNING, /* service runs in the target */
	CALL_DOM0,    /* answered by the host */
	CALL_DONE,    /* the service ended; only freeing is left */
};

struct rpc_call {
	struct rpc_call *next;
	struct daemon *d;
	enum call_state state;
	struct vm *src;
	uint32_t src_stream;
	struct vm *dst; /* NULL for dom0 */
	uint32_t dst_stream;
	char *service, *arg, *target, *user;
	char *dest;	     /* admin calls: the qube the call is about */
	uint64_t in_credit;  /* stdin bytes the caller may still send */
	uint64_t out_credit; /* stdout bytes the caller still accepts */
	int timer;
	/* dom0 services */
	char *in;
	size_t in_len;
	int api_fd, api_watch;
	struct chan_decoder *api_dec;
	bool disposable; /* dst is a disposable made for this call: removed afterwards */
	bool starting;	 /* this call started its (halted) target, which has not answered yet */
	/* ask */
	uint64_t ask_id;
	struct client *prompt;
	char **ask_targets;
	size_t n_ask_targets;
	bool autostart;
	char *requested; /* the target the caller named */
};

static uint64_t ask_counter;
static void call_proceed(struct rpc_call *c, const char *target);

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Logs a refusal of one of src's calls, within src's limit: a qube that floods refused calls
 * cannot flood the log. Qube strings in the arguments must be escaped (LOG_ESC). */
static void __attribute__((format(printf, 3, 4)))
log_refusal_at(enum log_level level, struct vm *src, const char *fmt, ...)
{
	unsigned suppressed = 0;
	char line[1024];
	va_list ap;

	/* src is NULL only for a call whose caller went away: nothing to limit. */
	if (src && !log_ratelimit_allow(&src->deny_log, RPC_DENY_LOG_BURST,
					RPC_DENY_LOG_INTERVAL_MS, now_ms(), &suppressed))
		return;
	if (suppressed > 0)
		log_info("rpc: suppressed %u messages about refused calls from %s", suppressed,
			 src->q->name);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_msg(level, "%s", line);
}
#define log_refusal(src, ...) log_refusal_at(LOG_LVL_INFO, src, __VA_ARGS__)

static void send_caller(struct rpc_call *c, uint16_t type, const void *p, size_t len)
{
	if (c->src)
		qchan_send(c->d, c->src, type, c->src_stream, p, len);
}

static void send_target(struct rpc_call *c, uint16_t type, const void *p, size_t len)
{
	if (c->dst && c->state == CALL_RUNNING)
		qchan_send(c->d, c->dst, type, c->dst_stream, p, len);
}

static void send_u32(struct rpc_call *c, bool to_caller, uint16_t type, uint32_t v)
{
	uint8_t b[4];
	chan_u32_encode(b, v);
	if (to_caller)
		send_caller(c, type, b, sizeof(b));
	else
		send_target(c, type, b, sizeof(b));
}

static void send_exit(struct rpc_call *c, uint32_t kind, int32_t value)
{
	uint8_t b[8];
	send_caller(c, CHAN_STDOUT, NULL, 0);
	chan_exit_encode(b, kind, value);
	send_caller(c, CHAN_EXIT, b, sizeof(b));
}

static void call_free(struct rpc_call *c)
{
	struct daemon *d = c->d;
	for (struct rpc_call **pp = &d->calls; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	d->n_calls--;
	if (c->timer >= 0)
		virEventRemoveTimeout(c->timer);
	if (c->api_watch >= 0)
		virEventRemoveHandle(c->api_watch);
	if (c->api_fd >= 0)
		close(c->api_fd);
	if (c->dst && c->state == CALL_RUNNING)
		qchan_forget_call(d, c->dst, c->dst_stream);
	if (c->disposable && c->dst)
		vm_dispose(d, c->dst);
	free(c->api_dec);
	for (size_t i = 0; i < c->n_ask_targets; i++)
		free(c->ask_targets[i]);
	free(c->ask_targets);
	free(c->requested);
	free(c->in);
	free(c->service);
	free(c->arg);
	free(c->target);
	free(c->user);
	free(c->dest);
	free(c);
}

/* Ends a call with a message to the caller (on its stream) and kills the service, if any. */
static void call_abort(struct rpc_call *c, const char *why)
{
	if (c->dst && c->state == CALL_RUNNING)
		send_u32(c, false, CHAN_SIGNAL, 9);
	send_caller(c, CHAN_ERROR, why, strlen(why));
	call_free(c);
}

static struct rpc_call *find_by_src(struct daemon *d, struct vm *src, uint32_t stream)
{
	for (struct rpc_call *c = d->calls; c; c = c->next)
		if (c->src == src && c->src_stream == stream)
			return c;
	return NULL;
}

static void call_timed_out(int timer, void *opaque)
{
	struct rpc_call *c = opaque;
	log_warn("rpc: %s+%s from %s to %s timed out", LOG_ESC(c->service), LOG_ESC(c->arg),
		 c->src ? c->src->q->name : "?", LOG_ESC(c->target));
	call_abort(c, "the call timed out");
}

/* The target runs: start the service and open the caller's stdin window. A target already
 * running as many services as its channel carries keeps the call waiting for a free stream. */
static void connect_target(struct rpc_call *c)
{
	int r = qchan_open_service(c->d, c->dst, c, c->user ? c->user : "", c->service, c->arg,
				   c->src->q->name, &c->dst_stream);
	if (r == -EBUSY)
		return; /* rpc_target_ready retries when a stream ends */
	if (r < 0) {
		call_abort(c, "the target cannot take calls");
		return;
	}
	c->state = CALL_RUNNING;
	c->starting = false;
	if (c->timer < 0)
		c->timer =
		    virEventAddTimeout((int)c->d->rpc_timeout_s * 1000, call_timed_out, c, NULL);
	c->in_credit = CHAN_INITIAL_WINDOW;
	send_u32(c, true, CHAN_WINDOW, CHAN_INITIAL_WINDOW);
}

void rpc_target_ready(struct daemon *d, struct vm *vm)
{
	if (!vm->chan || !vm->chan->ready)
		return;
	for (struct rpc_call *c = d->calls, *next; c; c = next) {
		next = c->next;
		if (c->state == CALL_WAITING && c->dst == vm)
			connect_target(c);
	}
}

void rpc_vm_gone(struct daemon *d, struct vm *vm)
{
	for (struct rpc_call *c = d->calls, *next; c; c = next) {
		next = c->next;
		if (c->src == vm) {
			/* Nobody to answer: stop the service. */
			c->src = NULL;
			if (c->dst && c->state == CALL_RUNNING)
				send_u32(c, false, CHAN_SIGNAL, 9);
			call_free(c);
		} else if (c->dst == vm) {
			/* Its channel is gone, but the qube may run on (a protocol violation
			 * only closes the channel): a disposable made for the call still goes. */
			if (c->disposable)
				vm_dispose(d, vm);
			c->disposable = false;
			c->state = CALL_WAITING; /* its channel is gone: nothing to forget */
			c->dst = NULL;
			call_abort(c, "the target stopped during the call");
		}
	}
}

void rpc_free_all(struct daemon *d)
{
	while (d->calls) {
		d->calls->disposable = false;
		call_free(d->calls);
	}
}

/* --- dom0 services --------------------------------------------------------------------- */

static void dom0_get_date(struct rpc_call *c)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%lld\n", (long long)time(NULL));
	c->out_credit -= (uint64_t)n;
	send_caller(c, CHAN_STDOUT, buf, (size_t)n);
	send_exit(c, CHAN_EXIT_CODE, 0);
	call_free(c);
}

static void api_reply_io(int watch, int fd, int events, void *opaque)
{
	struct rpc_call *c = opaque;
	uint8_t buf[8192];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		call_abort(c, "the host's API closed the call");
		return;
	}
	size_t off = 0;
	while (off < (size_t)n) {
		struct chan_frame f;
		size_t used;
		int r = chan_decoder_feed(c->api_dec, buf + off, (size_t)n - off, &used, &f);
		off += used;
		if (r < 0) {
			call_abort(c, "bad reply from the host's API");
			return;
		}
		if (r == 0 || f.type != CHAN_API_REPLY)
			continue;
		struct json_object *o = json_tokener_parse((const char *)f.payload);
		struct json_object *ok = NULL, *v = NULL;
		bool success =
		    o && json_object_object_get_ex(o, "ok", &ok) && json_object_get_boolean(ok);
		if (success) {
			json_object_object_get_ex(o, "result", &v);
			const char *s =
			    v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN) : "null";
			size_t len = strlen(s);
			/* The caller granted one initial window; a reply never exceeds it. */
			send_caller(c, CHAN_STDOUT, s, len);
			send_caller(c, CHAN_STDOUT, "\n", 1);
			send_exit(c, CHAN_EXIT_CODE, 0);
		} else {
			const char *msg = "the call failed";
			if (o && json_object_object_get_ex(o, "message", &v))
				msg = json_object_get_string(v);
			send_caller(c, CHAN_STDERR, msg, strlen(msg));
			send_caller(c, CHAN_STDERR, "\n", 1);
			send_exit(c, CHAN_EXIT_CODE, 1);
		}
		json_object_put(o);
		call_free(c);
		return;
	}
}

/* admin.* from a qube: the same API the CLI uses, through an internal connection, after the
 * policy allowed exactly this call. Its stdin is the JSON payload. */
static void dom0_admin(struct rpc_call *c)
{
	int sv[2];
	struct json_object *payload = NULL;

	if (c->in_len > 0) {
		struct json_tokener *tok = json_tokener_new_ex(API_JSON_DEPTH);
		payload = json_tokener_parse_ex(tok, c->in, (int)c->in_len);
		bool good = json_tokener_get_error(tok) == json_tokener_success;
		json_tokener_free(tok);
		if (!payload || !good) {
			json_object_put(payload);
			send_caller(c, CHAN_STDERR, "the input is not JSON\n", 21);
			send_exit(c, CHAN_EXIT_CODE, 2);
			call_free(c);
			return;
		}
	}
	/* Calls that turn the connection into a stream are for the host's own CLI only. */
	/* ...and the `ask` prompt is the host's, never a qube's, whatever a policy says. */
	if (rpc_service_host_only(c->service)) {
		json_object_put(payload);
		call_abort(c, "this admin call is not available to qubes");
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0 ||
	    api_server_add_internal(c->d, sv[1]) < 0) {
		json_object_put(payload);
		call_abort(c, "cannot reach the host's API");
		return;
	}
	struct json_object *req = json_object_new_object();
	json_object_object_add(req, "call", json_object_new_string(c->service));
	json_object_object_add(req, "dest", json_object_new_string(c->dest ? c->dest : ""));
	json_object_object_add(req, "arg", json_object_new_string(c->arg));
	if (payload)
		json_object_object_add(req, "payload", payload);
	size_t len;
	const char *s = json_object_to_json_string_length(req, JSON_C_TO_STRING_PLAIN, &len);
	c->api_fd = sv[0];
	int r =
	    len <= CHAN_MAX_PAYLOAD ? chan_send(c->api_fd, CHAN_API_REQUEST, 0, s, len) : -E2BIG;
	json_object_put(req);
	if (r < 0) {
		call_abort(c, "cannot send the call to the host's API");
		return;
	}
	c->api_dec = xcalloc(1, sizeof(*c->api_dec));
	chan_decoder_init(c->api_dec, CHAN_MAX_PAYLOAD);
	c->api_watch =
	    virEventAddHandle(c->api_fd, VIR_EVENT_HANDLE_READABLE, api_reply_io, c, NULL);
	if (c->api_watch < 0)
		call_abort(c, "cannot wait for the host's API");
}

static void dom0_input_done(struct rpc_call *c)
{
	if (strncmp(c->service, "admin.", 6) == 0)
		dom0_admin(c);
	else
		call_abort(c, "no such service in dom0");
}

/* --- calls ----------------------------------------------------------------------------- */

static bool is_dom0(const char *name)
{
	return streq(name, "dom0") || streq(name, "@adminvm");
}

void rpc_call_from_qube(struct daemon *d, struct vm *src, uint32_t stream, const uint8_t *p,
			size_t len)
{
	char storage[2 * (CHAN_STRING_MAX + 1)];
	const char *strs[2];
	char reason[256];
	struct rpc_policy_decision dec = {0};

	if (find_by_src(d, src, stream)) {
		log_refusal_at(LOG_LVL_WARN, src, "rpc: %s reused stream %#x", src->q->name,
			       stream);
		return;
	}
	if (len > sizeof(storage) || chan_strings_parse(p, len, 2, storage, strs) < 0) {
		static const char msg[] = "malformed call";
		log_refusal(src, "rpc: malformed call from %s", src->q->name);
		qchan_send(d, src, CHAN_ERROR, stream, msg, sizeof(msg) - 1);
		return;
	}
	unsigned mine = 0;
	for (struct rpc_call *c = d->calls; c; c = c->next)
		mine += c->src == src;
	if (d->n_calls >= RPC_MAX_CALLS || mine >= RPC_MAX_CALLS_PER_VM) {
		static const char msg[] = "too many calls in flight";
		log_refusal(src, "rpc: refused a call from %s: too many calls in flight",
			    src->q->name);
		qchan_send(d, src, CHAN_ERROR, stream, msg, sizeof(msg) - 1);
		return;
	}

	/* Whatever the policy says: before it is asked, so nothing is started either. */
	if (rpc_service_host_only(strs[1])) {
		static const char msg[] = "request refused: only the host may use this service; it "
					  "is not available to qubes";
		log_refusal(src, "rpc: %s from %s to %s: denied (a service only the host uses)",
			    LOG_ESC(strs[1]), src->q->name, LOG_ESC(strs[0]));
		qchan_send(d, src, CHAN_ERROR, stream, msg, sizeof(msg) - 1);
		return;
	}

	/* The caller's identity is the channel's: src, never anything in the payload. */
	int r = rpc_policy_decide(d, src->q->name, strs[0], strs[1], &dec, reason, sizeof(reason));
	if (r < 0 || dec.action == RPC_DENY) {
		/* The reason may quote the service name, which is the qube's. */
		log_refusal(src, "rpc: %s from %s to %s: denied (%s)", LOG_ESC(strs[1]),
			    src->q->name, LOG_ESC(strs[0]), LOG_ESC(reason));
		char msg[320];
		snprintf(msg, sizeof(msg), "request refused: %s", reason);
		qchan_send(d, src, CHAN_ERROR, stream, msg, strlen(msg));
		rpc_policy_decision_finish(&dec);
		return;
	}

	struct rpc_call *c = xcalloc(1, sizeof(*c));
	c->d = d;
	c->src = src;
	c->src_stream = stream;
	c->timer = -1;
	c->api_fd = c->api_watch = -1;
	c->service = TAKE_PTR(dec.service);
	c->arg = TAKE_PTR(dec.arg);
	c->user = TAKE_PTR(dec.user);
	c->requested = xstrdup(strs[0]);
	c->autostart = dec.autostart;
	c->out_credit = CHAN_INITIAL_WINDOW;
	c->next = d->calls;
	d->calls = c;
	d->n_calls++;
	c->timer = virEventAddTimeout((int)d->rpc_timeout_s * 1000, call_timed_out, c, NULL);

	if (dec.action == RPC_ASK) {
		struct client *prompt = prompt_find(d);
		if (!prompt) {
			log_refusal(src,
				    "rpc: %s+%s from %s to %s: denied (%s, and no prompt agent is "
				    "registered)",
				    LOG_ESC(c->service), LOG_ESC(c->arg), src->q->name,
				    LOG_ESC(strs[0]), LOG_ESC(reason));
			call_abort(c,
				   "request refused: the policy asks, and no prompt is available");
			rpc_policy_decision_finish(&dec);
			return;
		}
		c->state = CALL_ASKING;
		c->ask_id = ++ask_counter;
		c->prompt = prompt;
		c->ask_targets = TAKE_PTR(dec.targets);
		c->n_ask_targets = dec.n_targets;
		dec.n_targets = 0;
		struct json_object *ev = json_object_new_object();
		json_object_object_add(ev, "event", json_object_new_string("ask"));
		json_object_object_add(ev, "id", json_object_new_int64((int64_t)c->ask_id));
		json_object_object_add(ev, "source", json_object_new_string(src->q->name));
		json_object_object_add(ev, "target", json_object_new_string(strs[0]));
		json_object_object_add(ev, "service", json_object_new_string(c->service));
		json_object_object_add(ev, "argument", json_object_new_string(c->arg));
		struct json_object *arr = json_object_new_array();
		for (size_t i = 0; i < c->n_ask_targets; i++)
			json_object_array_add(arr, json_object_new_string(c->ask_targets[i]));
		json_object_object_add(ev, "targets", arr);
		json_object_object_add(
		    ev, "default_target",
		    dec.default_target ? json_object_new_string(dec.default_target) : NULL);
		log_info("rpc: %s+%s from %s to %s: asking the prompt (%s)", LOG_ESC(c->service),
			 LOG_ESC(c->arg), src->q->name, LOG_ESC(strs[0]),
			 dec.rule ? dec.rule : "-");
		client_send_event(prompt, ev);
		json_object_put(ev);
		rpc_policy_decision_finish(&dec);
		return;
	}
	log_info("rpc: %s+%s from %s to %s: allowed, target %s (%s)", LOG_ESC(c->service),
		 LOG_ESC(c->arg), src->q->name, LOG_ESC(strs[0]), LOG_ESC(dec.target),
		 dec.rule ? dec.rule : "-");
	call_proceed(c, dec.target);
	rpc_policy_decision_finish(&dec);
}

/* Whether the caller of c may make one more disposable (or start one more target) now; if
 * not, the refusal is logged and the reason returned. */
static const char *caller_over_cap(struct rpc_call *c, bool disposable)
{
	unsigned n = 0, cap = disposable ? RPC_MAX_DISPOSABLES_PER_VM : RPC_MAX_AUTOSTARTS_PER_VM;

	for (struct rpc_call *o = c->d->calls; o; o = o->next)
		if (o != c && o->src == c->src && (disposable ? o->disposable : o->starting))
			n++;
	if (n < cap)
		return NULL;
	log_refusal(c->src, "rpc: %s+%s from %s: refused: %u %s already", LOG_ESC(c->service),
		    LOG_ESC(c->arg), c->src->q->name, n,
		    disposable ? "disposables made for its calls exist"
			       : "targets of its calls are starting");
	return disposable ? "request refused: too many disposables for this qube's calls at once"
			  : "request refused: too many targets of this qube's calls are starting";
}

/* The call is allowed to `target`: run it there (or answer it here, for dom0). */
static void call_proceed(struct rpc_call *c, const char *target)
{
	struct daemon *d = c->d;
	const char *over;
	int r;

	c->target = xstrdup(target);
	if (is_dom0(target)) {
		c->state = CALL_DOM0;
		/* Admin calls are about the qube the caller named; dom0 itself is "". */
		c->dest = xstrdup(is_dom0(c->requested) ? "" : c->requested);
		if (streq(c->service, "bulkhead.GetDate")) {
			dom0_get_date(c);
			return;
		}
		c->in_credit = DOM0_INPUT_MAX;
		send_u32(c, true, CHAN_WINDOW, DOM0_INPUT_MAX);
		return;
	}

	struct vm *dst = NULL;
	if (strncmp(target, "@dispvm:", 8) == 0) {
		char *msg = NULL;
		if (c->src && (over = caller_over_cap(c, true))) {
			call_abort(c, over);
			return;
		}
		r = vm_create_disposable(d, target + 8, &dst, &msg);
		if (r < 0) {
			log_refusal_at(LOG_LVL_WARN, c->src,
				       "rpc: cannot make a disposable of %s: %s",
				       LOG_ESC(target + 8), msg);
			free(msg);
			call_abort(c, "cannot create the disposable target");
			return;
		}
		c->disposable = true;
		free(c->target);
		c->target = xstrdup(dst->q->name);
	} else {
		dst = daemon_find_vm(d, target);
	}
	if (!dst) {
		call_abort(c, "the target does not exist");
		return;
	}
	c->dst = dst;
	c->state = CALL_WAITING;
	if (dst->state == VM_RUNNING && dst->chan && dst->chan->ready) {
		connect_target(c);
		return;
	}
	if (dst->state == VM_HALTED) {
		if (!c->autostart && !c->disposable) {
			call_abort(c, "the target is not running and autostart=no");
			return;
		}
		if (!c->disposable && c->src && (over = caller_over_cap(c, false))) {
			call_abort(c, over);
			return;
		}
		char *err = NULL, *msg = NULL;
		if (vm_start(d, dst, &err, &msg) < 0) {
			log_refusal_at(LOG_LVL_WARN, c->src, "rpc: cannot start %s for a call: %s",
				       dst->q->name, msg);
			/* The caller learns why when it is the host's memory. */
			_cleanup_free_ char *why =
			    streq(err, API_E_MEMORY)
				? xasprintf("the target could not be started: %s", msg)
				: xstrdup("the target could not be started");
			free(err);
			free(msg);
			call_abort(c, why);
			return;
		}
		c->starting = !c->disposable;
		/* The start has its own limit (the target's qrexec_timeout, after which it is
		 * killed and the call ends with it); the call's own timeout runs from when the
		 * service starts, so a slow boot does not eat it. */
		if (c->timer >= 0) {
			virEventRemoveTimeout(c->timer);
			c->timer = -1;
		}
		return; /* rpc_target_ready continues */
	}
	if (dst->state != VM_TRANSIENT && dst->state != VM_RUNNING)
		call_abort(c, "the target is paused or stopping");
}

int rpc_prompt_answer(struct daemon *d, struct client *prompt, uint64_t id, const char *target)
{
	struct rpc_call *c;
	for (c = d->calls; c; c = c->next)
		if (c->state == CALL_ASKING && c->ask_id == id && c->prompt == prompt)
			break;
	if (!c)
		return -ENOENT;
	if (!target) {
		log_info("rpc: %s+%s from %s to %s: denied at the prompt", LOG_ESC(c->service),
			 LOG_ESC(c->arg), c->src ? c->src->q->name : "?", LOG_ESC(c->requested));
		call_abort(c, "request refused at the prompt");
		return 0;
	}
	bool offered = false;
	for (size_t i = 0; i < c->n_ask_targets; i++)
		offered |= streq(c->ask_targets[i], target);
	if (!offered)
		return -EINVAL;
	log_info("rpc: %s+%s from %s to %s: allowed at the prompt, target %s", LOG_ESC(c->service),
		 LOG_ESC(c->arg), c->src ? c->src->q->name : "?", LOG_ESC(c->requested),
		 LOG_ESC(target));
	c->prompt = NULL;
	call_proceed(c, target);
	return 0;
}

void rpc_prompt_gone(struct daemon *d, struct client *prompt)
{
	for (struct rpc_call *c = d->calls, *next; c; c = next) {
		next = c->next;
		if (c->state == CALL_ASKING && c->prompt == prompt)
			call_abort(c, "request refused: the prompt went away");
	}
}

void rpc_frame_from_caller(struct daemon *d, struct vm *src, const struct chan_frame *f)
{
	struct rpc_call *c = find_by_src(d, src, f->stream);
	if (!c)
		return; /* frames racing the end of a call */

	switch (f->type) {
	case CHAN_STDIN:
		if (f->len > c->in_credit) {
			log_warn("rpc: %s sent past its window", src->q->name);
			call_abort(c, "sent past the window");
			return;
		}
		c->in_credit -= f->len;
		if (c->state == CALL_DOM0) {
			if (f->len == 0) {
				dom0_input_done(c);
				return;
			}
			if (c->in_len + f->len > DOM0_INPUT_MAX) {
				call_abort(c, "input too large");
				return;
			}
			c->in = xrealloc(c->in, c->in_len + f->len + 1);
			memcpy(c->in + c->in_len, f->payload, f->len);
			c->in_len += f->len;
			c->in[c->in_len] = '\0';
			return;
		}
		send_target(c, CHAN_STDIN, f->payload, f->len);
		return;
	case CHAN_WINDOW: {
		uint32_t n;
		if (chan_u32_parse(f->payload, f->len, &n) < 0 ||
		    c->out_credit + n > 16ull * CHAN_INITIAL_WINDOW) {
			call_abort(c, "bad window");
			return;
		}
		c->out_credit += n;
		send_target(c, CHAN_WINDOW, f->payload, f->len);
		return;
	}
	case CHAN_SIGNAL:
		send_target(c, CHAN_SIGNAL, f->payload, f->len);
		return;
	case CHAN_ERROR:
		/* The caller gave up. */
		if (c->state == CALL_RUNNING)
			send_u32(c, false, CHAN_SIGNAL, 9);
		call_free(c);
		return;
	default:
		return;
	}
}

void rpc_frame_from_target(struct daemon *d, struct rpc_call *c, const struct chan_frame *f)
{
	switch (f->type) {
	case CHAN_STDOUT:
		if (f->len > c->out_credit) {
			call_abort(c, "the service sent past its window");
			return;
		}
		c->out_credit -= f->len;
		send_caller(c, CHAN_STDOUT, f->payload, f->len);
		return;
	case CHAN_STDERR:
		/* A service's stderr stays with its qube; give the window back ourselves. */
		if (f->len > 0)
			send_u32(c, false, CHAN_WINDOW, f->len);
		return;
	case CHAN_WINDOW: {
		uint32_t n;
		if (chan_u32_parse(f->payload, f->len, &n) < 0)
			return;
		c->in_credit += n;
		send_caller(c, CHAN_WINDOW, f->payload, f->len);
		return;
	}
	case CHAN_EXIT: {
		/* The relay slot on the target was cleared by qchan; a queued call may use it. */
		struct vm *dst = c->dst;
		c->state = CALL_DONE;
		send_caller(c, CHAN_EXIT, f->payload, f->len);
		call_free(c);
		if (dst)
			rpc_target_ready(d, dst);
		return;
	}
	case CHAN_ERROR:
		c->state = CALL_DONE;
		call_abort(c, "the service failed");
		return;
	default:
		return;
	}
}
