/* Guest side of wl_shm: which bytes of a committed buffer the host half's copy lacks. */
#include "shm.h"

#include <errno.h>
#include <limits.h>
#include <lz4.h>
#include <pixman.h>
#include <search.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <wayland-client-protocol.h>

#include "link.h"
#include "shm-format.h"
#include "unaligned.h"
#include "util.h"

/* Damage coordinates are clamped to this before scaling, so that pixman's int32 arithmetic
 * cannot overflow; any real buffer is far smaller. */
#define COORD_MAX   (1 << 24)
#define SCALE_MAX   16
#define MAX_RECTS   64 /* more damage rectangles than this are merged into their extents */
#define LZ4_MIN_LEN 64
/* Larger chunks are compressed only when their first LZ4_SAMPLE bytes shrink to at most 7/8:
 * LZ4 on bytes that do not compress costs about as much as sending them (noise, video). */
#define LZ4_SAMPLE (16u << 10)
#define LZ4_SKIP   8

struct shm_pool {
	uint32_t id;
	int fd;
	uint8_t *map;
	size_t size;
	unsigned buffers; /* live buffers made from it */
	bool destroyed;	  /* its destroy request is held back until buffers is 0 */
};

struct shm_buffer {
	uint32_t id;
	struct shm_pool *pool;
	uint32_t offset, width, height, stride, format;
	/* What the host's copy holds: the contents of commit sent_seq of surface sent_surface
	 * (a surface serial, never reused); 0 when never sent. */
	uint64_t sent_surface, sent_seq;
};

struct history {
	uint64_t seq;
	bool full;
	pixman_region32_t damage; /* buffer coordinates */
};

struct shm_surface {
	uint32_t id;
	uint64_t serial;
	bool pending_attach;
	struct shm_buffer *pending_buffer;
	pixman_region32_t pending_surface_damage, pending_buffer_damage;
	int32_t pending_scale, pending_transform;

	struct shm_buffer *buffer;
	uint32_t buffer_width, buffer_height;
	int32_t scale, transform;
	bool viewport; /* at the last commit */
	uint32_t viewport_id;
	bool viewport_source, viewport_destination;

	uint64_t seq;
	struct history hist[SHM_HISTORY];
};

struct viewport {
	uint32_t id;
	uint32_t surface_id;
};

/* Four maps of objects by id (tsearch trees; every object starts with its uint32_t id). */
struct shm_tracker {
	void *pools, *buffers, *surfaces, *viewports;
	uint64_t next_serial;
	uint8_t *scratch, *packed;
	size_t scratch_size, packed_size;
	unsigned lz4_skip; /* large chunks still to send raw since a sample did not shrink */
};

static int id_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void *map_get(void *const *root, uint32_t id)
{
	void **p = tfind(&id, root, id_cmp);

	return p ? *p : NULL;
}

static void map_put(void **root, void *obj)
{
	if (!tsearch(obj, root, id_cmp))
		abort(); /* out of memory, as xmalloc */
}

/* Removes id from the map and returns its object, for the caller to free. */
static void *map_take(void **root, uint32_t id)
{
	void *obj = map_get(root, id);

	if (obj)
		tdelete(&id, root, id_cmp);
	return obj;
}

static sigjmp_buf *bus_jump;

static void on_sigbus(int sig, siginfo_t *info, void *ctx)
{
	if (bus_jump)
		siglongjmp(*bus_jump, 1);
	signal(SIGBUS, SIG_DFL);
	raise(SIGBUS);
}

static void install_sigbus_handler(void)
{
	struct sigaction sa = {.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO | SA_NODEFER};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
}

/* Copies rows out of a client's mapping, which the client may truncate under us; with packed
 * set, LZ4-compresses the copied (or, when contiguous, the mapped) bytes into it as well:
 * *ret_packed_len is then the compressed size, or 0 when that would not be smaller. */
