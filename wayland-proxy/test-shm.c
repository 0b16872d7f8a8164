/* shm.c: the frames sent at each commit must make the host's copy of the buffer equal the
 * client's, while carrying only the damage the host's copy lacks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <lz4.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <wayland-client-protocol.h>

#include "link.h"
#include "shm.h"
#include "unaligned.h"

#define POOL 10
#define SURF 20

struct frame {
	uint32_t pool, offset, row_len, stride, rows, flags;
	size_t data_len;
};

/* The host half's copy of the pool, and what arrived. */
struct host {
	uint8_t *mem;
	size_t size;
	struct frame frames[4096];
	unsigned nframes;
	uint64_t bytes; /* rows * row_len of every frame */
	unsigned bulk;	/* frames handed over as the pool's descriptor */
};

static int host_apply(void *userdata, const void *hdr, const void *bytes, size_t data_len, int fd,
		      uint64_t fd_offset)
{
	struct host *h = userdata;
	const uint8_t *p = hdr;
	uint8_t *from_fd = NULL;
	const void *data = bytes;
	struct frame f = {unaligned_read_le32(p),
			  unaligned_read_le32(p + 4),
			  unaligned_read_le32(p + 8),
			  unaligned_read_le32(p + 12),
			  unaligned_read_le32(p + 16),
			  unaligned_read_le32(p + 20),
			  data_len};
	size_t raw_len = (size_t)f.row_len * f.rows;
	uint8_t *raw = malloc(raw_len ? raw_len : 1);

	assert_true(SHM_WRITE_HEADER_SIZE + data_len <= LINK_MAX_PAYLOAD);
	if (!bytes) {
		/* Handed over as the pool's file: whole contiguous rows, many of them. */
		assert_true(fd >= 0 && data_len >= SHM_BULK_MIN);
		assert_true(f.rows == 1 || f.row_len == f.stride);
		assert_int_equal(fd_offset, f.offset);
		from_fd = malloc(data_len);
		assert_int_equal(pread(fd, from_fd, data_len, fd_offset), data_len);
		data = from_fd;
		h->bulk++;
	}
	assert_int_equal(f.pool, POOL);
	assert_true(f.rows > 0 && f.row_len > 0 && f.row_len <= f.stride);
	assert_true(f.offset + (size_t)(f.rows - 1) * f.stride + f.row_len <= h->size);
	if (f.flags & LINK_SHM_LZ4) {
		assert_true(data_len < raw_len);
		assert_int_equal(LZ4_decompress_safe(data, (char *)raw, data_len, raw_len),
				 raw_len);
	} else {
		assert_int_equal(data_len, raw_len);
		memcpy(raw, data, raw_len);
	}
	for (uint32_t i = 0; i < f.rows; i++)
		memcpy(h->mem + f.offset + (size_t)i * f.stride, raw + (size_t)i * f.row_len,
		       f.row_len);
	free(raw);
	free(from_fd);
	assert_true(h->nframes < 4096);
	h->frames[h->nframes++] = f;
	h->bytes += raw_len;
	return 0;
}

struct client {
	struct shm_tracker *t;
	int fd;
	uint8_t *mem;
	size_t size;
	struct host host;
};

static void client_init(struct client *c, size_t size)
{
	c->fd = memfd_create("test-shm", MFD_CLOEXEC);
	assert_true(c->fd >= 0);
	assert_int_equal(ftruncate(c->fd, size), 0);
	c->mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
	assert_true(c->mem != MAP_FAILED);
	c->size = size;
	c->host = (struct host){.mem = calloc(1, size), .size = size};
	c->t = shm_tracker_new();
	assert_int_equal(shm_pool_new(c->t, POOL, dup(c->fd), size), 0);
	assert_int_equal(shm_surface_new(c->t, SURF), 0);
}

static void client_fini(struct client *c)
{
	shm_tracker_free(c->t);
	munmap(c->mem, c->size);
	close(c->fd);
	free(c->host.mem);
}

