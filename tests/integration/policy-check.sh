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
	'r["ok"] and res["result"] == "deny" and res["target"] is None and "50-test.policy:2" in res["reason"]'
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
bh shutdown mgmt
log "passed"
