/* bulkheadd's use of the policy library: the live qubes as system info, the policy directory
 * reloaded when it changes, and `ask` sent to a registered prompt agent. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct daemon;

enum rpc_action { RPC_DENY, RPC_ALLOW, RPC_ASK };

struct rpc_policy_decision {
	enum rpc_action action;
	char *service; /* without argument */
	char *arg;     /* without '+', may be "" */
	char *target;  /* resolved: a qube, "dom0", or "@dispvm:NAME" */
	char *user;    /* or NULL for the default */
	char *rule;    /* FILE:LINE or NULL */
	bool autostart;
	/* ask: what the prompt may offer */
	char **targets;
	size_t n_targets;
	char *default_target; /* or NULL */
};

/* Decides a call from source (known from its channel) to target. Returns 0 with ret->action
 * set; on deny, reason says why. Never fails open: any error is a deny. */
int rpc_policy_decide(struct daemon *d, const char *source, const char *target,
		      const char *service_arg, struct rpc_policy_decision *ret, char *reason,
		      size_t reason_size);
void rpc_policy_decision_finish(struct rpc_policy_decision *dec);
void rpc_policy_cache_free(struct daemon *d);

/* Whether SERVICE[+ARG] is the host's alone: qubes may not call it, whatever the policy says
 * (its policy lines exist for the host's own checks, like the compositor's paste check through
 * admin.policy.Check, or it turns the host's API into a stream). One table, in rpc-policy.c. */
bool rpc_service_host_only(const char *service_arg);
