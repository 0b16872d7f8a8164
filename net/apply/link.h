/* Interface configuration with the `ip` command (iproute2 or busybox: only the subcommands both
 * have), plus what busybox's ip lacks (neighbour entries) over rtnetlink. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

/* The interface whose MAC is mac, into ifname[16]; -ENODEV when none. */
int link_find_by_mac(const uint8_t mac[6], char ifname[16]);
/* Runs `ip ARGS...` (NULL-terminated); "File exists" counts as done when exists_ok.
 * On failure *ret_error says which command and what ip printed. */
int link_ip(bool exists_ok, char **ret_error, ...) __attribute__((sentinel));
/* A permanent neighbour entry (replaced when there). family AF_INET or AF_INET6. */
int link_neigh_permanent(const char *ifname, int family, const void *addr, const uint8_t mac[6]);
/* Writes value into a /proc/sys file. */
int link_sysctl(const char *path, const char *value);
/* resolv.conf with these nameservers: replaced atomically, or written in place when it is a
 * mount point (as under `ip netns exec`). */
int link_write_resolv(const char *path, const struct in_addr *dns, size_t n);
