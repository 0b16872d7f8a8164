/* admin.vm.Run, Echo and Console: the calls that reach into a running qube (its agent, its
 * channel process, its console). */
#include <fcntl.h>

#include "api-handlers.h"
#include "api-request.h"
#include "api-server.h"
#include "api-util.h"
#include "api-waiters.h"
#include "api.h"
#include "daemon.h"
#include "dispvm-preload.h"
#include "frame.h"
#include "lifecycle.h"
#include "qchan.h"
#include "util.h"

#define CONSOLE_TAIL_DEFAULT (16 * 1024)
#define CONSOLE_TAIL_MAX     (32 * 1024)
/* What one EXEC message to the channel process carries: its flags word, the user, argv. */
#define RUN_ARGV_BYTES_MAX (QMSG_MAX_PAYLOAD - 5)

static void run_now(struct daemon *d, struct client *c, struct vm *vm)
{
	struct run_request *rr = client_run_request(c);
	if (!qchan_ready(vm)) {
		client_reply_error(c, API_E_VM, "cannot run in '%s': its agent is not connected",
				   vm->q->name);
		return;
	}
	/* From here the client talks to the qube's channel process, never to us: the command's
	 * bytes do not pass through root. */
	_cleanup_free_ char *user = xstrdup(rr->user);
	char **argv = TAKE_PTR(rr->argv);
	struct json_object *res = NULL;
	if (vm->dispose_after_run) {
		vm->run_started = true;
		res = json_object_new_object();
		json_object_object_add(res, "name", json_object_new_string(vm->q->name));
	}
	client_reply_ok(c, res);
	int fd = client_hand_over(c);
	int r = fd < 0 ? fd : qchan_exec(d, vm, fd, user, (const char *const *)argv);
	if (r < 0) {
		log_warn("cannot hand a run command to the channel process of %s: %s", vm->q->name,
			 strerror(-r));
		/* A disposable made for it (its caller may have left while it booted) goes. */
		if (vm->dispose_after_run)
			vm_dispose(d, vm);
	}
	for (char **a = argv; a && *a; a++)
		free(*a);
	free(argv);
}

void api_run_resume(struct daemon *d, struct client *c, struct vm *vm)
{
	run_now(d, c, vm);
}

/* The destination of `run --dispvm`, as Qubes writes it: "@dispvm" (the default disposable
 * template) or "@dispvm:TEMPLATE". */
static bool is_dispvm_dest(const char *dest)
{
	return strncmp(dest, "@dispvm", 7) == 0 && (dest[7] == '\0' || dest[7] == ':');
}

/* `run --dispvm`: a new disposable of the template named (or the host's default_dispvm),
 * removed once the command ends, or when it stops. */
static struct vm *new_disposable(struct daemon *d, struct client *c, const struct api_request *req)
{
	const char *dvm =
	    req->dest[7] == ':' && req->dest[8] ? req->dest + 8 : d->host_prefs.default_dispvm;
	_cleanup_free_ char *msg = NULL;
	struct vm *vm = NULL;

	if (!dvm) {
		client_reply_error(
		    c, API_E_VALUE,
		    "no default_dispvm: name a disposable template (--dispvm=NAME) or "
		    "set one (bulkhead prefs dom0 default_dispvm NAME)");
		return NULL;
	}
	int r = vm_create_disposable(d, dvm, &vm, &msg);
	if (r < 0) {
		client_reply_error(c, r == -EINVAL ? API_E_VALUE : API_E_VM, "%s", msg);
		return NULL;
	}
	vm->dispose_after_run = true;
	log_info("disposable %s of %s made for a command", vm->q->name, dvm);
	return vm;
}

