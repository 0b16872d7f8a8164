#!/bin/bash
# Sound's settings and the microphone grant (issue 12), with a real bulkheadd and real qubes:
# `bulkhead audio` on an unknown qube and with bad values (a clear error, nothing changed),
# volume and mute kept across a qube's and bulkheadd's restart, the microphone held by one qube
# at a time and decided by the policy for bulkhead.AudioInput (deny, allow, ask with the
# prompt), gone after bulkheadd restarts, and the audio port in the domain XML of qubes with a
# GUI only. The minimal template has no audio guest half, and this tree may have no host half:
# bulkheadd and the qube's agent must run without either (each absence logged once).
. "$(dirname "$0")/lib.sh"

ensure_libvirtd
seed_template
# The default policy's line for the microphone is tested below; the rest of this file decides.
cat >"$BULKHEAD_POLICY_DIR/50-test.policy" <<'P'
bulkhead.AudioInput  *  denied  @adminvm  deny
bulkhead.AudioInput  *  work    @adminvm  allow
bulkhead.AudioInput  *  other   @adminvm  allow
P
start_daemon
bh create work --label blue --template minimal >/dev/null
bh create other --label green --template minimal >/dev/null
bh create denied --label red --template minimal >/dev/null
bh create asked --label orange --template minimal >/dev/null
# A qube without a GUI (like a net qube) gets no audio port.
bh create nogui --label gray --template minimal >/dev/null
bh features nogui gui 0

# field QUBE KEY: one value of `bulkhead audio QUBE --json`.
field() {
	bh audio "$1" --json | python3 -c 'import json,sys; v=json.load(sys.stdin)[sys.argv[1]]; print(str(v).lower())' "$2"
}
expect_field() {
	local got
	got=$(field "$1" "$2") || fail "audio $1 --json"
	[ "$got" = "$3" ] || fail "$1's $2 is '$got', expected '$3'"
}

log "defaults: volume 100, not muted, no microphone, nothing playing"
out=$(bh audio work)
grep -q '^volume *100%' <<<"$out" || fail "default volume: $out"
grep -q '^mute *no' <<<"$out" || fail "default mute: $out"
grep -q '^mic *off' <<<"$out" || fail "default mic: $out"
expect_field work enabled true
expect_field nogui enabled false

log "an unknown qube"
expect_fail 1 "no qube named 'nosuch'" bh audio nosuch
expect_fail 1 "no qube named 'nosuch'" bh audio nosuch volume 50
expect_fail 1 "no qube named 'nosuch'" bh audio nosuch mic on

log "bad values: refused by the CLI, and by bulkheadd when sent anyway; nothing changes"
for v in 151 abc 1.5 "" 50x 1000 +5; do
	expect_fail 2 "volume" bh audio work volume "$v"
done
expect_fail 2 "invalid volume '-1'" bh audio work volume -- -1
expect_fail 2 "mic takes" bh audio work mic maybe
expect_fail 2 "unknown audio action" bh audio work louder
raw() { # CALL DEST ARG PAYLOAD-JSON: prints the reply
	python3 - "$BULKHEAD_SOCKET" "$@" <<'PY'
import json, socket, struct, sys
HDR = struct.Struct("<HHII")
path, call, dest, arg, payload = sys.argv[1:6]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(60)
s.connect(path)
body = json.dumps({"call": call, "dest": dest, "arg": arg, "payload": json.loads(payload)}).encode()
s.sendall(HDR.pack(32, 0, 0, len(body)) + body)
def read(n):
    buf = b""
    while len(buf) < n:
        c = s.recv(n - len(buf))
        if not c:
            sys.exit("bulkheadd hung up")
        buf += c
    return buf
t, _, _, n = HDR.unpack(read(HDR.size))
print(json.dumps(json.loads(read(n)), sort_keys=True))
PY
}
for p in '{"volume": 151}' '{"volume": -1}' '{"volume": "50"}' '{"volume": 1.5}' \
	'{"mute": "yes"}' '{}' '{"volume": 50, "mute": 3}'; do
	out=$(raw admin.vm.audio.Set work "" "$p")
	grep -q '"error": "QubesValueError"' <<<"$out" || fail "Set $p was not refused: $out"
