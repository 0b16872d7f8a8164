/* The registry of qubes bulkheadd knows, and where their files and sockets live. */
#include "daemon.h"
#include "gui.h"
#include "util.h"

struct vm *daemon_find_vm(struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->n_vms; i++)
		if (streq(d->vms[i]->q->name, name))
			return d->vms[i];
	return NULL;
}

struct vm *daemon_add_vm(struct daemon *d, struct qube *q)
{
	struct vm *vm = xcalloc(1, sizeof(*vm));
	vm->daemon = d;
	vm->q = q;
	vm->state = VM_HALTED;
	vm->start_timer = vm->shutdown_timer = vm->connect_timer = vm->respawn_timer = -1;
	d->vms = xrealloc(d->vms, (d->n_vms + 1) * sizeof(*d->vms));
	d->vms[d->n_vms++] = vm;
	return vm;
}

void daemon_remove_vm(struct daemon *d, struct vm *vm)
{
	for (size_t i = 0; i < d->n_vms; i++)
		if (d->vms[i] == vm) {
			memmove(&d->vms[i], &d->vms[i + 1], (d->n_vms - i - 1) * sizeof(*d->vms));
			d->n_vms--;
			break;
		}
	qchan_close(d, vm);
	gui_vm_free(d, vm);
	vm_fail_waiters(d, vm, WAIT_START, API_E_NOT_FOUND, "the qube was removed");
	vm_fail_waiters(d, vm, WAIT_RUN, API_E_NOT_FOUND, "the qube was removed");
	vm_fail_waiters(d, vm, WAIT_SHUTDOWN, API_E_NOT_FOUND, "the qube was removed");
	if (vm->start_timer >= 0)
		virEventRemoveTimeout(vm->start_timer);
	if (vm->shutdown_timer >= 0)
		virEventRemoveTimeout(vm->shutdown_timer);
	if (vm->connect_timer >= 0)
		virEventRemoveTimeout(vm->connect_timer);
	qube_free(vm->q);
	free(vm);
}

bool daemon_is_quarantined(struct daemon *d, const char *qube_name)
{
	for (size_t i = 0; i < d->n_quarantined; i++)
		if (streq(d->quarantined[i], qube_name))
			return true;
	return false;
}

char *daemon_domain_name(struct daemon *d, const char *qube_name)
{
	return xasprintf("%s%s", d->domain_prefix, qube_name);
}

char *daemon_channel_path(struct daemon *d, const char *qube_name)
{
	return xasprintf("%s/qubes/%s.sock", d->run_dir, qube_name);
}

char *daemon_qube_file(struct daemon *d, const char *qube_name, const char *file)
{
	return xasprintf("%s/qubes/%s/%s", d->state_dir, qube_name, file);
}
