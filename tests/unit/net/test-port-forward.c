/* Inbound port forwards: the words and JSON forms, the limits, and passt's spec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "port-forward.h"
#include "util.h"

static int words(const char *text, struct port_forward *f, char **err)
{
	_cleanup_free_ char *copy = xstrdup(text);
	char *w[8], *save = NULL;
	size_t n = 0;

	for (char *t = strtok_r(copy, " ", &save); t && n < 8; t = strtok_r(NULL, " ", &save))
		w[n++] = t;
	return port_forward_parse_words(w, n, f, err);
}

static void test_words(void **state)
{
	struct port_forward f;
	char *err = NULL;

	(void)state;
	assert_int_equal(words("tcp 8080 80", &f, &err), 0);
	assert_int_equal(f.proto, FW_PROTO_TCP);
	assert_int_equal(f.port, 8080);
	assert_int_equal(f.to_port, 80);
	assert_int_equal(words("udp 5353", &f, &err), 0);
	assert_int_equal(f.proto, FW_PROTO_UDP);
	assert_int_equal(f.to_port, 5353);
	assert_int_equal(words("tcp 65535 1", &f, &err), 0);

	static const struct {
		const char *text, *needle;
	} bad[] = {
	    {"tcp", "PROTO PORT"},	   {"tcp 1 2 3", "PROTO PORT"},
	    {"icmp 8080", "tcp or udp"},   {"tcp 80", "below 1024"},
	    {"tcp 1023 80", "below 1024"}, {"tcp 0", "not a port"},
	    {"tcp 65536", "not a port"},   {"tcp 8080 0", "to_port"},
	    {"tcp 8080 70000", "to_port"}, {"tcp 80x", "not a port number"},
	    {"tcp -8080", "not a port"},   {"tcp 99999999999999999999", "not a port"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f = (struct port_forward){FW_PROTO_UDP, 9999, 9999};
		err = NULL;
		assert_int_equal(words(bad[i].text, &f, &err), -EINVAL);
		if (!strstr(err, bad[i].needle))
			fail_msg("'%s': error '%s' does not say '%s'", bad[i].text, err,
				 bad[i].needle);
		free(err);
		/* nothing half-changed */
		assert_int_equal(f.port, 9999);
	}
}

static void test_json(void **state)
{
	struct port_forwards l = {.n = 0}, back;
	struct port_forward a = {FW_PROTO_TCP, 8080, 80}, b = {FW_PROTO_UDP, 8080, 8080};
	char *err = NULL;

	(void)state;
	assert_int_equal(port_forwards_add(&l, &a), 0);
	assert_int_equal(port_forwards_add(&l, &b), 0); /* same port, other protocol */
	assert_int_equal(port_forwards_add(&l, &a), -EEXIST);
	struct json_object *o = port_forwards_to_json(&l);
	assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
			    "[{\"proto\":\"tcp\",\"port\":8080,\"to_port\":80},"
			    "{\"proto\":\"udp\",\"port\":8080,\"to_port\":8080}]");
	assert_int_equal(port_forwards_from_json(o, &back, &err), 0);
	assert_int_equal(back.n, 2);
	assert_memory_equal(&back.v[0], &a, sizeof(a));
	json_object_put(o);
	assert_int_equal(port_forwards_find(&back, FW_PROTO_UDP, 8080), 1);
	assert_int_equal(port_forwards_find(&back, FW_PROTO_UDP, 8081), -ENOENT);

	static const struct {
		const char *json, *needle;
	} bad[] = {
	    {"{}", "expected an array"},
	    {"[1]", "forward 0"},
	    {"[{\"proto\":\"tcp\"}]", "port: expected a number"},
	    {"[{\"proto\":\"tcp\",\"port\":\"8080\"}]", "port: expected a number"},
	    {"[{\"proto\":\"sctp\",\"port\":8080}]", "proto"},
	    {"[{\"proto\":\"tcp\",\"port\":22}]", "below 1024"},
	    {"[{\"proto\":\"tcp\",\"port\":8080,\"to_port\":0}]", "to_port"},
	    {"[{\"proto\":\"tcp\",\"port\":8080,\"extra\":1}]", "unknown member"},
	    {"[{\"proto\":\"tcp\",\"port\":8080},{\"proto\":\"tcp\",\"port\":8080,\"to_port\":1}]",
	     "listed twice"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct json_object *j = json_tokener_parse(bad[i].json);
		back.n = 7;
		err = NULL;
		assert_non_null(j);
		assert_int_equal(port_forwards_from_json(j, &back, &err), -EINVAL);
		if (!strstr(err, bad[i].needle))
			fail_msg("%s: error '%s' does not say '%s'", bad[i].json, err,
				 bad[i].needle);
		assert_int_equal(back.n, 7);
		free(err);
		json_object_put(j);
	}
}

static void test_limit(void **state)
{
	struct port_forwards l = {.n = 0};
	struct json_object *a = json_object_new_array();
	char *err = NULL;

	(void)state;
	for (int i = 0; i < PORT_FORWARDS_MAX; i++) {
		struct port_forward f = {FW_PROTO_TCP, (uint16_t)(10000 + i), 80};
		assert_int_equal(port_forwards_add(&l, &f), 0);
		json_object_array_add(a, port_forward_to_json(&f));
	}
	struct port_forward f = {FW_PROTO_TCP, 20000, 80};
	assert_int_equal(port_forwards_add(&l, &f), -E2BIG);
	json_object_array_add(a, port_forward_to_json(&f));
	assert_int_equal(port_forwards_from_json(a, &l, &err), -EINVAL);
	assert_non_null(strstr(err, "at most"));
	free(err);
	json_object_put(a);
}

static void test_passt_spec(void **state)
{
	struct port_forwards l = {
	    .v = {{FW_PROTO_TCP, 8080, 80}, {FW_PROTO_UDP, 5353, 53}, {FW_PROTO_TCP, 2222, 22}},
	    .n = 3};
	_cleanup_free_ char *tcp = port_forwards_passt_spec(&l, FW_PROTO_TCP);
	_cleanup_free_ char *udp = port_forwards_passt_spec(&l, FW_PROTO_UDP);

	(void)state;
	/* passt hands each port on unchanged: sys-net maps it on towards the qube */
	assert_string_equal(tcp, "8080:8080,2222:2222");
	assert_string_equal(udp, "5353:5353");
	l.n = 0;
	assert_null(port_forwards_passt_spec(&l, FW_PROTO_TCP));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_words),
	    cmocka_unit_test(test_json),
	    cmocka_unit_test(test_limit),
	    cmocka_unit_test(test_passt_spec),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
