/* Creating, copying, removing, starting and stopping qubes. */
#include <getopt.h>
#include <limits.h>

#include "cli.h"
#include "client.h"
#include "util.h"

/* Connections open at once: well under the daemon's client limit and our fd limit. */
#define CONCURRENT_MAX 64

/* Sends one call per qube, each on its own connection, all before reading any reply, so that
 * the daemon works on them at the same time (qubes boot in parallel). Every failure is told
 * with the qube's name when there are several. Returns the exit code: the worst one. */
static int call_each_concurrently(const char *call, char **names, size_t n,
				  struct json_object *payload)
{
	int worst = CLI_EXIT_OK;

	for (size_t base = 0; base < n; base += CONCURRENT_MAX) {
		size_t m = n - base < CONCURRENT_MAX ? n - base : CONCURRENT_MAX;
		int fds[CONCURRENT_MAX], sent[CONCURRENT_MAX];

		for (size_t i = 0; i < m; i++) {
			int r = client_connect(client_socket_path(), &fds[i]);
			if (r < 0) {
				for (size_t j = 0; j < i; j++)
					close(fds[j]);
				return cli_report(r, NULL, NULL);
			}
			sent[i] = api_request_send(fds[i], call, names[base + i], "", payload);
		}
		for (size_t i = 0; i < m; i++) {
			struct api_error err = {0};
			struct json_object *result = NULL;
			int r = client_recv_reply(fds[i], &result, &err);
			/* A request that could not be written may still have been answered. */
			if (r < 0 && sent[i] < 0 && r != -EREMOTEIO)
				r = sent[i];
			close(fds[i]);
			json_object_put(result);
			if (r < 0) {
				int code = cli_report(r, &err, n > 1 ? names[base + i] : NULL);
				if (code > worst)
					worst = code;
			}
			api_error_done(&err);
		}
	}
	return worst;
}

int cmd_create(const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"label", required_argument, NULL, 'l'},
	    {"class", required_argument, NULL, 'C'},
	    {"template", required_argument, NULL, 't'},
	    {"prop", required_argument, NULL, 'P'},
	    {"property", required_argument, NULL, 'P'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *label = NULL, *klass = "AppVM", *tmpl = NULL;
	struct json_object *props = json_object_new_object();
	int c, r;

	while ((c = getopt_long(argc, argv, "l:C:t:P:h", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			label = optarg;
			break;
		case 'C':
			klass = optarg;
			break;
		case 't':
			tmpl = optarg;
			break;
		case 'P': {
			const char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg) {
				json_object_put(props);
				return cli_usage_error(cmd, "--prop wants KEY=VALUE, not '%s'",
						       optarg);
			}
			_cleanup_free_ char *key = strndup(optarg, (size_t)(eq - optarg));
			if (!key)
				abort();
			json_object_object_add(props, key, json_object_new_string(eq + 1));
			break;
		}
		default:
			json_object_put(props);
			return cli_getopt_default(cmd, c);
		}
	}
	if (optind >= argc || argc - optind > 1 || !label) {
		json_object_put(props);
		if (optind >= argc)
			return cli_usage_error(cmd, "create needs the NAME of the new qube");
		if (argc - optind > 1)
			return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
		return cli_usage_error(cmd, "create needs --label (one of red, orange, yellow, "
					    "green, gray, blue, purple, black)");
	}

	/* The daemon is the authority on names, labels and classes; pass them as given. */
	struct json_object *p = json_object_new_object();
	json_object_object_add(p, "name", json_object_new_string(argv[optind]));
	json_object_object_add(p, "label", json_object_new_string(label));
	if (tmpl)
		json_object_object_add(p, "template", json_object_new_string(tmpl));
	json_object_object_add(p, "props", props);
	_cleanup_free_ char *call = xasprintf("admin.vm.Create.%s", klass);
	r = cli_call(call, "", "", p, NULL);
	json_object_put(p);
	return r;
}

static int parse_no_options(const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1)
		return cli_getopt_default(cmd, c);
	return -1;
}

int cmd_clone(const struct cli_command *cmd, int argc, char **argv)
{
	int r = parse_no_options(cmd, argc, argv);
	if (r >= 0)
		return r;
	if (argc - optind != 2)
		return cli_usage_error(cmd, "clone needs SRC and DST");
	struct json_object *p = json_object_new_object();
	json_object_object_add(p, "name", json_object_new_string(argv[optind + 1]));
	r = cli_call("admin.vm.Clone", argv[optind], "", p, NULL);
	json_object_put(p);
	return r;
}

/* remove, kill, pause, unpause: one call per qube, in the order given. */
int cmd_simple(const struct cli_command *cmd, int argc, char **argv)
{
	int r = parse_no_options(cmd, argc, argv);
	if (r >= 0)
		return r;
	if (optind >= argc)
		return cli_usage_error(cmd, "%s needs at least one qube NAME", cmd->name);
	int worst = CLI_EXIT_OK;
	for (int i = optind; i < argc; i++) {
		struct api_error err = {0};
		struct json_object *result = NULL;
		r = client_call(cmd->call, argv[i], "", NULL, &result, &err);
		json_object_put(result);
		if (r < 0) {
			int code = cli_report(r, &err, argc - optind > 1 ? argv[i] : NULL);
			api_error_done(&err);
			if (code == CLI_EXIT_NO_DAEMON || code == CLI_EXIT_DENIED)
				return code;
			if (code > worst)
				worst = code;
		}
	}
	return worst;
}

int cmd_start(const struct cli_command *cmd, int argc, char **argv)
{
	int r = parse_no_options(cmd, argc, argv);
	if (r >= 0)
		return r;
	if (optind >= argc)
		return cli_usage_error(cmd, "start needs at least one qube NAME");
	return call_each_concurrently("admin.vm.Start", argv + optind, (size_t)(argc - optind),
				      NULL);
}

