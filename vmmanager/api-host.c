/* admin.Events and admin.host.Info: calls about the host, not one qube. */
#include "api-handlers.h"
#include "api-request.h"
#include "api-server.h"
#include "api-util.h"
#include "api.h"
#include "daemon.h"
#include "host-prefs.h"
#include "net.h"
#include "store.h"
#include "util.h"

void h_events(struct daemon *d, struct client *c, const struct api_request *req)
{
	client_reply_ok(c, NULL);
	client_enter_events(c);
}

void h_info(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct json_object *o = json_object_new_object();
	size_t running = 0;
	for (size_t i = 0; i < d->n_vms; i++)
		running += d->vms[i]->state != VM_HALTED;
	json_object_object_add(o, "version", json_object_new_string(BULKHEAD_VERSION));
	char accel[64];
	json_object_object_add(o, "hypervisor",
			       json_object_new_string(d->accel.kvm ? "kvm" : "tcg"));
	json_object_object_add(
	    o, "accelerator",
	    json_object_new_string(accel_describe(&d->accel, accel, sizeof(accel))));
	json_object_object_add(o, "accel_mode",
			       json_object_new_string(accel_mode_name(d->accel_mode)));
	json_object_object_add(o, "accel_reason", json_object_new_string(d->accel.reason));
	if (!d->accel.kvm) {
		_cleanup_free_ char *w =
		    xasprintf("qubes run under QEMU's TCG emulation, which is much slower: %s",
			      d->accel.reason);
		json_object_object_add(o, "warning", json_object_new_string(w));
	}
	json_object_object_add(o, "libvirt_uri", json_object_new_string(d->libvirt_uri));
	json_object_object_add(o, "state_dir", json_object_new_string(d->state_dir));
	json_object_object_add(o, "qubes", json_object_new_int64((int64_t)d->n_vms));
	json_object_object_add(o, "running", json_object_new_int64((int64_t)running));
	client_reply_ok(c, o);
}

/* default_dispvm: none, or a qube that disposables can be made from. */
static int check_dispvm_template(struct daemon *d, const char *name, char **ret_message)
{
	struct vm *t = name ? daemon_find_vm(d, name) : NULL;
	if (!name)
		return 0;
	if (!t) {
		*ret_message = xasprintf("no qube named '%s'", name);
		return -ENOENT;
	}
	if (!t->q->template_for_dispvms) {
		*ret_message = xasprintf("'%s' is not a disposable template (set its "
					 "template_for_dispvms to True first)",
					 name);
		return -EINVAL;
	}
	return 0;
}

static struct json_object *host_prop_json(const struct host_prefs *p, const char *key)
{
	char *v = NULL;
	bool def = false;
	if (host_prefs_get(p, key, &v, &def) < 0)
		return NULL;
	struct json_object *e = json_object_new_object();
	json_object_object_add(e, "value", json_object_new_string(v));
	json_object_object_add(e, "default", json_object_new_boolean(def));
	free(v);
	return e;
}

/* admin.property.List, Get, Set, Reset: the host-wide settings (host-prefs.h). */
void h_host_prop(struct daemon *d, struct client *c, const struct api_request *req)
{
	if (*req->dest && !streq(req->dest, "dom0")) {
		client_reply_error(c, API_E_VALUE, "%s is about the host, not a qube", req->call);
		return;
	}
	if (streq(req->call, "admin.property.List")) {
		struct json_object *res = json_object_new_object();
		for (const char *const *k = host_prefs_names(); *k; k++)
			json_object_object_add(res, *k, host_prop_json(&d->host_prefs, *k));
		client_reply_ok(c, res);
		return;
	}
	if (host_prefs_get(&d->host_prefs, req->arg, NULL, NULL) < 0) {
		client_reply_error(c, API_E_VALUE, "no host property '%s'", req->arg);
		return;
	}
	if (streq(req->call, "admin.property.Get")) {
		client_reply_ok(c, host_prop_json(&d->host_prefs, req->arg));
		return;
	}
	bool reset = streq(req->call, "admin.property.Reset");
	const char *value = reset ? "" : payload_str(req, "value");
	const char *reason = NULL;
	_cleanup_free_ char *msg = NULL;
	if (!value) {
		client_reply_error(c, API_E_VALUE, "no value given for '%s'", req->arg);
		return;
	}
	struct host_prefs next;
	host_prefs_copy(&d->host_prefs, &next);
	if (host_prefs_set(&next, req->arg, value, &reason) < 0) {
		host_prefs_finish(&next);
		client_reply_error(c, API_E_VALUE, "invalid value for %s: %s", req->arg,
				   reason ? reason : "invalid");
		return;
	}
	if ((streq(req->arg, "default_netvm") &&
	     net_check_default_netvm(d, next.default_netvm, &msg) < 0) ||
	    (streq(req->arg, "default_dispvm") &&
	     check_dispvm_template(d, next.default_dispvm, &msg) < 0)) {
		host_prefs_finish(&next);
		client_reply_error(c, API_E_VALUE, "cannot set %s: %s", req->arg, msg);
		return;
	}
	struct json_object *o = host_prefs_to_json(&next);
	int r = store_save_host(d->store, o);
	json_object_put(o);
	if (r < 0) {
		host_prefs_finish(&next);
		client_reply_error(c, API_E_VM, "cannot save the host settings: %s", strerror(-r));
		return;
	}
	host_prefs_finish(&d->host_prefs);
	d->host_prefs = next;
	net_sync(d); /* qubes that follow the default move to the new one */
	struct json_object *extra = json_object_new_object();
	json_object_object_add(extra, "property", json_object_new_string(req->arg));
	events_emit(d, "property-set", "dom0", extra);
	client_reply_ok(c, NULL);
}
