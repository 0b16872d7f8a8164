/*
 * bulkhead-appmenus: the bulkhead.GetAppmenus service (Qubes' qubes.GetAppmenus). Prints the
 * qube's desktop entries as "ID:KEY=VALUE" lines, one per key the host's menu uses (Type, Name,
 * NoDisplay, Hidden, Icon), ids sorted. Values the host would refuse (control characters, too
 * long) are left out here so that one odd file does not cost the whole list.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desktop-entry.h"
#include "util.h"

#define ENTRIES_MAX 256		/* what the host takes (APPMENU_ENTRIES_MAX) */
#define OUTPUT_MAX  (64 * 1024) /* likewise (APPMENU_OUTPUT_MAX): whole entries up to it */

struct entry {
	char id[256];
	char path[800];
};

static const char *const keys[] = {"Type", "Name", "NoDisplay", "Hidden", "Icon"};

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->id, ((const struct entry *)b)->id);
}

/* One entry's lines, kept until the entry is complete. */
struct entry_text {
	const char *id;
	char buf[5 * DESKTOP_LINE_MAX + 8];
	size_t len;
};

static void print_key(const char *key, const char *value, void *userdata)
{
	struct entry_text *t = userdata;
	const char *id = t->id;
	bool wanted = false;
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		wanted |= strcmp(key, keys[i]) == 0;
	if (!wanted || strlen(id) + strlen(key) + strlen(value) + 2 > DESKTOP_LINE_MAX)
		return;
	for (const unsigned char *p = (const unsigned char *)value; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return;
	size_t n = strlen(id) + strlen(key) + strlen(value) + 3;
	if (t->len + n < sizeof(t->buf))
		t->len += (size_t)snprintf(t->buf + t->len, n + 1, "%s:%s=%s\n", id, key, value);
}

int main(void)
{
	char dirs[DESKTOP_DIRS_MAX][512];
	size_t n_dirs = desktop_dirs(dirs), n = 0;
	struct entry *v = xcalloc(ENTRIES_MAX, sizeof(*v));

	for (size_t d = 0; d < n_dirs; d++) {
		DIR *dp = opendir(dirs[d]);
		struct dirent *de;
		if (!dp)
			continue;
		while ((de = readdir(dp))) {
			if (!desktop_id_valid(de->d_name))
				continue;
			struct entry *e = NULL;
			for (size_t i = 0; i < n && !e; i++)
				if (strcmp(v[i].id, de->d_name) == 0)
					e = &v[i]; /* a later directory hides an earlier one */
			if (!e && n == ENTRIES_MAX) {
				fprintf(stderr,
					"bulkhead-appmenus: more than %d entries; the rest "
					"is left out\n",
					ENTRIES_MAX);
				continue;
			}
			if (!e)
				e = &v[n++];
			snprintf(e->id, sizeof(e->id), "%s", de->d_name);
			snprintf(e->path, sizeof(e->path), "%s/%s", dirs[d], de->d_name);
		}
		closedir(dp);
	}
	qsort(v, n, sizeof(*v), cmp_entry);
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		static struct entry_text t;
		t.id = v[i].id;
		t.len = 0;
		(void)desktop_entry_read(v[i].path, print_key, &t);
		if (total + t.len > OUTPUT_MAX) {
			fprintf(stderr,
				"bulkhead-appmenus: more than %d bytes; %s and the rest are "
				"left out\n",
				OUTPUT_MAX, v[i].id);
			break;
		}
		fwrite(t.buf, 1, t.len, stdout);
		total += t.len;
	}
	free(v);
	return fflush(stdout) == 0 ? 0 : 1;
}