done
out=$(raw admin.vm.audio.Mic work maybe 'null')
grep -q '"error": "QubesValueError"' <<<"$out" || fail "Mic maybe was not refused: $out"
expect_field work volume 100
expect_field work mute false
bh features work | grep -q '^audio-' && fail "a refused change left a feature: $(bh features work)"

log "volume and mute are set and kept in the qube's features"
bh audio work volume 40 || fail "volume 40"
bh audio work mute || fail "mute"
bh audio other volume 150% || fail "volume 150%"
bh audio other volume 0 || fail "volume 0"
expect_field work volume 40
expect_field work mute true
expect_field other volume 0
bh audio work unmute && bh audio work mute || fail "unmute, mute"
[ "$(bh features work audio-volume)" = 40 ] || fail "audio-volume feature: $(bh features work)"

log "the microphone: the policy denies, nothing changes"
expect_fail 4 "does not grant the microphone to 'denied'" bh audio denied mic on
expect_field denied mic false
grep -q "bulkhead.AudioInput from denied to the host: denied" "$T/bulkheadd.log" ||
	fail "the denial is not logged"

log "the microphone: allowed, held by one qube at a time"
bh audio work mic on || fail "mic on for work"
expect_field work mic true
bh audio work mic on || fail "mic on twice"
bh audio other mic on || fail "mic on for other"
expect_field other mic true
expect_field work mic false
bh audio other mic off || fail "mic off"
expect_field other mic false
bh audio work mic off || fail "mic off for a qube without it"
bh audio work mic on || fail "mic on for work again"

log "the microphone under the default policy: ask, the prompt decides"
cp "$BULKHEAD_SRC/policy/90-default.policy" "$BULKHEAD_POLICY_DIR/"
grep -q '^bulkhead.AudioInput  *\*  *@anyvm  *@adminvm  *ask' "$BULKHEAD_POLICY_DIR/90-default.policy" ||
	fail "the default policy does not ask for the microphone"
expect_fail 4 "no prompt is available" bh audio asked mic on
expect_field work mic true
yes n | "$BULKHEAD" policy agent >"$T/prompt.log" 2>&1 &
prompt=$!
for _ in $(seq 50); do grep -q answering "$T/prompt.log" && break; sleep 0.1; done
expect_fail 4 "refused at the prompt" bh audio asked mic on
grep -q "asked asks to call bulkhead.AudioInput" "$T/prompt.log" ||
	fail "the prompt did not show the question: $(cat "$T/prompt.log")"
kill "$prompt"; wait "$prompt" 2>/dev/null || true
expect_field asked mic false
expect_field work mic true
yes 1 | "$BULKHEAD" policy agent >"$T/prompt.log" 2>&1 &
prompt=$!
for _ in $(seq 50); do grep -q answering "$T/prompt.log" && break; sleep 0.1; done
bh audio asked mic on || fail "mic on allowed at the prompt: $(cat "$T/prompt.log")"
kill "$prompt"; wait "$prompt" 2>/dev/null || true
expect_field asked mic true
expect_field work mic false
bh audio work mic on || fail "mic on for work (allowed by its own line)"
expect_field asked mic false

