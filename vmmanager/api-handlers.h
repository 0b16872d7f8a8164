/* The admin API's handlers, one file per call family (like sway's commands/): api-calls.c puts
 * them in its one table. Each replies to c exactly once, now or later. */
#pragma once

#include "api-request.h"

struct client;
struct daemon;
struct vm;

/* api-calls.c: the one table; runs the handler of req->call. */
void api_dispatch(struct daemon *d, struct client *c, const struct api_request *req);
/* api-run.c: continues an admin.vm.Run that waited for its qube to start. */
void api_run_resume(struct daemon *d, struct client *c, struct vm *vm);
/* api-apps.c: continues an admin.vm.apps.Sync or Run that waited likewise. */
void api_apps_resume(struct daemon *d, struct client *c, struct vm *vm);

#define API_HANDLER(name)                                                                          \
	void name(struct daemon *d, struct client *c, const struct api_request *req)

/* api-vm.c */
API_HANDLER(h_list);
API_HANDLER(h_create);
API_HANDLER(h_clone);
API_HANDLER(h_remove);
API_HANDLER(h_start);
API_HANDLER(h_shutdown);
API_HANDLER(h_kill);
API_HANDLER(h_pause); /* and Unpause */
/* api-run.c */
API_HANDLER(h_run);
API_HANDLER(h_echo);
API_HANDLER(h_console);
/* api-property.c */
API_HANDLER(h_prop_list);
API_HANDLER(h_prop_get);
API_HANDLER(h_prop_set); /* and Reset */
/* api-feature.c */
API_HANDLER(h_feature);
/* api-apps.c */
API_HANDLER(h_apps); /* List, Sync, Icon, Run */
/* api-audio.c */
API_HANDLER(h_audio); /* Get and Set */
API_HANDLER(h_audio_mic);
/* api-tag.c */
API_HANDLER(h_tag);
/* api-firewall.c */
API_HANDLER(h_firewall); /* Get and Set */
/* api-volume.c */
API_HANDLER(h_volume_list);
API_HANDLER(h_volume_resize);
API_HANDLER(h_volume_info);
API_HANDLER(h_volume_revert);
/* api-policy.c */
API_HANDLER(h_policy_prompt);
API_HANDLER(h_gui_register);
API_HANDLER(h_policy_answer);
API_HANDLER(h_policy_check);
/* api-host.c */
API_HANDLER(h_events);
API_HANDLER(h_info);
API_HANDLER(h_host_prop);
/* template-build.c */
API_HANDLER(h_template_build);

#undef API_HANDLER
