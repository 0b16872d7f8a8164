/* Unit tests of the frame codec (common/frame.c). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "frame.h"
#include "util.h"

static struct chan_decoder dec;

static size_t make_frame(uint8_t *out, uint16_t type, uint32_t stream, const void *p, size_t len)
{
	chan_header_encode(out, type, stream, (uint32_t)len);
	if (len)
		memcpy(out + CHAN_HEADER_SIZE, p, len);
	return CHAN_HEADER_SIZE + len;
}

static void test_header_layout(void **state)
{
	uint8_t h[CHAN_HEADER_SIZE];

	chan_header_encode(h, 0x0102, 0x03040506, 0x0708090a);
	const uint8_t want[] = {0x02, 0x01, 0, 0, 0x06, 0x05, 0x04, 0x03, 0x0a, 0x09, 0x08, 0x07};
	assert_memory_equal(h, want, sizeof(want));
}

static void test_round_trip(void **state)
{
	uint8_t buf[256];
	struct chan_frame f;
	size_t used;

	size_t n = make_frame(buf, CHAN_STDOUT, 7, "hello", 5);
	chan_decoder_init(&dec, CHAN_MAX_PAYLOAD);
	assert_int_equal(chan_decoder_feed(&dec, buf, n, &used, &f), 1);
	assert_int_equal(used, n);
	assert_int_equal(f.type, CHAN_STDOUT);
	assert_int_equal(f.stream, 7);
	assert_int_equal(f.len, 5);
	assert_memory_equal(f.payload, "hello", 5);

	/* An empty frame completes with its header alone. */
	n = make_frame(buf, CHAN_SHUTDOWN, 0, NULL, 0);
	assert_int_equal(chan_decoder_feed(&dec, buf, n, &used, &f), 1);
	assert_int_equal(used, CHAN_HEADER_SIZE);
	assert_int_equal(f.type, CHAN_SHUTDOWN);
	assert_int_equal(f.len, 0);
}

static void test_two_frames_one_buffer(void **state)
{
	uint8_t buf[256];
	struct chan_frame f;
	size_t used, n;

	n = make_frame(buf, CHAN_ECHO, 1, "ab", 2);
	n += make_frame(buf + n, CHAN_ECHO, 2, "cde", 3);
	chan_decoder_init(&dec, CHAN_MAX_PAYLOAD);
	assert_int_equal(chan_decoder_feed(&dec, buf, n, &used, &f), 1);
	assert_int_equal(used, CHAN_HEADER_SIZE + 2);
	assert_int_equal(f.stream, 1);
	size_t off = used;
	assert_int_equal(chan_decoder_feed(&dec, buf + off, n - off, &used, &f), 1);
	assert_int_equal(off + used, n);
	assert_int_equal(f.stream, 2);
	assert_memory_equal(f.payload, "cde", 3);
}

/* One byte at a time: the header split at every position. */
static void test_byte_by_byte(void **state)
{
	uint8_t buf[CHAN_HEADER_SIZE + 1000], payload[1000];
	struct chan_frame f;
	size_t used;
	int r = 0;

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7);
	size_t n = make_frame(buf, CHAN_STDIN, 42, payload, sizeof(payload));
	chan_decoder_init(&dec, CHAN_MAX_PAYLOAD);
	for (size_t i = 0; i < n; i++) {
		r = chan_decoder_feed(&dec, buf + i, 1, &used, &f);
		assert_int_equal(used, 1);
		if (i < n - 1)
			assert_int_equal(r, 0);
	}
	assert_int_equal(r, 1);
	assert_int_equal(f.stream, 42);
	assert_int_equal(f.len, sizeof(payload));
	assert_memory_equal(f.payload, payload, sizeof(payload));
}

