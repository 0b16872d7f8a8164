/* bulkhead audio: a qube's sound (vmmanager/audio.h): its volume and mute in the host's mixer,
 * the microphone grant, and whether it plays or records now. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "util.h"

#define VOLUME_MAX 150 /* vmmanager/audio.h AUDIO_VOLUME_MAX; bulkheadd checks it again */

static bool get_bool(struct json_object *o, const char *key)
{
	struct json_object *v;
	return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

static int show(const char *name, bool json)
{
	struct json_object *result = NULL, *v;
	int r = cli_call("admin.vm.audio.Get", name, "", NULL, &result);

	if (r)
		return r;
	if (json) {
		puts(json_object_to_json_string_ext(result, JSON_C_TO_STRING_PLAIN));
		json_object_put(result);
		return CLI_EXIT_OK;
	}
	int volume = json_object_object_get_ex(result, "volume", &v) ? json_object_get_int(v) : 0;
	printf("volume     %d%%\n", volume);
	printf("mute       %s\n", get_bool(result, "mute") ? "yes" : "no");
	printf("mic        %s\n", get_bool(result, "mic") ? "on" : "off");
	printf("playing    %s\n", get_bool(result, "playing") ? "yes" : "no");
	printf("recording  %s\n", get_bool(result, "recording") ? "yes" : "no");
	if (!get_bool(result, "enabled"))
		printf("(the qube has no sound: its feature 'audio' is off, or its GUI is)\n");
	json_object_put(result);
	return CLI_EXIT_OK;
}

static int set(const char *name, const char *key, struct json_object *value)
{
	struct json_object *p = json_object_new_object();
	json_object_object_add(p, key, value);
	int r = cli_call("admin.vm.audio.Set", name, "", p, NULL);
	json_object_put(p);
	return r;
}

int cmd_audio(const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	bool json = false;
	int c;

	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		if (c == 'j')
			json = true;
		else
			return cli_getopt_default(cmd, c);
	}
	int n = argc - optind;
	if (n < 1)
		return cli_usage_error(cmd, "audio needs a qube NAME");
	const char *name = argv[optind];
	const char *what = n > 1 ? argv[optind + 1] : NULL;
	if (!what)
		return show(name, json);
	if (json)
		return cli_usage_error(cmd, "--json only goes with showing the state");
	if (streq(what, "volume")) {
		if (n != 3)
			return cli_usage_error(cmd, "volume needs one value, 0 to %d (percent)",
					       VOLUME_MAX);
		const char *s = argv[optind + 2];
		size_t len = strlen(s);
		if (len > 0 && s[len - 1] == '%')
			len--;
		char *end;
		long v = len ? strtol(s, &end, 10) : -1;
		if (len == 0 || len > 3 || end != s + len || s[0] == '-' || s[0] == '+' || v < 0 ||
		    v > VOLUME_MAX)
			return cli_usage_error(
			    cmd, "invalid volume '%s': a whole number from 0 to %d", s, VOLUME_MAX);
		return set(name, "volume", json_object_new_int((int)v));
	}
	if (streq(what, "mute") || streq(what, "unmute")) {
		if (n != 2)
			return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + 2]);
		return set(name, "mute", json_object_new_boolean(streq(what, "mute")));
	}
	if (streq(what, "mic")) {
		const char *onoff = n == 3 ? argv[optind + 2] : "";
		if (!streq(onoff, "on") && !streq(onoff, "off"))
			return cli_usage_error(cmd, "mic takes 'on' or 'off'");
		return cli_call("admin.vm.audio.Mic", name, onoff, NULL, NULL);
	}
	return cli_usage_error(cmd, "unknown audio action '%s' (volume, mute, unmute, mic)", what);
}
