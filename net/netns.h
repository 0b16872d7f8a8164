/*
 * Named network namespaces (iproute2's /run/netns/NAME): the uplink's passt and its nftables
 * guard live in the namespace bulkheadd is told (--uplink-netns), or in the host's.
 */
#pragma once

#include <stdbool.h>

#define NETNS_NAME_MAX 64

/* A name iproute2 would make a file of: [A-Za-z0-9._-], 1..NETNS_NAME_MAX, not "." or "..". */
bool netns_name_valid(const char *name);

/* Opens /run/netns/NAME, or this process's own namespace when name is NULL. Returns the
 * descriptor (O_CLOEXEC) or -errno (-EINVAL for a bad name, -ENOENT when it does not exist). */
int netns_open(const char *name);

/* Moves the calling thread into the namespace of ns_fd; *ret_orig receives a descriptor of the
 * one it was in, for netns_leave. Returns 0 or -errno (nothing changed). */
int netns_enter(int ns_fd, int *ret_orig);
/* Returns to orig and closes it. Returns 0 or -errno. */
int netns_leave(int orig);
