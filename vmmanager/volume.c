/* Volumes are qcow2 files; qemu-img does the format work. */
#include <json-c/json.h>

#include "spawn-async.h"
#include "subprocess.h"
#include "util.h"
#include "volume.h"

/* qemu-img's verdict as -errno. */
static int qemu_img_result(int status, const char *output)
{
	if (status < 0)
		return status;
	if (status != 0)
		return output && strstr(output, "No space left") ? -ENOSPC : -EIO;
	return 0;
}

static int qemu_img(const char *const *argv, char **ret_output)
{
	_cleanup_free_ char *out = NULL;
	int status = spawn_wait(argv, &out);
	int r = qemu_img_result(status, out);
	if (r < 0)
		return r;
	if (ret_output)
		*ret_output = TAKE_PTR(out);
	return 0;
}

struct volume_job {
	volume_done_fn done;
	void *userdata;
};

static void qemu_img_done(int status, const char *output, void *opaque)
{
	struct volume_job *j = opaque;
	j->done(qemu_img_result(status, output), j->userdata);
	free(j);
}

static int qemu_img_async(const char *const *argv, volume_done_fn done, void *userdata)
{
	struct volume_job *j = xcalloc(1, sizeof(*j));
	j->done = done;
	j->userdata = userdata;
	int r = spawn_async(argv, qemu_img_done, j);
	if (r < 0)
		free(j);
	return r;
}

int volume_create_async(const char *path, unsigned long long size_bytes, volume_done_fn done,
			void *userdata)
{
	char size[32];
	snprintf(size, sizeof(size), "%llu", size_bytes);
	const char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", path, size, NULL};
	return qemu_img_async(argv, done, userdata);
}

int volume_create_overlay_async(const char *path, const char *backing, volume_done_fn done,
				void *userdata)
{
	const char *argv[] = {"qemu-img", "create", "-q",    "-f", "qcow2", "-F",
			      "qcow2",	  "-b",	    backing, path, NULL};
	return qemu_img_async(argv, done, userdata);
}

int volume_copy_file_async(const char *src, const char *dst, volume_done_fn done, void *userdata)
{
	/* A qcow2 file copied byte for byte is the same image; a reflink makes it instant. */
	const char *argv[] = {
	    "cp", "--reflink=auto", "--sparse=always", "--no-preserve=all", "--", src, dst, NULL};
	return qemu_img_async(argv, done, userdata);
}

int volume_sync_async(const char *path, volume_done_fn done, void *userdata)
{
	const char *argv[] = {"sync", "--", path, NULL};
	return qemu_img_async(argv, done, userdata);
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
