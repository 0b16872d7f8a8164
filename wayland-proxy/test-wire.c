/* The wire parser: each refusal wire.h promises, and real messages accepted. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proxy.h"
#include "unaligned.h"
#include "wire.h"

struct mb {
	uint8_t buf[WIRE_MAX_SIZE + 64];
	uint32_t len;
};

static void mb_start(struct mb *m)
{
	memset(m, 0, sizeof(*m));
	m->len = WIRE_HEADER_SIZE;
}

static void put_u32(struct mb *m, uint32_t v)
{
	unaligned_write_ne32(m->buf + m->len, v);
	m->len += 4;
}

/* A string argument: its declared length (with the NUL), then bytes, padded to 4. */
static void put_raw_str(struct mb *m, const void *bytes, uint32_t declared, uint32_t nbytes)
{
	put_u32(m, declared);
	memcpy(m->buf + m->len, bytes, nbytes);
	m->len += (nbytes + 3) & ~3u;
}

static void put_str(struct mb *m, const char *s)
{
	uint32_t n = (uint32_t)strlen(s) + 1;
	put_raw_str(m, s, n, n);
}

static uint16_t mb_end(struct mb *m, uint32_t id, uint16_t opcode)
{
	uint32_t word = (m->len << 16) | opcode;
	memcpy(m->buf, &id, 4);
	memcpy(m->buf + 4, &word, 4);
	return (uint16_t)m->len;
}

static int parse(struct wire_objects *o, struct mb *m, bool req, struct wire_msg *msg)
{
	return wire_parse(o, proxy_globals, m->buf, (uint16_t)m->len, req, msg);
}

/* Parses (must succeed) and applies. */
static void accept_msg(struct wire_objects *o, struct mb *m, bool req)
{
	struct wire_msg msg;
	assert_int_equal(parse(o, m, req, &msg), 0);
	assert_int_equal(wire_objects_apply(o, &msg, 1000), 0);
}

/* A connection with registry 2, compositor 3 (v4), surface 4, region 5, shm 6. */
static struct wire_objects *setup_objects(void)
{
	struct wire_objects *o = wire_objects_new();
	struct mb m;
	assert_non_null(o);

	mb_start(&m);
	put_u32(&m, 2);
	mb_end(&m, 1, WL_DISPLAY_GET_REGISTRY);
	accept_msg(o, &m, true);

	mb_start(&m);
	put_u32(&m, 1);
	put_str(&m, "wl_compositor");
	put_u32(&m, 4);
	put_u32(&m, 3);
	mb_end(&m, 2, WL_REGISTRY_BIND);
	accept_msg(o, &m, true);

	mb_start(&m);
	put_u32(&m, 4);
	mb_end(&m, 3, WL_COMPOSITOR_CREATE_SURFACE);
	accept_msg(o, &m, true);

	mb_start(&m);
	put_u32(&m, 5);
	mb_end(&m, 3, WL_COMPOSITOR_CREATE_REGION);
	accept_msg(o, &m, true);

	mb_start(&m);
	put_u32(&m, 2);
	put_str(&m, "wl_shm");
	put_u32(&m, 1);
	put_u32(&m, 6);
	mb_end(&m, 2, WL_REGISTRY_BIND);
	accept_msg(o, &m, true);
	return o;
}

static void test_peek(void **state)
{
	uint8_t b[8] = {0};
	uint32_t id = 0, word;
	uint16_t op = 0, size = 0;

	assert_int_equal(wire_peek(b, 7, &id, &op, &size), -EAGAIN);
	id = 9;
	word = (12u << 16) | 3;
	memcpy(b, &id, 4);
	memcpy(b + 4, &word, 4);
	assert_int_equal(wire_peek(b, 8, &id, &op, &size), 0);
	assert_int_equal(id, 9);
	assert_int_equal(op, 3);
	assert_int_equal(size, 12);

	const uint32_t bad_sizes[] = {0, 4, 10, 4097, 4100, 0xfffc};
	for (size_t i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
		word = bad_sizes[i] << 16;
		memcpy(b + 4, &word, 4);
		assert_int_equal(wire_peek(b, 8, NULL, NULL, NULL), -EBADMSG);
	}
}

