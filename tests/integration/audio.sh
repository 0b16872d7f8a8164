#!/bin/bash
# Sound from qubes, end to end (issue 12), on a host without a sound card: the test's own host
# PipeWire (pipewire-lib.sh) with null sinks as speakers and microphone, the real compositor
# (headless; it hands bulkheadd the connection to that PipeWire), bulkheadd, and two qubes of the
# Debian template, whose own PulseAudio and audio guest half carry what their programs play.
# - a tone played by pacat in `work` reaches the host's speakers with its frequency and level,
#   as one stream named after the qube with its label as a property; two qubes are two streams,
#   each with its own tone (recorded per stream);
# - volume and mute from `bulkhead audio` show in the host's mixer and in what is recorded;
# - the microphone: without the grant the qube records silence; granted (policy allow), it
#   records the tone the test plays into the host's microphone, the panel shows the mark in the
#   qube's colour; granting it to the other qube, or `mic off`, stops it at once;
# - the host's PipeWire restarts: the qube's sound comes back by itself; the qube restarts: too;
# - a hostile qube (root in it) writes garbage, an oversized frame and a flood on its audio port:
#   bulkheadd says it broke the protocol, its sound ends, the other qube's tone plays on.
# Under TCG the Debian qubes take a while: everything is polled with generous bounds.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pipewire-lib.sh"

COMPOSITOR=$BULKHEAD_BUILD/compositor/bulkhead-compositor
AUDIO_HOST=$BULKHEAD_BUILD/audio/bulkhead-audio-host
PANEL=$BULKHEAD_SRC/tests/integration/panel-helper.py
for f in "$COMPOSITOR" "$AUDIO_HOST" "$BULKHEAD_WAYLAND_PROXY"; do
	[ -x "$f" ] || { echo "SKIP: $f not built"; exit 77; }
done
for tool in pactl parec pacat sox pipewire wireplumber pipewire-pulse dbus-run-session grim python3; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool missing"; exit 77; }
done
BLUE=3465a4
GREEN=73d216

# The host's sound server and its "sound card": speakers (the default sink) and a microphone (a
# null sink the test plays into, whose monitor is the default source).
XDG=$T/xdg
host_devices() {
	pw_pactl "$XDG" load-module module-null-sink sink_name=speakers >/dev/null &&
		pw_pactl "$XDG" load-module module-null-sink sink_name=hostmic >/dev/null &&
		pw_pactl "$XDG" set-default-sink speakers &&
		pw_pactl "$XDG" set-default-source hostmic.monitor
}
pipewire_up "$XDG" || fail "the host's PipeWire did not start"
host_devices || fail "cannot make the host's null sinks"

env -u WAYLAND_DISPLAY -u DISPLAY -u PIPEWIRE_REMOTE XDG_RUNTIME_DIR="$XDG" HOME="$XDG" \
	WLR_BACKENDS=headless WLR_RENDERER=pixman WLR_HEADLESS_OUTPUTS=1 WLR_LIBINPUT_NO_DEVICES=1 \
	"$COMPOSITOR" >"$T/compositor.log" 2>&1 &
COMPOSITOR_PID=$!
CTL=$XDG/bulkhead-compositor.ctl
for _ in $(seq 300); do
	[ -S "$CTL" ] && [ -S "$XDG/wayland-0" ] && break
	kill -0 "$COMPOSITOR_PID" 2>/dev/null || { cat "$T/compositor.log" >&2; fail "the compositor exited"; }
	sleep 0.1
done
[ -S "$CTL" ] || fail "the compositor's control socket did not appear"
BG_PIDS=()
audio_cleanup() {
	local rc=$? p
	set +e # the status is lib.sh's cleanup's to report
	for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	kill "$COMPOSITOR_PID" 2>/dev/null
	wait "$COMPOSITOR_PID" 2>/dev/null
	pipewire_down "$XDG"
	(exit "$rc")
	cleanup
}
trap audio_cleanup EXIT

seed_template debian-12
cat >"$BULKHEAD_POLICY_DIR/50-test.policy" <<'P'
bulkhead.AudioInput  *  work      @adminvm  allow
bulkhead.AudioInput  *  personal  @adminvm  allow
P
export BULKHEAD_GUI_CONTROL=$CTL
start_daemon
bh create work --template debian-12 --label blue >/dev/null || fail "create work"
bh create personal --template debian-12 --label green >/dev/null || fail "create personal"

