/* admin.vm.feature.List, Get, Set, Remove. */
#include "api-handlers.h"
#include "audio.h"
#include "api-request.h"
#include "api-server.h"
#include "api-util.h"
#include "api.h"
#include "daemon.h"
#include "dispvm-preload.h"
#include "preload-plan.h"
#include "qube.h"
#include "util.h"

void h_feature(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct vm *vm = dest_vm(d, c, req);
	const char *op = strrchr(req->call, '.') + 1;
	struct qube *copy = NULL;
	int r;

	if (!vm)
		return;
	if (streq(op, "List")) {
		struct json_object *res = json_object_new_object();
		for (size_t i = 0; i < vm->q->n_features; i++)
			json_object_object_add(res, vm->q->features[i].key,
					       json_object_new_string(vm->q->features[i].value));
		client_reply_ok(c, res);
		return;
	}
	if (streq(op, "Get")) {
		const char *v = qube_feature_get(vm->q, req->arg);
		if (!v)
			client_reply_error(c, API_E_VALUE, "'%s' has no feature '%s'", vm->q->name,
					   req->arg);
		else
			client_reply_ok(c, json_object_new_string(v));
		return;
	}
	if (qube_dup(vm->q, vm->q->name, &copy) < 0) {
		client_reply_error(c, API_E_VM, "out of memory");
		return;
	}
	if (streq(op, "Set") && streq(req->arg, QUBE_FEATURE_RESERVED_AUTO_CLEANUP)) {
		/* Deleting a qube at its halt must never be something a qube (or anyone) can
		 * ask for through a feature; disposables made for calls carry an internal mark. */
		qube_free(copy);
		client_reply_error(
		    c, API_E_VALUE,
		    "the feature '%s' is reserved: a qube cannot be made a disposable "
		    "through it",
		    req->arg);
		return;
	}
	if (streq(op, "Set")) {
		const char *value = payload_str(req, "value");
		const char *why = NULL;
		unsigned n;
		if (value && streq(req->arg, PRELOAD_FEATURE) &&
		    preload_max_parse(value, &n, &why) < 0) {
			qube_free(copy);
			client_reply_error(c, API_E_VALUE, "invalid %s '%s' for '%s': %s (0 to %u)",
					   PRELOAD_FEATURE, value, vm->q->name, why,
					   PRELOAD_MAX_LIMIT);
			return;
		}
		r = value ? qube_feature_set(copy, req->arg, value) : -EINVAL;
	} else {
		r = qube_feature_del(copy, req->arg);
	}
	if (r < 0) {
		qube_free(copy);
		client_reply_error(c, API_E_VALUE,
				   r == -ENOENT	 ? "'%s' has no feature '%s'"
				   : r == -E2BIG ? "'%s': too many features, or '%s' is too long"
						 : "'%s': invalid feature name or value for '%s'",
				   vm->q->name, req->arg);
		return;
	}
	if (commit_change(d, c, vm, copy) < 0)
		return;
	/* preload-dispvm-max may have changed. */
	dispvm_preload_schedule(d);
	/* audio-volume, audio-mute: a running qube's host half takes them now, as from
	 * admin.vm.audio.Set. */
	if (strncmp(req->arg, "audio-", 6) == 0)
		audio_settings_changed(d, vm);
	client_reply_ok(c, NULL);
}
