/* Inbound port forwards: the model, its JSON and words, passt's spec. */
#include "port-forward.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define fail(ret_error, ...) error_msg(ret_error, -EINVAL, __VA_ARGS__)

static int proto_parse(const char *s, enum fw_proto *ret)
{
	if (streq(s, "tcp"))
		*ret = FW_PROTO_TCP;
	else if (streq(s, "udp"))
		*ret = FW_PROTO_UDP;
	else
		return -EINVAL;
	return 0;
}

static int port_check(int64_t n, bool uplink, const char *what, char **ret_error)
{
	if (n < 1 || n > 65535)
		return fail(ret_error, "%s: %lld is not a port (1-65535)", what, (long long)n);
	if (uplink && n < PORT_FORWARD_MIN)
		return fail(ret_error,
			    "%s: %lld is below %d: the uplink cannot listen there without "
			    "privileges (forward e.g. 8080 to port %lld in the qube)",
			    what, (long long)n, PORT_FORWARD_MIN, (long long)n);
	return 0;
}

int port_forward_from_json(struct json_object *o, struct port_forward *ret, char **ret_error)
{
	struct port_forward f = {0};
	struct json_object *v;
	int r;

	if (!json_object_is_type(o, json_type_object))
		return fail(ret_error, "expected {\"proto\", \"port\", \"to_port\"}");
	json_object_object_foreach(o, key, val)
	{
		(void)val;
		if (!streq(key, "proto") && !streq(key, "port") && !streq(key, "to_port"))
			return fail(ret_error, "unknown member \"%.32s\"", key);
	}
	if (!json_object_object_get_ex(o, "proto", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    proto_parse(json_object_get_string(v), &f.proto) < 0)
		return fail(ret_error, "proto: expected \"tcp\" or \"udp\"");
	if (!json_object_object_get_ex(o, "port", &v) || !json_object_is_type(v, json_type_int))
		return fail(ret_error, "port: expected a number");
	if ((r = port_check(json_object_get_int64(v), true, "port", ret_error)) < 0)
		return r;
	f.port = (uint16_t)json_object_get_int64(v);
	f.to_port = f.port;
	if (json_object_object_get_ex(o, "to_port", &v)) {
		if (!json_object_is_type(v, json_type_int))
			return fail(ret_error, "to_port: expected a number");
		if ((r = port_check(json_object_get_int64(v), false, "to_port", ret_error)) < 0)
			return r;
		f.to_port = (uint16_t)json_object_get_int64(v);
	}
	*ret = f;
	return 0;
}

struct json_object *port_forward_to_json(const struct port_forward *f)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "proto", json_object_new_string(fw_proto_str(f->proto)));
	json_object_object_add(o, "port", json_object_new_int(f->port));
	json_object_object_add(o, "to_port", json_object_new_int(f->to_port));
	return o;
}

int port_forwards_find(const struct port_forwards *l, enum fw_proto proto, uint16_t port)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].proto == proto && l->v[i].port == port)
			return (int)i;
	return -ENOENT;
}

int port_forwards_add(struct port_forwards *l, const struct port_forward *f)
{
	if (port_forwards_find(l, f->proto, f->port) >= 0)
		return -EEXIST;
	if (l->n >= PORT_FORWARDS_MAX)
		return -E2BIG;
	l->v[l->n++] = *f;
	return 0;
}

int port_forwards_from_json(struct json_object *a, struct port_forwards *ret, char **ret_error)
{
	struct port_forwards l = {.n = 0};
	size_t n;

	if (!json_object_is_type(a, json_type_array))
		return fail(ret_error, "forwards: expected an array");
	n = json_object_array_length(a);
	if (n > PORT_FORWARDS_MAX)
		return fail(ret_error, "forwards: at most %d", PORT_FORWARDS_MAX);
	for (size_t i = 0; i < n; i++) {
		struct port_forward f;
		char *e = NULL;
		if (port_forward_from_json(json_object_array_get_idx(a, i), &f, &e) < 0) {
			fail(ret_error, "forward %zu: %s", i, e);
			free(e);
			return -EINVAL;
		}
		if (port_forwards_add(&l, &f) < 0)
			return fail(ret_error, "forward %zu: %s port %u is listed twice", i,
				    fw_proto_str(f.proto), f.port);
	}
	*ret = l;
	return 0;
}

struct json_object *port_forwards_to_json(const struct port_forwards *l)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < l->n; i++)
		json_object_array_add(a, port_forward_to_json(&l->v[i]));
	return a;
}

static int word_port(const char *s, bool uplink, const char *what, uint16_t *ret, char **ret_error)
{
	char *end;
	long n;
	int r;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno || end == s || *end || n < 0)
		return fail(ret_error, "%s: '%.32s' is not a port number", what, s);
	if ((r = port_check(n, uplink, what, ret_error)) < 0)
		return r;
	*ret = (uint16_t)n;
	return 0;
}

int port_forward_parse_words(char *const *words, size_t n, struct port_forward *ret,
			     char **ret_error)
{
	struct port_forward f = {0};
	int r;

	if (n < 2 || n > 3)
		return fail(ret_error, "expected PROTO PORT [TO_PORT] (e.g. tcp 8080 80)");
	if (proto_parse(words[0], &f.proto) < 0)
		return fail(ret_error, "proto: '%.32s' is not tcp or udp", words[0]);
	if ((r = word_port(words[1], true, "port", &f.port, ret_error)) < 0)
		return r;
	f.to_port = f.port;
	if (n == 3 && (r = word_port(words[2], false, "to_port", &f.to_port, ret_error)) < 0)
		return r;
	*ret = f;
	return 0;
}

char *port_forwards_passt_spec(const struct port_forwards *l, enum fw_proto proto)
{
	char *text = NULL;
	size_t size = 0;
	bool any = false;
	FILE *f = open_memstream(&text, &size);

	if (!f)
		return NULL;
	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i].proto != proto)
			continue;
		fprintf(f, "%s%u:%u", any ? "," : "", l->v[i].port, l->v[i].port);
		any = true;
	}
	if (fclose(f) != 0 || !any) {
		free(text);
		return NULL;
	}
	return text;
}
