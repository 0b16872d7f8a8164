/*
 * One audio host half per running qube with the audio port (see audio.h). The spawn, the pidfd
 * watch, the log lines and the compositor request are host-proc.c's, shared with gui.c.
 */
#include "audio.h"

#include <fcntl.h>
#include <stdarg.h>
#include <strings.h>
#include <sys/socket.h>

#include <json-c/json.h>

#include "api-server.h"
#include "audio-proto.h"
#include "daemon.h"
#include "gui.h"
#include "host-proc.h"
#include "log.h"
#include "qchan.h"
#include "qube.h"
#include "util.h"

#define AUDIO_RECONNECT_MS     1000  /* after AUDIO_EXIT_CLOSED: the guest half reconnects */
#define AUDIO_BACKOFF_FIRST_MS 1000  /* after a crash or the sound server's end */
#define AUDIO_BACKOFF_MAX_MS   30000 /* ... doubling up to this */
#define AUDIO_RAN_LONG_MS      60000 /* a host half that ran this long starts a new backoff */

struct audio_host {
	struct vm *vm;
	int timer; /* the next attempt; -1 when none */
	struct compositor_request req;
	struct host_proc proc;
	int ctl_fd, ctl_watch; /* our end of the control socketpair while a host half runs */
	char ctl_in[AUDIO_CONTROL_LINE_MAX];
	size_t ctl_in_len;
	bool ctl_overlong;
	bool recording, playing;
	bool given_up; /* broke the protocol, or has no port: not again until it restarts */
	bool warned;   /* a failed request was logged once for this run of failures */
	uint64_t started_ms;
	unsigned backoff_ms;
};

static bool flag_off(const char *v)
{
	return streq(v, "") || streq(v, "0") || strcasecmp(v, "false") == 0 ||
	       strcasecmp(v, "no") == 0;
}

bool audio_qube_enabled(const struct qube *q)
{
	const char *v = qube_feature_get(q, AUDIO_FEATURE);
	return v ? !flag_off(v) : gui_qube_enabled(q);
}

char *audio_channel_dir(struct daemon *d)
{
	return xasprintf("%s/qubes/audio", d->run_dir);
}

char *audio_channel_path(struct daemon *d, const char *qube_name)
{
	return xasprintf("%s/qubes/audio/%s.sock", d->run_dir, qube_name);
}

unsigned audio_volume(const struct qube *q)
{
	const char *v = qube_feature_get(q, AUDIO_FEATURE_VOLUME);
	char *end;

	if (!v || !*v)
		return AUDIO_VOLUME_DEFAULT;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (errno || *end || v[0] == '-' || n > AUDIO_VOLUME_MAX)
		return AUDIO_VOLUME_DEFAULT;
	return (unsigned)n;
}

bool audio_muted(const struct qube *q)
{
	const char *v = qube_feature_get(q, AUDIO_FEATURE_MUTE);
	return v && !flag_off(v);
}

bool audio_recording(const struct vm *vm)
{
	return vm->audio && vm->audio->recording;
}

bool audio_playing(const struct vm *vm)
{
	return vm->audio && vm->audio->playing;
}

struct vm *audio_mic_holder(struct daemon *d)
{
	return d->audio_mic;
}

void audio_init(struct daemon *d)
{
	if (access(d->audio_host, X_OK) < 0) {
		int err = errno;
		log_info("the audio host half %s is not executable (%s): qubes have no sound (set "
			 "--audio-host or $BULKHEAD_AUDIO_HOST)",
			 d->audio_host, strerror(err));
		d->audio_absent_logged = true;
	}
}

static void proc_exited(struct host_proc *p, const siginfo_t *si, const char *how);
static void server_done(struct compositor_request *r, int fd, const char *error);

static struct audio_host *audio_get(struct vm *vm)
{
	if (!vm->audio) {
		struct audio_host *a = xcalloc(1, sizeof(*a));
		a->vm = vm;
		a->timer = -1;
		a->ctl_fd = -1;
		a->ctl_watch = -1;
		compositor_request_init(&a->req, server_done);
		host_proc_init(&a->proc, vm, "audio", "its audio host half", proc_exited);
		vm->audio = a;
	}
	return vm->audio;
}

