/* The pool of preloaded disposables: see dispvm-preload.h. */
#include "dispvm-preload.h"

#include <fcntl.h>
#include <time.h>

#include "api-server.h"
#include "backend.h"
#include "daemon.h"
#include "host-memory.h"
#include "lifecycle.h"
#include "log.h"
#include "preload-plan.h"
#include "qube-exec.h"
#include "qube.h"
#include "store.h"
#include "util.h"

/* A pool with nothing to do looks again this often: memory that was short may be free now. */
#define PRELOAD_RECHECK_S 30
/* After a preload is taken, its replacement waits this long (or until the taken one halts). */
#define PRELOAD_REFILL_DELAY_MS 2000
/* A warm-up command that takes longer is given up (the preload is paused all the same). */
#define PRELOAD_WARMUP_MS 60000
/* Between the warm-up and the pause: the guest finishes what the boot and the warm-up left it
 * (free page reporting hands freed pages back after its own 2 s delay, the balloon's first
 * statistics), instead of doing it after the resume, beside the command a user waits for. */
#define PRELOAD_SETTLE_MS 3000

/* One pass at a time, from the event loop. The daemon is one per process. */
static struct daemon *pool_daemon;
static int pass_timer = -1;
static unsigned failures;	 /* failed preloads in a row */
static uint64_t not_before_ms;	 /* no preload boots before this (after failures) */
static bool memory_short_logged; /* said once until memory is there again */

static void pass(int timer, void *opaque);

static void schedule_in(struct daemon *d, unsigned ms)
{
	pool_daemon = d;
	if (pass_timer >= 0)
		virEventUpdateTimeout(pass_timer, (int)ms);
	else
		pass_timer = virEventAddTimeout((int)ms, pass, NULL, NULL);
}

void dispvm_preload_schedule(struct daemon *d)
{
	uint64_t now = monotonic_ms();
	schedule_in(d, not_before_ms > now ? (unsigned)(not_before_ms - now) : 0);
}

bool dispvm_is_preloaded(const struct vm *vm)
{
	return vm->preload;
}

/* How many of tmpl's disposables are wanted preloaded: 0 unless it is a disposable template
 * with a valid feature (a bad value never got through admin.vm.feature.Set; one written into
 * qube.json by hand counts as 0). */
static unsigned wanted(const struct vm *tmpl)
{
	const char *reason;
	unsigned n = 0;
	if (!tmpl->q->template_for_dispvms ||
	    preload_max_parse(qube_feature_get(tmpl->q, PRELOAD_FEATURE), &n, &reason) < 0)
		return 0;
	return n;
}

/* Kills vm and deletes it now (not from a later timer: a removal of its template that waits
 * for it must find it gone). */
static void discard(struct daemon *d, struct vm *vm, const char *why)
{
	_cleanup_free_ char *name = xstrdup(vm->q->name);

	log_info("removing the preloaded disposable %s: %s", name, why);
	vm->preload = false; /* its stop is not a failed preload */
	if (vm->state != VM_HALTED && vm_kill(d, vm) < 0) {
		log_warn("cannot kill the preloaded disposable %s; it goes once it stops", name);
		return;
	}
	if (store_remove(d->store, name) == 0) {
		daemon_remove_vm(d, vm);
		events_emit(d, "domain-delete", name, NULL);
	}
}

static bool based_on(struct daemon *d, const struct vm *vm, const char *name)
{
	if (!name || streq_ptr(vm->q->template, name))
		return true;
	struct vm *t = vm->q->template ? daemon_find_vm(d, vm->q->template) : NULL;
	return t && streq_ptr(t->q->template, name);
}

unsigned dispvm_preload_discard_based_on(struct daemon *d, const char *name)
{
	unsigned n = 0;
	/* Backwards: discard removes the entry from d->vms. */
	for (size_t i = d->n_vms; i-- > 0;) {
		if (i >= d->n_vms)
			continue;
		struct vm *vm = d->vms[i];
		/* A halted one is being started by preload_one, further up the stack (its netvm's
		 * start may be what asks): it holds no memory, and its own start decides. */
		if (vm->preload && vm->state != VM_HALTED && based_on(d, vm, name)) {
			discard(d, vm, name ? "what it is based on is needed" : "memory is needed");
			n++;
		}
	}
	if (n > 0)
		dispvm_preload_schedule(d);
	return n;
}

/* The resume of a taken disposable ended. One that failed cannot run what it was taken for:
 * killed, it is removed as any disposable, and its command or call ends with it. */
