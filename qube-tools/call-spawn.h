/* Starting bulkhead-call from the qube tools. */
#pragma once

#include <sys/types.h>

/* The exit status bulkhead-call gives when the policy refused the call. */
#define CALL_EXIT_REFUSED 126

/* Runs `bulkhead-call TARGET SERVICE` ($BULKHEAD_CALL, else found on PATH). With ret_in, its
 * stdin is a pipe whose write end is returned there (else it inherits ours); with ret_out, its
 * stdout is a pipe whose read end is returned (else it inherits ours). Returns 0 or -errno. */
int call_spawn(const char *target, const char *service, int *ret_in, int *ret_out, pid_t *ret_pid);
/* Waits for the child; returns its exit status, 128 + signal when killed, or -errno. */
int call_wait(pid_t pid);
