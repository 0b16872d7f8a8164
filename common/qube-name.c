/* Qube name validity (see qube-name.h). */
#include "qube-name.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* Not <ctype.h>: its answers depend on the locale, the rule must not. */
static bool is_letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_name_char(char c)
{
	return is_letter(c) || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

static bool name_is(const char *name, size_t len, const char *word)
{
	return len == strlen(word) && memcmp(name, word, len) == 0;
}

static const char *name_problem(const char *name, size_t len)
{
	if (len == 0)
		return "name is empty";
	if (len > QUBE_NAME_MAX)
		return "name is longer than 31 characters";
	if (!is_letter(name[0]))
		return "name must start with a letter";
	for (size_t i = 1; i < len; i++)
		if (!is_name_char(name[i]))
			return "name may contain only letters, digits, '_', '.' and '-'";
	if (name_is(name, len, "dom0") || name_is(name, len, "none") ||
	    name_is(name, len, "default"))
		return "name is reserved";
	if (len >= 3 && memcmp(name + len - 3, "-dm", 3) == 0)
		return "names ending in \"-dm\" are reserved";
	return NULL;
}

int qube_name_check_len(const char *name, size_t len, const char **ret_reason)
{
	const char *reason = name ? name_problem(name, len) : "name is empty";

	if (!reason)
		return 0;
	if (ret_reason)
		*ret_reason = reason;
	return -EINVAL;
}

int qube_name_check(const char *name, const char **ret_reason)
{
	/* strnlen: never scan further than the cap plus one. */
	return qube_name_check_len(name, name ? strnlen(name, QUBE_NAME_MAX + 1) : 0, ret_reason);
}