static void commit(struct client *c)
{
	c->host.nframes = 0;
	c->host.bytes = 0;
	c->host.bulk = 0;
	assert_int_equal(shm_surface_commit(c->t, SURF, host_apply, &c->host), 0);
}

static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = rand();
}

/* 100x50 ARGB buffers at offset 0 and 20000 (stride 400). */
static void test_first_commit_whole_then_damage(void **state)
{
	struct client c;

	client_init(&c, 40000);
	assert_int_equal(shm_buffer_new(c.t, POOL, 30, 0, 100, 50, 400, WL_SHM_FORMAT_ARGB8888), 0);
	fill_random(c.mem, 20000);
	shm_surface_attach(c.t, SURF, 30);
	shm_surface_damage(c.t, SURF, 0, 0, 1, 1, false);
	commit(&c);
	assert_int_equal(c.host.bytes, 20000);
	assert_memory_equal(c.host.mem, c.mem, 20000);

	/* Same buffer again with a small damage: only that rectangle, in one frame. */
	for (int y = 10; y < 15; y++)
		fill_random(c.mem + y * 400 + 40, 20);
	shm_surface_attach(c.t, SURF, 30);
	shm_surface_damage(c.t, SURF, 10, 10, 5, 5, false);
	commit(&c);
	assert_int_equal(c.host.nframes, 1);
	assert_int_equal(c.host.frames[0].offset, 10 * 400 + 40);
	assert_int_equal(c.host.frames[0].row_len, 20);
	assert_int_equal(c.host.frames[0].stride, 400);
	assert_int_equal(c.host.frames[0].rows, 5);
	assert_memory_equal(c.host.mem, c.mem, 20000);

	/* A commit with neither attach nor damage sends nothing. */
	commit(&c);
	assert_int_equal(c.host.nframes, 0);
	client_fini(&c);
}

/* A square moved by a few pixels: one frame for both positions; far apart: one each. */
static void test_near_rects_merge(void **state)
{
	struct client c;

	client_init(&c, 20000);
	assert_int_equal(shm_buffer_new(c.t, POOL, 30, 0, 100, 50, 400, WL_SHM_FORMAT_ARGB8888), 0);
	shm_surface_attach(c.t, SURF, 30);
	commit(&c);
	shm_surface_attach(c.t, SURF, 30);
	shm_surface_damage(c.t, SURF, 10, 10, 20, 20, true);
	shm_surface_damage(c.t, SURF, 12, 11, 20, 20, true);
	commit(&c);
	assert_int_equal(c.host.nframes, 1);
	assert_int_equal(c.host.frames[0].offset, 10 * 400 + 10 * 4);
	assert_int_equal(c.host.frames[0].row_len, 22 * 4);
	assert_int_equal(c.host.frames[0].rows, 21);
	shm_surface_attach(c.t, SURF, 30);
	shm_surface_damage(c.t, SURF, 0, 0, 10, 10, true);
	shm_surface_damage(c.t, SURF, 80, 30, 10, 10, true);
	commit(&c);
	assert_int_equal(c.host.nframes, 2);
	client_fini(&c);
}

/* Two buffers used in turn (buffer age 2): the reused buffer needs both commits' damage. */
static void test_buffer_age(void **state)
{
	struct client c;

	client_init(&c, 40000);
	assert_int_equal(shm_buffer_new(c.t, POOL, 30, 0, 100, 50, 400, WL_SHM_FORMAT_XRGB8888), 0);
	assert_int_equal(shm_buffer_new(c.t, POOL, 31, 20000, 100, 50, 400, WL_SHM_FORMAT_XRGB8888),
			 0);
	shm_surface_attach(c.t, SURF, 30);
	commit(&c);
	assert_int_equal(c.host.bytes, 20000);
	shm_surface_attach(c.t, SURF, 31);
	shm_surface_damage(c.t, SURF, 0, 0, 10, 10, true);
	commit(&c);
	assert_int_equal(c.host.bytes, 20000); /* first time: whole */
	shm_surface_attach(c.t, SURF, 30);
	shm_surface_damage(c.t, SURF, 50, 20, 10, 10, false);
	commit(&c);
	/* commit 2's (0,0 10x10) and commit 3's (50,20 10x10) */
	assert_int_equal(c.host.nframes, 2);
	assert_int_equal(c.host.bytes, 2 * 10 * 10 * 4);
	assert_int_equal(c.host.frames[0].offset, 0);
	assert_int_equal(c.host.frames[1].offset, 20 * 400 + 50 * 4);
	client_fini(&c);
}

