/*
 * bulkheadd's shared state. One process, one thread: libvirt's event loop drives everything
 * (the API socket, the qube channels, timers and libvirt's own domain events).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>
#include <libvirt/libvirt.h>

#include "accel.h"
#include "api-request.h"
#include "api.h"
#include "frame.h"
#include "qmsg.h"
#include "log.h"
#include "qube.h"
#include "store.h"

struct client;
struct gui_host;
struct vm;

enum vm_state {
	VM_HALTED,
	VM_TRANSIENT, /* starting: domain created, agent not heard yet */
	VM_RUNNING,
	VM_PAUSED,
	VM_HALTING,
};

const char *vm_state_name(enum vm_state s);

/* A client waiting for a qube: api-waiters.c's, which alone reads the lists. */
struct waiter;
struct vm_listener;
struct backend_listener;

struct rpc_call;

/* A qube's channel process (qchan.c): bulkheadd holds only the message socket to it. */
struct qchan {
	pid_t pid;
	int ctl_fd;
	int watch;
	bool ready; /* the agent said HELLO */
	char agent_version[65];
};

struct vm {
	struct daemon *daemon;
	struct qube *q;
	enum vm_state state;
	struct qchan *chan;
	int start_timer;    /* -1 when none */
	int shutdown_timer; /* -1 when none */
	int connect_timer;  /* retry connecting the channel socket */
	unsigned connect_tries;
	struct waiter *waiters; /* api-waiters.c */
	/* Echo requests in flight, answered in order (api-waiters.c). */
	struct waiter *echo_waiters;
	struct gui_host *gui;	       /* gui.c; NULL until the qube first had a GUI */
	unsigned uid_slot;	       /* its host processes' uid: SANDBOX_QUBE_UID_BASE + slot */
	int respawn_timer;	       /* a dead channel process is replaced once */
	unsigned host_streams;	       /* services and run commands its channel process carries */
	uint64_t start_serial;	       /* the start its volumes are being made for (lifecycle.c) */
	struct log_ratelimit deny_log; /* lines about its refused calls (rpc.c) */
};

struct daemon {
	char *state_dir;
	char *run_dir; /* api.sock and qubes/NAME.sock */
	char *socket_path;
	char *libvirt_uri;
	char *domain_prefix;
	char *images_dir;     /* fetch-kernel.sh, build-template.sh */
	char *agent_path;     /* copied into templates */
	char *gui_control;    /* the compositor's control socket; NULL: no GUI */
	char *wayland_proxy;  /* bulkhead-wayland-proxy: host halves, and copied into templates */
	char *qchan_path;     /* bulkhead-qchan: one per running qube */
	struct qmsg qmsg_buf; /* one message from a channel process, being handled */
	enum accel_mode accel_mode; /* --accel */
	struct accel_choice accel;  /* accel.c: what qubes run under, and why */
	unsigned probe_timeout_ms;  /* --probe-timeout; 0: accel.c's defaults */
	bool vsock; /* the control channel over virtio-vsock instead of virtio-serial */
	virConnectPtr conn;
	int lifecycle_cb;
	/* Who hears of domain events (lifecycle.c) and of what qubes do (api-waiters.c). */
	const struct backend_listener *backend_listener;
	const struct vm_listener *vm_listener;
	struct store *store;
	struct vm **vms;
	size_t n_vms;
	int listen_fd;
	int listen_watch;
	struct client *clients;
	uint64_t client_serial;
	bool quit;
	gid_t admin_gid; /* the `bulkhead` group, or (gid_t)-1 */
	/* RPC between qubes */
	char *policy_dir;
	struct policy_cache *policy;
	struct rpc_call *calls;
	unsigned n_calls;
	unsigned rpc_timeout_s;
	struct prompt *prompts; /* registered `ask` agents */
	/* Entries under qubes/ whose qube.json did not load: left as they are, never deleted,
	 * and a domain of theirs that runs is left running. */
	char **quarantined;
	size_t n_quarantined;
};

/* vm registry (daemon.c) */
struct vm *daemon_find_vm(struct daemon *d, const char *name);
struct vm *daemon_add_vm(struct daemon *d, struct qube *q); /* takes q */
void daemon_remove_vm(struct daemon *d, struct vm *vm);
bool daemon_is_quarantined(struct daemon *d, const char *qube_name);
char *daemon_domain_name(struct daemon *d, const char *qube_name);
char *daemon_channel_path(struct daemon *d, const char *qube_name);
char *daemon_qube_file(struct daemon *d, const char *qube_name, const char *file);

/* api-server.c */
int api_server_start(struct daemon *d);
void api_server_stop(struct daemon *d);
/* An API connection for one admin call a qube made, allowed by the policy: it accepts one
 * request, with exactly this call, dest and argument. */
int api_server_add_bound(struct daemon *d, int fd, const char *call, const char *dest,
			 const char *arg);
/* Takes the client's socket out of the API server (what was queued for it is written first):
 * returns the fd, or -errno. The client is gone afterwards. */