# --- helpers ---------------------------------------------------------------------------------

# stream QUBE: the index of QUBE's stream in the host's mixer (pactl), or nothing.
stream() {
	pw_pactl "$XDG" -f json list sink-inputs 2>/dev/null | python3 -c '
import json, sys
for s in json.load(sys.stdin):
    if s["properties"].get("application.name") == sys.argv[1]:
        print(s["index"]); break' "$1"
}
# stream_prop QUBE KEY: a property or field of QUBE's stream (volume: the first channel's %).
stream_prop() {
	pw_pactl "$XDG" -f json list sink-inputs 2>/dev/null | python3 -c '
import json, sys
for s in json.load(sys.stdin):
    if s["properties"].get("application.name") == sys.argv[1]:
        k = sys.argv[2]
        if k == "volume":
            print(next(iter(s["volume"].values()))["value_percent"])
        elif k == "mute":
            print(str(s["mute"]).lower())
        else:
            print(s["properties"].get(k, ""))
        break' "$1" "$2"
}
wait_stream() { # QUBE SECONDS
	local i
	for i in $(seq "$2"); do
		[ -n "$(stream "$1")" ] && return 0
		sleep 1
	done
	pw_pactl "$XDG" list sink-inputs >&2
	fail "no stream of $1 in the host's mixer after $2 s"
}
# record FILE SECONDS PAREC_ARGS...: mono s16 at 48 kHz from the host's server.
record() {
	local file=$1 secs=$2
	shift 2
	timeout -s INT "$secs" env XDG_RUNTIME_DIR="$XDG" parec --raw --format=s16le --rate=48000 \
		--channels=1 --latency-msec=20 "$@" >"$file" 2>/dev/null || true # timeout ends it
}
# tone FILE: "FREQUENCY RMS" of a recording (sox's rough frequency and RMS amplitude).
tone() {
	[ -s "$1" ] || { echo "0 0"; return; }
	sox -t raw -r 48000 -e signed -b 16 -c 1 "$1" -n stat 2>&1 |
		awk '/^Rough +frequency/ { f = $3 } /^RMS +amplitude/ { r = $3 } END { print f + 0, r + 0 }'
}
is_tone() { # FILE FREQ: within 3 % of FREQ and clearly audible
	local f r
	read -r f r <<<"$(tone "$1")"
	awk -v f="$f" -v r="$r" -v want="$2" 'BEGIN { exit !(f > want * 0.97 && f < want * 1.03 && r > 0.1) }'
}
is_silent() { # FILE
	local f r
	read -r f r <<<"$(tone "$1")"
	awk -v r="$r" 'BEGIN { exit !(r < 0.005) }'
}
# wait_tone WHAT FREQ SECONDS PAREC_ARGS...: until a 2 s recording holds the tone.
wait_tone() {
	local what=$1 freq=$2 secs=$3 i
	shift 3
	for i in $(seq $((secs / 3))); do
		record "$T/rec.raw" 2 "$@"
		is_tone "$T/rec.raw" "$freq" && return 0
		sleep 1
	done
	fail "$what: no $freq Hz tone after $secs s (last: $(tone "$T/rec.raw"))"
}
# wait_silence WHAT SECONDS PAREC_ARGS...
wait_silence() {
	local what=$1 secs=$2 i
	shift 2
	for i in $(seq $((secs / 3))); do
		record "$T/rec.raw" 2 "$@"
		is_silent "$T/rec.raw" && return 0
		sleep 1
	done
	fail "$what: still sound after $secs s (last: $(tone "$T/rec.raw"))"
}
# A tone file, played in a loop in QUBE by pacat through the qube's own PulseAudio.
make_tone() { sox -n -r 48000 -c 2 -b 16 -e signed -t raw "$T/tone$1.raw" synth 8 sine "$1" vol 0.5; }
play_in() { # QUBE FREQ
	bh run -p "$1" sh -c 'cat >/tmp/tone.raw' <"$T/tone$2.raw" || fail "copy the tone into $1"
	# setsid -f, without the command's output: the loop outlives the command, which `bulkhead
	# run` waits for (and for its output to end).
	bh run -p "$1" sh -c 'setsid -f sh -c "while :; do pacat --raw --format=s16le --rate=48000 --channels=2 /tmp/tone.raw || sleep 1; done" </dev/null >/dev/null 2>&1' ||
		fail "play in $1"
}
stop_play() { bh run -p "$1" sh -c 'pkill -f "while :" ; pkill pacat; true' || true; }
# record_in QUBE FILE SECONDS: what the qube's default source (its microphone) records.
record_in() {
	bh run -p "$1" sh -c "timeout -s INT $3 parec --raw --format=s16le --rate=48000 --channels=1 --latency-msec=20 2>/dev/null; true" >"$2" ||
		fail "record in $1"
}
wait_field() { # QUBE KEY VALUE SECONDS
	local i got
	for i in $(seq "$4"); do
		got=$(bh audio "$1" --json | python3 -c 'import json,sys; print(str(json.load(sys.stdin)[sys.argv[1]]).lower())' "$2")
		[ "$got" = "$3" ] && return 0
		sleep 1
	done
	fail "$1's $2 is '$got', not '$3' after $4 s"
}
make_tone 440
make_tone 660
make_tone 880