log "qubes with a GUI have the audio port; one without has none"
bh start work nogui || fail "start"
dumpxml() { virsh -c qemu:///system dumpxml "${BULKHEAD_DOMAIN_PREFIX}$1"; }
# Captured first: with pipefail, grep -q leaving early fails virsh's end of a pipe (SIGPIPE).
xml=$(dumpxml work) || fail "dumpxml work"
grep -q "name='org.bulkhead.audio'" <<<"$xml" || fail "work has no audio port: $xml"
grep -q "qubes/audio/work.sock" <<<"$xml" || fail "work's audio port is not bulkheadd's socket: $xml"
xml=$(dumpxml nogui) || fail "dumpxml nogui"
grep -q "org.bulkhead.audio" <<<"$xml" && fail "nogui has an audio port"
if [ ! -x "$BULKHEAD_BUILD/audio/bulkhead-audio-host" ]; then
	[ "$(grep -c "audio host half .* is not executable" "$T/bulkheadd.log")" = 1 ] ||
		fail "the missing host half is not logged exactly once: $(grep -i audio "$T/bulkheadd.log")"
fi
log "the minimal template has no audio guest half: its agent says so once, and nothing more"
no_guest="no audio guest half in this qube"
for _ in $(seq 150); do
	grep -q "$no_guest" <<<"$(bh log work)" && break
	sleep 0.2
done
sleep 3 # past the first restart a child that exits would get
con=$(bh log work)
[ "$(grep -c "$no_guest" <<<"$con")" = 1 ] ||
	fail "the missing guest half is not logged exactly once: $(grep -i audio <<<"$con")"
grep -q "$no_guest" <<<"$(bh log nogui)" && fail "nogui (no audio port) looked for the guest half"
expect_field work playing false
expect_field work recording false

log "volume, mute and the grant across the qube's restart"
bh shutdown --wait work
bh start work || fail "restart work"
expect_field work volume 40
expect_field work mute true
expect_field work mic true

log "across bulkheadd's restart: volume and mute kept, the microphone gone"
stop_daemon
start_daemon
expect_field work volume 40
expect_field work mute true
expect_field other volume 0
for q in work other asked; do expect_field $q mic false; done
bh shutdown --wait work nogui

log "a template with a guest half: the agent runs it as the user, with the port as fd 3"
bh clone minimal sound-tpl >/dev/null
bh features sound-tpl gui 0 # the template itself needs no sound
bh start sound-tpl
# A stand-in that says what it was given and exits, to be restarted after its backoff.
bh run -p --user root sound-tpl -- sh -c '
	cat >/usr/bin/bulkhead-audio-guest <<"GUEST"
#!/bin/sh
echo "stand-in: uid=$(id -u) fd3=$(readlink /proc/self/fd/3) stdin=$(readlink /proc/self/fd/0) runtime=$XDG_RUNTIME_DIR home=$HOME user=$USER lang=$LANG" >&2
exit 3
GUEST
	chmod 0755 /usr/bin/bulkhead-audio-guest && sync' || fail "installing the stand-in"
bh shutdown --wait sound-tpl
bh create sounding --label blue --template sound-tpl >/dev/null
bh start sounding || fail "start sounding"
uid=$(bh run -p sounding -- id -u) || fail "id -u in sounding"
uid=${uid//[^0-9]/}
for _ in $(seq 100); do
	grep -q "restarting it in 2000 ms" <<<"$(bh log sounding)" && break
	sleep 0.2
done
con=$(bh log sounding)
grep -q "started the audio guest half (pid [0-9]*)" <<<"$con" || fail "no guest half started: $con"
grep -q "stand-in: uid=$uid fd3=/dev/vport[0-9p]* stdin=/dev/null runtime=/run/user/$uid home=/home/user user=user lang=C.UTF-8" <<<"$con" ||
	fail "the guest half was not given the user (uid $uid), the port and the environment: $(grep stand-in <<<"$con")"
grep -q "the audio guest half (pid [0-9]*) exited with exit status 3; restarting it in 1000 ms" <<<"$con" &&
	grep -q "the audio guest half (pid [0-9]*) exited with exit status 3; restarting it in 2000 ms" <<<"$con" ||
	fail "the guest half is not restarted with backoff: $(grep -i audio <<<"$con")"
grep -q "$no_guest" <<<"$con" && fail "sounding reports no guest half"
bh shutdown --wait sounding
log "ok"