static bool qube_up(const struct vm *vm)
{
	return vm->state == VM_RUNNING || vm->state == VM_PAUSED;
}

/* --- the running host half's state, and what it is told ---------------------------------- */

static void state_set(struct audio_host *a, bool recording, bool playing)
{
	if (a->recording == recording && a->playing == playing)
		return;
	a->recording = recording;
	a->playing = playing;
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "recording", json_object_new_boolean(recording));
	json_object_object_add(o, "playing", json_object_new_boolean(playing));
	events_emit(a->vm->daemon, "audio-state", a->vm->q->name, o);
}

static void ctl_close(struct audio_host *a)
{
	if (a->ctl_watch >= 0)
		virEventRemoveHandle(a->ctl_watch);
	a->ctl_watch = -1;
	closep(&a->ctl_fd);
	a->ctl_fd = -1;
	a->ctl_in_len = 0;
	a->ctl_overlong = false;
}

/* One line to the host half. Lines are short and few: a full buffer means it stopped reading,
 * and its next start is told everything again. */
static void ctl_send(struct audio_host *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void ctl_send(struct audio_host *a, const char *fmt, ...)
{
	char line[AUDIO_CONTROL_LINE_MAX];
	va_list ap;

	if (a->ctl_fd < 0)
		return;
	va_start(ap, fmt);
	int len = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= sizeof(line))
		return;
	if (send(a->ctl_fd, line, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT) != len)
		log_warn("qube %s: cannot tell its audio host half '%.*s': %m", a->vm->q->name,
			 len - 1, line);
}

static void send_settings(struct audio_host *a)
{
	unsigned v = audio_volume(a->vm->q);
	ctl_send(a, "volume %u.%02u\n", v / 100, v % 100);
	ctl_send(a, "mute %d\n", audio_muted(a->vm->q) ? 1 : 0);
}

static void ctl_line(struct audio_host *a, const char *line)
{
	bool rec = a->recording, play = a->playing;

	if (streq(line, "recording 0") || streq(line, "recording 1"))
		rec = line[10] == '1';
	else if (streq(line, "playing 0") || streq(line, "playing 1"))
		play = line[8] == '1';
	else {
		log_warn("qube %s: audio: unknown control line '%s'", a->vm->q->name,
			 LOG_ESC(line));
		return;
	}
	/* Recording without the grant would be the host half's bug: say so, show it anyway. */
	if (rec && a->vm->daemon->audio_mic != a->vm)
		log_warn(
		    "qube %s: its audio host half says it records without the microphone grant",
		    a->vm->q->name);
	state_set(a, rec, play);
}

static void ctl_io(int watch, int fd, int events, void *opaque)
{
	struct audio_host *a = opaque;
	char buf[256];

	for (;;) {
		ssize_t n = read(a->ctl_fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			ctl_close(a); /* its exit follows through the pidfd */
			return;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				if (!a->ctl_overlong) {
					a->ctl_in[a->ctl_in_len] = '\0';
					ctl_line(a, a->ctl_in);
				}
				a->ctl_in_len = 0;
				a->ctl_overlong = false;
				continue;
			}
			if (a->ctl_in_len == sizeof(a->ctl_in) - 1) {
				if (!a->ctl_overlong)
					log_warn("qube %s: audio: control line too long",
						 a->vm->q->name);
				a->ctl_overlong = true;
				continue;
			}
			if (!a->ctl_overlong)
				a->ctl_in[a->ctl_in_len++] = buf[i];
		}
	}
}

/* --- starting ---------------------------------------------------------------------------- */

static void attempt(struct audio_host *a);

static void timer_clear(struct audio_host *a)
{
	if (a->timer >= 0)
		virEventRemoveTimeout(a->timer);
	a->timer = -1;
}

static void timer_fired(int timer, void *opaque)
{
	struct audio_host *a = opaque;
	timer_clear(a);
	if (qube_up(a->vm) && !host_proc_running(&a->proc) && !a->given_up)
		attempt(a);
}

static void retry_in(struct audio_host *a, unsigned ms)
{
	timer_clear(a);
	a->timer = virEventAddTimeout((int)ms, timer_fired, a, NULL);
}

