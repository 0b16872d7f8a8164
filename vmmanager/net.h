/*
 * Networking the Qubes way, bulkheadd's side (net.c): which qube is whose netvm, the links
 * between running qubes, and the configuration each qube is told.
 *
 * A qube's netvm is the qube its `netvm` property names (it must have provides_network), none
 * when set to none, and otherwise the host's default_netvm (none for templates, and for the
 * default netvm itself). Chains never loop: every change that would make one is refused.
 *
 * A link joins a running client and its running netvm: an AF_UNIX SOCK_DGRAM socketpair, one
 * end in each QEMU as a virtio-net NIC on a reserved root port (backend.h). No host interface,
 * bridge, tap or address is involved: the host kernel never routes, switches or addresses a qube
 * frame. Links follow the qubes: plugged when both sides run, unplugged when either stops,
 * re-plugged into a netvm that restarts, moved when the netvm property changes.
 *
 * After a change each affected qube gets its whole configuration (contract: the JSON on the
 * stdin of `bulkhead-net-apply`, run as root in the qube), applied again at the time it asks
 * for (rule expiry, DNS TTLs).
 *
 * The reserved root ports hold nothing else: the domain XML pins every other device to a slot of
 * its own on the root complex (domain-xml.c), so a NIC plugged later lands alone on its port,
 * where the guest's ACPI hotplug finds it.
 */
#pragma once

#include <stdbool.h>

struct daemon;
struct qube;
struct vm;

/* Root ports a qube's domain reserves for links: a netvm needs one per client. */
#define NET_PORTS_NETVM	 24
#define NET_PORTS_CLIENT 2  /* its uplink, and one while the old one is being unplugged */
#define NET_CHAIN_MAX	 16 /* netvms in a row, at most */
/* The program in the qube that applies the configuration (net/apply/). */
#define NET_APPLY_PROGRAM "bulkhead-net-apply"

unsigned net_hotplug_ports(const struct qube *q);

/* The name of q's netvm (whether or not such a qube exists), or NULL for none. */
const char *net_netvm_name(struct daemon *d, const struct qube *q);
struct vm *net_netvm_of(struct daemon *d, const struct qube *q);

/* Checks a change before it is made; on refusal *ret_message says why (free it).
 * value NULL: the property is reset (follows the default). */
int net_check_netvm(struct daemon *d, const struct qube *q, const char *value, char **ret_message);
int net_check_default_netvm(struct daemon *d, const char *value, char **ret_message);
int net_check_provides_network(struct daemon *d, const struct qube *q, bool value,
			       char **ret_message);
/* "a, b" for the running (or starting) qubes whose netvm is vm; NULL if none. */
char *net_running_clients(struct daemon *d, const struct vm *vm);
/* Before vm starts: starts the halted netvms of its chain (as Qubes does). */
int net_start_chain(struct daemon *d, struct vm *vm, char **ret_error_name, char **ret_message);

/* Something changed (a qube became ready or stopped, a netvm or default_netvm was set): links
 * are plugged and unplugged to match, and the qubes concerned are told. */
void net_sync(struct daemon *d);
/* The qube is leaving the registry. */
void net_vm_removed(struct daemon *d, struct vm *vm);
/* A client's firewall rules changed (admin.vm.firewall.Set): its netvm applies them again. */
void net_firewall_changed(struct daemon *d, struct qube *q);
/* q's inbound port forwards changed (the only call that changes them, so net.c reads them once
 * until then): every netvm of its chain applies them again, and the uplink
 * at its end (passt) is started again listening on the new set. */
void net_forwards_changed(struct daemon *d, struct qube *q);
/* The per-rule states of q's rules as its netvm last applied them ([{"rule", "state",
 * "reason"}], a new reference), or NULL when unknown (not linked, not applied yet). */
struct json_object *net_firewall_status(struct daemon *d, const struct qube *q);
/* The links and addresses of vm as admin.vm.List shows them (ip, ip6, netvm). */
struct json_object;
void net_list_fields(struct daemon *d, const struct vm *vm, struct json_object *o);
void net_free(struct daemon *d);
