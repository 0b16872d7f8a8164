/* Running helper programs (qemu-img, image scripts) without a shell. */
#pragma once

#include <stddef.h>

/* Runs argv[0] (PATH lookup) with stdin from /dev/null, waits, and collects stdout+stderr
 * (at most 64 KiB kept) in *ret_output when non-NULL. Returns the exit status (0..255),
 * 128+signal for a signal, or -errno when it could not run at all. */
int spawn_wait(const char *const *argv, char **ret_output);
