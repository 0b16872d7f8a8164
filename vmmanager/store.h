/*
 * The on-disk store of qubes, under a state directory (BULKHEAD_DEFAULT_STATE_DIR unless the
 * daemon is told otherwise):
 *
 *   STATE/                 0711: QEMU (libvirt-qemu) must traverse to reach the volumes
 *   STATE/host.json        0600, the host-wide settings (host-prefs.h)
 *   STATE/qubes/           0711
 *   STATE/qubes/NAME/      0711, one per qube: qube.json (0600) and the volume files the daemon
 *                          creates beside it (root.qcow2, private.qcow2, volatile.qcow2,
 *                          root-overlay.qcow2, console.log)
 *   STATE/qubes/.tmp-NAME-XXXXXX     a qube being created (removed at open: a crash left it)
 *   STATE/qubes/.trash-NAME-XXXXXX   a qube being removed (likewise)
 *
 * Every change is atomic: a write goes to a temporary file that is synced and renamed, a new
 * qube appears by renaming its complete directory, a removed one disappears by renaming it away
 * before it is deleted. A crash at any moment leaves either the old or the new state. Errors
 * (ENOSPC, EFBIG, EIO, ...) are returned as -errno with the old state intact. No logging here.
 */
#pragma once

#include <stddef.h>

#include "qube.h"

/* qube.json is far smaller (tags and features are capped); more is damage. */
#define STORE_QUBE_JSON_MAX (1024 * 1024)

struct store;

/* Files inside a qube's directory. */
enum store_file {
	STORE_FILE_CONFIG, /* qube.json */
	STORE_FILE_ROOT,
	STORE_FILE_PRIVATE,
	STORE_FILE_VOLATILE,
	STORE_FILE_ROOT_OVERLAY,
	STORE_FILE_CONSOLE_LOG,
	STORE_FILE_COUNT
};

/* A qube directory that could not be loaded. */
struct store_problem {
	char *entry;	    /* the directory entry under qubes/ */
	int error;	    /* negative errno */
	const char *reason; /* static text for the log */
};

/* Creates STATE and STATE/qubes if needed (0711), and deletes the .tmp-* and .trash-*
 * directories a crash left behind. */
int store_open(const char *state_dir, struct store **ret);
void store_free(struct store *s);
const char *store_state_dir(const struct store *s);

/* Loads every qube. A directory whose qube.json is missing, damaged or names another qube is
 * skipped and listed in *ret_problems (which may be NULL to ignore them); entries starting with
 * '.' are ignored. */
int store_load_all(struct store *s, struct qube ***ret, size_t *ret_n,
		   struct store_problem **ret_problems, size_t *ret_n_problems);
void store_qubes_free(struct qube **qubes, size_t n);
void store_problems_free(struct store_problem *p, size_t n);

/* Creating a qube: begin makes qubes/.tmp-NAME-XXXXXX holding qube.json and returns its path;
 * the caller creates the volume files in it; commit renames it to qubes/NAME (-EEXIST if that
 * exists; the tmp dir is then still there) and syncs; abort deletes the tmp dir. The caller
 * frees the path. A crash before commit leaves a .tmp- dir that the next store_open deletes. */
int store_create_begin(struct store *s, const struct qube *q, char **ret_tmpdir);
int store_create_commit(struct store *s, const char *tmpdir, const char *name);
int store_create_abort(struct store *s, const char *tmpdir);

/* Writes q's qube.json atomically (tmp file, fsync, rename, fsync dir). -ENOENT if the qube's
 * directory does not exist. */
int store_save(struct store *s, const struct qube *q);
/* Loads one qube. -ENOENT if it is not there; -EINVAL etc. with *ret_reason if damaged. */
int store_load(struct store *s, const char *name, struct qube **ret, const char **ret_reason);
/* Removes a qube and all its files: renamed to .trash-NAME-XXXXXX (the qube is gone from then
 * on, also after a crash), then deleted. Returns 0 once the rename is done; whatever the deletion
 * could not remove, the next store_open removes. */
int store_remove(struct store *s, const char *name);
/* Whether qubes/NAME exists. */
bool store_exists(struct store *s, const char *name);

/* Paths (newly allocated); NULL if name is not a valid qube name. */
char *store_qube_dir(struct store *s, const char *name);
char *store_file_path(struct store *s, const char *name, enum store_file f);
/* The bare file name ("root.qcow2", ...), e.g. to build paths inside a create tmp dir. */
const char *store_file_name(enum store_file f);

/* Another file of the qube beside qube.json (firewall.json): written atomically (0600); read
 * whole, at most max bytes (-EFBIG beyond). -ENOENT when the file (or the qube) is not there. */
int store_write_qube_file(struct store *s, const char *name, const char *file, const char *text);
int store_read_qube_file(struct store *s, const char *name, const char *file, size_t max,
			 char **ret);
/* STATE/host.json: -ENOENT when there is none yet, -EINVAL / -EFBIG when it is not one JSON
 * value within STORE_QUBE_JSON_MAX; save writes it atomically. */
int store_load_host(struct store *s, struct json_object **ret);
int store_save_host(struct store *s, struct json_object *o);
