/* admin.vm.apps.List, Sync, Icon and Run: a qube's application menu (appmenu-sync.h). Sync and
 * Run start the qube first, as admin.vm.Run does, unless the payload says "autostart": false. */
#include "api-handlers.h"
#include "api-request.h"
#include "api-server.h"
#include "api-util.h"
#include "api-waiters.h"
#include "api.h"
#include "appmenu-list.h"
#include "appmenu-sync.h"
#include "daemon.h"
#include "lifecycle.h"
#include "log.h"
#include "qchan.h"
#include "qube-exec.h"
#include "util.h"

#define SERVICE_START_APP    "/etc/bulkhead/rpc/bulkhead.StartApp"
#define START_APP_TIMEOUT_MS 30000

/* A client waiting for an answer while bulkheadd works with the qube. */
struct pending {
	struct daemon *d;
	char *qube;
	struct client *c;
	uint64_t serial;
	char *id; /* Run: the app */
};

static struct pending *pending_new(struct daemon *d, struct vm *vm, struct client *c,
				   const char *id)
{
	struct pending *p = xcalloc(1, sizeof(*p));
	p->d = d;
	p->qube = xstrdup(vm->q->name);
	p->c = c;
	p->serial = client_serial(c);
	p->id = id ? xstrdup(id) : NULL;
	return p;
}

static void pending_free(struct pending *p)
{
	free(p->id);
	free(p->qube);
	free(p);
}

/* The stored list, each app with whether the menu shows it; icons only as a flag (the reply
 * frame holds 64 KiB: admin.vm.apps.Icon gives one icon's bytes). */
static void reply_list(struct daemon *d, struct client *c, struct vm *vm)
{
	struct json_object *stored, *apps, *synced;
	int r = appmenu_load(d, vm->q->name, &stored);
	if (r < 0) {
		client_reply_error(c, API_E_VM,
				   "the stored applications of '%s' are unreadable: %s",
				   vm->q->name, strerror(-r));
		return;
	}
	json_object_object_get_ex(stored, "apps", &apps);
	struct json_object *res = json_object_new_object(), *list = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(apps); i++) {
		struct json_object *a = json_object_array_get_idx(apps, i), *id, *name, *icon;
		if (!json_object_object_get_ex(a, "id", &id) ||
		    !json_object_object_get_ex(a, "name", &name))
			continue;
		const char *ids = json_object_get_string(id);
		struct json_object *e = json_object_new_object();
		json_object_object_add(e, "id", json_object_new_string(ids));
		json_object_object_add(e, "name", json_object_get(name));
		json_object_object_add(e, "shown",
				       json_object_new_boolean(appmenu_shown(d, vm, ids)));
		json_object_object_add(
		    e, "icon",
		    json_object_new_boolean(json_object_object_get_ex(a, "icon", &icon)));
		json_object_array_add(list, e);
	}
	json_object_object_add(res, "synced",
			       json_object_object_get_ex(stored, "synced", &synced)
				   ? json_object_get(synced)
				   : json_object_new_int64(0));
	json_object_object_add(res, "apps", list);
	json_object_put(stored);
	client_reply_ok(c, res);
}

static void sync_done(struct daemon *d, const char *qube, const char *error, void *userdata)
{
	struct pending *p = userdata;
	struct client *c = client_lookup(d, p->c, p->serial);
	struct vm *vm = daemon_find_vm(d, qube);

	if (c && error)
		client_reply_error(c, API_E_VM, "cannot sync the applications of '%s': %s", qube,
				   error);
	else if (c && !vm)
		client_reply_error(c, API_E_NOT_FOUND, "the qube was removed");
	else if (c)
		reply_list(d, c, vm);
	pending_free(p);
}

static void start_app_done(int r, int status, const char *out, size_t out_len, void *userdata)
{
	struct pending *p = userdata;
	struct client *c = client_lookup(p->d, p->c, p->serial);
	(void)out;
	(void)out_len;

	if (!c)
		;
	else if (r < 0)
		client_reply_error(c, API_E_VM,
				   "cannot start %s in '%s': the qube's bulkhead.StartApp "
				   "did not complete (%s)",
				   p->id, p->qube, strerror(-r));
	else if (status != 0)
		client_reply_error(
		    c, API_E_VM,
		    "cannot start %s in '%s': bulkhead.StartApp exited with status %d "
		    "(no such application in the qube, or its program is missing)",
		    p->id, p->qube, status);
	else
		client_reply_ok(c, NULL);
	pending_free(p);
}

