/* Wayland wire messages checked against wayland-scanner's tables; the object map of one
 * connection. Everything here reads bytes that may come from a hostile qube: every offset is
 * checked against the message size before it is read. */
#include "wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "unaligned.h"

struct wire_entry {
	const struct wl_interface *iface; /* NULL: free */
	uint32_t version;
};

/* One side's ids (client: from 0, server: from WIRE_SERVER_ID_MIN), indexed by id - base. */
struct wire_side {
	struct wire_entry *v;
	uint32_t len; /* slots in use or freed; new ids must be <= base + len, as libwayland */
	uint32_t cap;
};

struct wire_objects {
	struct wire_side client, server;
	unsigned count;
};

int wire_peek(const uint8_t *buf, size_t len, uint32_t *ret_id, uint16_t *ret_opcode,
	      uint16_t *ret_size)
{
	if (len < WIRE_HEADER_SIZE)
		return -EAGAIN;
	uint32_t id = unaligned_read_ne32(buf);
	uint32_t word = unaligned_read_ne32(buf + 4);
	uint32_t size = word >> 16;
	if (size < WIRE_HEADER_SIZE || size > WIRE_MAX_SIZE || size % 4 != 0)
		return -EBADMSG;
	if (ret_id)
		*ret_id = id;
	if (ret_opcode)
		*ret_opcode = word & 0xffff;
	if (ret_size)
		*ret_size = (uint16_t)size;
	return 0;
}

struct wire_objects *wire_objects_new(void)
{
	extern const struct wl_interface wl_display_interface;
	struct wire_objects *objs = calloc(1, sizeof(*objs));
	if (!objs)
		return NULL;
	objs->client.cap = 64;
	objs->client.v = calloc(objs->client.cap, sizeof(*objs->client.v));
	if (!objs->client.v) {
		free(objs);
		return NULL;
	}
	/* id 0 is never an object; 1 is wl_display */
	objs->client.len = 2;
	objs->client.v[1] = (struct wire_entry){&wl_display_interface, 1};
	objs->count = 1;
	return objs;
}

void wire_objects_free(struct wire_objects *objs)
{
	if (!objs)
		return;
	free(objs->client.v);
	free(objs->server.v);
	free(objs);
}

static const struct wire_side *side_of(const struct wire_objects *objs, uint32_t id,
				       uint32_t *ret_index)
{
	if (id >= WIRE_SERVER_ID_MIN) {
		*ret_index = id - WIRE_SERVER_ID_MIN;
		return &objs->server;
	}
	*ret_index = id;
	return &objs->client;
}

static const struct wire_entry *lookup(const struct wire_objects *objs, uint32_t id)
{
	uint32_t i;
	const struct wire_side *s = side_of(objs, id, &i);
	if (i >= s->len || !s->v[i].iface)
		return NULL;
	return &s->v[i];
}

const struct wl_interface *wire_objects_get(const struct wire_objects *objs, uint32_t id,
					    uint32_t *ret_version)
{
	const struct wire_entry *e = lookup(objs, id);
	if (!e)
		return NULL;
	if (ret_version)
		*ret_version = e->version;
	return e->iface;
}

unsigned wire_objects_count(const struct wire_objects *objs)
{
	return objs->count;
}

/* A new id may fill a freed slot or extend the map by exactly one, and only within
 * WIRE_MAX_ID_SPAN: libwayland allocates ids this way, and it bounds the map's memory. */
