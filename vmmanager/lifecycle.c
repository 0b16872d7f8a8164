/* Starting and stopping qubes. What came of a start or a stop is reported (vm-listener.h),
 * never answered to a client here. */
#include <fcntl.h>
#include <sys/stat.h>

#include "api-server.h"
#include "api.h"
#include "backend.h"
#include "balancer.h"
#include "daemon.h"
#include "dispvm-preload.h"
#include "audio.h"
#include "gui.h"
#include "host-memory.h"
#include "lifecycle.h"
#include "log.h"
#include "net.h"
#include "qchan.h"
#include "qube.h"
#include "rpc.h"
#include "root-revisions.h"
#include "store.h"
#include "template-revisions.h"
#include "util.h"
#include "vm-listener.h"
#include "volume.h"

#define SHUTDOWN_TIMEOUT_DEFAULT 60

/* Timer callbacks get one pointer; disposal needs the daemon and a name that outlives the vm. */
static struct daemon *the_daemon_for_dispose;

static void vm_domain_stopped(struct daemon *d, struct vm *vm, const char *reason);

const char *vm_state_name(enum vm_state s)
{
	static const char *const names[] = {
	    [VM_HALTED] = "Halted", [VM_TRANSIENT] = "Transient", [VM_RUNNING] = "Running",
	    [VM_PAUSED] = "Paused", [VM_HALTING] = "Halting",
	};
	return names[s];
}

static void remove_timer(int *timer)
{
	if (*timer >= 0) {
		virEventRemoveTimeout(*timer);
		*timer = -1;
	}
}

static void remove_transient_volumes(struct daemon *d, struct vm *vm)
{
	static const char *const files[] = {"root-overlay.qcow2", "private-overlay.qcow2",
					    "volatile.qcow2", ROOT_COPY};
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		_cleanup_free_ char *p = daemon_qube_file(d, vm->q->name, files[i]);
		unlink(p);
	}
}

/* Where a qube's throw-away volumes come from. An AppVM's root is an overlay on its template's
 * root; a DispVM's root is an overlay on the root its disposable template uses, and its private
 * an overlay on the disposable template's private. NULL members: the qube's own file. */
struct backing {
	struct vm *root; /* whose root.qcow2 backs our root overlay */
	struct vm *priv; /* whose private.qcow2 backs our private overlay */
};

static int find_backing(struct daemon *d, const struct qube *q, struct backing *ret, char **ret_msg)
{
	struct backing b = {0};
	if (q->klass == QUBE_APPVM || q->klass == QUBE_DISPVM) {
		struct vm *t = q->template ? daemon_find_vm(d, q->template) : NULL;
		if (!t) {
			*ret_msg = xasprintf("qube '%s' has no template ('%s' does not exist)",
					     q->name, q->template ? q->template : "");
			return -ENOENT;
		}
		if (q->klass == QUBE_APPVM) {
			b.root = t;
		} else {
			b.priv = t;
			b.root = t;
			if (t->q->klass == QUBE_APPVM) {
				b.root = t->q->template ? daemon_find_vm(d, t->q->template) : NULL;
				if (!b.root) {
					*ret_msg = xasprintf("the disposable template '%s' has no "
							     "template",
							     t->q->name);
					return -ENOENT;
				}
			}
		}
	}
	*ret = b;
	return 0;
}

struct vm *vm_root_owner(struct daemon *d, const struct qube *q)
{
	struct backing b;
	_cleanup_free_ char *msg = NULL;
	return find_backing(d, q, &b, &msg) < 0 ? NULL : b.root;
}

/* A running qube whose overlays are backed by vm's root or private, or NULL. A template's root
 * does not count: the template writes a copy of it (template-revisions.h). */
static struct vm *backing_user(struct daemon *d, struct vm *vm)
{
	for (size_t i = 0; i < d->n_vms; i++) {
		struct vm *o = d->vms[i];
		struct backing b;
		char *msg = NULL;
		if (o == vm || o->state == VM_HALTED)
			continue;
		if (find_backing(d, o->q, &b, &msg) < 0) {
			free(msg);
			continue;
		}
		if ((b.root == vm && vm->q->klass != QUBE_TEMPLATEVM) || b.priv == vm)
			return o;
	}
	return NULL;
}