int client_hand_over(struct client *c);
struct client *client_lookup(struct daemon *d, struct client *c, uint64_t serial);
void client_reply_ok(struct client *c, struct json_object *result); /* takes result */
void client_reply_error(struct client *c, const char *error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
uint64_t client_serial(struct client *c);
int client_send_frame(struct client *c, uint16_t type, uint32_t stream, const void *p, size_t len);
void client_close(struct client *c);
void client_enter_events(struct client *c);
void client_enter_prompt(struct client *c);
bool client_is_prompt(struct client *c);
struct client *prompt_find(struct daemon *d);
void client_send_event(struct client *c, struct json_object *o);
void client_set_busy(struct client *c);
void events_emit(struct daemon *d, const char *event, const char *vm, struct json_object *extra);

/* api-calls.c: one table of handlers */
void api_dispatch(struct daemon *d, struct client *c, const struct api_request *req);
/* Continues an admin.vm.Run that waited for its qube to start. */
void api_run_resume(struct daemon *d, struct client *c, struct vm *vm);
/* Per-client state of a pending admin.vm.Run. */
struct run_request {
	char *user;
	char **argv;
};
struct run_request *client_run_request(struct client *c);
void client_set_run_request(struct client *c, struct run_request *rr);
void run_request_free(struct run_request *rr);

/* lifecycle.c */
int vm_start(struct daemon *d, struct vm *vm, char **ret_error_name, char **ret_message);
int vm_shutdown(struct daemon *d, struct vm *vm, bool force, unsigned timeout_s);
int vm_kill(struct daemon *d, struct vm *vm);
void vm_domain_stopped(struct daemon *d, struct vm *vm, const char *reason);
void vm_agent_ready(struct daemon *d, struct vm *vm);
/* Registers lifecycle.c as the backend's listener (before backend_open). */
void lifecycle_init(struct daemon *d);
/* Takes over what runs from before this bulkheadd, and clears what a crash left behind. */
int daemon_reconcile(struct daemon *d);
/* Takes over a domain that runs from before this bulkheadd: Transient, with the start's
 * timeout (qrexec_timeout), until its agent answers the new connection; or Paused. */
void vm_adopt(struct daemon *d, struct vm *vm, bool paused);
int vm_create_disposable(struct daemon *d, const char *dvm_name, struct vm **ret, char **ret_msg);
/* Kills and removes a disposable made for a call, once the event loop is back in control. */
void vm_dispose(struct daemon *d, struct vm *vm);

/* qchan.c: a qube's channel process */
int qchan_connect(struct daemon *d, struct vm *vm);
void qchan_close(struct daemon *d, struct vm *vm);
int qchan_msg(struct daemon *d, struct vm *vm, uint16_t type, uint32_t id, const void *p,
	      size_t len, int fd);
int qchan_msg_strings(struct daemon *d, struct vm *vm, uint16_t type, uint32_t id,
		      const char *const *strs, size_t n, int fd);
/* Hands client_fd (a `bulkhead run` client, already answered) to the qube's channel process,
 * which runs the command and relays it. */
int qchan_exec(struct daemon *d, struct vm *vm, int client_fd, const char *user,
	       const char *const *argv);
bool qchan_ready(const struct vm *vm);
const char *qchan_agent_version(const struct vm *vm);
/* The uid of the qube's host processes (channel process, GUI proxy host half). */
uid_t qchan_qube_uid(struct daemon *d, struct vm *vm);

/* rpc.c: calls between qubes, decided by the policy */
void rpc_call_from_qube(struct daemon *d, struct vm *src, uint32_t stream, const char *target,
			const char *service_arg);
void rpc_caller_ended(struct daemon *d, struct vm *src, uint32_t stream);
void rpc_service_ended(struct daemon *d, struct vm *dst, uint32_t id);
void rpc_target_ready(struct daemon *d, struct vm *vm);
void rpc_vm_gone(struct daemon *d, struct vm *vm);
void rpc_free_all(struct daemon *d);
int rpc_prompt_answer(struct daemon *d, struct client *prompt, uint64_t id, const char *target);
void rpc_prompt_gone(struct daemon *d, struct client *prompt);

/* volume.c: qcow2 files through qemu-img */
int volume_create(const char *path, unsigned long long size_bytes);
int volume_create_overlay(const char *path, const char *backing);
int volume_copy(const char *src, const char *dst);
int volume_resize(const char *path, unsigned long long size_bytes);
int volume_info(const char *path, unsigned long long *ret_size, unsigned long long *ret_usage);
/* The same, run off the event loop: done(0 or -errno, userdata) comes from the loop later; a
 * negative return means it did not start (done is not called). */
typedef void (*volume_done_fn)(int r, void *userdata);
int volume_create_async(const char *path, unsigned long long size_bytes, volume_done_fn done,
			void *userdata);
int volume_create_overlay_async(const char *path, const char *backing, volume_done_fn done,
				void *userdata);