static __attribute__((noinline)) int read_rows(struct shm_tracker *t, uint8_t *dst,
					       const uint8_t *src, size_t row_len, size_t stride,
					       uint32_t rows, uint8_t *packed, int *ret_packed_len)
{
	size_t len = row_len * rows;
	sigjmp_buf jb;

	/* The mask need not be saved: the handler runs with SA_NODEFER, so a jump out of it
	 * leaves SIGBUS unblocked (and saving it costs two system calls a chunk). */
	if (sigsetjmp(jb, 0)) {
		bus_jump = NULL;
		return -EFAULT;
	}
	bus_jump = &jb;
	if (dst) {
		if (row_len == stride)
			memcpy(dst, src, len);
		else
			for (uint32_t i = 0; i < rows; i++)
				memcpy(dst + (size_t)i * row_len, src + (size_t)i * stride,
				       row_len);
	}
	if (packed) {
		const char *from = (const char *)(dst ? dst : src);
		bool large = len >= 2 * LZ4_SAMPLE;
		*ret_packed_len = 0;
		/* After a sample that did not shrink, the next few large chunks (the rest of that
		 * frame and the next ones, most likely alike) go raw without trying. */
		if (large && t->lz4_skip > 0)
			t->lz4_skip--;
		else if (!large || LZ4_compress_default(from, (char *)packed, LZ4_SAMPLE,
							LZ4_SAMPLE / 8 * 7) > 0)
			*ret_packed_len = LZ4_compress_default(from, (char *)packed, len, len - 1);
		else
			t->lz4_skip = LZ4_SKIP;
	}
	bus_jump = NULL;
	return 0;
}

static void pool_free(void *p)
{
	struct shm_pool *pool = p;

	if (pool->map)
		munmap(pool->map, pool->size);
	closep(&pool->fd);
	free(pool);
}

static void buffer_free(void *p)
{
	free(p);
}

static void surface_free(void *p)
{
	struct shm_surface *s = p;

	pixman_region32_fini(&s->pending_surface_damage);
	pixman_region32_fini(&s->pending_buffer_damage);
	for (unsigned i = 0; i < SHM_HISTORY; i++)
		pixman_region32_fini(&s->hist[i].damage);
	free(s);
}

struct shm_tracker *shm_tracker_new(void)
{
	struct shm_tracker *t = xcalloc(1, sizeof(*t));

	install_sigbus_handler();
	return t;
}

void shm_tracker_free(struct shm_tracker *t)
{
	if (!t)
		return;
	tdestroy(t->viewports, free);
	tdestroy(t->surfaces, surface_free);
	tdestroy(t->buffers, buffer_free);
	tdestroy(t->pools, pool_free);
	free(t->scratch);
	free(t->packed);
	free(t);
}

int shm_pool_new(struct shm_tracker *t, uint32_t id, int fd, int32_t size)
{
	_cleanup_close_ int owned = fd;
	struct shm_pool *pool;
	void *map;

	if (size <= 0 || (uint32_t)size > LINK_MAX_POOL_BYTES)
		return -EINVAL;
	if (map_get(&t->pools, id))
		return -EEXIST;
	map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	pool = xcalloc(1, sizeof(*pool));
	pool->id = id;
	pool->fd = TAKE_FD(owned);
	pool->map = map;
	pool->size = size;
	map_put(&t->pools, pool);
	return 0;
}

int shm_pool_resize(struct shm_tracker *t, uint32_t id, int32_t size)
{
	struct shm_pool *pool = map_get(&t->pools, id);
	void *map;

	if (!pool || pool->destroyed)
		return -ENOENT;
	if (size <= 0 || (size_t)size < pool->size || (uint32_t)size > LINK_MAX_POOL_BYTES)
		return -EINVAL;
	if ((size_t)size == pool->size)
		return 0;
	map = mremap(pool->map, pool->size, size, MREMAP_MAYMOVE);
	if (map == MAP_FAILED)
		return -errno;
	pool->map = map;
	pool->size = size;
	return 0;
}

