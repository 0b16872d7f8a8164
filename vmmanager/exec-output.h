/*
 * What a command bulkheadd runs in a qube sends back (qube-exec.h), frame by frame, as a pure
 * function so that the fuzz target reaches it: stdout kept up to a cap, stderr and window
 * grants dropped, the exit status. Every byte here is the qube's.
 */
#pragma once

#include <stddef.h>

#include "frame.h"

struct exec_output {
	char *buf; /* max + 1 bytes: room for a final NUL */
	size_t len;
	size_t max;
};

/* One frame of the command's stream (stream 1). Returns 1 when the command ended (*ret_status:
 * its exit code, or 128+signal), 0 for more to come, -EMSGSIZE past the stdout cap, -EPIPE when
 * the qube reported an error, -EBADMSG for anything else. */
int exec_output_frame(struct exec_output *o, const struct chan_frame *f, int *ret_status);
