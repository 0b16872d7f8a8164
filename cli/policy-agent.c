/*
 * `bulkhead policy agent`: the trusted prompt for `ask`, in a terminal on the host. It registers
 * with bulkheadd, and for each question shows who calls what, offers the targets the policy
 * allows with its default preselected, and sends back the choice (or a refusal).
 */
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "frame.h"
#include "policy-agent.h"
#include "util.h"

/* Names come from the daemon, which took them from the policy and the store; still, only
 * printable text reaches the terminal. */
static void print_clean(const char *s)
{
	for (; *s; s++)
		putchar((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f ? *s : '?');
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* Reads the answer: a number from the list, a target's name, empty for the default, or "n". */
static const char *ask_user(struct json_object *targets, const char *def, FILE *in)
{
	char line[256];
	size_t n = json_object_array_length(targets);

	for (;;) {
		printf("Allow to which target? [number or name, Enter for %s, n to deny]: ",
		       def ? def : "deny");
		fflush(stdout);
		if (!fgets(line, sizeof(line), in))
			return NULL;
		line[strcspn(line, "\r\n")] = '\0';
		if (!*line)
			return def;
		if (streq(line, "n") || streq(line, "no") || streq(line, "deny"))
			return NULL;
		char *end;
		unsigned long k = strtoul(line, &end, 10);
		if (!*end && k >= 1 && k <= n)
			return json_object_get_string(json_object_array_get_idx(targets, k - 1));
		for (size_t i = 0; i < n; i++) {
			const char *t =
			    json_object_get_string(json_object_array_get_idx(targets, i));
			if (streq(t, line))
				return t;
		}
		printf("'%s' is not one of the targets offered.\n", line);
	}
}

static int answer(int fd, struct json_object *ev, FILE *in)
{
	struct json_object *targets = NULL, *id = NULL;
	const char *def = jstr(ev, "default_target");

	if (!json_object_object_get_ex(ev, "targets", &targets) ||
	    !json_object_is_type(targets, json_type_array) ||
	    !json_object_object_get_ex(ev, "id", &id))
		return 0;
	printf("\nbulkhead: qube ");
	print_clean(jstr(ev, "source") ? jstr(ev, "source") : "?");
	printf(" asks to call ");
	print_clean(jstr(ev, "service") ? jstr(ev, "service") : "?");
	if (jstr(ev, "argument") && *jstr(ev, "argument")) {
		printf("+");
		print_clean(jstr(ev, "argument"));
	}
	printf(" in ");
	print_clean(jstr(ev, "target") ? jstr(ev, "target") : "?");
	printf("\n");
	for (size_t i = 0; i < json_object_array_length(targets); i++) {
		const char *t = json_object_get_string(json_object_array_get_idx(targets, i));
		printf("  %zu) ", i + 1);
		print_clean(t);
		printf("%s\n", def && streq(def, t) ? "  (default)" : "");
	}
	const char *choice = ask_user(targets, def, in);
	printf("%s%s\n", choice ? "allowed: " : "denied", choice ? choice : "");
	fflush(stdout);

	char idbuf[32];
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)json_object_get_int64(id));
	struct json_object *payload = json_object_new_object();
	json_object_object_add(payload, "target", choice ? json_object_new_string(choice) : NULL);
	int r = api_request_send(fd, "admin.policy.Answer", "", idbuf, payload);
	json_object_put(payload);
	return r;
}

int policy_agent_run(void)
{
	struct api_error err = {0};
	struct json_object *result = NULL;
	int fd, r;

	r = cli_connect(&fd);
	if (r)
		return r;
	r = client_request(fd, "admin.policy.Prompt", "", "", NULL, &result, &err);
	json_object_put(result);
	if (r < 0) {
		int code = cli_report(r, &err, "registering the prompt");
		api_error_done(&err);
		close(fd);
		return code;
	}
	printf("bulkhead: answering 'ask' for bulkheadd; Ctrl-C to stop\n");
	fflush(stdout);

	for (;;) {
		struct chan_frame f;
		_cleanup_free_ uint8_t *p = NULL;
		r = chan_recv(fd, CHAN_MAX_PAYLOAD, &f, &p);
		if (r < 0) {
			fprintf(stderr, "bulkhead: bulkheadd closed the prompt's connection\n");
			close(fd);
			return CLI_EXIT_FAIL;
		}
		struct json_object *o = json_tokener_parse((const char *)p);
		if (!o)
			continue;
		if (f.type == CHAN_API_EVENT && jstr(o, "event") &&
		    streq(jstr(o, "event"), "ask")) {
			if (answer(fd, o, stdin) < 0) {
				json_object_put(o);
				close(fd);
				return CLI_EXIT_FAIL;
			}
		} else if (f.type == CHAN_API_REPLY) {
			struct json_object *ok;
			if (json_object_object_get_ex(o, "ok", &ok) && !json_object_get_boolean(ok))
				fprintf(stderr, "bulkhead: %s\n",
					jstr(o, "message") ? jstr(o, "message") : "answer refused");
		}
		json_object_put(o);
	}
}
