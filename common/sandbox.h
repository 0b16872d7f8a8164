/*
 * Confinement of the host processes that read a qube's bytes (the Wayland proxy's host half,
 * the channel process): entered after they hold the descriptors they need and before they read
 * anything from the qube. One implementation, so the two cannot drift.
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Each qube's host processes run under a uid (and gid) of its own from this range, which no
 * account uses: one compromised process cannot signal or ptrace another qube's. It lies above
 * systemd's container range (524288-1879048191) and below 2^31. */
#define SANDBOX_QUBE_UID_BASE  1879048192u /* 0x70000000 */
#define SANDBOX_QUBE_UID_COUNT 65536u
/* Without a qube uid (tests run by hand): Debian's nobody and nogroup; fixed, since a static
 * binary cannot use NSS. */
#define SANDBOX_NOBODY_UID 65534u

struct sandbox_config {
	int keep_max;		   /* descriptors above this are closed */
	uid_t uid;		   /* taken as uid and gid when started as root */
	unsigned long long fsize;  /* RLIMIT_FSIZE (memfd pools are files) */
	const int *extra_syscalls; /* beyond the common list */
	size_t n_extra;
};

/* Closes every descriptor above keep_max, sets resource limits (no core dumps, no processes),
 * drops to uid when root, sets no_new_privs and installs a seccomp allow list: no open, no
 * socket, no exec; anything else kills the process. Returns 0 or a negative errno; the caller
 * exits on failure. */
int sandbox_enter(const struct sandbox_config *c);

/* Parses a --uid value: a qube uid from the range above, or nobody. */
int sandbox_uid_parse(const char *s, uid_t *ret);
/* The same for a program's --uid option: says what it must be (log_error) when it is not. */
int sandbox_uid_option(const char *s, uid_t *ret);