# --- playback --------------------------------------------------------------------------------

log "two Debian qubes start; what one plays is one stream in the host's mixer, named after it"
bh start work personal || fail "start"
# A qube's stream exists while it plays (the guest half opens it on the first sound, and closes
# it after a while of silence), like any application's.
for _ in $(seq 300); do
	[ -n "$(bh run -p work sh -c 'test -S "$XDG_RUNTIME_DIR/pulse/native" && echo up' 2>/dev/null)" ] && break
	sleep 1
done
play_in work 440
wait_stream work 300
[ "$(stream_prop work bulkhead.label)" = blue ] || fail "work's stream label: '$(stream_prop work bulkhead.label)'"
[ "$(stream_prop work media.name)" = work ] || fail "work's stream media.name: '$(stream_prop work media.name)'"
env XDG_RUNTIME_DIR="$XDG" wpctl status | grep -q "work" || fail "wpctl status does not show work"

log "the tone played in work reaches the host's speakers with its frequency and level"
wait_tone "speakers, work playing" 440 120 -d speakers.monitor
wait_field work playing true 30

log "two qubes at once: two streams, each with its own tone"
play_in personal 660
wait_stream personal 300
[ "$(stream_prop personal bulkhead.label)" = green ] || fail "personal's stream label"
wait_tone "work's stream" 440 120 --monitor-stream="$(stream work)"
wait_tone "personal's stream" 660 120 --monitor-stream="$(stream personal)"

log "volume and mute, from bulkhead audio to the host's mixer"
bh audio work volume 50 || fail "volume 50"
for _ in $(seq 30); do [ "$(stream_prop work volume)" = 50% ] && break; sleep 1; done
[ "$(stream_prop work volume)" = 50% ] || fail "work's stream volume is $(stream_prop work volume)"
bh audio work volume 100 || fail "volume 100"
bh audio work mute || fail "mute"
for _ in $(seq 30); do [ "$(stream_prop work mute)" = true ] && break; sleep 1; done
[ "$(stream_prop work mute)" = true ] || fail "work's stream is not muted in the mixer"
# Only personal's tone is left on the speakers.
wait_tone "speakers with work muted" 660 60 -d speakers.monitor
bh audio work unmute || fail "unmute"
for _ in $(seq 30); do [ "$(stream_prop work mute)" = false ] && break; sleep 1; done
stop_play personal
wait_tone "speakers, work unmuted" 440 60 -d speakers.monitor

# --- microphone ------------------------------------------------------------------------------

log "the microphone: silence without the grant"
pacat_host() { env XDG_RUNTIME_DIR="$XDG" pacat --raw --format=s16le --rate=48000 --channels=2 -d hostmic "$@"; }
( while :; do pacat_host "$T/tone880.raw" || sleep 1; done ) &
BG_PIDS+=($!)
record "$T/hostmic.raw" 2 -d hostmic.monitor
is_tone "$T/hostmic.raw" 880 || fail "the host's microphone has no tone: $(tone "$T/hostmic.raw")"
record_in work "$T/in.raw" 3
is_silent "$T/in.raw" || fail "work records from the host's microphone without the grant: $(tone "$T/in.raw")"

