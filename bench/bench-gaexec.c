/*
 * bench-gaexec [-t SECONDS] DOMAIN N PATH: the reference for `bulkhead run`, what a libvirt user
 * reaches for instead: qemu-guest-agent's guest-exec through libvirt's C API
 * (virDomainQemuAgentCommand, no virsh process in the measurement). Each of N runs sends
 * guest-exec of PATH (no arguments, output captured), then polls guest-exec-status with no pause
 * until the process has exited, and prints the wall time of the whole in microseconds, one per
 * line. A run fails unless PATH exited 0. The libvirt connection is opened before the first
 * clock starts, as bulkheadd keeps one open. At the end, the number of status polls goes to
 * stderr ("polls N"), so the reader can see how many agent round trips one run took.
 */
#include <json-c/json.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench-util.h"
#include "util.h"

static void ignore_libvirt_error(void *opaque, virErrorPtr err)
{
	/* Reported once, below, with what we were doing. */
}

static const char *libvirt_error(void)
{
	virErrorPtr e = virGetLastError();
	return e && e->message ? e->message : "unknown libvirt error";
}

/* Sends one agent command; on success *ret_return is the reply's "return" member (a reference
 * the caller puts). */
static int agent_command(virDomainPtr dom, struct json_object *cmd, int timeout_s,
			 struct json_object **ret_return)
{
	const char *text = json_object_to_json_string_ext(cmd, JSON_C_TO_STRING_PLAIN);
	_cleanup_free_ char *reply = virDomainQemuAgentCommand(dom, text, timeout_s, 0);
	if (!reply) {
		fprintf(stderr, "bench-gaexec: %s: %s\n", text, libvirt_error());
		return -EIO;
	}
	struct json_object *o = json_tokener_parse(reply), *v;
	if (!o || !json_object_object_get_ex(o, "return", &v)) {
		fprintf(stderr, "bench-gaexec: unexpected reply to %s: %s\n", text, reply);
		json_object_put(o);
		return -EBADMSG;
	}
	*ret_return = json_object_get(v);
	json_object_put(o);
	return 0;
}

static struct json_object *command(const char *name, struct json_object *arguments)
{
	struct json_object *c = json_object_new_object();
	json_object_object_add(c, "execute", json_object_new_string(name));
	json_object_object_add(c, "arguments", arguments);
	return c;
}

/* One guest-exec of path, polled to its end; adds the status calls made to *polls. */
static int run_once(virDomainPtr dom, const char *path, int timeout_s, long *polls)
{
	struct json_object *args = json_object_new_object(), *ret, *v;
	json_object_object_add(args, "path", json_object_new_string(path));
	json_object_object_add(args, "capture-output", json_object_new_boolean(true));
	struct json_object *exec = command("guest-exec", args);
	int r = agent_command(dom, exec, timeout_s, &ret);
	json_object_put(exec);
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(ret, "pid", &v) || !json_object_is_type(v, json_type_int)) {
		json_object_put(ret);
		return -EBADMSG;
	}
	int64_t pid = json_object_get_int64(v);
	json_object_put(ret);

	args = json_object_new_object();
	json_object_object_add(args, "pid", json_object_new_int64(pid));
	struct json_object *status = command("guest-exec-status", args);
	for (;;) {
		(*polls)++;
		r = agent_command(dom, status, timeout_s, &ret);
		if (r < 0)
			break;
		bool exited =
		    json_object_object_get_ex(ret, "exited", &v) && json_object_get_boolean(v);
		if (exited) {
			int code = json_object_object_get_ex(ret, "exitcode", &v)
				       ? json_object_get_int(v)
				       : -1;
			if (code != 0) {
				fprintf(stderr, "bench-gaexec: %s exited %d\n", path, code);
				r = -EIO;
			}
			json_object_put(ret);
			break;
		}
		json_object_put(ret);
	}
	json_object_put(status);
	return r;
}

int main(int argc, char **argv)
{
	long timeout_s = 30;
	int opt;

	while ((opt = getopt(argc, argv, "t:")) != -1) {
		if (opt == 't') {
			timeout_s = parse_count(optarg, 3600);
			if (timeout_s < 0) {
				fprintf(stderr, "bench-gaexec: bad timeout '%s'\n", optarg);
				return 2;
			}
		} else {
			return 2;
		}
	}
	if (argc - optind != 3) {
		fprintf(stderr, "usage: bench-gaexec [-t SECONDS] DOMAIN N PATH\n");
		return 2;
	}
	const char *name = argv[optind], *path = argv[optind + 2];
	long n = parse_count(argv[optind + 1], 1000000);
	if (n < 0) {
		fprintf(stderr, "bench-gaexec: bad count '%s'\n", argv[optind + 1]);
		return 2;
	}
	const char *uri =
	    getenv("LIBVIRT_DEFAULT_URI") ? getenv("LIBVIRT_DEFAULT_URI") : "qemu:///system";

	virSetErrorFunc(NULL, ignore_libvirt_error);
	virConnectPtr conn = virConnectOpen(uri);
	if (!conn) {
		fprintf(stderr, "bench-gaexec: cannot connect to %s: %s\n", uri, libvirt_error());
		return 1;
	}
	virDomainPtr dom = virDomainLookupByName(conn, name);
	if (!dom) {
		fprintf(stderr, "bench-gaexec: no domain %s: %s\n", name, libvirt_error());
		virConnectClose(conn);
		return 1;
	}

	long polls = 0;
	int r = 0;
	for (long i = 0; i < n && r == 0; i++) {
		uint64_t t0 = now_us();
		r = run_once(dom, path, (int)timeout_s, &polls);
		uint64_t t1 = now_us();
		if (r == 0)
			printf("%llu\n", (unsigned long long)(t1 - t0));
	}
	fprintf(stderr, "polls %ld\n", polls);
	virDomainFree(dom);
	virConnectClose(conn);
	return r < 0 ? 1 : 0;
}
