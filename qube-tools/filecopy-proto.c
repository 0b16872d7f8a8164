/* Encoding and checks of the file copy stream (format in filecopy-proto.h). */
#include "filecopy-proto.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "unaligned.h"
#include "util.h"

void fc_stream_header_encode(uint8_t out[FC_STREAM_HDR_LEN])
{
	memcpy(out, FC_MAGIC, 4);
	unaligned_write_le32(out + 4, FC_VERSION);
}

int fc_stream_header_check(const uint8_t in[FC_STREAM_HDR_LEN])
{
	if (memcmp(in, FC_MAGIC, 4) != 0 || unaligned_read_le32(in + 4) != FC_VERSION)
		return -EPROTO;
	return 0;
}

void fc_record_encode(const struct fc_record *r, uint8_t out[FC_RECORD_HDR_LEN])
{
	unaligned_write_le32(out, r->type);
	unaligned_write_le32(out + 4, r->mode);
	unaligned_write_le64(out + 8, r->size);
	unaligned_write_le32(out + 16, r->name_len);
	unaligned_write_le32(out + 20, r->reserved);
}

void fc_record_decode(const uint8_t in[FC_RECORD_HDR_LEN], struct fc_record *ret)
{
	ret->type = unaligned_read_le32(in);
	ret->mode = unaligned_read_le32(in + 4);
	ret->size = unaligned_read_le64(in + 8);
	ret->name_len = unaligned_read_le32(in + 16);
	ret->reserved = unaligned_read_le32(in + 20);
}

int fc_record_check(const struct fc_record *r, const char **ret_why)
{
	uint32_t fmt = r->mode & S_IFMT;

	if (r->reserved != 0) {
		*ret_why = "reserved field is not zero";
		return -EPROTO;
	}
	switch (r->type) {
	case FC_FILE:
	case FC_DIR:
	case FC_SYMLINK:
		if (fmt == S_IFCHR || fmt == S_IFBLK || fmt == S_IFIFO || fmt == S_IFSOCK) {
			*ret_why = "device files, fifos and sockets are not accepted";
			return -EPERM;
		}
		if ((r->type == FC_FILE && fmt != S_IFREG) ||
		    (r->type == FC_DIR && fmt != S_IFDIR) ||
		    (r->type == FC_SYMLINK && fmt != S_IFLNK)) {
			*ret_why = "file type in the mode does not match the record type";
			return -EPROTO;
		}
		if ((r->mode & ~(uint32_t)(S_IFMT | 07777)) != 0) {
			*ret_why = "unknown mode bits";
			return -EPROTO;
		}
		if (r->name_len == 0) {
			*ret_why = "empty name";
			return -EINVAL;
		}
		if (r->name_len > FC_NAME_MAX) {
			*ret_why = "name longer than 255 bytes";
			return -ENAMETOOLONG;
		}
		if (r->type == FC_DIR && r->size != 0) {
			*ret_why = "directory record with data";
			return -EPROTO;
		}
		if (r->type == FC_SYMLINK && (r->size == 0 || r->size > FC_TARGET_MAX)) {
			*ret_why = "symlink target empty or longer than 4095 bytes";
			return -ENAMETOOLONG;
		}
		return 0;
	case FC_UP:
	case FC_END:
		if (r->mode != 0 || r->size != 0 || r->name_len != 0) {
			*ret_why = "end-of-directory or end record with contents";
			return -EPROTO;
		}
		return 0;
	default:
		*ret_why =
		    "unknown record type (only files, directories and symlinks are accepted)";
		return -EPROTO;
	}
}

static bool is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

int fc_name_check(const char *name, size_t len, const char **ret_why)
{
	if (len == 0) {
		*ret_why = "empty name";
		return -EINVAL;
	}
	if (len > FC_NAME_MAX) {
		*ret_why = "name longer than 255 bytes";
		return -ENAMETOOLONG;
	}
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.')) {
		*ret_why = "name is . or ..";
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		if (name[i] == '/') {
			*ret_why = "name contains '/' (absolute or multi-component path)";
			return -EINVAL;
		}
		if (name[i] == '\0' || is_control((unsigned char)name[i])) {
			*ret_why = "name contains a control character";
			return -EINVAL;
		}
	}
	return 0;
}

int fc_symlink_target_check(const char *target, size_t len, unsigned depth, const char **ret_why)
{
	size_t i = 0, ups = 0;
	bool descended = false;

	if (len == 0 || len > FC_TARGET_MAX) {
		*ret_why = "symlink target empty or too long";
		return -EINVAL;
	}
	if (target[0] == '/') {
		*ret_why = "symlink target is absolute";
		return -EPERM;
	}
	for (size_t j = 0; j < len; j++)
		if (target[j] == '\0' || is_control((unsigned char)target[j])) {
			*ret_why = "symlink target contains a control character";
			return -EINVAL;
		}
	/* Walk components: only leading ".." are allowed, so the link's position in the tree
	 * (which holds real directories only) decides exactly where it points. */
	while (i < len) {
		size_t j = i;
		while (j < len && target[j] != '/')
			j++;
		size_t n = j - i;
		if (n == 0) {
			*ret_why = "symlink target has an empty component";
			return -EINVAL;
		}
		if (n == 2 && target[i] == '.' && target[i + 1] == '.') {
			if (descended) {
				*ret_why = "symlink target has .. after a name";
				return -EPERM;
			}
			ups++;
		} else if (n == 1 && target[i] == '.') {
			*ret_why = "symlink target has a . component";
			return -EINVAL;
		} else
			descended = true;
		i = j + 1;
		if (j + 1 == len) {
			*ret_why = "symlink target ends with '/'";
			return -EINVAL;
		}
	}
	if (ups + 1 > depth) {
		*ret_why = "symlink target leaves the copied tree";
		return -EPERM;
	}
	return 0;
}

size_t fc_status_encode(uint32_t error, const char *msg, uint8_t *out)
{
	size_t n = msg ? strlen(msg) : 0;

	if (n > FC_STATUS_MSG_MAX)
		n = FC_STATUS_MSG_MAX;
	memcpy(out, FC_STATUS_MAGIC, 4);
	unaligned_write_le32(out + 4, error);
	unaligned_write_le32(out + 8, (uint32_t)n);
	if (n)
		memcpy(out + FC_STATUS_HDR_LEN, msg, n);
	return FC_STATUS_HDR_LEN + n;
}

int fc_status_write(int fd, uint32_t error, const char *msg)
{
	uint8_t buf[FC_STATUS_HDR_LEN + FC_STATUS_MSG_MAX];
	size_t n = fc_status_encode(error, msg, buf);
	return write_all(fd, buf, n);
}

int fc_status_read(int fd, uint32_t *ret_error, char *msg)
{
	uint8_t hdr[FC_STATUS_HDR_LEN];
	char buf[FC_STATUS_MSG_MAX + 1];
	int r = read_exact(fd, hdr, sizeof(hdr));
	if (r < 0)
		return r;
	if (memcmp(hdr, FC_STATUS_MAGIC, 4) != 0)
		return -EPROTO;
	uint32_t n = unaligned_read_le32(hdr + 8);
	if (n > FC_STATUS_MSG_MAX)
		return -EPROTO;
	r = read_exact(fd, buf, n);
	if (r < 0)
		return r;
	/* The other qube wrote this text: it reaches a terminal only as printable ASCII. */
	for (uint32_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x20 || (unsigned char)buf[i] > 0x7e)
			buf[i] = '?';
	buf[n] = '\0';
	memcpy(msg, buf, n + 1);
	*ret_error = unaligned_read_le32(hdr + 4);
	return 0;
}