static unsigned backoff_next(struct audio_host *a)
{
	a->backoff_ms = a->backoff_ms ? a->backoff_ms * 2 : AUDIO_BACKOFF_FIRST_MS;
	if (a->backoff_ms > AUDIO_BACKOFF_MAX_MS)
		a->backoff_ms = AUDIO_BACKOFF_MAX_MS;
	return a->backoff_ms;
}

static void proc_exited(struct host_proc *p, const siginfo_t *si, const char *how)
{
	struct audio_host *a = p->vm->audio;
	const char *name = a->vm->q->name;
	int code = si->si_code == CLD_EXITED ? si->si_status : -1;

	ctl_close(a);
	state_set(a, false, false);
	if (monotonic_ms() - a->started_ms >= AUDIO_RAN_LONG_MS)
		a->backoff_ms = 0;
	if (!qube_up(a->vm)) {
		log_info("qube %s: its audio host half (pid %d) exited with %s", name,
			 (int)si->si_pid, how);
		return;
	}
	if (code == AUDIO_EXIT_VIOLATION) {
		log_warn("qube %s broke the audio protocol: its audio host half (pid %d) ended its "
			 "sound, which stays off until the qube restarts",
			 name, (int)si->si_pid);
		a->given_up = true;
	} else if (code == AUDIO_EXIT_CLOSED) {
		log_info("qube %s closed its audio port; listening again in %d ms", name,
			 AUDIO_RECONNECT_MS);
		retry_in(a, AUDIO_RECONNECT_MS);
	} else {
		unsigned ms = backoff_next(a);
		log_warn(
		    "qube %s: its audio host half (pid %d) exited with %s%s; starting it again "
		    "in %u ms",
		    name, (int)si->si_pid, how,
		    code == AUDIO_EXIT_SERVER ? " (the sound server went away)" : "", ms);
		retry_in(a, ms);
	}
}

/* Takes server_fd. */
static void start_with_server(struct audio_host *a, int server_fd)
{
	struct daemon *d = a->vm->daemon;
	const char *name = a->vm->q->name;
	_cleanup_free_ char *path = audio_channel_path(d, name);
	int port_fd = -1, sv[2];

	int r = host_connect_unix(path, &port_fd);
	if (r < 0) {
		closep(&server_fd);
		if (r == -ENOENT) {
			/* Started with the feature off, or by an older bulkheadd. */
			log_info(
			    "qube %s has no audio port (%s); it has no sound until it restarts",
			    name, path);
			a->given_up = true;
			return;
		}
		log_warn("qube %s: cannot connect its audio port %s: %s; retrying", name, path,
			 strerror(-r));
		retry_in(a, backoff_next(a));
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		r = -errno;
		closep(&port_fd);
		closep(&server_fd);
		log_warn("qube %s: cannot make the audio control socket: %s", name, strerror(-r));
		retry_in(a, backoff_next(a));
		return;
	}
	/* The host half does its own non-blocking setup; it gets blocking sockets. */
	fcntl(port_fd, F_SETFL, 0);
	fcntl(server_fd, F_SETFL, 0);
	char uid[16];
	snprintf(uid, sizeof(uid), "%u", (unsigned)qchan_qube_uid(d, a->vm));
	const char *argv[] = {
	    d->audio_host, "--qube", name, "--label", qube_label_to_string(a->vm->q->label),
	    "--uid",	   uid,	     NULL};
	int fds[] = {
	    [AUDIO_HOST_FD_PORT - 3] = port_fd,
	    [AUDIO_HOST_FD_SERVER - 3] = server_fd,
	    [AUDIO_HOST_FD_CONTROL - 3] = sv[1],
	};
	r = host_proc_spawn(&a->proc, argv, fds, ARRAY_SIZE(fds));
	if (r < 0) {
		closep(&sv[0]);
		log_error("qube %s: cannot start the audio host half %s: %s", name, d->audio_host,
			  strerror(-r));
		retry_in(a, backoff_next(a));
		return;
	}
	a->ctl_fd = sv[0];
	fcntl(a->ctl_fd, F_SETFL, O_NONBLOCK);
	a->ctl_watch = virEventAddHandle(a->ctl_fd, VIR_EVENT_HANDLE_READABLE, ctl_io, a, NULL);
	a->started_ms = monotonic_ms();
	a->warned = false;
	log_info("qube %s: audio host half started (pid %d)", name, (int)a->proc.pid);
	send_settings(a);
	ctl_send(a, "mic %d\n", d->audio_mic == a->vm ? 1 : 0);
}

