#!/bin/bash
# Sound from qubes (issue 12), both halves for real: a host PipeWire (with WirePlumber and
# pipewire-pulse) standing for the user's, a separate one per "qube" for the guest half, and the
# halves joined by a socketpair as the audio port (audio-helper.py). A tone played in a qube must
# arrive at the host's sink with its frequency and level; each qube is its own stream named after
# it; mute silences it; the microphone flows only while granted; a hostile qube ends only its own
# sound (exit 65); losing the host's sound server ends the host halves with 69. Nothing here
# touches a network.
set -euo pipefail

: "${BULKHEAD_BUILD:?set by meson}"
: "${BULKHEAD_SRC:?set by meson}"
TEST_NAME=audio-halves
. "$(dirname "$0")/pipewire-lib.sh"
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: integration tests run as root"
	exit 77
fi
for p in pipewire wireplumber pipewire-pulse pactl paplay parec sox dbus-run-session python3; do
	command -v "$p" >/dev/null || { echo "SKIP: $p is missing"; exit 77; }
done
HOST_BIN=$BULKHEAD_BUILD/audio/bulkhead-audio-host
GUEST_BIN=$BULKHEAD_BUILD/audio/bulkhead-audio-guest
HELPER=$BULKHEAD_SRC/tests/integration/audio-helper.py
[ -x "$HOST_BIN" ] && [ -x "$GUEST_BIN" ] || { echo "SKIP: the audio halves are not built"; exit 77; }

T=$(mktemp -d /tmp/bht-audio.XXXXXX)
chmod 0755 "$T"
ST=$T/state
mkdir -p "$ST"
PGIDS=()

