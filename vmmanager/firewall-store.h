/* A qube's firewall rules and inbound port forwards, stored beside its qube.json as firewall.json
 * ({"rules": [...], "forwards": [...]}, net/firewall-rule.h and net/port-forward.h). A qube
 * without the file has the default list, one accept, and no forwards. */
#pragma once

#include "firewall-rule.h"
#include "port-forward.h"

struct store;

#define FIREWALL_JSON	  "firewall.json"
#define FIREWALL_JSON_MAX (2 * 1024 * 1024)

/* Either of ret and ret_forwards may be NULL. -ENOENT when the qube is not there; -EINVAL with
 * *ret_error when the file is damaged (then neither is set). */
int firewall_load(struct store *s, const char *qube, struct fw_rules *ret,
		  struct port_forwards *ret_forwards, char **ret_error);
/* Atomic (tmp file, fsync, rename); forwards NULL: none. */
int firewall_save(struct store *s, const char *qube, const struct fw_rules *rules,
		  const struct port_forwards *forwards);
