/* The allow list of globals, as wayland-scanner's tables. */
#include "proxy.h"

#include <stddef.h>

const struct wl_interface *const proxy_globals[] = {
    &wl_compositor_interface,
    &wl_subcompositor_interface,
    &wl_shm_interface,
    &wl_seat_interface,
    &wl_output_interface,
    &xdg_wm_base_interface,
    &zxdg_decoration_manager_v1_interface,
    &wp_viewporter_interface,
    &wl_data_device_manager_interface,
    NULL,
};
