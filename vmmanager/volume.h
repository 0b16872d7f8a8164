/* Volumes: qcow2 files through qemu-img (volume.c). */
#pragma once

int volume_create(const char *path, unsigned long long size_bytes);
int volume_create_overlay(const char *path, const char *backing);
int volume_copy(const char *src, const char *dst);
int volume_resize(const char *path, unsigned long long size_bytes);
int volume_info(const char *path, unsigned long long *ret_size, unsigned long long *ret_usage);
/* The same, run off the event loop: done(0 or -errno, userdata) comes from the loop later; a
 * negative return means it did not start (done is not called). */
typedef void (*volume_done_fn)(int r, void *userdata);
int volume_create_async(const char *path, unsigned long long size_bytes, volume_done_fn done,
			void *userdata);
int volume_create_overlay_async(const char *path, const char *backing, volume_done_fn done,
				void *userdata);
/* A byte copy (cp, with reflinks where the filesystem has them); fsync of one file. */
int volume_copy_file_async(const char *src, const char *dst, volume_done_fn done, void *userdata);
int volume_sync_async(const char *path, volume_done_fn done, void *userdata);
