/* Guest side of wl_shm: the client's pools mapped read-only, the buffers made from them, and per
 * surface a short history of committed damage, from which each commit's LINK_SHM_WRITE frames
 * are made: exactly the parts of the attached buffer that the host half's copy lacks. A buffer
 * the host has never seen, or one whose history is lost, goes whole.
 *
 * Object ids are the client's; the caller feeds the relevant requests in the order the client
 * sent them. No logging, no I/O besides reading the client's mappings: frames go to a callback.
 * A pool whose memory shrinks under us (SIGBUS) fails the commit with -EFAULT. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHM_WRITE_HEADER_SIZE 24
#define SHM_HISTORY	      16 /* commits of damage kept per surface (buffer age up to this) */

struct shm_tracker;

#define SHM_BULK_MIN (64u << 10) /* contiguous raw bytes sent from the descriptor */

/* One LINK_SHM_WRITE payload: hdr (SHM_WRITE_HEADER_SIZE bytes) followed by data_len bytes of
 * data, or, when data is NULL, by data_len bytes of the client's pool file fd from fd_offset
 * (read them with sendfile or pread; the file may be shorter than the client promised). A
 * negative return aborts the commit with that error. */
typedef int (*shm_emit_fn)(void *userdata, const void *hdr, const void *data, size_t data_len,
			   int fd, uint64_t fd_offset);

struct shm_tracker *shm_tracker_new(void);
void shm_tracker_free(struct shm_tracker *t);

/* wl_shm.create_pool. Takes fd (closed on failure too). -EINVAL for a size outside
 * 1..LINK_MAX_POOL_BYTES, -EEXIST for a tracked id, -errno from mmap. */
int shm_pool_new(struct shm_tracker *t, uint32_t id, int fd, int32_t size);
/* wl_shm_pool.resize: -EINVAL when shrinking or above the cap, -ENOENT for an unknown pool. */
int shm_pool_resize(struct shm_tracker *t, uint32_t id, int32_t size);
/* wl_shm_pool.destroy: 0 when the request can go now, 1 when buffers made from the pool still
 * live: the caller holds the request back until shm_buffer_destroy names the pool (so the pool id
 * stays valid on the host for SHM_WRITE). -ENOENT for an unknown pool. */
int shm_pool_destroy(struct shm_tracker *t, uint32_t id);
/* wl_shm_pool.create_buffer. -EINVAL when the buffer does not lie inside the pool or exceeds
 * LINK_MAX_BUFFER_BYTES, -ENOENT for an unknown or destroyed pool. */
int shm_buffer_new(struct shm_tracker *t, uint32_t pool_id, uint32_t id, int32_t offset,
		   int32_t width, int32_t height, int32_t stride, uint32_t format);
/* wl_buffer.destroy; *ret_pool_destroy is a held-back pool whose destroy request is now due, or
 * 0. Unknown ids (not shm buffers) are ignored. */
void shm_buffer_destroy(struct shm_tracker *t, uint32_t id, uint32_t *ret_pool_destroy);
bool shm_buffer_known(const struct shm_tracker *t, uint32_t id);

int shm_surface_new(struct shm_tracker *t, uint32_t id);
void shm_surface_destroy(struct shm_tracker *t, uint32_t id);
/* Pending state, applied at commit as wl_surface does. buffer_id 0 attaches nothing; ids that are
 * not shm buffers count as nothing for us. Unknown surfaces are ignored. */
void shm_surface_attach(struct shm_tracker *t, uint32_t id, uint32_t buffer_id);
void shm_surface_damage(struct shm_tracker *t, uint32_t id, int32_t x, int32_t y, int32_t width,
			int32_t height, bool buffer_coords);
void shm_surface_set_scale(struct shm_tracker *t, uint32_t id, int32_t scale);
void shm_surface_set_transform(struct shm_tracker *t, uint32_t id, int32_t transform);
/* wp_viewport: while a source or destination is set, surface damage means the whole buffer. */
int shm_viewport_new(struct shm_tracker *t, uint32_t id, uint32_t surface_id);
void shm_viewport_set(struct shm_tracker *t, uint32_t id, bool source, bool set);
void shm_viewport_destroy(struct shm_tracker *t, uint32_t id);
/* wl_surface.commit: applies the pending state and emits the frames the host's copy of the
 * attached shm buffer needs, split to fit LINK_MAX_PAYLOAD and LZ4-compressed where that is
 * smaller. Returns 0, the callback's error, or -EFAULT when the client's pool is truncated. */
int shm_surface_commit(struct shm_tracker *t, uint32_t id, shm_emit_fn emit, void *userdata);
