#!/bin/bash
# A qube's life: create, start, run commands, persistence of /home, throw-away root, template
# changes reaching AppVMs, pause, kill, remove.
. "$(dirname "$0")/lib.sh"

seed_template
start_daemon

bh create work --label blue --template minimal
bh ls | grep -qE '^work +Halted +AppVM +blue +minimal' || fail "ls does not show work halted: $(bh ls)"

log "start work"
"$BULKHEAD" events >"$T/events" &
events_pid=$!
bh start work
bh ls | grep -qE '^work +Running' || fail "work is not running: $(bh ls)"
bh info | grep -qE 'hypervisor: (kvm|tcg)' || fail "info lacks the hypervisor"
grep -q '"domain-start"' "$T/events" && grep -q '"work"' "$T/events" || fail "no domain-start event: $(cat "$T/events")"
kill "$events_pid"
bh ls --json | python3 -c 'import json,sys; q={x["name"]: x for x in json.load(sys.stdin)}; assert q["work"]["state"] == "Running" and q["work"]["label"] == "blue"' ||
	fail "ls --json"
bh template ls | grep -q '^minimal ' || fail "template ls lacks minimal"
bh template ls | grep -q '^work ' && fail "template ls lists an AppVM"
# QEMU runs as libvirt's unprivileged user, with no graphics and no network device.
qpid=$(cat "/run/libvirt/qemu/${BULKHEAD_DOMAIN_PREFIX}work.pid")
quser=$(ps -o user= -p "$qpid")
[ "$quser" = libvirt-qemu ] || fail "QEMU runs as '$quser'"
xml=$(virsh -c qemu:///system dumpxml "${BULKHEAD_DOMAIN_PREFIX}work")
grep -q "<graphics" <<<"$xml" && fail "the domain has a graphics device"
grep -q "<interface" <<<"$xml" && fail "the domain has a network device"
grep -q "org.bulkhead.control" <<<"$xml" || fail "the domain has no control channel"

log "run -p: output and exit status"
out=$(bh run -p work -- echo hello from work)
[ "$out" = "hello from work" ] || fail "run printed '$out'"
rc=0; bh run -p work -- sh -c 'echo to-stderr >&2; exit 7' 2>"$T/err" || rc=$?
[ "$rc" = 7 ] || fail "exit status $rc, expected 7"
grep -q to-stderr "$T/err" || fail "stderr not passed through"
out=$(printf 'line1\nline2\n' | bh run -p work -- cat)
[ "$out" = "$(printf 'line1\nline2')" ] || fail "stdin not passed through: '$out'"
out=$(bh run -p work -- id -un)
[ "$out" = user ] || fail "default user is '$out', expected user"
out=$(bh run -p --user root work -- id -u)
[ "$out" = 0 ] || fail "--user root runs as uid $out"
rc=0; bh run -p work -- sh -c 'kill -9 $$' || rc=$?
[ "$rc" = 137 ] || fail "a command killed by SIGKILL gave $rc, expected 137"
# Large output passes intact (flow control across daemon and CLI).
sum=$(bh run -p work -- sh -c 'head -c 3000000 /dev/zero | tr "\0" x' | md5sum | cut -d' ' -f1)
[ "$sum" = "$(head -c 3000000 /dev/zero | tr '\0' x | md5sum | cut -d' ' -f1)" ] || fail "large output corrupted"

log "persistence: /home kept, root change discarded"
bh run -p work -- sh -c 'echo kept > /home/user/note && sync'
bh run -p --user root work -- sh -c 'echo gone > /etc/root-change && sync'
bh shutdown --wait work
bh ls | grep -qE '^work +Halted' || fail "work did not halt: $(bh ls)"
[ ! -e "$BULKHEAD_STATE_DIR/qubes/work/root-overlay.qcow2" ] || fail "the root overlay survived shutdown"
bh start work
[ "$(bh run -p work -- cat /home/user/note)" = kept ] || fail "/home/user/note lost"
rc=0; bh run -p work -- test -e /etc/root-change || rc=$?
[ "$rc" = 1 ] || fail "a change to the root filesystem survived a restart"
bh shutdown work

log "a template change reaches its AppVM at the next start"
bh start minimal
bh run -p --user root minimal -- sh -c 'echo v2 > /etc/template-mark && sync'
bh shutdown minimal
bh start work
[ "$(bh run -p work -- cat /etc/template-mark)" = v2 ] || fail "template change not seen by work"

log "pause, unpause, kill"
bh pause work
bh ls | grep -qE '^work +Paused' || fail "work not paused"
bh unpause work
bh run -p work -- true
bh kill work
bh ls | grep -qE '^work +Halted' || fail "work not halted after kill"

log "prefs, features, tags, volumes"
bh prefs work memory 300
[ "$(bh prefs work memory)" = 300 ] || fail "memory not set"
bh prefs work memory --default
[ "$(bh prefs work memory)" = 400 ] || fail "memory not reset"
bh prefs work label red
bh features work service.foo 1
[ "$(bh features work service.foo)" = 1 ] || fail "feature not set"
bh tags work add client-a
bh tags work | grep -qx client-a || fail "tag not added"
bh tags work del client-a
bh volume ls work | grep -q private || fail "volume ls lacks private"
bh volume resize work private 3G
bh volume ls work | grep private | grep -q '3.0 GiB\|3 GiB\|3221225472' || fail "resize not shown: $(bh volume ls work)"
bh start work
[ "$(bh run -p work -- sh -c 'df -k /rw | tail -1 | awk "{print \$2}"')" -gt 2500000 ] || fail "the private filesystem did not grow"
bh log work | grep -qi 'bulkhead' || fail "console log empty"

log "autostart: once per host boot, not at each start of bulkheadd"
bh shutdown work
bh prefs work autostart true
[ -e "$T/run/autostart-done" ] || fail "bulkheadd made no autostart mark in its run directory"
stop_daemon
start_daemon
bh ls | grep -qE '^work +Halted' || fail "a restart of bulkheadd started an autostart qube: $(bh ls)"
stop_daemon
# A boot empties /run, and the mark with it.
rm "$T/run/autostart-done"
start_daemon
for _ in $(seq 600); do bh ls | grep -qE '^work +Running' && break; sleep 0.2; done
bh ls | grep -qE '^work +Running' || fail "autostart did not start work at boot: $(bh ls)"
grep -q "autostart: starting work" "$T/bulkheadd.log" || fail "the autostart was not logged"
bh run -p work -- true
bh prefs work autostart false

log "clone and remove"
bh shutdown work
bh clone work work2
[ "$(bh prefs work2 label)" = red ] || fail "clone lost the label"
bh start work2
[ "$(bh run -p work2 -- cat /home/user/note)" = kept ] || fail "clone lost the private volume"
bh shutdown work2
bh remove work2
bh ls | grep -q '^work2 ' && fail "work2 still listed"
[ ! -e "$BULKHEAD_STATE_DIR/qubes/work2" ] || fail "work2's files remain"

log "a DispVM: fresh root and private at every start"
expect_fail 1 "not a disposable template" bh create disp1 --class DispVM --label red --template work
bh prefs work template_for_dispvms True
bh create disp1 --class DispVM --label red --template work
bh start disp1
[ "$(bh run -p disp1 -- cat /home/user/note)" = kept ] || fail "disp1 does not see work's /home"
bh run -p disp1 -- sh -c 'echo scratch > /home/user/note && sync'
expect_fail 1 "disp1.*is running" bh start work
bh shutdown disp1
[ ! -e "$BULKHEAD_STATE_DIR/qubes/disp1/private-overlay.qcow2" ] || fail "disp1's private overlay survived"
bh start disp1
[ "$(bh run -p disp1 -- cat /home/user/note)" = kept ] || fail "a change in disp1 survived its shutdown"
bh shutdown disp1
expect_fail 1 "still used by: disp1" bh remove work
bh remove disp1

log ok