static bool file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

unsigned long long vm_memory_starting_mib(struct daemon *d)
{
	unsigned long long mib = 0;
	for (size_t i = 0; i < d->n_vms; i++)
		if (d->vms[i]->state == VM_TRANSIENT)
			mib += d->vms[i]->q->memory;
	return mib;
}

/* Whether the host has q's memory now; otherwise a message naming the numbers. A host whose
 * /proc/meminfo cannot be read is not a reason to refuse. */
static bool memory_for_start(struct daemon *d, const struct qube *q, char **ret_msg)
{
	unsigned long long avail_kib, starting, left = 0, reclaim_kib;

	if (host_memory_available_kib(&avail_kib) < 0)
		return true;
	starting = vm_memory_starting_mib(d);
	/* Balanced qubes give back what they hold above what they need (the balancer's next
	 * pass takes it, as this qube counts as starting from now on). */
	reclaim_kib = balancer_reclaimable_kib(d);
	if (memory_admit(avail_kib + reclaim_kib, d->memory_reserve_mib, starting, q->memory,
			 &left))
		return true;
	*ret_msg = xasprintf("not enough memory to start '%s': it needs %u MiB; the host has %llu "
			     "MiB available, keeps %llu MiB for itself, running qubes can give "
			     "back %llu MiB and %llu MiB are promised to qubes that are starting, "
			     "which leaves %llu MiB; lower its memory (bulkhead prefs %s memory N) "
			     "or stop another qube",
			     q->name, q->memory, avail_kib / 1024, d->memory_reserve_mib,
			     reclaim_kib / 1024, starting, left, q->name);
	return false;
}

static void start_timed_out(int timer, void *opaque)
{
	struct vm *vm = opaque;
	struct daemon *d = vm->daemon;

	remove_timer(&vm->start_timer);
	if (vm->state != VM_TRANSIENT)
		return;
	log_warn("qube %s: the agent did not say hello within %u s; stopping it", vm->q->name,
		 vm->q->qrexec_timeout);
	_cleanup_free_ char *msg =
	    xasprintf("qube '%s' did not answer within %u s (qrexec_timeout) and was stopped; "
		      "its console is in: bulkhead log %s",
		      vm->q->name, vm->q->qrexec_timeout, vm->q->name);
	vm_report_start_failed(d, vm, API_E_TIMEOUT, msg);
	backend_destroy_domain(d, vm->q->name);
	vm_domain_stopped(d, vm, "start timed out");
}

/* A start under way whose throw-away volumes are being made by qemu-img, off the event loop;
 * found again by name and serial, as the qube may be stopped or removed meanwhile. */
struct start_prep {
	struct daemon *d;
	char *name;
	uint64_t serial;
	char *ov, *src_root; /* root overlay and what backs it; src_root NULL: none */
	/* A template's start: root.qcow2 copied to copy_tmp, synced, renamed to copy_dst (what
	 * it writes); NULL: none. */
	char *copy_src, *copy_tmp, *copy_dst;
	char *pov, *src_priv;
	char *vol;
	unsigned step;
};

static uint64_t start_serials;

static void start_prep_free(struct start_prep *p)
{
	free(p->name);
	free(p->ov);
	free(p->src_root);
	free(p->copy_src);
	free(p->copy_tmp);
	free(p->copy_dst);
	free(p->pov);
	free(p->src_priv);
	free(p->vol);
	free(p);
}

/* The start of vm ends here: whoever waits learns why, and it is halted again (which removes
 * what was made for it, and a disposable with it). */
static void start_failed(struct daemon *d, struct vm *vm, const char *error, const char *msg)
{
	log_warn("qube %s could not start: %s", vm->q->name, msg);
	/* The template never ran: its copy holds nothing new and must not become a revision. */
	if (vm->q->klass == QUBE_TEMPLATEVM) {
		_cleanup_free_ char *next = daemon_qube_file(d, vm->q->name, ROOT_NEXT);
		unlink(next);
	}
	vm_report_start_failed(d, vm, error, msg);
	vm_domain_stopped(d, vm, "its start failed");
}

static void start_prep_step_done(int r, void *userdata);

/* Starts making the next volume: 0 when one is being made, 1 when all are made (the domain is
 * next), -errno when qemu-img could not even be started. */