/* A client drawing by buffer age into three buffers with random damage: after every commit the
 * host's copy of the committed buffer equals the client's frame. */
static void test_random_frames_stay_identical(void **state)
{
	enum { W = 64, H = 48, STRIDE = W * 4, SIZE = STRIDE * H, NBUF = 3 };
	struct client c;
	uint8_t frame[SIZE];
	int last_used[NBUF] = {-1, -1, -1};
	/* damage of each frame, as rectangles in buffer coordinates */
	struct {
		int x, y, w, h;
	} damage[400];
	uint64_t sent = 0;

	srand(1);
	client_init(&c, SIZE * NBUF);
	for (int i = 0; i < NBUF; i++)
		assert_int_equal(shm_buffer_new(c.t, POOL, 30 + i, i * SIZE, W, H, STRIDE,
						WL_SHM_FORMAT_ARGB8888),
				 0);
	fill_random(frame, SIZE);
	for (int n = 0; n < 400; n++) {
		int b = rand() % NBUF;
		uint8_t *buf = c.mem + b * SIZE;

		damage[n].x = rand() % W;
		damage[n].y = rand() % H;
		damage[n].w = 1 + rand() % (W / 3);
		damage[n].h = 1 + rand() % (H / 3);
		for (int y = damage[n].y; y < damage[n].y + damage[n].h && y < H; y++)
			for (int x = damage[n].x; x < damage[n].x + damage[n].w && x < W; x++)
				fill_random(frame + y * STRIDE + x * 4, 4);
		/* The client repaints what changed since this buffer was last shown. */
		if (last_used[b] < 0)
			memcpy(buf, frame, SIZE);
		else
			for (int k = last_used[b] + 1; k <= n; k++)
				for (int y = damage[k].y; y < damage[k].y + damage[k].h && y < H;
				     y++) {
					int x = damage[k].x;
					int w = x + damage[k].w > W ? W - x : damage[k].w;

					memcpy(buf + y * STRIDE + x * 4, frame + y * STRIDE + x * 4,
					       w * 4);
				}
		last_used[b] = n;
		shm_surface_attach(c.t, SURF, 30 + b);
		shm_surface_damage(c.t, SURF, damage[n].x, damage[n].y, damage[n].w, damage[n].h,
				   rand() % 2);
		commit(&c);
		assert_memory_equal(c.host.mem + b * SIZE, frame, SIZE);
		sent += c.host.bytes;
	}
	/* Far less than whole buffers every time. */
	assert_true(sent < 400ull * SIZE / 4);
	client_fini(&c);
}

