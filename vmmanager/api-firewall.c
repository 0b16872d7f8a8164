/* admin.vm.firewall.Get and Set: a qube's rules as a whole list and its inbound port forwards,
 * validated by net/'s parsers and stored atomically together; a successful Set tells the network
 * side (net_firewall_changed) so that the chain applies them while it runs. Host only: no qube
 * can call these (rpc-policy.c). */
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

static void reply_load_error(struct client *c, const struct vm *vm, int r, char *err)
{
	client_reply_error(c, API_E_VM, "'%s': %s", vm->q->name, err ? err : strerror(-r));
	free(err);
}

/* A port is forwarded to one qube only, and the host holds at most PORT_FORWARDS_MAX: every
 * netvm's list stays within what the net qubes accept. */
static int check_forwards_host_wide(struct daemon *d, const struct vm *vm,
				    const struct port_forwards *want, char **ret_message)
{
	size_t total = want->n;

	for (size_t i = 0; i < d->n_vms; i++) {
		const struct qube *o = d->vms[i]->q;
		struct port_forwards theirs;
		char *err = NULL;
		if (o == vm->q || firewall_load(d->store, o->name, NULL, &theirs, &err) < 0) {
			free(err);
			continue;
		}
		total += theirs.n;
		for (size_t k = 0; k < want->n; k++)
			if (port_forwards_find(&theirs, want->v[k].proto, want->v[k].port) >= 0) {
				*ret_message = xasprintf(
				    "%s port %u is forwarded to '%s' already (bulkhead firewall %s "
				    "forward del %s %u)",
				    fw_proto_str(want->v[k].proto), want->v[k].port, o->name,
				    o->name, fw_proto_str(want->v[k].proto), want->v[k].port);
				return -EEXIST;
			}
	}
	if (total > PORT_FORWARDS_MAX) {
		*ret_message = xasprintf("the host may forward at most %d ports; %zu would be",
					 PORT_FORWARDS_MAX, total);
		return -E2BIG;
	}
	return 0;
}

void h_firewall(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct vm *vm = dest_vm(d, c, req);
	const char *op = strrchr(req->call, '.') + 1;
	struct fw_rules rules = {NULL, 0};
	struct port_forwards forwards;
	struct json_object *a_rules = NULL, *a_fwd = NULL;
	char *err = NULL;
	int r;

	if (!vm)
		return;
	if (streq(op, "Get")) {
		struct json_object *res, *status;
		r = firewall_load(d->store, vm->q->name, &rules, &forwards, &err);
		if (r < 0)
			return reply_load_error(c, vm, r, err);
		res = fw_file_to_json(&rules);
		json_object_object_add(res, "forwards", port_forwards_to_json(&forwards));
		status = net_firewall_status(d, vm->q);
		if (status)
			json_object_object_add(res, "status", status);
		fw_rules_done(&rules);
		client_reply_ok(c, res);
		return;
	}
	/* Set: the whole rule list, the whole forward list, or both; a list not given stays as it
	 * is. Everything is checked before anything is written. */
	bool is_obj = req->payload && json_object_is_type(req->payload, json_type_object);
	if (is_obj) {
		json_object_object_get_ex(req->payload, "rules", &a_rules);
		json_object_object_get_ex(req->payload, "forwards", &a_fwd);
	}
	if (!is_obj || (!a_rules && !a_fwd) ||
	    json_object_object_length(req->payload) != (a_rules != NULL) + (a_fwd != NULL)) {
		client_reply_error(c, API_E_VALUE,
				   "firewall.Set needs {\"rules\": [...]}, {\"forwards\": [...]} "
				   "or both, and nothing else");
		return;
	}
	r = firewall_load(d->store, vm->q->name, &rules, &forwards, &err);
	if (r < 0 && !a_rules) /* a damaged file's rules can only be replaced whole */
		return reply_load_error(c, vm, r, err);
	free(err);
	err = NULL;
	if (r < 0)
		forwards.n = 0;
	if (a_rules) {
		fw_rules_done(&rules);
		if (fw_rules_from_json(a_rules, &rules, &err) < 0) {
			client_reply_error(c, API_E_VALUE, "'%s': %s", vm->q->name, err);
			free(err);
			return;
		}
	}
	bool fwd_changed = false;
	if (a_fwd) {
		struct port_forwards want;
		if (port_forwards_from_json(a_fwd, &want, &err) < 0 ||
		    check_forwards_host_wide(d, vm, &want, &err) < 0) {
			client_reply_error(c, API_E_VALUE, "'%s': %s", vm->q->name, err);
			free(err);
			fw_rules_done(&rules);
			return;
		}
		fwd_changed = want.n != forwards.n ||
			      memcmp(want.v, forwards.v, want.n * sizeof(want.v[0])) != 0;
		forwards = want;
	}
	r = firewall_save(d->store, vm->q->name, &rules, &forwards);
	size_t n_rules = rules.n;
	fw_rules_done(&rules);
	if (r < 0) {
		client_reply_error(c, errno_to_api(r), "'%s': cannot save " FIREWALL_JSON ": %s",
				   vm->q->name, strerror(-r));
		return;
	}
	if (a_rules) {
		log_info("firewall of %s set (%zu rules)", vm->q->name, n_rules);
		net_firewall_changed(d, vm->q);
	}
	if (fwd_changed) {
		log_info("inbound forwards of %s set (%zu)", vm->q->name, forwards.n);
		net_forwards_changed(d, vm->q);
	}
	client_reply_ok(c, NULL);
}