void h_run(struct daemon *d, struct client *c, const struct api_request *req)
{
	bool dispvm = is_dispvm_dest(req->dest);
	struct vm *vm = dispvm ? NULL : dest_vm(d, c, req);
	struct json_object *argv;
	size_t bytes = 0;

	if (!dispvm && !vm)
		return;
	if (vm && dispvm_is_preloaded(vm)) {
		/* Used once, by whoever takes it: never a qube to run things in by name. */
		client_reply_error(c, API_E_VALUE,
				   "'%s' is a preloaded disposable; use run --dispvm=%s",
				   vm->q->name, vm->q->template);
		return;
	}
	if (!req->payload || !json_object_object_get_ex(req->payload, "argv", &argv) ||
	    !json_object_is_type(argv, json_type_array) || json_object_array_length(argv) == 0 ||
	    json_object_array_length(argv) > CHAN_MAX_ARGS) {
		client_reply_error(c, API_E_VALUE, "run needs a command (1 to %u arguments)",
				   CHAN_MAX_ARGS);
		return;
	}
	const char *user = payload_str(req, "user");
	struct run_request *rr = xcalloc(1, sizeof(*rr));
	size_t n = json_object_array_length(argv);
	rr->user = xstrdup(user ? user : "");
	rr->argv = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		const char *a = json_object_get_string(json_object_array_get_idx(argv, i));
		rr->argv[i] = xstrdup(a ? a : "");
		bytes += strlen(rr->argv[i]) + 1;
	}
	if (bytes + strlen(rr->user) > RUN_ARGV_BYTES_MAX) {
		run_request_free(rr);
		client_reply_error(c, API_E_VALUE, "the command line is too long");
		return;
	}
	if (dispvm && !(vm = new_disposable(d, c, req))) {
		run_request_free(rr);
		return;
	}
	client_set_run_request(c, rr);

	switch (vm->state) {
	case VM_RUNNING:
		if (qchan_ready(vm)) {
			run_now(d, c, vm);
			return;
		}
		api_wait(vm, WAIT_RUN, c);
		return;
	case VM_TRANSIENT:
		api_wait(vm, WAIT_RUN, c);
		return;
	case VM_HALTED: {
		if (!vm->dispose_after_run && !payload_bool(req, "autostart", true)) {
			client_reply_error(c, API_E_NOT_RUNNING, "'%s' is not running",
					   vm->q->name);
			return;
		}
		_cleanup_free_ char *err = NULL, *msg = NULL;
		if (vm_start(d, vm, &err, &msg) < 0) {
			client_reply_error(c, err, "%s", msg);
			if (vm->dispose_after_run)
				vm_dispose(d, vm);
			return;
		}
		api_wait(vm, WAIT_RUN, c);
		return;
	}
	default:
		client_reply_error(c, API_E_NOT_RUNNING, "'%s' is %s", vm->q->name,
				   vm_state_name(vm->state));
	}
}

void h_echo(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct vm *vm = dest_vm(d, c, req);
	const char *data = payload_str(req, "data");
	if (!vm)
		return;
	if (!qchan_ready(vm) || vm->state != VM_RUNNING) {
		client_reply_error(c, API_E_NOT_RUNNING, "'%s' is not running", vm->q->name);
		return;
	}
	if (!data)
		data = "";
	if (strlen(data) > qmsg_lookup(QMSG_ECHO)->max_len) {
		client_reply_error(c, API_E_VALUE, "echo data is limited to %u bytes",
				   qmsg_lookup(QMSG_ECHO)->max_len);
		return;
	}
	if (qchan_msg(d, vm, QMSG_ECHO, 0, data, strlen(data), -1) < 0) {
		client_reply_error(c, API_E_VM, "cannot reach the agent of '%s'", vm->q->name);
		return;
	}
	api_wait(vm, WAIT_ECHO, c);
}

void h_console(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct vm *vm = dest_vm(d, c, req);
	if (!vm)
		return;
	int64_t tail = payload_int(req, "tail", CONSOLE_TAIL_DEFAULT);
	if (tail <= 0 || tail > CONSOLE_TAIL_MAX)
		tail = CONSOLE_TAIL_MAX;
	_cleanup_free_ char *path = daemon_qube_file(d, vm->q->name, "console.log");
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		client_reply_ok(c, json_object_new_object());
		return;
	}
	off_t end = lseek(fd, 0, SEEK_END);
	off_t start = end > tail ? end - tail : 0;
	_cleanup_free_ char *buf = xmalloc((size_t)tail + 1);
	ssize_t n = pread(fd, buf, (size_t)tail, start);
	if (n < 0)
		n = 0;
	/* The console is the qube's output: keep printable text only. */
	for (ssize_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)buf[i];
		if ((ch < 0x20 && ch != '\n' && ch != '\t') || ch >= 0x7f)
			buf[i] = '?';
	}
	struct json_object *res = json_object_new_object();
	json_object_object_add(res, "log", json_object_new_string_len(buf, (int)n));
	client_reply_ok(c, res);
}
