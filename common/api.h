/*
 * The host API between `bulkhead` and bulkheadd on /run/bulkhead/api.sock, named like the Qubes
 * Admin API. One table, used by the daemon (dispatch) and the CLI (names).
 *
 * Transport: frames of common/proto.h. The client sends one CHAN_API_REQUEST (stream 0) whose
 * payload is a JSON object
 *     {"call": "admin.vm.Start", "dest": "work", "arg": "", "payload": <any JSON or absent>}
 * and gets one CHAN_API_REPLY
 *     {"ok": true, "result": <JSON>}   or   {"ok": false, "error": "<Qubes exception name>",
 *                                          "message": "<text for a human>"}
 * A connection may carry several requests in sequence, except after admin.vm.Run (the connection
 * then carries stream 1's STDIN/STDOUT/STDERR/WINDOW/SIGNAL/EXIT frames until EXIT) and
 * admin.Events (CHAN_API_EVENT frames follow until the client hangs up).
 *
 * The caller is identified by SO_PEERCRED: root and members of the `bulkhead` group act as dom0;
 * anyone else gets QubesPermissionDenied. A request over CHAN_MAX_PAYLOAD is refused with
 * QubesProtocolError before it is read.
 *
 * Calls (dest = qube name unless noted; arg as noted; payload JSON as noted; result JSON):
 *   admin.vm.List            dest "" for all or a name -> [qube], qube = {"name","class","state",
 *                            "label","template","netvm","memory","maxmem","vcpus",...,
 *                            "audio_recording": true while it records (absent otherwise)}
 *   admin.vm.Create.<Class>  dest "", payload {"name","label","template"?,"props"?:{k:v}} -> null
 *                            Class: AppVM, TemplateVM, StandaloneVM, DispVM
 *   admin.vm.Clone           dest SRC, payload {"name": DST} -> null
 *   admin.vm.Remove          -> null
 *   admin.vm.Start           -> null (returns once the agent said hello)
 *   admin.vm.Shutdown        payload {"force": bool, "timeout": seconds} -> null (returns halted)
 *   admin.vm.Kill / Pause / Unpause -> null
 *   admin.vm.property.List   -> {"key": {"value": string, "default": bool}, ...}
 *   admin.vm.property.Get    arg KEY -> {"value": string, "default": bool}
 *   admin.vm.property.Set    arg KEY, payload {"value": string} -> null
 *   admin.vm.property.Reset  arg KEY -> null
 *   admin.vm.feature.List    -> {"k": "v", ...};  .Get arg K -> "v";  .Set arg K payload
 *                            {"value": "v"};  .Remove arg K
 *   admin.vm.apps.List       -> {"synced": epoch (0: never), "apps": [{"id": "x.desktop", "name",
 *                            "shown": bool (the menu-items feature), "icon": bool}]}
 *   admin.vm.apps.Sync       payload {"autostart": bool} -> as List, once the qube's list and
 *                            icons were fetched, checked and stored (the old list stays on error)
 *   admin.vm.apps.Icon       arg ID -> {"png": base64 PNG made by the host}
 *   admin.vm.apps.Run        arg ID, payload {"autostart": bool} -> null once the qube's
 *                            bulkhead.StartApp started it
 *   admin.vm.tag.List        -> ["t", ...];  .Get arg T -> bool;  .Set arg T;  .Remove arg T
 *   admin.vm.volume.List     -> [{"name","size","usage","path","persistent","readonly"}]
 *   admin.vm.volume.Resize   arg VOLUME, payload {"size": bytes} -> null (grow only)
 *   admin.vm.volume.Info     arg VOLUME -> {"name","size","usage","path","persistent",
 *                            "readonly","revisions_to_keep"?,"revisions": ["N", ...] newest
 *                            first} (revisions: a template's root only)
 *   admin.vm.volume.Revert   arg VOLUME, payload {"revision": "N"} (absent: the newest) ->
 *                            {"revision": "N"} (qvm-volume revert; a halted template's root)
 *   admin.vm.Run             payload {"user": "", "argv": [..], "autostart": bool} -> null, then
 *                            stream 1 frames
 *   admin.vm.Echo            payload {"data": string} -> {"data": string} (one ECHO round trip
 *                            over the qube's channel; used by bench/)
 *   admin.vm.Console         payload {"tail": bytes} -> {"log": string}
 *   admin.vm.audio.Get       -> {"enabled": bool (the qube has the audio port), "volume": 0..150
 *                            (percent), "mute": bool, "mic": bool (it holds the microphone
 *                            grant), "recording": bool, "playing": bool (what its host half
 *                            last said; false while none runs)} (vmmanager/audio.h)
 *   admin.vm.audio.Set       payload {"volume": 0..150} and/or {"mute": bool} -> null; kept in
 *                            the qube's features audio-volume, audio-mute; applied live
 *   admin.vm.audio.Mic       arg "on" or "off" -> null. "on" is decided by the policy for
 *                            bulkhead.AudioInput from the qube to @adminvm (ask: the trusted
 *                            prompt; deny: QubesPermissionDenied, nothing changed) and takes
 *                            the grant from the qube that held it; in memory only
 *   admin.Events             dest "" -> null, then CHAN_API_EVENT {"event","vm",...}; among
 *                            them "audio-state" {"recording","playing"} and "audio-mic"
 *   admin.host.Info          dest "" -> {"version","hypervisor":"kvm"|"tcg","warning"?,...}
 *   admin.property.List      dest "": host-wide settings (Qubes' qubes-prefs), as
 *                            admin.vm.property.List; .Get arg KEY; .Set arg KEY payload
 *                            {"value": v}; .Reset arg KEY. Keys: default_netvm (a qube with
 *                            provides_network, or "" for none)
 *   admin.template.Build     arg FLAVOUR ("minimal" or "debian"), payload {"name": qube name,
 *                            "progress": bool} -> null; with "progress", CHAN_API_EVENT
 *                            {"event": "template-build-progress", "vm", "line": "[N/M] what"}
 *                            frames come before the reply, one per stage begun
 *   admin.policy.Prompt      dest "" -> null; the connection becomes the trusted prompt for
 *                            `ask`: CHAN_API_EVENT {"event":"ask","id":N,"source","target",
 *                            "service","argument","targets":[..],"default_target":T|null}
 *                            follow, each answered on the same connection with
 *   admin.policy.Answer      arg "N", payload {"target": T} to allow to T (one of "targets"),
 *                            or {"target": null} to deny -> null
 *   admin.policy.Check       dest TARGET (as a call names it), arg SERVICE[+ARG], payload
 *                            {"source": QUBE} -> {"result": "allow"|"ask"|"deny", "target": T
 *                            (allow: resolved) | null, "line": "FILE:N" | null, "targets": [..]
 *                            and "default_target" (ask), "reason" (deny)}: what the policy says
 *                            about a call, decided exactly as the RPC router decides one, without
 *                            making it. The compositor asks it before a clipboard paste
 *                            (bulkhead.ClipboardPaste from the copy's source to the focused qube).
 *                            Like the prompt calls, never available to qubes.
 *   admin.gui.Register       dest "", payload {"control": PATH} -> null: the compositor of the
 *                            user's session says where its control socket is (a socket owned
 *                            by the caller's uid); qubes' windows go there while this
 *                            connection stays open (vmmanager/gui.h). Never available to qubes.
 */
