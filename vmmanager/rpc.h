/* Calls between qubes, decided by the policy (rpc.c). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct client;
struct daemon;
struct vm;

void rpc_call_from_qube(struct daemon *d, struct vm *src, uint32_t stream, const char *target,
			const char *service_arg);
void rpc_caller_ended(struct daemon *d, struct vm *src, uint32_t stream);
void rpc_service_ended(struct daemon *d, struct vm *dst, uint32_t id);
void rpc_target_ready(struct daemon *d, struct vm *vm);
void rpc_vm_gone(struct daemon *d, struct vm *vm);
void rpc_free_all(struct daemon *d);
/* A question the host asks the trusted prompt for one of its own services under `ask` (e.g.
 * bulkhead.AudioInput: may SOURCE record from the host's microphone?), sent exactly like an RPC
 * call's: done(d, opaque, allowed, why) is called once, from the prompt's answer, its end or
 * the RPC timeout; never when no prompt is registered (-ENOENT, nothing asked). opaque is
 * malloc'd: done frees it, or bulkheadd's exit does for a question never answered. */
struct rpc_policy_decision;
int rpc_host_ask(struct daemon *d, const char *source, const char *target,
		 struct rpc_policy_decision *dec,
		 void (*done)(struct daemon *d, void *opaque, bool allowed, const char *why),
		 void *opaque);
int rpc_prompt_answer(struct daemon *d, struct client *prompt, uint64_t id, const char *target);
void rpc_prompt_gone(struct daemon *d, struct client *prompt);