static int start_prep_next(struct start_prep *p)
{
	for (;; p->step++) {
		switch (p->step) {
		case 0:
			if (p->copy_src)
				return volume_copy_file_async(p->copy_src, p->copy_tmp,
							      start_prep_step_done, p);
			if (!p->src_root)
				continue;
			return volume_create_overlay_async(p->ov, p->src_root, start_prep_step_done,
							   p);
		case 1:
			if (!p->src_priv)
				continue;
			return volume_create_overlay_async(p->pov, p->src_priv,
							   start_prep_step_done, p);
		case 2:
			return volume_create_async(p->vol, 1024ull * 1024 * 1024,
						   start_prep_step_done, p);
		case 3:
			if (!p->copy_src)
				continue;
			return volume_sync_async(p->copy_tmp, start_prep_step_done, p);
		default:
			return 1; /* all made */
		}
	}
}

struct start_create {
	struct daemon *d;
	char *name;
	uint64_t serial;
};

static void start_domain_created(int r, const char *message, void *userdata)
{
	struct start_create *sc = userdata;
	struct daemon *d = sc->d;
	struct vm *vm = daemon_find_vm(d, sc->name);
	bool ours = vm && vm->start_serial == sc->serial && vm->state == VM_TRANSIENT;

	if (!ours && r >= 0 && (!vm || vm->state == VM_HALTED))
		/* Stopped or removed while libvirt created it: the domain made meanwhile goes. */
		backend_destroy_domain(d, sc->name);
	free(sc->name);
	free(sc);
	if (!ours)
		return;
	if (r < 0) {
		start_failed(d, vm, API_E_VM, message);
		return;
	}
	vm->start_timer =
	    virEventAddTimeout((int)vm->q->qrexec_timeout * 1000, start_timed_out, vm, NULL);
	qchan_connect(d, vm);
}

static void start_domain(struct daemon *d, struct vm *vm)
{
	_cleanup_free_ char *msg = NULL;
	struct start_create *sc = xcalloc(1, sizeof(*sc));

	sc->d = d;
	sc->name = xstrdup(vm->q->name);
	sc->serial = vm->start_serial;
	if (backend_create_domain_async(d, vm, start_domain_created, sc, &msg) < 0) {
		free(sc->name);
		free(sc);
		start_failed(d, vm, API_E_VM, msg);
	}
}

static void start_prep_step_done(int r, void *userdata)
{
	struct start_prep *p = userdata;
	struct daemon *d = p->d;
	struct vm *vm = daemon_find_vm(d, p->name);

	if (!vm || vm->start_serial != p->serial || vm->state != VM_TRANSIENT) {
		/* Stopped (killed, removed) while its volumes were made: what this step made
		 * after the stop removed the others goes too. */
		if (vm && vm->state == VM_HALTED)
			remove_transient_volumes(d, vm);
		start_prep_free(p);
		return;
	}
	if (r >= 0 && p->step == 3 && p->copy_src && rename(p->copy_tmp, p->copy_dst) < 0)
		r = -errno;
	if (r >= 0) {
		p->step++;
		r = start_prep_next(p);
		if (r == 0)
			return; /* the next volume is being made */
	}
	start_prep_free(p);
	if (r < 0) {
		_cleanup_free_ char *msg =
		    xasprintf("cannot create the volumes of '%s' for this start: %s", vm->q->name,
			      strerror(-r));
		start_failed(d, vm, r == -ENOSPC ? API_E_NO_SPACE : API_E_VM, msg);
		return;
	}
	start_domain(d, vm);
}

