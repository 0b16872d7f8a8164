/*
 * Calls between qubes. A qube's channel process reports a call (QMSG_CALL) on a stream of the
 * qube's; the caller is the qube whose channel process it came from, whatever the payload says.
 * The policy decides. An allowed call gets its target started if needed; then bulkheadd makes a
 * socketpair and gives one end to the caller's channel process and the other, with the service
 * to run, to the target's: the call's bytes flow between those two processes and never through
 * bulkheadd. Calls to the host get a connection to the API bound to exactly the allowed call.
 */
#include <stdarg.h>
#include <sys/socket.h>
#include <time.h>

#include "api-server.h"
#include "api.h"
#include "daemon.h"
#include "dispvm-preload.h"
#include "frame.h"
#include "lifecycle.h"
#include "log.h"
#include "qchan.h"
#include "qmsg.h"
#include "rpc-policy.h"
#include "rpc.h"
#include "util.h"

/* Calls in flight over all qubes, and per calling qube. */
#define RPC_MAX_CALLS	     1024u
#define RPC_MAX_CALLS_PER_VM QCHAN_MAX_CALLS
/* What one calling qube can make the host do at once: disposables made for its calls, and
 * targets its calls are starting. (Every start is also admitted against the host's memory.) */
#define RPC_MAX_DISPOSABLES_PER_VM 4u
#define RPC_MAX_AUTOSTARTS_PER_VM  4u
/* Lines about one qube's refused calls: at most this many per interval, then a count. */
#define RPC_DENY_LOG_BURST	 10u
#define RPC_DENY_LOG_INTERVAL_MS 10000u

enum call_state {
	CALL_ASKING,  /* the prompt on the host decides */
	CALL_WAITING, /* target starting */
	CALL_RUNNING, /* the service runs in the target */
	CALL_DOM0,    /* answered by the host */
};

struct rpc_call {
	struct rpc_call *next;
	struct daemon *d;
	enum call_state state;
	uint32_t id;
	struct vm *src;
	uint32_t src_stream;
	struct vm *dst; /* NULL for dom0 */
	bool src_done, dst_done;
	char *service, *arg, *target, *user;
	int timer;
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
static uint32_t call_counter;
static void call_proceed(struct rpc_call *c, const char *target);

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
					RPC_DENY_LOG_INTERVAL_MS, monotonic_ms(), &suppressed))
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
	if (c->disposable && c->dst)
		vm_dispose(d, c->dst);
	for (size_t i = 0; i < c->n_ask_targets; i++)
		free(c->ask_targets[i]);
	free(c->ask_targets);
	free(c->requested);
	free(c->service);
	free(c->arg);
	free(c->target);
	free(c->user);
	free(c);
}

/* Ends a call on both sides: the reason to the caller, a kill to the service. */
static void call_abort(struct rpc_call *c, const char *why)
{
	if (c->src && !c->src_done) {
		const char *strs[1] = {why};
		qchan_msg_strings(c->d, c->src, QMSG_CALL_ABORT, c->src_stream, strs, 1, -1);
	}
	if (c->dst && c->state == CALL_RUNNING && !c->dst_done)
		qchan_msg(c->d, c->dst, QMSG_SERVICE_KILL, c->id, NULL, 0, -1);
	call_free(c);
}

static void refuse(struct daemon *d, struct vm *src, uint32_t stream, const char *why)
{
	const char *strs[1] = {why};
	qchan_msg_strings(d, src, QMSG_CALL_REFUSE, stream, strs, 1, -1);
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

/* The target runs: one socketpair, an end to each side's channel process. A target already
 * running as many services and commands as its channel carries keeps the call waiting. */
static void connect_target(struct rpc_call *c)
{
	int sv[2];
	if (c->dst->host_streams >= CHAN_MAX_STREAMS)
		return; /* rpc_target_ready retries when a stream ends */
	const char *strs[4] = {c->user ? c->user : "", c->service, c->arg, c->src->q->name};

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		call_abort(c, "the host cannot connect the call");
		return;
	}
	int r = qchan_msg_strings(c->d, c->dst, QMSG_SERVICE, c->id, strs, 4, sv[1]);
	if (r >= 0)
		r = qchan_msg(c->d, c->src, QMSG_CALL_CONNECT, c->src_stream, NULL, 0, sv[0]);
	close(sv[0]);
	close(sv[1]);
	if (r < 0) {
		call_abort(c, "the target cannot take calls");
		return;
	}
	c->state = CALL_RUNNING;
	c->starting = false;
	c->dst->host_streams++;
	if (c->timer < 0)
		c->timer =
		    virEventAddTimeout((int)c->d->rpc_timeout_s * 1000, call_timed_out, c, NULL);
}

