/* The admin API: one table from call name to handler (common/api.h lists the calls). */
#include <fcntl.h>
#include <sys/stat.h>

#include "api.h"
#include "daemon.h"
#include "log.h"
#include "rpc-policy.h"
#include "util.h"

#define PRIVATE_SIZE_DEFAULT (2ull * 1024 * 1024 * 1024)
#define ROOT_SIZE_DEFAULT    (10ull * 1024 * 1024 * 1024)
#define CONSOLE_TAIL_DEFAULT (16 * 1024)
#define CONSOLE_TAIL_MAX     (32 * 1024)
/* What one EXEC message to the channel process carries: its flags word, the user, argv. */
#define RUN_ARGV_BYTES_MAX (QMSG_MAX_PAYLOAD - 5)

typedef void (*api_handler)(struct daemon *d, struct client *c, const struct api_request *req);

static const char *payload_str(const struct api_request *req, const char *key)
{
	struct json_object *v;
	if (!req->payload || !json_object_is_type(req->payload, json_type_object) ||
	    !json_object_object_get_ex(req->payload, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static bool payload_bool(const struct api_request *req, const char *key, bool def)
{
	struct json_object *v;
	if (!req->payload || !json_object_is_type(req->payload, json_type_object) ||
	    !json_object_object_get_ex(req->payload, key, &v))
		return def;
	return json_object_get_boolean(v);
}

static int64_t payload_int(const struct api_request *req, const char *key, int64_t def)
{
	struct json_object *v;
	if (!req->payload || !json_object_is_type(req->payload, json_type_object) ||
	    !json_object_object_get_ex(req->payload, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return def;
	return json_object_get_int64(v);
}

/* Looks up req->dest; replies with an error and returns NULL when there is no such qube. */
static struct vm *dest_vm(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct vm *vm = daemon_find_vm(d, req->dest);
	if (!vm) {
		if (streq(req->dest, "dom0"))
			client_reply_error(c, API_E_VALUE,
					   "dom0 (the host) cannot be changed here");
		else
			client_reply_error(c, API_E_NOT_FOUND, "no qube named '%s'", req->dest);
	}
	return vm;
}

static struct json_object *vm_to_json(struct vm *vm)
{
	struct json_object *o = qube_to_json(vm->q);
	json_object_object_add(o, "state", json_object_new_string(vm_state_name(vm->state)));
	json_object_object_del(o, "version");
	return o;
}

static struct json_object *dom0_json(void)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string("dom0"));
	json_object_object_add(o, "class", json_object_new_string("AdminVM"));
	json_object_object_add(o, "state", json_object_new_string("Running"));
	json_object_object_add(o, "label", json_object_new_string("black"));
	return o;
}

static int cmp_vm_name(const void *a, const void *b)
{
	return strcmp((*(struct vm *const *)a)->q->name, (*(struct vm *const *)b)->q->name);
}

static void h_list(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct json_object *arr = json_object_new_array();

	if (*req->dest && !streq(req->dest, "dom0") && !daemon_find_vm(d, req->dest)) {
		json_object_put(arr);
		client_reply_error(c, API_E_NOT_FOUND, "no qube named '%s'", req->dest);
		return;
	}
	if (!*req->dest || streq(req->dest, "dom0"))
		json_object_array_add(arr, dom0_json());
	/* Sorted by name, as qvm-ls shows them. */
	_cleanup_free_ struct vm **sorted = xcalloc(d->n_vms, sizeof(*sorted));
	memcpy(sorted, d->vms, d->n_vms * sizeof(*sorted));
	qsort(sorted, d->n_vms, sizeof(*sorted), cmp_vm_name);
	for (size_t i = 0; i < d->n_vms; i++)
		if (!*req->dest || streq(req->dest, sorted[i]->q->name))
			json_object_array_add(arr, vm_to_json(sorted[i]));
	client_reply_ok(c, arr);
}

/* Rules every reference between qubes follows, for create and property.Set alike. */
static int check_template_ref(struct daemon *d, enum qube_class klass, const char *tname,
			      char **ret_msg)
{
	struct vm *t = daemon_find_vm(d, tname);
	if (!t) {
		*ret_msg = xasprintf("no template named '%s'", tname);
		return -ENOENT;
	}
	if (klass == QUBE_DISPVM) {
		if (!t->q->template_for_dispvms) {
			*ret_msg = xasprintf("'%s' is not a disposable template "
					     "(set its template_for_dispvms to True)",
					     tname);
			return -EINVAL;
		}
	} else if (t->q->klass != QUBE_TEMPLATEVM) {
		*ret_msg = xasprintf("'%s' is not a TemplateVM (it is a %s)", tname,
				     qube_class_to_string(t->q->klass));
		return -EINVAL;
	}
	return 0;
}

static const char *errno_to_api(int r)
{
	return r == -ENOSPC || r == -EDQUOT || r == -EFBIG ? API_E_NO_SPACE : API_E_VM;
}

static void h_create(struct daemon *d, struct client *c, const struct api_request *req)
{
	const char *cls = strrchr(req->call, '.') + 1;
	const char *name = payload_str(req, "name");
	const char *label = payload_str(req, "label");
	const char *tname = payload_str(req, "template");
	const char *reason = NULL;
	enum qube_class klass;
	enum qube_label lab;
	struct qube *q = NULL;
	_cleanup_free_ char *tmpdir = NULL;
	_cleanup_free_ char *msg = NULL;
	int r;

	if (qube_class_from_string(cls, &klass) < 0) {
		client_reply_error(c, API_E_VALUE, "unknown class '%s'", cls);
		return;
	}
	if (!name || qube_name_check(name, &reason) < 0) {
		client_reply_error(c, API_E_VALUE, "invalid qube name '%s': %s", name ? name : "",
				   reason ? reason : "missing");
		return;
	}
	if (daemon_find_vm(d, name)) {
		client_reply_error(c, API_E_EXISTS, "a qube named '%s' already exists", name);
		return;
	}
	if (!label || qube_label_from_string(label, &lab) < 0) {
		client_reply_error(c, API_E_VALUE,
				   "unknown label '%s' (labels: red, orange, yellow, green, gray, "
				   "blue, purple, black)",
				   label ? label : "");
		return;
	}
	if (klass == QUBE_APPVM || klass == QUBE_DISPVM) {
		if (!tname) {
			client_reply_error(c, API_E_VALUE, "a%s %s needs a template (--template)",
					   klass == QUBE_APPVM ? "n" : "", cls);
			return;
		}
		if (check_template_ref(d, klass, tname, &msg) < 0) {
			client_reply_error(c, API_E_VALUE, "%s", msg);
			return;
		}
	} else if (tname && klass == QUBE_STANDALONEVM) {
		if (check_template_ref(d, QUBE_APPVM, tname, &msg) < 0) {
			client_reply_error(c, API_E_VALUE, "%s", msg);
			return;
		}
	} else if (tname) {
		client_reply_error(c, API_E_VALUE, "a TemplateVM is not based on a template");
		return;
	}

	r = qube_new(name, klass, lab, &q);
	if (r < 0) {
		client_reply_error(c, API_E_VALUE, "cannot create '%s': %s", name, strerror(-r));
		return;
	}
	if ((klass == QUBE_APPVM || klass == QUBE_DISPVM) &&
	    qube_prop_set(q, "template", tname, &reason) < 0) {
		client_reply_error(c, API_E_VALUE, "template: %s", reason ? reason : "invalid");
		qube_free(q);
		return;
	}
	struct json_object *props;
	if (req->payload && json_object_object_get_ex(req->payload, "props", &props) &&
	    json_object_is_type(props, json_type_object)) {
		json_object_object_foreach(props, key, val)
		{
			const char *v = json_object_get_string(val);
			if (streq(key, "template") || streq(key, "name") || streq(key, "klass") ||
			    streq(key, "class")) {
				client_reply_error(c, API_E_VALUE,
						   "property '%s' cannot be set with --prop", key);
				qube_free(q);
				return;
			}
			r = qube_prop_set(q, key, v ? v : "", &reason);
			if (r < 0) {
				client_reply_error(c, API_E_VALUE, "property %s: %s", key,
						   r == -ENOENT ? "no such property"
						   : reason	? reason
								: strerror(-r));
				qube_free(q);
				return;
			}
		}
	}

	/* Built in a temporary directory, renamed into place only when complete. */
	r = store_create_begin(d->store, q, &tmpdir);
	if (r < 0) {
		client_reply_error(c, errno_to_api(r), "cannot create '%s': %s", name,
				   strerror(-r));
		qube_free(q);
		return;
	}
	_cleanup_free_ char *priv = xasprintf("%s/private.qcow2", tmpdir);
	/* A DispVM's private is a fresh overlay on its disposable template's at every start. */
	r = klass == QUBE_DISPVM ? 0 : volume_create(priv, PRIVATE_SIZE_DEFAULT);
	if (r >= 0 && klass == QUBE_STANDALONEVM) {
		_cleanup_free_ char *root = xasprintf("%s/root.qcow2", tmpdir);
		if (tname) {
			_cleanup_free_ char *src = daemon_qube_file(d, tname, "root.qcow2");
			r = volume_copy(src, root);
		} else {
			r = volume_create(root, ROOT_SIZE_DEFAULT);
		}
	} else if (r >= 0 && klass == QUBE_TEMPLATEVM) {
		_cleanup_free_ char *root = xasprintf("%s/root.qcow2", tmpdir);
		r = volume_create(root, ROOT_SIZE_DEFAULT);
	}
	if (r >= 0)
		r = store_create_commit(d->store, tmpdir, name);
	if (r < 0) {
		store_create_abort(d->store, tmpdir);
		client_reply_error(c, errno_to_api(r), "cannot create '%s': %s%s", name,
				   strerror(-r),
				   r == -ENOSPC ? " (free some space and try again)" : "");
		qube_free(q);
		return;
	}
	daemon_add_vm(d, q);
	events_emit(d, "domain-add", name, NULL);
	client_reply_ok(c, NULL);
}

static void h_clone(struct daemon *d, struct client *c, const struct api_request *req)
{
	const char *dst = payload_str(req, "name");
	const char *reason = NULL;
	struct vm *src = dest_vm(d, c, req);
	struct qube *q = NULL;
	_cleanup_free_ char *tmpdir = NULL;
	int r;

	if (!src)
		return;
	if (!dst || qube_name_check(dst, &reason) < 0) {
		client_reply_error(c, API_E_VALUE, "invalid qube name '%s': %s", dst ? dst : "",
				   reason ? reason : "missing");
		return;
	}
	if (daemon_find_vm(d, dst)) {
		client_reply_error(c, API_E_EXISTS, "a qube named '%s' already exists", dst);
		return;
	}
	if (src->state != VM_HALTED) {
		client_reply_error(c, API_E_NOT_HALTED,
				   "'%s' is running; shut it down before cloning it", src->q->name);
		return;
	}
	r = qube_dup(src->q, dst, &q);
	if (r < 0) {
		client_reply_error(c, API_E_VM, "cannot copy '%s': %s", src->q->name, strerror(-r));
		return;
	}
	/* A clone is the user's qube, even of a disposable made for a call. */
	q->call_disposable = false;
	r = store_create_begin(d->store, q, &tmpdir);
	if (r >= 0) {
		static const char *const vols[] = {"private.qcow2", "root.qcow2"};
		for (size_t i = 0; i < ARRAY_SIZE(vols) && r >= 0; i++) {
			_cleanup_free_ char *from = daemon_qube_file(d, src->q->name, vols[i]);
			_cleanup_free_ char *to = xasprintf("%s/%s", tmpdir, vols[i]);
			/* Only what the source has: AppVMs have no root, DispVMs no private. */
			if (access(from, F_OK) < 0 && (i == 1 || src->q->klass == QUBE_DISPVM))
				continue;
			r = volume_copy(from, to);
		}
		if (r >= 0)
			r = store_create_commit(d->store, tmpdir, dst);
		if (r < 0)
			store_create_abort(d->store, tmpdir);
	}
	if (r < 0) {
		client_reply_error(c, errno_to_api(r), "cannot clone '%s' to '%s': %s",
				   src->q->name, dst, strerror(-r));
		qube_free(q);
		return;
	}
	daemon_add_vm(d, q);
	events_emit(d, "domain-add", dst, NULL);
	client_reply_ok(c, NULL);
}

/* Names of qubes that refer to `name` (as template, netvm or default_dispvm), or NULL. */
static char *users_of(struct daemon *d, const char *name)
{
	char *list = NULL;
	for (size_t i = 0; i < d->n_vms; i++) {
		const struct qube *o = d->vms[i]->q;
		if (streq_ptr(o->template, name) || streq_ptr(o->netvm, name) ||
		    streq_ptr(o->default_dispvm, name)) {
			char *n = list ? xasprintf("%s, %s", list, o->name) : xstrdup(o->name);
			free(list);
			list = n;
		}
	}
	return list;
}

static void h_remove(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct vm *vm = dest_vm(d, c, req);
	if (!vm)
		return;
	if (vm->state != VM_HALTED) {
		client_reply_error(c, API_E_NOT_HALTED, "'%s' is %s; shut it down first",
				   vm->q->name, vm_state_name(vm->state));
		return;
	}
	_cleanup_free_ char *users = users_of(d, vm->q->name);
	if (users) {
		client_reply_error(c, API_E_IN_USE, "'%s' is still used by: %s", vm->q->name,
				   users);
		return;
	}
	int r = store_remove(d->store, vm->q->name);
	if (r < 0) {
		client_reply_error(c, API_E_VM, "cannot remove '%s': %s", vm->q->name,
				   strerror(-r));
		return;
	}
	_cleanup_free_ char *name = xstrdup(vm->q->name);
	daemon_remove_vm(d, vm);
	events_emit(d, "domain-delete", name, NULL);
	client_reply_ok(c, NULL);
}

static void h_start(struct daemon *d, struct client *c, const struct api_request *req)
{
	_cleanup_free_ char *err = NULL, *msg = NULL;
	struct vm *vm = dest_vm(d, c, req);
	if (!vm)
		return;
	if (vm_start(d, vm, &err, &msg) < 0) {
		client_reply_error(c, err, "%s", msg);
		return;
	}
	vm_add_waiter(vm, WAIT_START, c);
}

static void h_shutdown(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct vm *vm = dest_vm(d, c, req);
	if (!vm)
		return;
	int64_t timeout = payload_int(req, "timeout", 0);
	if (timeout < 0 || timeout > 3600) {
		client_reply_error(c, API_E_VALUE, "timeout must be 0..3600 seconds");
		return;
	}
	int r = vm_shutdown(d, vm, payload_bool(req, "force", false), (unsigned)timeout);
	if (r == 1)
		vm_add_waiter(vm, WAIT_SHUTDOWN, c);
	else
		client_reply_ok(c, NULL);
}

static void h_kill(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct vm *vm = dest_vm(d, c, req);
	if (!vm)
		return;
	int r = vm_kill(d, vm);
	if (r == -EALREADY)
		client_reply_error(c, API_E_NOT_RUNNING, "'%s' is not running", vm->q->name);
	else if (r < 0)
		client_reply_error(c, API_E_VM, "cannot kill '%s': %s", vm->q->name, strerror(-r));
	else
		client_reply_ok(c, NULL);
}

static void h_pause(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct vm *vm = dest_vm(d, c, req);
	if (!vm)
		return;
	bool pause = streq(req->call, "admin.vm.Pause");
	if (vm->state != (pause ? VM_RUNNING : VM_PAUSED)) {
		client_reply_error(c, pause ? API_E_NOT_RUNNING : API_E_VM, "'%s' is %s",
				   vm->q->name, vm_state_name(vm->state));
		return;
	}
	int r = pause ? backend_suspend(d, vm->q->name) : backend_resume(d, vm->q->name);
	if (r < 0) {
		client_reply_error(c, API_E_VM, "cannot %s '%s'", pause ? "pause" : "unpause",
				   vm->q->name);
		return;
	}
	vm->state = pause ? VM_PAUSED : VM_RUNNING;
	events_emit(d, pause ? "domain-paused" : "domain-unpaused", vm->q->name, NULL);
	client_reply_ok(c, NULL);
}

/* Changes go to a copy, which replaces the qube only once it is safely on disk. */
static int commit_change(struct daemon *d, struct client *c, struct vm *vm, struct qube *copy)
{
	int r = store_save(d->store, copy);
	if (r < 0) {
		client_reply_error(c, errno_to_api(r), "cannot save '%s': %s", vm->q->name,
				   strerror(-r));
		qube_free(copy);
		return r;
	}
	qube_free(vm->q);
	vm->q = copy;
	return 0;
}

static void h_prop_list(struct daemon *d, struct client *c, const struct api_request *req)
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
		struct json_object *e = json_object_new_object();
		json_object_object_add(e, "value", json_object_new_string(v ? v : ""));
		json_object_object_add(e, "default", json_object_new_boolean(def));
		json_object_object_add(res, *k, e);
		free(v);
	}
	client_reply_ok(c, res);
}

static void h_prop_get(struct daemon *d, struct client *c, const struct api_request *req)
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
	struct json_object *e = json_object_new_object();
	json_object_object_add(e, "value", json_object_new_string(v ? v : ""));
	json_object_object_add(e, "default", json_object_new_boolean(def));
	free(v);
	client_reply_ok(c, e);
}

