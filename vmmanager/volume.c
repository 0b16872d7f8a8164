/* Volumes are qcow2 files; qemu-img does the format work. */
#include <json-c/json.h>

#include "daemon.h"
#include "subprocess.h"
#include "util.h"

static int qemu_img(const char *const *argv, char **ret_output)
{
	_cleanup_free_ char *out = NULL;
	int r = spawn_wait(argv, &out);
	if (r < 0)
		return r;
	if (r != 0) {
		/* qemu-img says "No space left on device" when the disk is full. */
		if (out && strstr(out, "No space left"))
			return -ENOSPC;
		return -EIO;
	}
	if (ret_output)
		*ret_output = TAKE_PTR(out);
	return 0;
}

int volume_create(const char *path, unsigned long long size_bytes)
{
	char size[32];
	snprintf(size, sizeof(size), "%llu", size_bytes);
	const char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", path, size, NULL};
	return qemu_img(argv, NULL);
}

int volume_create_overlay(const char *path, const char *backing)
{
	const char *argv[] = {"qemu-img", "create", "-q",    "-f", "qcow2", "-F",
			      "qcow2",	  "-b",	    backing, path, NULL};
	return qemu_img(argv, NULL);
}

int volume_copy(const char *src, const char *dst)
{
	const char *argv[] = {"qemu-img", "convert", "-q", "-O", "qcow2", src, dst, NULL};
	return qemu_img(argv, NULL);
}

int volume_resize(const char *path, unsigned long long size_bytes)
{
	char size[32];
	snprintf(size, sizeof(size), "%llu", size_bytes);
	const char *argv[] = {"qemu-img", "resize", "-q", "-f", "qcow2", path, size, NULL};
	return qemu_img(argv, NULL);
}

int volume_info(const char *path, unsigned long long *ret_size, unsigned long long *ret_usage)
{
	_cleanup_free_ char *out = NULL;
	/* -U: the image may be in use by a running qube; we only read its header. */
	const char *argv[] = {"qemu-img", "info", "-U", "--output=json", path, NULL};
	int r = qemu_img(argv, &out);
	if (r < 0)
		return r;
	struct json_object *o = json_tokener_parse(out), *v;
	if (!o)
		return -EBADMSG;
	if (json_object_object_get_ex(o, "virtual-size", &v))
		*ret_size = (unsigned long long)json_object_get_int64(v);
	else
		*ret_size = 0;
	if (json_object_object_get_ex(o, "actual-size", &v))
		*ret_usage = (unsigned long long)json_object_get_int64(v);
	else
		*ret_usage = 0;
	json_object_put(o);
	return 0;
}
