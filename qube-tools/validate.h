/* Checks of names and URLs that cross between qubes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "qube-name.h" /* qube names: the rule is common/qube-name.h's */

#define URL_MAX 4096u

/* A call target as bulkhead-call takes it: a qube name, "dom0" (the host) or a @token
 * ([A-Za-z0-9_.:@-]). */
bool call_target_valid(const char *s);
/* A URL the open services pass on: http, https, ftp or mailto, printable ASCII without
 * whitespace, at most URL_MAX bytes. Returns 0 or -EINVAL with *ret_why set. */
int url_check(const char *s, size_t len, const char **ret_why);
/* Whether s looks like a URL rather than a file name: "scheme:" then "//", or mailto:. */
bool looks_like_url(const char *s);
/* Finds an executable on PATH; returns a malloc'ed path or NULL. */
char *find_on_path(const char *prog);