static void test_accepts_real_messages(void **state)
{
	struct wire_objects *o = setup_objects();
	struct wire_msg msg;
	struct mb m;
	uint32_t version;

	assert_int_equal(wire_objects_count(o), 6);
	assert_ptr_equal(wire_objects_get(o, 3, &version), &wl_compositor_interface);
	assert_int_equal(version, 4);
	/* created objects inherit their parent's version */
	assert_ptr_equal(wire_objects_get(o, 4, &version), &wl_surface_interface);
	assert_int_equal(version, 4);

	/* wl_shm.create_pool: one fd, no bytes for it */
	mb_start(&m);
	put_u32(&m, 7);
	put_u32(&m, 4096);
	mb_end(&m, 6, WL_SHM_CREATE_POOL);
	assert_int_equal(parse(o, &m, true, &msg), 0);
	assert_int_equal(msg.nfds, 1);
	assert_int_equal(msg.nargs, 3);
	assert_int_equal(msg.args[1].type, 'h');
	assert_int_equal(msg.args[2].u, 4096);
	assert_int_equal(msg.args[2].offset, 12);
	assert_int_equal(wire_objects_apply(o, &msg, 1000), 0);
	assert_ptr_equal(wire_objects_get(o, 7, NULL), &wl_shm_pool_interface);

	/* wl_surface.attach with a null buffer (nullable), set_buffer_scale (since 3) */
	mb_start(&m);
	put_u32(&m, 0);
	put_u32(&m, 0);
	put_u32(&m, 0);
	mb_end(&m, 4, WL_SURFACE_ATTACH);
	assert_int_equal(parse(o, &m, true, &msg), 0);
	mb_start(&m);
	put_u32(&m, 2);
	mb_end(&m, 4, WL_SURFACE_SET_BUFFER_SCALE);
	assert_int_equal(parse(o, &m, true, &msg), 0);

	/* xdg_wm_base, xdg_surface, xdg_toplevel, set_title with multi-byte UTF-8 */
	mb_start(&m);
	put_u32(&m, 3);
	put_str(&m, "xdg_wm_base");
	put_u32(&m, 2);
	put_u32(&m, 8);
	mb_end(&m, 2, WL_REGISTRY_BIND);
	accept_msg(o, &m, true);
	mb_start(&m);
	put_u32(&m, 9);
	put_u32(&m, 4);
	mb_end(&m, 8, XDG_WM_BASE_GET_XDG_SURFACE);
	accept_msg(o, &m, true);
	mb_start(&m);
	put_u32(&m, 10);
	mb_end(&m, 9, XDG_SURFACE_GET_TOPLEVEL);
	accept_msg(o, &m, true);
	mb_start(&m);
	put_str(&m, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	mb_end(&m, 10, XDG_TOPLEVEL_SET_TITLE);
	assert_int_equal(parse(o, &m, true, &msg), 0);
	assert_int_equal(msg.nargs, 1);
	assert_string_equal(msg.args[0].s.str, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	assert_int_equal(msg.args[0].s.len, 14);
	assert_string_equal(msg.desc->name, "set_title");

	/* events: wl_registry.global, wl_callback via sync then done and delete_id */
	mb_start(&m);
	put_u32(&m, 11);
	put_str(&m, "wl_seat");
	put_u32(&m, 7);
	mb_end(&m, 2, 0);
	assert_int_equal(parse(o, &m, false, &msg), 0);
	assert_string_equal(msg.desc->name, "global");

	mb_start(&m);
	put_u32(&m, 11);
	mb_end(&m, 1, WL_DISPLAY_SYNC);
	accept_msg(o, &m, true);
	assert_ptr_equal(wire_objects_get(o, 11, NULL), &wl_callback_interface);
	unsigned before = wire_objects_count(o);
	mb_start(&m);
	put_u32(&m, 11);
	mb_end(&m, 1, 1); /* wl_display.delete_id */
	accept_msg(o, &m, false);
	assert_null(wire_objects_get(o, 11, NULL));
	assert_int_equal(wire_objects_count(o), before - 1);
	/* the freed id may be used again */
	mb_start(&m);
	put_u32(&m, 11);
	mb_end(&m, 1, WL_DISPLAY_SYNC);
	accept_msg(o, &m, true);

	wire_objects_free(o);
}

static void test_server_objects(void **state)
{
	struct wire_objects *o = setup_objects();
	struct wire_msg msg;
	struct mb m;

	mb_start(&m);
	put_u32(&m, 4);
	put_str(&m, "wl_seat");
	put_u32(&m, 7);
	put_u32(&m, 7);
	mb_end(&m, 2, WL_REGISTRY_BIND);
	accept_msg(o, &m, true);
	mb_start(&m);
	put_u32(&m, 5);
	put_str(&m, "wl_data_device_manager");
	put_u32(&m, 3);
	put_u32(&m, 8);
	mb_end(&m, 2, WL_REGISTRY_BIND);
	accept_msg(o, &m, true);
	mb_start(&m);
	put_u32(&m, 9);
	put_u32(&m, 7);
	mb_end(&m, 8, WL_DATA_DEVICE_MANAGER_GET_DATA_DEVICE);
	accept_msg(o, &m, true);

	/* wl_data_device.data_offer: a server id; a client id there is refused */
	mb_start(&m);
	put_u32(&m, 100);
	mb_end(&m, 9, 0);
	assert_int_equal(parse(o, &m, false, &msg), -EPROTO);
	mb_start(&m);
	put_u32(&m, WIRE_SERVER_ID_MIN + 1); /* not the next server id */
	mb_end(&m, 9, 0);
	assert_int_equal(parse(o, &m, false, &msg), -EPROTO);
	mb_start(&m);
	put_u32(&m, WIRE_SERVER_ID_MIN);
	mb_end(&m, 9, 0);
	accept_msg(o, &m, false);
	assert_ptr_equal(wire_objects_get(o, WIRE_SERVER_ID_MIN, NULL), &wl_data_offer_interface);
	/* in use */
	assert_int_equal(parse(o, &m, false, &msg), -EPROTO);

	/* wl_data_offer.receive carries an fd; destroy forgets the server object */
	mb_start(&m);
	put_str(&m, "text/plain");
	mb_end(&m, WIRE_SERVER_ID_MIN, WL_DATA_OFFER_RECEIVE);
	assert_int_equal(parse(o, &m, true, &msg), 0);
	assert_int_equal(msg.nfds, 1);
	mb_start(&m);
	mb_end(&m, WIRE_SERVER_ID_MIN, WL_DATA_OFFER_DESTROY);
	accept_msg(o, &m, true);
	assert_null(wire_objects_get(o, WIRE_SERVER_ID_MIN, NULL));
	wire_objects_free(o);
}

static void test_refuses_truncated(void **state)
{
	struct wire_objects *o = setup_objects();
	struct wire_msg msg;
	struct mb m;

	/* attach needs three words; two are there */
	mb_start(&m);
	put_u32(&m, 0);
	put_u32(&m, 0);
	mb_end(&m, 4, WL_SURFACE_ATTACH);
	assert_int_equal(parse(o, &m, true, &msg), -EBADMSG);

	/* a string whose length runs past the message */
	mb_start(&m);
	put_u32(&m, 1);
	put_raw_str(&m, "wl_compositor\0\0", 400, 16);
	mb_end(&m, 2, WL_REGISTRY_BIND);
	assert_int_equal(parse(o, &m, true, &msg), -EBADMSG);
	/* a huge length must not wrap around */
	mb_start(&m);
	put_u32(&m, 1);
	put_raw_str(&m, "wl_compositor\0\0", 0xfffffffeu, 16);
	mb_end(&m, 2, WL_REGISTRY_BIND);
	assert_int_equal(parse(o, &m, true, &msg), -EBADMSG);

	/* msg_size disagreeing with the header, or below one */
	mb_start(&m);
	put_u32(&m, 12);
	mb_end(&m, 1, WL_DISPLAY_SYNC);
	assert_int_equal(wire_parse(o, proxy_globals, m.buf, 8, true, &msg), -EBADMSG);
	assert_int_equal(wire_parse(o, proxy_globals, m.buf, 4, true, &msg), -EBADMSG);
	wire_objects_free(o);
}

static void test_refuses_size(void **state)
{
	struct wire_objects *o = setup_objects();
	struct wire_msg msg;
	struct mb m;

	mb_start(&m);
	put_u32(&m, 12);
	mb_end(&m, 1, WL_DISPLAY_SYNC);
	uint32_t word = (14u << 16) | WL_DISPLAY_SYNC;
	memcpy(m.buf + 4, &word, 4);
	assert_int_equal(wire_parse(o, proxy_globals, m.buf, 14, true, &msg), -EBADMSG);
	wire_objects_free(o);
}

/* set_title on a fresh toplevel with the given string argument bytes. */
static int title_result(const void *bytes, uint32_t declared, uint32_t nbytes)
{
	struct wire_objects *o = setup_objects();
	struct wire_msg msg;
	struct mb m;

	mb_start(&m);
	put_u32(&m, 3);
	put_str(&m, "xdg_wm_base");
	put_u32(&m, 1);
	put_u32(&m, 7);
	mb_end(&m, 2, WL_REGISTRY_BIND);
	accept_msg(o, &m, true);
	mb_start(&m);
	put_u32(&m, 8);
	put_u32(&m, 4);
	mb_end(&m, 7, XDG_WM_BASE_GET_XDG_SURFACE);
	accept_msg(o, &m, true);
	mb_start(&m);
	put_u32(&m, 9);
	mb_end(&m, 8, XDG_SURFACE_GET_TOPLEVEL);
	accept_msg(o, &m, true);
	mb_start(&m);
	put_raw_str(&m, bytes, declared, nbytes);
	mb_end(&m, 9, XDG_TOPLEVEL_SET_TITLE);
	int r = parse(o, &m, true, &msg);
	wire_objects_free(o);
	return r;
}

static void test_refuses_strings(void **state)
{
	assert_int_equal(title_result("ok", 3, 3), 0);
	/* no terminator */
	assert_int_equal(title_result("abcd", 4, 4), -EBADMSG);
	/* NUL inside */
	assert_int_equal(title_result("ab\0d", 5, 5), -EBADMSG);
	/* bad UTF-8: a lone continuation byte, overlong '/', a surrogate, above U+10FFFF, a
	 * sequence cut by the terminator */
	assert_int_equal(title_result("a\x80", 3, 3), -EBADMSG);
	assert_int_equal(title_result("\xc0\xaf", 3, 3), -EBADMSG);
	assert_int_equal(title_result("\xed\xa0\x80", 4, 4), -EBADMSG);
	assert_int_equal(title_result("\xf4\x90\x80\x80", 5, 5), -EBADMSG);
	assert_int_equal(title_result("\xe2\x82", 3, 3), -EBADMSG);
	/* null where the signature does not allow it */
	assert_int_equal(title_result("", 0, 0), -EPROTO);
}

static void test_refuses_objects(void **state)
{
	struct wire_objects *o = setup_objects();
	struct wire_msg msg;
	struct mb m;

	/* message to an unknown object */
	mb_start(&m);
	mb_end(&m, 42, 0);
	assert_int_equal(parse(o, &m, true, &msg), -ENOENT);
	/* id 0 is never an object */
	mb_start(&m);
	mb_end(&m, 0, 0);
	assert_int_equal(parse(o, &m, true, &msg), -ENOENT);

	/* attach naming an unknown buffer */
	mb_start(&m);
	put_u32(&m, 42);
	put_u32(&m, 0);
	put_u32(&m, 0);
	mb_end(&m, 4, WL_SURFACE_ATTACH);
	assert_int_equal(parse(o, &m, true, &msg), -ENOENT);
	/* attach naming a wl_region as the buffer */
	mb_start(&m);
	put_u32(&m, 5);
	put_u32(&m, 0);
	put_u32(&m, 0);
	mb_end(&m, 4, WL_SURFACE_ATTACH);
	assert_int_equal(parse(o, &m, true, &msg), -EPROTO);
	/* set_input_region with a surface instead of a region */
	mb_start(&m);
	put_u32(&m, 4);
	mb_end(&m, 4, WL_SURFACE_SET_INPUT_REGION);
	assert_int_equal(parse(o, &m, true, &msg), -EPROTO);
	/* wl_subcompositor.get_subsurface with a null (non-nullable) surface */
	mb_start(&m);
	put_u32(&m, 3);
	put_str(&m, "wl_subcompositor");
	put_u32(&m, 1);
	put_u32(&m, 7);
	mb_end(&m, 2, WL_REGISTRY_BIND);
	accept_msg(o, &m, true);
	mb_start(&m);
	put_u32(&m, 8);
	put_u32(&m, 0);
	put_u32(&m, 4);
	mb_end(&m, 7, WL_SUBCOMPOSITOR_GET_SUBSURFACE);
	assert_int_equal(parse(o, &m, true, &msg), -EPROTO);
	wire_objects_free(o);
}

static void test_refuses_opcodes(void **state)
{
	struct wire_objects *o = setup_objects();
	struct wire_msg msg;
	struct mb m;

	/* wl_region has three requests */
	mb_start(&m);
	mb_end(&m, 5, 3);
	assert_int_equal(parse(o, &m, true, &msg), -EPROTO);
	mb_start(&m);
	mb_end(&m, 5, 0xffff);
	assert_int_equal(parse(o, &m, true, &msg), -EPROTO);
	/* an event opcode beyond wl_callback's one event */
	mb_start(&m);
	put_u32(&m, 7);
	mb_end(&m, 1, WL_DISPLAY_SYNC);
	accept_msg(o, &m, true);
	mb_start(&m);
	put_u32(&m, 0);
	mb_end(&m, 7, 1);
	assert_int_equal(parse(o, &m, false, &msg), -EPROTO);

	/* a surface of a version 1 compositor cannot use set_buffer_scale (since 3) */
	mb_start(&m);
	put_u32(&m, 1);
	put_str(&m, "wl_compositor");
	put_u32(&m, 1);
	put_u32(&m, 8);
	mb_end(&m, 2, WL_REGISTRY_BIND);
	accept_msg(o, &m, true);
	mb_start(&m);
	put_u32(&m, 9);
	mb_end(&m, 8, WL_COMPOSITOR_CREATE_SURFACE);
	accept_msg(o, &m, true);
	mb_start(&m);
	put_u32(&m, 2);
	mb_end(&m, 9, WL_SURFACE_SET_BUFFER_SCALE);
	assert_int_equal(parse(o, &m, true, &msg), -EPROTO);
	wire_objects_free(o);
}

static int create_region(struct wire_objects *o, uint32_t id)
{
	struct wire_msg msg;
	struct mb m;
	mb_start(&m);
	put_u32(&m, id);
	mb_end(&m, 3, WL_COMPOSITOR_CREATE_REGION);
	return parse(o, &m, true, &msg);
}

static void test_refuses_new_ids(void **state)
{
	struct wire_objects *o = setup_objects();

	/* in use */
	assert_int_equal(create_region(o, 5), -EPROTO);
	assert_int_equal(create_region(o, 1), -EPROTO);
	/* out of the client's range, or not the next id */
	assert_int_equal(create_region(o, 0), -EPROTO);
	assert_int_equal(create_region(o, WIRE_SERVER_ID_MIN), -EPROTO);
	assert_int_equal(create_region(o, 0xfeffffffu), -EPROTO);
	assert_int_equal(create_region(o, 8), -EPROTO);
	assert_int_equal(create_region(o, 7), 0);
	wire_objects_free(o);
}

static void test_refuses_binds(void **state)
{
	struct wire_objects *o = setup_objects();
	struct wire_msg msg;
	struct mb m;

	/* not on the allow list */
	mb_start(&m);
	put_u32(&m, 9);
	put_str(&m, "zwlr_screencopy_manager_v1");
	put_u32(&m, 1);
	put_u32(&m, 7);
	mb_end(&m, 2, WL_REGISTRY_BIND);
	assert_int_equal(parse(o, &m, true, &msg), -ENOTSUP);
	/* above the table's version, and version 0 */
	mb_start(&m);
	put_u32(&m, 1);
	put_str(&m, "wl_compositor");
	put_u32(&m, (uint32_t)wl_compositor_interface.version + 1);
	put_u32(&m, 7);
	mb_end(&m, 2, WL_REGISTRY_BIND);
	assert_int_equal(parse(o, &m, true, &msg), -EPROTO);
	mb_start(&m);
	put_u32(&m, 1);
	put_str(&m, "wl_compositor");
	put_u32(&m, 0);
	put_u32(&m, 7);
	mb_end(&m, 2, WL_REGISTRY_BIND);
	assert_int_equal(parse(o, &m, true, &msg), -EPROTO);
	/* a null interface name */
	mb_start(&m);
	put_u32(&m, 1);
	put_u32(&m, 0);
	put_u32(&m, 1);
	put_u32(&m, 7);
	mb_end(&m, 2, WL_REGISTRY_BIND);
	assert_int_equal(parse(o, &m, true, &msg), -EPROTO);
	wire_objects_free(o);
}

static void test_refuses_leftover(void **state)
{
	struct wire_objects *o = setup_objects();
	struct wire_msg msg;
	struct mb m;

	mb_start(&m);
	put_u32(&m, 7);
	put_u32(&m, 0);
	mb_end(&m, 1, WL_DISPLAY_SYNC);
	assert_int_equal(parse(o, &m, true, &msg), -EBADMSG);
	/* a string's padding is part of it; a word after the last argument is not */
	mb_start(&m);
	put_u32(&m, 1);
	put_str(&m, "wl_compositor");
	put_u32(&m, 1);
	put_u32(&m, 7);
	put_u32(&m, 0);
	mb_end(&m, 2, WL_REGISTRY_BIND);
	assert_int_equal(parse(o, &m, true, &msg), -EBADMSG);
	wire_objects_free(o);
}

static void test_object_cap(void **state)
{
	struct wire_objects *o = setup_objects();
	struct wire_msg msg;
	struct mb m;

	mb_start(&m);
	put_u32(&m, 7);
	mb_end(&m, 3, WL_COMPOSITOR_CREATE_REGION);
	assert_int_equal(parse(o, &m, true, &msg), 0);
	assert_int_equal(wire_objects_apply(o, &msg, 6), -E2BIG);
	assert_null(wire_objects_get(o, 7, NULL));
	assert_int_equal(wire_objects_apply(o, &msg, 7), 0);
	assert_int_equal(wire_objects_count(o), 7);
	wire_objects_free(o);
}

static void test_id_span(void **state)
{
	struct wire_objects *o = setup_objects();
	struct wire_msg msg;
	struct mb m;

	/* ids may grow one by one up to the span, not beyond */
	for (uint32_t id = 7; id < WIRE_MAX_ID_SPAN; id++) {
		mb_start(&m);
		put_u32(&m, id);
		mb_end(&m, 3, WL_COMPOSITOR_CREATE_REGION);
		assert_int_equal(parse(o, &m, true, &msg), 0);
		assert_int_equal(wire_objects_apply(o, &msg, WIRE_MAX_ID_SPAN + 10), 0);
	}
	assert_int_equal(create_region(o, WIRE_MAX_ID_SPAN), -EPROTO);
	wire_objects_free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_peek),
	    cmocka_unit_test(test_accepts_real_messages),
	    cmocka_unit_test(test_server_objects),
	    cmocka_unit_test(test_refuses_truncated),
	    cmocka_unit_test(test_refuses_size),
	    cmocka_unit_test(test_refuses_strings),
	    cmocka_unit_test(test_refuses_objects),
	    cmocka_unit_test(test_refuses_opcodes),
	    cmocka_unit_test(test_refuses_new_ids),
	    cmocka_unit_test(test_refuses_binds),
	    cmocka_unit_test(test_refuses_leftover),
	    cmocka_unit_test(test_object_cap),
	    cmocka_unit_test(test_id_span),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