static void server_done(struct compositor_request *r, int fd, const char *error)
{
	struct audio_host *a = (struct audio_host *)((char *)r - offsetof(struct audio_host, req));

	if (fd >= 0) {
		start_with_server(a, fd);
		return;
	}
	unsigned ms = backoff_next(a);
	/* Once per run of failures: a sound server that is not up yet is normal for a while. */
	if (!a->warned)
		log_warn("qube %s: no sound: %s; asking again with backoff", a->vm->q->name, error);
	else
		log_debug("qube %s: no sound: %s; again in %u ms", a->vm->q->name, error, ms);
	a->warned = true;
	retry_in(a, ms);
}

static void attempt(struct audio_host *a)
{
	struct daemon *d = a->vm->daemon;

	if (access(d->audio_host, X_OK) < 0) {
		if (!d->audio_absent_logged)
			log_info("the audio host half %s is not executable (%m): qubes have no "
				 "sound",
				 d->audio_host);
		d->audio_absent_logged = true;
		return;
	}
	if (!d->gui_control) {
		if (!d->audio_no_compositor_logged)
			log_info("no compositor is registered: qubes have no sound until one is");
		d->audio_no_compositor_logged = true;
		return;
	}
	compositor_request_start(&a->req, d->gui_control, "audio\n");
}

void audio_qube_ready(struct daemon *d, struct vm *vm)
{
	if (!audio_qube_enabled(vm->q))
		return;
	struct audio_host *a = audio_get(vm);
	/* The agent says hello again after a channel reconnect: nothing new for the sound. */
	if (host_proc_running(&a->proc) || compositor_request_pending(&a->req) || a->timer >= 0 ||
	    a->given_up)
		return;
	attempt(a);
}

void audio_compositor_registered(struct daemon *d)
{
	d->audio_no_compositor_logged = false;
	for (size_t i = 0; i < d->n_vms; i++) {
		struct vm *vm = d->vms[i];
		if (qube_up(vm) && qchan_ready(vm))
			audio_qube_ready(d, vm);
	}
}

/* --- settings ---------------------------------------------------------------------------- */

void audio_settings_changed(struct daemon *d, struct vm *vm)
{
	if (vm->audio)
		send_settings(vm->audio);
}

void audio_mic_set(struct daemon *d, struct vm *vm, bool on)
{
	struct vm *old = d->audio_mic;

	if (on && old == vm)
		return;
	if (!on && old != vm)
		return;
	if (old) {
		d->audio_mic = NULL;
		if (old->audio)
			ctl_send(old->audio, "mic 0\n");
		log_info("qube %s: the microphone was taken from it", old->q->name);
		events_emit(d, "audio-mic", old->q->name, NULL);
	}
	if (on) {
		d->audio_mic = vm;
		if (vm->audio)
			ctl_send(vm->audio, "mic 1\n");
		log_info("qube %s: the microphone was granted to it", vm->q->name);
		events_emit(d, "audio-mic", vm->q->name, NULL);
	}
}

/* --- the end ----------------------------------------------------------------------------- */

void audio_qube_stopped(struct daemon *d, struct vm *vm)
{
	struct audio_host *a = vm->audio;
	if (!a)
		return;
	timer_clear(a);
	compositor_request_cancel(&a->req);
	host_proc_kill(&a->proc);
	ctl_close(a);
	state_set(a, false, false);
	a->given_up = false;
	a->warned = false;
	a->backoff_ms = 0;
}

void audio_vm_free(struct daemon *d, struct vm *vm)
{
	if (d->audio_mic == vm)
		d->audio_mic = NULL;
	if (vm->audio)
		vm->audio->recording = vm->audio->playing = false; /* no event for a qube gone */
	audio_qube_stopped(d, vm);
	free(vm->audio);
	vm->audio = NULL;
}
