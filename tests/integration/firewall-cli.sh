#!/bin/bash
# `bulkhead firewall` and admin.vm.firewall.Get/Set against a real bulkheadd (no qube boots:
# the rules are stored with the qube): the default list, add (and --before), del by number and
# by rule, reset, --json, the stored firewall.json; bad rules (from the CLI and straight at the
# API) are refused with the bad field named and nothing changed; inbound port forwards (forward
# list/add/del), one qube per port host-wide, kept apart from rule edits, not cloned.
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
	<(python3 -c 'import json,sys; d = json.loads(sys.argv[1]); assert d.pop("forwards") == []; print(json.dumps(d))' "$out") ||
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

log "inbound forwards: off by default, add, replace, list, del"
[ "$(bh firewall work forward list --json | python3 -c 'import json,sys; print(json.load(sys.stdin))')" = "[]" ] ||
	fail "a qube has forwards before any was added"
rules_before=$(bh firewall work --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["rules"])')
bh firewall work forward add tcp 8080 80 || fail "forward add tcp"
bh firewall work forward add udp 5353 53 || fail "forward add udp"
bh firewall work forward add tcp 8080 80 || fail "adding the same forward again"
bh firewall work forward add tcp 2222 || fail "forward add without TO_PORT"
bh firewall work forward add tcp 8080 81 || fail "forward add replacing TO_PORT"
out=$(bh firewall work forward list) || fail "forward list"
grep -q "^tcp  *8080  *81$" <<<"$out" && grep -q "^udp  *5353  *53$" <<<"$out" &&
	grep -q "^tcp  *2222  *2222$" <<<"$out" && [ "$(wc -l <<<"$out")" = 4 ] || fail "forward list: $out"
python3 - "$FILE" <<'PY' || fail "firewall.json forwards: $(cat "$FILE")"
import json, sys
f = json.load(open(sys.argv[1]))
assert f["forwards"] == [{"proto": "tcp", "port": 8080, "to_port": 81},
                         {"proto": "udp", "port": 5353, "to_port": 53},
                         {"proto": "tcp", "port": 2222, "to_port": 2222}], f
PY
[ "$(bh firewall work --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["rules"])')" = "$rules_before" ] ||
	fail "setting forwards changed the rules"
bh firewall work add drop proto=udp || fail "add a rule beside forwards"
grep -q '5353' "$FILE" || fail "a rule edit lost the forwards"
bh firewall work del drop proto=udp || fail "del that rule"
bh firewall work forward del tcp 2222 || fail "forward del"
bh firewall work forward list | grep -q 2222 && fail "forward del left it"

log "bad forwards: refused, nothing changed"
bh create other --template fw-tpl --label green >/dev/null || fail "create other"
before=$(md5sum <"$FILE")
expect_fail 2 "below 1024" bh firewall work forward add tcp 80
expect_fail 2 "tcp or udp" bh firewall work forward add icmp 8081
expect_fail 2 "not a port" bh firewall work forward add tcp 65536
expect_fail 2 "to_port" bh firewall work forward add tcp 8081 0
expect_fail 2 "PROTO PORT" bh firewall work forward add tcp
expect_fail 2 "PROTO PORT" bh firewall work forward del tcp
expect_fail 1 "no forward of tcp port 9999" bh firewall work forward del tcp 9999
expect_fail 2 "unknown forward action" bh firewall work forward open tcp 8081
expect_fail 1 "forwarded to 'work' already" bh firewall other forward add tcp 8080
[ ! -e "$BULKHEAD_STATE_DIR/qubes/other/firewall.json" ] || fail "a refused forward wrote other's firewall.json"
python3 - "$BULKHEAD_SOCKET" <<'PY' || fail "raw API forwards"
import json, socket, struct, sys
HDR = struct.Struct("<HHII")
def call(dest, payload):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    body = json.dumps({"call": "admin.vm.firewall.Set", "dest": dest, "arg": "",
                       "payload": payload}).encode()
    s.sendall(HDR.pack(32, 0, 0, len(body)) + body)
    hdr = s.recv(HDR.size, socket.MSG_WAITALL)
    n = HDR.unpack(hdr)[3]
    return json.loads(s.recv(n, socket.MSG_WAITALL))
many = [{"proto": "tcp", "port": 10000 + i} for i in range(63)]
for dest, payload, words in [
        ("work", {"forwards": [{"proto": "tcp", "port": 9000}, {"proto": "tcp", "port": 9000}]}, "twice"),
        ("work", {"forwards": [{"proto": "tcp", "port": 9000, "host": "x"}]}, "unknown member"),
        ("work", {"forwards": [{"proto": "tcp", "port": "9000"}]}, "expected a number"),
        ("work", {"forwards": {"proto": "tcp"}}, "array"),
        ("work", {"forwards": [], "colour": "red"}, "nothing else"),
        ("other", {"forwards": [{"proto": "udp", "port": 5353}]}, "forwarded to 'work' already"),
        # work holds two: 63 more would make 65
        ("other", {"forwards": many}, "at most 64")]:
    r = call(dest, payload)
    assert r["ok"] is False and words in r["message"], (payload, r)
    print("ok:", r["message"])
PY
[ "$(md5sum <"$FILE")" = "$before" ] || fail "a refused forward changed firewall.json"

log "a clone keeps the rules, not the forwards (a port is one qube's)"
bh clone work work2 >/dev/null || fail "clone"
[ "$(bh firewall work2 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["rules"])')" = \
	"$(bh firewall work --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["rules"])')" ] ||
	fail "the clone's rules differ"
[ "$(bh firewall work2 forward list | wc -l)" = 1 ] || fail "the clone has forwards: $(bh firewall work2 forward list)"

log "reset"
bh firewall work reset || fail "reset"
out=$(bh firewall work --json)
[ "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]))' "$out")" = "{'rules': [{'action': 'accept'}], 'forwards': [{'proto': 'tcp', 'port': 8080, 'to_port': 81}, {'proto': 'udp', 'port': 5353, 'to_port': 53}]}" ] ||
	fail "after reset (rules reset, forwards kept): $out"
log "ok"