int vm_start(struct daemon *d, struct vm *vm, char **ret_error_name, char **ret_message)
{
	const struct qube *q = vm->q;
	struct backing b;
	_cleanup_free_ char *priv = daemon_qube_file(d, q->name, "private.qcow2");
	_cleanup_free_ char *vol = daemon_qube_file(d, q->name, "volatile.qcow2");
	_cleanup_free_ char *root = daemon_qube_file(d, q->name, "root.qcow2");
	_cleanup_free_ char *ov = daemon_qube_file(d, q->name, "root-overlay.qcow2");
	_cleanup_free_ char *pov = daemon_qube_file(d, q->name, "private-overlay.qcow2");
	_cleanup_free_ char *src_root = NULL, *src_priv = NULL, *msg = NULL;
	_cleanup_free_ char *copy_tmp = NULL, *copy_dst = NULL;
	_cleanup_free_ char *kernel =
	    xasprintf("%s/kernels/%s/vmlinuz", d->state_dir, q->kernel ? q->kernel : "default");
	int r;

#define FAIL(err, ...)                                                                             \
	do {                                                                                       \
		*ret_error_name = xstrdup(err);                                                    \
		*ret_message = xasprintf(__VA_ARGS__);                                             \
		return -EINVAL;                                                                    \
	} while (0)

	if (vm->state != VM_HALTED)
		FAIL(API_E_NOT_HALTED, "qube '%s' is not halted (it is %s)", q->name,
		     vm_state_name(vm->state));
	if (find_backing(d, q, &b, &msg) < 0)
		FAIL(API_E_VM, "%s", msg);
	/* QEMU locks an image while a qube writes to it: a backing file must be at rest, and
	 * its changes complete, before an overlay is put on it. */
	struct vm *busy = b.root && !template_root_at_rest(d, b.root) ? b.root
			  : b.priv && b.priv->state != VM_HALTED      ? b.priv
								      : NULL;
	if (busy)
		FAIL(API_E_NOT_HALTED,
		     "'%s', on which '%s' is based, is running; shut it down first "
		     "(bulkhead shutdown %s)",
		     busy->q->name, q->name, busy->q->name);
	/* Preloaded disposables based on it give way (they are preloaded again once it halts). */
	dispvm_preload_discard_based_on(d, q->name);
	struct vm *user = backing_user(d, vm);
	if (user)
		FAIL(API_E_IN_USE,
		     "'%s', which is based on '%s', is running; shut it down before starting "
		     "'%s'",
		     user->q->name, q->name, q->name);
	if (b.root) {
		_cleanup_free_ char *troot = daemon_qube_file(d, b.root->q->name, "root.qcow2");
		if (!file_exists(troot))
			FAIL(API_E_VM, "the root volume of template '%s' is missing (%s)",
			     b.root->q->name, troot);
	} else if (!file_exists(root)) {
		FAIL(API_E_VM, "the root volume of '%s' is missing (%s)", q->name, root);
	}
	if (b.priv) {
		src_priv = daemon_qube_file(d, b.priv->q->name, "private.qcow2");
		if (!file_exists(src_priv))
			FAIL(API_E_VM, "the private volume of '%s' is missing (%s)",
			     b.priv->q->name, src_priv);
	} else if (!file_exists(priv)) {
		FAIL(API_E_VM, "the private volume of '%s' is missing (%s)", q->name, priv);
	}
	if (!file_exists(kernel))
		FAIL(API_E_VM,
		     "kernel '%s' is not installed (%s); `bulkhead template build minimal` "
		     "fetches the default kernel",
		     q->kernel ? q->kernel : "default", kernel);
	/* Before anything is made for this start. Preloaded disposables only wait to be used:
	 * a start that needs their memory comes first (they are preloaded again when it fits). */
	if (!memory_for_start(d, q, &msg)) {
		if (vm->preload || dispvm_preload_discard_based_on(d, NULL) == 0)
			FAIL(API_E_MEMORY, "%s", msg);
		free(msg);
		msg = NULL;
		if (!memory_for_start(d, q, &msg))
			FAIL(API_E_MEMORY, "%s", msg);
	}
	/* Its netvm, and that one's, first (as Qubes does): the link is plugged once both run. */
	if (net_start_chain(d, vm, ret_error_name, ret_message) < 0)
		return -EINVAL;

	/* A template's own root stays at rest while it runs: it writes a copy, which becomes
	 * its root at its stop (template-revisions.h). What an earlier run left uncommitted goes
	 * in first. The overlays of qubes based on it name a file that stays that root. */
	if (q->klass == QUBE_TEMPLATEVM) {
		_cleanup_free_ char *dir = xasprintf("%s/qubes/%s", d->state_dir, q->name);
		r = root_rev_commit(dir);
		if (r < 0)
			FAIL(API_E_VM, "cannot keep what '%s' wrote at its last run: %s", q->name,
			     strerror(-r));
		copy_tmp = daemon_qube_file(d, q->name, ROOT_COPY);
		copy_dst = daemon_qube_file(d, q->name, ROOT_NEXT);
	} else if (b.root && template_root_base(d, b.root, &src_root, &msg) < 0) {
		FAIL(API_E_VM, "%s", msg);
	}

	/* Before anything is made for the start: the probe boots the kernel just checked. */
	accel_ensure(d);
	remove_transient_volumes(d, vm);
	struct start_prep *p = xcalloc(1, sizeof(*p));
	p->d = d;
	p->name = xstrdup(q->name);
	p->serial = vm->start_serial = ++start_serials;
	p->ov = TAKE_PTR(ov);
	p->src_root = TAKE_PTR(src_root);
	if (copy_tmp) {
		p->copy_src = xstrdup(root);
		p->copy_tmp = TAKE_PTR(copy_tmp);
		p->copy_dst = TAKE_PTR(copy_dst);
	}
	p->pov = TAKE_PTR(pov);
	p->src_priv = TAKE_PTR(src_priv);
	p->vol = TAKE_PTR(vol);
	r = start_prep_next(p);
	if (r < 0) {
		start_prep_free(p);
		remove_transient_volumes(d, vm);
		FAIL(API_E_VM, "cannot create the volumes of '%s' for this start: %s", q->name,
		     strerror(-r));
	}
#undef FAIL
	/* Starting from now on (also for the memory admission of other starts); the domain
	 * is created once the volumes are made. */
	vm->state = VM_TRANSIENT;
	events_emit(d, "domain-pre-start", q->name, NULL);
	return 0;
}

