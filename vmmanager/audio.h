/*
 * The host side of a qube's sound (issue 12; the halves' contract is audio/audio-proto.h).
 *
 * A qube whose feature "audio" is on (default: when its GUI is, gui_qube_enabled) gets the
 * virtio-serial port AUDIO_PORT_NAME, whose host end is a unix socket only bulkheadd opens.
 * When its agent says hello, bulkheadd asks the compositor (control.h, `audio`) for a socket
 * connected to the user's PipeWire, and starts one bulkhead-audio-host for the qube with fd 3 =
 * the port, fd 4 = that socket, fd 5 = a socketpair for control lines. Its exit code decides
 * what follows: AUDIO_EXIT_CLOSED, a new one shortly (the qube's guest half reconnects);
 * AUDIO_EXIT_VIOLATION, none until the qube restarts; anything else, again with backoff and a
 * fresh connection from the compositor.
 *
 * Per qube: a volume (0..AUDIO_VOLUME_MAX %, default 100) and mute, kept in its features
 * (AUDIO_FEATURE_VOLUME, AUDIO_FEATURE_MUTE) and applied live; the microphone grant, in memory
 * only (off for every qube when bulkheadd starts), held by at most one qube at a time.
 */
#pragma once

#include <stdbool.h>

struct daemon;
struct qube;
struct vm;

#define AUDIO_FEATURE	     "audio"
#define AUDIO_FEATURE_VOLUME "audio-volume"
#define AUDIO_FEATURE_MUTE   "audio-mute"
#define AUDIO_VOLUME_MAX     150
#define AUDIO_VOLUME_DEFAULT 100

/* Whether the qube gets the audio port: its feature "audio" if set (off: "", "0", "false",
 * "no"), else whether it has a GUI. */
bool audio_qube_enabled(const struct qube *q);
/* Where QEMU listens for the qube's audio port: RUN_DIR/qubes/audio/NAME.sock. */
char *audio_channel_path(struct daemon *d, const char *qube_name);
char *audio_channel_dir(struct daemon *d);

/* The qube's stored volume (AUDIO_VOLUME_DEFAULT when unset or not a number in range) and mute. */
unsigned audio_volume(const struct qube *q);
bool audio_muted(const struct qube *q);
/* What its host half last said; false while none runs. */
bool audio_recording(const struct vm *vm);
bool audio_playing(const struct vm *vm);
/* The qube holding the microphone, or NULL. */
struct vm *audio_mic_holder(struct daemon *d);

/* The new volume or mute is in vm->q already (saved by the caller): tell its host half. */
void audio_settings_changed(struct daemon *d, struct vm *vm);
/* Grants the microphone to vm (taking it from the qube that held it, which is told at once),
 * or takes it from vm. The policy was asked by the caller. */
void audio_mic_set(struct daemon *d, struct vm *vm, bool on);

/* Logs once at start whether the host half is there. */
void audio_init(struct daemon *d);
/* A compositor registered (gui.c): running qubes' sound starts towards it. */
void audio_compositor_registered(struct daemon *d);
/* The qube's agent said hello: start its host half unless one runs or it may not. */
void audio_qube_ready(struct daemon *d, struct vm *vm);
/* The qube stopped: kill its host half, forget the give-up. The mic grant stays. */
void audio_qube_stopped(struct daemon *d, struct vm *vm);
/* The vm goes away: like stopped, drops its mic grant and frees the state. */
void audio_vm_free(struct daemon *d, struct vm *vm);
