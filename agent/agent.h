/* bulkhead-agent: runs commands inside a qube for bulkheadd over the control port. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <poll.h>
#include <sys/types.h>

#include "audio-proto.h"
#include "frame.h"

/* Cap on queued output to the host; data reads stop well below it so control replies
 * (ECHO_REPLY, WINDOW, EXIT) always fit. */
#define AGENT_OUTBUF_LIMIT     (4u * 1024u * 1024u)
#define AGENT_OUTBUF_DATA_HIGH (2u * 1024u * 1024u) /* stop reading children above this */
#define AGENT_OUTBUF_IN_HIGH   (3u * 1024u * 1024u) /* stop reading the port above this */
#define AGENT_PORT_NAME	       "org.bulkhead.control"
#define AGENT_RETRY_MS	       100

struct exec_opts;

struct stream {
	uint32_t id;
	pid_t pid; /* 0 once reaped */
	int in_fd, out_fd, err_fd, status_fd;
	/* stdin bytes received from the host, not yet written to the child */
	uint8_t *inbuf;
	size_t in_len;
	uint32_t in_avail;   /* bytes the host may still send (its window) */
	bool in_eof;	     /* host sent EOF: close the pipe once inbuf is drained */
	bool in_broken;	     /* child closed its stdin: discard and grant back */
	uint64_t out_window; /* bytes of STDOUT+STDERR we may still send */
	bool exited;
	uint32_t exit_kind;
	int32_t exit_value;
	char *argv0; /* for the exec failure message */
	char *user;
};

/* A resolved user account, looked up without NSS. */
struct agent_user {
	char *name;
	uid_t uid;
	gid_t gid;
	char *home;
	char *shell;
	gid_t *groups; /* supplementary groups, including gid */
	size_t n_groups;
};

/* Calls from programs in the qube that may be in flight at once. */
#define AGENT_RPC_CLIENTS 128u
#define AGENT_RPC_SOCKET  "/run/bulkhead-agent.sock"
#define AGENT_RPC_DIR	  "/etc/bulkhead/rpc"

struct rpc_client;
struct port_child;

/* Helper programs kept running beside the agent: the GUI's and the audio guest halves. */
#define AGENT_PORT_CHILDREN 2

enum port_mode { PORT_SCAN, PORT_DEVICE, PORT_FD, PORT_VSOCK };

/* The vsock port the agent listens on when the host uses vsock instead of virtio-serial. */
#define AGENT_VSOCK_PORT 5000u

struct agent {
	enum port_mode mode;
	const char *device; /* --device, or NULL */
	int port_fd;
	int listen_fd;	     /* PORT_VSOCK: the listening socket */
	unsigned vsock_port; /* PORT_VSOCK */
	bool connected;
	bool desynced;	    /* framing error: input is discarded until the host reconnects */
	bool reset_pending; /* the host stopped reading: drop state like on a disconnect */
	bool pid1;
	bool port_missing_logged;
	int sig_fd;
	struct chan_decoder *dec;
	struct chan_outbuf out;
	struct stream *streams[CHAN_MAX_STREAMS];
	const char *passwd_path, *group_path;
	/* RPC: local callers, the directory of services */
	const char *rpc_socket; /* "" to disable */
	const char *rpc_dir;
	int rpc_listen_fd;
	struct rpc_client *rpc_clients[AGENT_RPC_CLIENTS];
	uint32_t rpc_next;
	uint32_t date_stream; /* our own bulkhead.GetDate call, 0 when none */
	struct port_child *children[AGENT_PORT_CHILDREN]; /* as a qube's init */
	size_t n_children;
};

/* main.c: queue a frame for the host; a full queue means the host is not reading at all. */
void agent_send(struct agent *a, uint16_t type, uint32_t stream, const void *payload, size_t len);

/* stream.c */
struct stream *stream_find(struct agent *a, uint32_t id);
size_t stream_count(const struct agent *a);
/* Starts a command for a new stream; failures are reported on the stream (STDERR, EXIT). */
void stream_exec(struct agent *a, uint32_t id, const char *user, char *const *argv);
void stream_exec_opts(struct agent *a, uint32_t id, const char *user, char *const *argv,
		      const struct exec_opts *opts);
