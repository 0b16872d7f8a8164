/* File system helpers of the qube tools: everything relative to directory fds, no symlink is
 * ever followed. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Removes every entry of the directory dirfd, recursively, never following symlinks. With
 * make_writable, directories are given u+rwx first (our own staging trees, whose modes came from
 * the sender). Returns 0 or the first -errno; keeps going past errors. */
int rm_children_at(int dirfd, bool make_writable);
/* Removes name in dirfd, a directory tree or anything else. Returns 0 or -errno. */
int rm_tree_at(int dirfd, const char *name, bool make_writable);
/* mkdirat that accepts an existing directory, then opens it without following a symlink.
 * Returns the fd or -errno. */
int mkdir_open_at(int dirfd, const char *name, unsigned mode);
/* Fills buf with prefix and 16 random hex digits. buf must hold strlen(prefix) + 17. */
int random_name(const char *prefix, char *buf, size_t size);
