/* admin.vm.List, Create.*, Clone, Remove, Start, Shutdown, Kill, Pause, Unpause. */
#include "api-handlers.h"
#include "audio.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "api-request.h"
#include "api-server.h"
#include "api-util.h"
#include "api-waiters.h"
#include "api.h"
#include "backend.h"
#include "daemon.h"
#include "dispvm-preload.h"
#include "host-prefs.h"
#include "firewall-store.h"
#include "lifecycle.h"
#include "net.h"
#include "qube.h"
#include "store.h"
#include "util.h"
#include "volume.h"

#define PRIVATE_SIZE_DEFAULT (2ull * 1024 * 1024 * 1024)
#define ROOT_SIZE_DEFAULT    (10ull * 1024 * 1024 * 1024)

static struct json_object *vm_to_json(struct vm *vm)
{
	struct json_object *o = qube_to_json(vm->q);
	json_object_object_add(o, "state", json_object_new_string(vm_state_name(vm->state)));
	json_object_object_del(o, "version");
	if (dispvm_is_preloaded(vm))
		json_object_object_add(o, "preloaded", json_object_new_boolean(true));
	net_list_fields(vm->daemon, vm, o);
	/* The panel's microphone mark (compositor/panel.c). */
	if (audio_recording(vm))
		json_object_object_add(o, "audio_recording", json_object_new_boolean(true));
	/* A running qube's memory now (the balancer moves it), in MiB like "memory". */
	struct backend_mem_stats st;
	if ((vm->state == VM_RUNNING || vm->state == VM_PAUSED) &&
	    backend_memory_stats(vm->daemon, vm->q->name, &st) == 0)
		json_object_object_add(o, "memory_current",
				       json_object_new_int64((int64_t)(st.cur_kib / 1024)));
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

void h_list(struct daemon *d, struct client *c, const struct api_request *req)
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

void h_create(struct daemon *d, struct client *c, const struct api_request *req)
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
	q->qid = daemon_free_qid(d);
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
			_cleanup_free_ char *netmsg = NULL;
			if (streq(key, "netvm") && v && *v && !streq(v, "none") &&
			    net_check_netvm(d, q, v, &netmsg) < 0) {
				client_reply_error(c, API_E_VALUE, "netvm: %s", netmsg);
				qube_free(q);
				return;
			}
			if (streq(key, "netvm") && v && streq(v, "none"))
				v = "";
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

/* A clone keeps its source's firewall rules (qvm-clone does), written before the new qube's
 * directory is committed, so it appears with them or not at all; not its inbound forwards,
 * which name ports one qube alone may hold. */
static int clone_firewall(struct daemon *d, const char *src, const char *tmpdir)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_free_ char *to = xasprintf("%s/" FIREWALL_JSON, tmpdir);
	_cleanup_close_ int fd = -1;
	int r = store_read_qube_file(d->store, src, FIREWALL_JSON, FIREWALL_JSON_MAX, &text);

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	struct json_object *o = json_tokener_parse(text);
	if (o && json_object_is_type(o, json_type_object) &&
	    json_object_object_get_ex(o, "forwards", NULL)) {
		json_object_object_del(o, "forwards");
		free(text);
		text = xasprintf("%s\n",
				 json_object_to_json_string_ext(
				     o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	}
	json_object_put(o);
	fd = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	return write_all(fd, text, strlen(text));
}

void h_clone(struct daemon *d, struct client *c, const struct api_request *req)
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
	q->qid = daemon_free_qid(d);
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
			r = clone_firewall(d, src->q->name, tmpdir);
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

/* Names of qubes that refer to `name` (as template, netvm or default_dispvm), and the host's
 * defaults that name it, or NULL. */
static char *users_of(struct daemon *d, const char *name)
{
	char *list = NULL;
	for (const char *const *k = host_prefs_names(); *k; k++) {
		_cleanup_free_ char *v = NULL;
		if (host_prefs_get(&d->host_prefs, *k, &v, NULL) == 0 && streq(v, name)) {
			char *n = list ? xasprintf("%s, dom0 (%s)", list, *k)
				       : xasprintf("dom0 (%s)", *k);
			free(list);
			list = n;
		}
	}
	for (size_t i = 0; i < d->n_vms; i++) {
		const struct qube *o = d->vms[i]->q;
		/* Preloaded disposables go with their template (h_remove). */
		if (dispvm_is_preloaded(d->vms[i]))
			continue;
		if (streq_ptr(o->template, name) || streq_ptr(o->netvm, name) ||
		    streq_ptr(o->default_dispvm, name)) {
			char *n = list ? xasprintf("%s, %s", list, o->name) : xstrdup(o->name);
			free(list);
			list = n;
		}
	}
	return list;
}

void h_remove(struct daemon *d, struct client *c, const struct api_request *req)
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
	dispvm_preload_discard_based_on(d, vm->q->name);
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

void h_start(struct daemon *d, struct client *c, const struct api_request *req)
{
	_cleanup_free_ char *err = NULL, *msg = NULL;
	struct vm *vm = dest_vm(d, c, req);
	if (!vm)
		return;
	if (vm_start(d, vm, &err, &msg) < 0) {
		client_reply_error(c, err, "%s", msg);
		return;
	}
	api_wait(vm, WAIT_START, c);
}

void h_shutdown(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct vm *vm = dest_vm(d, c, req);
	if (!vm)
		return;
	int64_t timeout = payload_int(req, "timeout", 0);
	if (timeout < 0 || timeout > 3600) {
		client_reply_error(c, API_E_VALUE, "timeout must be 0..3600 seconds");
		return;
	}
	bool force = payload_bool(req, "force", false);
	_cleanup_free_ char *clients = vm->state == VM_HALTED ? NULL : net_running_clients(d, vm);
	if (clients && !force) {
		/* As Qubes: its clients would lose their network without being asked. */
		client_reply_error(c, API_E_IN_USE,
				   "'%s' is the netvm of running qubes: %s; shut them down first, "
				   "or use --force (they lose their network until it runs again)",
				   vm->q->name, clients);
		return;
	}
	int r = vm_shutdown(d, vm, force, (unsigned)timeout);
	if (r == 1)
		api_wait(vm, WAIT_SHUTDOWN, c);
	else
		client_reply_ok(c, NULL);
}

void h_kill(struct daemon *d, struct client *c, const struct api_request *req)
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

void h_pause(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct vm *vm = dest_vm(d, c, req);
	if (!vm)
		return;
	bool pause = streq(req->call, "admin.vm.Pause");
	if (dispvm_is_preloaded(vm)) {
		/* Resumed only when taken: unpaused by hand, it would be one nobody uses. */
		client_reply_error(c, API_E_VM,
				   "'%s' is a preloaded disposable: it is resumed when a call or "
				   "run --dispvm takes it",
				   vm->q->name);
		return;
	}
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