log() { printf '%s: [%ss] %s\n' "$TEST_NAME" "$SECONDS" "$*"; }
fail() {
	printf '%s: FAIL: %s\n' "$TEST_NAME" "$*" >&2
	for f in "$ST"/*.log "$T"/*.log "$T"/*/pipewire.log; do
		[ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; } >&2
	done
	exit 1
}
cleanup() {
	set +e
	# every process we started leads a process group of its own (setsid)
	for g in "${PGIDS[@]}"; do kill -TERM -- "-$g" 2>/dev/null; done
	sleep 1
	for g in "${PGIDS[@]}"; do kill -KILL -- "-$g" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

# Starts a command in a new session (its own process group); records the group.
spawn() {
	local out=$1
	shift
	setsid "$@" >"$out" 2>&1 </dev/null &
	PGIDS+=($!)
	LAST_PID=$!
}

wait_for() { # SECONDS DESCRIPTION COMMAND...
	local t=$1 what=$2
	shift 2
	for _ in $(seq $((t * 5))); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	fail "timed out waiting for $what"
}

# A sound server (pipewire-lib.sh) with XDG_RUNTIME_DIR=$1; its process group is ended with
# the others.
start_server() {
	pipewire_up "$1" || fail "the sound server in $1 did not start"
	SERVER_PGID=$(cat "$1/pipewire.pid")
	PGIDS+=("$SERVER_PGID")
}
pa() { local d=$1; shift; XDG_RUNTIME_DIR=$d pactl "$@"; }

# Records SECONDS of what the host sink plays (or, with a directory and source, of that) and
# prints "FREQ RMS" from sox's stat, first channel.
record() { # RUNTIME SOURCE SECONDS CHANNELS
	local raw=$T/rec.raw
	XDG_RUNTIME_DIR=$1 timeout "$3" parec -d "$2" --format=s16le --rate=48000 \
		--channels="$4" --raw >"$raw" || true
	sox -t raw -r 48000 -c "$4" -e signed -b 16 "$raw" -n trim 0.5 remix 1 stat 2>&1 |
		awk '/Rough +frequency/ {f=$3} /RMS +amplitude/ {r=$3} END {print f+0, r+0}'
}
expect_tone() { # WHAT FREQ "FREQ RMS"
	local f r
	read -r f r <<<"$3"
	log "$1: ${f} Hz, RMS $r"
	awk -v f="$f" -v want="$2" -v r="$r" 'BEGIN { exit !(f > want * 0.97 && f < want * 1.03 && r > 0.1) }' ||
		fail "$1: wanted a $2 Hz tone, got ${f} Hz at RMS $r"
}
expect_silence() { # WHAT "FREQ RMS"
	local f r
	read -r f r <<<"$2"
	log "$1: RMS $r"
	awk -v r="$r" 'BEGIN { exit !(r < 0.001) }' || fail "$1: wanted silence, got RMS $r"
}

HOST=$T/host
log "starting the host's sound server"
start_server "$HOST"
HOST_SERVER=$SERVER_PGID
pa "$HOST" load-module module-null-sink sink_name=hostout >/dev/null
pa "$HOST" set-default-sink hostout
pa "$HOST" load-module module-null-sink sink_name=hostmic >/dev/null
pa "$HOST" set-default-source hostmic.monitor

for q in q1 q2; do
	log "starting the sound server of $q"
	start_server "$T/$q"
done

sox -n -r 48000 -c 2 -b 16 "$T/tone440.wav" synth 300 sine 440 vol 0.5
sox -n -r 48000 -c 2 -b 16 "$T/tone660.wav" synth 300 sine 660 vol 0.5
sox -n -r 48000 -c 1 -b 16 "$T/tone880.wav" synth 300 sine 880 vol 0.5

ctl() { echo "$2" >"$ST/$1.ctl"; }
reported() { grep -qx "$2" "$ST/$1.reports" 2>/dev/null; }
exited() { [ "$(cat "$ST/$1.exit" 2>/dev/null)" = "$2" ]; }

log "starting both halves for q1 (red) and q2 (blue)"
spawn "$ST/q1.helper.log" python3 "$HELPER" pair "$ST" q1 red "$HOST_BIN" "$HOST" "$GUEST_BIN" "$T/q1"
spawn "$ST/q2.helper.log" python3 "$HELPER" pair "$ST" q2 blue "$HOST_BIN" "$HOST" "$GUEST_BIN" "$T/q2"
for q in q1 q2; do
	wait_for 60 "$q's guest half" grep -q "playing to the host" "$ST/$q.guest.log"
	[ "$(pa "$T/$q" get-default-sink)" = bulkhead ] || fail "$q: the default sink is not bulkhead"
	[ "$(pa "$T/$q" get-default-source)" = bulkhead-mic.monitor ] ||
		fail "$q: the default source is not bulkhead-mic.monitor"
done
pa "$T/q1" list sinks | grep -q 'Description: Host speakers' || fail "no Host speakers sink"

log "a qube with no sound server: its guest half starts one of its own"
# (A connect that failed at once used to abort the guest half: "Assertion 'c' failed".)
mkdir -m 0700 "$T/q3"
spawn "$ST/q3.helper.log" python3 "$HELPER" pair "$ST" q3 green "$HOST_BIN" "$HOST" "$GUEST_BIN" "$T/q3"
wait_for 60 "q3's guest half on its own pulseaudio" grep -q "playing to the host" "$ST/q3.guest.log"
[ "$(pa "$T/q3" get-default-sink)" = bulkhead ] || fail "q3: the default sink is not bulkhead"
# Idle, its server suspends the sink our recording hangs on (nothing to wake the qube for), and
# a program that plays wakes it: the sound reaches the host, and the stream closes after it.
sink_state() { pa "$T/$1" list short sinks | awk -v s="$2" '$2 == s { print $NF }'; }
suspended() { [ "$(sink_state "$1" bulkhead)" = SUSPENDED ]; }
last_report() { [ "$(grep "^$2 " "$ST/$1.reports" | tail -n 1)" = "$2 $3" ]; }
wait_for 30 "q3's idle sink suspended" suspended q3
sox -n -r 48000 -c 2 -b 16 "$T/tone-short.wav" synth 2 sine 550 vol 0.5
XDG_RUNTIME_DIR=$T/q3 spawn "$T/paplay-q3.log" paplay "$T/tone-short.wav"
wait_for 30 "q3 playing from a suspended sink" last_report q3 playing 1
wait_for 10 "q3's stream on the host" sh -c "XDG_RUNTIME_DIR=$HOST pactl list sink-inputs | grep -q 'application.name = \"q3\"'"
wait_for 30 "q3's stream closing after its sound" last_report q3 playing 0
wait_for 30 "q3's sink suspended again" suspended q3
log "q3: suspended while idle, woke for a tone, closed after it"

log "a 440 Hz tone in q1 reaches the host"
XDG_RUNTIME_DIR=$T/q1 spawn "$T/paplay-q1.log" paplay "$T/tone440.wav"
wait_for 30 "q1 playing" reported q1 "playing 1"
wait_for 30 "q1's stream on the host" sh -c "XDG_RUNTIME_DIR=$HOST pactl list sink-inputs | grep -q 'application.name = \"q1\"'"
sleep 1
expect_tone "q1 on the host" 440 "$(record "$HOST" hostout.monitor 4 2)"

log "a second qube is a second stream, named after it"
XDG_RUNTIME_DIR=$T/q2 spawn "$T/paplay-q2.log" paplay "$T/tone660.wav"
Q2_PLAY=$LAST_PID
wait_for 30 "q2 playing" reported q2 "playing 1"
wait_for 30 "q2's stream on the host" sh -c "XDG_RUNTIME_DIR=$HOST pactl list sink-inputs | grep -q 'application.name = \"q2\"'"
inputs=$(pa "$HOST" list sink-inputs)
for want in 'application.name = "q1"' 'bulkhead.label = "red"' 'node.name = "bulkhead.q1"' \
	'application.name = "q2"' 'bulkhead.label = "blue"' 'media.name = "q2"'; do
	grep -qF "$want" <<<"$inputs" || fail "pactl list sink-inputs lacks $want"
done
[ "$(grep -c 'bulkhead.qube = ' <<<"$inputs")" = 2 ] || fail "not one stream per qube"
kill -TERM -- "-$Q2_PLAY"
wait_for 30 "q2 going idle" reported q2 "playing 0"

log "mute and volume"
ctl q1 "mute 1"
wait_for 10 "the mute on the host" sh -c "XDG_RUNTIME_DIR=$HOST pactl list sink-inputs | grep -q 'Mute: yes'"
expect_silence "q1 muted" "$(record "$HOST" hostout.monitor 4 2)"
ctl q1 "mute 0"
ctl q1 "volume 0.5"
wait_for 10 "the volume on the host" sh -c "XDG_RUNTIME_DIR=$HOST pactl list sink-inputs | grep -q 'front-left: [0-9]* /  50%'"
ctl q1 "volume 1.0"
sleep 1
expect_tone "q1 unmuted" 440 "$(record "$HOST" hostout.monitor 4 2)"

log "the host half stalls for 3 s: what piled up is dropped, not played late, and the sound goes on"
hp=$(pgrep -f -- "bulkhead-audio-host --qube q1 ") || fail "no host half for q1"
kill -STOP "$hp"
sleep 3
kill -CONT "$hp"
sleep 1
[ ! -e "$ST/q1.exit" ] || fail "q1's host half ended after a stall: $(cat "$ST/q1.exit")"
expect_tone "q1 after the stall" 440 "$(record "$HOST" hostout.monitor 4 2)"

log "the microphone, only while granted"
XDG_RUNTIME_DIR=$HOST spawn "$T/paplay-mic.log" paplay -d hostmic "$T/tone880.wav"
expect_silence "q1's microphone before the grant" "$(record "$T/q1" bulkhead-mic.monitor 3 1)"
ctl q1 "mic 1"
wait_for 30 "q1 recording" reported q1 "recording 1"
sleep 1
expect_tone "q1's microphone" 880 "$(record "$T/q1" @DEFAULT_SOURCE@ 4 1)"
ctl q1 "mic 0"
wait_for 30 "q1 not recording" reported q1 "recording 0"
sleep 1
expect_silence "q1's microphone after mic 0" "$(record "$T/q1" @DEFAULT_SOURCE@ 3 1)"

log "a granted microphone comes back when the qube's sound server is replaced"
ctl q2 "mic 1"
wait_for 30 "q2 recording" reported q2 "recording 1"
sleep 1
expect_tone "q2's microphone" 880 "$(record "$T/q2" @DEFAULT_SOURCE@ 4 1)"
# Its server gone, the guest half starts a pulseaudio of its own and makes its sinks again; the
# grant, still standing, must reach the new server without the host asking again.
pipewire_down "$T/q2"
wait_for 60 "q2's guest half on a new sound server" \
	sh -c "[ \$(grep -c 'playing to the host' '$ST/q2.guest.log') -ge 2 ]"
sleep 1
expect_tone "q2's microphone on its new server" 880 "$(record "$T/q2" @DEFAULT_SOURCE@ 4 1)"
# What waits in the qube's server for the microphone stays small: the guest half writes only what
# the server asks for (writing ahead once left 630 ms queued there, for good). The PulseAudio
# the guest half started reports it (pipewire-pulse shows 0).
mic_ms=$(pa "$T/q2" list sink-inputs | awk 'function out() { if (name == "\"Host microphone\"") print int(buf / 1000) }
	/^Sink Input #/ { out(); name = "" } /Buffer Latency:/ { buf = $3 }
	/media.name = / { sub(/.*media.name = /, ""); name = $0 } END { out() }')
log "q2's microphone queue in its server: ${mic_ms:-?} ms"
[ -n "$mic_ms" ] && [ "$mic_ms" -le 100 ] || fail "q2's microphone waits ${mic_ms:-?} ms in its server"
ctl q2 "mic 0"
wait_for 30 "q2 not recording" reported q2 "recording 0"

log "hostile qubes end their own sound only"
n=0
for attack in garbage oversized badrate flood; do
	n=$((n + 1))
	spawn "$ST/bad$n.helper.log" python3 "$HELPER" fake "$ST" "bad$n" purple "$HOST_BIN" "$HOST" "$attack"
	wait_for 120 "the host half of bad$n ($attack) to exit 65" exited "bad$n" 65
	grep -q "protocol violation" "$ST/bad$n.host.log" || fail "bad$n: no violation logged"
	log "$attack: exit 65"
done
[ ! -e "$ST/q1.exit" ] || fail "q1's host half ended too"
expect_tone "q1 after the hostile qubes" 440 "$(record "$HOST" hostout.monitor 4 2)"

log "the host's sound server goes away"
kill -TERM -- "-$HOST_SERVER"
for q in q1 q2; do
	wait_for 60 "$q's host half to exit 69" exited "$q" 69
done
# the buffering the host half measured
grep -h "buffered on average" "$ST"/q1.host.log | sed "s/^/$TEST_NAME: /" || true
# The stall's backlog went, rather than staying as latency.
grep -qE "buffered on average, [0-9]+ underruns, [1-9][0-9]* bytes dropped" "$ST"/q1.host.log ||
	fail "q1's host half dropped nothing after a 3 s stall"
log "PASS"
