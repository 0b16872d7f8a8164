/*
 * The qube's desktop entries, for the services the host calls to build its application menu
 * (bulkhead.GetAppmenus, bulkhead.GetImageRGBA, bulkhead.StartApp): where they are, how an id
 * names one, and the keys of its [Desktop Entry] group. The host trusts none of it; these only
 * keep an honest qube's answers within what the host accepts (appmenu/appmenu-list.h).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define DESKTOP_DIRS_MAX 3
#define DESKTOP_LINE_MAX 1024 /* longer lines are skipped: the host refuses them */

/* The directories searched, lowest priority first: /usr/share/applications,
 * /usr/local/share/applications, $HOME/.local/share/applications (an id found in a later one
 * hides the earlier). Subdirectories are not searched. Returns how many were filled. */
size_t desktop_dirs(char dirs[DESKTOP_DIRS_MAX][512]);

/* Whether id is a desktop-file id the host accepts: [A-Za-z0-9][A-Za-z0-9._+-]*.desktop, at
 * most 128 bytes. */
bool desktop_id_valid(const char *id);

/* The path of the entry with that id, from the directory of highest priority. Returns 0 or
 * -ENOENT (-EINVAL for an id outside the set above). */
int desktop_entry_find(const char *id, char *ret_path, size_t size);

/* Calls fn for each KEY=VALUE line of the [Desktop Entry] group of the file (localised keys,
 * "Name[de]", included: fn decides). Returns 0 or -errno. */
typedef void (*desktop_key_fn)(const char *key, const char *value, void *userdata);
int desktop_entry_read(const char *path, desktop_key_fn fn, void *userdata);