static void test_uneven_chunks(void **state)
{
	static uint8_t buf[4 * (CHAN_HEADER_SIZE + 300)];
	struct chan_frame f;
	size_t n = 0, off = 0, used;
	int frames = 0;

	for (int i = 0; i < 4; i++) {
		uint8_t p[300];
		memset(p, 'a' + i, sizeof(p));
		n += make_frame(buf + n, CHAN_STDOUT, (uint32_t)i + 1, p, 100 * (size_t)(i % 3));
	}
	chan_decoder_init(&dec, CHAN_MAX_PAYLOAD);
	for (size_t chunk = 5; off < n; chunk = chunk * 3 % 17 + 1) {
		size_t c = chunk < n - off ? chunk : n - off;
		size_t done = 0;
		while (done < c) {
			int r = chan_decoder_feed(&dec, buf + off + done, c - done, &used, &f);
			assert_true(r >= 0);
			done += used;
			if (r == 1) {
				frames++;
				assert_int_equal(f.stream, frames);
				assert_int_equal(f.len, 100 * ((frames - 1) % 3));
				for (size_t k = 0; k < f.len; k++)
					assert_int_equal(f.payload[k], 'a' + frames - 1);
			}
		}
		off += c;
	}
	assert_int_equal(frames, 4);
}

static void test_oversize_rejected_before_payload(void **state)
{
	uint8_t buf[CHAN_HEADER_SIZE + 16];
	struct chan_frame f;
	size_t used;

	chan_decoder_init(&dec, 100);
	chan_header_encode(buf, CHAN_STDIN, 1, 101);
	memset(buf + CHAN_HEADER_SIZE, 0xee, 16);
	/* The header and some payload bytes arrive together: none of the payload is consumed. */
	assert_int_equal(chan_decoder_feed(&dec, buf, sizeof(buf), &used, &f), -EMSGSIZE);
	assert_int_equal(used, CHAN_HEADER_SIZE);
	/* and the decoder stays broken */
	assert_int_equal(chan_decoder_feed(&dec, buf, sizeof(buf), &used, &f), -EBADMSG);
	assert_int_equal(used, 0);

	/* exactly the cap is fine */
	chan_decoder_init(&dec, 16);
	chan_header_encode(buf, CHAN_STDIN, 1, 16);
	assert_int_equal(chan_decoder_feed(&dec, buf, sizeof(buf), &used, &f), 1);

	/* a cap above the protocol maximum is clamped */
	chan_decoder_init(&dec, UINT32_MAX);
	assert_int_equal(dec.max_payload, CHAN_MAX_PAYLOAD);
	chan_header_encode(buf, CHAN_STDIN, 1, CHAN_MAX_PAYLOAD + 1);
	assert_int_equal(chan_decoder_feed(&dec, buf, CHAN_HEADER_SIZE, &used, &f), -EMSGSIZE);
	chan_decoder_init(&dec, UINT32_MAX);
	chan_header_encode(buf, CHAN_STDIN, 1, UINT32_MAX);
	assert_int_equal(chan_decoder_feed(&dec, buf, CHAN_HEADER_SIZE, &used, &f), -EMSGSIZE);
}

static void test_bad_flags(void **state)
{
	uint8_t buf[CHAN_HEADER_SIZE];
	struct chan_frame f;
	size_t used;

	for (int bit = 0; bit < 16; bit++) {
		chan_header_encode(buf, CHAN_ECHO, 0, 0);
		buf[2 + bit / 8] = (uint8_t)(1u << (bit % 8));
		chan_decoder_init(&dec, CHAN_MAX_PAYLOAD);
		/* split so the check happens on the completing feed */
		assert_int_equal(chan_decoder_feed(&dec, buf, 5, &used, &f), 0);
		assert_int_equal(chan_decoder_feed(&dec, buf + 5, 7, &used, &f), -EBADMSG);
	}
}

