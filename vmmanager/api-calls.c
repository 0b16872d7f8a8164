/* The admin API: one table from call name to handler (common/api.h lists the calls; the
 * handlers live in api-*.c, one file per call family, declared in api-handlers.h). */
#include "api-handlers.h"
#include "api-request.h"
#include "api-server.h"
#include "api.h"
#include "log.h"
#include "util.h"

typedef void (*api_handler)(struct daemon *d, struct client *c, const struct api_request *req);

static const struct {
	enum api_call id;
	api_handler handler;
	bool needs_dest;
} handlers[] = {
    {API_VM_LIST, h_list, false},
    {API_VM_CREATE_APPVM, h_create, false},
    {API_VM_CREATE_TEMPLATEVM, h_create, false},
    {API_VM_CREATE_STANDALONEVM, h_create, false},
    {API_VM_CREATE_DISPVM, h_create, false},
    {API_VM_CLONE, h_clone, true},
    {API_VM_REMOVE, h_remove, true},
    {API_VM_START, h_start, true},
    {API_VM_SHUTDOWN, h_shutdown, true},
    {API_VM_KILL, h_kill, true},
    {API_VM_PAUSE, h_pause, true},
    {API_VM_UNPAUSE, h_pause, true},
    {API_VM_PROPERTY_LIST, h_prop_list, true},
    {API_VM_PROPERTY_GET, h_prop_get, true},
    {API_VM_PROPERTY_SET, h_prop_set, true},
    {API_VM_PROPERTY_RESET, h_prop_set, true},
    {API_VM_FEATURE_LIST, h_feature, true},
    {API_VM_FEATURE_GET, h_feature, true},
    {API_VM_FEATURE_SET, h_feature, true},
    {API_VM_FEATURE_REMOVE, h_feature, true},
    {API_VM_APPS_LIST, h_apps, true},
    {API_VM_APPS_SYNC, h_apps, true},
    {API_VM_APPS_ICON, h_apps, true},
    {API_VM_APPS_RUN, h_apps, true},
    {API_VM_TAG_LIST, h_tag, true},
    {API_VM_TAG_GET, h_tag, true},
    {API_VM_TAG_SET, h_tag, true},
    {API_VM_TAG_REMOVE, h_tag, true},
    {API_VM_FIREWALL_GET, h_firewall, true},
    {API_VM_FIREWALL_SET, h_firewall, true},
    {API_VM_VOLUME_LIST, h_volume_list, true},
    {API_VM_VOLUME_RESIZE, h_volume_resize, true},
    {API_VM_VOLUME_INFO, h_volume_info, true},
    {API_VM_VOLUME_REVERT, h_volume_revert, true},
    {API_VM_RUN, h_run, true},
    {API_VM_ECHO, h_echo, true},
    {API_VM_CONSOLE, h_console, true},
    {API_VM_AUDIO_GET, h_audio, true},
    {API_VM_AUDIO_SET, h_audio, true},
    {API_VM_AUDIO_MIC, h_audio_mic, true},
    {API_EVENTS, h_events, false},
    {API_HOST_INFO, h_info, false},
    {API_TEMPLATE_BUILD, h_template_build, false},
    {API_POLICY_PROMPT, h_policy_prompt, false},
    {API_POLICY_ANSWER, h_policy_answer, false},
    {API_POLICY_CHECK, h_policy_check, true},
    {API_GUI_REGISTER, h_gui_register, false},
    {API_PROPERTY_LIST, h_host_prop, false},
    {API_PROPERTY_GET, h_host_prop, false},
    {API_PROPERTY_SET, h_host_prop, false},
    {API_PROPERTY_RESET, h_host_prop, false},
};

static const char *const call_names[] = {
#define API_NAME(id, name) [API_##id] = name,
    API_CALLS(API_NAME)
#undef API_NAME
};

void api_dispatch(struct daemon *d, struct client *c, const struct api_request *req)
{
	for (size_t i = 0; i < ARRAY_SIZE(handlers); i++) {
		if (!streq(call_names[handlers[i].id], req->call))
			continue;
		if (handlers[i].needs_dest && !*req->dest) {
			client_reply_error(c, API_E_VALUE, "%s needs a qube name", req->call);
			return;
		}
		log_debug("call %s dest=%s arg=%s", req->call, LOG_ESC(req->dest),
			  LOG_ESC(req->arg));
		handlers[i].handler(d, c, req);
		return;
	}
	if (strncmp(req->call, "admin.vm.Create.", 16) == 0)
		client_reply_error(c, API_E_VALUE,
				   "unknown class '%s' (classes: AppVM, TemplateVM, StandaloneVM, "
				   "DispVM)",
				   req->call + 16);
	else
		client_reply_error(c, API_E_PROTOCOL, "unknown call '%s'", req->call);
}
