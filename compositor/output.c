/* Outputs: each is rendered from the scene graph on its frame event. */
#include "server.h"

#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "panel.h"

static void handle_frame(struct wl_listener *listener, void *data)
{
	struct output *output = wl_container_of(listener, output, frame);
	struct wlr_scene_output *scene_output =
	    wlr_scene_get_scene_output(output->server->scene, output->wlr_output);
	if (!scene_output)
		return;
	/* Whatever the clients committed since the last frame, nothing is drawn outside its
	 * window's frame. */
	views_constrain(output->server);
	panel_raise(output->server);
	wlr_scene_output_commit(scene_output);
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	wlr_scene_output_send_frame_done(scene_output, &now);
}

struct wlr_output *output_for_point(struct server *server, double lx, double ly)
{
	struct wlr_output *wlr_output = wlr_output_layout_output_at(server->output_layout, lx, ly);
	if (wlr_output)
		return wlr_output;
	struct output *output;
	wl_list_for_each(output, &server->outputs, link)
	{
		if (wlr_output_layout_get(server->output_layout, output->wlr_output))
			return output->wlr_output;
	}
	return NULL;
}

static void handle_destroy(struct wl_listener *listener, void *data)
{
	struct output *output = wl_container_of(listener, output, destroy);
	wl_list_remove(&output->frame.link);
	wl_list_remove(&output->destroy.link);
	wl_list_remove(&output->link);
	free(output);
}

void output_handle_new(struct wl_listener *listener, void *data)
{
	struct server *server = wl_container_of(listener, server, new_output);
	struct wlr_output *wlr_output = data;

	if (!wlr_output_init_render(wlr_output, server->allocator, server->renderer)) {
		log_error("output %s: cannot render to it", wlr_output->name);
		return;
	}
	/* Outputs without modes (headless, nested) keep the size the backend gave them. */
	struct wlr_output_mode *mode = wlr_output_preferred_mode(wlr_output);
	if (mode)
		wlr_output_set_mode(wlr_output, mode);
	wlr_output_enable(wlr_output, true);
	if (!wlr_output_commit(wlr_output)) {
		log_error("output %s: cannot enable it", wlr_output->name);
		return;
	}

	struct output *output = calloc(1, sizeof(*output));
	if (!output) {
		log_error("output %s: out of memory", wlr_output->name);
		return;
	}
	output->server = server;
	output->wlr_output = wlr_output;
	output->frame.notify = handle_frame;
	wl_signal_add(&wlr_output->events.frame, &output->frame);
	output->destroy.notify = handle_destroy;
	wl_signal_add(&wlr_output->events.destroy, &output->destroy);
	wl_list_insert(&server->outputs, &output->link);

	/* The scene follows the layout (wlr_scene_attach_output_layout), which creates nothing
	 * for us: the scene output is ours to add. */
	wlr_output_layout_add_auto(server->output_layout, wlr_output);
	wlr_scene_output_create(server->scene, wlr_output);
	log_info("output %s: %dx%d", wlr_output->name, wlr_output->width, wlr_output->height);
}
