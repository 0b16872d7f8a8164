/* bulkheadd runs a command in a qube and collects its stdout (qube-exec.h). */
#include <fcntl.h>
#include <sys/socket.h>

#include <libvirt/libvirt.h>

#include "exec-output.h"
#include "frame.h"
#include "log.h"
#include "qchan.h"
#include "qube-exec.h"
#include "util.h"

#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif

_Static_assert(QUBE_EXEC_STDIN_MAX <= CHAN_INITIAL_WINDOW, "stdin fits the first window");
_Static_assert(QUBE_EXEC_STDOUT_MAX <= CHAN_INITIAL_WINDOW, "no window grant is ever needed");

struct qube_exec {
	int fd;
	int watch;
	int timer;
	struct chan_decoder dec;
	struct chan_outbuf out;
	struct exec_output output;
	qube_exec_done_fn done;
	void *userdata;
	bool finished;
};

static void exec_finish(struct qube_exec *x, int r, int status)
{
	if (x->finished)
		return;
	x->finished = true;
	virEventRemoveHandle(x->watch);
	if (x->timer >= 0)
		virEventRemoveTimeout(x->timer);
	/* Closing our end ends the stream: the channel process stops the command. */
	close(x->fd);
	chan_outbuf_finish(&x->out);
	x->output.buf[r < 0 ? 0 : x->output.len] = '\0';
	x->done(r, status, x->output.buf, r < 0 ? 0 : x->output.len, x->userdata);
	free(x->output.buf);
	free(x);
}

static void exec_timeout(int timer, void *opaque)
{
	(void)timer;
	exec_finish(opaque, -ETIMEDOUT, 0);
}

static void exec_io(int watch, int fd, int events, void *opaque)
{
	struct qube_exec *x = opaque;
	uint8_t buf[16384];

	if (events & VIR_EVENT_HANDLE_WRITABLE) {
		int r = chan_outbuf_flush(&x->out, x->fd);
		if (r < 0)
			return exec_finish(x, -EPIPE, 0);
		if (r == 0)
			virEventUpdateHandle(x->watch, VIR_EVENT_HANDLE_READABLE);
	}
	if (!(events &
	      (VIR_EVENT_HANDLE_READABLE | VIR_EVENT_HANDLE_HANGUP | VIR_EVENT_HANDLE_ERROR)))
		return;
	ssize_t n = read(x->fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0)
		return exec_finish(x, -EPIPE, 0);
	for (size_t off = 0; off < (size_t)n;) {
		struct chan_frame f;
		size_t used = 0;
		int status = 0;
		int r = chan_decoder_feed(&x->dec, buf + off, (size_t)n - off, &used, &f);
		off += used;
		if (r < 0)
			return exec_finish(x, -EBADMSG, 0);
		if (r == 0)
			continue;
		r = exec_output_frame(&x->output, &f, &status);
		if (r != 0)
			return exec_finish(x, r < 0 ? r : 0, status);
	}
}

int qube_exec(struct daemon *d, struct vm *vm, const char *user, const char *const *argv,
	      const void *input, size_t input_len, unsigned timeout_ms, qube_exec_done_fn done,
	      void *userdata)
{
	int sv[2];

	if (input_len > QUBE_EXEC_STDIN_MAX)
		return -EMSGSIZE;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
		return -errno;
	struct qube_exec *x = xcalloc(1, sizeof(*x));
	x->fd = sv[0];
	x->done = done;
	x->userdata = userdata;
	x->timer = -1;
	x->output = (struct exec_output){.buf = xmalloc(QUBE_EXEC_STDOUT_MAX + 1),
					 .max = QUBE_EXEC_STDOUT_MAX};
	chan_decoder_init(&x->dec, CHAN_MAX_PAYLOAD);
	chan_outbuf_init(&x->out, QUBE_EXEC_STDIN_MAX + 64 * 1024);
	/* The whole input at once, then EOF: it fits the stream's first window. */
	const uint8_t *p = input;
	for (size_t off = 0; off < input_len;) {
		size_t len = MIN(input_len - off, (size_t)CHAN_MAX_PAYLOAD);
		chan_outbuf_push(&x->out, CHAN_STDIN, 1, p + off, len);
		off += len;
	}
	chan_outbuf_push(&x->out, CHAN_STDIN, 1, NULL, 0);
	x->watch = virEventAddHandle(x->fd, VIR_EVENT_HANDLE_READABLE | VIR_EVENT_HANDLE_WRITABLE,
				     exec_io, x, NULL);
	if (x->watch >= 0)
		x->timer = virEventAddTimeout((int)timeout_ms, exec_timeout, x, NULL);
	int r = x->watch < 0 || x->timer < 0 ? -EIO : qchan_exec(d, vm, sv[1], user, argv);
	if (r < 0) {
		if (x->watch >= 0)
			virEventRemoveHandle(x->watch);
		if (x->timer >= 0)
			virEventRemoveTimeout(x->timer);
		close(sv[0]);
		close(sv[1]);
		chan_outbuf_finish(&x->out);
		free(x->output.buf);
		free(x);
		return r;
	}
	close(sv[1]); /* the channel process has its own copy now */
	return 0;
}
