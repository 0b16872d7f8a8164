/* admin.vm.firewall.Get and Set: a qube's rules as a whole list, validated by net/'s parser and
 * stored atomically; a successful Set tells the network side (net_firewall_changed) so that
 * the chain applies them while it runs. Host only: no qube can call these (rpc-policy.c). */
#include "api-handlers.h"
#include "api-request.h"
#include "api-server.h"
#include "api-util.h"
#include "api.h"
#include "daemon.h"
#include "firewall-store.h"
#include "log.h"
#include "net.h"
#include "qube.h"
#include "util.h"

void h_firewall(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct vm *vm = dest_vm(d, c, req);
	const char *op = strrchr(req->call, '.') + 1;
	struct fw_rules rules = {NULL, 0};
	struct json_object *a = NULL;
	char *err = NULL;
	int r;

	if (!vm)
		return;
	if (streq(op, "Get")) {
		struct json_object *res, *status;
		r = firewall_load(d->store, vm->q->name, &rules, &err);
		if (r < 0) {
			client_reply_error(c, API_E_VM, "'%s': %s", vm->q->name,
					   err ? err : strerror(-r));
			free(err);
			return;
		}
		res = fw_file_to_json(&rules);
		status = net_firewall_status(d, vm->q);
		if (status)
			json_object_object_add(res, "status", status);
		fw_rules_done(&rules);
		client_reply_ok(c, res);
		return;
	}
	/* Set: the whole list, checked before anything is written */
	if (!req->payload || !json_object_is_type(req->payload, json_type_object) ||
	    !json_object_object_get_ex(req->payload, "rules", &a)) {
		client_reply_error(c, API_E_VALUE, "firewall.Set needs {\"rules\": [...]}");
		return;
	}
	if (fw_rules_from_json(a, &rules, &err) < 0) {
		client_reply_error(c, API_E_VALUE, "'%s': %s", vm->q->name, err);
		free(err);
		return;
	}
	r = firewall_save(d->store, vm->q->name, &rules);
	fw_rules_done(&rules);
	if (r < 0) {
		client_reply_error(c, errno_to_api(r), "'%s': cannot save " FIREWALL_JSON ": %s",
				   vm->q->name, strerror(-r));
		return;
	}
	log_info("firewall of %s set (%zu rules)", vm->q->name, json_object_array_length(a));
	net_firewall_changed(d, vm->q);
	client_reply_ok(c, NULL);
}
