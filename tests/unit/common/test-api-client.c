/* Unit tests of the host API's request encoder (common/api-client.c), read back by bulkheadd's
 * own request parser (vmmanager/api-request.c): what the clients write is what the daemon reads. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "api-client.h"
#include "api-request.h"
#include "frame.h"
#include "proto.h"
#include "util.h"

static void test_round_trip(void **state)
{
	struct json_object *payload = json_object_new_object(), *owner = NULL;
	struct api_request req;
	const char *reason = NULL;
	char *text = NULL;
	size_t len = 0;

	json_object_object_add(payload, "name", json_object_new_string("work \"2\""));
	assert_int_equal(api_request_encode("admin.vm.Clone", "work", NULL, payload, &text, &len),
			 0);
	assert_int_equal(strlen(text), len);
	/* The caller's payload is still its own. */
	assert_int_equal(json_object_put(payload), 1);
	assert_int_equal(api_request_parse((const uint8_t *)text, len, &req, &owner, &reason), 0);
	assert_string_equal(req.call, "admin.vm.Clone");
	assert_string_equal(req.dest, "work");
	assert_string_equal(req.arg, "");
	assert_non_null(req.payload);
	struct json_object *name;
	assert_true(json_object_object_get_ex(req.payload, "name", &name));
	assert_string_equal(json_object_get_string(name), "work \"2\"");
	json_object_put(owner);
	free(text);

	/* No payload: the member is absent, not null. */
	assert_int_equal(api_request_encode("admin.vm.List", NULL, NULL, NULL, &text, &len), 0);
	assert_null(strstr(text, "payload"));
	assert_int_equal(api_request_parse((const uint8_t *)text, len, &req, &owner, &reason), 0);
	assert_string_equal(req.dest, "");
	assert_null(req.payload);
	json_object_put(owner);
	free(text);
}

static void test_too_large(void **state)
{
	size_t n = CHAN_MAX_PAYLOAD;
	char *big = malloc(n + 1);
	struct json_object *payload = json_object_new_object();
	char *text = (char *)"untouched";
	size_t len = 7;

	memset(big, 'x', n);
	big[n] = '\0';
	json_object_object_add(payload, "data", json_object_new_string(big));
	assert_int_equal(api_request_encode("admin.vm.Echo", "work", "", payload, &text, &len),
			 -E2BIG);
	assert_string_equal(text, "untouched");
	assert_int_equal(len, 7);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(api_request_send(sv[0], "admin.vm.Echo", "work", "", payload), -E2BIG);
	close(sv[0]);
	/* Nothing half-sent. */
	char c;
	assert_int_equal(read(sv[1], &c, 1), 0);
	close(sv[1]);
	json_object_put(payload);
	free(big);
}

static void test_send(void **state)
{
	int sv[2];
	struct chan_frame f;
	uint8_t *p = NULL;
	struct json_object *owner = NULL;
	struct api_request req;
	const char *reason;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(api_request_send(sv[0], "admin.vm.property.Get", "work", "label", NULL),
			 0);
	assert_int_equal(chan_recv(sv[1], CHAN_MAX_PAYLOAD, &f, &p), 0);
	assert_int_equal(f.type, CHAN_API_REQUEST);
	assert_int_equal(f.stream, 0);
	assert_int_equal(api_request_parse(p, f.len, &req, &owner, &reason), 0);
	assert_string_equal(req.call, "admin.vm.property.Get");
	assert_string_equal(req.arg, "label");
	json_object_put(owner);
	free(p);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_too_large),
	    cmocka_unit_test(test_send),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
