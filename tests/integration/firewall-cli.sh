#!/bin/bash
# `bulkhead firewall` and admin.vm.firewall.Get/Set against a real bulkheadd (no qube boots:
# the rules are stored with the qube): the default list, add (and --before), del by number and
# by rule, reset, --json, the stored firewall.json; bad rules (from the CLI and straight at the
# API) are refused with the bad field named and nothing changed.
. "$(dirname "$0")/lib.sh"

start_daemon
bh create fw-tpl --class TemplateVM --label black >/dev/null || fail "create template"
bh create work --template fw-tpl --label blue >/dev/null || fail "create work"
FILE=$BULKHEAD_STATE_DIR/qubes/work/firewall.json

log "a new qube's list is one accept"
out=$(bh firewall work list) || fail "list"
[ "$(wc -l <<<"$out")" = 2 ] && grep -q "^0  *accept" <<<"$out" || fail "default list: $out"
[ ! -e "$FILE" ] || fail "firewall.json written before any change"

log "add, add --before, del N, del RULE"
bh firewall work add drop dsthost=10.0.0.0/8 "comment=no lan" || fail "add"
bh firewall work add --before 0 action=accept dsthost=example.com proto=tcp dstports=443 ||
	fail "add --before"
bh firewall work add accept proto=icmp icmptype=8 || fail "add icmp"
out=$(bh firewall work --json) || fail "list --json"
python3 - "$out" <<'PY' || fail "json: $out"
import json, sys
r = json.loads(sys.argv[1])["rules"]
assert [x["action"] for x in r] == ["accept", "accept", "drop", "accept"], r
assert r[0] == {"action": "accept", "dsthost": "example.com", "proto": "tcp", "dstports": "443"}, r
assert r[2]["comment"] == "no lan" and r[2]["dsthost"] == "10.0.0.0/8", r
assert r[3]["icmptype"] == 8, r
PY
cmp -s <(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))))' "$FILE") \
	<(python3 -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1])))' "$out") ||
	fail "firewall.json differs from what Get returns"
[ "$(stat -c %a "$FILE")" = 600 ] || fail "firewall.json mode"
bh firewall work del 1 || fail "del 1"
bh firewall work del action=drop dsthost=10.0.0.0/8 "comment=no lan" || fail "del RULE"
out=$(bh firewall work list)
grep -q "example.com" <<<"$out" && grep -q "icmp" <<<"$out" && ! grep -q "10.0.0.0" <<<"$out" &&
	[ "$(wc -l <<<"$out")" = 3 ] || fail "after del: $out"

log "bad rules: refused, the bad field named, nothing changed"
before=$(md5sum <"$FILE")
expect_fail 2 "dstports" bh firewall work add accept proto=tcp dstports=70000
expect_fail 2 "icmptype: valid only with proto=icmp" bh firewall work add accept icmptype=8
expect_fail 2 "unknown field 'colour'" bh firewall work add accept colour=red
expect_fail 2 "dsthost" bh firewall work add accept "dsthost=a b"
expect_fail 1 "no rule 9" bh firewall work del 9
expect_fail 1 "no such rule" bh firewall work del drop proto=udp
expect_fail 2 "unknown firewall action" bh firewall work flush
expect_fail 1 "no such qube|no qube" bh firewall nosuch list
# straight at the API, past the CLI's own check
python3 - "$BULKHEAD_SOCKET" <<'PY' || fail "raw API"
import json, socket, struct, sys
HDR = struct.Struct("<HHII")
def call(payload):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    body = json.dumps({"call": "admin.vm.firewall.Set", "dest": "work", "arg": "",
                       "payload": payload}).encode()
    s.sendall(HDR.pack(32, 0, 0, len(body)) + body)
    hdr = s.recv(HDR.size, socket.MSG_WAITALL)
    n = HDR.unpack(hdr)[3]
    return json.loads(s.recv(n, socket.MSG_WAITALL))
for payload, words in [
        ({"rules": [{"action": "accept"}, {"action": "accept", "proto": "tcp", "dstports": "1-2-3"}]},
         "rule 1: dstports"),
        ({"rules": [{"action": "maybe"}]}, "action"),
        ({"rules": "all"}, "array"),
        ({}, "needs"),
        ({"rules": [{"action": "accept", "comment": "x\u0007"}]}, "comment")]:
    r = call(payload)
    assert r["ok"] is False and words in r["message"], (payload, r)
    print("ok:", r["message"])
PY
[ "$(md5sum <"$FILE")" = "$before" ] || fail "a refused rule changed firewall.json"

log "a clone keeps the rules"
bh clone work work2 >/dev/null || fail "clone"
[ "$(bh firewall work2 --json)" = "$(bh firewall work --json)" ] || fail "the clone's rules differ"

log "reset"
bh firewall work reset || fail "reset"
out=$(bh firewall work --json)
[ "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]))' "$out")" = "{'rules': [{'action': 'accept'}]}" ] ||
	fail "after reset: $out"
log "ok"