static bool prop_needs_halted(const char *key)
{
	return streq(key, "template") || streq(key, "kernel") || streq(key, "vcpus");
}

static void h_prop_set(struct daemon *d, struct client *c, const struct api_request *req)
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
	if (!reset && (streq(req->arg, "netvm") || streq(req->arg, "default_dispvm")) && *value &&
	    !streq(value, "none") && !daemon_find_vm(d, value)) {
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
	struct json_object *extra = json_object_new_object();
	json_object_object_add(extra, "property", json_object_new_string(req->arg));
	events_emit(d, "property-set", vm->q->name, extra);
	client_reply_ok(c, NULL);
}

static void h_feature(struct daemon *d, struct client *c, const struct api_request *req)
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
	client_reply_ok(c, NULL);
}

static void h_tag(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct vm *vm = dest_vm(d, c, req);
	const char *op = strrchr(req->call, '.') + 1;
	struct qube *copy = NULL;
	int r;

	if (!vm)
		return;
	if (streq(op, "List")) {
		struct json_object *res = json_object_new_array();
		for (size_t i = 0; i < vm->q->n_tags; i++)
			json_object_array_add(res, json_object_new_string(vm->q->tags[i]));
		client_reply_ok(c, res);
		return;
	}
	if (streq(op, "Get")) {
		client_reply_ok(c, json_object_new_boolean(qube_has_tag(vm->q, req->arg)));
		return;
	}
	if (qube_dup(vm->q, vm->q->name, &copy) < 0) {
		client_reply_error(c, API_E_VM, "out of memory");
		return;
	}
	r = streq(op, "Set") ? qube_tag_add(copy, req->arg) : qube_tag_del(copy, req->arg);
	if (r == -EEXIST || (r == -ENOENT && !streq(op, "Set"))) {
		qube_free(copy);
		if (r == -ENOENT)
			client_reply_error(c, API_E_VALUE, "'%s' has no tag '%s'", vm->q->name,
					   req->arg);
		else
			client_reply_ok(c, NULL);
		return;
	}
	if (r < 0) {
		qube_free(copy);
		client_reply_error(c, API_E_VALUE, "invalid tag '%s'", req->arg);
		return;
	}
	if (commit_change(d, c, vm, copy) < 0)
		return;
	client_reply_ok(c, NULL);
}

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