static bool new_id_ok(const struct wire_objects *objs, uint32_t id, bool is_request)
{
	if (is_request ? (id < 2 || id >= WIRE_SERVER_ID_MIN) : id < WIRE_SERVER_ID_MIN)
		return false;
	uint32_t i;
	const struct wire_side *s = side_of(objs, id, &i);
	if (i >= WIRE_MAX_ID_SPAN || i > s->len)
		return false;
	return i == s->len || !s->v[i].iface;
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		uint8_t c = s[i];
		size_t n;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else
			return false;
		if (len - i - 1 < n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

/* The version a message first appeared in: the signature's leading digits. */
static uint32_t message_since(const struct wl_message *m)
{
	uint32_t since = 0;
	for (const char *p = m->signature; *p >= '0' && *p <= '9'; p++)
		since = since * 10 + (uint32_t)(*p - '0');
	return since ? since : 1;
}

static bool iface_eq(const struct wl_interface *a, const struct wl_interface *b)
{
	return a == b || (a && b && strcmp(a->name, b->name) == 0);
}

static const struct wl_interface *find_iface(const struct wl_interface *const *ifaces,
					     const char *name)
{
	for (size_t i = 0; ifaces && ifaces[i]; i++)
		if (strcmp(ifaces[i]->name, name) == 0)
			return ifaces[i];
	return NULL;
}

int wire_parse(const struct wire_objects *objs, const struct wl_interface *const *ifaces,
	       const uint8_t *buf, uint16_t msg_size, bool is_request, struct wire_msg *ret_msg)
{
	struct wire_msg m = {0};
	uint32_t id, version;
	uint16_t opcode, size;
	int r;

	r = wire_peek(buf, msg_size, &id, &opcode, &size);
	if (r == -EAGAIN)
		return -EBADMSG;
	if (r < 0)
		return r;
	if (size != msg_size)
		return -EBADMSG;

	const struct wl_interface *iface = wire_objects_get(objs, id, &version);
	if (!iface)
		return -ENOENT;
	int count = is_request ? iface->method_count : iface->event_count;
	const struct wl_message *msgs = is_request ? iface->methods : iface->events;
	if (opcode >= count)
		return -EPROTO;
	const struct wl_message *desc = &msgs[opcode];
	if (message_since(desc) > version)
		return -EPROTO;

	m.id = id;
	m.opcode = opcode;
	m.size = size;
	m.iface = iface;
	m.desc = desc;

	uint32_t off = WIRE_HEADER_SIZE;
	unsigned ti = 0; /* index into desc->types: one per argument of the signature */
	bool nullable = false;
	for (const char *p = desc->signature; *p; p++) {
		if (*p >= '0' && *p <= '9')
			continue;
		if (*p == '?') {
			nullable = true;
			continue;
		}
		if (m.nargs >= WIRE_MAX_ARGS)
			return -EPROTO;
		struct wire_arg *a = &m.args[m.nargs];
		const struct wl_interface *type = desc->types ? desc->types[ti] : NULL;
		ti++;
		a->type = *p;
		a->offset = off;
		if (*p == 'h') {
			m.nfds++;
			m.nargs++;
			nullable = false;
			continue;
		}
		if (size - off < 4)
			return -EBADMSG;
		uint32_t v = unaligned_read_ne32(buf + off);
		off += 4;
		switch (*p) {
		case 'i':
			a->i = (int32_t)v;
			break;
		case 'u':
		case 'f':
			a->u = v;
			break;
		case 's':
		case 'a': {
			uint32_t padded = (v + 3) & ~3u;
			if (v > size - off || padded > size - off)
				return -EBADMSG;
			if (*p == 'a') {
				a->a.data = buf + off;
				a->a.len = v;
			} else if (v == 0) {
				if (!nullable)
					return -EPROTO;
				a->s.str = NULL;
				a->s.len = 0;
			} else {
				const uint8_t *s = buf + off;
				if (s[v - 1] != '\0' || memchr(s, '\0', v - 1))
					return -EBADMSG;
				if (!utf8_valid(s, v - 1))
					return -EBADMSG;
				a->s.str = (const char *)s;
				a->s.len = v - 1;
			}
			off += padded;
			break;
		}
		case 'o':
			a->u = v;
			if (v == 0) {
				if (!nullable)
					return -EPROTO;
				break;
			}
			{
				const struct wl_interface *oi = wire_objects_get(objs, v, NULL);
				if (!oi)
					return -ENOENT;
				if (type && !iface_eq(oi, type))
					return -EPROTO;
			}
			break;
		case 'n':
			a->u = v;
			if (!new_id_ok(objs, v, is_request))
				return -EPROTO;
			for (unsigned k = 0; k < m.nargs; k++)
				if (m.args[k].type == 'n' && m.args[k].u == v)
					return -EPROTO;
			if (type) {
				a->new_iface = type;
				a->new_version = version;
			} else {
				/* untyped (wl_registry.bind): interface name and version precede it
				 */
				if (m.nargs < 2 || m.args[m.nargs - 2].type != 's' ||
				    m.args[m.nargs - 1].type != 'u' || !m.args[m.nargs - 2].s.str)
					return -EPROTO;
				const struct wl_interface *ni =
				    find_iface(ifaces, m.args[m.nargs - 2].s.str);
				if (!ni)
					return -ENOTSUP;
				uint32_t nv = m.args[m.nargs - 1].u;
				if (nv < 1 || nv > (uint32_t)ni->version)
					return -EPROTO;
				a->new_iface = ni;
				a->new_version = nv;
			}
			break;
		default:
			return -EPROTO;
		}
		m.nargs++;
		nullable = false;
	}
	if (off != size)
		return -EBADMSG;
	*ret_msg = m;
	return 0;
}

static int side_insert(struct wire_side *s, uint32_t i, const struct wl_interface *iface,
		       uint32_t version)
{
	if (i >= s->cap) {
		uint32_t cap = s->cap ? s->cap : 64;
		while (cap <= i)
			cap *= 2;
		struct wire_entry *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memset(v + s->cap, 0, (cap - s->cap) * sizeof(*v));
		s->v = v;
		s->cap = cap;
	}
	s->v[i] = (struct wire_entry){iface, version};
	if (i >= s->len)
		s->len = i + 1;
	return 0;
}

static void objects_remove(struct wire_objects *objs, uint32_t id)
{
	uint32_t i;
	struct wire_side *s = (struct wire_side *)side_of(objs, id, &i);
	if (id == 1 || i >= s->len || !s->v[i].iface)
		return;
	s->v[i].iface = NULL;
	objs->count--;
}

int wire_objects_apply(struct wire_objects *objs, const struct wire_msg *msg, unsigned max_objects)
{
	extern const struct wl_interface wl_display_interface;
	/* Interfaces without requests (wl_callback) have no methods array at all. */
	bool is_request = msg->iface->method_count > 0 && msg->desc >= msg->iface->methods &&
			  msg->desc < msg->iface->methods + msg->iface->method_count;

	for (unsigned k = 0; k < msg->nargs; k++) {
		const struct wire_arg *a = &msg->args[k];
		if (a->type != 'n' || !a->new_iface)
			continue;
		if (objs->count >= max_objects)
			return -E2BIG;
		uint32_t i;
		struct wire_side *s = (struct wire_side *)side_of(objs, a->u, &i);
		bool was_free = i >= s->len || !s->v[i].iface;
		int r = side_insert(s, i, a->new_iface, a->new_version);
		if (r < 0)
			return r;
		if (was_free)
			objs->count++;
	}
	if (!is_request && iface_eq(msg->iface, &wl_display_interface) &&
	    strcmp(msg->desc->name, "delete_id") == 0 && msg->nargs == 1 &&
	    msg->args[0].u < WIRE_SERVER_ID_MIN)
		objects_remove(objs, msg->args[0].u);
	/* Server-created objects (wl_data_offer) are gone once the client destroys them; the
	 * tables do not mark destructors, but every one of these protocols names them so. */
	if (is_request && msg->id >= WIRE_SERVER_ID_MIN &&
	    (strcmp(msg->desc->name, "destroy") == 0 || strcmp(msg->desc->name, "release") == 0))
		objects_remove(objs, msg->id);
	return 0;
}
