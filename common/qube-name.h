/* What a qube name may be: one rule for every program that takes one (bulkheadd, the
 * compositor, the Wayland proxy, the tools inside qubes). */
#pragma once

#include <stddef.h>

/* Qubes' limit; the compositor's decoration titles and the store's paths assume it. */
#define QUBE_NAME_MAX 31

/*
 * Qubes' rules: a letter first, then ASCII letters, digits, '_', '.' and '-', at most
 * QUBE_NAME_MAX characters; "dom0" (the host), "none" and "default" are reserved, as are names
 * ending in "-dm" (Qubes' device-model stubdomains). A letter first also keeps ".", "..",
 * "uuid:..." and the store's ".tmp-" directories out.
 *
 * qube_name_check_len() checks exactly len bytes (a NUL among them is refused);
 * qube_name_check() a NUL-terminated string, reading at most QUBE_NAME_MAX + 1 bytes of it.
 * Both return 0, or -EINVAL with *ret_reason (when not NULL) set to a static sentence saying why.
 */
int qube_name_check_len(const char *name, size_t len, const char **ret_reason);
int qube_name_check(const char *name, const char **ret_reason);
