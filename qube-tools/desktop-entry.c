/* The qube's desktop entries (desktop-entry.h). */
#include "desktop-entry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

size_t desktop_dirs(char dirs[DESKTOP_DIRS_MAX][512])
{
	const char *home = getenv("HOME");
	size_t n = 0;

	snprintf(dirs[n++], 512, "/usr/share/applications");
	snprintf(dirs[n++], 512, "/usr/local/share/applications");
	if (home && *home == '/' &&
	    (size_t)snprintf(dirs[n], 512, "%s/.local/share/applications", home) < 512)
		n++;
	return n;
}

bool desktop_id_valid(const char *id)
{
	size_t len = strlen(id);
	if (len <= 8 || len > 128 || strcmp(id + len - 8, ".desktop") != 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = id[i];
		bool alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || !strchr("._+-", c)))
			return false;
	}
	return true;
}

int desktop_entry_find(const char *id, char *ret_path, size_t size)
{
	char dirs[DESKTOP_DIRS_MAX][512];

	if (!desktop_id_valid(id))
		return -EINVAL;
	for (size_t i = desktop_dirs(dirs); i-- > 0;) {
		if ((size_t)snprintf(ret_path, size, "%s/%s", dirs[i], id) >= size)
			continue;
		if (access(ret_path, R_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

int desktop_entry_read(const char *path, desktop_key_fn fn, void *userdata)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char line[DESKTOP_LINE_MAX + 2];
	bool in_group = false, skipping = false;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);
		bool whole = len > 0 && line[len - 1] == '\n';
		/* The rest of an overlong line is skipped with it. */
		if (skipping) {
			skipping = !whole;
			continue;
		}
		if (!whole && !feof(f)) {
			skipping = true;
			continue;
		}
		if (whole)
			line[--len] = '\0';
		if (line[0] == '[') {
			in_group = strcmp(line, "[Desktop Entry]") == 0;
			continue;
		}
		if (!in_group || line[0] == '#')
			continue;
		char *eq = strchr(line, '=');
		if (!eq || eq == line)
			continue;
		/* "Key = Value" is allowed by the specification. */
		char *kend = eq;
		while (kend > line && kend[-1] == ' ')
			kend--;
		*kend = '\0';
		char *v = eq + 1;
		while (*v == ' ')
			v++;
		fn(line, v, userdata);
	}
	return ferror(f) ? -EIO : 0;
}