/* Surface damage goes through the buffer scale and transform as wlroots computes it. */
static void test_scale_and_transform(void **state)
{
	struct client c;

	client_init(&c, 200 * 100 * 4);
	assert_int_equal(shm_buffer_new(c.t, POOL, 30, 0, 200, 100, 800, WL_SHM_FORMAT_ARGB8888),
			 0);
	shm_surface_set_scale(c.t, SURF, 2);
	shm_surface_attach(c.t, SURF, 30);
	commit(&c);
	shm_surface_attach(c.t, SURF, 30);
	shm_surface_damage(c.t, SURF, 3, 4, 5, 6, false);
	commit(&c);
	assert_int_equal(c.host.nframes, 1);
	assert_int_equal(c.host.frames[0].offset, 8 * 800 + 6 * 4);
	assert_int_equal(c.host.frames[0].row_len, 10 * 4);
	assert_int_equal(c.host.frames[0].rows, 12);

	/* A transform change is a whole-buffer commit... */
	shm_surface_set_transform(c.t, SURF, WL_OUTPUT_TRANSFORM_90);
	shm_surface_attach(c.t, SURF, 30);
	commit(&c);
	assert_int_equal(c.host.bytes, 200 * 100 * 4);
	/* ...then the 90-degree surface (50x100 at scale 2) maps (0,0 5x10) to buffer x 0..20,
	 * y 90..100. */
	shm_surface_attach(c.t, SURF, 30);
	shm_surface_damage(c.t, SURF, 0, 0, 5, 10, false);
	commit(&c);
	assert_int_equal(c.host.nframes, 1);
	assert_int_equal(c.host.frames[0].offset, 90 * 800);
	assert_int_equal(c.host.frames[0].row_len, 20 * 4);
	assert_int_equal(c.host.frames[0].rows, 10);

	/* An unknown transform or scale: whole buffer. */
	shm_surface_set_transform(c.t, SURF, 99);
	shm_surface_attach(c.t, SURF, 30);
	shm_surface_damage(c.t, SURF, 0, 0, 1, 1, true);
	commit(&c);
	assert_int_equal(c.host.bytes, 200 * 100 * 4);
	shm_surface_attach(c.t, SURF, 30);
	shm_surface_damage(c.t, SURF, 0, 0, 1, 1, true);
	commit(&c);
	assert_int_equal(c.host.bytes, 200 * 100 * 4);
	client_fini(&c);
}

static void test_viewport_means_whole_buffer(void **state)
{
	struct client c;

	client_init(&c, 20000);
	assert_int_equal(shm_buffer_new(c.t, POOL, 30, 0, 100, 50, 400, WL_SHM_FORMAT_ARGB8888), 0);
	assert_int_equal(shm_viewport_new(c.t, 40, SURF), 0);
	shm_viewport_set(c.t, 40, false, true);
	shm_surface_attach(c.t, SURF, 30);
	commit(&c);
	shm_surface_attach(c.t, SURF, 30);
	shm_surface_damage(c.t, SURF, 1, 1, 1, 1, false);
	commit(&c);
	assert_int_equal(c.host.bytes, 20000);
	/* Buffer damage is exact even with a viewport. */
	shm_surface_attach(c.t, SURF, 30);
	shm_surface_damage(c.t, SURF, 1, 1, 1, 1, true);
	commit(&c);
	assert_int_equal(c.host.bytes, 4);
	/* Without it, surface damage is exact again (after the whole-buffer change commit). */
	shm_viewport_destroy(c.t, 40);
	shm_surface_attach(c.t, SURF, 30);
	commit(&c);
	assert_int_equal(c.host.bytes, 20000);
	shm_surface_attach(c.t, SURF, 30);
	shm_surface_damage(c.t, SURF, 1, 1, 1, 1, false);
	commit(&c);
	assert_int_equal(c.host.bytes, 4);
	client_fini(&c);
}

