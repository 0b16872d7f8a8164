/* Streams: one running command each, its pipes and both flow-control windows. */
#include "agent.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

enum { FD_IN, FD_OUT, FD_ERR, FD_STATUS };

/* A malicious host could add windows forever; more than this is never needed. */
#define OUT_WINDOW_MAX (1ull << 40)

struct stream *stream_find(struct agent *a, uint32_t id)
{
	for (size_t i = 0; i < CHAN_MAX_STREAMS; i++)
		if (a->streams[i] && a->streams[i]->id == id)
			return a->streams[i];
	return NULL;
}

size_t stream_count(const struct agent *a)
{
	size_t n = 0;
	for (size_t i = 0; i < CHAN_MAX_STREAMS; i++)
		n += a->streams[i] != NULL;
	return n;
}

static void stream_free(struct stream *s)
{
	if (!s)
		return;
	closep(&s->in_fd);
	closep(&s->out_fd);
	closep(&s->err_fd);
	closep(&s->status_fd);
	free(s->inbuf);
	free(s->argv0);
	free(s->user);
	free(s);
}

static void kill_group(pid_t pid, int sig)
{
	/* Before the child's setsid() its group does not exist yet; then signal the child. */
	if (kill(-pid, sig) < 0)
		kill(pid, sig);
}

static void send_end(struct agent *a, uint32_t id, uint32_t kind, int32_t value)
{
	uint8_t ex[8];

	agent_send(a, CHAN_STDOUT, id, NULL, 0);
	agent_send(a, CHAN_STDERR, id, NULL, 0);
	chan_exit_encode(ex, kind, value);
	agent_send(a, CHAN_EXIT, id, ex, sizeof(ex));
}

/* A stream that never got a process: message on STDERR, EOFs, EXIT. */
void stream_fail(struct agent *a, uint32_t id, int code, const char *msg)
{
	agent_send(a, CHAN_STDERR, id, msg, strlen(msg));
	send_end(a, id, CHAN_EXIT_CODE, code);
}

void stream_exec(struct agent *a, uint32_t id, const char *user, char *const *argv)
{
	stream_exec_opts(a, id, user, argv, NULL);
}

void stream_exec_opts(struct agent *a, uint32_t id, const char *user, char *const *argv,
		      const struct exec_opts *opts)
{
	struct agent_user u = {0};
	char msg[512];
	size_t slot;
	int r;

	for (slot = 0; slot < CHAN_MAX_STREAMS; slot++)
		if (!a->streams[slot])
			break;
	if (slot == CHAN_MAX_STREAMS) {
		stream_fail(a, id, 126, "bulkhead-agent: too many commands running\n");
		return;
	}

	r = user_lookup(a->passwd_path, a->group_path, user, &u);
	if (r < 0) {
		if (r == -ESRCH)
			snprintf(msg, sizeof(msg), "bulkhead-agent: unknown user '%.64s'\n", user);
		else
			snprintf(msg, sizeof(msg),
				 "bulkhead-agent: cannot look up user '%.64s': %s\n", user,
				 strerror(-r));
		stream_fail(a, id, 126, msg);
		return;
	}

	struct stream *s = xcalloc(1, sizeof(*s));
	*s = (struct stream){
	    .id = id,
	    .in_fd = -1,
	    .out_fd = -1,
	    .err_fd = -1,
	    .status_fd = -1,
	    .in_avail = CHAN_INITIAL_WINDOW,
	    .out_window = CHAN_INITIAL_WINDOW,
	    .argv0 = xstrdup(argv[0]),
	    .user = xstrdup(u.name),
	};
	r = exec_spawn(s, &u, argv, opts);
	user_done(&u);
	if (r < 0) {
		snprintf(msg, sizeof(msg), "bulkhead-agent: cannot start '%.200s': %s\n", argv[0],
			 strerror(-r));
		stream_free(s);
		stream_fail(a, id, 126, msg);
		return;
	}
	a->streams[slot] = s;
}

