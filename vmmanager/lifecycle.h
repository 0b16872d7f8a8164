/* Starting and stopping qubes (lifecycle.c): what the API asks for, what the backend and the
 * channel report. Outcomes go up through vm-listener.h, never as API replies. */
#pragma once

#include <stdbool.h>

struct daemon;
struct qube;
struct vm;

int vm_start(struct daemon *d, struct vm *vm, char **ret_error_name, char **ret_message);
int vm_shutdown(struct daemon *d, struct vm *vm, bool force, unsigned timeout_s);
int vm_kill(struct daemon *d, struct vm *vm);
/* The qube's agent said hello (qchan.c). */
void vm_agent_ready(struct daemon *d, struct vm *vm);
/* Registers lifecycle.c as the backend's listener (before backend_open). */
void lifecycle_init(struct daemon *d);
/* Takes over what runs from before this bulkheadd, and clears what a crash left behind. */
int daemon_reconcile(struct daemon *d);
/* A disposable of dvm_name for one call: a preloaded one (dispvm-preload.h), else a new one. */
int vm_create_disposable(struct daemon *d, const char *dvm_name, struct vm **ret, char **ret_msg);
/* Whose root.qcow2 q's root overlay is based on (its template; a DispVM's: that of its
 * disposable template), or NULL: its own root or none. */
struct vm *vm_root_owner(struct daemon *d, const struct qube *q);
/* Always a new one (halted). */
int vm_new_disposable(struct daemon *d, const char *dvm_name, struct vm **ret, char **ret_msg);
/* Kills and removes a disposable made for a call, once the event loop is back in control. */
void vm_dispose(struct daemon *d, struct vm *vm);

/* The memory of qubes still booting (MiB): their QEMU has not touched it, so MemAvailable does
 * not show it as used yet. */
unsigned long long vm_memory_starting_mib(struct daemon *d);
