/* admin.policy.Prompt, Answer, Check: the RPC policy as the API shows it. */
#include "api-handlers.h"
#include "api-request.h"
#include "api-server.h"
#include "api-util.h"
#include "api.h"
#include "log.h"
#include "rpc-policy.h"
#include "rpc.h"
#include "util.h"

void h_policy_prompt(struct daemon *d, struct client *c, const struct api_request *req)
{
	client_reply_ok(c, NULL);
	client_enter_prompt(c);
	log_info("a prompt agent registered for 'ask'");
}

void h_policy_answer(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct json_object *v = NULL;
	char *end;

	if (!client_is_prompt(c)) {
		client_reply_error(c, API_E_PERMISSION, "only the registered prompt answers");
		return;
	}
	errno = 0;
	unsigned long long id = strtoull(req->arg, &end, 10);
	if (errno || end == req->arg || *end) {
		client_reply_error(c, API_E_VALUE, "bad ask id '%s'", req->arg);
		return;
	}
	const char *target = NULL;
	if (req->payload && json_object_object_get_ex(req->payload, "target", &v) &&
	    json_object_is_type(v, json_type_string))
		target = json_object_get_string(v);
	int r = rpc_prompt_answer(d, c, id, target);
	if (r == -ENOENT)
		client_reply_error(c, API_E_VALUE, "no open question %llu", id);
	else if (r < 0)
		client_reply_error(c, API_E_VALUE, "'%s' was not offered", target);
	else
		client_reply_ok(c, NULL);
}

/* What the policy says about a call from payload "source" to dest, without making it: the
 * same decision as the RPC router's (rpc_policy_decide), for the compositor's clipboard. */
void h_policy_check(struct daemon *d, struct client *c, const struct api_request *req)
{
	const char *source = payload_str(req, "source");
	struct rpc_policy_decision dec = {0};
	char reason[256];

	if (!source || !*source || strlen(source) > API_NAME_MAX) {
		client_reply_error(c, API_E_VALUE, "admin.policy.Check needs a source qube");
		return;
	}
	if (!*req->arg) {
		client_reply_error(c, API_E_VALUE, "admin.policy.Check needs a service name");
		return;
	}
	rpc_policy_decide(d, source, req->dest, req->arg, &dec, reason, sizeof(reason));
	static const char *const actions[] = {
	    [RPC_DENY] = "deny",
	    [RPC_ALLOW] = "allow",
	    [RPC_ASK] = "ask",
	};
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "result", json_object_new_string(actions[dec.action]));
	json_object_object_add(o, "target",
			       dec.action == RPC_ALLOW ? json_object_new_string(dec.target) : NULL);
	json_object_object_add(o, "line", dec.rule ? json_object_new_string(dec.rule) : NULL);
	if (dec.action == RPC_ASK) {
		struct json_object *arr = json_object_new_array();
		for (size_t i = 0; i < dec.n_targets; i++)
			json_object_array_add(arr, json_object_new_string(dec.targets[i]));
		json_object_object_add(o, "targets", arr);
		json_object_object_add(
		    o, "default_target",
		    dec.default_target ? json_object_new_string(dec.default_target) : NULL);
	} else if (dec.action == RPC_DENY) {
		json_object_object_add(o, "reason", json_object_new_string(reason));
	}
	log_info("policy check: %s from %s to %s: %s (%s)", LOG_ESC(req->arg), LOG_ESC(source),
		 LOG_ESC(req->dest), actions[dec.action], LOG_ESC(reason));
	rpc_policy_decision_finish(&dec);
	client_reply_ok(c, o);
}
