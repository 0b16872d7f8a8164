/* admin.vm.tag.List, Get, Set, Remove. */
#include "api-handlers.h"
#include "api-request.h"
#include "api-server.h"
#include "api-util.h"
#include "api.h"
#include "daemon.h"
#include "qube.h"
#include "util.h"

void h_tag(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct vm *vm = dest_vm(d, c, req);
	const char *op = strrchr(req->call, '.') + 1;
	struct qube *copy = NULL;
	int r;

	if (!vm)
		return;
	if (streq(op, "List")) {
		struct json_object *res = json_object_new_array();
		for (size_t i = 0; i < vm->q->n_tags; i++)
			json_object_array_add(res, json_object_new_string(vm->q->tags[i]));
		client_reply_ok(c, res);
		return;
	}
	if (streq(op, "Get")) {
		client_reply_ok(c, json_object_new_boolean(qube_has_tag(vm->q, req->arg)));
		return;
	}
	if (qube_dup(vm->q, vm->q->name, &copy) < 0) {
		client_reply_error(c, API_E_VM, "out of memory");
		return;
	}
	r = streq(op, "Set") ? qube_tag_add(copy, req->arg) : qube_tag_del(copy, req->arg);
	if (r == -EEXIST || (r == -ENOENT && !streq(op, "Set"))) {
		qube_free(copy);
		if (r == -ENOENT)
			client_reply_error(c, API_E_VALUE, "'%s' has no tag '%s'", vm->q->name,
					   req->arg);
		else
			client_reply_ok(c, NULL);
		return;
	}
	if (r < 0) {
		qube_free(copy);
		client_reply_error(c, API_E_VALUE, "invalid tag '%s'", req->arg);
		return;
	}
	if (commit_change(d, c, vm, copy) < 0)
		return;
	client_reply_ok(c, NULL);
}
