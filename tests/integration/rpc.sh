#!/bin/bash
# Calls between qubes under the policy: allowed calls run and return output and status, denied
# ones run nothing, the caller is who its channel says, admin calls from a qube, disposables,
# and a hundred calls at once.
. "$(dirname "$0")/lib.sh"

seed_template
# Calls that hang are ended by the host after this long.
export BULKHEAD_RPC_TIMEOUT=25
cat >"$BULKHEAD_POLICY_DIR/50-test.policy" <<'EOF'
# test.Echo: alice may call bob; nobody else anything
test.Echo     *  alice  bob       allow
test.Sleep    *  alice  bob       allow
test.Echo     *  alice  @dispvm   allow
test.Echo     *  alice  @default  allow target=bob
test.Mark     *  @anyvm @anyvm    deny
admin.vm.List *  mgmt   @adminvm  allow
admin.vm.List *  mgmt   @anyvm    allow target=dom0
bulkhead.GetDate * @anyvm dom0    allow
bulkhead.Filecopy * alice bob     allow
test.Echo     *  bob    @anyvm    ask default_target=alice
EOF
start_daemon

log "a service in the template: echoes who called, its argument and its input"
bh start minimal
bh run -p --user root minimal -- sh -c '
	mkdir -p /etc/bulkhead/rpc &&
	printf "#!/bin/sh\necho \"from \$BULKHEAD_REMOTE_DOMAIN arg=\$BULKHEAD_SERVICE_ARGUMENT user=\$(id -un)\"\ncat\nexit 5\n" >/etc/bulkhead/rpc/test.Echo &&
	printf "#!/bin/sh\ntouch /tmp/test-mark-ran\n" >/etc/bulkhead/rpc/test.Mark &&
	printf "#!/bin/sh\necho started\nexec sleep 1000\n" >/etc/bulkhead/rpc/test.Sleep &&
	chmod 0755 /etc/bulkhead/rpc/test.Echo /etc/bulkhead/rpc/test.Mark /etc/bulkhead/rpc/test.Sleep && sync'
bh shutdown minimal

for q in alice:green bob:blue mgmt:purple; do
	bh create "${q%%:*}" --label "${q#*:}" --template minimal
done
bh start alice bob

log "an allowed call runs and returns its output and exit status"
rc=0
out=$(bh run -p alice -- sh -c 'echo hello | bulkhead-call bob test.Echo+arg1') || rc=$?
[ "$rc" = 5 ] || fail "exit status $rc, expected 5 (output: $out)"
[ "$out" = "$(printf 'from alice arg=arg1 user=user\nhello')" ] || fail "output: '$out'"
out=$(bh run -p alice -- sh -c 'echo x | bulkhead-call @default test.Echo') || true
grep -q "from alice" <<<"$out" || fail "@default with target= did not reach bob: $out"

log "a denied call runs nothing and says so"
rc=0
err=$(bh run -p bob -- bulkhead-call alice test.Echo 2>&1) || rc=$?
[ "$rc" = 126 ] || fail "a call without a policy line exited $rc"
grep -qi "refused" <<<"$err" || fail "no refusal message: $err"
rc=0
bh run -p alice -- bulkhead-call bob test.Mark >/dev/null 2>&1 || rc=$?
[ "$rc" = 126 ] || fail "a denied call exited $rc"
rc=0
bh run -p bob -- test -e /tmp/test-mark-ran || rc=$?
[ "$rc" = 1 ] || fail "the denied service ran in bob"

log "names are checked before the policy sees them"
for bad in 'test/Echo' 'test.Echo+a/b' '../x' 'test.Echo+a b' "$(printf 'x%.0s' $(seq 100))"; do
	rc=0
	bh run -p alice -- bulkhead-call bob "$bad" >/dev/null 2>&1 || rc=$?
	[ "$rc" = 126 ] || fail "service name '${bad:0:40}' was not refused ($rc)"
done
grep -q "invalid service name" "$T/bulkheadd.log" || fail "refusals not logged"
grep -q "rpc: test.Echo+arg1 from alice to bob: allowed" "$T/bulkheadd.log" ||
	fail "the decision was not logged: $(grep rpc: "$T/bulkheadd.log" | head -3)"

log "the host's clock and admin calls, as the policy allows"
secs=$(bh run -p alice -- bulkhead-call dom0 bulkhead.GetDate)
now=$(date +%s)
[ $((now - secs)) -lt 120 ] && [ $((secs - now)) -lt 120 ] || fail "GetDate said $secs, host has $now"
rc=0
bh run -p alice -- bulkhead-call dom0 admin.vm.List >/dev/null 2>&1 || rc=$?
[ "$rc" = 126 ] || fail "alice could list qubes ($rc)"
out=$(bh run -p mgmt -- bulkhead-call dom0 admin.vm.List)
python3 -c 'import json,sys; names={q["name"] for q in json.loads(sys.argv[1])}; assert {"alice","bob","mgmt"} <= names, names' "$out" ||
	fail "mgmt's admin.vm.List: $out"
out=$(bh run -p mgmt -- bulkhead-call bob admin.vm.List)
python3 -c 'import json,sys; names=[q["name"] for q in json.loads(sys.argv[1])]; assert names == ["bob"], names' "$out" ||
	fail "admin.vm.List about bob: $out"

log "the target is started when autostart allows"
bh shutdown bob
out=$(bh run -p alice -- sh -c 'echo again | bulkhead-call bob test.Echo') || true
grep -q "again" <<<"$out" || fail "bob was not started for the call: $out"
bh ls | grep -qE '^bob +Running' || fail "bob not running after the call"