int shm_pool_destroy(struct shm_tracker *t, uint32_t id)
{
	struct shm_pool *pool = map_get(&t->pools, id);

	if (!pool || pool->destroyed)
		return -ENOENT;
	if (pool->buffers > 0) {
		pool->destroyed = true;
		return 1;
	}
	pool_free(map_take(&t->pools, id));
	return 0;
}

/* Bytes per pixel of the formats whose rectangles we can cut; 0: send whole rows. */
static uint32_t format_bpp(uint32_t format)
{
	const struct shm_format *f = shm_format_find(format);

	return f ? f->bpp : 0;
}

int shm_buffer_new(struct shm_tracker *t, uint32_t pool_id, uint32_t id, int32_t offset,
		   int32_t width, int32_t height, int32_t stride, uint32_t format)
{
	struct shm_pool *pool = map_get(&t->pools, pool_id);
	struct shm_buffer *b;
	uint64_t bpp = format_bpp(format);

	if (!pool || pool->destroyed)
		return -ENOENT;
	if (offset < 0 || width <= 0 || height <= 0 || stride <= 0)
		return -EINVAL;
	if ((uint64_t)stride * height > LINK_MAX_BUFFER_BYTES ||
	    (uint64_t)offset + (uint64_t)stride * height > pool->size)
		return -EINVAL;
	if (bpp && (uint64_t)width * bpp > (uint64_t)stride)
		return -EINVAL;
	b = xcalloc(1, sizeof(*b));
	*b = (struct shm_buffer){
	    .id = id,
	    .pool = pool,
	    .offset = offset,
	    .width = width,
	    .height = height,
	    .stride = stride,
	    .format = format,
	};
	/* A stale record under a reused id belongs to an object the client already destroyed. */
	shm_buffer_destroy(t, id, NULL);
	pool->buffers++;
	map_put(&t->buffers, b);
	return 0;
}

static void forget_buffer(const void *nodep, VISIT which, void *closure)
{
	struct shm_surface *s = *(struct shm_surface *const *)nodep;

	if (which != postorder && which != leaf)
		return;
	if (s->buffer == closure)
		s->buffer = NULL;
	if (s->pending_buffer == closure)
		s->pending_buffer = NULL;
}

void shm_buffer_destroy(struct shm_tracker *t, uint32_t id, uint32_t *ret_pool_destroy)
{
	struct shm_buffer *b = map_take(&t->buffers, id);
	struct shm_pool *pool;

	if (ret_pool_destroy)
		*ret_pool_destroy = 0;
	if (!b)
		return;
	twalk_r(t->surfaces, forget_buffer, b);
	pool = b->pool;
	buffer_free(b);
	if (--pool->buffers == 0 && pool->destroyed) {
		if (ret_pool_destroy)
			*ret_pool_destroy = pool->id;
		pool_free(map_take(&t->pools, pool->id));
	}
}

bool shm_buffer_known(const struct shm_tracker *t, uint32_t id)
{
	return map_get(&t->buffers, id) != NULL;
}

static struct shm_surface *surface_get(struct shm_tracker *t, uint32_t id)
{
	return map_get(&t->surfaces, id);
}

int shm_surface_new(struct shm_tracker *t, uint32_t id)
{
	struct shm_surface *s = xcalloc(1, sizeof(*s));

	s->id = id;
	s->serial = ++t->next_serial;
	s->pending_scale = s->scale = 1;
	pixman_region32_init(&s->pending_surface_damage);
	pixman_region32_init(&s->pending_buffer_damage);
	for (unsigned i = 0; i < SHM_HISTORY; i++)
		pixman_region32_init(&s->hist[i].damage);
	/* A stale record under a reused id belongs to an object the client already destroyed. */
	shm_surface_destroy(t, id);
	map_put(&t->surfaces, s);
	return 0;
}