void rpc_target_ready(struct daemon *d, struct vm *vm)
{
	if (!qchan_ready(vm))
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
			c->src_done = true;
			call_abort(c, "");
		} else if (c->dst == vm) {
			/* Its channel is gone, but the qube may run on (a channel reset after a
			 * protocol violation): a disposable made for the call still goes. */
			if (c->disposable)
				vm_dispose(d, vm);
			c->disposable = false;
			c->dst_done = true;
			call_abort(c, "the target stopped during the call");
		}
	}
}

static void host_asks_free(struct daemon *d);

void rpc_free_all(struct daemon *d)
{
	host_asks_free(d);
	while (d->calls) {
		d->calls->disposable = false;
		call_free(d->calls);
	}
}

/* A side of a running call ended; the call is over when both have (a disposable target goes
 * with it). */
void rpc_caller_ended(struct daemon *d, struct vm *src, uint32_t stream)
{
	struct rpc_call *c = find_by_src(d, src, stream);
	if (!c)
		return; /* refused, aborted or answered already */
	c->src_done = true;
	if (c->state != CALL_RUNNING || c->dst_done)
		call_free(c);
}

void rpc_service_ended(struct daemon *d, struct vm *dst, uint32_t id)
{
	/* Its host stream is free again, whether the call is still ours or was ended. */
	if (dst->host_streams > 0)
		dst->host_streams--;
	for (struct rpc_call *c = d->calls; c; c = c->next)
		if (c->dst == dst && c->id == id && c->state == CALL_RUNNING && !c->dst_done) {
			c->dst_done = true;
			if (c->src_done)
				call_free(c);
			break;
		}
	rpc_target_ready(d, dst);
}

/* --- calls to the host ----------------------------------------------------------------- */

static bool is_dom0(const char *name)
{
	return streq(name, "dom0") || streq(name, "@adminvm");
}