static void test_hello(void **state)
{
	uint8_t buf[128];
	struct chan_hello h;
	size_t len;

	assert_int_equal(chan_hello_encode("1.2.3", buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 9);
	assert_int_equal(chan_hello_parse(buf, len, &h), 0);
	assert_int_equal(h.version, CHAN_PROTOCOL_VERSION);
	assert_string_equal(h.peer_version, "1.2.3");

	/* version only */
	assert_int_equal(chan_hello_parse(buf, 4, &h), 0);
	assert_string_equal(h.peer_version, "");
	/* truncated version */
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(chan_hello_parse(buf, i, &h), -EBADMSG);

	/* 64 bytes of string is the maximum, 65 too many */
	char s[66];
	memset(s, 'v', 65);
	s[65] = 0;
	assert_int_equal(chan_hello_encode(s, buf, sizeof(buf), &len), -EINVAL);
	s[64] = 0;
	assert_int_equal(chan_hello_encode(s, buf, sizeof(buf), &len), 0);
	assert_int_equal(chan_hello_parse(buf, len, &h), 0);
	assert_int_equal(strlen(h.peer_version), 64);
	buf[len] = 'x';
	assert_int_equal(chan_hello_parse(buf, len + 1, &h), -EBADMSG);

	/* an embedded NUL is not allowed */
	assert_int_equal(chan_hello_encode("ab", buf, sizeof(buf), &len), 0);
	buf[5] = 0;
	assert_int_equal(chan_hello_parse(buf, len, &h), -EBADMSG);

	/* the output buffer is checked */
	assert_int_equal(chan_hello_encode("abc", buf, 6, &len), -ENOBUFS);
}

static void test_exec(void **state)
{
	const char *argv[] = {"sh", "-c", "exit 3", NULL};
	_cleanup_free_ uint8_t *p = NULL;
	size_t len, argc;
	char *storage, **av;
	const char *user;

	assert_int_equal(chan_exec_encode("user", argv, &p, &len), 0);
	assert_int_equal(len, 4 + 5 + 3 + 3 + 7);
	assert_int_equal(chan_exec_parse(p, len, &storage, &user, &av, &argc), 0);
	assert_string_equal(user, "user");
	assert_int_equal(argc, 3);
	assert_string_equal(av[0], "sh");
	assert_string_equal(av[1], "-c");
	assert_string_equal(av[2], "exit 3");
	assert_null(av[3]);
	free(storage);
	free(av);

	/* Truncations: rejected unless they happen to end at a string boundary after argv[0], in
	 * which case the shorter argv is returned. */
	for (size_t i = 0; i < len; i++) {
		int r = chan_exec_parse(p, i, &storage, &user, &av, &argc);
		if (i == 12 || i == 15) {
			assert_int_equal(r, 0);
			assert_int_equal(argc, i == 12 ? 1 : 2);
			assert_null(av[argc]);
			free(storage);
			free(av);
		} else
			assert_int_equal(r, -EBADMSG);
	}

	/* non-zero flags */
	p[0] = 1;
	assert_int_equal(chan_exec_parse(p, len, &storage, &user, &av, &argc), -EBADMSG);
	p[0] = 0;

	/* missing final NUL (overrun) */
	p[len - 1] = 'x';
	assert_int_equal(chan_exec_parse(p, len, &storage, &user, &av, &argc), -EBADMSG);
	p[len - 1] = 0;

	/* user alone, no argv */
	const uint8_t only_user[] = {0, 0, 0, 0, 'u', 0};
	assert_int_equal(chan_exec_parse(only_user, sizeof(only_user), &storage, &user, &av, &argc),
			 -EBADMSG);
	/* empty user and empty argv[0] are well-formed */
	const uint8_t empties[] = {0, 0, 0, 0, 0, 0};
	assert_int_equal(chan_exec_parse(empties, sizeof(empties), &storage, &user, &av, &argc), 0);
	assert_string_equal(user, "");
	assert_int_equal(argc, 1);
	assert_string_equal(av[0], "");
	free(storage);
	free(av);

	/* no argv to encode */
	const char *none[] = {NULL};
	assert_int_equal(chan_exec_encode("", none, &p, &len), -EINVAL);
}

static void test_exec_arg_limit(void **state)
{
	const char *argv[CHAN_MAX_ARGS + 2];
	uint8_t buf[4 + 1 + 2 * (CHAN_MAX_ARGS + 1)];
	size_t argc;
	char *storage, **av;
	const char *user;

	for (size_t i = 0; i < CHAN_MAX_ARGS + 1; i++)
		argv[i] = "a";
	argv[CHAN_MAX_ARGS + 1] = NULL;
	uint8_t *p;
	size_t len;
	assert_int_equal(chan_exec_encode("", argv, &p, &len), -E2BIG);

	/* CHAN_MAX_ARGS arguments parse, one more does not */
	memset(buf, 0, 5);
	for (size_t i = 0; i < CHAN_MAX_ARGS + 1; i++) {
		buf[5 + 2 * i] = 'a';
		buf[6 + 2 * i] = 0;
	}
	size_t max_len = 5 + 2 * CHAN_MAX_ARGS;
	assert_int_equal(chan_exec_parse(buf, max_len, &storage, &user, &av, &argc), 0);
	assert_int_equal(argc, CHAN_MAX_ARGS);
	free(storage);
	free(av);
	assert_int_equal(chan_exec_parse(buf, sizeof(buf), &storage, &user, &av, &argc), -EBADMSG);

	/* a payload over the frame maximum cannot be encoded */
	_cleanup_free_ char *big = xmalloc(CHAN_MAX_PAYLOAD);
	memset(big, 'b', CHAN_MAX_PAYLOAD - 1);
	big[CHAN_MAX_PAYLOAD - 1] = 0;
	const char *bigv[] = {big, NULL};
	assert_int_equal(chan_exec_encode("", bigv, &p, &len), -EMSGSIZE);
}

static void test_u32_exit(void **state)
{
	uint8_t b[9];
	uint32_t v, kind;
	int32_t value;

	chan_u32_encode(b, 0xdeadbeef);
	assert_int_equal(chan_u32_parse(b, 4, &v), 0);
	assert_int_equal(v, 0xdeadbeef);
	assert_int_equal(chan_u32_parse(b, 3, &v), -EBADMSG);
	assert_int_equal(chan_u32_parse(b, 5, &v), -EBADMSG);
	assert_int_equal(chan_u32_parse(b, 0, &v), -EBADMSG);

	chan_exit_encode(b, CHAN_EXIT_SIGNAL, -5);
	assert_int_equal(chan_exit_parse(b, 8, &kind, &value), 0);
	assert_int_equal(kind, CHAN_EXIT_SIGNAL);
	assert_int_equal(value, -5);
	for (size_t i = 0; i < 8; i++)
		assert_int_equal(chan_exit_parse(b, i, &kind, &value), -EBADMSG);
	assert_int_equal(chan_exit_parse(b, 9, &kind, &value), -EBADMSG);
}

static void test_type_names(void **state)
{
	assert_string_equal(chan_type_name(CHAN_HELLO), "HELLO");
	assert_string_equal(chan_type_name(CHAN_ECHO_REPLY), "ECHO_REPLY");
	assert_string_equal(chan_type_name(CHAN_API_EVENT), "API_EVENT");
	assert_null(chan_type_name(0));
	assert_string_equal(chan_type_name(CHAN_RPC_CALL), "RPC_CALL");
	assert_null(chan_type_name(15));
	assert_null(chan_type_name(0xffff));
}

static void test_outbuf_limit(void **state)
{
	struct chan_outbuf o;
	static uint8_t big[CHAN_MAX_PAYLOAD + 1];

	chan_outbuf_init(&o, 100);
	assert_int_equal(chan_outbuf_push(&o, CHAN_STDOUT, 1, big, 50), 0);
	assert_int_equal(chan_outbuf_pending(&o), 62);
	/* 62 + 12 + 27 = 101 > 100: refused, nothing queued */
	assert_int_equal(chan_outbuf_push(&o, CHAN_STDOUT, 1, big, 27), -ENOBUFS);
	assert_int_equal(chan_outbuf_pending(&o), 62);
	assert_int_equal(chan_outbuf_push(&o, CHAN_STDOUT, 1, big, 26), 0);
	assert_int_equal(chan_outbuf_pending(&o), 100);
	assert_int_equal(chan_outbuf_push(&o, CHAN_ECHO, 0, NULL, 0), -ENOBUFS);
	assert_int_equal(chan_outbuf_pending(&o), 100);
	chan_outbuf_finish(&o);
	assert_int_equal(chan_outbuf_pending(&o), 0);

	chan_outbuf_init(&o, 1 << 20);
	assert_int_equal(chan_outbuf_push(&o, CHAN_STDOUT, 1, big, sizeof(big)), -EMSGSIZE);
	assert_int_equal(chan_outbuf_pending(&o), 0);
	chan_outbuf_finish(&o);
	chan_outbuf_finish(NULL);
}

/* Frames queued, partially flushed into a small socket buffer, then drained and decoded. */
static void test_outbuf_flush_socketpair(void **state)
{
	int sv[2];
	struct chan_outbuf o;
	static uint8_t payload[CHAN_MAX_PAYLOAD], rbuf[CHAN_MAX_PAYLOAD];
	const int nframes = 40;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
	int sz = 4096;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	chan_outbuf_init(&o, 8u << 20);
	for (int i = 0; i < nframes; i++) {
		memset(payload, i, sizeof(payload));
		assert_int_equal(
		    chan_outbuf_push(&o, CHAN_STDOUT, (uint32_t)i, payload, 1000 * (size_t)i + 1),
		    0);
	}

	chan_decoder_init(&dec, CHAN_MAX_PAYLOAD);
	int got = 0;
	bool saw_partial = false;
	while (got < nframes) {
		int r = chan_outbuf_flush(&o, sv[0]);
		assert_true(r >= 0);
		if (r == 1)
			saw_partial = true;
		ssize_t n = read(sv[1], rbuf, sizeof(rbuf));
		if (n < 0) {
			assert_int_equal(errno, EAGAIN);
			continue;
		}
		size_t off = 0, used;
		struct chan_frame f;
		while (off < (size_t)n) {
			int d = chan_decoder_feed(&dec, rbuf + off, (size_t)n - off, &used, &f);
			assert_true(d >= 0);
			off += used;
			if (d == 1) {
				assert_int_equal(f.stream, got);
				assert_int_equal(f.len, 1000 * got + 1);
				assert_int_equal(f.payload[f.len - 1], (uint8_t)got);
				got++;
			}
		}
	}
	assert_true(saw_partial);
	assert_int_equal(chan_outbuf_flush(&o, sv[0]), 0);
	assert_int_equal(chan_outbuf_pending(&o), 0);

	/* a closed peer is an error, not a hang */
	close(sv[1]);
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(chan_outbuf_push(&o, CHAN_ECHO, 0, "x", 1), 0);
	assert_int_equal(chan_outbuf_flush(&o, sv[0]), -EPIPE);
	chan_outbuf_finish(&o);
	close(sv[0]);
}

static void test_send_recv(void **state)
{
	int sv[2];
	struct chan_frame f;
	uint8_t *p;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(chan_send(sv[0], CHAN_ECHO, 9, "abc", 3), 0);
	assert_int_equal(chan_send(sv[0], CHAN_SHUTDOWN, 0, NULL, 0), 0);
	assert_int_equal(chan_recv(sv[1], CHAN_MAX_PAYLOAD, &f, &p), 0);
	assert_int_equal(f.type, CHAN_ECHO);
	assert_int_equal(f.stream, 9);
	assert_int_equal(f.len, 3);
	assert_string_equal((char *)p, "abc");
	free(p);
	assert_int_equal(chan_recv(sv[1], CHAN_MAX_PAYLOAD, &f, &p), 0);
	assert_int_equal(f.type, CHAN_SHUTDOWN);
	assert_int_equal(f.len, 0);
	assert_int_equal(p[0], 0);
	free(p);

	/* over the reader's cap */
	assert_int_equal(chan_send(sv[0], CHAN_ECHO, 0, "0123456789", 10), 0);
	assert_int_equal(chan_recv(sv[1], 9, &f, &p), -EMSGSIZE);

	static uint8_t big[CHAN_MAX_PAYLOAD + 1];
	assert_int_equal(chan_send(sv[0], CHAN_ECHO, 0, big, sizeof(big)), -EMSGSIZE);
	close(sv[0]);
	close(sv[1]);

	/* clean EOF, EOF inside a header, EOF inside a payload */
	uint8_t h[CHAN_HEADER_SIZE];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	close(sv[0]);
	assert_int_equal(chan_recv(sv[1], CHAN_MAX_PAYLOAD, &f, &p), -EPIPE);
	close(sv[1]);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	chan_header_encode(h, CHAN_ECHO, 0, 5);
	assert_int_equal(write_all(sv[0], h, 7), 0);
	close(sv[0]);
	assert_int_equal(chan_recv(sv[1], CHAN_MAX_PAYLOAD, &f, &p), -EBADMSG);
	close(sv[1]);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(write_all(sv[0], h, sizeof(h)), 0);
	assert_int_equal(write_all(sv[0], "ab", 2), 0);
	close(sv[0]);
	assert_int_equal(chan_recv(sv[1], CHAN_MAX_PAYLOAD, &f, &p), -EBADMSG);
	close(sv[1]);

	/* bad flags */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	chan_header_encode(h, CHAN_ECHO, 0, 0);
	h[3] = 0x80;
	assert_int_equal(write_all(sv[0], h, sizeof(h)), 0);
	assert_int_equal(chan_recv(sv[1], CHAN_MAX_PAYLOAD, &f, &p), -EBADMSG);
	close(sv[0]);
	close(sv[1]);
}

static void test_strings(void **state)
{
	const char *in[] = {"work", "bulkhead.Filecopy+x", "", "personal"};
	uint8_t buf[4 * (CHAN_STRING_MAX + 1)];
	char storage[sizeof(buf)];
	const char *out[4];
	size_t len;

	assert_int_equal(chan_strings_encode(in, 4, buf, sizeof(buf), &len), 0);
	assert_int_equal(chan_strings_parse(buf, len, 4, storage, out), 0);
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(out[i], in[i]);
	/* Wrong count, missing final NUL, empty payload: refused. */
	assert_int_equal(chan_strings_parse(buf, len, 2, storage, out), -EBADMSG);
	assert_int_equal(chan_strings_parse(buf, len - 1, 4, storage, out), -EBADMSG);
	assert_int_equal(chan_strings_parse(buf, 0, 2, storage, out), -EBADMSG);
	/* A string over the limit, on either side. */
	char big[CHAN_STRING_MAX + 2];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	const char *two[] = {big, "x"};
	assert_int_equal(chan_strings_encode(two, 2, buf, sizeof(buf), &len), -EMSGSIZE);
	uint8_t raw[sizeof(big) + 2];
	memcpy(raw, big, sizeof(big));
	raw[sizeof(big)] = 'x';
	raw[sizeof(big) + 1] = 0;
	assert_int_equal(chan_strings_parse(raw, sizeof(raw), 2, storage, out), -EBADMSG);
	/* Too small an output buffer. */
	assert_int_equal(chan_strings_encode(in, 4, buf, 10, &len), -EMSGSIZE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_layout),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_two_frames_one_buffer),
	    cmocka_unit_test(test_byte_by_byte),
	    cmocka_unit_test(test_uneven_chunks),
	    cmocka_unit_test(test_oversize_rejected_before_payload),
	    cmocka_unit_test(test_bad_flags),
	    cmocka_unit_test(test_hello),
	    cmocka_unit_test(test_exec),
	    cmocka_unit_test(test_exec_arg_limit),
	    cmocka_unit_test(test_u32_exit),
	    cmocka_unit_test(test_type_names),
	    cmocka_unit_test(test_outbuf_limit),
	    cmocka_unit_test(test_outbuf_flush_socketpair),
	    cmocka_unit_test(test_send_recv),
	    cmocka_unit_test(test_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
