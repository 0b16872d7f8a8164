/*
 * Wire format of bulkhead.Filecopy (bulkhead-copy / bulkhead-move -> bulkhead-filecopy-receive)
 * and of bulkhead.OpenInVM (the same stream carrying exactly one regular file). Our own format,
 * in the spirit of Qubes' qfile-agent / qfile-unpacker. All integers are little-endian.
 *
 * Sender -> receiver (the service's stdin):
 *
 *   stream header, 8 bytes:  "BHFC" (4 bytes)  u32 version (= 1)
 *   then records, each a 24-byte header followed by a name and data:
 *     u32 type      FC_FILE 1, FC_DIR 2, FC_SYMLINK 3, FC_UP 4, FC_END 5
 *     u32 mode      st_mode: the file type bits must agree with the type (S_IFREG, S_IFDIR,
 *                   S_IFLNK); UP and END carry 0. The receiver keeps only the 0777 bits.
 *     u64 size      FILE: bytes of content; SYMLINK: length of the target (1..FC_TARGET_MAX);
 *                   DIR, UP, END: 0
 *     u32 name_len  FILE, DIR, SYMLINK: 1..FC_NAME_MAX; UP, END: 0
 *     u32 reserved  0
 *     name          name_len bytes: ONE path component, relative to the current directory:
 *                   no '/', no NUL, no control characters, not "." or ".."
 *     data          size bytes: the file's content, or the symlink's target (no NUL)
 *
 *   DIR creates a directory and enters it: the records that follow are inside it until the
 *   matching UP, which leaves it (and applies its mode). END ends the stream; it is only valid
 *   at the top level. Names are never paths, so a record cannot reach outside the directory it
 *   is in; nesting is limited to FC_DEPTH_MAX and the whole relative path to FC_PATH_MAX.
 *
 *   A symlink's target must be relative, without empty components, of the form
 *   "../" x k followed by components that are neither "." nor "..", with k smaller than the
 *   depth of the directory holding the link (top level = 0). So a link resolves inside the
 *   top-level entry it was sent in, even through other such links, and a link at the top
 *   level is never accepted.
 *
 * Receiver -> sender (the service's stdout), once, after END or on the first error:
 *
 *   "BHFS" (4 bytes)  u32 error (0: everything is in place; else an errno value)
 *   u32 msg_len (<= FC_STATUS_MSG_MAX)  msg (msg_len bytes of text, says what was refused)
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FC_MAGIC	  "BHFC"
#define FC_STATUS_MAGIC	  "BHFS"
#define FC_VERSION	  1u
#define FC_STREAM_HDR_LEN 8u
#define FC_RECORD_HDR_LEN 24u
#define FC_STATUS_HDR_LEN 12u

/* One component: what a Linux file system accepts. */
#define FC_NAME_MAX 255u
/* The whole relative path of an entry, components and separators. */
#define FC_PATH_MAX	  4096u
#define FC_TARGET_MAX	  4095u
#define FC_DEPTH_MAX	  64u
#define FC_STATUS_MSG_MAX 1024u

/* Default limits of a receiver (each can be lowered or raised on its command line). */
#define FC_DEFAULT_MAX_BYTES (4ull << 30)
#define FC_DEFAULT_MAX_FILES 100000ull

enum fc_type {
	FC_FILE = 1,
	FC_DIR = 2,
	FC_SYMLINK = 3,
	FC_UP = 4,
	FC_END = 5,
};

struct fc_record {
	uint32_t type;
	uint32_t mode;
	uint64_t size;
	uint32_t name_len;
	uint32_t reserved;
};

void fc_stream_header_encode(uint8_t out[FC_STREAM_HDR_LEN]);
/* -EPROTO unless the bytes are our magic and version. */
int fc_stream_header_check(const uint8_t in[FC_STREAM_HDR_LEN]);

void fc_record_encode(const struct fc_record *r, uint8_t out[FC_RECORD_HDR_LEN]);
/* Decodes only; fc_record_check() judges the fields. */
void fc_record_decode(const uint8_t in[FC_RECORD_HDR_LEN], struct fc_record *ret);
/* Checks type, mode, size and name length against each other and the fixed caps. Returns 0, or
 * -EPROTO / -EPERM (device, fifo or socket) / -ENAMETOOLONG with *ret_why set to a reason. */
int fc_record_check(const struct fc_record *r, const char **ret_why);

/* A single component as the format allows it. Returns 0 or -EINVAL with *ret_why set. */
int fc_name_check(const char *name, size_t len, const char **ret_why);
/* A symlink target as the format allows it for a link in a directory at depth `depth` (top
 * level 0). Returns 0 or -EPERM / -EINVAL with *ret_why set. */
int fc_symlink_target_check(const char *target, size_t len, unsigned depth, const char **ret_why);

/* Status record. msg is cut at FC_STATUS_MSG_MAX. Returns the encoded length; out must hold
 * FC_STATUS_HDR_LEN + FC_STATUS_MSG_MAX bytes. */
size_t fc_status_encode(uint32_t error, const char *msg, uint8_t *out);
/* Reads one status record from fd. The message is made printable (anything else becomes '?')
 * and NUL-terminated in msg[FC_STATUS_MSG_MAX + 1]. Returns 0, -EPIPE when the stream ends
 * first, -EPROTO when it is not a status record. */
int fc_status_read(int fd, uint32_t *ret_error, char *msg);
/* Writes a status record to fd. */
int fc_status_write(int fd, uint32_t error, const char *msg);
