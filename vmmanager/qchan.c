/*
 * A qube's control channel, seen from bulkheadd: it connects to the channel socket and hands it
 * to the qube's channel process (bulkhead-qchan, under the qube's own uid, confined) before a
 * byte is read. From then on bulkheadd only exchanges common/qmsg.h messages with that process,
 * each checked against the message table and again here, field by field, before it acts.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <linux/vm_sockets.h>

#include "backend.h"
#include "daemon.h"
#include "frame.h"
#include "lifecycle.h"
#include "log.h"
#include "qchan-check.h"
#include "qchan.h"
#include "qmsg.h"
#include "rpc.h"
#include "sandbox.h"
#include "unaligned.h"
#include "util.h"
#include "vm-listener.h"

/* A qube's channel process (qchan.c): bulkheadd holds only the message socket to it. */
struct qchan {
	pid_t pid;
	int ctl_fd;
	int watch;
	bool ready; /* the agent said HELLO */
	char agent_version[65];
};

#define CONNECT_RETRY_MS 100
#define CONNECT_TRIES	 100
/* A channel process that died is replaced once per this long, at most. */
#define RESPAWN_DELAY_MS 1000

static void qchan_io(int watch, int fd, int events, void *opaque);

uid_t qchan_qube_uid(struct daemon *d, struct vm *vm)
{
	if (vm->uid_slot == 0) {
		/* The lowest slot no other qube holds; slots are 1-based so 0 means none. */
		for (unsigned s = 1; s < SANDBOX_QUBE_UID_COUNT && !vm->uid_slot; s++) {
			bool used = false;
			for (size_t i = 0; i < d->n_vms && !used; i++)
				used = d->vms[i]->uid_slot == s;
			if (!used)
				vm->uid_slot = s;
		}
	}
	return (uid_t)(SANDBOX_QUBE_UID_BASE + vm->uid_slot);
}

static int spawn_child(struct daemon *d, struct vm *vm, int chan_fd, int ctl_fd, pid_t *ret)
{
	char uid[16];
	snprintf(uid, sizeof(uid), "%u", (unsigned)qchan_qube_uid(d, vm));
	const char *argv[] = {d->qchan_path, "--qube", vm->q->name, "--uid", uid, NULL};
	pid_t parent = getpid();

	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* It must not outlive us: a new bulkheadd starts its own. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(127);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(2, 1) < 0 ||
		    dup2(chan_fd, QCHAN_FD_CHANNEL) < 0 || dup2(ctl_fd, QCHAN_FD_CONTROL) < 0)
			_exit(127);
		close_range(QCHAN_FD_CONTROL + 1, ~0u, 0);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	*ret = pid;
	return 0;
}

/* vsock: the agent listens on AGENT_VSOCK_PORT in the qube; connect to the CID libvirt chose. */
static int open_vsock(struct daemon *d, struct vm *vm)
{
	unsigned cid;
	int r = backend_vsock_cid(d, vm->q->name, &cid);
	if (r < 0)
		return r;
	struct sockaddr_vm sa = {.svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = 5000};
	_cleanup_close_ int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Blocking: a vsock connect is answered at once, with a refusal while nobody listens. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	return TAKE_FD(fd);
}

static int open_unix(struct daemon *d, struct vm *vm)
{
	_cleanup_free_ char *path = daemon_channel_path(d, vm->q->name);
	_cleanup_close_ int fd = -1;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	return TAKE_FD(fd);
}

static int qchan_try_connect(struct daemon *d, struct vm *vm)
{
	_cleanup_close_ int fd = d->vsock ? open_vsock(d, vm) : open_unix(d, vm);
	_cleanup_close_ int ctl = -1, child_ctl = -1;
	int sv[2];
	pid_t pid = -1;

	if (fd < 0)
		return fd;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	ctl = sv[0];
	child_ctl = sv[1];
	int r = spawn_child(d, vm, fd, child_ctl, &pid);
	if (r < 0) {
		log_error("qube %s: cannot start %s: %s", vm->q->name, d->qchan_path, strerror(-r));
		return r;
	}
	if (fcntl(ctl, F_SETFL, O_NONBLOCK) < 0)
		return -errno;
	struct qchan *ch = xcalloc(1, sizeof(*ch));
	ch->pid = pid;
	ch->ctl_fd = TAKE_FD(ctl);
	ch->watch = virEventAddHandle(ch->ctl_fd, VIR_EVENT_HANDLE_READABLE, qchan_io, vm, NULL);
	vm->chan = ch;
	log_debug("qube %s: channel process %d (uid %u)", vm->q->name, (int)pid,
		  (unsigned)qchan_qube_uid(d, vm));
	return 0;
}