void shm_surface_destroy(struct shm_tracker *t, uint32_t id)
{
	struct shm_surface *s = map_take(&t->surfaces, id);

	if (s)
		surface_free(s);
}

void shm_surface_attach(struct shm_tracker *t, uint32_t id, uint32_t buffer_id)
{
	struct shm_surface *s = surface_get(t, id);

	if (!s)
		return;
	s->pending_attach = true;
	s->pending_buffer = buffer_id ? map_get(&t->buffers, buffer_id) : NULL;
}

static int32_t clamp_coord(int64_t v)
{
	return v < -COORD_MAX ? -COORD_MAX : v > COORD_MAX ? COORD_MAX : (int32_t)v;
}

static void region_add(pixman_region32_t *r, int32_t x, int32_t y, int32_t width, int32_t height)
{
	int32_t x1 = clamp_coord(x), y1 = clamp_coord(y);
	int32_t x2 = clamp_coord((int64_t)x + width), y2 = clamp_coord((int64_t)y + height);

	if (x2 <= x1 || y2 <= y1)
		return;
	pixman_region32_union_rect(r, r, x1, y1, x2 - x1, y2 - y1);
	if (pixman_region32_n_rects(r) > MAX_RECTS) {
		pixman_box32_t e = *pixman_region32_extents(r);

		pixman_region32_fini(r);
		pixman_region32_init_rect(r, e.x1, e.y1, e.x2 - e.x1, e.y2 - e.y1);
	}
}

void shm_surface_damage(struct shm_tracker *t, uint32_t id, int32_t x, int32_t y, int32_t width,
			int32_t height, bool buffer_coords)
{
	struct shm_surface *s = surface_get(t, id);

	if (!s)
		return;
	region_add(buffer_coords ? &s->pending_buffer_damage : &s->pending_surface_damage, x, y,
		   width, height);
}

void shm_surface_set_scale(struct shm_tracker *t, uint32_t id, int32_t scale)
{
	struct shm_surface *s = surface_get(t, id);

	if (s)
		s->pending_scale = scale;
}

void shm_surface_set_transform(struct shm_tracker *t, uint32_t id, int32_t transform)
{
	struct shm_surface *s = surface_get(t, id);

	if (s)
		s->pending_transform = transform;
}

int shm_viewport_new(struct shm_tracker *t, uint32_t id, uint32_t surface_id)
{
	struct shm_surface *s = surface_get(t, surface_id);
	struct viewport *v;

	if (!s)
		return -ENOENT;
	s->viewport_id = id;
	s->viewport_source = s->viewport_destination = false;
	free(map_take(&t->viewports, id));
	v = xmalloc(sizeof(*v));
	*v = (struct viewport){id, surface_id};
	map_put(&t->viewports, v);
	return 0;
}

static struct shm_surface *viewport_surface(struct shm_tracker *t, uint32_t id)
{
	struct viewport *v = map_get(&t->viewports, id);
	struct shm_surface *s = v ? surface_get(t, v->surface_id) : NULL;

	return s && s->viewport_id == id ? s : NULL;
}

void shm_viewport_set(struct shm_tracker *t, uint32_t id, bool source, bool set)
{
	struct shm_surface *s = viewport_surface(t, id);

	if (!s)
		return;
	if (source)
		s->viewport_source = set;
	else
		s->viewport_destination = set;
}

void shm_viewport_destroy(struct shm_tracker *t, uint32_t id)
{
	struct shm_surface *s = viewport_surface(t, id);

	if (s) {
		s->viewport_id = 0;
		s->viewport_source = s->viewport_destination = false;
	}
	free(map_take(&t->viewports, id));
}

/* wl_output_transform arithmetic as wlroots 0.15 does it (util/region.c, types/wlr_output.c), so
 * that our idea of the buffer damage is the compositor's. */