/* Fails a stream that never got a process: message on STDERR, EOFs, EXIT with code. */
void stream_fail(struct agent *a, uint32_t id, int code, const char *msg);
/* -EPROTO when the host sent past its window. */
int stream_stdin(struct agent *a, struct stream *s, const uint8_t *data, size_t len);
void stream_window(struct stream *s, uint32_t n);
void stream_signal(struct stream *s, int sig);
/* Kills every command's process group and forgets all streams. */
void stream_drop_all(struct agent *a);
/* Reaps exited children (and, as PID 1, orphans). */
void stream_reap(struct agent *a);
/* Adds the stream fds to poll, with a tag per entry for stream_poll_handle. */
struct poll_tag {
	uint32_t slot, id;
	int which;
};
void stream_poll_fill(struct agent *a, struct pollfd *pfd, struct poll_tag *tags, size_t *n);
void stream_poll_handle(struct agent *a, const struct pollfd *pfd, const struct poll_tag *tag);
/* Sends EOF and EXIT for every stream whose command exited and whose output was sent. */
void stream_finish_done(struct agent *a);

/* user.c */
int user_lookup(const char *passwd_path, const char *group_path, const char *name,
		struct agent_user *ret);
void user_done(struct agent_user *u);

/* exec.c: forks the command of stream s; fills its pid and fds. */
struct exec_opts {
	char *const *env; /* extra "KEY=VALUE" entries, NULL-terminated, or NULL */
	/* Instead of exec: connect to this unix socket service, send header (with its NUL)
	 * and relay stdin and stdout to it. */
	const char *socket_path;
	const char *socket_header;
};
int exec_spawn(struct stream *s, const struct agent_user *u, char *const *argv,
	       const struct exec_opts *opts);
/* In a child, as root: becomes u (groups, gid, uid) and goes to its home (or /). -errno. */
int exec_become_user(const struct agent_user *u);
/* In a child: the environment a command run as u gets (HOME, USER, LOGNAME, SHELL, PATH, LANG,
 * and XDG_RUNTIME_DIR unless runtime_dir is NULL) in place of ours. -ENOMEM. */
int exec_user_env(const struct agent_user *u, const char *runtime_dir);
/* Child-to-parent report when setup or exec fails, sent over the CLOEXEC status pipe. */
struct exec_status {
	int32_t stage; /* EXEC_STAGE_* */
	int32_t err;
};
enum { EXEC_STAGE_USER = 1, EXEC_STAGE_EXEC = 2 };

/* port.c: the /dev node of the virtio-serial port named port_name */
int port_find(const char *sysfs_dir, const char *port_name, char **ret_dev);
int port_open(const char *path);
/* 1 when the host end is connected, 0 when not, -errno on error. */
int port_connected(int fd);
/* vsock.c: the channel as a vsock stream the host connects to. */
int vsock_listen(unsigned port);
int vsock_accept(int listen_fd);
/* Whether the kernel command line asks for the vsock channel (bulkhead.channel=vsock). */
bool vsock_requested(const char *cmdline_path);

/* rpc-local.c: the socket `bulkhead-call` connects to */
int rpc_local_listen(struct agent *a);
void rpc_local_poll_fill(struct agent *a, struct pollfd *pfd, size_t *n, size_t *ret_first);
void rpc_local_poll_handle(struct agent *a, const struct pollfd *pfd);
/* A frame from the host on a stream we opened (CHAN_STREAM_QUBE set). */
void rpc_local_from_host(struct agent *a, const struct chan_frame *f);
void rpc_local_host_gone(struct agent *a);
void rpc_local_get_date(struct agent *a);

/* port-child.c: a helper program kept running while the qube has a virtio-serial port. The
 * port is looked for (for a while after boot) and linked at `link`; the program is started,
 * watched through a pidfd, and restarted when it exits (after 1 s, doubling to 30 s, anew once
 * it ran for a minute). */
