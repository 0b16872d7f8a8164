/* The receiving half of the file copy stream (format in filecopy-proto.h), a library so the
 * receivers and the fuzz target share it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "filecopy-proto.h"

struct filecopy_limits {
	uint64_t max_bytes; /* file content in total */
	uint64_t max_files; /* entries of any kind */
	unsigned max_depth; /* directory nesting, at most FC_DEPTH_MAX */
	bool single_file;   /* bulkhead.OpenInVM: exactly one regular file, nothing else */
};

struct filecopy_report {
	uint64_t entries;
	uint64_t bytes;
	/* first top-level entry (with single_file: the file) */
	char first_name[FC_NAME_MAX + 1];
	/* on failure: the file system failed us (full disk, I/O) rather than the stream being
	 * refused */
	bool local_failure;
	/* on failure: what was refused, with the entry's path made printable */
	char msg[FC_STATUS_MSG_MAX + 1];
};

void filecopy_limits_default(struct filecopy_limits *ret);

/* Reads one stream (stream header .. END) from in_fd and creates its entries in dest_dirfd,
 * which should be an empty directory private to this transfer. Never follows a symlink, never
 * replaces an existing name. Returns 0 once END is read, or -errno (-EPROTO, -EINVAL, -EPERM,
 * -EFBIG, -E2BIG, -ENAMETOOLONG, -ELOOP, -EPIPE for a stream that ends early, or what the file
 * system said: -ENOSPC, -EDQUOT, ...) with report->msg set; on failure everything it created in
 * dest_dirfd is removed again. report is filled either way. */
int filecopy_unpack(int in_fd, int dest_dirfd, const struct filecopy_limits *lim,
		    struct filecopy_report *report);