static void resumed(int r, void *userdata)
{
	char *name = userdata;
	struct vm *vm = daemon_find_vm(pool_daemon, name);

	if (r < 0 && vm && vm->state != VM_HALTED) {
		log_warn("cannot resume the preloaded disposable %s; killing it", name);
		vm_kill(pool_daemon, vm);
	}
	free(name);
}

struct vm *dispvm_preload_take(struct daemon *d, struct vm *tmpl)
{
	/* A paused one first, then one warming up, then one still booting: each is nearer done
	 * than a new one would be. */
	static const enum vm_state order[] = {VM_PAUSED, VM_RUNNING, VM_TRANSIENT};
	for (size_t pick = 0; pick < ARRAY_SIZE(order); pick++)
		for (size_t i = 0; i < d->n_vms; i++) {
			struct vm *vm = d->vms[i];
			if (!vm->preload || !streq_ptr(vm->q->template, tmpl->q->name) ||
			    vm->state != order[pick])
				continue;
			vm->preload = false;
			if (vm->state == VM_PAUSED) {
				char *name = xstrdup(vm->q->name);
				if (backend_resume_async(d, name, resumed, name) < 0) {
					free(name);
					discard(d, vm, "it could not be resumed");
					i--; /* d->vms[i] is another qube now */
					continue;
				}
				/* Running as far as its user is concerned: what is sent to it
				 * waits in its channel until the resume is done. */
				vm->state = VM_RUNNING;
				events_emit(d, "domain-unpaused", vm->q->name, NULL);
			}
			log_info("disposable %s of %s: taken from the preloaded ones", vm->q->name,
				 tmpl->q->name);
			/* The replacement's boot (qemu-img, QEMU) would take the CPU from the
			 * command that is about to run in this one: it starts a little later, or
			 * when this one is done, whichever comes first. */
			schedule_in(d, PRELOAD_REFILL_DELAY_MS);
			return vm;
		}
	return NULL;
}

/* The settling time after the warm-up is over: the preload, if nobody took it meanwhile, is
 * paused now. */
static void settled(int timer, void *userdata)
{
	char *name = userdata;
	struct daemon *d = pool_daemon;
	struct vm *vm = daemon_find_vm(d, name);

	if (timer >= 0)
		virEventRemoveTimeout(timer);
	if (vm && vm->preload && vm->state == VM_RUNNING) {
		if (backend_suspend(d, name) < 0) {
			discard(d, vm, "it could not be paused");
		} else {
			vm->state = VM_PAUSED;
			log_info("preloaded disposable %s of %s is ready (paused)", name,
				 vm->q->template);
			events_emit(d, "domain-paused", name, NULL);
		}
		dispvm_preload_schedule(d);
	}
}

static void warmed_up(int r, int status, const char *out, size_t out_len, void *userdata)
{
	char *name = userdata;
	struct daemon *d = pool_daemon;
	struct vm *vm = daemon_find_vm(d, name);

	(void)out;
	(void)out_len;
	if (vm && vm->preload && vm->state == VM_RUNNING) {
		failures = 0;
		not_before_ms = 0;
		if (r < 0 || status != 0)
			log_warn(
			    "preloaded disposable %s: its warm-up failed (%s); pausing it anyway",
			    name, r < 0 ? strerror(-r) : "exit status not 0");
		if (virEventAddTimeout(PRELOAD_SETTLE_MS, settled, name, free) >= 0)
			return;
		settled(-1, name);
	}
	free(name);
}

void dispvm_preload_ready(struct daemon *d, struct vm *vm)
{
	static const char *const argv[] = {"true", NULL};

	if (!vm->preload || vm->state != VM_RUNNING)
		return;
	pool_daemon = d;
	/* One command through the same path a user's takes (its channel process, the agent's
	 * fork, user switch and exec, the shell's libraries into the page cache) before it is
	 * paused, as Qubes waits for a preload's system to be up: the first real command then
	 * finds a qube that has run one. */
	char *name = xstrdup(vm->q->name);
	if (qube_exec(d, vm, "", argv, NULL, 0, PRELOAD_WARMUP_MS, warmed_up, name) < 0)
		warmed_up(-EIO, 0, "", 0, name);
}

