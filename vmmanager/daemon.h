/*
 * bulkheadd's shared state: struct daemon, struct vm and the registry of qubes (daemon.c).
 * One process, one thread: libvirt's event loop drives everything (the API socket, the qube
 * channels, timers and libvirt's own domain events). What each part does is in its own header
 * (api-server.h, lifecycle.h, qchan.h, rpc.h, backend.h, volume.h, ...).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <libvirt/libvirt.h>

#include "accel.h"
#include "host-prefs.h"
#include "log.h"
#include "qmsg.h"

struct audio_host;	 /* audio.c */
struct backend_listener; /* backend.h */
struct client;		 /* api-server.c */
struct gui_host;	 /* gui.c */
struct net_state;	 /* net.c */
struct policy_cache;	 /* rpc-policy.c */
struct prompt;		 /* d->prompts, which nothing uses */
struct qchan;		 /* qchan.c */
struct qube;		 /* qube.h */
struct rpc_call;	 /* rpc.c */
struct host_ask;	 /* rpc.c */
struct store;		 /* store.h */
struct vm_listener;	 /* vm-listener.h */
struct waiter;		 /* api-waiters.c, which alone reads the lists */
struct vm;

enum vm_state {
	VM_HALTED,
	VM_TRANSIENT, /* starting: domain created, agent not heard yet */
	VM_RUNNING,
	VM_PAUSED,
	VM_HALTING,
};

const char *vm_state_name(enum vm_state s);

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
	struct audio_host *audio;      /* audio.c; NULL until the qube first had sound */
	unsigned uid_slot;	       /* its host processes' uid: SANDBOX_QUBE_UID_BASE + slot */
	int respawn_timer;	       /* a dead channel process is replaced once */
	unsigned host_streams;	       /* services and run commands its channel process carries */
	bool dispose_after_run;	       /* made by `run --dispvm`: removed once its command ends */
	bool run_started;	       /* that command was handed to its channel process */
	uint64_t start_serial;	       /* the start its volumes are being made for (lifecycle.c) */
	struct log_ratelimit deny_log; /* lines about its refused calls (rpc.c) */
	/* A preloaded disposable nobody took yet (dispvm-preload.h). */
	bool preload;
	bool apps_syncing; /* a `bulkhead apps --sync` is under way (appmenu-sync.c) */
	/* Swap in use, as its agent last said (CHAN_MEMINFO; 0 until it does), at most
	 * MEMINFO_SWAP_MAX_KIB. */
	uint64_t swap_used_kib;
};

#define MEMINFO_SWAP_MAX_KIB (1ull << 40)

struct daemon {
	char *state_dir;
	char *run_dir; /* api.sock and qubes/NAME.sock */
	char *socket_path;
	char *libvirt_uri;
	char *domain_prefix;
	char *images_dir;	/* fetch-kernel.sh, build-template.sh */
	char *agent_path;	/* copied into templates */
	char *gui_control;	/* the compositor's control socket; NULL: no GUI */
	bool gui_control_fixed; /* from --gui-control: no compositor registers (gui.h) */
	unsigned gui_session;	/* counts registrations of compositors */
	char *wayland_proxy;	/* bulkhead-wayland-proxy: host halves, and copied into templates */
	char *qchan_path;	/* bulkhead-qchan: one per running qube */
	char *audio_host;	/* bulkhead-audio-host: one per running qube with sound */
	struct vm *audio_mic;	/* the qube holding the microphone grant (audio.h), or NULL */
	bool audio_absent_logged, audio_no_compositor_logged;
	char *icon_convert;	       /* bulkhead-icon-convert: one per icon a qube sends */
	char *uplink_netns;	       /* --uplink-netns: where sys-net's passt runs; NULL: ours */
	unsigned net_apply_timeout_ms; /* a qube's bulkhead-net-apply run longer is given up */
	struct qmsg qmsg_buf;	       /* one message from a channel process, being handled */
	enum accel_mode accel_mode;    /* --accel */
	struct accel_choice accel;     /* accel.c: what qubes run under, and why */
	unsigned probe_timeout_ms;     /* --probe-timeout; 0: accel.c's defaults */
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
	struct host_ask *host_asks; /* the host's own questions to the prompt (rpc_host_ask) */
	unsigned n_calls;
	unsigned rpc_timeout_s;
	struct prompt *prompts; /* registered `ask` agents */
	/* Entries under qubes/ whose qube.json did not load: left as they are, never deleted,
	 * and a domain of theirs that runs is left running. */
	char **quarantined;
	size_t n_quarantined;
	struct host_prefs host_prefs; /* host-wide settings (host.json) */
	struct net_state *net;	      /* links and what qubes were told (net.c) */
	bool memory_balance_off;      /* --memory-balance off: qubes keep their start memory */
	unsigned long long memory_reserve_mib; /* --memory-reserve: what the host keeps */
	struct balancer *balancer;	       /* balancer.c; NULL while it does not run */
};

/* vm registry (daemon.c) */
struct vm *daemon_find_vm(struct daemon *d, const char *name);
struct vm *daemon_add_vm(struct daemon *d, struct qube *q); /* takes q */
/* The lowest qid no known qube has (qube.h), for a qube being made; 0 when all are taken. */
unsigned daemon_free_qid(struct daemon *d);
void daemon_remove_vm(struct daemon *d, struct vm *vm);
bool daemon_is_quarantined(struct daemon *d, const char *qube_name);
char *daemon_domain_name(struct daemon *d, const char *qube_name);
char *daemon_channel_path(struct daemon *d, const char *qube_name);
char *daemon_qube_file(struct daemon *d, const char *qube_name, const char *file);
