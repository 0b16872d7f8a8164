#!/bin/bash
# bulkheadd killed (SIGKILL) while qubes make disposables, and a damaged qube.json under a
# running qube: after a restart no disposable of those calls remains (store, domain or volume),
# and a qube that cannot be read is quarantined, never killed or deleted.
. "$(dirname "$0")/lib.sh"

seed_template
cat >"$BULKHEAD_POLICY_DIR/50-test.policy" <<'POLICY'
test.Echo  *  alice  @dispvm  allow
POLICY
start_daemon
bh create alice --label green --template minimal
bh create dvm --label red --template minimal
bh prefs dvm template_for_dispvms True
bh prefs alice default_dispvm dvm
bh start alice

wait_running() {
	for _ in $(seq 300); do bh ls 2>/dev/null | grep -qE "^$1 +Running" && return 0; sleep 0.2; done
	fail "$1 is not running: $(bh ls)"
}

# Nothing of a disposable: no qube, no store directory (nor a .tmp/.trash one), no domain,
# no volume.
no_disposables() {
	if bh ls | grep -q '^disp'; then fail "$1: a disposable is listed: $(bh ls)"; fi
	left=$(find "$BULKHEAD_STATE_DIR/qubes" -maxdepth 1 -name '*disp*' | tr '\n' ' ')
	[ -z "$left" ] || fail "$1: store entries left: $left"
	left=$(find "$BULKHEAD_STATE_DIR" -name '*.qcow2' -path '*disp*' | tr '\n' ' ')
	[ -z "$left" ] || fail "$1: volumes left: $left"
	left=$(our_domains | grep "^${BULKHEAD_DOMAIN_PREFIX}disp" || true)
	[ -z "$left" ] || fail "$1: domains left: $left"
}

log "twenty @dispvm calls, bulkheadd killed at different moments of them"
calls=0
round=0
while [ "$calls" -lt 20 ]; do
	round=$((round + 1))
	bh run -p alice -- sh -c 'for i in 1 2 3 4; do bulkhead-call @dispvm test.Echo </dev/null >/dev/null 2>&1 & done; wait' >/dev/null 2>&1 &
	runner=$!
	calls=$((calls + 4))
	# From "while the first is being made" to "while they run or are being removed".
	case $((round % 5)) in
	0) sleep 0.3 ;;
	1) for _ in $(seq 100); do ls "$BULKHEAD_STATE_DIR/qubes" | grep -q '^disp' && break; sleep 0.05; done ;;
	2) for _ in $(seq 600); do our_domains | grep -q "^${BULKHEAD_DOMAIN_PREFIX}disp" && break; sleep 0.05; done ;;
	3) for _ in $(seq 600); do bh ls | grep -qE '^disp[0-9]+ +Running' && break; sleep 0.1; done ;;
	4) sleep "$((RANDOM % 20)).$((RANDOM % 10))" ;;
	esac
	log "round $round: killing bulkheadd ($(ls "$BULKHEAD_STATE_DIR/qubes" | grep -c '^disp' || true) disposables in the store)"
	kill9_daemon
	wait "$runner" 2>/dev/null || true
	start_daemon
	no_disposables "after round $round"
	wait_running alice
done
grep -q "destroyed the disposable disp" "$T/bulkheadd.log" ||
	log "note: no kill happened while a disposable ran"

log "a running qube whose qube.json is damaged is quarantined, not killed"
cp "$BULKHEAD_STATE_DIR/qubes/alice/qube.json" "$T/alice.json"
echo '{"version": 1, "name": ' >"$BULKHEAD_STATE_DIR/qubes/alice/qube.json"
kill9_daemon
start_daemon
our_domains | grep -qx "${BULKHEAD_DOMAIN_PREFIX}alice" || fail "alice's domain was destroyed"
grep -q "qubes/alice cannot be read.*quarantined" "$T/bulkheadd.log" || fail "the log does not say quarantined"
grep -q "leaving domain ${BULKHEAD_DOMAIN_PREFIX}alice running" "$T/bulkheadd.log" ||
	fail "the log does not say the domain was left running"
bh ls >/dev/null || fail "bulkhead ls fails"
if bh ls | grep -q '^alice '; then fail "the damaged alice is listed"; fi
[ -f "$BULKHEAD_STATE_DIR/qubes/alice/private.qcow2" ] || fail "alice's files were touched"
expect_fail 1 "exists" bh create alice --label green --template minimal

log "repaired, it is adopted again"
cp "$T/alice.json" "$BULKHEAD_STATE_DIR/qubes/alice/qube.json"
kill9_daemon
start_daemon
wait_running alice

log "an adopted qube whose agent never answers is stopped after its qrexec_timeout"
bh prefs alice qrexec_timeout 15
# The agent (the qube's PID 1, which ignores SIGSTOP) is frozen through its cgroup a little
# later, after this command returned.
bh run -p --user root alice -- sh -c '
	mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null; mkdir -p /sys/fs/cgroup/frozen &&
	setsid sh -c "sleep 3; echo 1 >/sys/fs/cgroup/frozen/cgroup.procs && echo 1 >/sys/fs/cgroup/frozen/cgroup.freeze" >/dev/null 2>&1 </dev/null &'
kill9_daemon
sleep 4
start_daemon
for _ in $(seq 600); do grep -q "qube alice: the agent did not say hello" "$T/bulkheadd.log" && break; sleep 0.2; done
grep -q "qube alice: the agent did not say hello" "$T/bulkheadd.log" || fail "the adopted alice had no start timeout: $(bh ls)"
for _ in $(seq 100); do our_domains | grep -qx "${BULKHEAD_DOMAIN_PREFIX}alice" || break; sleep 0.2; done
our_domains | grep -qx "${BULKHEAD_DOMAIN_PREFIX}alice" && fail "the unanswering alice still runs"
bh ls | grep -qE '^alice +Halted' || fail "alice is not halted: $(bh ls)"

log ok
