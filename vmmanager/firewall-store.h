/* A qube's firewall rules, stored beside its qube.json as firewall.json ({"rules": [...]},
 * net/firewall-rule.h). A qube without the file has the default list: one accept. */
#pragma once

#include "firewall-rule.h"

struct store;

#define FIREWALL_JSON	  "firewall.json"
#define FIREWALL_JSON_MAX (2 * 1024 * 1024)

/* -ENOENT when the qube is not there; -EINVAL with *ret_error when the file is damaged. */
int firewall_load(struct store *s, const char *qube, struct fw_rules *ret, char **ret_error);
/* Atomic (tmp file, fsync, rename). */
int firewall_save(struct store *s, const char *qube, const struct fw_rules *rules);