static void h_volume_list(struct daemon *d, struct client *c, const struct api_request *req)
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

static void h_volume_resize(struct daemon *d, struct client *c, const struct api_request *req)
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

static void run_now(struct daemon *d, struct client *c, struct vm *vm)
{
	struct run_request *rr = client_run_request(c);
	if (!qchan_ready(vm)) {
		client_reply_error(c, API_E_VM, "cannot run in '%s': its agent is not connected",
				   vm->q->name);
		return;
	}
	/* From here the client talks to the qube's channel process, never to us: the command's
	 * bytes do not pass through root. */
	_cleanup_free_ char *user = xstrdup(rr->user);
	char **argv = TAKE_PTR(rr->argv);
	client_reply_ok(c, NULL);
	int fd = client_hand_over(c);
	int r = fd < 0 ? fd : qchan_exec(d, vm, fd, user, (const char *const *)argv);
	if (r < 0)
		log_warn("cannot hand a run command to the channel process of %s: %s", vm->q->name,
			 strerror(-r));
	for (char **a = argv; a && *a; a++)
		free(*a);
	free(argv);
}

void api_run_resume(struct daemon *d, struct client *c, struct vm *vm)
{
	run_now(d, c, vm);
}

static void h_run(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct vm *vm = dest_vm(d, c, req);
	struct json_object *argv;
	size_t bytes = 0;

	if (!vm)
		return;
	if (!req->payload || !json_object_object_get_ex(req->payload, "argv", &argv) ||
	    !json_object_is_type(argv, json_type_array) || json_object_array_length(argv) == 0 ||
	    json_object_array_length(argv) > CHAN_MAX_ARGS) {
		client_reply_error(c, API_E_VALUE, "run needs a command (1 to %u arguments)",
				   CHAN_MAX_ARGS);
		return;
	}
	const char *user = payload_str(req, "user");
	struct run_request *rr = xcalloc(1, sizeof(*rr));
	size_t n = json_object_array_length(argv);
	rr->user = xstrdup(user ? user : "");
	rr->argv = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		const char *a = json_object_get_string(json_object_array_get_idx(argv, i));
		rr->argv[i] = xstrdup(a ? a : "");
		bytes += strlen(rr->argv[i]) + 1;
	}
	if (bytes + strlen(rr->user) > RUN_ARGV_BYTES_MAX) {
		run_request_free(rr);
		client_reply_error(c, API_E_VALUE, "the command line is too long");
		return;
	}
	client_set_run_request(c, rr);

	switch (vm->state) {
	case VM_RUNNING:
		if (qchan_ready(vm)) {
			run_now(d, c, vm);
			return;
		}
		vm_add_waiter(vm, WAIT_RUN, c);
		return;
	case VM_TRANSIENT:
		vm_add_waiter(vm, WAIT_RUN, c);
		return;
	case VM_HALTED: {
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
		vm_add_waiter(vm, WAIT_RUN, c);
		return;
	}
	default:
		client_reply_error(c, API_E_NOT_RUNNING, "'%s' is %s", vm->q->name,
				   vm_state_name(vm->state));
	}
}

