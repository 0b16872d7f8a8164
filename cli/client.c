#include "client.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "api-client.h"
#include "api.h"
#include "cli.h"
#include "frame.h"
#include "util.h"

void api_error_done(struct api_error *e)
{
	free(e->error);
	free(e->message);
	e->error = e->message = NULL;
}

const char *client_socket_path(void)
{
	const char *p = getenv(BULKHEAD_ENV_SOCKET);
	return p && *p ? p : BULKHEAD_DEFAULT_SOCKET;
}

int client_connect(const char *path, int *ret_fd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);

	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		if (errno != EINTR)
			return -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static char *dup_string_member(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return xstrdup(json_object_get_string(v));
}

/* JSON object of a frame's payload, or NULL. */
static struct json_object *parse_object(const uint8_t *p, uint32_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = json_tokener_parse_ex(tok, (const char *)p, (int)len);
	bool complete = json_tokener_get_error(tok) == json_tokener_success;
	json_tokener_free(tok);
	if (o && (!complete || !json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

int client_recv_reply(int fd, struct json_object **ret_result, struct api_error *ret_err)
{
	return client_recv_reply_events(fd, NULL, NULL, ret_result, ret_err);
}

int client_recv_reply_events(int fd, client_event_fn on_event, void *userdata,
			     struct json_object **ret_result, struct api_error *ret_err)
{
	struct chan_frame f;
	_cleanup_free_ uint8_t *p = NULL;
	struct json_object *ok, *result = NULL;
	int r;

	for (;;) {
		r = chan_recv(fd, CHAN_MAX_PAYLOAD, &f, &p);
		if (r < 0)
			return r;
		if (f.type != CHAN_API_EVENT || !on_event)
			break;
		struct json_object *e = parse_object(p, f.len);
		if (!e)
			return -EBADMSG;
		on_event(e, userdata);
		json_object_put(e);
		free(p);
		p = NULL;
	}
	if (f.type != CHAN_API_REPLY)
		return -EBADMSG;

	struct json_object *o = parse_object(p, f.len);
	if (!o || !json_object_object_get_ex(o, "ok", &ok) ||
	    !json_object_is_type(ok, json_type_boolean)) {
		json_object_put(o);
		return -EBADMSG;
	}
	if (!json_object_get_boolean(ok)) {
		ret_err->error = dup_string_member(o, "error");
		ret_err->message = dup_string_member(o, "message");
		json_object_put(o);
		return -EREMOTEIO;
	}
	if (json_object_object_get_ex(o, "result", &result))
		json_object_get(result);
	json_object_put(o);
	*ret_result = result;
	return 0;
}

int client_request(int fd, const char *call, const char *dest, const char *arg,
		   struct json_object *payload, struct json_object **ret_result,
		   struct api_error *ret_err)
{
	int r = api_request_send(fd, call, dest, arg, payload);
	if (r < 0 && r != -EPIPE && r != -ECONNRESET)
		return r;
	/* The daemon answers callers it does not serve and hangs up before reading: its reply
	 * is then still waiting for us even though our request could not be written. */
	int q = client_recv_reply(fd, ret_result, ret_err);
	if (r < 0 && (q == -EPIPE || q == -ECONNRESET || q == -EBADMSG))
		return r;
	return q;
}

int client_call(const char *call, const char *dest, const char *arg, struct json_object *payload,
		struct json_object **ret_result, struct api_error *ret_err)
{
	_cleanup_close_ int fd = -1;
	int r = client_connect(client_socket_path(), &fd);
	if (r < 0)
		return r;
	return client_request(fd, call, dest, arg, payload, ret_result, ret_err);
}

static const char group_hint[] = "Only root and members of the 'bulkhead' group may use bulkheadd "
				 "(sudo usermod -aG bulkhead $USER, then log in again).\n";

int cli_report(int r, const struct api_error *err, const char *prefix)
{
	const char *path = client_socket_path();
	const char *sep = prefix ? ": " : "";

	if (!prefix)
		prefix = "";
	switch (r) {
	case 0:
		return CLI_EXIT_OK;
	case -ENOENT:
	case -ENOTDIR:
	case -ECONNREFUSED:
		fprintf(stderr,
			"bulkhead: cannot reach bulkheadd at %s: %s\n"
			"Start it with: systemctl start bulkheadd (or run bulkheadd as root)\n",
			path, strerror(-r));
		return CLI_EXIT_NO_DAEMON;
	case -EACCES:
	case -EPERM:
		fprintf(stderr, "bulkhead: permission denied on %s\n%s", path, group_hint);
		return CLI_EXIT_DENIED;
	case -EREMOTEIO:
		fprintf(stderr, "bulkhead: %s%s%s\n", prefix, sep,
			err && err->message ? err->message
					    : (err && err->error ? err->error : "request failed"));
		if (err && streq_ptr(err->error, API_E_PERMISSION)) {
			/* The hint only where bulkheadd refused the caller; a call the policy or
			 * the prompt refused (the microphone) is no matter of groups. */
			if (err->message && strstr(err->message, "may not use bulkheadd"))
				fputs(group_hint, stderr);
			return CLI_EXIT_DENIED;
		}
		return CLI_EXIT_FAIL;
	case -EPIPE:
	case -ECONNRESET:
		fprintf(stderr, "bulkhead: %s%sbulkheadd closed the connection\n", prefix, sep);
		return CLI_EXIT_FAIL;
	case -E2BIG:
		fprintf(
		    stderr,
		    "bulkhead: %s%sthe request is larger than the limit of %u bytes; nothing was "
		    "sent\n",
		    prefix, sep, CHAN_MAX_PAYLOAD);
		return CLI_EXIT_FAIL;
	case -EBADMSG:
	case -EMSGSIZE:
		fprintf(stderr, "bulkhead: %s%smalformed reply from bulkheadd at %s\n", prefix, sep,
			path);
		return CLI_EXIT_FAIL;
	default:
		fprintf(stderr, "bulkhead: %s%stalking to bulkheadd at %s: %s\n", prefix, sep, path,
			strerror(-r));
		return CLI_EXIT_FAIL;
	}
}

int cli_call(const char *call, const char *dest, const char *arg, struct json_object *payload,
	     struct json_object **ret_result)
{
	struct api_error err = {0};
	struct json_object *result = NULL;
	int r = client_call(call, dest, arg, payload, &result, &err);
	if (r < 0) {
		int code = cli_report(r, &err, NULL);
		api_error_done(&err);
		return code;
	}
	if (ret_result)
		*ret_result = result;
	else
		json_object_put(result);
	return 0;
}

int cli_connect(int *ret_fd)
{
	int r = client_connect(client_socket_path(), ret_fd);
	return r < 0 ? cli_report(r, NULL, NULL) : 0;
}