static void vm_adopt(struct daemon *d, struct vm *vm, bool paused)
{
	vm->state = paused ? VM_PAUSED : VM_TRANSIENT;
	/* An agent that never answers would otherwise leave it Transient for good. */
	if (!paused)
		vm->start_timer = virEventAddTimeout((int)vm->q->qrexec_timeout * 1000,
						     start_timed_out, vm, NULL);
	qchan_connect(d, vm);
}

void vm_agent_ready(struct daemon *d, struct vm *vm)
{
	remove_timer(&vm->start_timer);
	if (vm->state == VM_TRANSIENT) {
		vm->state = VM_RUNNING;
		log_info("qube %s is running (agent %s)", vm->q->name,
			 LOG_ESC(qchan_agent_version(vm)));
		events_emit(d, "domain-start", vm->q->name, NULL);
	}
	vm_report_started(d, vm);
	rpc_target_ready(d, vm);
	gui_qube_ready(d, vm);
	audio_qube_ready(d, vm);
	net_sync(d);
	dispvm_preload_ready(d, vm);
}

static void vm_domain_stopped(struct daemon *d, struct vm *vm, const char *reason)
{
	if (vm->state == VM_HALTED)
		return;
	bool was_starting = vm->state == VM_TRANSIENT;
	vm->state = VM_HALTED;
	remove_timer(&vm->start_timer);
	remove_timer(&vm->shutdown_timer);
	remove_timer(&vm->connect_timer);
	qchan_close(d, vm);
	gui_qube_stopped(d, vm);
	audio_qube_stopped(d, vm);
	rpc_vm_gone(d, vm);
	vm->uid_slot = 0; /* its host processes are gone with it */
	remove_transient_volumes(d, vm);
	template_revisions_stopped(d, vm);
	log_info("qube %s halted (%s)", vm->q->name, reason);
	dispvm_preload_stopped(d, vm);
	if (vm->q->call_disposable)
		vm_dispose(d, vm);
	if (was_starting) {
		_cleanup_free_ char *msg =
		    xasprintf("qube '%s' stopped while starting (%s); its console is in: "
			      "bulkhead log %s",
			      vm->q->name, reason, vm->q->name);
		vm_report_start_failed(d, vm, API_E_VM, msg);
	}
	vm_report_stopped(d, vm);
	net_sync(d);
	struct json_object *extra = json_object_new_object();
	json_object_object_add(extra, "reason", json_object_new_string(reason));
	events_emit(d, "domain-shutdown", vm->q->name, extra);
}

