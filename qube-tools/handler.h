/* Running the qube's default handler (xdg-open) for the open services. */
#pragma once

#include <stddef.h>

/* Runs `xdg-open arg` (found on PATH) with stdin from /dev/null and its output on our stderr,
 * so the caller's stream stays ours. Returns its exit status (128 + signal when killed), or
 * -ENOENT when there is no xdg-open, or -errno. */
int handler_run(const char *arg);