static void test_history_too_old_means_whole(void **state)
{
	struct client c;

	client_init(&c, 40000);
	assert_int_equal(shm_buffer_new(c.t, POOL, 30, 0, 100, 50, 400, WL_SHM_FORMAT_ARGB8888), 0);
	assert_int_equal(shm_buffer_new(c.t, POOL, 31, 20000, 100, 50, 400, WL_SHM_FORMAT_ARGB8888),
			 0);
	shm_surface_attach(c.t, SURF, 30);
	commit(&c);
	for (int i = 0; i < SHM_HISTORY; i++) {
		shm_surface_attach(c.t, SURF, 31);
		shm_surface_damage(c.t, SURF, 0, 0, 1, 1, true);
		commit(&c);
	}
	shm_surface_attach(c.t, SURF, 30);
	shm_surface_damage(c.t, SURF, 0, 0, 1, 1, true);
	commit(&c);
	assert_int_equal(c.host.bytes, 20000);
	/* A buffer shown on another surface since: whole as well. */
	assert_int_equal(shm_surface_new(c.t, SURF + 1), 0);
	shm_surface_attach(c.t, SURF + 1, 30);
	assert_int_equal(shm_surface_commit(c.t, SURF + 1, host_apply, &c.host), 0);
	shm_surface_attach(c.t, SURF, 30);
	shm_surface_damage(c.t, SURF, 0, 0, 1, 1, true);
	commit(&c);
	assert_int_equal(c.host.bytes, 20000);
	client_fini(&c);
}

/* 1024x1024: split under LINK_MAX_PAYLOAD; flat content compressed, noise sent raw. */
static void test_split_and_lz4(void **state)
{
	enum { W = 1024, H = 1024, SIZE = W * H * 4 };
	struct client c;
	unsigned lz4 = 0;

	client_init(&c, SIZE);
	assert_int_equal(shm_buffer_new(c.t, POOL, 30, 0, W, H, W * 4, WL_SHM_FORMAT_ARGB8888), 0);
	memset(c.mem, 0x55, SIZE);
	shm_surface_attach(c.t, SURF, 30);
	commit(&c);
	assert_true(c.host.nframes >= 4);
	for (unsigned i = 0; i < c.host.nframes; i++)
		lz4 += c.host.frames[i].flags & LINK_SHM_LZ4;
	assert_int_equal(lz4, c.host.nframes);
	assert_memory_equal(c.host.mem, c.mem, SIZE);

	fill_random(c.mem, SIZE);
	shm_surface_attach(c.t, SURF, 30);
	shm_surface_damage(c.t, SURF, 0, 0, W, H, true);
	commit(&c);
	for (unsigned i = 0; i < c.host.nframes; i++)
		assert_int_equal(c.host.frames[i].flags, 0);
	/* all but the short last chunk */
	assert_int_equal(c.host.bulk, c.host.nframes - 1);
	assert_memory_equal(c.host.mem, c.mem, SIZE);
	client_fini(&c);
}

/* Unknown formats go as whole rows. */
static void test_unknown_format_whole_rows(void **state)
{
	struct client c;

	client_init(&c, 20000);
	assert_int_equal(shm_buffer_new(c.t, POOL, 30, 0, 100, 50, 400, 0x12345678), 0);
	shm_surface_attach(c.t, SURF, 30);
	commit(&c);
	shm_surface_attach(c.t, SURF, 30);
	shm_surface_damage(c.t, SURF, 10, 10, 5, 5, true);
	shm_surface_damage(c.t, SURF, 50, 10, 5, 5, true);
	commit(&c);
	assert_int_equal(c.host.nframes, 1);
	assert_int_equal(c.host.frames[0].offset, 10 * 400);
	assert_int_equal(c.host.frames[0].row_len, 400);
	assert_int_equal(c.host.frames[0].rows, 5);
	client_fini(&c);
}

