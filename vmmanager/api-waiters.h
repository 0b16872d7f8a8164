/* Clients waiting for something a qube does (api-waiters.c): the API layer's side of
 * vm-listener.h. */
#pragma once

struct client;
struct daemon;
struct vm;

enum waiter_kind { WAIT_START, WAIT_SHUTDOWN, WAIT_RUN, WAIT_ECHO, WAIT_APPS };

/* c waits until vm has started (or its start failed), halted, is ready to run c's command, or
 * answered c's echo; it is answered then, if it is still there. */
void api_wait(struct vm *vm, enum waiter_kind kind, struct client *c);
/* Registers the listener that answers them (before anything can start or stop a qube). */
void api_waiters_init(struct daemon *d);
