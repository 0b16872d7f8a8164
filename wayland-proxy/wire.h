/* Wayland wire messages checked against the protocol's signatures (the wl_interface tables
 * wayland-scanner generates), and the object map of one client connection. Shared by both halves
 * of the proxy; the host half relies on it to refuse anything malformed. No logging, no I/O. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <wayland-util.h>

#define WIRE_HEADER_SIZE   8
#define WIRE_MAX_SIZE	   4096 /* libwayland's own limit on one message */
#define WIRE_MAX_ARGS	   20
#define WIRE_SERVER_ID_MIN 0xff000000u
/* New ids, as libwayland hands them out, fill a freed slot or extend a side's ids by one; they
 * must also lie within this many of the side's first id, which bounds the map's memory. */
#define WIRE_MAX_ID_SPAN 131072u

struct wire_arg {
	char type;	 /* i u f s o n a h */
	uint32_t offset; /* of the argument's first byte in the message; lets callers rewrite */
	union {
		int32_t i;
		uint32_t u; /* u, f (raw fixed), o, n */
		struct {
			const char *str; /* NUL-terminated, inside the message; NULL when null */
			uint32_t len;	 /* without the NUL */
		} s;
		struct {
			const void *data;
			uint32_t len;
		} a;
	};
	/* For n: the new object's interface and version (wl_registry.bind names them in the
	 * message itself; elsewhere the table does and the version is the parent's). */
	const struct wl_interface *new_iface;
	uint32_t new_version;
};

struct wire_msg {
	uint32_t id;
	uint16_t opcode;
	uint16_t size;
	const struct wl_interface *iface;
	const struct wl_message *desc;
	unsigned nargs;
	unsigned nfds; /* how many 'h' arguments */
	struct wire_arg args[WIRE_MAX_ARGS];
};

/* Reads a message header. 0 with *ret_size set when buf holds at least a header; -EAGAIN when
 * it does not yet; -EBADMSG for a size below 8, above WIRE_MAX_SIZE or not a multiple of 4. */
int wire_peek(const uint8_t *buf, size_t len, uint32_t *ret_id, uint16_t *ret_opcode,
	      uint16_t *ret_size);

struct wire_objects;

/* One connection's objects: id -> interface and version. wl_display is object 1. 'requests'
 * parses client->server messages (wire_parse with is_request true), events the other way. */
struct wire_objects *wire_objects_new(void);
void wire_objects_free(struct wire_objects *objs);
const struct wl_interface *wire_objects_get(const struct wire_objects *objs, uint32_t id,
					    uint32_t *ret_version);
unsigned wire_objects_count(const struct wire_objects *objs);

/* Parses and checks one whole message of exactly msg_size bytes (from wire_peek): opcode in range
 * for the object's interface and version, every argument inside the message, strings
 * NUL-terminated with no NUL inside and valid UTF-8, non-nullable strings and objects present,
 * object arguments naming live objects of the expected interface, new ids in the sender's range
 * (client: 2..0xfeffffff, server: >= 0xff000000), not in use, at most one past the
 * side's highest id so far and within WIRE_MAX_ID_SPAN, wl_registry.bind's interface
 * name one of the known tables (ifaces, NULL-terminated) and its version within that table's,
 * no bytes left over. Does not register new objects: see wire_objects_apply.
 * Returns 0, or -EBADMSG (malformed), -ENOENT (unknown object), -EPROTO (bad opcode or
 * argument), -ENOTSUP (bind to an interface not in ifaces). */
int wire_parse(const struct wire_objects *objs, const struct wl_interface *const *ifaces,
	       const uint8_t *buf, uint16_t msg_size, bool is_request, struct wire_msg *ret_msg);

/* After a message was accepted and forwarded: registers its new objects, and forgets objects on
 * wl_display.delete_id (events) and on destructor requests of server-created objects. Returns
 * -E2BIG when the connection would exceed max_objects live objects (the caller ends it). */
int wire_objects_apply(struct wire_objects *objs, const struct wire_msg *msg, unsigned max_objects);