#pragma once

#define API_CALLS(X)                                                                               \
	X(VM_LIST, "admin.vm.List")                                                                \
	X(VM_CREATE_APPVM, "admin.vm.Create.AppVM")                                                \
	X(VM_CREATE_TEMPLATEVM, "admin.vm.Create.TemplateVM")                                      \
	X(VM_CREATE_STANDALONEVM, "admin.vm.Create.StandaloneVM")                                  \
	X(VM_CREATE_DISPVM, "admin.vm.Create.DispVM")                                              \
	X(VM_CLONE, "admin.vm.Clone")                                                              \
	X(VM_REMOVE, "admin.vm.Remove")                                                            \
	X(VM_START, "admin.vm.Start")                                                              \
	X(VM_SHUTDOWN, "admin.vm.Shutdown")                                                        \
	X(VM_KILL, "admin.vm.Kill")                                                                \
	X(VM_PAUSE, "admin.vm.Pause")                                                              \
	X(VM_UNPAUSE, "admin.vm.Unpause")                                                          \
	X(VM_PROPERTY_LIST, "admin.vm.property.List")                                              \
	X(VM_PROPERTY_GET, "admin.vm.property.Get")                                                \
	X(VM_PROPERTY_SET, "admin.vm.property.Set")                                                \
	X(VM_PROPERTY_RESET, "admin.vm.property.Reset")                                            \
	X(VM_FEATURE_LIST, "admin.vm.feature.List")                                                \
	X(VM_FEATURE_GET, "admin.vm.feature.Get")                                                  \
	X(VM_FEATURE_SET, "admin.vm.feature.Set")                                                  \
	X(VM_FEATURE_REMOVE, "admin.vm.feature.Remove")                                            \
	X(VM_APPS_LIST, "admin.vm.apps.List")                                                      \
	X(VM_APPS_SYNC, "admin.vm.apps.Sync")                                                      \
	X(VM_APPS_ICON, "admin.vm.apps.Icon")                                                      \
	X(VM_APPS_RUN, "admin.vm.apps.Run")                                                        \
	X(VM_TAG_LIST, "admin.vm.tag.List")                                                        \
	X(VM_TAG_GET, "admin.vm.tag.Get")                                                          \
	X(VM_TAG_SET, "admin.vm.tag.Set")                                                          \
	X(VM_TAG_REMOVE, "admin.vm.tag.Remove")                                                    \
	X(VM_FIREWALL_GET, "admin.vm.firewall.Get")                                                \
	X(VM_FIREWALL_SET, "admin.vm.firewall.Set")                                                \
	X(VM_VOLUME_LIST, "admin.vm.volume.List")                                                  \
	X(VM_VOLUME_RESIZE, "admin.vm.volume.Resize")                                              \
	X(VM_VOLUME_INFO, "admin.vm.volume.Info")                                                  \
	X(VM_VOLUME_REVERT, "admin.vm.volume.Revert")                                              \
	X(VM_RUN, "admin.vm.Run")                                                                  \
	X(VM_ECHO, "admin.vm.Echo")                                                                \
	X(VM_CONSOLE, "admin.vm.Console")                                                          \
	X(VM_AUDIO_GET, "admin.vm.audio.Get")                                                      \
	X(VM_AUDIO_SET, "admin.vm.audio.Set")                                                      \
	X(VM_AUDIO_MIC, "admin.vm.audio.Mic")                                                      \
	X(EVENTS, "admin.Events")                                                                  \
	X(HOST_INFO, "admin.host.Info")                                                            \
	X(TEMPLATE_BUILD, "admin.template.Build")                                                  \
	X(POLICY_PROMPT, "admin.policy.Prompt")                                                    \
	X(POLICY_ANSWER, "admin.policy.Answer")                                                    \
	X(POLICY_CHECK, "admin.policy.Check")                                                      \
	X(GUI_REGISTER, "admin.gui.Register")                                                      \
	X(PROPERTY_LIST, "admin.property.List")                                                    \
	X(PROPERTY_GET, "admin.property.Get")                                                      \
	X(PROPERTY_SET, "admin.property.Set")                                                      \
	X(PROPERTY_RESET, "admin.property.Reset")

