#!/bin/bash
# A hostile qube against bulkheadd: host-only services, admin calls that would make a qube
# deletable, forged log lines, and a flood of refused calls.
. "$(dirname "$0")/lib.sh"

seed_template
cat >"$BULKHEAD_POLICY_DIR/50-test.policy" <<'POLICY'
# Host-only services stay refused even where the policy allows them.
bulkhead.ClipboardPaste *  @anyvm  @anyvm   allow
admin.vm.Run            *  alice   @anyvm   allow target=dom0
# alice may set features of any qube, Qubes-style (the target is the qube acted on).
admin.vm.feature.Set    *  alice   @anyvm   allow target=dom0
admin.vm.feature.Set    *  alice   @adminvm allow
flood.D                 *  alice   @dispvm  allow
test.Evil               *  alice   @dispvm:evil-dvm  allow
POLICY
start_daemon
for q in alice:green bob:blue; do
	bh create "${q%%:*}" --label "${q#*:}" --template minimal
done
bh start alice

# The feature KEY of qube Q as stored, or nothing.
stored_feature() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("features", {}).get(sys.argv[2], ""))' \
		"$BULKHEAD_STATE_DIR/qubes/$1/qube.json" "$2"
}

log "a host-only service is refused to a qube, and its target is not started"
rc=0
err=$(bh run -p alice -- bulkhead-call bob bulkhead.ClipboardPaste </dev/null 2>&1) || rc=$?
[ "$rc" = 126 ] || fail "bulkhead.ClipboardPaste from alice exited $rc: $err"
grep -qi "only the host" <<<"$err" || fail "the refusal does not say why: $err"
bh ls | grep -qE '^bob +Halted' || fail "bob was started by a refused call: $(bh ls)"
rc=0
bh run -p alice -- bulkhead-call bob admin.vm.Run+x </dev/null >/dev/null 2>&1 || rc=$?
[ "$rc" = 126 ] || fail "admin.vm.Run from alice exited $rc"
grep -q "bulkhead.ClipboardPaste from alice to bob: denied (a service only the host uses)" \
	"$T/bulkheadd.log" || fail "the refusal was not logged"

log "a qube cannot make another (or itself) a disposable through a feature"
out=$(bh run -p alice -- sh -c 'echo "{\"value\": \"1\"}" | bulkhead-call bob admin.vm.feature.Set+harmless')
[ "$(stored_feature bob harmless)" = 1 ] ||
	fail "the policy's admin.vm.feature.Set on bob did not work: $out"
for target in bob alice; do
	rc=0
	err=$(bh run -p alice -- sh -c "echo '{\"value\": \"1\"}' | bulkhead-call $target admin.vm.feature.Set+disposable-auto-cleanup" 2>&1) || rc=$?
	[ "$rc" != 0 ] || fail "alice set disposable-auto-cleanup on $target"
	grep -qi "reserved" <<<"$err" || fail "the refusal does not say why: $err"
	[ -z "$(stored_feature "$target" disposable-auto-cleanup)" ] ||
		fail "the feature was stored on $target"
done
expect_fail 1 "reserved" bh features bob disposable-auto-cleanup 1
bh start bob
bh shutdown bob
bh ls | grep -qE '^bob +Halted' || fail "bob did not survive its halt: $(bh ls)"
[ -f "$BULKHEAD_STATE_DIR/qubes/bob/private.qcow2" ] || fail "bob's private volume is gone"

log "qube strings cannot forge log lines"
forged_target=$(printf 'bob\nbulkheadd: info: FORGED-TARGET')
forged_service=$(printf 'test.X\nbulkheadd: info: FORGED-SERVICE')
# Since the channel split, names with bytes outside [A-Za-z0-9_.:@+-] are refused by the qube's
# channel process ("malformed call") and never reach bulkheadd; whatever reaches its log is
# escaped (log_escape, unit-tested). Either way no forged line may appear.
refused_call() { # TARGET SERVICE
	local rc=0
	bh run -p alice -- bulkhead-call "$1" "$2" </dev/null >/dev/null 2>&1 || rc=$?
	[ "$rc" != 0 ] || fail "a call with a forged name succeeded"
}
refused_call "$forged_target" test.X
refused_call bob "$forged_service"
refused_call bob "$(printf 'test.Y+\xff\x1b[2J')"
if grep -E '^bulkheadd: info: FORGED-(TARGET|SERVICE)' "$T/bulkheadd.log"; then
	fail "a forged line in bulkheadd's log"
fi
if LC_ALL=C grep -q $'\x1b' "$T/bulkheadd.log"; then fail "an escape character reached the log"; fi

