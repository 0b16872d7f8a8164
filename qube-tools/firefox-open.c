/*
 * bulkhead-firefox-open: the native messaging host of Firefox's "Open link in a disposable qube"
 * (the extension in images/guest/firefox). Firefox starts it for each message and writes one
 * message to its stdin: a 32-bit length in the machine's byte order, then that many bytes of
 * JSON, {"url": URL}. The URL is checked as bulkhead-open-in-dvm checks it, and
 * bulkhead-open-in-dvm URL starts detached, in its own session: the call lasts as long as the
 * disposable's browser, and Firefox ends a host soon after its reply. The reply, in the same
 * framing, is {"ok": true} or {"error": WHY}; the exit status is 0 or 1 to match.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "json-text.h"
#include "util.h"
#include "validate.h"

#define PROG   "bulkhead-firefox-open"
#define OPENER "bulkhead-open-in-dvm"
/* A URL of URL_MAX bytes with every byte JSON-escaped (six bytes each), and room for the object. */
#define MESSAGE_MAX (URL_MAX * 6 + 256)

static int reply(json_object *obj)
{
	const char *text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);
	uint32_t len = (uint32_t)strlen(text);
	int r = write_all(1, &len, sizeof(len));
	if (r == 0)
		r = write_all(1, text, len);
	json_object_put(obj);
	return r;
}

static int fail(const char *why)
{
	fprintf(stderr, PROG ": %s\n", why);
	json_object *obj = json_object_new_object();
	json_object_object_add(obj, "error", json_object_new_string(why));
	(void)reply(obj);
	return 1;
}

/* Reads one message; returns it NUL-terminated (malloc'ed) or NULL with *why set. */
static char *read_message(size_t *ret_len, const char **why)
{
	uint32_t len;
	int r = read_exact(0, &len, sizeof(len));
	if (r < 0) {
		*why = "no message from Firefox";
		return NULL;
	}
	if (len == 0 || len > MESSAGE_MAX) {
		*why = "the message is empty or too long";
		return NULL;
	}
	char *buf = xmalloc((size_t)len + 1);
	if (read_exact(0, buf, len) < 0) {
		free(buf);
		*why = "the message ended early";
		return NULL;
	}
	buf[len] = '\0';
	*ret_len = len;
	return buf;
}

/* The message as JSON: one value and nothing after it, nested at most two deep; NULL if not. */
static json_object *parse_message(const char *text, size_t len)
{
	if (json_text_has_escaped_nul((const uint8_t *)text, len))
		return NULL;
	struct json_tokener *tok = json_tokener_new_ex(2);
	if (!tok)
		return NULL;
	json_object *o = json_tokener_parse_ex(tok, text, (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* The URL of {"url": URL} and nothing else, checked; NULL with *why set. */
static const char *message_url(json_object *msg, const char **why)
{
	json_object *url;
	if (!json_object_is_type(msg, json_type_object)) {
		*why = "the message is not a JSON object";
		return NULL;
	}
	if (json_object_object_length(msg) != 1 || !json_object_object_get_ex(msg, "url", &url) ||
	    !json_object_is_type(url, json_type_string)) {
		*why = "the message is not {\"url\": URL}";
		return NULL;
	}
	const char *s = json_object_get_string(url);
	if (url_check(s, (size_t)json_object_get_string_len(url), why) < 0)
		return NULL;
	return s;
}

/* Runs OPENER URL in a new session, reparented away from us, with all three standard streams
 * on /dev/null: Firefox's pipes would otherwise stay open as long as the disposable's browser.
 * Returns 0 once it has been started. */
static int start_detached(const char *url)
{
	int status_pipe[2];
	if (pipe2(status_pipe, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int r = -errno;
		close(status_pipe[0]);
		close(status_pipe[1]);
		return r;
	}
	if (pid == 0) {
		close(status_pipe[0]);
		setsid();
		pid_t grandchild = fork();
		if (grandchild != 0)
			_exit(grandchild < 0 ? 1 : 0);
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		execlp(OPENER, OPENER, url, (char *)NULL);
		/* The exec failed: its errno reaches the parent; success closes the pipe. */
		int e = errno;
		(void)write_all(status_pipe[1], &e, sizeof(e));
		_exit(127);
	}
	close(status_pipe[1]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	int e = 0;
	ssize_t n;
	while ((n = read(status_pipe[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(status_pipe[0]);
	if (n == (ssize_t)sizeof(e))
		return -e;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -ECHILD;
	return 0;
}

int main(void)
{
	const char *why = NULL;

	signal(SIGPIPE, SIG_IGN);
	size_t len = 0;
	_cleanup_free_ char *text = read_message(&len, &why);
	if (!text)
		return fail(why);
	json_object *msg = parse_message(text, len);
	if (!msg)
		return fail("the message is not JSON");
	const char *url = message_url(msg, &why);
	if (!url) {
		json_object_put(msg);
		return fail(why);
	}
	int r = start_detached(url);
	json_object_put(msg);
	if (r < 0) {
		_cleanup_free_ char *m = xasprintf("cannot start " OPENER ": %s", strerror(-r));
		return fail(m);
	}
	json_object *ok = json_object_new_object();
	json_object_object_add(ok, "ok", json_object_new_boolean(1));
	return reply(ok) < 0 ? 1 : 0;
}