void dispvm_preload_stopped(struct daemon *d, struct vm *vm)
{
	if (vm->preload) {
		/* It was never taken: it stopped by itself or while it booted. */
		vm->preload = false;
		failures++;
		not_before_ms = monotonic_ms() + 1000ull * preload_backoff_s(failures);
		log_warn("preloaded disposable %s stopped before use; the next preload waits "
			 "%u s",
			 vm->q->name, preload_backoff_s(failures));
	}
	dispvm_preload_schedule(d);
}

/* Whether the host's memory admits one more preload of need_mib (preload-plan.h). A host whose
 * /proc/meminfo cannot be read does not get preloads: they are an optimisation only. */
static bool memory_for_preload(struct daemon *d, unsigned need_mib)
{
	unsigned long long avail_kib;

	if (host_memory_available_kib(&avail_kib) < 0)
		return false;
	return preload_memory_admit(avail_kib, vm_memory_starting_mib(d), need_mib);
}

/* Boots one more preloaded disposable of tmpl. Returns whether one is booting now. */
static bool preload_one(struct daemon *d, struct vm *tmpl)
{
	_cleanup_free_ char *msg = NULL, *err = NULL;
	struct vm *vm = NULL;
	struct vm *root = tmpl->q->template ? daemon_find_vm(d, tmpl->q->template) : NULL;

	/* Its volumes are overlays on the template's: not while those are written to. The
	 * template's stop schedules the next pass. */
	if (tmpl->state != VM_HALTED || (root && root->state != VM_HALTED))
		return false;
	if (!memory_for_preload(d, tmpl->q->memory)) {
		if (!memory_short_logged)
			log_info("not preloading a disposable of %s: the host's memory is short "
				 "(it keeps %llu MiB beyond its reserve for starts users ask for)",
				 tmpl->q->name, PRELOAD_SPARE_MIB);
		memory_short_logged = true;
		return false;
	}
	memory_short_logged = false;
	if (vm_new_disposable(d, tmpl->q->name, &vm, &msg) < 0) {
		log_warn("cannot preload a disposable of %s: %s", tmpl->q->name, msg);
		return false;
	}
	vm->preload = true;
	if (vm_start(d, vm, &err, &msg) < 0) {
		log_warn("cannot preload disposable %s of %s: %s", vm->q->name, tmpl->q->name, msg);
		discard(d, vm, "its start failed");
		failures++;
		not_before_ms = monotonic_ms() + 1000ull * preload_backoff_s(failures);
		return false;
	}
	log_info("preloading disposable %s of %s", vm->q->name, tmpl->q->name);
	return true;
}

/* Brings every pool to what its template asks for: surplus (and orphans of templates that are
 * no disposable templates any more) removed, one more booted when one is missing and none is
 * booting. */
static void pass(int timer, void *opaque)
{
	struct daemon *d = pool_daemon;
	bool booting = false, missing = false;

	(void)timer;
	(void)opaque;
	for (size_t i = d->n_vms; i-- > 0;) {
		if (i >= d->n_vms)
			continue;
		struct vm *vm = d->vms[i];
		if (!vm->preload)
			continue;
		struct vm *t = vm->q->template ? daemon_find_vm(d, vm->q->template) : NULL;
		unsigned have = 0;
		/* Those after it in the registry are kept first: the surplus is the newest. */
		for (size_t j = 0; j < i; j++)
			have += d->vms[j]->preload &&
				streq_ptr(d->vms[j]->q->template, vm->q->template);
		if (!t || have >= wanted(t))
			discard(d, vm,
				t ? "more are preloaded than preload-dispvm-max asks for"
				  : "its template is gone");
		else if (vm->state == VM_TRANSIENT)
			booting = true;
	}
	for (size_t i = 0; i < d->n_vms && !booting; i++) {
		struct vm *t = d->vms[i];
		unsigned want = wanted(t), have = 0;
		if (want == 0)
			continue;
		for (size_t j = 0; j < d->n_vms; j++)
			have += d->vms[j]->preload && streq_ptr(d->vms[j]->q->template, t->q->name);
		if (have >= want)
			continue;
		missing = true;
		if (monotonic_ms() >= not_before_ms)
			booting = preload_one(d, t);
	}
	/* Nothing will wake us when memory frees up or a backoff ends: look again later. */
	if (missing && !booting) {
		uint64_t now = monotonic_ms();
		unsigned ms = not_before_ms > now ? (unsigned)(not_before_ms - now)
						  : PRELOAD_RECHECK_S * 1000;
		virEventUpdateTimeout(pass_timer, (int)ms);
	} else {
		virEventRemoveTimeout(pass_timer);
		pass_timer = -1;
	}
}
