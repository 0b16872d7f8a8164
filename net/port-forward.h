/*
 * Inbound port forwards (off by default, one explicit entry each): a TCP or UDP port on the
 * uplink, where sys-net's passt listens, carried through each netvm of the chain to one qube's
 * port. Stored with the qube (firewall.json's "forwards"), set with `bulkhead firewall QUBE
 * forward`, told to each netvm in its downstream entries. A port is forwarded to one qube only
 * host-wide, and the host holds at most PORT_FORWARDS_MAX of them, so one netvm's list (its
 * clients' and, passed through, their clients') never exceeds that either.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "firewall-rule.h"

#define PORT_FORWARDS_MAX 64
/* passt runs without CAP_NET_BIND_SERVICE: it cannot listen below this. */
#define PORT_FORWARD_MIN 1024

struct port_forward {
	enum fw_proto proto; /* FW_PROTO_TCP or FW_PROTO_UDP */
	uint16_t port;	     /* on the uplink, PORT_FORWARD_MIN-65535 */
	uint16_t to_port;    /* in the qube, 1-65535 */
};

struct port_forwards {
	struct port_forward v[PORT_FORWARDS_MAX];
	size_t n;
};

/* {"proto": "tcp", "port": 8080, "to_port": 80} (to_port defaults to port); unknown members and
 * wrong types refused. -EINVAL with *ret_error naming the member. */
int port_forward_from_json(struct json_object *o, struct port_forward *ret, char **ret_error);
struct json_object *port_forward_to_json(const struct port_forward *f);

/* A list: a JSON array, at most PORT_FORWARDS_MAX, no (proto, port) twice. */
int port_forwards_from_json(struct json_object *a, struct port_forwards *ret, char **ret_error);
struct json_object *port_forwards_to_json(const struct port_forwards *l);

/* The command line's words: PROTO PORT [TO_PORT] ("tcp 8080 80"). */
int port_forward_parse_words(char *const *words, size_t n, struct port_forward *ret,
			     char **ret_error);

/* The index of the entry with f's proto and port in l, or -ENOENT. */
int port_forwards_find(const struct port_forwards *l, enum fw_proto proto, uint16_t port);
/* Appends (-EEXIST when proto and port are taken, -E2BIG when full). */
int port_forwards_add(struct port_forwards *l, const struct port_forward *f);

/* passt's port list for one protocol: "8080:8080,5000:5000" (the uplink's ports, to the same
 * port in sys-net, which passes them on), or NULL when l has none of proto. */
char *port_forwards_passt_spec(const struct port_forwards *l, enum fw_proto proto);