static void grant(struct agent *a, struct stream *s, size_t n)
{
	uint8_t w[4];

	s->in_avail += (uint32_t)n;
	chan_u32_encode(w, (uint32_t)n);
	agent_send(a, CHAN_WINDOW, s->id, w, sizeof(w));
}

int stream_stdin(struct agent *a, struct stream *s, const uint8_t *data, size_t len)
{
	if (len == 0) {
		s->in_eof = true;
		if (s->in_len == 0)
			closep(&s->in_fd), s->in_fd = -1;
		return 0;
	}
	if (len > s->in_avail)
		return -EPROTO;
	s->in_avail -= (uint32_t)len;

	/* Nobody will read it: drop it, but keep the host's window open. */
	if (s->in_eof || s->in_broken || s->in_fd < 0) {
		grant(a, s, len);
		return 0;
	}
	if (!s->inbuf)
		s->inbuf = xmalloc(CHAN_INITIAL_WINDOW);
	/* in_len + in_avail never exceeds the initial window, so this fits. */
	memcpy(s->inbuf + s->in_len, data, len);
	s->in_len += len;
	return 0;
}

void stream_window(struct stream *s, uint32_t n)
{
	s->out_window += n;
	if (s->out_window > OUT_WINDOW_MAX)
		s->out_window = OUT_WINDOW_MAX;
}

void stream_signal(struct stream *s, int sig)
{
	if (s->pid > 0)
		kill_group(s->pid, sig);
}

void stream_drop_all(struct agent *a)
{
	for (size_t i = 0; i < CHAN_MAX_STREAMS; i++) {
		struct stream *s = a->streams[i];
		if (!s)
			continue;
		/* Zombies are collected later by stream_reap() as strangers. */
		if (s->pid > 0)
			kill_group(s->pid, SIGKILL);
		stream_free(s);
		a->streams[i] = NULL;
	}
}

void stream_reap(struct agent *a)
{
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (size_t i = 0; i < CHAN_MAX_STREAMS; i++) {
			struct stream *s = a->streams[i];
			if (!s || s->pid != pid)
				continue;
			s->pid = 0;
			s->exited = true;
			if (WIFSIGNALED(st)) {
				s->exit_kind = CHAN_EXIT_SIGNAL;
				s->exit_value = WTERMSIG(st);
			} else {
				s->exit_kind = CHAN_EXIT_CODE;
				s->exit_value = WEXITSTATUS(st);
			}
			break;
		}
	}
}

void stream_poll_fill(struct agent *a, struct pollfd *pfd, struct poll_tag *tags, size_t *n)
{
	size_t pending = chan_outbuf_pending(&a->out);
	bool data_room =
	    a->connected && pending + CHAN_HEADER_SIZE + CHAN_MAX_PAYLOAD <= AGENT_OUTBUF_DATA_HIGH;
	bool ctl_room = pending <= AGENT_OUTBUF_IN_HIGH;

	for (uint32_t i = 0; i < CHAN_MAX_STREAMS; i++) {
		struct stream *s = a->streams[i];
		if (!s)
			continue;
		/* Writing stdin produces WINDOW frames, so it also waits for room. */
		if (s->in_fd >= 0 && s->in_len > 0 && ctl_room) {
			pfd[*n] = (struct pollfd){.fd = s->in_fd, .events = POLLOUT};
			tags[(*n)++] = (struct poll_tag){i, s->id, FD_IN};
		}
		/* Output is read only while the host's window and our queue allow it. */
		bool out_ok = data_room && s->out_window > 0;
		if (s->out_fd >= 0 && out_ok) {
			pfd[*n] = (struct pollfd){.fd = s->out_fd, .events = POLLIN};
			tags[(*n)++] = (struct poll_tag){i, s->id, FD_OUT};
		}
		if (s->err_fd >= 0 && out_ok) {
			pfd[*n] = (struct pollfd){.fd = s->err_fd, .events = POLLIN};
			tags[(*n)++] = (struct poll_tag){i, s->id, FD_ERR};
		}
		if (s->status_fd >= 0 && ctl_room) {
			pfd[*n] = (struct pollfd){.fd = s->status_fd, .events = POLLIN};
			tags[(*n)++] = (struct poll_tag){i, s->id, FD_STATUS};
		}
	}
}

