/* admin.vm.audio.Get, Set, Mic: a qube's sound (audio.h). */
#include "api-handlers.h"
#include "api-request.h"
#include "api-server.h"
#include "api-util.h"
#include "api.h"
#include "audio.h"
#include "daemon.h"
#include "log.h"
#include "qube.h"
#include "rpc-policy.h"
#include "rpc.h"
#include "util.h"

#define AUDIO_INPUT_SERVICE "bulkhead.AudioInput"

static void audio_get(struct client *c, struct vm *vm)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "enabled", json_object_new_boolean(audio_qube_enabled(vm->q)));
	json_object_object_add(o, "volume", json_object_new_int((int)audio_volume(vm->q)));
	json_object_object_add(o, "mute", json_object_new_boolean(audio_muted(vm->q)));
	json_object_object_add(o, "mic",
			       json_object_new_boolean(audio_mic_holder(vm->daemon) == vm));
	json_object_object_add(o, "recording", json_object_new_boolean(audio_recording(vm)));
	json_object_object_add(o, "playing", json_object_new_boolean(audio_playing(vm)));
	client_reply_ok(c, o);
}

/* Both checked before anything is saved: a bad value changes nothing. */
static void audio_set(struct daemon *d, struct client *c, struct vm *vm,
		      const struct api_request *req)
{
	struct json_object *vol = NULL, *mute = NULL;
	struct qube *copy = NULL;
	char buf[16];

	if (req->payload && json_object_is_type(req->payload, json_type_object)) {
		json_object_object_get_ex(req->payload, "volume", &vol);
		json_object_object_get_ex(req->payload, "mute", &mute);
	}
	if (!vol && !mute) {
		client_reply_error(c, API_E_VALUE, "payload needs \"volume\" (0 to %d) or \"mute\"",
				   AUDIO_VOLUME_MAX);
		return;
	}
	int64_t v = 0;
	if (vol) {
		v = json_object_get_int64(vol);
		if (!json_object_is_type(vol, json_type_int) || v < 0 || v > AUDIO_VOLUME_MAX) {
			client_reply_error(c, API_E_VALUE,
					   "the volume is a whole number of percent from 0 to %d",
					   AUDIO_VOLUME_MAX);
			return;
		}
	}
	if (mute && !json_object_is_type(mute, json_type_boolean)) {
		client_reply_error(c, API_E_VALUE, "\"mute\" is true or false");
		return;
	}
	if (qube_dup(vm->q, vm->q->name, &copy) < 0) {
		client_reply_error(c, API_E_VM, "out of memory");
		return;
	}
	int r = 0;
	if (vol) {
		snprintf(buf, sizeof(buf), "%d", (int)v);
		r = qube_feature_set(copy, AUDIO_FEATURE_VOLUME, buf);
	}
	if (r == 0 && mute)
		r = qube_feature_set(copy, AUDIO_FEATURE_MUTE,
				     json_object_get_boolean(mute) ? "1" : "0");
	if (r < 0) {
		qube_free(copy);
		client_reply_error(c, API_E_VALUE, "'%s': cannot keep its sound settings: %s",
				   vm->q->name, strerror(-r));
		return;
	}
	if (commit_change(d, c, vm, copy) < 0)
		return;
	log_info("qube %s: sound volume %u%%%s", vm->q->name, audio_volume(vm->q),
		 audio_muted(vm->q) ? ", muted" : "");
	audio_settings_changed(d, vm);
	client_reply_ok(c, NULL);
}

void h_audio(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct vm *vm = dest_vm(d, c, req);

	if (!vm)
		return;
	if (streq(req->call, "admin.vm.audio.Get"))
		audio_get(c, vm);
	else
		audio_set(d, c, vm, req);
}

/* A `mic on` the prompt decides: who asked, for which qube (by name: it may go meanwhile). */
struct mic_ask {
	struct client *c;
	uint64_t serial;
	char qube[]; /* one block: whoever frees it frees all */
};

static void mic_answered(struct daemon *d, void *opaque, bool allowed, const char *why)
{
	struct mic_ask *m = opaque;
	struct client *c = client_lookup(d, m->c, m->serial);
	struct vm *vm = daemon_find_vm(d, m->qube);

	if (!allowed) {
		if (c)
			client_reply_error(c, API_E_PERMISSION,
					   "the microphone was not granted to '%s': %s", m->qube,
					   why);
	} else if (!vm) {
		if (c)
			client_reply_error(c, API_E_NOT_FOUND, "no such qube '%s'", m->qube);
	} else {
		audio_mic_set(d, vm, true);
		if (c)
			client_reply_ok(c, NULL);
	}
	free(m);
}

void h_audio_mic(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct vm *vm = dest_vm(d, c, req);
	struct rpc_policy_decision dec = {0};
	char reason[256];

	if (!vm)
		return;
	if (streq(req->arg, "off")) {
		audio_mic_set(d, vm, false);
		client_reply_ok(c, NULL);
		return;
	}
	if (!streq(req->arg, "on")) {
		client_reply_error(c, API_E_VALUE, "the microphone is \"on\" or \"off\"");
		return;
	}
	if (audio_mic_holder(d) == vm) {
		client_reply_ok(c, NULL);
		return;
	}
	/* Like a call from the qube to a host service: the qube as source, the host as target. */
	int r = rpc_policy_decide(d, vm->q->name, "@adminvm", AUDIO_INPUT_SERVICE, &dec, reason,
				  sizeof(reason));
	if (r < 0 || dec.action == RPC_DENY) {
		log_info("%s from %s to the host: denied (%s)", AUDIO_INPUT_SERVICE, vm->q->name,
			 reason);
		client_reply_error(c, API_E_PERMISSION,
				   "the policy does not grant the microphone to '%s' (%s)",
				   vm->q->name, reason);
	} else if (dec.action == RPC_ALLOW) {
		log_info("%s from %s to the host: allowed (%s)", AUDIO_INPUT_SERVICE, vm->q->name,
			 dec.rule ? dec.rule : "-");
		audio_mic_set(d, vm, true);
		client_reply_ok(c, NULL);
	} else {
		struct mic_ask *m = xcalloc(1, sizeof(*m) + strlen(vm->q->name) + 1);
		m->c = c;
		m->serial = client_serial(c);
		strcpy(m->qube, vm->q->name);
		if (rpc_host_ask(d, vm->q->name, "@adminvm", &dec, mic_answered, m) < 0) {
			free(m);
			client_reply_error(
			    c, API_E_PERMISSION,
			    "the policy asks before granting the microphone to '%s', "
			    "and no prompt is available",
			    vm->q->name);
		}
	}
	rpc_policy_decision_finish(&dec);
}