static void call_dom0(struct rpc_call *c)
{
	/* Admin calls are about the qube the caller named; dom0 itself is "". */
	const char *dest = is_dom0(c->requested) ? "" : c->requested;
	const char *strs[3] = {c->service, c->arg, dest};
	int sv[2] = {-1, -1};

	c->state = CALL_DOM0;
	if (streq(c->service, "bulkhead.GetDate")) {
		qchan_msg_strings(c->d, c->src, QMSG_CALL_DOM0, c->src_stream, strs, 3, -1);
		call_free(c);
		return;
	}
	if (strncmp(c->service, "admin.", 6) != 0) {
		call_abort(c, "no such service in dom0");
		return;
	}
	/* Checked before the policy already; kept here so no path can skip it. */
	if (rpc_service_host_only(c->service)) {
		call_abort(c, "this admin call is not available to qubes");
		return;
	}
	/* The qube's JSON is parsed by its channel process; the API connection it gets accepts
	 * one request, and only this call, dest and argument. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0 ||
	    api_server_add_bound(c->d, sv[1], c->service, dest, c->arg) < 0) {
		if (sv[0] >= 0)
			close(sv[0]);
		call_abort(c, "cannot reach the host's API");
		return;
	}
	int r = qchan_msg_strings(c->d, c->src, QMSG_CALL_DOM0, c->src_stream, strs, 3, sv[0]);
	close(sv[0]);
	if (r < 0)
		call_free(c);
}

/* --- calls ----------------------------------------------------------------------------- */

void rpc_call_from_qube(struct daemon *d, struct vm *src, uint32_t stream, const char *target,
			const char *service_arg)
{
	char reason[256];
	struct rpc_policy_decision dec = {0};

	if (find_by_src(d, src, stream)) {
		log_refusal_at(LOG_LVL_WARN, src, "rpc: %s reused stream %#x", src->q->name,
			       stream);
		return;
	}
	unsigned mine = 0;
	for (struct rpc_call *c = d->calls; c; c = c->next)
		mine += c->src == src;
	if (d->n_calls >= RPC_MAX_CALLS || mine >= RPC_MAX_CALLS_PER_VM) {
		log_refusal(src, "rpc: refused a call from %s: too many calls in flight",
			    src->q->name);
		refuse(d, src, stream, "too many calls in flight");
		return;
	}

	/* Whatever the policy says: before it is asked, so nothing is started either. */
	if (rpc_service_host_only(service_arg)) {
		log_refusal(src, "rpc: %s from %s to %s: denied (a service only the host uses)",
			    LOG_ESC(service_arg), src->q->name, LOG_ESC(target));
		refuse(d, src, stream,
		       "only the host may use this service; it is not available to qubes");
		return;
	}

	/* The caller's identity is the channel's: src, never anything in the payload. */
	int r =
	    rpc_policy_decide(d, src->q->name, target, service_arg, &dec, reason, sizeof(reason));
	if (r < 0 || dec.action == RPC_DENY) {
		/* The reason may quote the service name, which is the qube's. */
		log_refusal(src, "rpc: %s from %s to %s: denied (%s)", LOG_ESC(service_arg),
			    src->q->name, LOG_ESC(target), LOG_ESC(reason));
		refuse(d, src, stream, reason);
		rpc_policy_decision_finish(&dec);
		return;
	}

	struct rpc_call *c = xcalloc(1, sizeof(*c));
	c->d = d;
	c->id = ++call_counter;
	c->src = src;
	c->src_stream = stream;
	c->timer = -1;
	c->service = TAKE_PTR(dec.service);
	c->arg = TAKE_PTR(dec.arg);
	c->user = TAKE_PTR(dec.user);
	c->requested = xstrdup(target);
	c->autostart = dec.autostart;
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
				    LOG_ESC(target), LOG_ESC(reason));
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
		json_object_object_add(ev, "target", json_object_new_string(target));
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
			 LOG_ESC(c->arg), src->q->name, LOG_ESC(target), dec.rule ? dec.rule : "-");
		client_send_event(prompt, ev);
		json_object_put(ev);
		rpc_policy_decision_finish(&dec);
		return;
	}
	log_info("rpc: %s+%s from %s to %s: allowed, target %s (%s)", LOG_ESC(c->service),
		 LOG_ESC(c->arg), src->q->name, LOG_ESC(target), LOG_ESC(dec.target),
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
		call_dom0(c);
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
		/* Preloaded disposables are taken through @dispvm only, and used once. */
		if (dst && dispvm_is_preloaded(dst))
			dst = NULL;
	}
	if (!dst) {
		call_abort(c, "the target does not exist");
		return;
	}
	if (dst == c->src) {
		call_abort(c, "a qube cannot call itself");
		return;
	}
	c->dst = dst;
	c->state = CALL_WAITING;
	if (dst->state == VM_RUNNING && qchan_ready(dst)) {
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
	if (dst->state == VM_TRANSIENT && c->disposable && c->timer >= 0) {
		/* A preloaded disposable taken while it boots: its boot is timed as a start. */
		virEventRemoveTimeout(c->timer);
		c->timer = -1;
	}
	if (dst->state != VM_TRANSIENT && dst->state != VM_RUNNING)
		call_abort(c, "the target is paused or stopping");
}

/* --- the host's own questions ------------------------------------------------------------ */

struct host_ask {
	struct host_ask *next;
	struct daemon *d;
	uint64_t id;
	struct client *prompt;
	char *source, *service;
	int timer;
	void (*done)(struct daemon *d, void *opaque, bool allowed, const char *why);
	void *opaque;
};