static uint32_t transform_invert(uint32_t tr)
{
	if ((tr & WL_OUTPUT_TRANSFORM_90) && !(tr & WL_OUTPUT_TRANSFORM_FLIPPED))
		tr ^= WL_OUTPUT_TRANSFORM_180;
	return tr;
}

static void region_transform(pixman_region32_t *r, uint32_t transform, int32_t width,
			     int32_t height)
{
	int n;
	const pixman_box32_t *src = pixman_region32_rectangles(r, &n);
	_cleanup_free_ pixman_box32_t *dst = xcalloc(n ? n : 1, sizeof(*dst));

	for (int i = 0; i < n; i++) {
		const pixman_box32_t *s = &src[i];
		pixman_box32_t *d = &dst[i];

		switch (transform) {
		case WL_OUTPUT_TRANSFORM_NORMAL:
			*d = *s;
			break;
		case WL_OUTPUT_TRANSFORM_90:
			*d = (pixman_box32_t){height - s->y2, s->x1, height - s->y1, s->x2};
			break;
		case WL_OUTPUT_TRANSFORM_180:
			*d = (pixman_box32_t){width - s->x2, height - s->y2, width - s->x1,
					      height - s->y1};
			break;
		case WL_OUTPUT_TRANSFORM_270:
			*d = (pixman_box32_t){s->y1, width - s->x2, s->y2, width - s->x1};
			break;
		case WL_OUTPUT_TRANSFORM_FLIPPED:
			*d = (pixman_box32_t){width - s->x2, s->y1, width - s->x1, s->y2};
			break;
		case WL_OUTPUT_TRANSFORM_FLIPPED_90:
			*d = (pixman_box32_t){s->y1, s->x1, s->y2, s->x2};
			break;
		case WL_OUTPUT_TRANSFORM_FLIPPED_180:
			*d = (pixman_box32_t){s->x1, height - s->y2, s->x2, height - s->y1};
			break;
		case WL_OUTPUT_TRANSFORM_FLIPPED_270:
			*d = (pixman_box32_t){height - s->y2, width - s->x2, height - s->y1,
					      width - s->x1};
			break;
		}
	}
	pixman_region32_fini(r);
	pixman_region32_init_rects(r, dst, n);
}

static void region_scale(pixman_region32_t *r, int32_t scale)
{
	int n;
	const pixman_box32_t *src = pixman_region32_rectangles(r, &n);
	_cleanup_free_ pixman_box32_t *dst = NULL;

	if (scale == 1)
		return;
	dst = xcalloc(n ? n : 1, sizeof(*dst));
	for (int i = 0; i < n; i++)
		dst[i] = (pixman_box32_t){src[i].x1 * scale, src[i].y1 * scale, src[i].x2 * scale,
					  src[i].y2 * scale};
	pixman_region32_fini(r);
	pixman_region32_init_rects(r, dst, n);
}

static void *grow(uint8_t **buf, size_t *size, size_t need)
{
	if (*size < need) {
		free(*buf);
		*buf = xmalloc(need);
		*size = need;
	}
	return *buf;
}

