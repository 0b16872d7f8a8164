/* admin.vm.volume.List, Info, Resize and Revert. */
#include "api-handlers.h"
#include "api-request.h"
#include "api-server.h"
#include "api-util.h"
#include "api.h"
#include "daemon.h"
#include "lifecycle.h"
#include "log.h"
#include "qube.h"
#include "root-revisions.h"
#include "template-revisions.h"
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

/* A qube's volumes as admin.vm.volume.List shows them. */
struct vol {
	const char *name;
	char *path;
	bool persistent, readonly;
};
enum { VOL_ROOT, VOL_PRIVATE, VOL_VOLATILE, VOL_KERNEL, VOL_COUNT };

static void vols_of(struct daemon *d, const struct qube *q, struct vol v[VOL_COUNT])
{
	bool overlay = q->klass == QUBE_APPVM || q->klass == QUBE_DISPVM;
	const char *root_owner = q->name;
	if (overlay && q->template) {
		struct vm *t = daemon_find_vm(d, q->template);
		root_owner = q->template;
		if (q->klass == QUBE_DISPVM && t && t->q->klass == QUBE_APPVM && t->q->template)
			root_owner = t->q->template;
	}
	bool disp = q->klass == QUBE_DISPVM && q->template;
	v[VOL_ROOT] =
	    (struct vol){"root", daemon_qube_file(d, root_owner, "root.qcow2"), !overlay, overlay};
	v[VOL_PRIVATE] = (struct vol){"private",
				      disp ? daemon_qube_file(d, q->template, "private.qcow2")
					   : daemon_qube_file(d, q->name, "private.qcow2"),
				      !disp, disp};
	v[VOL_VOLATILE] =
	    (struct vol){"volatile", daemon_qube_file(d, q->name, "volatile.qcow2"), false, false};
	v[VOL_KERNEL] = (struct vol){
	    "kernel",
	    xasprintf("%s/kernels/%s/modules.img", d->state_dir, q->kernel ? q->kernel : "default"),
	    false, true};
}

static void vols_free(struct vol v[VOL_COUNT])
{
	for (int i = 0; i < VOL_COUNT; i++)
		free(v[i].path);
}

void h_volume_list(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct vm *vm = dest_vm(d, c, req);
	if (!vm)
		return;
	struct vol v[VOL_COUNT];
	vols_of(d, vm->q, v);
	struct json_object *arr = json_object_new_array();
	for (int i = 0; i < VOL_COUNT; i++)
		json_object_array_add(
		    arr, volume_json(v[i].name, v[i].path, v[i].persistent, v[i].readonly));
	vols_free(v);
	client_reply_ok(c, arr);
}

/* Only a template's root keeps revisions (template-revisions.h). */
static bool has_revisions(const struct vm *vm, const char *volume)
{
	return vm->q->klass == QUBE_TEMPLATEVM && streq(volume, "root");
}

static char *qube_dir(struct daemon *d, const char *name)
{
	return xasprintf("%s/qubes/%s", d->state_dir, name);
}

void h_volume_info(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct vm *vm = dest_vm(d, c, req);
	if (!vm)
		return;
	struct vol v[VOL_COUNT];
	vols_of(d, vm->q, v);
	int i = 0;
	while (i < VOL_COUNT && !streq(v[i].name, req->arg))
		i++;
	if (i == VOL_COUNT) {
		vols_free(v);
		client_reply_error(c, API_E_VALUE,
				   "'%s' has no volume '%s' (root, private, volatile, kernel)",
				   vm->q->name, req->arg);
		return;
	}
	struct json_object *o = volume_json(v[i].name, v[i].path, v[i].persistent, v[i].readonly);
	struct json_object *revs = json_object_new_array();
	vols_free(v);
	if (has_revisions(vm, req->arg)) {
		_cleanup_free_ char *dir = qube_dir(d, vm->q->name);
		_cleanup_free_ unsigned *nums = NULL;
		size_t n = 0;
		int r = root_rev_list(dir, &nums, &n);
		if (r < 0) {
			json_object_put(o);
			json_object_put(revs);
			client_reply_error(c, API_E_VM, "cannot list the revisions of '%s': %s",
					   vm->q->name, strerror(-r));
			return;
		}
		for (size_t k = 0; k < n; k++) {
			char name[16];
			snprintf(name, sizeof(name), "%u", nums[k]);
			json_object_array_add(revs, json_object_new_string(name));
		}
		json_object_object_add(o, "revisions_to_keep",
				       json_object_new_int64(vm->q->revisions_to_keep));
	}
	json_object_object_add(o, "revisions", revs);
	client_reply_ok(c, o);
}

void h_volume_revert(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct vm *vm = dest_vm(d, c, req);
	if (!vm)
		return;
	const char *want = payload_str(req, "revision");
	_cleanup_free_ char *dir = qube_dir(d, vm->q->name);
	_cleanup_free_ unsigned *nums = NULL;
	size_t n = 0;
	unsigned rev = 0;
	int r;

	if (!has_revisions(vm, req->arg)) {
		client_reply_error(c, API_E_VALUE,
				   "volume '%s' of '%s' has no revisions (only a template's root "
				   "volume keeps them)",
				   req->arg, vm->q->name);
		return;
	}
	if (vm->state != VM_HALTED) {
		client_reply_error(c, API_E_NOT_HALTED,
				   "'%s' is %s; shut it down to revert its root volume "
				   "(bulkhead shutdown --wait %s)",
				   vm->q->name, vm_state_name(vm->state), vm->q->name);
		return;
	}
	if (want && root_rev_name_parse(want, &rev) < 0) {
		client_reply_error(c, API_E_VALUE,
				   "invalid revision '%s': revisions are numbers, as `bulkhead "
				   "volume info %s root` lists them",
				   want, vm->q->name);
		return;
	}
	/* What its last run wrote, if its stop could not put it in place, first. */
	r = root_rev_commit(dir);
	if (r >= 0)
		r = root_rev_list(dir, &nums, &n);
	if (r < 0) {
		client_reply_error(c, API_E_VM, "cannot read the revisions of '%s': %s",
				   vm->q->name, strerror(-r));
		return;
	}
	if (n == 0) {
		client_reply_error(c, API_E_VALUE,
				   "'%s' has no root revision to revert to (one is kept at each of "
				   "its stops; revisions_to_keep is %u)",
				   vm->q->name, vm->q->revisions_to_keep);
		return;
	}
	if (!want)
		rev = nums[0];
	r = root_rev_revert(dir, rev);
	if (r == -ENOENT) {
		client_reply_error(c, API_E_VALUE,
				   "'%s' has no root revision '%s' (`bulkhead volume info %s root` "
				   "lists them)",
				   vm->q->name, want, vm->q->name);
		return;
	}
	if (r < 0) {
		client_reply_error(c, errno_to_api(r), "cannot revert the root of '%s': %s",
				   vm->q->name, strerror(-r));
		return;
	}
	log_info("template %s: root reverted to revision %u", vm->q->name, rev);
	/* The replaced root is now the newest revision: with revisions_to_keep 0 it goes. */
	template_revisions_prune(d, vm);
	struct json_object *o = json_object_new_object();
	char name[16];
	snprintf(name, sizeof(name), "%u", rev);
	json_object_object_add(o, "revision", json_object_new_string(name));
	client_reply_ok(c, o);
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