/* The channel process reports the agent's echo; the oldest echo waiter gets it. */
void api_echo_reply(struct daemon *d, struct vm *vm, const uint8_t *data, size_t len)
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

static void h_echo(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct vm *vm = dest_vm(d, c, req);
	const char *data = payload_str(req, "data");
	if (!vm)
		return;
	if (!qchan_ready(vm) || vm->state != VM_RUNNING) {
		client_reply_error(c, API_E_NOT_RUNNING, "'%s' is not running", vm->q->name);
		return;
	}
	if (!data)
		data = "";
	if (strlen(data) > qmsg_lookup(QMSG_ECHO)->max_len) {
		client_reply_error(c, API_E_VALUE, "echo data is limited to %u bytes",
				   qmsg_lookup(QMSG_ECHO)->max_len);
		return;
	}
	if (qchan_msg(d, vm, QMSG_ECHO, 0, data, strlen(data), -1) < 0) {
		client_reply_error(c, API_E_VM, "cannot reach the agent of '%s'", vm->q->name);
		return;
	}
	vm_add_waiter(vm, WAIT_ECHO, c);
}

static void h_console(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct vm *vm = dest_vm(d, c, req);
	if (!vm)
		return;
	int64_t tail = payload_int(req, "tail", CONSOLE_TAIL_DEFAULT);
	if (tail <= 0 || tail > CONSOLE_TAIL_MAX)
		tail = CONSOLE_TAIL_MAX;
	_cleanup_free_ char *path = daemon_qube_file(d, vm->q->name, "console.log");
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		client_reply_ok(c, json_object_new_object());
		return;
	}
	off_t end = lseek(fd, 0, SEEK_END);
	off_t start = end > tail ? end - tail : 0;
	_cleanup_free_ char *buf = xmalloc((size_t)tail + 1);
	ssize_t n = pread(fd, buf, (size_t)tail, start);
	if (n < 0)
		n = 0;
	/* The console is the qube's output: keep printable text only. */
	for (ssize_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)buf[i];
		if ((ch < 0x20 && ch != '\n' && ch != '\t') || ch >= 0x7f)
			buf[i] = '?';
	}
	struct json_object *res = json_object_new_object();
	json_object_object_add(res, "log", json_object_new_string_len(buf, (int)n));
	client_reply_ok(c, res);
}