enum api_call {
#define API_ENUM(id, name) API_##id,
	API_CALLS(API_ENUM)
#undef API_ENUM
	    API_CALL_COUNT
};

/* Error names, as Qubes' exceptions are called. */
#define API_E_NOT_FOUND	  "QubesVMNotFoundError"
#define API_E_VALUE	  "QubesValueError"
#define API_E_NOT_RUNNING "QubesVMNotRunningError"
#define API_E_NOT_HALTED  "QubesVMNotHaltedError"
#define API_E_IN_USE	  "QubesVMInUseError"
#define API_E_NO_SPACE	  "QubesNoSpaceError"
#define API_E_PERMISSION  "QubesPermissionDenied"
#define API_E_PROTOCOL	  "QubesProtocolError"
#define API_E_TIMEOUT	  "QubesTimeoutError"
#define API_E_EXISTS	  "QubesVMExistsError"
#define API_E_VM	  "QubesVMError"
#define API_E_MEMORY	  "QubesMemoryError"

/* Environment overrides, for tests and for running several instances side by side. */
#define BULKHEAD_ENV_SOCKET	   "BULKHEAD_SOCKET"
#define BULKHEAD_ENV_STATE_DIR	   "BULKHEAD_STATE_DIR"
#define BULKHEAD_DEFAULT_SOCKET	   "/run/bulkhead/api.sock"
#define BULKHEAD_DEFAULT_STATE_DIR "/var/lib/bulkhead"
