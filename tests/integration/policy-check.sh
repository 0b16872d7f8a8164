#!/bin/bash
# admin.policy.Check: what the policy says about a call, decided as the RPC router decides one
# (tags, types, first match, redirects, ask), answered to the host only; a qube asking for it
# through dom0's admin services is refused whatever the policy says.
. "$(dirname "$0")/lib.sh"

cat >"$BULKHEAD_POLICY_DIR/50-test.policy" <<'EOF'
bulkhead.ClipboardPaste  *     alice      bob        allow
bulkhead.ClipboardPaste  *     bob        alice      deny
bulkhead.ClipboardPaste  *     alice      carol      ask default_target=carol
test.Tagged              +x    @tag:blue  @anyvm     allow
test.Typed               *     @anyvm     @type:TemplateVM  allow
test.Redirect            *     alice      @default   allow target=carol
admin.policy.Check       *     mgmt       @adminvm   allow
EOF
start_daemon
# Standalone qubes need no template: this part never boots a qube.
for q in alice:green bob:blue carol:red; do
	bh create "${q%%:*}" --class StandaloneVM --label "${q#*:}"
done
bh create tpl --class TemplateVM --label black
bh tags bob add blue

# check SOURCE TARGET SERVICE[+ARG]: prints bulkheadd's reply as one JSON line.
check() {
	python3 - "$BULKHEAD_SOCKET" "$@" <<'EOF'
import json, socket, struct, sys
HDR = struct.Struct("<HHII")
path, source, target, service = sys.argv[1:5]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(60)
s.connect(path)
body = json.dumps({"call": "admin.policy.Check", "dest": target, "arg": service,
                   "payload": {"source": source} if source != "-" else {}}).encode()
s.sendall(HDR.pack(32, 0, 0, len(body)) + body)
def read(n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            sys.exit("bulkheadd hung up")
        buf += chunk
    return buf
t, _, _, n = HDR.unpack(read(HDR.size))
assert t == 33, t
print(json.dumps(json.loads(read(n)), sort_keys=True))
EOF
}

# expect_check SOURCE TARGET SERVICE PYTHON-EXPR: the reply r must satisfy the expression.
expect_check() {
	local out
	out=$(check "$1" "$2" "$3") || fail "check $*: $out"
	python3 -c 'import json,sys; r=json.loads(sys.argv[1]); res=r.get("result"); assert '"$4"', r' "$out" ||
		fail "check $1 -> $2 $3: $out (expected: $4)"
	log "ok: $1 -> $2 $3: $out"
}

log "allow, deny and ask, each with the line that decided"
expect_check alice bob bulkhead.ClipboardPaste \
	'r["ok"] and res["result"] == "allow" and res["target"] == "bob" and res["line"].endswith("50-test.policy:1")'
expect_check bob alice bulkhead.ClipboardPaste \
	'r["ok"] and res["result"] == "deny" and res["target"] is None and "50-test.policy:2" in res["reason"] and res["line"].endswith("50-test.policy:2")'
expect_check alice carol bulkhead.ClipboardPaste \
	'r["ok"] and res["result"] == "ask" and "carol" in res["targets"] and res["default_target"] == "carol" and res["line"].endswith(":3")'
log "no matching line denies"
expect_check carol alice bulkhead.ClipboardPaste 'r["ok"] and res["result"] == "deny"'

log "tags, types and arguments match as they do for calls"
expect_check bob carol test.Tagged+x 'r["ok"] and res["result"] == "allow"'
expect_check bob carol test.Tagged+y 'r["ok"] and res["result"] == "deny"'
expect_check alice carol test.Tagged+x 'r["ok"] and res["result"] == "deny"'
expect_check alice tpl test.Typed 'r["ok"] and res["result"] == "allow" and res["target"] == "tpl"'
expect_check alice bob test.Typed 'r["ok"] and res["result"] == "deny"'
log "a redirect names the resolved target"
expect_check alice @default test.Redirect 'r["ok"] and res["result"] == "allow" and res["target"] == "carol"'

log "bad requests are refused"
expect_check - bob bulkhead.ClipboardPaste 'not r["ok"] and r["error"] == "QubesValueError"'
expect_check alice bob 'bad/name' 'r["ok"] and res["result"] == "deny" and "invalid service name" in res["reason"]'

log "a qube cannot ask for it, even where the policy would allow the call"
stop_daemon
seed_template
start_daemon
bh create mgmt --label purple --template minimal
bh start mgmt
rc=0
err=$(bh run -p mgmt -- sh -c 'echo "{\"source\": \"alice\"}" | bulkhead-call dom0 admin.policy.Check+bulkhead.ClipboardPaste' 2>&1) || rc=$?
[ "$rc" != 0 ] || fail "a qube's admin.policy.Check succeeded: $err"
grep -q "not available to qubes" <<<"$err" || fail "the refusal does not say why: $err"

# The compositor as the trusted prompt: a call the policy asks about shows the compositor's
# dialog (a white box in a screenshot); Return allows the call, Escape refuses it.
COMPOSITOR=$BULKHEAD_BUILD/compositor/bulkhead-compositor
if [ ! -x "$COMPOSITOR" ] || ! command -v grim >/dev/null; then
	log "no compositor in this build (wlroots missing) or no grim: the prompt is not tested"
	bh shutdown mgmt
	log "passed"
	exit 0
fi
echo "admin.vm.List  *  mgmt  @adminvm  ask default_target=@adminvm" >"$BULKHEAD_POLICY_DIR/40-ask.policy"
mkdir -m 0700 "$T/xdg"
XDG_RUNTIME_DIR=$T/xdg WLR_BACKENDS=headless WLR_RENDERER=pixman WLR_LIBINPUT_NO_DEVICES=1 \
	WAYLAND_DISPLAY= DISPLAY= "$COMPOSITOR" >/dev/null 2>"$T/compositor.log" &
COMPOSITOR_PID=$!
trap 'kill $COMPOSITOR_PID 2>/dev/null || true; cleanup' EXIT
wait_log() {
	for _ in $(seq 600); do
		grep -q "$1" "$T/compositor.log" && return 0
		kill -0 $COMPOSITOR_PID 2>/dev/null || fail "the compositor exited: $(cat "$T/compositor.log")"
		sleep 0.1
	done
	fail "the compositor's log never said '$1': $(cat "$T/compositor.log")"
}
# control LINE: one request on the compositor's control socket; prints the answer's first line.
control() {
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(60)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
print(s.recv(4096).decode().split("\n")[0])' "$T/xdg/bulkhead-compositor.ctl" "$1"
}
# dialog_shown: whether a screenshot is mostly white where the dialog is drawn.
dialog_shown() {
	XDG_RUNTIME_DIR=$T/xdg WAYLAND_DISPLAY=$(cd "$T/xdg" && ls | grep -m1 -x 'wayland-[0-9]*') \
		grim -t ppm "$T/shot.ppm" || fail "grim failed"
	python3 -c '
import sys
data = open(sys.argv[1], "rb").read()
magic, w, h, maxval, px = data.split(maxsplit=4)
assert magic == b"P6" and maxval == b"255"
w, h = int(w), int(h)
white = total = 0
for y in range(h // 3 - 20, h // 3 + 20):
    for x in range(w // 2 - 200, w // 2 + 200):
        total += 1
        white += px[(y * w + x) * 3:(y * w + x) * 3 + 3] == b"\xff\xff\xff"
sys.exit(0 if white > total * 0.7 else 1)' "$T/shot.ppm"
}
wait_log "prompt: registered with bulkheadd"
! dialog_shown || fail "a white box before any question"

log "the policy asks: the compositor shows its dialog, and Return allows the call"
bh run -p mgmt -- bulkhead-call dom0 admin.vm.List >"$T/call.out" 2>&1 &
call=$!
wait_log "prompt: asking: mgmt wants admin.vm.List"
dialog_shown || fail "no dialog in the screenshot"
sleep 0.6 # the prompt ignores Return for 500 ms after a question appears
[ "$(control "key Return")" = ok ] || fail "key Return"
rc=0
wait "$call" || rc=$?
[ "$rc" = 0 ] || fail "the allowed call exited $rc: $(cat "$T/call.out")"
grep -q '"mgmt"' "$T/call.out" || fail "the allowed call's output: $(cat "$T/call.out")"
! dialog_shown || fail "the dialog stayed after Return"

log "Escape refuses it"
bh run -p mgmt -- bulkhead-call dom0 admin.vm.List >"$T/call.out" 2>&1 &
call=$!
for _ in $(seq 600); do
	[ "$(grep -c "prompt: asking: mgmt wants admin.vm.List" "$T/compositor.log")" = 2 ] && break
	sleep 0.1
done
[ "$(control "key Escape")" = ok ] || fail "key Escape"
rc=0
wait "$call" || rc=$?
[ "$rc" != 0 ] || fail "a call refused at the prompt succeeded: $(cat "$T/call.out")"
grep -q "refused" "$T/call.out" || fail "the refusal does not say so: $(cat "$T/call.out")"
grep -q "denied at the prompt" "$T/bulkheadd.log" || fail "bulkheadd's log does not say who refused"

log "questions queue: two calls at once are asked one after the other"
bh run -p mgmt -- bulkhead-call dom0 admin.vm.List >"$T/call1.out" 2>&1 &
call1=$!
bh run -p mgmt -- bulkhead-call dom0 admin.vm.List >"$T/call2.out" 2>&1 &
call2=$!
for _ in $(seq 600); do
	[ "$(grep -c "asking the prompt" "$T/bulkheadd.log")" -ge 4 ] && break
	sleep 0.1
done
[ "$(grep -c "asking the prompt" "$T/bulkheadd.log")" -ge 4 ] || fail "bulkheadd did not ask twice"
[ "$(grep -c "prompt: asking: mgmt" "$T/compositor.log")" = 3 ] ||
	fail "the second question was shown before the first was answered"
sleep 0.6 # the prompt ignores Return for 500 ms after a question appears
[ "$(control "key Return")" = ok ] || fail "key Return"
for _ in $(seq 600); do
	[ "$(grep -c "prompt: asking: mgmt" "$T/compositor.log")" = 4 ] && break
	sleep 0.1
done
dialog_shown || fail "no dialog for the second question"
[ "$(control "key Escape")" = ok ] || fail "key Escape"
rc1=0 rc2=0
wait "$call1" || rc1=$?
wait "$call2" || rc2=$?
[ "$((rc1 == 0)) $((rc2 == 0))" = "1 0" ] || [ "$((rc1 == 0)) $((rc2 == 0))" = "0 1" ] ||
	fail "expected one call allowed and one refused: $rc1 $rc2"

bh shutdown mgmt
log "passed"
