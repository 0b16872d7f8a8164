/*
 * bulkheadd itself runs a command in a qube, as `bulkhead run` does (the qube's channel process
 * carries it), with given bytes on its stdin, and collects its stdout, without blocking the
 * event loop. What comes back is the qube's: stdout is capped (more ends the command and
 * counts as a failure), stderr is dropped, and a command that runs too long is given up.
 */
#pragma once

#include <stddef.h>

struct daemon;
struct vm;

#define QUBE_EXEC_STDIN_MAX  (256 * 1024) /* CHAN_INITIAL_WINDOW: no grant to wait for */
#define QUBE_EXEC_STDOUT_MAX (64 * 1024)

/* Called once from the event loop: r is 0 when the command ran to its end (status its exit
 * code, or 128+signal), or -errno (-EPIPE: the channel went away, -EMSGSIZE: more output than
 * the cap, -EBADMSG: a broken frame, -ETIMEDOUT: it ran past its time); out is its stdout,
 * NUL-terminated (valid during the call;
 * "" when r < 0). */
typedef void (*qube_exec_done_fn)(int r, int status, const char *out, size_t out_len,
				  void *userdata);

/* Starts argv in vm as user ("root", "" for the qube's default user) with input on its stdin
 * (at most 256 KiB, the stream's first window); it is given up (its stream closed) after
 * timeout_ms. Returns 0 (done is called exactly once, later) or -errno (nothing started, done
 * is never called). */
int qube_exec(struct daemon *d, struct vm *vm, const char *user, const char *const *argv,
	      const void *input, size_t input_len, unsigned timeout_ms, qube_exec_done_fn done,
	      void *userdata);
