/* Name and URL checks (see validate.h). */
#include "validate.h"

#include <errno.h>
#include <strings.h>

#include "util.h"

static bool is_letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool call_target_valid(const char *s)
{
	size_t n = strlen(s);

	if (s[0] != '@')
		return streq(s, "dom0") || qube_name_check(s, NULL) == 0;
	if (n < 2 || n > 64)
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_letter(s[i]) && !is_digit(s[i]) && !strchr("_.:@-", s[i]))
			return false;
	return true;
}

/* Length of the scheme before ':' or 0 when s does not start with one. */
static size_t scheme_len(const char *s, size_t len)
{
	size_t i = 0;

	if (len == 0 || !is_letter(s[0]))
		return 0;
	while (i < len && (is_letter(s[i]) || is_digit(s[i]) || strchr("+.-", s[i])))
		i++;
	return (i < len && s[i] == ':') ? i : 0;
}

bool looks_like_url(const char *s)
{
	size_t len = strlen(s);
	size_t n = scheme_len(s, len);

	if (n == 0)
		return false;
	if (n == 6 && strncasecmp(s, "mailto", 6) == 0)
		return true;
	return len >= n + 3 && s[n + 1] == '/' && s[n + 2] == '/';
}

int url_check(const char *s, size_t len, const char **ret_why)
{
	static const char *const schemes[] = {"http", "https", "ftp", "mailto"};

	if (len == 0 || len > URL_MAX) {
		*ret_why = "URL empty or longer than 4096 bytes";
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f) {
			*ret_why = "URL contains whitespace, control or non-ASCII characters";
			return -EINVAL;
		}
	size_t n = scheme_len(s, len);
	bool known = false;
	for (size_t i = 0; i < ARRAY_SIZE(schemes); i++)
		if (n == strlen(schemes[i]) && strncasecmp(s, schemes[i], n) == 0)
			known = true;
	if (!known) {
		*ret_why = "only http, https, ftp and mailto URLs are opened";
		return -EINVAL;
	}
	bool mailto = n == 6;
	if (!mailto && (len < n + 4 || s[n + 1] != '/' || s[n + 2] != '/')) {
		*ret_why = "URL has no host part (scheme://...)";
		return -EINVAL;
	}
	if (mailto && len == n + 1) {
		*ret_why = "mailto URL without an address";
		return -EINVAL;
	}
	return 0;
}

char *find_on_path(const char *prog)
{
	const char *path = getenv("PATH");

	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");
		if (n > 0) {
			char *full = xasprintf("%.*s/%s", (int)n, path, prog);
			if (access(full, X_OK) == 0)
				return full;
			free(full);
		}
		path += n;
		if (*path == ':')
			path++;
	}
	return NULL;
}
