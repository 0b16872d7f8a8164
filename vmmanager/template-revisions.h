/* Template root revisions as bulkheadd keeps them (template-revisions.c): when a revision is
 * made, which files running qubes read, and when the old ones go. The files themselves:
 * root-revisions.h. */
#pragma once

#include <stdbool.h>

struct daemon;
struct vm;

/* The file an overlay on template t's current root is based on (a name that keeps meaning that
 * root while it becomes a revision). -errno with *ret_msg on failure. */
int template_root_base(struct daemon *d, struct vm *t, char **ret_path, char **ret_msg);
/* Whether t's root.qcow2 is at rest, so that overlays can be put on it: t is halted, or runs on
 * a copy of it (every template started by this bulkheadd does). */
bool template_root_at_rest(struct daemon *d, struct vm *t);
/* Qube vm stopped. A template: what it wrote becomes its root, the root before a revision, and
 * the revisions beyond its revisions_to_keep that no running qube reads go. A qube based on a
 * template: the revision it read may go now. */
void template_revisions_stopped(struct daemon *d, struct vm *vm);
/* The revisions of t beyond revisions_to_keep that no running qube reads go now; the others at a
 * later prune (after a qube based on t stopped). */
void template_revisions_prune(struct daemon *d, struct vm *t);
/* At bulkheadd's start, after the running qubes were adopted: commits what halted templates
 * wrote before a crash, removes leftovers, prunes. */
void template_revisions_reconcile(struct daemon *d);
