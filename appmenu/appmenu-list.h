/*
 * What a qube's bulkhead.GetAppmenus service printed (Qubes' qubes.GetAppmenus): one line per
 * key of each desktop entry, "ID:KEY=VALUE", ID being the desktop-file id ("firefox-esr.desktop").
 * Every byte is the qube's, so the whole output is refused at the first broken rule (a line too
 * long, bytes that are not printable UTF-8, too many entries, an id outside the safe set): a
 * sync then changes nothing. Only Type, Name, NoDisplay, Hidden and Icon are read; Exec is never
 * looked at, since the host starts an app by id through the qube's own bulkhead.StartApp.
 * A pure function, so the unit tests and the fuzz target reach it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define APPMENU_OUTPUT_MAX  (64 * 1024) /* what bulkheadd reads of the service's stdout */
#define APPMENU_LINE_MAX    1024	/* bytes per line, without its newline */
#define APPMENU_ENTRIES_MAX 256		/* distinct ids in one output (kept or dropped) */
#define APPMENU_ID_MAX	    128		/* bytes of an id, ".desktop" included */
#define APPMENU_NAME_MAX    128		/* bytes of a name as kept (longer ones are cut) */
#define APPMENU_ICON_MAX    255		/* bytes of an icon name or path */

struct appmenu_entry {
	char *id;
	char *name;
	char *icon; /* the qube's Icon= (a name, or an absolute path), or NULL */
};

struct appmenu_list {
	struct appmenu_entry *v; /* sorted by id */
	size_t n;
};

/* Parses out (len bytes, may lack a final newline) into the applications to show: Type
 * Application, with a Name, not NoDisplay or Hidden. Returns 0, or -EINVAL / -E2BIG with a
 * static reason in *ret_why; *ret is untouched then. */
int appmenu_list_parse(const char *out, size_t len, struct appmenu_list *ret, const char **ret_why);
void appmenu_list_done(struct appmenu_list *l);

/* A desktop-file id: a letter or digit, then letters, digits and "._+-", ending in ".desktop",
 * at most APPMENU_ID_MAX bytes. The only ids the host stores, shows or asks a qube to start. */
bool appmenu_id_valid(const char *id);
/* An icon name or absolute path: letters, digits and "._+-/", no "..", at most
 * APPMENU_ICON_MAX bytes. */
bool appmenu_icon_valid(const char *icon);
/* Whether s (len bytes) is UTF-8 without control characters (C0, DEL, C1) and without
 * overlong forms or surrogates. */
bool appmenu_text_valid(const char *s, size_t len);