static void h_events(struct daemon *d, struct client *c, const struct api_request *req)
{
	client_reply_ok(c, NULL);
	client_enter_events(c);
}

static void h_info(struct daemon *d, struct client *c, const struct api_request *req)
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

static void h_policy_prompt(struct daemon *d, struct client *c, const struct api_request *req)
{
	client_reply_ok(c, NULL);
	client_enter_prompt(c);
	log_info("a prompt agent registered for 'ask'");
}

static void h_policy_answer(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct json_object *v = NULL;
	char *end;

	if (!client_is_prompt(c)) {
		client_reply_error(c, API_E_PERMISSION, "only the registered prompt answers");
		return;
	}
	errno = 0;
	unsigned long long id = strtoull(req->arg, &end, 10);
	if (errno || end == req->arg || *end) {
		client_reply_error(c, API_E_VALUE, "bad ask id '%s'", req->arg);
		return;
	}
	const char *target = NULL;
	if (req->payload && json_object_object_get_ex(req->payload, "target", &v) &&
	    json_object_is_type(v, json_type_string))
		target = json_object_get_string(v);
	int r = rpc_prompt_answer(d, c, id, target);
	if (r == -ENOENT)
		client_reply_error(c, API_E_VALUE, "no open question %llu", id);
	else if (r < 0)
		client_reply_error(c, API_E_VALUE, "'%s' was not offered", target);
	else
		client_reply_ok(c, NULL);
}

