/* The stream of a command run in a qube, frame by frame (exec-output.h). */
#include "exec-output.h"

#include <errno.h>
#include <string.h>

int exec_output_frame(struct exec_output *o, const struct chan_frame *f, int *ret_status)
{
	uint32_t kind;
	int32_t value;

	if (f->stream != 1)
		return -EBADMSG;
	switch (f->type) {
	case CHAN_STDOUT:
		if (f->len > o->max - o->len)
			return -EMSGSIZE;
		memcpy(o->buf + o->len, f->payload, f->len);
		o->len += f->len;
		return 0;
	case CHAN_STDERR:
	case CHAN_WINDOW:
		return 0;
	case CHAN_EXIT:
		if (chan_exit_parse(f->payload, f->len, &kind, &value) < 0)
			return -EBADMSG;
		*ret_status = kind == CHAN_EXIT_SIGNAL ? 128 + (value & 0x7f) : value & 0xff;
		return 1;
	case CHAN_ERROR:
		return -EPIPE;
	default:
		return -EBADMSG;
	}
}