static void pump_stdin(struct agent *a, struct stream *s)
{
	ssize_t n = write(s->in_fd, s->inbuf, s->in_len);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		/* EPIPE: the command closed its stdin. Discard, and let the host go on. */
		size_t dropped = s->in_len;
		s->in_len = 0;
		s->in_broken = true;
		closep(&s->in_fd), s->in_fd = -1;
		grant(a, s, dropped);
		return;
	}
	memmove(s->inbuf, s->inbuf + n, s->in_len - (size_t)n);
	s->in_len -= (size_t)n;
	grant(a, s, (size_t)n);
	if (s->in_len == 0 && s->in_eof)
		closep(&s->in_fd), s->in_fd = -1;
}

static void pump_output(struct agent *a, struct stream *s, int *fd, uint16_t type)
{
	static uint8_t buf[CHAN_MAX_PAYLOAD];
	size_t max = s->out_window < sizeof(buf) ? (size_t)s->out_window : sizeof(buf);

	if (max == 0)
		return;
	ssize_t n = read(*fd, buf, max);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		closep(fd), *fd = -1;
		return;
	}
	s->out_window -= (size_t)n;
	agent_send(a, type, s->id, buf, (size_t)n);
}

static void pump_status(struct agent *a, struct stream *s)
{
	struct exec_status st;
	char msg[512];

	ssize_t n = read(s->status_fd, &st, sizeof(st));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	closep(&s->status_fd), s->status_fd = -1;
	if (n != sizeof(st))
		return; /* EOF: exec succeeded */

	if (st.stage == EXEC_STAGE_EXEC)
		snprintf(msg, sizeof(msg), "bulkhead-agent: cannot run '%.200s': %s\n", s->argv0,
			 strerror(st.err));
	else
		snprintf(msg, sizeof(msg), "bulkhead-agent: cannot switch to user '%.64s': %s\n",
			 s->user, strerror(st.err));
	size_t len = strlen(msg);
	/* The message is ours, not the command's; it still counts against the window. */
	s->out_window = s->out_window > len ? s->out_window - len : 0;
	agent_send(a, CHAN_STDERR, s->id, msg, len);
}

void stream_poll_handle(struct agent *a, const struct pollfd *pfd, const struct poll_tag *tag)
{
	struct stream *s = a->streams[tag->slot];

	/* An earlier entry of this round may have ended the stream or closed the fd. */
	if (!s || s->id != tag->id || !pfd->revents)
		return;
	switch (tag->which) {
	case FD_IN:
		if (s->in_fd == pfd->fd)
			pump_stdin(a, s);
		break;
	case FD_OUT:
		if (s->out_fd == pfd->fd)
			pump_output(a, s, &s->out_fd, CHAN_STDOUT);
		break;
	case FD_ERR:
		if (s->err_fd == pfd->fd)
			pump_output(a, s, &s->err_fd, CHAN_STDERR);
		break;
	case FD_STATUS:
		if (s->status_fd == pfd->fd)
			pump_status(a, s);
		break;
	}
}

void stream_finish_done(struct agent *a)
{
	for (size_t i = 0; i < CHAN_MAX_STREAMS; i++) {
		struct stream *s = a->streams[i];
		if (!s || !s->exited || s->out_fd >= 0 || s->err_fd >= 0 || s->status_fd >= 0)
			continue;
		send_end(a, s->id, s->exit_kind, s->exit_value);
		stream_free(s);
		a->streams[i] = NULL;
	}
}