static void test_pool_lifetime(void **state)
{
	struct client c;
	uint32_t due;

	client_init(&c, 40000);
	assert_int_equal(shm_buffer_new(c.t, POOL, 30, 0, 100, 50, 400, WL_SHM_FORMAT_ARGB8888), 0);
	/* Outside the pool, too large, or a stride too short for the width: refused. */
	assert_int_equal(shm_buffer_new(c.t, POOL, 31, 30000, 100, 50, 400, WL_SHM_FORMAT_ARGB8888),
			 -EINVAL);
	assert_int_equal(shm_buffer_new(c.t, POOL, 31, 0, 100, 50, 200, WL_SHM_FORMAT_ARGB8888),
			 -EINVAL);
	assert_int_equal(shm_buffer_new(c.t, POOL, 31, 0, 100, -1, 400, WL_SHM_FORMAT_ARGB8888),
			 -EINVAL);
	assert_int_equal(shm_buffer_new(c.t, 99, 31, 0, 100, 50, 400, WL_SHM_FORMAT_ARGB8888),
			 -ENOENT);
	assert_int_equal(shm_pool_resize(c.t, POOL, 100), -EINVAL);
	assert_int_equal(shm_pool_resize(c.t, POOL, (int32_t)LINK_MAX_POOL_BYTES + 1), -EINVAL);
	assert_int_equal(shm_pool_new(c.t, POOL + 1, dup(c.fd), 0), -EINVAL);
	assert_int_equal(shm_pool_new(c.t, POOL, dup(c.fd), 100), -EEXIST);

	/* The destroy of a pool that still backs a buffer is held back until the buffer goes. */
	assert_int_equal(shm_pool_destroy(c.t, POOL), 1);
	assert_int_equal(shm_buffer_new(c.t, POOL, 31, 0, 10, 10, 40, WL_SHM_FORMAT_ARGB8888),
			 -ENOENT);
	shm_surface_attach(c.t, SURF, 30);
	commit(&c);
	assert_int_equal(c.host.bytes, 20000);
	shm_buffer_destroy(c.t, 30, &due);
	assert_int_equal(due, POOL);
	assert_false(shm_buffer_known(c.t, 30));
	/* The surface no longer points at it. */
	commit(&c);
	assert_int_equal(c.host.nframes, 0);
	assert_int_equal(shm_pool_destroy(c.t, POOL), -ENOENT);

	/* A pool without buffers goes at once; a grown pool takes buffers in its new part. */
	assert_int_equal(shm_pool_new(c.t, POOL, dup(c.fd), 20000), 0);
	assert_int_equal(shm_buffer_new(c.t, POOL, 32, 20000, 100, 50, 400, WL_SHM_FORMAT_ARGB8888),
			 -EINVAL);
	assert_int_equal(shm_pool_resize(c.t, POOL, 40000), 0);
	assert_int_equal(shm_buffer_new(c.t, POOL, 32, 20000, 100, 50, 400, WL_SHM_FORMAT_ARGB8888),
			 0);
	fill_random(c.mem + 20000, 20000);
	shm_surface_attach(c.t, SURF, 32);
	commit(&c);
	assert_memory_equal(c.host.mem + 20000, c.mem + 20000, 20000);
	shm_buffer_destroy(c.t, 32, &due);
	assert_int_equal(due, 0);
	assert_int_equal(shm_pool_destroy(c.t, POOL), 0);
	client_fini(&c);
}

/* A client that truncates its pool under us fails its commit instead of killing the proxy. */
static void test_truncated_pool(void **state)
{
	struct client c;

	client_init(&c, 40960);
	assert_int_equal(shm_buffer_new(c.t, POOL, 30, 0, 100, 100, 400, WL_SHM_FORMAT_ARGB8888),
			 0);
	assert_int_equal(ftruncate(c.fd, 0), 0);
	shm_surface_attach(c.t, SURF, 30);
	assert_int_equal(shm_surface_commit(c.t, SURF, host_apply, &c.host), -EFAULT);
	client_fini(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_first_commit_whole_then_damage),
	    cmocka_unit_test(test_buffer_age),
	    cmocka_unit_test(test_near_rects_merge),
	    cmocka_unit_test(test_random_frames_stay_identical),
	    cmocka_unit_test(test_scale_and_transform),
	    cmocka_unit_test(test_viewport_means_whole_buffer),
	    cmocka_unit_test(test_history_too_old_means_whole),
	    cmocka_unit_test(test_split_and_lz4),
	    cmocka_unit_test(test_unknown_format_whole_rows),
	    cmocka_unit_test(test_pool_lifetime),
	    cmocka_unit_test(test_truncated_pool),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
