/* admin.vm.property.List, Get, Set, Reset. */
#include "api-handlers.h"
#include "api-request.h"
#include "api-server.h"
#include "api-util.h"
#include "api.h"
#include "daemon.h"
#include "dispvm-preload.h"
#include "net.h"
#include "qube.h"
#include "template-revisions.h"
#include "util.h"

/* A netvm left at its default reads as what the default is now (the host's default_netvm), as
 * qvm-prefs shows it. */
static void show_effective(struct daemon *d, struct vm *vm, const char *key, char **value,
			   bool is_default)
{
	if (!is_default || !streq(key, "netvm"))
		return;
	const char *n = net_netvm_name(d, vm->q);
	free(*value);
	*value = xstrdup(n ? n : "");
}

void h_prop_list(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct vm *vm = dest_vm(d, c, req);
	if (!vm)
		return;
	struct json_object *res = json_object_new_object();
	for (const char *const *k = qube_prop_names(); *k; k++) {
		char *v = NULL;
		bool def = false;
		if (qube_prop_get(vm->q, *k, &v, &def) < 0)
			continue;
		show_effective(d, vm, *k, &v, def);
		struct json_object *e = json_object_new_object();
		json_object_object_add(e, "value", json_object_new_string(v ? v : ""));
		json_object_object_add(e, "default", json_object_new_boolean(def));
		json_object_object_add(res, *k, e);
		free(v);
	}
	client_reply_ok(c, res);
}

void h_prop_get(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct vm *vm = dest_vm(d, c, req);
	char *v = NULL;
	bool def = false;
	if (!vm)
		return;
	if (qube_prop_get(vm->q, req->arg, &v, &def) < 0) {
		client_reply_error(c, API_E_VALUE, "no property '%s'", req->arg);
		return;
	}
	show_effective(d, vm, req->arg, &v, def);
	struct json_object *e = json_object_new_object();
	json_object_object_add(e, "value", json_object_new_string(v ? v : ""));
	json_object_object_add(e, "default", json_object_new_boolean(def));
	free(v);
	client_reply_ok(c, e);
}

static bool prop_needs_halted(const char *key)
{
	/* provides_network: the number of root ports for links is fixed when the domain is made. */
	return streq(key, "template") || streq(key, "kernel") || streq(key, "vcpus") ||
	       streq(key, "provides_network");
}

/* The network rules of net.h: a netvm that serves, no loops, no netvm taken away from its
 * clients. 0, or -1 with the reply sent. */
static int check_net_change(struct daemon *d, struct client *c, struct vm *vm, const char *key,
			    const char *value, bool reset)
{
	_cleanup_free_ char *msg = NULL;
	int r = 0;
	if (streq(key, "netvm")) {
		const char *v = reset ? NULL : value;
		/* "" and "none" are an explicit "no netvm" (unlike a reset): nothing to check. */
		if (!reset && (!*value || streq(value, "none")))
			return 0;
		r = net_check_netvm(d, vm->q, v, &msg);
	} else if (streq(key, "provides_network")) {
		bool b = false;
		if (!reset && (streq(value, "True") || streq(value, "true") || streq(value, "1") ||
			       streq(value, "yes")))
			b = true;
		r = net_check_provides_network(d, vm->q, b, &msg);
	}
	if (r < 0) {
		client_reply_error(c, API_E_VALUE, "cannot set %s of '%s': %s", key, vm->q->name,
				   msg);
		return -1;
	}
	return 0;
}

void h_prop_set(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct vm *vm = dest_vm(d, c, req);
	const char *value = payload_str(req, "value");
	bool reset = streq(req->call, "admin.vm.property.Reset");
	const char *reason = NULL;
	struct qube *copy = NULL;
	_cleanup_free_ char *msg = NULL;

	if (!vm)
		return;
	if (!reset && !value) {
		client_reply_error(c, API_E_VALUE, "no value given for '%s'", req->arg);
		return;
	}
	if (prop_needs_halted(req->arg) && vm->state != VM_HALTED) {
		client_reply_error(c, API_E_NOT_HALTED, "'%s' can only change while '%s' is halted",
				   req->arg, vm->q->name);
		return;
	}
	if (!reset && streq(req->arg, "template") &&
	    check_template_ref(d, vm->q->klass, value, &msg) < 0) {
		client_reply_error(c, API_E_VALUE, "%s", msg);
		return;
	}
	if (check_net_change(d, c, vm, req->arg, value, reset) < 0)
		return;
	if (streq(req->arg, "revisions_to_keep") && vm->q->klass != QUBE_TEMPLATEVM) {
		client_reply_error(
		    c, API_E_VALUE,
		    "revisions_to_keep is a template's: only a template's root keeps "
		    "revisions ('%s' is a %s)",
		    vm->q->name, qube_class_to_string(vm->q->klass));
		return;
	}
	if (!reset && streq(req->arg, "default_dispvm") && *value && !streq(value, "none") &&
	    !daemon_find_vm(d, value)) {
		client_reply_error(c, API_E_VALUE, "no qube named '%s'", value);
		return;
	}
	if (!reset && (streq(req->arg, "netvm") || streq(req->arg, "default_dispvm")) &&
	    streq(value, vm->q->name)) {
		client_reply_error(c, API_E_VALUE, "a qube cannot be its own %s", req->arg);
		return;
	}
	if (qube_dup(vm->q, vm->q->name, &copy) < 0) {
		client_reply_error(c, API_E_VM, "out of memory");
		return;
	}
	int r = reset ? qube_prop_reset(copy, req->arg)
		      : qube_prop_set(copy, req->arg,
				      streq(value, "none") && (streq(req->arg, "netvm") ||
							       streq(req->arg, "default_dispvm"))
					  ? ""
					  : value,
				      &reason);
	if (r < 0) {
		qube_free(copy);
		if (r == -ENOENT)
			client_reply_error(c, API_E_VALUE, "no property '%s'", req->arg);
		else if (r == -EPERM)
			client_reply_error(c, API_E_VALUE, "property '%s' is read-only", req->arg);
		else
			client_reply_error(c, API_E_VALUE, "invalid value for %s: %s", req->arg,
					   reason ? reason : strerror(-r));
		return;
	}
	if (commit_change(d, c, vm, copy) < 0)
		return;
	if (streq(req->arg, "netvm") || streq(req->arg, "uplink"))
		net_sync(d); /* a running qube's link moves to its new netvm now */
	if (streq(req->arg, "revisions_to_keep"))
		template_revisions_prune(d, vm); /* a lower count takes effect now */
	/* template_for_dispvms (or what a preload needs) may have changed. */
	dispvm_preload_schedule(d);
	struct json_object *extra = json_object_new_object();
	json_object_object_add(extra, "property", json_object_new_string(req->arg));
	events_emit(d, "property-set", vm->q->name, extra);
	client_reply_ok(c, NULL);
}