static void shutdown_timed_out(int timer, void *opaque)
{
	struct vm *vm = opaque;
	remove_timer(&vm->shutdown_timer);
	if (vm->state == VM_HALTED)
		return;
	log_warn("qube %s did not shut down in time; destroying it", vm->q->name);
	backend_destroy_domain(vm->daemon, vm->q->name);
	vm_domain_stopped(vm->daemon, vm, "shutdown timed out, destroyed");
}

int vm_shutdown(struct daemon *d, struct vm *vm, bool force, unsigned timeout_s)
{
	if (vm->state == VM_HALTED)
		return -EALREADY;
	if (timeout_s == 0)
		timeout_s = SHUTDOWN_TIMEOUT_DEFAULT;
	if (vm->state == VM_PAUSED)
		backend_resume(d, vm->q->name);
	if (qchan_ready(vm)) {
		qchan_msg(d, vm, QMSG_SHUTDOWN, 0, NULL, 0, -1);
	} else {
		/* No agent to ask: nothing inside can save state for us, so stop it now. */
		backend_destroy_domain(d, vm->q->name);
		vm_domain_stopped(d, vm, "destroyed: no agent to shut it down");
		return 0;
	}
	if (vm->state != VM_HALTING) {
		vm->state = VM_HALTING;
		events_emit(d, "domain-pre-shutdown", vm->q->name, NULL);
	}
	if (vm->shutdown_timer < 0)
		vm->shutdown_timer =
		    virEventAddTimeout((int)timeout_s * 1000, shutdown_timed_out, vm, NULL);
	return 1; /* in progress */
}

int vm_kill(struct daemon *d, struct vm *vm)
{
	if (vm->state == VM_HALTED)
		return -EALREADY;
	int r = backend_destroy_domain(d, vm->q->name);
	if (r < 0 && r != -ENOENT)
		return r;
	vm_domain_stopped(d, vm, "killed");
	return 0;
}

/* A disposable of a disposable template for one call (Qubes' @dispvm:NAME): a preloaded one
 * when there is one, else a new one. */
int vm_create_disposable(struct daemon *d, const char *dvm_name, struct vm **ret, char **ret_msg)
{
	struct vm *t = daemon_find_vm(d, dvm_name);
	struct vm *vm = t && t->q->template_for_dispvms ? dispvm_preload_take(d, t) : NULL;

	if (!vm)
		return vm_new_disposable(d, dvm_name, ret, ret_msg);
	*ret = vm;
	return 0;
}

int vm_new_disposable(struct daemon *d, const char *dvm_name, struct vm **ret, char **ret_msg)
{
	struct vm *t = daemon_find_vm(d, dvm_name);
	struct qube *q = NULL;
	_cleanup_free_ char *tmpdir = NULL;
	char name[16];
	int r;

	if (!t || !t->q->template_for_dispvms) {
		*ret_msg = xasprintf("'%s' is not a disposable template", dvm_name);
		return -EINVAL;
	}
	/* Qubes names them dispN. */
	for (unsigned tries = 0;; tries++) {
		if (tries > 100) {
			*ret_msg = xstrdup("no free disposable name");
			return -EEXIST;
		}
		snprintf(name, sizeof(name), "disp%u", 1 + (unsigned)(random() % 9999));
		/* A directory that did not load (quarantined) keeps its name taken, too. */
		if (!daemon_find_vm(d, name) && !store_exists(d->store, name))
			break;
	}
	r = qube_new(name, QUBE_DISPVM, t->q->label, &q);
	if (r >= 0)
		r = qube_prop_set(q, "template", dvm_name, NULL);
	if (r >= 0) {
		/* Marked in the qube.json that store_create_commit makes appear: no moment
		 * exists at which it is stored unmarked. */
		q->call_disposable = true;
		q->qid = daemon_free_qid(d);
		r = store_create_begin(d->store, q, &tmpdir);
	}
	if (r >= 0) {
		r = store_create_commit(d->store, tmpdir, name);
		if (r < 0)
			store_create_abort(d->store, tmpdir);
	}
	if (r < 0) {
		*ret_msg = xasprintf("cannot create %s: %s", name, strerror(-r));
		qube_free(q);
		return r;
	}
	*ret = daemon_add_vm(d, q);
	events_emit(d, "domain-add", name, NULL);
	return 0;
}

