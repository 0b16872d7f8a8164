/* The registry of qubes bulkheadd knows, and where their files and sockets live. */
#include "daemon.h"
#include "audio.h"
#include "gui.h"
#include "net.h"
#include "qchan.h"
#include "qube.h"
#include "util.h"
#include "vm-listener.h"

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

unsigned daemon_free_qid(struct daemon *d)
{
	/* A few hundred qubes at most: a linear search per candidate is cheap enough. */
	for (unsigned id = 1; id <= QUBE_QID_MAX; id++) {
		bool used = false;
		for (size_t i = 0; i < d->n_vms && !used; i++)
			used = d->vms[i]->q->qid == id;
		if (!used)
			return id;
	}
	return 0;
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
	audio_vm_free(d, vm);
	net_vm_removed(d, vm);
	vm_report_removed(d, vm);
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

void vm_listener_set(struct daemon *d, const struct vm_listener *l)
{
	d->vm_listener = l;
}

void vm_report_started(struct daemon *d, struct vm *vm)
{
	if (d->vm_listener)
		d->vm_listener->started(d, vm);
}

void vm_report_start_failed(struct daemon *d, struct vm *vm, const char *error, const char *message)
{
	if (d->vm_listener)
		d->vm_listener->start_failed(d, vm, error, message);
}

void vm_report_stopped(struct daemon *d, struct vm *vm)
{
	if (d->vm_listener)
		d->vm_listener->stopped(d, vm);
}

void vm_report_removed(struct daemon *d, struct vm *vm)
{
	if (d->vm_listener)
		d->vm_listener->removed(d, vm);
}

void vm_report_echo_reply(struct daemon *d, struct vm *vm, const uint8_t *data, size_t len)
{
	if (d->vm_listener)
		d->vm_listener->echo_reply(d, vm, data, len);
}

void vm_report_channel_lost(struct daemon *d, struct vm *vm, const char *why)
{
	if (d->vm_listener)
		d->vm_listener->channel_lost(d, vm, why);
}
