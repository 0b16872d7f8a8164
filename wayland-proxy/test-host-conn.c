/* The host half's engine between a scripted guest (frames) and a scripted compositor (the other
 * ends of socketpairs): what reaches each side, byte for byte. */
#include <errno.h>
#include <fcntl.h>
#include <lz4.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fd-pass.h"
#include "host.h"
#include "log.h"
#include "proxy.h"
#include "wire.h"

struct env {
	struct host *h;
	int guest;   /* the guest's end of the link */
	int comp[4]; /* the compositor's end of each connection made */
	unsigned ncomp;
	uint8_t in[1 << 21]; /* frames from the host half, not yet taken */
	size_t in_len;
};

static int fake_connect(void *userdata)
{
	struct env *e = userdata;
	int sv[2];
	assert_true(e->ncomp < 4);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	e->comp[e->ncomp++] = sv[0];
	return sv[1];
}

static struct env *env_new(void)
{
	static struct env e;
	int link[2];
	memset(&e, 0, sizeof(e));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, link), 0);
	assert_int_equal(fcntl(link[1], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(host_new("work", link[1], fake_connect, &e, &e.h), 0);
	e.guest = link[0];
	return &e;
}

static void env_free(struct env *e)
{
	host_free(e->h);
	close(e->guest);
	for (unsigned i = 0; i < e->ncomp; i++)
		close(e->comp[i]);
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* A frame from the guest; returns host_handle_frame's result. */
static int send_frame(struct env *e, uint32_t type, uint32_t conn, const void *p, size_t len)
{
	struct link_frame f = {type, conn, (uint32_t)len, p};
	return host_handle_frame(e->h, &f);
}

static void hello_and_open(struct env *e, uint32_t conn)
{
	uint8_t v[4];
	put32(v, LINK_VERSION);
	if (conn == 1)
		assert_int_equal(send_frame(e, LINK_HELLO, 0, v, 4), 0);
	assert_int_equal(send_frame(e, LINK_CONN_OPEN, conn, NULL, 0), 0);
}

/* The next frame from the host half, waiting for it. Returns its payload (valid until the
 * next call) and fills type, conn and len. */
static const uint8_t *next_frame(struct env *e, uint32_t *type, uint32_t *conn, uint32_t *len)
{
	static uint8_t payload[1 << 21];
	for (;;) {
		if (e->in_len >= 12) {
			uint32_t l = get32(e->in + 8);
			if (e->in_len >= 12 + l) {
				*type = get32(e->in);
				*conn = get32(e->in + 4);
				*len = l;
				memcpy(payload, e->in + 12, l);
				memmove(e->in, e->in + 12 + l, e->in_len - 12 - l);
				e->in_len -= 12 + l;
				return payload;
			}
		}
		struct pollfd p = {e->guest, POLLIN, 0};
		if (poll(&p, 1, 0) == 0) {
			assert_true(host_dispatch(e->h, 5000) >= 0);
			continue;
		}
		ssize_t k = read(e->guest, e->in + e->in_len, sizeof(e->in) - e->in_len);
		assert_true(k > 0);
		e->in_len += (size_t)k;
	}
}

/* What the compositor received on connection i, with the descriptors. */
static size_t comp_read(struct env *e, unsigned i, uint8_t *buf, size_t size, int *fds,
			unsigned *nfds)
{
	union {
		char buf[CMSG_SPACE(28 * sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = {buf, size};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = cbuf.buf,
			    .msg_controllen = sizeof(cbuf.buf)};
	ssize_t k = recvmsg(e->comp[i], &mh, MSG_CMSG_CLOEXEC);
	assert_true(k > 0);
	unsigned n = 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t m = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t j = 0; j < m; j++)
			memcpy(&fds[n++], CMSG_DATA(cm) + j * sizeof(int), sizeof(int));
	}
	if (nfds)
		*nfds = n;
	return (size_t)k;
}

struct mb {
	uint8_t b[WIRE_MAX_SIZE];
	uint32_t len;
};

static void mb_start(struct mb *m)
{
	m->len = 8;
}

static void mb_u32(struct mb *m, uint32_t v)
{
	put32(m->b + m->len, v);
	m->len += 4;
}

static void mb_str(struct mb *m, const char *s)
{
	uint32_t n = (uint32_t)strlen(s) + 1;
	mb_u32(m, n);
	memset(m->b + m->len, 0, (n + 3) & ~3u);
	memcpy(m->b + m->len, s, n);
	m->len += (n + 3) & ~3u;
}

static void mb_end(struct mb *m, uint32_t id, uint16_t op)
{
	put32(m->b, id);
	put32(m->b + 4, m->len << 16 | op);
}

/* Guest: wl_display.get_registry(2); compositor: globals, some not on the allow list. */
static void registry(struct env *e, uint32_t conn, unsigned ci)
{
	struct mb m;
	uint8_t buf[4096];
	int fds[28];
	mb_start(&m);
	mb_u32(&m, 2);
	mb_end(&m, 1, WL_DISPLAY_GET_REGISTRY);
	assert_int_equal(send_frame(e, LINK_WL, conn, m.b, m.len), 0);
	assert_int_equal(comp_read(e, ci, buf, sizeof(buf), fds, NULL), m.len);

	const struct {
		uint32_t name;
		const char *iface;
		uint32_t version;
	} globals[] = {
	    {1, "wl_compositor", 99}, {2, "zwlr_screencopy_manager_v1", 3},
	    {3, "wl_shm", 1},	      {4, "zwlr_layer_shell_v1", 4},
	    {5, "xdg_wm_base", 2},    {6, "zwp_virtual_keyboard_manager_v1", 1},
	    {7, "wl_seat", 7},	      {8, "wl_data_device_manager", 3},
	};
	size_t off = 0;
	for (size_t i = 0; i < sizeof(globals) / sizeof(globals[0]); i++) {
		mb_start(&m);
		mb_u32(&m, globals[i].name);
		mb_str(&m, globals[i].iface);
		mb_u32(&m, globals[i].version);
		mb_end(&m, 2, 0); /* wl_registry.global */
		memcpy(buf + off, m.b, m.len);
		off += m.len;
	}
	assert_int_equal(write(e->comp[ci], buf, off), (ssize_t)off);
}

static void test_globals_filtered(void **state)
{
	struct env *e = env_new();
	uint32_t type, conn, len;
	hello_and_open(e, 1);
	const uint8_t *p = next_frame(e, &type, &conn, &len);
	assert_int_equal(type, LINK_HELLO);
	registry(e, 1, 0);

	char seen[256] = "";
	unsigned n = 0;
	while (n < 5) {
		p = next_frame(e, &type, &conn, &len);
		assert_int_equal(type, LINK_WL);
		assert_int_equal(conn, 1);
		for (uint32_t off = 0; off < len;) {
			uint32_t size = get32(p + off + 4) >> 16;
			assert_int_equal(get32(p + off), 2);
			uint32_t slen = get32(p + off + 12);
			const char *name = (const char *)p + off + 16;
			uint32_t version = get32(p + off + 16 + ((slen + 3) & ~3u));
			if (strcmp(name, "wl_compositor") == 0)
				assert_int_equal(version, wl_compositor_interface.version);
			strcat(seen, name);
			strcat(seen, " ");
			n++;
			off += size;
		}
	}
	assert_string_equal(seen,
			    "wl_compositor wl_shm xdg_wm_base wl_seat wl_data_device_manager ");
	env_free(e);
}

/* Registry, then binds of wl_compositor 3, wl_shm 4, xdg_wm_base 5; surface 6, xdg_surface 7,
 * toplevel 8. What the compositor got is read and dropped. */
static void window(struct env *e)
{
	struct mb m;
	uint8_t buf[8192];
	int fds[28];
	uint32_t type, conn, len;
	hello_and_open(e, 1);
	next_frame(e, &type, &conn, &len);
	registry(e, 1, 0);
	next_frame(e, &type, &conn, &len);

	uint8_t all[1024];
	size_t off = 0;
	const struct {
		uint32_t name;
		const char *iface;
		uint32_t version, id;
	} binds[] = {{1, "wl_compositor", 4, 3}, {3, "wl_shm", 1, 4}, {5, "xdg_wm_base", 2, 5}};
	for (size_t i = 0; i < 3; i++) {
		mb_start(&m);
		mb_u32(&m, binds[i].name);
		mb_str(&m, binds[i].iface);
		mb_u32(&m, binds[i].version);
		mb_u32(&m, binds[i].id);
		mb_end(&m, 2, WL_REGISTRY_BIND);
		memcpy(all + off, m.b, m.len);
		off += m.len;
	}
	mb_start(&m);
	mb_u32(&m, 6);
	mb_end(&m, 3, WL_COMPOSITOR_CREATE_SURFACE);
	memcpy(all + off, m.b, m.len);
	off += m.len;
	mb_start(&m);
	mb_u32(&m, 7);
	mb_u32(&m, 6);
	mb_end(&m, 5, XDG_WM_BASE_GET_XDG_SURFACE);
	memcpy(all + off, m.b, m.len);
	off += m.len;
	mb_start(&m);
	mb_u32(&m, 8);
	mb_end(&m, 7, XDG_SURFACE_GET_TOPLEVEL);
	memcpy(all + off, m.b, m.len);
	off += m.len;
	assert_int_equal(send_frame(e, LINK_WL, 1, all, off), 0);
	assert_int_equal(comp_read(e, 0, buf, sizeof(buf), fds, NULL), off);
}

static void test_title_rewritten(void **state)
{
	struct env *e = env_new();
	struct mb m;
	uint8_t buf[8192];
	int fds[28];
	window(e);

	mb_start(&m);
	mb_str(&m, "[banking] statement");
	mb_end(&m, 8, XDG_TOPLEVEL_SET_TITLE);
	assert_int_equal(send_frame(e, LINK_WL, 1, m.b, m.len), 0);
	size_t n = comp_read(e, 0, buf, sizeof(buf), fds, NULL);
	assert_int_equal(get32(buf), 8);
	assert_int_equal(get32(buf + 4) >> 16, n);
	assert_int_equal(get32(buf + 8), strlen("[work] [banking] statement") + 1);
	assert_string_equal((char *)buf + 12, "[work] [banking] statement");

	mb_start(&m);
	mb_str(&m, "org.example.App");
	mb_end(&m, 8, XDG_TOPLEVEL_SET_APP_ID);
	assert_int_equal(send_frame(e, LINK_WL, 1, m.b, m.len), 0);
	comp_read(e, 0, buf, sizeof(buf), fds, NULL);
	assert_string_equal((char *)buf + 12, "work:org.example.App");

	/* A title at the size limit is cut at a character boundary to fit. */
	char title[WIRE_MAX_SIZE - 12];
	memset(title, 'a', sizeof(title) - 1);
	title[sizeof(title) - 1] = '\0';
	memcpy(title + sizeof(title) - 12, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 8);
	mb_start(&m);
	mb_str(&m, title);
	mb_end(&m, 8, XDG_TOPLEVEL_SET_TITLE);
	assert_int_equal(m.len, WIRE_MAX_SIZE);
	assert_int_equal(send_frame(e, LINK_WL, 1, m.b, m.len), 0);
	n = comp_read(e, 0, buf, sizeof(buf), fds, NULL);
	assert_true(n <= WIRE_MAX_SIZE);
	assert_int_equal(get32(buf + 4) >> 16, n);
	size_t slen = strlen((char *)buf + 12);
	assert_int_equal(get32(buf + 8), slen + 1);
	assert_memory_equal(buf + 12, "[work] aaa", 10);
	/* the last character is whole */
	assert_true((buf[12 + slen - 1] & 0x80) == 0 || (buf[12 + slen - 2] & 0xe0) == 0xc0);
	env_free(e);
}

static void test_shm_pool(void **state)
{
	struct env *e = env_new();
	struct mb m;
	uint8_t buf[8192];
	int fds[28];
	unsigned nfds;
	uint8_t hdr[24 + 64];
	window(e);

	put32(hdr, 8192);
	assert_int_equal(send_frame(e, LINK_FD_SHM, 1, hdr, 4), 0);
	mb_start(&m);
	mb_u32(&m, 9);
	mb_u32(&m, 8192);
	mb_end(&m, 4, WL_SHM_CREATE_POOL);
	assert_int_equal(send_frame(e, LINK_WL, 1, m.b, m.len), 0);
	assert_int_equal(comp_read(e, 0, buf, sizeof(buf), fds, &nfds), m.len);
	assert_int_equal(nfds, 1);
	uint8_t *pool = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fds[0], 0);
	assert_true(pool != MAP_FAILED);

	/* two rows of 16 bytes, 100 apart, at 1000 */
	uint32_t w[6] = {9, 1000, 16, 100, 2, 0};
	memcpy(hdr, w, sizeof(w));
	memset(hdr + 24, 0xab, 32);
	assert_int_equal(send_frame(e, LINK_SHM_WRITE, 1, hdr, 24 + 32), 0);
	assert_int_equal(pool[1000], 0xab);
	assert_int_equal(pool[1015], 0xab);
	assert_int_equal(pool[1016], 0);
	assert_int_equal(pool[1100], 0xab);
	assert_int_equal(pool[1115], 0xab);

	/* the same, LZ4-compressed */
	uint8_t raw[32], packed[64];
	memset(raw, 0x5c, sizeof(raw));
	int plen = LZ4_compress_default((char *)raw, (char *)packed, 32, sizeof(packed));
	assert_true(plen > 0);
	uint32_t w2[6] = {9, 4000, 16, 100, 2, LINK_SHM_LZ4};
	memcpy(hdr, w2, sizeof(w2));
	memcpy(hdr + 24, packed, (size_t)plen);
	assert_int_equal(send_frame(e, LINK_SHM_WRITE, 1, hdr, 24 + (size_t)plen), 0);
	assert_int_equal(pool[4000], 0x5c);
	assert_int_equal(pool[4115], 0x5c);
	assert_int_equal(pool[4116], 0);

	/* resize grows the memory file the compositor holds */
	mb_start(&m);
	mb_u32(&m, 16384);
	mb_end(&m, 9, WL_SHM_POOL_RESIZE);
	assert_int_equal(send_frame(e, LINK_WL, 1, m.b, m.len), 0);
	comp_read(e, 0, buf, sizeof(buf), fds + 1, NULL);
	struct stat st;
	assert_int_equal(fstat(fds[0], &st), 0);
	assert_int_equal(st.st_size, 16384);

	/* a buffer inside the pool passes */
	mb_start(&m);
	mb_u32(&m, 10);
	mb_u32(&m, 0);
	mb_u32(&m, 32);
	mb_u32(&m, 32);
	mb_u32(&m, 128);
	mb_u32(&m, WL_SHM_FORMAT_XRGB8888);
	mb_end(&m, 9, WL_SHM_POOL_CREATE_BUFFER);
	assert_int_equal(send_frame(e, LINK_WL, 1, m.b, m.len), 0);
	assert_int_equal(comp_read(e, 0, buf, sizeof(buf), fds + 1, NULL), m.len);

	/* a write past the pool's end ends the connection, and only that */
	uint32_t w3[6] = {9, 16384 - 8, 16, 16, 1, 0};
	memcpy(hdr, w3, sizeof(w3));
	assert_int_equal(send_frame(e, LINK_SHM_WRITE, 1, hdr, 24 + 16), 0);
	assert_int_equal(host_conn_count(e->h), 0);
	uint32_t type, conn, len;
	const uint8_t *p = next_frame(e, &type, &conn, &len);
	assert_int_equal(type, LINK_CONN_CLOSE);
	assert_int_equal(conn, 1);
	assert_non_null(memmem(p, len, "outside pool", 12));
	/* the compositor's connection is closed */
	assert_int_equal(read(e->comp[0], buf, sizeof(buf)), 0);
	munmap(pool, 8192);
	close(fds[0]);
	env_free(e);
}

/* Each request refused ends connection 1 with a reason containing why. */
static void expect_closed(struct env *e, const char *why)
{
	uint32_t type, conn, len;
	const uint8_t *p = next_frame(e, &type, &conn, &len);
	assert_int_equal(type, LINK_CONN_CLOSE);
	assert_int_equal(conn, 1);
	if (!memmem(p, len, why, strlen(why)))
		fail_msg("reason %.*s lacks %s", (int)len, p, why);
	assert_int_equal(host_conn_count(e->h), 0);
}

static void create_pool(struct env *e, uint32_t size)
{
	struct mb m;
	uint8_t buf[256];
	int fds[28];
	uint8_t v[4];
	put32(v, size);
	assert_int_equal(send_frame(e, LINK_FD_SHM, 1, v, 4), 0);
	mb_start(&m);
	mb_u32(&m, 9);
	mb_u32(&m, size);
	mb_end(&m, 4, WL_SHM_CREATE_POOL);
	assert_int_equal(send_frame(e, LINK_WL, 1, m.b, m.len), 0);
	comp_read(e, 0, buf, sizeof(buf), fds, NULL);
	close(fds[0]);
}

static void test_buffer_checks(void **state)
{
	const struct {
		int32_t offset, width, height, stride;
		uint32_t format;
		const char *why;
	} cases[] = {
	    {0, 32, 32, 64, WL_SHM_FORMAT_ARGB8888, "stride"},
	    {0, 64, 64, 256, WL_SHM_FORMAT_ARGB8888, "outside its pool"},
	    {-4, 8, 8, 32, WL_SHM_FORMAT_ARGB8888, "offset"},
	    {0, 8, 8, 32, 0x20203859 /* YUV */, "format"},
	    /* in the shared table (the guest half cuts it), not passed on by the host half */
	    {0, 8, 8, 24, WL_SHM_FORMAT_RGB888, "format"},
	    /* RGB565: 2 bytes per pixel, from the same table */
	    {0, 8, 8, 15, WL_SHM_FORMAT_RGB565, "stride"},
	    {0, 8193, 8193, 8193 * 4, WL_SHM_FORMAT_ARGB8888, "above the cap"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct env *e = env_new();
		struct mb m;
		window(e);
		create_pool(e, 8192);
		mb_start(&m);
		mb_u32(&m, 10);
		mb_u32(&m, (uint32_t)cases[i].offset);
		mb_u32(&m, (uint32_t)cases[i].width);
		mb_u32(&m, (uint32_t)cases[i].height);
		mb_u32(&m, (uint32_t)cases[i].stride);
		mb_u32(&m, cases[i].format);
		mb_end(&m, 9, WL_SHM_POOL_CREATE_BUFFER);
		assert_int_equal(send_frame(e, LINK_WL, 1, m.b, m.len), 0);
		expect_closed(e, cases[i].why);
		env_free(e);
	}
}

static void test_pool_caps(void **state)
{
	struct env *e = env_new();
	uint8_t v[4];
	window(e);
	put32(v, LINK_MAX_POOL_BYTES + 1);
	assert_int_equal(send_frame(e, LINK_FD_SHM, 1, v, 4), 0);
	expect_closed(e, "shm pool of");
	env_free(e);

	/* resize above the cap, and shrinking */
	for (int i = 0; i < 2; i++) {
		struct mb m;
		e = env_new();
		window(e);
		create_pool(e, 8192);
		mb_start(&m);
		mb_u32(&m, i == 0 ? LINK_MAX_POOL_BYTES + 4096 : 4096);
		mb_end(&m, 9, WL_SHM_POOL_RESIZE);
		assert_int_equal(send_frame(e, LINK_WL, 1, m.b, m.len), 0);
		expect_closed(e, "resized");
		env_free(e);
	}

	/* a wrong descriptor announcement: a pipe where the pool's memory belongs */
	struct mb m;
	e = env_new();
	window(e);
	put32(v, 1);
	assert_int_equal(send_frame(e, LINK_FD_PIPE, 1, v, 4), 0);
	mb_start(&m);
	mb_u32(&m, 9);
	mb_u32(&m, 4096);
	mb_end(&m, 4, WL_SHM_CREATE_POOL);
	assert_int_equal(send_frame(e, LINK_WL, 1, m.b, m.len), 0);
	expect_closed(e, "without an shm announcement");
	env_free(e);
}

/* A pool of size as id; returns the compositor's descriptor of its memory. */
static int pool_n(struct env *e, uint32_t id, uint32_t size)
{
	struct mb m;
	uint8_t buf[256], v[4];
	int fds[28];
	unsigned nfds;
	put32(v, size);
	assert_int_equal(send_frame(e, LINK_FD_SHM, 1, v, 4), 0);
	mb_start(&m);
	mb_u32(&m, id);
	mb_u32(&m, size);
	mb_end(&m, 4, WL_SHM_CREATE_POOL);
	assert_int_equal(send_frame(e, LINK_WL, 1, m.b, m.len), 0);
	assert_int_equal(host_conn_count(e->h), 1);
	comp_read(e, 0, buf, sizeof(buf), fds, &nfds);
	assert_int_equal(nfds, 1);
	return fds[0];
}

static int buffer_n(struct env *e, uint32_t pool, uint32_t id, uint32_t offset, uint32_t width,
		    uint32_t height)
{
	struct mb m;
	mb_start(&m);
	mb_u32(&m, id);
	mb_u32(&m, offset);
	mb_u32(&m, width);
	mb_u32(&m, height);
	mb_u32(&m, width * 4);
	mb_u32(&m, WL_SHM_FORMAT_XRGB8888);
	mb_end(&m, pool, WL_SHM_POOL_CREATE_BUFFER);
	return send_frame(e, LINK_WL, 1, m.b, m.len);
}

static uint64_t allocated(int fd)
{
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

/* Pools are address space; memory is what their buffers and writes allocate (link.h). */
static void test_shm_memory(void **state)
{
	struct env *e = env_new();
	struct mb m;
	uint8_t buf[256];
	int fds[28];
	window(e);
	/* three pools of the largest size (foot makes two per window, and a third at times) */
	int p9 = pool_n(e, 9, LINK_MAX_POOL_BYTES), p10 = pool_n(e, 10, LINK_MAX_POOL_BYTES);
	int p11 = pool_n(e, 11, LINK_MAX_POOL_BYTES);
	assert_int_equal(allocated(p9) + allocated(p10) + allocated(p11), 0);

	/* a buffer's range is allocated at once; its destroy gives it back */
	assert_int_equal(buffer_n(e, 9, 12, 0, 1024, 1024), 0);
	comp_read(e, 0, buf, sizeof(buf), fds, NULL);
	assert_true(allocated(p9) >= 4u << 20);
	mb_start(&m);
	mb_end(&m, 12, WL_BUFFER_DESTROY);
	assert_int_equal(send_frame(e, LINK_WL, 1, m.b, m.len), 0);
	comp_read(e, 0, buf, sizeof(buf), fds, NULL);
	assert_int_equal(allocated(p9), 0);

	/* two overlapping buffers: the destroyed one's pages the other covers stay */
	assert_int_equal(buffer_n(e, 9, 13, 0, 1024, 2), 0);	/* bytes 0..8191 */
	assert_int_equal(buffer_n(e, 9, 14, 4096, 1024, 2), 0); /* bytes 4096..12287 */
	comp_read(e, 0, buf, sizeof(buf), fds, NULL);
	uint8_t hdr[24 + 16];
	uint32_t w[6] = {9, 6000, 16, 16, 1, 0};
	memcpy(hdr, w, sizeof(w));
	memset(hdr + 24, 0x77, 16);
	assert_int_equal(send_frame(e, LINK_SHM_WRITE, 1, hdr, sizeof(hdr)), 0);
	mb_start(&m);
	mb_end(&m, 13, WL_BUFFER_DESTROY);
	assert_int_equal(send_frame(e, LINK_WL, 1, m.b, m.len), 0);
	assert_int_equal(allocated(p9), 8192);
	uint8_t byte;
	assert_int_equal(pread(p9, &byte, 1, 6000), 1);
	assert_int_equal(byte, 0x77);

	/* an SHM_WRITE outside any buffer is memory too */
	uint32_t w2[6] = {10, 1u << 20, 16, 16, 1, 0};
	memcpy(hdr, w2, sizeof(w2));
	assert_int_equal(send_frame(e, LINK_SHM_WRITE, 1, hdr, sizeof(hdr)), 0);
	assert_int_equal(allocated(p10), 4096);

	/* two of the largest buffers pass the memory cap: the second ends the connection */
	assert_int_equal(buffer_n(e, 10, 15, 2u << 20, 8192, 8192), 0);
	assert_int_equal(host_conn_count(e->h), 1);
	assert_int_equal(buffer_n(e, 11, 16, 0, 8192, 8192), 0);
	while (comp_read(e, 0, buf, sizeof(buf), fds, NULL) > 0 && host_conn_count(e->h) > 0)
		;
	expect_closed(e, "memory");
	close(p9);
	close(p10);
	assert_int_equal(allocated(p11), 0); /* the refused buffer was not allocated */
	close(p11);
	env_free(e);

	/* a pool destroyed before its buffers */
	e = env_new();
	window(e);
	int p = pool_n(e, 9, 8192);
	assert_int_equal(buffer_n(e, 9, 10, 0, 16, 16), 0);
	mb_start(&m);
	mb_end(&m, 9, WL_SHM_POOL_DESTROY);
	assert_int_equal(send_frame(e, LINK_WL, 1, m.b, m.len), 0);
	expect_closed(e, "destroyed before its buffers");
	close(p);
	env_free(e);
}

/* Large raw SHM_WRITE rows are read from the link straight into the pool (contiguous and
 * strided), and the frames after them are read as usual. Through host_dispatch, as host.c runs
 * it, with the guest's end writing what the socket takes. */
static void test_shm_write_direct(void **state)
{
	struct env *e = env_new();
	uint8_t buf[256];
	int fds[28];
	window(e);
	int pool = pool_n(e, 9, 4u << 20);
	static uint8_t stream[2 * (12 + 24 + (1u << 20)) + 12 + 12];
	size_t len = 0;
	const struct {
		uint32_t offset, row_len, stride, rows;
	} w[2] = {{4096, (1u << 20) - 4096, (1u << 20) - 4096, 1}, {2u << 20, 2048, 4096, 500}};
	for (int i = 0; i < 2; i++) {
		uint32_t data = w[i].row_len * w[i].rows;
		uint32_t head[9] = {LINK_SHM_WRITE, 1,		 24 + data, 9, w[i].offset,
				    w[i].row_len,   w[i].stride, w[i].rows, 0};
		memcpy(stream + len, head, sizeof(head));
		len += sizeof(head);
		for (uint32_t k = 0; k < data; k++)
			stream[len + k] = (uint8_t)(k * 7 + k / 4093 + i);
		len += data;
	}
	/* then a wl_display.sync for the compositor */
	uint32_t sync[6] = {LINK_WL, 1, 12, 1, 12u << 16 | WL_DISPLAY_SYNC, 10};
	memcpy(stream + len, sync, sizeof(sync));
	len += sizeof(sync);
	assert_int_equal(fcntl(e->guest, F_SETFL, O_NONBLOCK), 0);
	size_t sent = 0;
	while (sent < len) {
		ssize_t k = write(e->guest, stream + sent, len - sent);
		if (k > 0)
			sent += (size_t)k;
		assert_true(host_dispatch(e->h, 1000) >= 0);
	}
	assert_int_equal(host_conn_count(e->h), 1);
	/* the sync reaching the compositor means every frame before it was handled */
	struct pollfd p = {e->comp[0], POLLIN, 0};
	while (poll(&p, 1, 0) == 0)
		assert_true(host_dispatch(e->h, 1000) >= 0);
	assert_int_equal(comp_read(e, 0, buf, sizeof(buf), fds, NULL), 12);
	static uint8_t got[1u << 20];
	const uint32_t n0 = (1u << 20) - 4096;
	assert_int_equal(pread(pool, got, n0 + 4096, 4096), n0 + 4096);
	assert_memory_equal(got, stream + 36, n0);
	for (uint32_t k = n0; k < n0 + 4096; k++) /* after them: untouched */
		assert_int_equal(got[k], 0);
	const uint8_t *rows = stream + 36 + n0 + 36;
	for (uint32_t r = 0; r < 500; r++) {
		assert_int_equal(pread(pool, got, 4096, (2u << 20) + r * 4096), 4096);
		assert_memory_equal(got, rows + r * 2048, 2048);
		for (int k = 2048; k < 4096; k++) /* between the rows: untouched */
			assert_int_equal(got[k], 0);
	}
	close(pool);
	env_free(e);
}

/* A connection the compositor ends while its SHM_WRITE's rows are being read into the pool:
 * the rest of the frame is read and dropped, and the link goes on with the next frame. */
static void test_shm_write_direct_conn_gone(void **state)
{
	struct env *e = env_new();
	window(e);
	int pool = pool_n(e, 9, 2u << 20);
	const uint32_t data = 1u << 19;
	static uint8_t frame[36 + (1u << 19)];
	uint32_t head[9] = {LINK_SHM_WRITE, 1, 24 + data, 9, 0, data, data, 1, 0};
	memcpy(frame, head, sizeof(head));
	memset(frame + 36, 0x42, data);
	assert_int_equal(fcntl(e->guest, F_SETFL, O_NONBLOCK), 0);
	size_t sent = 0;
	while (sent < 36 + (128u << 10)) { /* part of it, enough to start reading it directly */
		ssize_t k = write(e->guest, frame + sent, 36 + (128u << 10) - sent);
		if (k > 0)
			sent += (size_t)k;
		assert_true(host_dispatch(e->h, 100) >= 0);
	}
	for (int i = 0; i < 4; i++)
		assert_true(host_dispatch(e->h, 10) >= 0);
	close(e->comp[0]); /* the compositor ends connection 1 */
	e->comp[0] = -1;
	while (host_conn_count(e->h) > 0)
		assert_true(host_dispatch(e->h, 1000) >= 0);
	/* the rest of the frame, then a new connection */
	uint32_t open_frame[3] = {LINK_CONN_OPEN, 2, 0};
	while (sent < sizeof(frame)) {
		ssize_t k = write(e->guest, frame + sent, sizeof(frame) - sent);
		if (k > 0)
			sent += (size_t)k;
		assert_true(host_dispatch(e->h, 100) >= 0);
	}
	assert_int_equal(write(e->guest, open_frame, sizeof(open_frame)), sizeof(open_frame));
	while (host_conn_count(e->h) == 0)
		assert_true(host_dispatch(e->h, 1000) >= 0);
	assert_int_equal(e->ncomp, 2);
	close(pool);
	env_free(e);
}

/* link.h: a message whose descriptor count does not match the announcements queued ends the
 * connection: one announced before a message that takes none, two before one that takes one. */
static void test_fd_count(void **state)
{
	for (int i = 0; i < 2; i++) {
		struct env *e = env_new();
		struct mb m;
		uint8_t v[4];
		window(e);
		put32(v, 4096);
		for (int k = 0; k <= i; k++)
			assert_int_equal(send_frame(e, LINK_FD_SHM, 1, v, 4), 0);
		mb_start(&m);
		mb_u32(&m, 9);
		if (i == 0) {
			mb_end(&m, 1, WL_DISPLAY_SYNC);
		} else {
			mb_u32(&m, 4096);
			mb_end(&m, 4, WL_SHM_CREATE_POOL);
		}
		assert_int_equal(send_frame(e, LINK_WL, 1, m.b, m.len), 0);
		assert_int_equal(host_conn_count(e->h), 0); /* ended at once, not left waiting */
		expect_closed(e, "announcement");
		env_free(e);
	}
}

/* wl_data_source.send from the compositor: the guest streams the data back into its pipe. */
static void test_pipe_to_compositor(void **state)
{
	struct env *e = env_new();
	struct mb m;
	uint8_t buf[256];
	int fds[28];
	int pipefd[2];
	uint32_t type, conn, len;
	window(e);

	/* wl_data_device_manager 9, source 10 */
	mb_start(&m);
	mb_u32(&m, 8);
	mb_str(&m, "wl_data_device_manager");
	mb_u32(&m, 3);
	mb_u32(&m, 9);
	mb_end(&m, 2, WL_REGISTRY_BIND);
	uint8_t two[256];
	memcpy(two, m.b, m.len);
	size_t off = m.len;
	mb_start(&m);
	mb_u32(&m, 10);
	mb_end(&m, 9, WL_DATA_DEVICE_MANAGER_CREATE_DATA_SOURCE);
	memcpy(two + off, m.b, m.len);
	off += m.len;
	assert_int_equal(send_frame(e, LINK_WL, 1, two, off), 0);
	comp_read(e, 0, buf, sizeof(buf), fds, NULL);

	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	mb_start(&m);
	mb_str(&m, "text/plain");
	mb_end(&m, 10, 1); /* wl_data_source.send */
	assert_int_equal(send_one_fd(e->comp[0], m.b, m.len, pipefd[1], 0), m.len);
	close(pipefd[1]);

	const uint8_t *p = next_frame(e, &type, &conn, &len);
	assert_int_equal(type, LINK_FD_PIPE);
	assert_int_equal(len, 4);
	uint32_t id = get32(p);
	assert_true(id & LINK_PIPE_HOST_ID);
	p = next_frame(e, &type, &conn, &len);
	assert_int_equal(type, LINK_WL);
	assert_int_equal(len, m.len);

	uint8_t data[4 + 5];
	put32(data, id);
	memcpy(data + 4, "hello", 5);
	assert_int_equal(send_frame(e, LINK_PIPE_DATA, 1, data, sizeof(data)), 0);
	assert_int_equal(send_frame(e, LINK_PIPE_END, 1, data, 4), 0);
	char got[16];
	assert_int_equal(read(pipefd[0], got, sizeof(got)), 5);
	assert_memory_equal(got, "hello", 5);
	assert_int_equal(read(pipefd[0], got, sizeof(got)), 0); /* closed at the end */
	close(pipefd[0]);
	env_free(e);
}

/* wl_data_offer.receive from the guest: the compositor writes into the pipe the host half made,
 * the guest gets the data and the end. */
static void test_pipe_from_compositor(void **state)
{
	struct env *e = env_new();
	struct mb m;
	uint8_t buf[256];
	int fds[28];
	unsigned nfds;
	uint32_t type, conn, len;
	window(e);

	/* wl_seat 9, wl_data_device_manager 10, data device 11 */
	uint8_t all[512];
	size_t off = 0;
	mb_start(&m);
	mb_u32(&m, 7);
	mb_str(&m, "wl_seat");
	mb_u32(&m, 7);
	mb_u32(&m, 9);
	mb_end(&m, 2, WL_REGISTRY_BIND);
	memcpy(all + off, m.b, m.len);
	off += m.len;
	mb_start(&m);
	mb_u32(&m, 8);
	mb_str(&m, "wl_data_device_manager");
	mb_u32(&m, 3);
	mb_u32(&m, 10);
	mb_end(&m, 2, WL_REGISTRY_BIND);
	memcpy(all + off, m.b, m.len);
	off += m.len;
	mb_start(&m);
	mb_u32(&m, 11);
	mb_u32(&m, 9);
	mb_end(&m, 10, WL_DATA_DEVICE_MANAGER_GET_DATA_DEVICE);
	memcpy(all + off, m.b, m.len);
	off += m.len;
	assert_int_equal(send_frame(e, LINK_WL, 1, all, off), 0);
	comp_read(e, 0, buf, sizeof(buf), fds, NULL);

	/* the compositor offers: wl_data_device.data_offer with a server id */
	mb_start(&m);
	mb_u32(&m, WIRE_SERVER_ID_MIN);
	mb_end(&m, 11, 0);
	assert_int_equal(write(e->comp[0], m.b, m.len), m.len);
	next_frame(e, &type, &conn, &len);
	assert_int_equal(type, LINK_WL);

	uint8_t id[4];
	put32(id, 7);
	assert_int_equal(send_frame(e, LINK_FD_PIPE, 1, id, 4), 0);
	mb_start(&m);
	mb_str(&m, "text/plain");
	mb_end(&m, WIRE_SERVER_ID_MIN, WL_DATA_OFFER_RECEIVE);
	assert_int_equal(send_frame(e, LINK_WL, 1, m.b, m.len), 0);
	assert_int_equal(comp_read(e, 0, buf, sizeof(buf), fds, &nfds), m.len);
	assert_int_equal(nfds, 1);
	assert_int_equal(write(fds[0], "copied", 6), 6);
	close(fds[0]);

	const uint8_t *p = next_frame(e, &type, &conn, &len);
	assert_int_equal(type, LINK_PIPE_DATA);
	assert_int_equal(len, 4 + 6);
	assert_int_equal(get32(p), 7);
	assert_memory_equal(p + 4, "copied", 6);
	p = next_frame(e, &type, &conn, &len);
	assert_int_equal(type, LINK_PIPE_END);
	assert_int_equal(get32(p), 7);

	/* a transfer id in the host's range is refused */
	put32(id, LINK_PIPE_HOST_ID | 1);
	assert_int_equal(send_frame(e, LINK_FD_PIPE, 1, id, 4), 0);
	expect_closed(e, "host's range");
	env_free(e);
}

/* More surfaces than LINK_MAX_SURFACES, and more bytes than a compositor that does not read
 * lets queue: each ends the connection. */
static void test_conn_caps(void **state)
{
	struct env *e = env_new();
	static uint8_t all[LINK_MAX_PAYLOAD];
	struct mb m;
	size_t off = 0;
	window(e);
	for (uint32_t i = 0; i <= LINK_MAX_SURFACES; i++) {
		mb_start(&m);
		mb_u32(&m, 9 + i);
		mb_end(&m, 3, WL_COMPOSITOR_CREATE_SURFACE);
		memcpy(all + off, m.b, m.len);
		off += m.len;
	}
	/* window() made one surface already */
	assert_int_equal(send_frame(e, LINK_WL, 1, all, off), 0);
	expect_closed(e, "surfaces");
	env_free(e);

	e = env_new();
	window(e);
	char title[2000];
	memset(title, 't', sizeof(title) - 1);
	title[sizeof(title) - 1] = '\0';
	mb_start(&m);
	mb_str(&m, title);
	mb_end(&m, 8, XDG_TOPLEVEL_SET_TITLE);
	off = 0;
	while (off + m.len <= sizeof(all)) {
		memcpy(all + off, m.b, m.len);
		off += m.len;
	}
	/* the compositor reads nothing: 8 MiB queue for it, then the connection ends */
	for (int i = 0; i < 16 && host_conn_count(e->h) > 0; i++)
		assert_int_equal(send_frame(e, LINK_WL, 1, all, off), 0);
	expect_closed(e, "does not keep up");
	env_free(e);
}

static void test_link_violations(void **state)
{
	struct env *e = env_new();
	uint8_t v[4];
	put32(v, LINK_VERSION);
	assert_int_equal(send_frame(e, LINK_CONN_OPEN, 1, NULL, 0), -EPROTO);
	env_free(e);

	e = env_new();
	put32(v, LINK_VERSION + 1);
	assert_int_equal(send_frame(e, LINK_HELLO, 0, v, 4), -EPROTONOSUPPORT);
	env_free(e);

	e = env_new();
	hello_and_open(e, 1);
	assert_int_equal(send_frame(e, LINK_CONN_OPEN, 1, NULL, 0), -EPROTO);
	assert_int_equal(send_frame(e, LINK_HELLO, 0, v, 4), -EPROTO);
	assert_int_equal(send_frame(e, LINK_WL, 0, NULL, 0), -EPROTO);
	assert_int_equal(send_frame(e, LINK_WL, LINK_MAX_CONNS + 1, NULL, 0), -EPROTO);
	assert_int_equal(send_frame(e, 99, 1, NULL, 0), -EPROTO);
	/* frames for a connection that is not open are ignored */
	assert_int_equal(send_frame(e, LINK_WL, 2, "junk", 4), 0);
	env_free(e);
}

/* link-io: frames split across reads, an oversized length, the writer's cap. */
static void test_link_io(void **state)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
	struct link_reader *r = link_reader_new(sv[0]);
	struct link_writer *w = link_writer_new(sv[1], 4u << 20);
	struct link_frame f;
	int k0;

	assert_int_equal(link_read_frame(r, &f), 0);
	assert_int_equal(link_write_frame(w, LINK_WL, 3, "ab", 2, "cd", 2), 0);
	assert_int_equal(link_write_frame(w, LINK_PIPE_END, 4, NULL, 0, NULL, 0), 0);
	assert_int_equal(link_read_frame(r, &f), 1);
	assert_int_equal(f.type, LINK_WL);
	assert_int_equal(f.conn, 3);
	assert_int_equal(f.len, 4);
	assert_memory_equal(f.payload, "abcd", 4);
	assert_int_equal(link_read_frame(r, &f), 1);
	assert_int_equal(f.type, LINK_PIPE_END);
	assert_int_equal(f.len, 0);
	assert_int_equal(link_read_frame(r, &f), 0);
	assert_int_equal(link_bytes_written(w), 12 + 4 + 12);

	/* corked, small frames wait for the uncork and go out together; a large one does not */
	link_writer_cork(w, true);
	assert_int_equal(link_write_frame(w, LINK_WL, 3, "ef", 2, NULL, 0), 0);
	assert_int_equal(link_write_frame(w, LINK_WL, 3, "gh", 2, NULL, 0), 0);
	assert_int_equal(link_read_frame(r, &f), 0);
	assert_int_equal(link_writer_cork(w, false), 0);
	assert_int_equal(link_read_frame(r, &f), 1);
	assert_memory_equal(f.payload, "ef", 2);
	assert_int_equal(link_read_frame(r, &f), 1);
	assert_memory_equal(f.payload, "gh", 2);
	link_writer_cork(w, true);
	static uint8_t mid[100u << 10];
	assert_int_equal(link_write_frame(w, LINK_WL, 3, "ij", 2, NULL, 0), 0);
	assert_int_equal(link_write_frame(w, LINK_WL, 3, mid, sizeof(mid), NULL, 0), 0);
	assert_int_equal(link_writer_cork(w, false), 0);
	assert_int_equal(link_read_frame(r, &f), 1);
	assert_memory_equal(f.payload, "ij", 2);
	while ((k0 = link_read_frame(r, &f)) == 0)
		assert_true(link_flush(w) >= 0);
	assert_int_equal(k0, 1);
	assert_int_equal(f.len, sizeof(mid));

	/* a header in two pieces */
	uint8_t hdr[12] = {1, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0};
	assert_int_equal(write(sv[1], hdr, 5), 5);
	assert_int_equal(link_read_frame(r, &f), 0);
	assert_int_equal(write(sv[1], hdr + 5, 7), 7);
	assert_int_equal(write(sv[1], "\1\0\0\0", 4), 4);
	assert_int_equal(link_read_frame(r, &f), 1);
	assert_int_equal(f.type, LINK_HELLO);

	/* the writer queues what the socket does not take, up to its cap */
	static uint8_t big[LINK_MAX_PAYLOAD];
	int k = 0, n = 0;
	while ((k = link_write_frame(w, LINK_WL, 1, big, sizeof(big), NULL, 0)) == 0)
		n++;
	assert_int_equal(k, -ENOBUFS);
	assert_true(link_queued(w) > 0 && link_queued(w) <= 4u << 20);
	for (int i = 0; i < n; i++) {
		while ((k = link_read_frame(r, &f)) == 0)
			assert_true(link_flush(w) >= 0);
		assert_int_equal(k, 1);
		assert_int_equal(f.len, sizeof(big));
	}
	assert_int_equal(link_flush(w), 0);

	/* an oversized length ends the link */
	uint8_t bad[12] = {4, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0x10, 0};
	assert_int_equal(write(sv[1], bad, 12), 12);
	assert_int_equal(link_read_frame(r, &f), -EBADMSG);
	close(sv[1]);
	link_writer_free(w);
	link_reader_free(r);
	close(sv[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_globals_filtered),
	    cmocka_unit_test(test_title_rewritten),
	    cmocka_unit_test(test_shm_pool),
	    cmocka_unit_test(test_buffer_checks),
	    cmocka_unit_test(test_pool_caps),
	    cmocka_unit_test(test_fd_count),
	    cmocka_unit_test(test_shm_memory),
	    cmocka_unit_test(test_shm_write_direct),
	    cmocka_unit_test(test_shm_write_direct_conn_gone),
	    cmocka_unit_test(test_pipe_to_compositor),
	    cmocka_unit_test(test_pipe_from_compositor),
	    cmocka_unit_test(test_conn_caps),
	    cmocka_unit_test(test_link_violations),
	    cmocka_unit_test(test_link_io),
	};
	signal(SIGPIPE, SIG_IGN);
	log_set_level(LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