struct port_child_ops {
	const char *what;	    /* for log lines: "the Wayland proxy" */
	const char *started_detail; /* appended to the "started" line, or NULL */
	const char *port_name;	    /* the port's virtio-serial name */
	const char *link;	    /* /dev/virtio-ports/NAME */
	bool wait_for_host;	    /* start only while bulkheadd holds the host end */
	/* In the agent before each start: 0 to start, -errno (after logging why) to give up for
	 * good. May be NULL. */
	int (*prepare)(void);
	/* In the child, signals and session reset, stdin /dev/null, stdout and stderr the
	 * agent's: execs, or _exit()s. */
	void (*run)(void);
	/* In the agent after the child exited, before its restart is scheduled. May be NULL. */
	void (*exited)(void);
};
/* Memory the caller owns; initialise with {.ops = &ops, .pidfd = -1}. */
struct port_child {
	const struct port_child_ops *ops;
	bool looking, have_port;
	int64_t look_until, next_look;
	pid_t pid;
	int pidfd;
	int64_t started;
	int64_t next_start; /* 0: none; else start from then on (once the host is connected) */
	int64_t backoff;
};
/* As a qube's init: starts looking for the port. */
void port_child_start(struct port_child *pc);
/* The pidfd of the running child (poll it for POLLIN), or -1. */
int port_child_poll_fd(const struct port_child *pc);
/* Its pidfd became readable (or SIGCHLD came): when it exited, a restart is scheduled. */
void port_child_exited(struct port_child *pc);
/* Milliseconds until port_child_tick has work (a start, another look for the port), or -1. */
int port_child_timeout_ms(const struct port_child *pc);
void port_child_tick(struct port_child *pc);

/* gui.c: the Wayland proxy's guest half, kept running while the qube has a GUI port */
#define AGENT_GUI_PORT_NAME "org.bulkhead.gui"
#define AGENT_GUI_LINK	    "/dev/virtio-ports/" AGENT_GUI_PORT_NAME
#define AGENT_GUI_DIR	    "/run/bulkhead-gui"
#define AGENT_GUI_SOCKET    AGENT_GUI_DIR "/wayland-0"
#define AGENT_GUI_PROXY	    "/usr/bin/bulkhead-wayland-proxy"
/* As a qube's init: looks for the GUI port and starts the guest half once the host end is
 * connected; also enables gui_runtime_dir. */
struct port_child *gui_start(void);
/* The WAYLAND_DISPLAY commands get, or NULL when the qube has no GUI. */
const char *gui_display(void);
/* In a command's child, still as root: makes /run/user/UID (0700, owned by the user) and
 * writes its path. -errno when it cannot be made safely (the command then runs without). */
int gui_runtime_dir(uid_t uid, gid_t gid, char *buf, size_t size);

/* audio.c: the audio guest half, kept running while the qube has the audio port
 * (AUDIO_PORT_NAME), as the qube's default user, with the port (O_RDWR|O_NONBLOCK, kept open by
 * the agent across its restarts) as fd AGENT_AUDIO_FD_PORT. */
#define AGENT_AUDIO_LINK    "/dev/virtio-ports/" AUDIO_PORT_NAME
#define AGENT_AUDIO_GUEST   "/usr/bin/bulkhead-audio-guest"
#define AGENT_AUDIO_FD_PORT 3
/* As a qube's init, after gui_start: looks for the audio port and starts the guest half at once
 * (it waits for the host end itself). */
struct port_child *audio_start(const struct agent *a);

/* meminfo.c: swap in use, sent to the host while connected (CHAN_MEMINFO). */
void meminfo_reset(void);
/* Milliseconds until meminfo_tick has work, or -1. */
int meminfo_timeout_ms(const struct agent *a);
void meminfo_tick(struct agent *a);

/* shutdown.c: as PID 1, stop everything and power off. Does not return. */
_Noreturn void agent_poweroff(void);