static void connect_retry(int timer, void *opaque)
{
	struct vm *vm = opaque;

	if (vm->chan || vm->state == VM_HALTED) {
		virEventRemoveTimeout(timer);
		vm->connect_timer = -1;
		return;
	}
	/* Over vsock the agent answers only once the qube has booted: keep trying while the
	 * start timer runs. The virtio-serial socket exists as soon as QEMU does. */
	bool patient = vm->daemon->vsock && vm->state == VM_TRANSIENT;
	if (qchan_try_connect(vm->daemon, vm) == 0 ||
	    (++vm->connect_tries >= CONNECT_TRIES && !patient)) {
		virEventRemoveTimeout(timer);
		vm->connect_timer = -1;
	}
}

/* QEMU listens on the socket as soon as the domain exists; retry briefly in case it lags. */
int qchan_connect(struct daemon *d, struct vm *vm)
{
	if (vm->chan)
		return 0;
	int r = qchan_try_connect(d, vm);
	if (r == 0)
		return 0;
	if (vm->connect_timer < 0) {
		vm->connect_tries = 0;
		vm->connect_timer = virEventAddTimeout(CONNECT_RETRY_MS, connect_retry, vm, NULL);
	}
	return r;
}

/* Ends the channel process and everything that ran through it. */
static void qchan_end(struct daemon *d, struct vm *vm, const char *why)
{
	struct qchan *ch = vm->chan;
	if (!ch)
		return;
	/* The other side of each of its calls learns it from bulkheadd first (with the reason),
	 * then from its socket. */
	vm->chan = NULL;
	rpc_vm_gone(d, vm);
	vm_report_channel_lost(d, vm, why);
	if (ch->watch >= 0)
		virEventRemoveHandle(ch->watch);
	close(ch->ctl_fd);
	kill(ch->pid, SIGKILL);
	int status = 0;
	while (waitpid(ch->pid, &status, 0) < 0 && errno == EINTR)
		;
	free(ch);
	vm->host_streams = 0;
	/* A new channel (a restart, a respawn) starts from what its agent says next. */
	vm->swap_used_kib = 0;
}

void qchan_close(struct daemon *d, struct vm *vm)
{
	if (vm->respawn_timer >= 0) {
		virEventRemoveTimeout(vm->respawn_timer);
		vm->respawn_timer = -1;
	}
	qchan_end(d, vm, "the qube's channel closed");
}

static void respawn(int timer, void *opaque)
{
	struct vm *vm = opaque;
	virEventRemoveTimeout(timer);
	vm->respawn_timer = -1;
	if (vm->state == VM_RUNNING || vm->state == VM_TRANSIENT || vm->state == VM_HALTING)
		qchan_connect(vm->daemon, vm);
}

/* The channel process ended or must end: only this qube's channel is reset, and connected
 * again once (a new process, a new HELLO; the agent resets its side too). */
static void qchan_died(struct daemon *d, struct vm *vm, const char *why)
{
	log_warn("qube %s: its channel process %s; resetting the channel", vm->q->name, why);
	qchan_end(d, vm, "the qube's channel was reset");
	if (vm->respawn_timer < 0)
		vm->respawn_timer = virEventAddTimeout(RESPAWN_DELAY_MS, respawn, vm, NULL);
}

int qchan_msg(struct daemon *d, struct vm *vm, uint16_t type, uint32_t id, const void *p,
	      size_t len, int fd)
{
	if (!vm->chan)
		return -ENOTCONN;
	int r = qmsg_send(vm->chan->ctl_fd, type, id, p, len, fd);
	if (r == -EAGAIN) {
		/* A channel process that does not read its messages is stuck or hostile. */
		qchan_died(d, vm, "does not read its messages");
		return -ENOTCONN;
	}
	return r;
}

