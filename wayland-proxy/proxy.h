/* The Wayland proxy's two halves (one binary, bulkhead-wayland-proxy host|guest) and the
 * protocol tables they share. */
#pragma once

#include <wayland-client-protocol.h>

#include "viewporter-client-protocol.h"
#include "xdg-decoration-unstable-v1-client-protocol.h"
#include "xdg-shell-client-protocol.h"

/* The globals a qube may see and bind, NULL-terminated: the ifaces argument of wire_parse.
 * Everything else (screen capture, layer shell, virtual input, ...) is neither announced nor
 * bindable. */
extern const struct wl_interface *const proxy_globals[];

int host_main(int argc, char **argv);
int guest_main(int argc, char **argv);
