/* Template root revisions in bulkheadd (template-revisions.h): the daemon's side of
 * root-revisions.c, which knows files only. */
#include "template-revisions.h"

#include <sys/stat.h>

#include "daemon.h"
#include "lifecycle.h"
#include "log.h"
#include "qube.h"
#include "root-revisions.h"
#include "util.h"

static char *qube_dir(struct daemon *d, const char *name)
{
	return xasprintf("%s/qubes/%s", d->state_dir, name);
}

static bool exists_in(struct daemon *d, struct vm *vm, const char *file)
{
	_cleanup_free_ char *p = daemon_qube_file(d, vm->q->name, file);
	struct stat st;
	return stat(p, &st) == 0;
}

int template_root_base(struct daemon *d, struct vm *t, char **ret_path, char **ret_msg)
{
	_cleanup_free_ char *dir = qube_dir(d, t->q->name);
	/* Only templates keep revisions; another disposable template's root is its own file. */
	if (t->q->klass != QUBE_TEMPLATEVM) {
		*ret_path = daemon_qube_file(d, t->q->name, "root.qcow2");
		return 0;
	}
	int r = root_rev_current(dir, ret_path);
	if (r < 0)
		*ret_msg = xasprintf("cannot name the root volume of template '%s' for a qube "
				     "based on it: %s",
				     t->q->name, strerror(-r));
	return r;
}

bool template_root_at_rest(struct daemon *d, struct vm *t)
{
	if (t->state == VM_HALTED)
		return true;
	if (t->q->klass != QUBE_TEMPLATEVM)
		return false;
	/* Starting: its copy is being made (or about to be). Running: a template adopted from
	 * a bulkheadd before revisions writes root.qcow2 itself, and has no root-next. */
	return t->state == VM_TRANSIENT || exists_in(d, t, ROOT_NEXT) || exists_in(d, t, ROOT_COPY);
}

/* The files that running qubes based on t read as the base of their root overlays. -EAGAIN
 * when an overlay cannot be read (its start is making it): then nothing is known unused. */
static int root_users(struct daemon *d, struct vm *t, char ***ret, size_t *ret_n)
{
	char **v = NULL;
	size_t n = 0;

	for (size_t i = 0; i < d->n_vms; i++) {
		struct vm *o = d->vms[i];
		if (o == t || o->state == VM_HALTED || vm_root_owner(d, o->q) != t)
			continue;
		_cleanup_free_ char *ov = daemon_qube_file(d, o->q->name, "root-overlay.qcow2");
		char *base = NULL;
		if (qcow2_file_backing(ov, &base) < 0 || !base) {
			for (size_t k = 0; k < n; k++)
				free(v[k]);
			free(v);
			return -EAGAIN;
		}
		v = xrealloc(v, (n + 1) * sizeof(*v));
		v[n++] = base;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

void template_revisions_prune(struct daemon *d, struct vm *t)
{
	if (t->q->klass != QUBE_TEMPLATEVM)
		return;
	_cleanup_free_ char *dir = qube_dir(d, t->q->name);
	char **users = NULL;
	size_t n = 0, deferred = 0;
	int r = root_users(d, t, &users, &n);
	if (r < 0) {
		log_info("template %s: old root revisions are pruned later (a qube based on it is "
			 "starting)",
			 t->q->name);
		return;
	}
	r = root_rev_prune(dir, t->q->revisions_to_keep, (const char *const *)users, n, &deferred);
	if (r < 0)
		log_warn("template %s: cannot prune old root revisions: %s", t->q->name,
			 strerror(-r));
	else if (deferred)
		log_info("template %s: %zu old root revision(s) stay while qubes based on them run",
			 t->q->name, deferred);
	for (size_t i = 0; i < n; i++)
		free(users[i]);
	free(users);
}

void template_revisions_stopped(struct daemon *d, struct vm *vm)
{
	if (vm->q->klass != QUBE_TEMPLATEVM) {
		/* A qube based on a template: the revision it read may be unused now. */
		struct vm *t = vm_root_owner(d, vm->q);
		if (t)
			template_revisions_prune(d, t);
		return;
	}
	_cleanup_free_ char *dir = qube_dir(d, vm->q->name);
	int r = root_rev_commit(dir);
	root_rev_remove_leftovers(dir);
	if (r < 0)
		/* root-next.qcow2 stays: the next start or bulkheadd's next start commits it. */
		log_warn("template %s: cannot make what it wrote its root: %s", vm->q->name,
			 strerror(-r));
	else if (r > 0)
		log_info("template %s: its new root is in place, the previous one a revision",
			 vm->q->name);
	template_revisions_prune(d, vm);
}

void template_revisions_reconcile(struct daemon *d)
{
	for (size_t i = 0; i < d->n_vms; i++) {
		struct vm *t = d->vms[i];
		if (t->q->klass == QUBE_TEMPLATEVM && t->state == VM_HALTED)
			template_revisions_stopped(d, t);
		else
			template_revisions_prune(d, t);
	}
}