int qchan_msg_strings(struct daemon *d, struct vm *vm, uint16_t type, uint32_t id,
		      const char *const *strs, size_t n, int fd)
{
	uint8_t buf[4 * (CHAN_STRING_MAX + 1)];
	size_t len;
	if (n > 4 || chan_strings_encode(strs, n, buf, sizeof(buf), &len) < 0)
		return -EINVAL;
	return qchan_msg(d, vm, type, id, buf, len, fd);
}

static void handle_msg(struct daemon *d, struct vm *vm, struct qmsg *m)
{
	struct qchan *ch = vm->chan;
	const char *bad = qchan_msg_check(m);

	if (bad) {
		_cleanup_free_ char *why = xasprintf("sent %s", bad);
		qchan_died(d, vm, why);
		return;
	}
	switch (m->type) {
	case QMSG_READY:
		if (ch->ready)
			return;
		snprintf(ch->agent_version, sizeof(ch->agent_version), "%s", m->str[0]);
		ch->ready = true;
		vm_agent_ready(d, vm);
		return;
	case QMSG_CALL:
		rpc_call_from_qube(d, vm, m->id, m->str[0], m->str[1]);
		return;
	case QMSG_CALL_END:
		rpc_caller_ended(d, vm, m->id);
		return;
	case QMSG_SERVICE_END:
		rpc_service_ended(d, vm, m->id);
		return;
	case QMSG_EXEC_END:
		if (vm->host_streams > 0)
			vm->host_streams--;
		/* A disposable made for one command goes once nothing runs in it any more (a
		 * network configuration may outlast the command). */
		if (vm->dispose_after_run && vm->run_started && vm->host_streams == 0) {
			log_info("the command in the disposable %s ended", vm->q->name);
			vm_dispose(d, vm);
			return;
		}
		rpc_target_ready(d, vm);
		return;
	case QMSG_ECHO_REPLY:
		vm_report_echo_reply(d, vm, m->payload, m->len);
		return;
	case QMSG_MEMINFO:
		/* Only ever added to this qube's own use, whose wish the balancer keeps within
		 * its memory and maxmem: the cap here only keeps the sum from overflowing. */
		vm->swap_used_kib = unaligned_read_le64(m->payload);
		if (vm->swap_used_kib > MEMINFO_SWAP_MAX_KIB)
			vm->swap_used_kib = MEMINFO_SWAP_MAX_KIB;
		return;
	default:
		return;
	}
}

static void qchan_io(int watch, int fd, int events, void *opaque)
{
	struct vm *vm = opaque;
	struct daemon *d = vm->daemon;
	/* A bounded number per wake-up, so one qube cannot starve the others. */
	for (int i = 0; i < 64 && vm->chan; i++) {
		int r = qmsg_recv(vm->chan->ctl_fd, QMSG_TO_PARENT, &d->qmsg_buf);
		if (r == -EAGAIN)
			return;
		if (r == -EPIPE) {
			qchan_died(d, vm, "exited");
			return;
		}
		if (r < 0) {
			qchan_died(d, vm, "sent a malformed message");
			return;
		}
		if (d->qmsg_buf.fd >= 0)
			close(d->qmsg_buf.fd);
		handle_msg(d, vm, &d->qmsg_buf);
	}
}

int qchan_exec(struct daemon *d, struct vm *vm, int client_fd, const char *user,
	       const char *const *argv)
{
	_cleanup_free_ uint8_t *payload = NULL;
	size_t len;

	if (!vm->chan || !vm->chan->ready)
		return -ENOTCONN;
	int r = chan_exec_encode(user, argv, &payload, &len);
	if (r < 0)
		return r;
	if (len > QMSG_MAX_PAYLOAD)
		return -E2BIG;
	r = qchan_msg(d, vm, QMSG_EXEC, 0, payload, len, client_fd);
	if (r >= 0)
		vm->host_streams++;
	return r;
}

bool qchan_ready(const struct vm *vm)
{
	return vm->chan && vm->chan->ready;
}

const char *qchan_agent_version(const struct vm *vm)
{
	return vm->chan ? vm->chan->agent_version : "";
}
