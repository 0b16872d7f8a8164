/* The clients waiting for a qube: answered when lifecycle.c, qchan.c or the registry report
 * what happened (vm-listener.h). The waiter lists hang off struct vm, but only this file reads
 * them. */
#include "api-handlers.h"
#include "api-server.h"
#include "api-waiters.h"
#include "api.h"
#include "daemon.h"
#include "lifecycle.h"
#include "util.h"
#include "vm-listener.h"

struct waiter {
	struct waiter *next;
	enum waiter_kind kind;
	struct client *client;
	uint64_t client_serial; /* guards against the client having gone away */
};

void api_wait(struct vm *vm, enum waiter_kind kind, struct client *c)
{
	struct waiter *w = xcalloc(1, sizeof(*w));
	w->kind = kind;
	w->client = c;
	w->client_serial = client_serial(c);
	if (kind == WAIT_ECHO) {
		/* Replies come back in order: append. */
		struct waiter **pp = &vm->echo_waiters;
		while (*pp)
			pp = &(*pp)->next;
		*pp = w;
		return;
	}
	w->next = vm->waiters;
	vm->waiters = w;
}

/* Takes the waiters of one kind off the list, oldest first. */
static struct waiter *take_waiters(struct vm *vm, enum waiter_kind kind)
{
	struct waiter *taken = NULL, **pp = &vm->waiters;
	while (*pp) {
		struct waiter *w = *pp;
		if (w->kind == kind) {
			*pp = w->next;
			w->next = taken;
			taken = w;
		} else {
			pp = &w->next;
		}
	}
	return taken;
}

static void fail_waiters(struct daemon *d, struct vm *vm, enum waiter_kind kind, const char *error,
			 const char *message)
{
	struct waiter *w = kind == WAIT_ECHO ? vm->echo_waiters : take_waiters(vm, kind);
	if (kind == WAIT_ECHO)
		vm->echo_waiters = NULL;
	while (w) {
		struct waiter *next = w->next;
		struct client *c = client_lookup(d, w->client, w->client_serial);
		if (c)
			client_reply_error(c, error, "%s", message);
		free(w);
		w = next;
	}
}

static void complete_waiters(struct daemon *d, struct vm *vm, enum waiter_kind kind)
{
	struct waiter *w = take_waiters(vm, kind);
	while (w) {
		struct waiter *next = w->next;
		struct client *c = client_lookup(d, w->client, w->client_serial);
		if (c) {
			if (kind == WAIT_RUN)
				api_run_resume(d, c, vm);
			else if (kind == WAIT_APPS)
				api_apps_resume(d, c, vm);
			else
				client_reply_ok(c, NULL);
		} else if (kind == WAIT_RUN && vm->dispose_after_run && !vm->run_started) {
			/* `run --dispvm` whose caller left while it booted: nothing will run. */
			vm_dispose(d, vm);
		}
		free(w);
		w = next;
	}
}

static void on_started(struct daemon *d, struct vm *vm)
{
	complete_waiters(d, vm, WAIT_START);
	complete_waiters(d, vm, WAIT_RUN);
	complete_waiters(d, vm, WAIT_APPS);
}

static void on_start_failed(struct daemon *d, struct vm *vm, const char *error, const char *message)
{
	fail_waiters(d, vm, WAIT_START, error, message);
	fail_waiters(d, vm, WAIT_RUN, error, message);
	fail_waiters(d, vm, WAIT_APPS, error, message);
}

static void on_stopped(struct daemon *d, struct vm *vm)
{
	complete_waiters(d, vm, WAIT_SHUTDOWN);
	/* A run that waited for the channel of a running qube (after a channel reset) must not
	 * wait for ever once the qube is gone; a failed start answered its waiters already. */
	_cleanup_free_ char *msg =
	    xasprintf("qube '%s' stopped before the command could run", vm->q->name);
	fail_waiters(d, vm, WAIT_RUN, API_E_NOT_RUNNING, msg);
	fail_waiters(d, vm, WAIT_APPS, API_E_NOT_RUNNING, msg);
	fail_waiters(d, vm, WAIT_START, API_E_VM, msg);
}

static void on_removed(struct daemon *d, struct vm *vm)
{
	fail_waiters(d, vm, WAIT_START, API_E_NOT_FOUND, "the qube was removed");
	fail_waiters(d, vm, WAIT_RUN, API_E_NOT_FOUND, "the qube was removed");
	fail_waiters(d, vm, WAIT_APPS, API_E_NOT_FOUND, "the qube was removed");
	fail_waiters(d, vm, WAIT_SHUTDOWN, API_E_NOT_FOUND, "the qube was removed");
}

/* The channel process reports the agent's echo; the oldest echo waiter gets it. */
static void on_echo_reply(struct daemon *d, struct vm *vm, const uint8_t *data, size_t len)
{
	struct waiter *w = vm->echo_waiters;
	if (!w)
		return;
	vm->echo_waiters = w->next;
	struct client *c = client_lookup(d, w->client, w->client_serial);
	if (c) {
		struct json_object *res = json_object_new_object();
		json_object_object_add(res, "data",
				       json_object_new_string_len((const char *)data, (int)len));
		client_reply_ok(c, res);
	}
	free(w);
}

static void on_channel_lost(struct daemon *d, struct vm *vm, const char *why)
{
	fail_waiters(d, vm, WAIT_ECHO, API_E_NOT_RUNNING, why);
}

static const struct vm_listener waiters_listener = {
    .started = on_started,
    .start_failed = on_start_failed,
    .stopped = on_stopped,
    .removed = on_removed,
    .echo_reply = on_echo_reply,
    .channel_lost = on_channel_lost,
};

void api_waiters_init(struct daemon *d)
{
	vm_listener_set(d, &waiters_listener);
}