log "a flood of refused calls is logged within the limit"
before=$(grep -c "rpc: flood.X from alice" "$T/bulkheadd.log" || true)
bh run -p alice -- sh -c 'for i in $(seq 100); do bulkhead-call bob flood.X </dev/null >/dev/null 2>&1; done' || true
logged=$(grep -c "rpc: flood.X from alice" "$T/bulkheadd.log" || true)
[ $((logged - before)) -lt 100 ] || fail "all $((logged - before)) refusals were logged"
[ $((logged - before)) -ge 1 ] || fail "no refusal was logged"
# The count comes with the first line of a later window (10 s).
sleep 11
bh run -p alice -- bulkhead-call bob flood.X </dev/null >/dev/null 2>&1 || true
grep -qE "rpc: suppressed [0-9]+ messages about refused calls from alice" "$T/bulkheadd.log" ||
	fail "the held-back lines were not counted"

log "a qube flooding @dispvm gets refusals beyond its cap; the CLI still answers"
bh create dvm --label red --template minimal
bh prefs dvm template_for_dispvms True
bh prefs alice default_dispvm dvm
bh run -p alice -- sh -c 'for i in $(seq 12); do (bulkhead-call @dispvm flood.D </dev/null >/tmp/flood.$i 2>&1; echo "rc=$?" >>/tmp/flood.$i) & done; wait' &
flood=$!
for _ in $(seq 300); do bh ls | grep -q '^disp' && break; sleep 0.1; done
bh ls >/dev/null || fail "bulkhead ls did not answer during the flood"
wait "$flood" || true
out=$(bh run -p alice -- sh -c 'cat /tmp/flood.*')
refused=$(grep -c "too many disposables" <<<"$out" || true)
[ "$refused" -ge 8 ] || fail "only $refused of 12 simultaneous @dispvm calls were refused beyond the cap of 4: $out"
for _ in $(seq 300); do bh ls | grep -q '^disp' || break; sleep 0.2; done
if bh ls | grep -q '^disp'; then fail "disposables of the flood remain: $(bh ls)"; fi

log "a disposable that breaks the channel protocol mid-call is removed all the same"
bh clone minimal evil-tpl
bh start evil-tpl
# In its disposables the agent is a script: it answers the host's hello, waits for the call,
# then sends a frame of a type that does not exist.
bh run -p --user root evil-tpl -- sh -c '
	mv /usr/bin/bulkhead-agent /usr/bin/bulkhead-agent.real && cat >/usr/bin/bulkhead-agent <<"AGENT"
#!/bin/sh
case " $(cat /proc/cmdline) " in
*" bulkhead.name=disp"*) ;;
*) exec /usr/bin/bulkhead-agent.real "$@" ;;
esac
for p in /sys/class/virtio-ports/*; do
	[ "$(cat "$p/name" 2>/dev/null)" = org.bulkhead.control ] && dev=/dev/${p##*/}
done
exec 3<>"$dev"
dd bs=12 count=1 <&3 >/dev/null 2>&1
printf "\001\000\000\000\000\000\000\000\011\000\000\000\001\000\000\000evil1" >&3
sleep 5
printf "\377\177\000\000\000\000\000\000\000\000\000\000" >&3
exec sleep 100000
AGENT
	chmod 0755 /usr/bin/bulkhead-agent && sync'
bh shutdown evil-tpl
bh create evil-dvm --label red --template evil-tpl
bh prefs evil-dvm template_for_dispvms True
rc=0
bh run -p alice -- bulkhead-call @dispvm:evil-dvm test.Evil </dev/null >/dev/null 2>&1 || rc=$?
[ "$rc" = 126 ] || fail "the call to the hostile disposable exited $rc"
grep -q "qube disp[0-9]* broke the channel protocol" "$T/bulkheadd.log" ||
	fail "the disposable did not break the protocol: $(grep disp "$T/bulkheadd.log" | tail -5)"
for _ in $(seq 300); do bh ls | grep -q '^disp' || break; sleep 0.2; done
if bh ls | grep -q '^disp'; then fail "the disposable stayed after breaking the protocol: $(bh ls)"; fi

log "a start the host has no memory for is refused, and nothing is made for it"
bh create big --label red --template minimal
bh prefs big maxmem 0
bh prefs big memory 1048576
expect_fail 1 "not enough memory to start 'big': it needs 1048576 MiB; the host has [0-9]+ MiB available, keeps 1024 MiB" bh start big
left=$(cd "$BULKHEAD_STATE_DIR/qubes/big" && ls | grep -v -e '^qube.json$' -e '^private.qcow2$' -e '^console.log$' | tr '\n' ' ' || true)
[ -z "$left" ] || fail "a refused start left: $left"
if our_domains | grep -q "^${BULKHEAD_DOMAIN_PREFIX}big$"; then fail "a refused start made a domain"; fi
bh ls | grep -qE '^big +Halted' || fail "big is not halted: $(bh ls)"

log "alice survives its own halt too"
bh shutdown alice
bh ls | grep -qE '^alice +Halted' || fail "alice did not survive its halt: $(bh ls)"

log ok