static void dispose_now(int timer, void *opaque)
{
	struct daemon *d = the_daemon_for_dispose;
	char *name = opaque;
	struct vm *vm = daemon_find_vm(d, name);

	virEventRemoveTimeout(timer);
	if (vm && vm->q->call_disposable) {
		if (vm->state != VM_HALTED) {
			int r = backend_destroy_domain(d, vm->q->name);
			if (r < 0 && r != -ENOENT) {
				/* Its volumes are in use: removed once it is gone. */
				log_warn("cannot destroy the disposable %s; trying again", name);
				virEventAddTimeout(1000, dispose_now, name, NULL);
				return;
			}
			vm_domain_stopped(d, vm, "disposable done");
		}
		if (store_remove(d->store, name) == 0) {
			daemon_remove_vm(d, vm);
			events_emit(d, "domain-delete", name, NULL);
		}
	}
	free(name);
}

/* Removed from the event loop, not from inside the callbacks of the qube's own channel. */
void vm_dispose(struct daemon *d, struct vm *vm)
{
	the_daemon_for_dispose = d;
	virEventAddTimeout(0, dispose_now, xstrdup(vm->q->name), NULL);
}

/* The backend's domain events, as this layer decides about them. */
static void on_domain_stopped(struct daemon *d, struct vm *vm, const char *reason)
{
	vm_domain_stopped(d, vm, reason);
}

static void on_domain_suspended(struct daemon *d, struct vm *vm)
{
	enum vm_state now;
	/* A resume right after the suspend (a preloaded disposable taken) is seen before this
	 * event is: what the domain is now decides. */
	if (backend_domain_state(d, vm->q->name, &now) == 0 && now != VM_PAUSED)
		return;
	if (vm->state == VM_RUNNING) {
		vm->state = VM_PAUSED;
		events_emit(d, "domain-paused", vm->q->name, NULL);
	}
}

static void on_domain_resumed(struct daemon *d, struct vm *vm)
{
	if (vm->state == VM_PAUSED) {
		vm->state = VM_RUNNING;
		events_emit(d, "domain-unpaused", vm->q->name, NULL);
	}
}

static void on_domain_found(struct daemon *d, struct vm *vm, bool paused)
{
	vm_adopt(d, vm, paused);
	/* A disposable made for a call that would not die: tried again from the loop. */
	if (vm->q->call_disposable)
		vm_dispose(d, vm);
}

static const struct backend_listener backend_listener = {
    .domain_stopped = on_domain_stopped,
    .domain_suspended = on_domain_suspended,
    .domain_resumed = on_domain_resumed,
    .domain_found = on_domain_found,
};

void lifecycle_init(struct daemon *d)
{
	backend_set_listener(d, &backend_listener);
}

int daemon_reconcile(struct daemon *d)
{
	int r = backend_adopt_domains(d);
	if (r < 0)
		return r;

	/* Disposables made for calls that a crash interrupted are gone with their calls. */
	for (size_t i = d->n_vms; i-- > 0;) {
		struct vm *vm = d->vms[i];
		if (vm->state == VM_HALTED && vm->q->call_disposable &&
		    store_remove(d->store, vm->q->name) == 0) {
			log_info("removed the leftover disposable %s", vm->q->name);
			daemon_remove_vm(d, vm);
		}
	}

	/* Overlays of qubes that are not running are leftovers of a crash. */
	for (size_t i = 0; i < d->n_vms; i++) {
		struct vm *vm = d->vms[i];
		if (vm->state != VM_HALTED)
			continue;
		_cleanup_free_ char *ov = daemon_qube_file(d, vm->q->name, "root-overlay.qcow2");
		_cleanup_free_ char *pov =
		    daemon_qube_file(d, vm->q->name, "private-overlay.qcow2");
		_cleanup_free_ char *vol = daemon_qube_file(d, vm->q->name, "volatile.qcow2");
		if (unlink(ov) == 0)
			log_info("removed the stale root overlay of %s", vm->q->name);
		unlink(pov);
		unlink(vol);
	}
	/* Then what halted templates wrote goes in, and unused old revisions go. */
	template_revisions_reconcile(d);
	/* The preloaded disposables went with the others: new ones boot. */
	dispvm_preload_schedule(d);
	return 0;
}
