/* bulkhead net setup: the usual chain in one command, as Qubes' installer makes it: sys-net (the
 * uplink), sys-firewall (behind it, enforcing the clients' rules), default_netvm sys-firewall.
 * Idempotent: what is there already and right is left alone, what is missing is made. */
#include <getopt.h>

#include <json-c/json.h>

#include "cli.h"
#include "client.h"
#include "util.h"

#define NET_SETUP_TEMPLATE "debian" /* what `bulkhead template build debian` makes */

/* The qube's entry in admin.vm.List, or NULL. */
static struct json_object *find(struct json_object *list, const char *name)
{
	size_t n = json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
	for (size_t i = 0; i < n; i++) {
		struct json_object *q = json_object_array_get_idx(list, i), *v;
		if (json_object_object_get_ex(q, "name", &v) &&
		    streq_ptr(json_object_get_string(v), name))
			return q;
	}
	return NULL;
}

static const char *field(struct json_object *q, const char *key)
{
	struct json_object *v;
	return q && json_object_object_get_ex(q, key, &v) && v ? json_object_get_string(v) : NULL;
}

static int set_prop(const char *qube, const char *key, const char *value)
{
	struct json_object *p = json_object_new_object();
	json_object_object_add(p, "value", json_object_new_string(value));
	int r = cli_call("admin.vm.property.Set", qube, key, p, NULL);
	json_object_put(p);
	return r;
}

/* Makes name (provides_network, netvm as given) or brings an existing one in line. */
static int ensure(struct json_object *list, const char *name, const char *label,
		  const char *template, const char *netvm)
{
	struct json_object *q = find(list, name);
	int r;

	if (!q) {
		struct json_object *p = json_object_new_object(), *props = json_object_new_object();
		json_object_object_add(p, "name", json_object_new_string(name));
		json_object_object_add(p, "label", json_object_new_string(label));
		json_object_object_add(p, "template", json_object_new_string(template));
		json_object_object_add(props, "provides_network", json_object_new_string("True"));
		json_object_object_add(props, "netvm", json_object_new_string(netvm));
		json_object_object_add(p, "props", props);
		r = cli_call("admin.vm.Create.AppVM", "", "", p, NULL);
		json_object_put(p);
		if (r == 0)
			printf("%s: created (template %s, netvm %s)\n", name, template, netvm);
		return r;
	}
	struct json_object *v;
	bool provides =
	    json_object_object_get_ex(q, "provides_network", &v) && json_object_get_boolean(v);
	if (!provides && (r = set_prop(name, "provides_network", "True")))
		return r;
	/* none is always set explicitly: sys-net must not follow default_netvm one day. */
	if ((streq(netvm, "none") || !streq_ptr(field(q, "netvm_effective"), netvm)) &&
	    (r = set_prop(name, "netvm", netvm)))
		return r;
	printf("%s: there (provides network, netvm %s)\n", name, netvm);
	return 0;
}

int cmd_net(const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"template", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *template = NET_SETUP_TEMPLATE;
	int c, r;

	while ((c = getopt_long(argc, argv, "t:h", opts, NULL)) != -1) {
		if (c == 't')
			template = optarg;
		else
			return cli_getopt_default(cmd, c);
	}
	if (argc - optind != 1 || !streq(argv[optind], "setup"))
		return cli_usage_error(cmd, "the one net command is: net setup [--template NAME]");

	struct json_object *list = NULL;
	if ((r = cli_call("admin.vm.List", "", "", NULL, &list)))
		return r;
	struct json_object *t = find(list, template);
	if (!t || !streq_ptr(field(t, "class"), "TemplateVM")) {
		fprintf(stderr,
			"bulkhead: no template '%s' for the net qubes: build it (bulkhead template "
			"build debian) or name another with --template (it needs iproute2 and "
			"nftables)\n",
			template);
		json_object_put(list);
		return CLI_EXIT_FAIL;
	}
	r = ensure(list, "sys-net", "red", template, "none");
	/* sys-net, and only it, holds the uplink into the host's network. */
	if (r == 0)
		r = set_prop("sys-net", "uplink", "True");
	if (r == 0)
		r = ensure(list, "sys-firewall", "green", template, "sys-net");
	json_object_put(list);
	if (r)
		return r;
	struct json_object *p = json_object_new_object();
	json_object_object_add(p, "value", json_object_new_string("sys-firewall"));
	r = cli_call("admin.property.Set", "", "default_netvm", p, NULL);
	json_object_put(p);
	if (r == 0)
		printf("default_netvm: sys-firewall\n");
	return r;
}
