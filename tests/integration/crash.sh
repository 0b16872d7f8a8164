#!/bin/bash
# SIGKILL bulkheadd while a qube starts and while qubes are created: the next bulkheadd finds a
# consistent store, adopts what still runs and removes what a crash left behind.
. "$(dirname "$0")/lib.sh"

seed_template
start_daemon
bh create a1 --label red --template minimal

log "SIGKILL while a1 starts"
bh start a1 &
start_pid=$!
sleep 1.5
kill9_daemon
wait "$start_pid" || true
start_daemon
# a1 is either running (adopted) or halted, and works either way.
bh start a1 2>/dev/null || true
[ "$(bh run -p a1 -- echo alive)" = alive ] || fail "a1 unusable after the restart"
bh ls | grep -qE '^a1 +Running' || fail "a1 not running: $(bh ls)"

log "SIGKILL while a1 runs: adopted by the next bulkheadd"
kill9_daemon
start_daemon
# Adopted qubes are Transient until their agent answers the new connection.
for _ in $(seq 150); do bh ls | grep -qE '^a1 +Running' && break; sleep 0.2; done
bh ls | grep -qE '^a1 +Running' || fail "a1 not adopted: $(bh ls)"
[ "$(bh run -p a1 -- echo adopted)" = adopted ] || fail "cannot run in the adopted a1"

log "a stale overlay of a halted qube is removed"
bh shutdown a1
kill9_daemon
touch "$BULKHEAD_STATE_DIR/qubes/a1/root-overlay.qcow2"
start_daemon
[ ! -e "$BULKHEAD_STATE_DIR/qubes/a1/root-overlay.qcow2" ] || fail "stale overlay kept"

log "SIGKILL at random moments during create and clone"
for i in $(seq 1 8); do
	if [ $((i % 2)) = 0 ]; then
		bh create "c$i" --label green --template minimal >/dev/null 2>&1 &
	else
		bh clone a1 "c$i" >/dev/null 2>&1 &
	fi
	cpid=$!
	sleep "0.0$((RANDOM % 9))"
	kill9_daemon
	wait "$cpid" 2>/dev/null || true
	start_daemon
	# Either the qube exists completely or not at all.
	if bh ls | grep -q "^c$i "; then
		[ -f "$BULKHEAD_STATE_DIR/qubes/c$i/private.qcow2" ] || fail "c$i listed without its private volume"
		bh prefs "c$i" label >/dev/null || fail "c$i is listed but damaged"
	else
		[ ! -e "$BULKHEAD_STATE_DIR/qubes/c$i" ] || fail "half-created c$i left behind"
	fi
done
leftovers=$(find "$BULKHEAD_STATE_DIR/qubes" -maxdepth 1 -name '.*' -not -name . | wc -l)
[ "$leftovers" = 0 ] || fail "temporary directories left: $(ls -a "$BULKHEAD_STATE_DIR/qubes")"

log ok
