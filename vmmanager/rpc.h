/* Calls between qubes, decided by the policy (rpc.c). */
#pragma once

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
int rpc_prompt_answer(struct daemon *d, struct client *prompt, uint64_t id, const char *target);
void rpc_prompt_gone(struct daemon *d, struct client *prompt);
