/* admin.vm.volume.List and Resize. */
#include "api-handlers.h"
#include "api-request.h"
#include "api-server.h"
#include "api-util.h"
#include "api.h"
#include "daemon.h"
#include "qube.h"
#include "util.h"
#include "volume.h"

static struct json_object *volume_json(const char *name, const char *path, bool persistent,
				       bool readonly)
{
	unsigned long long size = 0, usage = 0;
	struct json_object *o = json_object_new_object();
	volume_info(path, &size, &usage);
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "path", json_object_new_string(path));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)size));
	json_object_object_add(o, "usage", json_object_new_int64((int64_t)usage));
	json_object_object_add(o, "persistent", json_object_new_boolean(persistent));
	json_object_object_add(o, "readonly", json_object_new_boolean(readonly));
	return o;
}

void h_volume_list(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct vm *vm = dest_vm(d, c, req);
	if (!vm)
		return;
	const struct qube *q = vm->q;
	bool overlay = q->klass == QUBE_APPVM || q->klass == QUBE_DISPVM;
	struct json_object *arr = json_object_new_array();
	const char *root_owner = q->name;
	if (overlay && q->template) {
		struct vm *t = daemon_find_vm(d, q->template);
		root_owner = q->template;
		if (q->klass == QUBE_DISPVM && t && t->q->klass == QUBE_APPVM && t->q->template)
			root_owner = t->q->template;
	}
	_cleanup_free_ char *root = daemon_qube_file(d, root_owner, "root.qcow2");
	bool disp = q->klass == QUBE_DISPVM && q->template;
	_cleanup_free_ char *priv = disp ? daemon_qube_file(d, q->template, "private.qcow2")
					 : daemon_qube_file(d, q->name, "private.qcow2");
	_cleanup_free_ char *vol = daemon_qube_file(d, q->name, "volatile.qcow2");
	_cleanup_free_ char *mods =
	    xasprintf("%s/kernels/%s/modules.img", d->state_dir, q->kernel ? q->kernel : "default");
	json_object_array_add(arr, volume_json("root", root, !overlay, overlay));
	json_object_array_add(arr, volume_json("private", priv, !disp, disp));
	json_object_array_add(arr, volume_json("volatile", vol, false, false));
	json_object_array_add(arr, volume_json("kernel", mods, false, true));
	client_reply_ok(c, arr);
}

void h_volume_resize(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct vm *vm = dest_vm(d, c, req);
	if (!vm)
		return;
	int64_t size = payload_int(req, "size", -1);
	bool overlay = vm->q->klass == QUBE_APPVM || vm->q->klass == QUBE_DISPVM;
	const char *file = streq(req->arg, "private") && vm->q->klass != QUBE_DISPVM
			       ? "private.qcow2"
			   : streq(req->arg, "root") && !overlay ? "root.qcow2"
								 : NULL;
	if (!file) {
		client_reply_error(c, API_E_VALUE, "volume '%s' of '%s' cannot be resized (%s)",
				   req->arg, vm->q->name,
				   vm->q->klass == QUBE_DISPVM
				       ? "a DispVM's volumes are thrown away"
				   : overlay ? "private can"
					     : "private and root can");
		return;
	}
	_cleanup_free_ char *path = daemon_qube_file(d, vm->q->name, file);
	unsigned long long cur = 0, usage = 0;
	int r = volume_info(path, &cur, &usage);
	if (r < 0) {
		client_reply_error(c, API_E_VM, "cannot read volume %s of '%s': %s", req->arg,
				   vm->q->name, strerror(-r));
		return;
	}
	if (size <= 0 || (unsigned long long)size < cur || size > (int64_t)1 << 50) {
		client_reply_error(c, API_E_VALUE,
				   "new size %lld is invalid: volumes only grow (now %llu bytes)",
				   (long long)size, cur);
		return;
	}
	if (vm->state != VM_HALTED) {
		client_reply_error(c, API_E_NOT_HALTED,
				   "'%s' is running; shut it down to resize its %s volume",
				   vm->q->name, req->arg);
		return;
	}
	r = volume_resize(path, (unsigned long long)size);
	if (r < 0) {
		client_reply_error(c, errno_to_api(r), "cannot resize: %s", strerror(-r));
		return;
	}
	client_reply_ok(c, NULL);
}
