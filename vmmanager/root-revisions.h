/*
 * A template's root revisions (Qubes' revisions_to_keep), as files in the qube's directory:
 *
 *   root.qcow2        the current root. While it is current nothing writes it: AppVMs and
 *                     DispVMs put throw-away overlays on it, the template writes root-next.
 *   root.rev/N.qcow2  roots by number (higher is newer): the older roots (the revisions), and
 *                     the current root too once a qube was based on it, as a hard link, so that
 *                     an overlay names a file whose content never changes under it.
 *   root-next.qcow2   the root a running template writes, copied from root.qcow2 at its start;
 *                     at its stop it becomes root.qcow2 and the root it replaces a revision.
 *   root-copy.qcow2   that copy while it is made (thrown away when the start does not finish).
 *
 * Every step is a link() or rename(), so a crash leaves the old state or the new one (and at
 * worst a root-next.qcow2 that root_rev_commit() puts in place at the daemon's next start).
 * Plain file work, no daemon state: which files running qubes read is the caller's to say.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define ROOT_REV_DIR	    "root.rev"
#define ROOT_NEXT	    "root-next.qcow2"
#define ROOT_COPY	    "root-copy.qcow2"
#define ROOT_REVERT_TMP	    "root-revert.tmp"
#define ROOT_REV_NUMBER_MAX 999999999u

/* A revision's name ("3") as its number: decimal digits without sign or leading zero,
 * 1..ROOT_REV_NUMBER_MAX; -EINVAL otherwise. */
int root_rev_name_parse(const char *s, unsigned *ret);

/* The backing file a qcow2 header names: buf holds the file's first n bytes. 0 with *ret the
 * name (NULL: the image has no backing file); -EBADMSG when buf is no qcow2 header or the name
 * lies outside it, is empty, too long or has a NUL in it. */
int qcow2_header_backing(const void *buf, size_t n, char **ret);
/* The same, read from the file at path (-errno when it cannot be read). */
int qcow2_file_backing(const char *path, char **ret);

/* The revisions of the root in the qube directory dir (the current root is none of them),
 * newest first. No revision: 0 with *ret_n 0. */
int root_rev_list(const char *dir, unsigned **ret, size_t *ret_n);
char *root_rev_path(const char *dir, unsigned rev);
/* The name under root.rev/ of the current root, linked now if it has none: what an overlay on
 * it is based on. */
int root_rev_current(const char *dir, char **ret_path);
/* At the template's stop: root-next.qcow2 (synced) becomes root.qcow2, and the root it replaces
 * a revision. 1: done, 0: there was no root-next.qcow2. */
int root_rev_commit(const char *dir);
/* Revision rev becomes the current root and the current one the newest revision (so a revert
 * can be undone by another). -ENOENT: no such revision; nothing changed then. */
int root_rev_revert(const char *dir, unsigned rev);
/* Deletes the revisions beyond the newest keep ones, except those that are one of the files
 * in_use names (what running qubes' overlays are based on): they go at a later prune.
 * *ret_deferred (may be NULL): how many stayed for that reason. */
int root_rev_prune(const char *dir, unsigned keep, const char *const *in_use, size_t n_in_use,
		   size_t *ret_deferred);
/* What an unfinished start or revert left behind (not root-next.qcow2: that is committed). */
void root_rev_remove_leftovers(const char *dir);