log "file copy: a tree lands intact in ~/Incoming/alice; a traversal is refused"
bh run -p alice -- sh -c 'mkdir -p d/sub && head -c 300000 /dev/urandom > d/sub/blob &&
	echo note > d/note && chmod 0600 d/note && head -c 1000 /dev/urandom > single'
want=$(bh run -p alice -- sh -c 'cd d && md5sum sub/blob note; cd .. && md5sum single')
bh run -p alice -- bulkhead-copy --to bob d single
got=$(bh run -p bob -- sh -c 'cd ~/Incoming/alice/d && md5sum sub/blob note; cd .. && md5sum single')
[ "$got" = "$want" ] || fail "copied files differ: want '$want', got '$got'"
[ "$(bh run -p bob -- stat -c %a /home/user/Incoming/alice/d/note)" = 600 ] || fail "mode lost"
for evil in traversal-name absolute-name symlink-escape device; do
	bh run -p alice -- sh -c 'cat > /tmp/evil' <"$BULKHEAD_SRC/tests/fuzz/corpus/filecopy/$evil"
	rc=0
	bh run -p alice -- sh -c 'bulkhead-call bob bulkhead.Filecopy < /tmp/evil > /dev/null' || rc=$?
	[ "$rc" != 0 ] || fail "the receiver accepted $evil"
done
left=$(bh run -p bob -- sh -c 'ls -A ~/Incoming/alice | sort | tr "\n" " "')
[ "$left" = "d single " ] || fail "a refused copy left something: '$left'"
rc=0
bh run -p bob -- bulkhead-copy --to alice /etc/hostname >/dev/null 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "a copy the policy does not allow went through"

log "ask: refused without a prompt; the prompt on the host decides"
rc=0
bh run -p bob -- bulkhead-call alice test.Echo </dev/null >/dev/null 2>&1 || rc=$?
[ "$rc" = 126 ] || fail "ask without a prompt exited $rc"
grep -q "no prompt agent is registered" "$T/bulkheadd.log" || fail "the log does not say why"
yes "" | "$BULKHEAD" policy agent >"$T/prompt.log" 2>&1 &
prompt=$!
for _ in $(seq 50); do grep -q answering "$T/prompt.log" && break; sleep 0.1; done
out=$(bh run -p bob -- sh -c 'echo asked | bulkhead-call alice test.Echo') || true
grep -q "from bob" <<<"$out" || fail "the prompt's default did not allow the call: $out ($(cat "$T/prompt.log"))"
grep -q "bob asks to call test.Echo" "$T/prompt.log" || fail "the prompt did not show the question"
kill "$prompt"; wait "$prompt" 2>/dev/null || true
yes n | "$BULKHEAD" policy agent >"$T/prompt.log" 2>&1 &
prompt=$!
for _ in $(seq 50); do grep -q answering "$T/prompt.log" && break; sleep 0.1; done
rc=0
bh run -p bob -- bulkhead-call alice test.Echo </dev/null >/dev/null 2>&1 || rc=$?
[ "$rc" = 126 ] || fail "a call refused at the prompt exited $rc"
kill "$prompt"; wait "$prompt" 2>/dev/null || true

log "a hundred calls at once"
out=$(bh run -p alice -- sh -c '
	for i in $(seq 100); do (echo "n$i" | bulkhead-call bob test.Echo > /tmp/call.$i 2>&1; echo $? >> /tmp/call.$i) & done
	wait
	cat /tmp/call.* | grep -c "^n[0-9]"; cat /tmp/call.* | grep -cx 5')
[ "$out" = "$(printf '100\n100')" ] || fail "of 100 calls: $out"

log "a call that hangs is ended by the per-call timeout, on both sides"
rc=0
err=$(bh run -p alice -- sh -c 'bulkhead-call bob test.Sleep </dev/null' 2>&1) || rc=$?
[ "$rc" = 126 ] && grep -q "timed out" <<<"$err" || fail "a hanging call gave $rc: $err"
n=$(bh run -p bob -- sh -c 'ps | grep -v grep | grep -c "sleep 1000"' || true)
[ "$n" = 0 ] || fail "the timed-out service still runs in bob"

log "a target that dies mid-call ends the call with an error"
bh run -p alice -- sh -c 'bulkhead-call bob test.Sleep </dev/null >/tmp/dying 2>&1; echo "rc=$?" >>/tmp/dying' &
runner=$!
for _ in $(seq 100); do bh run -p alice -- grep -q started /tmp/dying 2>/dev/null && break; sleep 0.2; done
bh kill bob
wait "$runner" || true
out=$(bh run -p alice -- cat /tmp/dying)
grep -q "rc=126" <<<"$out" && grep -qi "stopped" <<<"$out" || fail "the caller of a dead target saw: $out"

log "@dispvm: a new disposable for the call, removed afterwards"
bh shutdown bob 2>/dev/null || true
bh prefs bob template_for_dispvms True
bh prefs alice default_dispvm bob
out=$(bh run -p alice -- sh -c 'echo via-disp | bulkhead-call @dispvm test.Echo') || true
grep -q "via-disp" <<<"$out" || fail "the disposable call failed: $out"
for _ in $(seq 60); do bh ls | grep -q '^disp' || break; sleep 1; done
bh ls | grep -q '^disp' && fail "the disposable was not removed: $(bh ls)"

log "a caller that goes away mid-call ends the service"
bh start bob
bh run -p alice -- sh -c 'sleep 100 | bulkhead-call bob test.Echo >/dev/null & p=$!; sleep 4; kill $p' || true
sleep 2
n=$(bh run -p bob -- sh -c 'ps | grep -v grep | grep -c rpc/test.Echo' || true)
[ "$n" = 0 ] || fail "the service still runs in bob after its caller left ($n)"

log ok