/* One frame: rows rows of row_len bytes at pool offset, stride apart. */
static int emit_chunk(struct shm_tracker *t, const struct shm_pool *pool, uint32_t offset,
		      uint32_t row_len, uint32_t stride, uint32_t rows, shm_emit_fn emit,
		      void *userdata)
{
	size_t raw_len = (size_t)row_len * rows;
	bool contiguous = row_len == stride || rows == 1;
	bool compress = raw_len >= LZ4_MIN_LEN;
	uint8_t hdr[SHM_WRITE_HEADER_SIZE];
	uint8_t *raw = NULL, *packed = NULL;
	int packed_len = 0, r;

	unaligned_write_le32(hdr, pool->id);
	unaligned_write_le32(hdr + 4, offset);
	unaligned_write_le32(hdr + 8, row_len);
	unaligned_write_le32(hdr + 12, stride);
	unaligned_write_le32(hdr + 16, rows);
	unaligned_write_le32(hdr + 20, 0);
	if (compress)
		packed = grow(&t->packed, &t->packed_size, raw_len);
	/* Contiguous bytes are compressed straight from the mapping and, when that does not pay
	 * and they are many, handed over as the pool's descriptor: the kernel copies them onto the
	 * link (sendfile) and we never touch them. */
	if (!contiguous)
		raw = grow(&t->scratch, &t->scratch_size, raw_len);
	r = read_rows(t, raw, pool->map + offset, row_len, stride, rows, packed, &packed_len);
	if (r < 0)
		return r;
	if (packed_len > 0) {
		unaligned_write_le32(hdr + 20, LINK_SHM_LZ4);
		return emit(userdata, hdr, packed, packed_len, -1, 0);
	}
	if (!contiguous)
		return emit(userdata, hdr, raw, raw_len, -1, 0);
	if (raw_len >= SHM_BULK_MIN)
		return emit(userdata, hdr, NULL, raw_len, pool->fd, offset);
	raw = grow(&t->scratch, &t->scratch_size, raw_len);
	r = read_rows(t, raw, pool->map + offset, row_len, stride, rows, NULL, NULL);
	if (r < 0)
		return r;
	return emit(userdata, hdr, raw, raw_len, -1, 0);
}

/* A rectangle of rows, split so that each frame's payload fits LINK_MAX_PAYLOAD. */
static int emit_rows(struct shm_tracker *t, const struct shm_pool *pool, uint32_t offset,
		     uint32_t row_len, uint32_t stride, uint32_t rows, shm_emit_fn emit,
		     void *userdata)
{
	const size_t max = LINK_MAX_PAYLOAD - SHM_WRITE_HEADER_SIZE;
	int r;

	/* The buffer lies inside the pool (checked at create_buffer; pools only grow). */
	if ((uint64_t)offset + (uint64_t)(rows - 1) * stride + row_len > pool->size)
		return -EINVAL;
	if (row_len <= max) {
		uint32_t per = max / row_len;

		for (uint32_t done = 0; done < rows; done += per) {
			uint32_t n = rows - done < per ? rows - done : per;

			r = emit_chunk(t, pool, offset + done * stride, row_len, stride, n, emit,
				       userdata);
			if (r < 0)
				return r;
		}
		return 0;
	}
	for (uint32_t i = 0; i < rows; i++)
		for (uint32_t done = 0; done < row_len; done += max) {
			uint32_t n = row_len - done < max ? row_len - done : max;

			r = emit_chunk(t, pool, offset + i * stride + done, n, n, 1, emit,
				       userdata);
			if (r < 0)
				return r;
		}
	return 0;
}

