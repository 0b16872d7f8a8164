/* Confinement of the host half: after it holds the descriptors it needs and before it reads
 * anything from the qube. */
#pragma once

/* Closes every descriptor above keep_max, sets resource limits, drops to nobody/nogroup when
 * root, sets no_new_privs and installs a seccomp allow list (anything else kills the process).
 * Returns 0 or a negative errno; the caller exits on failure. */
int sandbox_enter(int keep_max);
