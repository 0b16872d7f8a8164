/* admin.Events and admin.host.Info: calls about the host, not one qube. */
#include "api-handlers.h"
#include "api-request.h"
#include "api-server.h"
#include "daemon.h"
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