/* What the policy says about a call from payload "source" to dest, without making it: the
 * same decision as the RPC router's (rpc_policy_decide), for the compositor's clipboard. */
static void h_policy_check(struct daemon *d, struct client *c, const struct api_request *req)
{
	const char *source = payload_str(req, "source");
	struct rpc_policy_decision dec = {0};
	char reason[256];

	if (!source || !*source || strlen(source) > API_NAME_MAX) {
		client_reply_error(c, API_E_VALUE, "admin.policy.Check needs a source qube");
		return;
	}
	if (!*req->arg) {
		client_reply_error(c, API_E_VALUE, "admin.policy.Check needs a service name");
		return;
	}
	rpc_policy_decide(d, source, req->dest, req->arg, &dec, reason, sizeof(reason));
	static const char *const actions[] = {
	    [RPC_DENY] = "deny",
	    [RPC_ALLOW] = "allow",
	    [RPC_ASK] = "ask",
	};
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "result", json_object_new_string(actions[dec.action]));
	json_object_object_add(o, "target",
			       dec.action == RPC_ALLOW ? json_object_new_string(dec.target) : NULL);
	json_object_object_add(o, "line", dec.rule ? json_object_new_string(dec.rule) : NULL);
	if (dec.action == RPC_ASK) {
		struct json_object *arr = json_object_new_array();
		for (size_t i = 0; i < dec.n_targets; i++)
			json_object_array_add(arr, json_object_new_string(dec.targets[i]));
		json_object_object_add(o, "targets", arr);
		json_object_object_add(
		    o, "default_target",
		    dec.default_target ? json_object_new_string(dec.default_target) : NULL);
	} else if (dec.action == RPC_DENY) {
		json_object_object_add(o, "reason", json_object_new_string(reason));
	}
	log_info("policy check: %s from %s to %s: %s (%s)", LOG_ESC(req->arg), LOG_ESC(source),
		 LOG_ESC(req->dest), actions[dec.action], LOG_ESC(reason));
	rpc_policy_decision_finish(&dec);
	client_reply_ok(c, o);
}