static void sync_now(struct daemon *d, struct client *c, struct vm *vm)
{
	struct pending *p = pending_new(d, vm, c, NULL);
	int r = appmenu_sync(d, vm, sync_done, p);
	if (r < 0) {
		pending_free(p);
		client_reply_error(c, API_E_VM,
				   r == -EBUSY ? "a sync of the applications of '%s' is under way"
					       : "cannot sync the applications of '%s': %s",
				   vm->q->name, strerror(-r));
	}
}

static void run_app_now(struct daemon *d, struct client *c, struct vm *vm, const char *id)
{
	const char *argv[] = {SERVICE_START_APP, id, NULL};
	struct pending *p = pending_new(d, vm, c, id);
	int r = qube_exec(d, vm, "", argv, NULL, 0, START_APP_TIMEOUT_MS, start_app_done, p);
	if (r < 0) {
		pending_free(p);
		client_reply_error(c, API_E_VM, "cannot start %s in '%s': %s", id, vm->q->name,
				   strerror(-r));
	}
}

/* What a client waiting for its qube to start asked for: the pending-request slot admin.vm.Run
 * uses, holding {operation, app id}. */
void api_apps_resume(struct daemon *d, struct client *c, struct vm *vm)
{
	struct run_request *rr = client_run_request(c);
	if (!rr || !rr->argv || !rr->argv[0])
		return client_reply_error(c, API_E_VM, "internal error: no pending request");
	if (!qchan_ready(vm))
		return client_reply_error(c, API_E_VM, "the agent of '%s' is not connected",
					  vm->q->name);
	if (streq(rr->argv[0], "Sync"))
		sync_now(d, c, vm);
	else
		run_app_now(d, c, vm, rr->argv[1]);
}

/* Sync and Run: now when the qube's agent is there, else once it started. */
static void when_running(struct daemon *d, struct client *c, struct vm *vm,
			 const struct api_request *req, const char *op)
{
	if (vm->state == VM_RUNNING && qchan_ready(vm)) {
		if (streq(op, "Sync"))
			sync_now(d, c, vm);
		else
			run_app_now(d, c, vm, req->arg);
		return;
	}
	if (vm->state == VM_HALTED) {
		if (!payload_bool(req, "autostart", true)) {
			client_reply_error(c, API_E_NOT_RUNNING, "'%s' is not running",
					   vm->q->name);
			return;
		}
		_cleanup_free_ char *err = NULL, *msg = NULL;
		if (vm_start(d, vm, &err, &msg) < 0) {
			client_reply_error(c, err, "%s", msg);
			return;
		}
	} else if (vm->state != VM_RUNNING && vm->state != VM_TRANSIENT) {
		client_reply_error(c, API_E_NOT_RUNNING, "'%s' is %s", vm->q->name,
				   vm_state_name(vm->state));
		return;
	}
	struct run_request *rr = xcalloc(1, sizeof(*rr));
	rr->user = xstrdup("");
	rr->argv = xcalloc(3, sizeof(char *));
	rr->argv[0] = xstrdup(op);
	rr->argv[1] = xstrdup(req->arg);
	client_set_run_request(c, rr);
	api_wait(vm, WAIT_APPS, c);
}

void h_apps(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct vm *vm = dest_vm(d, c, req);
	const char *op = strrchr(req->call, '.') + 1;

	if (!vm)
		return;
	if (streq(op, "List"))
		return reply_list(d, c, vm);
	if (streq(op, "Sync"))
		return when_running(d, c, vm, req, op);
	if (!appmenu_id_valid(req->arg)) {
		client_reply_error(c, API_E_VALUE,
				   "'%s' is not a desktop-file id (like firefox-esr.desktop)",
				   req->arg);
		return;
	}
	if (streq(op, "Run"))
		return when_running(d, c, vm, req, op);
	/* Icon: the stored PNG, base64. */
	struct json_object *stored, *apps;
	int r = appmenu_load(d, vm->q->name, &stored);
	if (r < 0) {
		client_reply_error(c, API_E_VM,
				   "the stored applications of '%s' are unreadable: %s",
				   vm->q->name, strerror(-r));
		return;
	}
	json_object_object_get_ex(stored, "apps", &apps);
	for (size_t i = 0; i < json_object_array_length(apps); i++) {
		struct json_object *a = json_object_array_get_idx(apps, i), *id, *icon;
		if (!json_object_object_get_ex(a, "id", &id) ||
		    !streq(json_object_get_string(id), req->arg))
			continue;
		if (!json_object_object_get_ex(a, "icon", &icon))
			break;
		struct json_object *res = json_object_new_object();
		json_object_object_add(res, "png", json_object_get(icon));
		json_object_put(stored);
		client_reply_ok(c, res);
		return;
	}
	json_object_put(stored);
	client_reply_error(c, API_E_VALUE,
			   "'%s' has no stored icon for %s (bulkhead apps %s --sync)", vm->q->name,
			   req->arg, vm->q->name);
}