log "granted: work records the host's microphone; the panel shows the mark in blue"
bh audio work mic on || fail "mic on"
wait_field work recording true 60
record_in work "$T/in.raw" 4
is_tone "$T/in.raw" 880 || fail "work does not record the host's microphone: $(tone "$T/in.raw")"
chip=$(python3 "$PANEL" chip "$CTL" work Running 60) || fail "work's chip: $chip"
IFS=$'\t' read -r _ _ _ _ x y w h <<<"$chip"
env XDG_RUNTIME_DIR="$XDG" WAYLAND_DISPLAY=wayland-0 grim "$T/panel.png" || fail "grim"
python3 "$PANEL" mic "$T/panel.png" "$x" "$y" "$w" "$h" "$BLUE" yes || fail "no microphone mark on work's chip"
chip=$(python3 "$PANEL" chip "$CTL" personal Running 60) || fail "personal's chip: $chip"
IFS=$'\t' read -r _ _ _ _ x y w h <<<"$chip"
python3 "$PANEL" mic "$T/panel.png" "$x" "$y" "$w" "$h" "$GREEN" no || fail "a microphone mark on personal's chip"

log "granting it to personal takes it from work at once"
bh audio personal mic on || fail "mic on personal"
wait_field work recording false 30
record_in work "$T/in.raw" 3
is_silent "$T/in.raw" || fail "work still records after personal got the microphone: $(tone "$T/in.raw")"
record_in personal "$T/in.raw" 4
is_tone "$T/in.raw" 880 || fail "personal does not record the host's microphone: $(tone "$T/in.raw")"
bh audio personal mic off || fail "mic off"
wait_field personal recording false 30
record_in personal "$T/in.raw" 3
is_silent "$T/in.raw" || fail "personal still records after mic off: $(tone "$T/in.raw")"
env XDG_RUNTIME_DIR="$XDG" WAYLAND_DISPLAY=wayland-0 grim "$T/panel.png" || fail "grim"
python3 "$PANEL" mic "$T/panel.png" "$x" "$y" "$w" "$h" "$GREEN" no || fail "the mark stayed on personal's chip"

# --- restarts --------------------------------------------------------------------------------

log "the host's PipeWire restarts: work's sound comes back by itself"
pipewire_down "$XDG"
pipewire_up "$XDG" || fail "the host's PipeWire did not start again"
host_devices || fail "cannot make the host's null sinks again"
wait_stream work 120
wait_tone "speakers after the sound server's restart" 440 120 -d speakers.monitor

log "work restarts: its stream comes back"
stop_play work
bh shutdown --wait work || fail "shutdown work"
bh start work || fail "start work again"
for _ in $(seq 300); do
	[ -n "$(bh run -p work sh -c 'test -S "$XDG_RUNTIME_DIR/pulse/native" && echo up' 2>/dev/null)" ] && break
	sleep 1
done
play_in work 440
wait_stream work 300
wait_tone "speakers after work's restart" 440 120 -d speakers.monitor --monitor-stream="$(stream work)"
stop_play work

# --- a hostile qube --------------------------------------------------------------------------

log "a hostile qube: garbage on its audio port ends its sound only"
play_in personal 660
wait_stream personal 120
wait_tone "personal before work turns hostile" 660 120 --monitor-stream="$(stream personal)"
# Root in work replaces its guest half with one that sends a HELLO, then PLAY_DATA before any
# PLAY_START and ten times longer than the cap, then garbage (the agent starts it again with the
# port as fd 3). The first of these must end work's sound.
cat >"$T/hostile" <<'H'
#!/bin/sh
printf '\100\000\000\000\000\000\000\000\004\000\000\000\001\000\000\000' >&3
printf '\102\000\000\000\000\000\000\000\000\000\001\000' >&3
head -c 200000 /dev/urandom >&3
exec sleep 3600
H
bh run -p --user root work sh -c 'cat >/usr/bin/bh-hostile && chmod 0755 /usr/bin/bh-hostile &&
	mv -f /usr/bin/bh-hostile /usr/bin/bulkhead-audio-guest &&
	pkill -f "^/usr/bin/bulkhead-audio-guest"; true' <"$T/hostile" || fail "the hostile guest half"
for _ in $(seq 90); do
	grep -q "qube work broke the audio protocol" "$T/bulkheadd.log" && break
	sleep 1
done
grep -q "qube work broke the audio protocol" "$T/bulkheadd.log" ||
	fail "bulkheadd did not report work's protocol violation"
[ -z "$(stream work)" ] || fail "work's stream is still in the host's mixer"
wait_tone "personal while work is hostile" 660 60 --monitor-stream="$(stream personal)"
bh ls >/dev/null || fail "bulkheadd stopped answering"
stop_play personal
log "ok"
