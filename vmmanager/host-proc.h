/*
 * What the per-qube helper processes of the desktop (the Wayland proxy's host half, gui.c; the
 * audio host half, audio.c) have in common, so each of them is written once:
 *
 *   - host_proc: a child started with exactly the descriptors it is given (fd 3, 4, ...),
 *     watched through a pidfd (reaped by its own pid, never confused with the other programs
 *     bulkheadd waits for), its stdout and stderr logged a line at a time, escaped.
 *   - compositor_request: one request line to the compositor's control socket (control.h),
 *     answered asynchronously with "ok" and a descriptor, or an error; a compositor that does
 *     not answer within COMPOSITOR_REQUEST_MS is a failure, so it never stalls the daemon.
 */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct vm;

#define HOST_PROC_LOG_LINE_MAX 512
#define HOST_PROC_FDS_MAX      4 /* fd 3 .. 3 + HOST_PROC_FDS_MAX - 1 */
#define COMPOSITOR_REQUEST_MS  10000
#define COMPOSITOR_REPLY_MAX   256 /* control.h: lines are at most 256 bytes */

struct host_proc {
	struct vm *vm;
	const char *tag;  /* in its log lines: "qube NAME: TAG: ..." */
	const char *what; /* in ours: "the GUI proxy" */
	/* Called once the child was reaped (si_code, si_status as waitid says; how: in words). */
	void (*exited)(struct host_proc *p, const siginfo_t *si, const char *how);
	pid_t pid; /* 0: none runs */
	int pidfd, pid_watch;
	int err_fd, err_watch;
	char err_line[HOST_PROC_LOG_LINE_MAX];
	size_t err_len;
};

void host_proc_init(struct host_proc *p, struct vm *vm, const char *tag, const char *what,
		    void (*exited)(struct host_proc *p, const siginfo_t *si, const char *how));
/* Starts argv[0] with fds[i] as descriptor 3 + i (and /dev/null, the log pipe as 0, 1, 2),
 * nothing else, default signal dispositions and an empty mask. Takes the descriptors, whatever
 * happens. -errno when it could not start. */
int host_proc_spawn(struct host_proc *p, const char *const argv[], int *fds, size_t n_fds);
/* SIGKILL and reap it now (exited is not called); nothing when none runs. */
void host_proc_kill(struct host_proc *p);
static inline bool host_proc_running(const struct host_proc *p)
{
	return p->pid != 0;
}

/* A unix stream socket connected to path, non-blocking and close-on-exec. */
int host_connect_unix(const char *path, int *ret_fd);

struct compositor_request {
	/* Called once per started request: fd >= 0 (the caller's then) on "ok", else error says
	 * why (printable, for a log line). The request is over before it is called. */
	void (*done)(struct compositor_request *r, int fd, const char *error);
	int ctl_fd, ctl_watch, timer;
	char reply[COMPOSITOR_REPLY_MAX];
	size_t reply_len;
	int fd;
};

void compositor_request_init(struct compositor_request *r,
			     void (*done)(struct compositor_request *r, int fd, const char *error));
/* Sends line (with its newline) to the control socket at control; done is called later, or
 * now when it cannot be sent. */
void compositor_request_start(struct compositor_request *r, const char *control, const char *line);
/* Forgets a pending request without calling done. */
void compositor_request_cancel(struct compositor_request *r);
static inline bool compositor_request_pending(const struct compositor_request *r)
{
	return r->ctl_fd >= 0;
}
