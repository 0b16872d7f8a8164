/*
 * Helper programs (qemu-img) run without blocking the event loop: the child's exit is watched
 * through a pidfd and its output through a pipe, both with libvirt's event loop, so one qube's
 * start does not stall the other qubes and the CLI while its volumes are made.
 */
#pragma once

/* Called from the event loop once the program ended: status as spawn_wait's (exit status
 * 0..255, 128+signal), output its stdout+stderr (at most 64 KiB kept; valid during the call). */
typedef void (*spawn_async_done_fn)(int status, const char *output, void *userdata);

/* Starts argv[0] (PATH lookup) with stdin from /dev/null. Returns 0 (done will be called
 * exactly once, later) or -errno (it did not start; done is never called). */
int spawn_async(const char *const *argv, spawn_async_done_fn done, void *userdata);
/* The same with stdin from stdin_fd (the child gets a copy; the caller keeps its own). */
int spawn_async_stdin(const char *const *argv, int stdin_fd, spawn_async_done_fn done,
		      void *userdata);