/* Takes a off the list and answers it. */
static void host_ask_end(struct host_ask *a, bool allowed, const char *why)
{
	for (struct host_ask **pp = &a->d->host_asks; *pp; pp = &(*pp)->next)
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	if (a->timer >= 0)
		virEventRemoveTimeout(a->timer);
	log_info("%s from %s to the host: %s", a->service, a->source,
		 allowed ? "allowed at the prompt" : why);
	a->done(a->d, a->opaque, allowed, why);
	free(a->source);
	free(a->service);
	free(a);
}

/* At exit: the questions go unanswered, with their askers. */
static void host_asks_free(struct daemon *d)
{
	while (d->host_asks) {
		struct host_ask *a = d->host_asks;
		d->host_asks = a->next;
		if (a->timer >= 0)
			virEventRemoveTimeout(a->timer);
		free(a->opaque);
		free(a->source);
		free(a->service);
		free(a);
	}
}

static void host_ask_timed_out(int timer, void *opaque)
{
	struct host_ask *a = opaque;
	virEventRemoveTimeout(a->timer);
	a->timer = -1;
	host_ask_end(a, false, "request refused: the prompt did not answer in time");
}

int rpc_host_ask(struct daemon *d, const char *source, const char *target,
		 struct rpc_policy_decision *dec,
		 void (*done)(struct daemon *d, void *opaque, bool allowed, const char *why),
		 void *opaque)
{
	struct client *prompt = prompt_find(d);
	if (!prompt)
		return -ENOENT;
	struct host_ask *a = xcalloc(1, sizeof(*a));
	a->d = d;
	a->id = ++ask_counter;
	a->prompt = prompt;
	a->source = xstrdup(source);
	a->service = xstrdup(dec->service);
	a->done = done;
	a->opaque = opaque;
	a->timer = virEventAddTimeout((int)d->rpc_timeout_s * 1000, host_ask_timed_out, a, NULL);
	a->next = d->host_asks;
	d->host_asks = a;

	struct json_object *ev = json_object_new_object();
	json_object_object_add(ev, "event", json_object_new_string("ask"));
	json_object_object_add(ev, "id", json_object_new_int64((int64_t)a->id));
	json_object_object_add(ev, "source", json_object_new_string(source));
	json_object_object_add(ev, "target", json_object_new_string(target));
	json_object_object_add(ev, "service", json_object_new_string(dec->service));
	json_object_object_add(ev, "argument", json_object_new_string(dec->arg ? dec->arg : ""));
	struct json_object *arr = json_object_new_array();
	for (size_t i = 0; i < dec->n_targets; i++)
		json_object_array_add(arr, json_object_new_string(dec->targets[i]));
	json_object_object_add(ev, "targets", arr);
	json_object_object_add(ev, "default_target",
			       dec->default_target ? json_object_new_string(dec->default_target)
						   : NULL);
	log_info("%s from %s to %s: asking the prompt (%s)", dec->service, source, target,
		 dec->rule ? dec->rule : "-");
	client_send_event(prompt, ev);
	json_object_put(ev);
	return 0;
}

int rpc_prompt_answer(struct daemon *d, struct client *prompt, uint64_t id, const char *target)
{
	struct rpc_call *c;
	for (c = d->calls; c; c = c->next)
		if (c->state == CALL_ASKING && c->ask_id == id && c->prompt == prompt)
			break;
	if (!c) {
		for (struct host_ask *a = d->host_asks; a; a = a->next)
			if (a->id == id && a->prompt == prompt) {
				/* The host's own question: any offered answer allows it. */
				host_ask_end(a, target != NULL, "request refused at the prompt");
				return 0;
			}
		return -ENOENT;
	}
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
	for (struct host_ask *a = d->host_asks, *next; a; a = next) {
		next = a->next;
		if (a->prompt == prompt)
			host_ask_end(a, false, "request refused: the prompt went away");
	}
	for (struct rpc_call *c = d->calls, *next; c; c = next) {
		next = c->next;
		if (c->state == CALL_ASKING && c->prompt == prompt)
			call_abort(c, "request refused: the prompt went away");
	}
}