static int emit_region(struct shm_tracker *t, const struct shm_buffer *b, pixman_region32_t *r,
		       shm_emit_fn emit, void *userdata)
{
	uint32_t bpp = format_bpp(b->format);
	int n;
	const pixman_box32_t *box = pixman_region32_rectangles(r, &n);
	const pixman_box32_t *e = pixman_region32_extents(r);
	uint64_t area = 0;
	int ret;

	/* Rectangles that nearly fill their extents (a shape moving by a few pixels) go as one
	 * frame: fewer frames and writes for a few more bytes. */
	for (int i = 0; i < n; i++)
		area += (uint64_t)(box[i].x2 - box[i].x1) * (box[i].y2 - box[i].y1);
	if (n > 1 && (uint64_t)(e->x2 - e->x1) * (e->y2 - e->y1) <= area + area / 4) {
		box = e;
		n = 1;
	}
	for (int i = 0; i < n; i++) {
		uint32_t x1 = box[i].x1, x2 = box[i].x2, y1 = box[i].y1, rows = box[i].y2 - y1;
		uint32_t offset = b->offset + y1 * b->stride;
		uint32_t row_len = b->stride;

		if (bpp) {
			offset += x1 * bpp;
			row_len = (x2 - x1) * bpp;
		} else if (i > 0 && box[i - 1].y1 == box[i].y1) {
			/* Whole rows: this band went out with the previous rectangle. */
			continue;
		}
		ret = emit_rows(t, b->pool, offset, row_len, b->stride, rows, emit, userdata);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int shm_surface_commit(struct shm_tracker *t, uint32_t id, shm_emit_fn emit, void *userdata)
{
	struct shm_surface *s = surface_get(t, id);
	struct shm_buffer *b;
	struct history *h;
	pixman_region32_t need;
	bool attached, full = false, viewport;
	uint32_t width = 0, height = 0;
	int r;

	if (!s)
		return 0;
	attached = s->pending_attach;
	if (attached)
		s->buffer = s->pending_buffer;
	b = s->buffer;
	viewport = s->viewport_source || s->viewport_destination;
	h = &s->hist[++s->seq % SHM_HISTORY];
	h->seq = s->seq;
	pixman_region32_clear(&h->damage);
	if (b) {
		width = b->width;
		height = b->height;
	}
	/* Whatever makes the compositor's own damage the whole buffer makes ours so too. */
	if (!b || width != s->buffer_width || height != s->buffer_height ||
	    s->pending_scale != s->scale || s->pending_transform != s->transform ||
	    viewport != s->viewport || s->pending_scale < 1 || s->pending_scale > SCALE_MAX ||
	    s->pending_transform < 0 || s->pending_transform > WL_OUTPUT_TRANSFORM_FLIPPED_270)
		full = true;
	else if (pixman_region32_not_empty(&s->pending_surface_damage)) {
		if (viewport)
			full = true;
		else {
			uint32_t tw = width, th = height;

			if (s->pending_transform & WL_OUTPUT_TRANSFORM_90) {
				tw = height;
				th = width;
			}
			pixman_region32_copy(&h->damage, &s->pending_surface_damage);
			region_scale(&h->damage, s->pending_scale);
			region_transform(&h->damage, transform_invert(s->pending_transform), tw,
					 th);
		}
	}
	h->full = full;
	if (!full) {
		pixman_region32_union(&h->damage, &h->damage, &s->pending_buffer_damage);
		pixman_region32_intersect_rect(&h->damage, &h->damage, 0, 0, width, height);
	}
	s->buffer_width = width;
	s->buffer_height = height;
	s->scale = s->pending_scale;
	s->transform = s->pending_transform;
	s->viewport = viewport;
	s->pending_attach = false;
	pixman_region32_clear(&s->pending_surface_damage);
	pixman_region32_clear(&s->pending_buffer_damage);

	if (!b || (!attached && !full && !pixman_region32_not_empty(&h->damage)))
		return 0;

	/* The host's copy holds commit sent_seq; it lacks the damage of every commit since. */
	full =
	    b->sent_surface != s->serial || b->sent_seq == 0 || s->seq - b->sent_seq >= SHM_HISTORY;
	pixman_region32_init(&need);
	for (uint64_t seq = b->sent_seq + 1; !full && seq <= s->seq; seq++) {
		const struct history *e = &s->hist[seq % SHM_HISTORY];

		if (e->full)
			full = true;
		else
			pixman_region32_union(&need, &need, &e->damage);
	}
	if (full) {
		pixman_region32_fini(&need);
		pixman_region32_init_rect(&need, 0, 0, width, height);
	}
	r = emit_region(t, b, &need, emit, userdata);
	pixman_region32_fini(&need);
	if (r < 0) {
		/* Whatever went out, the host's copy is no longer known. */
		b->sent_seq = 0;
		return r;
	}
	b->sent_surface = s->serial;
	b->sent_seq = s->seq;
	return 0;
}
