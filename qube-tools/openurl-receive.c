/*
 * bulkhead-openurl-receive: the bulkhead.OpenURL service. Reads one URL line on stdin, checks
 * it (http, https, ftp, mailto; printable, no whitespace, at most 4096 bytes) and opens it with
 * xdg-open. What goes wrong is said on stdout, which is the caller's.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "handler.h"
#include "util.h"
#include "validate.h"

int main(void)
{
	char buf[URL_MAX + 2];
	size_t len = 0;
	const char *why;

	signal(SIGPIPE, SIG_IGN);
	/* One line: read until the newline, EOF, or one byte past the cap. */
	while (len < sizeof(buf)) {
		ssize_t n = read(0, buf + len, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || buf[len] == '\n')
			break;
		len++;
	}
	if (len >= sizeof(buf)) {
		printf("bulkhead.OpenURL: URL longer than %u bytes, refused\n", URL_MAX);
		return 1;
	}
	if (url_check(buf, len, &why) < 0) {
		printf("bulkhead.OpenURL: URL refused: %s\n", why);
		return 1;
	}
	buf[len] = '\0';
	fflush(stdout);
	int r = handler_run(buf);
	if (r == -ENOENT) {
		printf("bulkhead.OpenURL: no handler for URLs in this qube (xdg-open not found)\n");
		return 1;
	}
	if (r < 0) {
		printf("bulkhead.OpenURL: cannot run xdg-open: %s\n", strerror(-r));
		return 1;
	}
	if (r != 0)
		printf("bulkhead.OpenURL: xdg-open failed (exit %d)\n", r);
	return r;
}
