/*
 * A qube's application menu, as bulkheadd keeps it: fetched from the qube (its
 * bulkhead.GetAppmenus service, then bulkhead.GetImageRGBA once per icon, each icon turned into
 * a PNG by bulkhead-icon-convert in the qube's sandbox), and kept in the store as one file,
 * STATE/qubes/NAME/apps.json, written atomically once everything arrived: a sync that fails at
 * any step leaves the list stored before it as it was. The file goes with the qube.
 *
 *   {"synced": EPOCH, "apps": [{"id": "x.desktop", "name": "X", "icon": BASE64-PNG}, ...]}
 *
 * (no "icon" when the qube had none to give). Which apps the menu shows is not stored here but
 * decided from the features each time (appmenu_shown).
 */
#pragma once

#include <stdbool.h>

#include <json-c/json.h>

struct daemon;
struct vm;

#define APPMENU_STORE_FILE	"apps.json"
#define APPMENU_FEATURE		"menu-items" /* Qubes' feature: the ids shown, space-separated */
#define APPMENU_DEFAULT_FEATURE "default-menu-items" /* on a template: for its qubes */

/* Called once from the event loop: error NULL on success, else what went wrong (for the user). */
typedef void (*appmenu_sync_done_fn)(struct daemon *d, const char *qube, const char *error,
				     void *userdata);

/* Fetches the running qube's applications and replaces its stored list. Returns 0 (done is
 * called later, exactly once) or -EBUSY (a sync of that qube is under way) or -errno. */
int appmenu_sync(struct daemon *d, struct vm *vm, appmenu_sync_done_fn done, void *userdata);

/* The stored list ({"synced", "apps": [...]}), or an empty one when the qube was never synced.
 * Returns 0 or -errno (a damaged file). */
int appmenu_load(struct daemon *d, const char *qube, struct json_object **ret);

/* Whether the menu shows id: listed in the qube's menu-items feature, or, when that is not set,
 * in its template's default-menu-items (Qubes' way for a new qube); else not. */
bool appmenu_shown(struct daemon *d, const struct vm *vm, const char *id);
