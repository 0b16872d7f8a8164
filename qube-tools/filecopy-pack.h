/* The sending half of the file copy stream (format in filecopy-proto.h). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "filecopy-proto.h"

struct filecopy_packer {
	int out_fd; /* -1: only walk and check (a dry run before anything is sent) */
	uint64_t entries;
	uint64_t bytes;
	/* set when the stream went wrong on the other side (EPIPE): stop, read the status */
	bool peer_gone;
	/* on failure: the local path and what is wrong with it */
	char msg[FC_PATH_MAX + 512];
};

/* The name a command-line path is sent under: its last component. Returns 0 or -errno with
 * packer->msg set. buf holds FC_NAME_MAX + 1. */
int filecopy_wire_name(struct filecopy_packer *p, const char *path, char *buf);
/* Sends (or with out_fd -1, checks) the file or directory tree at path as one top-level entry
 * named wire_name. A symlink given on the command line is followed; symlinks inside a tree are
 * sent as symlinks when they stay inside it and refused otherwise, as are devices, fifos and
 * sockets. Returns 0 or -errno with p->msg set. */
int filecopy_pack_path(struct filecopy_packer *p, const char *path, const char *wire_name);
int filecopy_pack_begin(struct filecopy_packer *p);
int filecopy_pack_end(struct filecopy_packer *p);
