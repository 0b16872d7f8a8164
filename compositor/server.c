/* The compositor's core objects: backend, renderer, scene, globals and the qube global filter. */
#include "server.h"

#include <errno.h>
#include <string.h>
#include <wlr/types/wlr_compositor.h>
#include <wlr/types/wlr_data_device.h>
#include <wlr/types/wlr_screencopy_v1.h>
#include <wlr/types/wlr_viewporter.h>
#include <wlr/types/wlr_xdg_decoration_v1.h>
#include <wlr/types/wlr_xdg_output_v1.h>

/* What a qube's client may see and bind. Everything else (screencopy first of all) is the
 * host's alone. wl_data_device_manager is mediated by clipboard.c: each qube is offered only
 * its own selection, drags are refused, and text crosses qubes only by Ctrl+Shift+C / V. */
static const char *const qube_globals[] = {
    "wl_compositor",
    "wl_subcompositor",
    "wl_shm",
    "wl_seat",
    "wl_output",
    "xdg_wm_base",
    "wl_data_device_manager",
    "zxdg_decoration_manager_v1",
    "wp_viewporter",
};

static bool global_filter(const struct wl_client *client, const struct wl_global *global,
			  void *data)
{
	const struct server *server = data;
	if (!qube_of_client(server, client))
		return true;
	const char *name = wl_global_get_interface(global)->name;
	for (size_t i = 0; i < sizeof(qube_globals) / sizeof(qube_globals[0]); i++) {
		if (strcmp(name, qube_globals[i]) == 0)
			return true;
	}
	return false;
}

int server_init(struct server *server)
{
	wl_list_init(&server->outputs);
	wl_list_init(&server->views);
	wl_list_init(&server->keyboards);

	server->display = wl_display_create();
	if (!server->display)
		return -ENOMEM;
	wl_display_set_global_filter(server->display, global_filter, server);

	server->backend = wlr_backend_autocreate(server->display);
	if (!server->backend)
		return -ENODEV;
	server->renderer = wlr_renderer_autocreate(server->backend);
	if (!server->renderer)
		return -ENODEV;
	if (!wlr_renderer_init_wl_display(server->renderer, server->display))
		return -ENODEV;
	server->allocator = wlr_allocator_autocreate(server->backend, server->renderer);
	if (!server->allocator)
		return -ENODEV;

	/* Selections and drags only happen when the compositor grants a client's request:
	 * clipboard.c decides (per qube). No primary-selection manager is created, so the primary
	 * selection exists for no client. */
	if (!wlr_compositor_create(server->display, server->renderer) ||
	    !wlr_data_device_manager_create(server->display) ||
	    !wlr_screencopy_manager_v1_create(server->display))
		return -ENOMEM;

	server->output_layout = wlr_output_layout_create();
	if (!server->output_layout)
		return -ENOMEM;
	/* Host tools (grim) find the layout through xdg-output. */
	if (!wlr_xdg_output_manager_v1_create(server->display, server->output_layout))
		return -ENOMEM;
	server->new_output.notify = output_handle_new;
	wl_signal_add(&server->backend->events.new_output, &server->new_output);

	server->scene = wlr_scene_create();
	if (!server->scene)
		return -ENOMEM;
	wlr_scene_attach_output_layout(server->scene, server->output_layout);

	server->xdg_shell = wlr_xdg_shell_create(server->display);
	if (!server->xdg_shell)
		return -ENOMEM;
	server->new_xdg_surface.notify = xdg_shell_handle_new_surface;
	wl_signal_add(&server->xdg_shell->events.new_surface, &server->new_xdg_surface);

	if (!wlr_viewporter_create(server->display))
		return -ENOMEM;
	struct wlr_xdg_decoration_manager_v1 *decoration =
	    wlr_xdg_decoration_manager_v1_create(server->display);
	if (!decoration)
		return -ENOMEM;
	server->new_decoration.notify = xdg_shell_handle_new_decoration;
	wl_signal_add(&decoration->events.new_toplevel_decoration, &server->new_decoration);

	server->seat = wlr_seat_create(server->display, "seat0");
	if (!server->seat)
		return -ENOMEM;
	int r = input_init(server);
	if (r < 0)
		return r;
	r = popup_grab_init(server);
	if (r < 0)
		return r;
	return cursor_init(server);
}

void server_finish(struct server *server)
{
	/* Outputs go first (with the backend, which the display owns), then the layout they leave:
	 * the scene and the cursor listen to both, so they must still exist. */
	cursor_finish(server);
	popup_grab_finish(server);
	if (server->display) {
		wl_display_destroy_clients(server->display);
		wl_display_destroy(server->display);
	} else if (server->backend) {
		wlr_backend_destroy(server->backend);
	}
	if (server->output_layout)
		wlr_output_layout_destroy(server->output_layout);
	if (server->scene)
		wlr_scene_node_destroy(&server->scene->node);
	if (server->cursor)
		wlr_cursor_destroy(server->cursor);
	if (server->allocator)
		wlr_allocator_destroy(server->allocator);
	if (server->renderer)
		wlr_renderer_destroy(server->renderer);
}
