/*
 * The pool of preloaded disposables (dispvm-preload.c), as Qubes 4.3's preload-dispvm-max: a
 * disposable template with the feature set to N has N of its disposables booted ahead and
 * paused. A call to @dispvm:TEMPLATE or `run --dispvm=TEMPLATE` takes one (resumed, used once,
 * removed after use like any disposable) and a replacement boots in the background.
 *
 * A preloaded disposable is an ordinary call disposable (qube.h call_disposable) plus the
 * runtime mark vm->preload: a crash of bulkheadd removes it as it removes every disposable of a
 * call (daemon_reconcile), and the next bulkheadd boots new ones. One boots at a time; none
 * boots when the host's memory is short (preload-plan.h), and those that wait give their memory
 * up to a start a user asks for.
 */
#pragma once

#include <stdbool.h>

struct daemon;
struct vm;

/* Something the pool depends on changed (a feature or property, a qube stopped, bulkheadd
 * started): the pool is brought to what is asked for from the event loop, soon. */
void dispvm_preload_schedule(struct daemon *d);
/* A preloaded disposable of tmpl's, marked as taken (no longer preloaded) and resumed when it
 * was paused; NULL when none is there. A replacement is scheduled. */
struct vm *dispvm_preload_take(struct daemon *d, struct vm *tmpl);
/* vm's agent said hello: a preloaded disposable is paused now. */
void dispvm_preload_ready(struct daemon *d, struct vm *vm);
/* vm halted (lifecycle.c): a preloaded disposable that never got ready counts as a failed
 * preload, which delays the next one. */
void dispvm_preload_stopped(struct daemon *d, struct vm *vm);
/* Removes (kills, and deletes at once) the preloaded disposables based on qube `name` (their
 * disposable template, or that one's template); all of them when name is NULL. Returns how
 * many went. */
unsigned dispvm_preload_discard_based_on(struct daemon *d, const char *name);
/* Whether vm is a preloaded disposable: such a qube is not for users to run things in. */
bool dispvm_is_preloaded(const struct vm *vm);
