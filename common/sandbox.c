/* The sandbox of the processes that read a qube's bytes: no file system, no network, no new
 * processes; only the system calls their loops make on descriptors they already hold. */
#include "sandbox.h"

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

#include <errno.h>
#include <grp.h>
#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define MAX_FILES 256

static const int allowed_syscalls[] = {
    SCMP_SYS(read),	     SCMP_SYS(write),	     SCMP_SYS(readv),
    SCMP_SYS(writev),	     SCMP_SYS(pread64),	     SCMP_SYS(recvmsg),
    SCMP_SYS(sendmsg),	     SCMP_SYS(poll),	     SCMP_SYS(ppoll),
    SCMP_SYS(close),	     SCMP_SYS(mmap),	     SCMP_SYS(munmap),
    SCMP_SYS(mremap),	     SCMP_SYS(madvise),	     SCMP_SYS(brk),
    SCMP_SYS(memfd_create),  SCMP_SYS(ftruncate),    SCMP_SYS(fcntl),
    SCMP_SYS(pipe2),	     SCMP_SYS(exit),	     SCMP_SYS(exit_group),
    SCMP_SYS(clock_gettime), SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask),
    SCMP_SYS(getpid),	     SCMP_SYS(gettid),	     SCMP_SYS(tgkill),
    SCMP_SYS(futex),	     SCMP_SYS(getrandom),    SCMP_SYS(restart_syscall),
    SCMP_SYS(fstat),	     SCMP_SYS(newfstatat), /* glibc's fstat */
};

static int install_seccomp(const struct sandbox_config *c)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int r;

	if (!ctx)
		return -ENOMEM;
	/* Every thread, not only the caller: a library may have started threads of its own before
	 * (PipeWire's data loop in the audio host half), and one left out would be unconfined. */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < ARRAY_SIZE(allowed_syscalls); i++) {
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed_syscalls[i], 0);
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < c->n_extra; i++) {
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, c->extra_syscalls[i], 0);
		if (r < 0)
			goto out;
	}
	r = seccomp_load(ctx);
out:
	seccomp_release(ctx);
	return r;
}

int sandbox_uid_parse(const char *s, uid_t *ret)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end ||
	    (v != SANDBOX_NOBODY_UID &&
	     (v < SANDBOX_QUBE_UID_BASE || v >= SANDBOX_QUBE_UID_BASE + SANDBOX_QUBE_UID_COUNT)))
		return -EINVAL;
	*ret = (uid_t)v;
	return 0;
}

int sandbox_uid_option(const char *s, uid_t *ret)
{
	int r = sandbox_uid_parse(s, ret);
	if (r < 0)
		log_error("--uid must be a qube uid (%u..%u) or %u", SANDBOX_QUBE_UID_BASE,
			  SANDBOX_QUBE_UID_BASE + SANDBOX_QUBE_UID_COUNT - 1, SANDBOX_NOBODY_UID);
	return r;
}

int sandbox_enter(const struct sandbox_config *c)
{
	/* Limits: few descriptors, no core dumps, no processes. */
	const struct {
		int resource;
		rlim_t value;
	} limits[] = {
	    {RLIMIT_NOFILE, MAX_FILES}, {RLIMIT_CORE, 0},    {RLIMIT_FSIZE, c->fsize},
	    {RLIMIT_NPROC, 0},		{RLIMIT_MEMLOCK, 0}, {RLIMIT_MSGQUEUE, 0},
	};

#ifdef __SANITIZE_ADDRESS__
	/* Sanitizer builds only: LeakSanitizer's exit-time check needs a thread, ptrace and /proc,
	 * which the confinement below forbids; it checks now instead, and not again at exit. */
	__lsan_do_leak_check();
#endif
	if (close_range((unsigned)c->keep_max + 1, ~0u, 0) < 0)
		return -errno;
	/* Writes to a pipe whose reader left, or past the file size limit, must fail, not kill
	 * us (a log line must never end the process). */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR || signal(SIGXFSZ, SIG_IGN) == SIG_ERR)
		return -errno;
	for (size_t i = 0; i < ARRAY_SIZE(limits); i++) {
		struct rlimit rl = {limits[i].value, limits[i].value};
		if (setrlimit(limits[i].resource, &rl) < 0)
			return -errno;
	}
	if (geteuid() == 0 || getuid() == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(c->uid, c->uid, c->uid) < 0 ||
		    setresuid(c->uid, c->uid, c->uid) < 0)
			return -errno;
		/* Dropped for good: regaining root must fail. */
		if (setresuid(0, 0, 0) == 0)
			return -EPERM;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return -errno;
	return install_seccomp(c);
}
