/* A qube's channel process (qchan.c): bulkheadd holds only the message socket to it, and
 * reports what comes from it (lifecycle.h, rpc.h, vm-listener.h); it builds no API replies. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct daemon;
struct vm;

int qchan_connect(struct daemon *d, struct vm *vm);
void qchan_close(struct daemon *d, struct vm *vm);
int qchan_msg(struct daemon *d, struct vm *vm, uint16_t type, uint32_t id, const void *p,
	      size_t len, int fd);
int qchan_msg_strings(struct daemon *d, struct vm *vm, uint16_t type, uint32_t id,
		      const char *const *strs, size_t n, int fd);
/* Hands client_fd (a `bulkhead run` client, already answered) to the qube's channel process,
 * which runs the command and relays it. */
int qchan_exec(struct daemon *d, struct vm *vm, int client_fd, const char *user,
	       const char *const *argv);
bool qchan_ready(const struct vm *vm);
const char *qchan_agent_version(const struct vm *vm);
/* The uid of the qube's host processes (channel process, GUI proxy host half). */
uid_t qchan_qube_uid(struct daemon *d, struct vm *vm);