/* From admin.vm.List: the qubes that are not halted (dom0 left out) when running_only, and the
 * netvm in effect of every qube, so that a netvm is shut down after its clients. */
struct qube_list {
	char **names;  /* NULL-terminated */
	char **netvms; /* netvms[i]: the netvm of names[i], or NULL */
	size_t n;
};

static void qube_list_done(struct qube_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->names[i]);
		free(l->netvms[i]);
	}
	free(l->names);
	free(l->netvms);
}

static int list_qubes(bool running_only, struct qube_list *ret)
{
	struct json_object *qubes = NULL;
	int r = cli_call("admin.vm.List", "", "", NULL, &qubes);
	if (r)
		return r;
	size_t n =
	    json_object_is_type(qubes, json_type_array) ? json_object_array_length(qubes) : 0;
	struct qube_list l = {xcalloc(n + 1, sizeof(char *)), xcalloc(n + 1, sizeof(char *)), 0};
	for (size_t i = 0; i < n; i++) {
		struct json_object *q = json_object_array_get_idx(qubes, i), *name, *state, *klass,
				   *netvm;
		if (!json_object_object_get_ex(q, "name", &name) ||
		    !json_object_object_get_ex(q, "state", &state) ||
		    !json_object_is_type(name, json_type_string) ||
		    !json_object_is_type(state, json_type_string))
			continue;
		if (running_only && (streq(json_object_get_string(state), "Halted") ||
				     streq(json_object_get_string(name), "dom0") ||
				     (json_object_object_get_ex(q, "class", &klass) &&
				      json_object_is_type(klass, json_type_string) &&
				      streq(json_object_get_string(klass), "AdminVM"))))
			continue;
		l.names[l.n] = xstrdup(json_object_get_string(name));
		if (json_object_object_get_ex(q, "netvm_effective", &netvm) &&
		    json_object_is_type(netvm, json_type_string))
			l.netvms[l.n] = xstrdup(json_object_get_string(netvm));
		l.n++;
	}
	json_object_put(qubes);
	*ret = l;
	return 0;
}

static const char *netvm_of(const struct qube_list *all, const char *name)
{
	for (size_t i = 0; i < all->n; i++)
		if (streq(all->names[i], name))
			return all->netvms[i];
	return NULL;
}

/* Shuts names down in waves, as Qubes does: a netvm only after those of its clients that are
 * being shut down with it (each call returns once its qube is halted), so that it is not refused
 * for clients about to go. A loop of netvms cannot happen (bulkheadd refuses one). */
static int shutdown_in_order(char **names, size_t n, const struct qube_list *all,
			     struct json_object *payload)
{
	bool *done = xcalloc(n ? n : 1, sizeof(bool));
	char **wave = xcalloc(n + 1, sizeof(char *));
	size_t left = n;
	int worst = CLI_EXIT_OK;

	while (left) {
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			bool serves = false;
			for (size_t j = 0; j < n && !serves && !done[i]; j++)
				serves = !done[j] && j != i &&
					 streq_ptr(netvm_of(all, names[j]), names[i]);
			if (!done[i] && !serves)
				wave[k++] = names[i];
		}
		for (size_t i = 0; k == 0 && i < n; i++) /* never: but do not spin */
			if (!done[i])
				wave[k++] = names[i];
		int r = call_each_concurrently("admin.vm.Shutdown", wave, k, payload);
		if (r > worst)
			worst = r;
		for (size_t w = 0; w < k; w++)
			for (size_t i = 0; i < n; i++)
				if (names[i] == wave[w] && !done[i]) {
					done[i] = true;
					left--;
				}
	}
	free(wave);
	free(done);
	return worst;
}

int cli_shutdown_names(char **names, size_t n)
{
	struct json_object *p = json_object_new_object();
	json_object_object_add(p, "force", json_object_new_boolean(false));
	int r = call_each_concurrently("admin.vm.Shutdown", names, n, p);
	json_object_put(p);
	return r;
}

int cmd_shutdown(const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"wait", no_argument, NULL, 'w'},  {"all", no_argument, NULL, 'a'},
	    {"force", no_argument, NULL, 'f'}, {"timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},  {0},
	};
	bool all = false, force = false;
	long timeout = -1;
	int c, r;

	while ((c = getopt_long(argc, argv, "waft:h", opts, NULL)) != -1) {
		switch (c) {
		case 'w':
			/* The call returns once the qube is halted: waiting is what it always does.
			 */
			break;
		case 'a':
			all = true;
			break;
		case 'f':
			force = true;
			break;
		case 't': {
			char *end;
			errno = 0;
			timeout = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || timeout < 1 || timeout > 3600)
				return cli_usage_error(
				    cmd, "--timeout wants seconds from 1 to 3600, not '%s'",
				    optarg);
			break;
		}
		default:
			return cli_getopt_default(cmd, c);
		}
	}
	if (all && optind < argc)
		return cli_usage_error(cmd, "give either --all or qube names, not both");
	if (!all && optind >= argc)
		return cli_usage_error(cmd, "shutdown needs qube names or --all");

	struct json_object *p = json_object_new_object();
	json_object_object_add(p, "force", json_object_new_boolean(force));
	if (timeout > 0)
		json_object_object_add(p, "timeout", json_object_new_int64(timeout));
	struct qube_list l = {0};
	r = list_qubes(all, &l);
	if (r == 0 && all)
		r = shutdown_in_order(l.names, l.n, &l, p);
	else if (r == 0)
		r = shutdown_in_order(argv + optind, (size_t)(argc - optind), &l, p);
	qube_list_done(&l);
	json_object_put(p);
	return r;
}