static const struct {
	enum api_call id;
	api_handler handler;
	bool needs_dest;
} handlers[] = {
    {API_VM_LIST, h_list, false},
    {API_VM_CREATE_APPVM, h_create, false},
    {API_VM_CREATE_TEMPLATEVM, h_create, false},
    {API_VM_CREATE_STANDALONEVM, h_create, false},
    {API_VM_CREATE_DISPVM, h_create, false},
    {API_VM_CLONE, h_clone, true},
    {API_VM_REMOVE, h_remove, true},
    {API_VM_START, h_start, true},
    {API_VM_SHUTDOWN, h_shutdown, true},
    {API_VM_KILL, h_kill, true},
    {API_VM_PAUSE, h_pause, true},
    {API_VM_UNPAUSE, h_pause, true},
    {API_VM_PROPERTY_LIST, h_prop_list, true},
    {API_VM_PROPERTY_GET, h_prop_get, true},
    {API_VM_PROPERTY_SET, h_prop_set, true},
    {API_VM_PROPERTY_RESET, h_prop_set, true},
    {API_VM_FEATURE_LIST, h_feature, true},
    {API_VM_FEATURE_GET, h_feature, true},
    {API_VM_FEATURE_SET, h_feature, true},
    {API_VM_FEATURE_REMOVE, h_feature, true},
    {API_VM_TAG_LIST, h_tag, true},
    {API_VM_TAG_GET, h_tag, true},
    {API_VM_TAG_SET, h_tag, true},
    {API_VM_TAG_REMOVE, h_tag, true},
    {API_VM_VOLUME_LIST, h_volume_list, true},
    {API_VM_VOLUME_RESIZE, h_volume_resize, true},
    {API_VM_RUN, h_run, true},
    {API_VM_ECHO, h_echo, true},
    {API_VM_CONSOLE, h_console, true},
    {API_EVENTS, h_events, false},
    {API_HOST_INFO, h_info, false},
    {API_TEMPLATE_BUILD, h_template_build, false},
    {API_POLICY_PROMPT, h_policy_prompt, false},
    {API_POLICY_ANSWER, h_policy_answer, false},
    {API_POLICY_CHECK, h_policy_check, true},
};

static const char *const call_names[] = {
#define API_NAME(id, name) [API_##id] = name,
    API_CALLS(API_NAME)
#undef API_NAME
};

void api_dispatch(struct daemon *d, struct client *c, const struct api_request *req)
{
	for (size_t i = 0; i < ARRAY_SIZE(handlers); i++) {
		if (!streq(call_names[handlers[i].id], req->call))
			continue;
		if (handlers[i].needs_dest && !*req->dest) {
			client_reply_error(c, API_E_VALUE, "%s needs a qube name", req->call);
			return;
		}
		log_debug("call %s dest=%s arg=%s", req->call, LOG_ESC(req->dest),
			  LOG_ESC(req->arg));
		handlers[i].handler(d, c, req);
		return;
	}
	if (strncmp(req->call, "admin.vm.Create.", 16) == 0)
		client_reply_error(c, API_E_VALUE,
				   "unknown class '%s' (classes: AppVM, TemplateVM, StandaloneVM, "
				   "DispVM)",
				   req->call + 16);
	else
		client_reply_error(c, API_E_PROTOCOL, "unknown call '%s'", req->call);
}
