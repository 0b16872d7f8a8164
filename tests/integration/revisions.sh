#!/bin/bash
# Template revisions (Qubes' revisions_to_keep and qvm-volume revert): a template starts and is
# updated while an AppVM and a DispVM based on it run; they keep the root they started with and
# see the update at their next start; each stop of the template keeps a revision; `volume revert`
# brings the older root back; revisions_to_keep bounds how many stay, but a revision a running
# qube reads stays until that qube stops; bad input is refused with nothing changed; what a
# crash left half-done is completed at bulkheadd's next start.
. "$(dirname "$0")/lib.sh"

seed_template
start_daemon
Q=$BULKHEAD_STATE_DIR/qubes/minimal
# The revisions `volume info` lists, on one line, newest first.
revs() {
	bh volume info minimal root | sed -n '/^List of available revisions/,$p' | tail -n +2 |
		tr -d ' ' | tr '\n' ' ' | sed 's/ $//'
}
# The template's root files by name and inode, and its stored properties.
files() {
	(cd "$Q" && find . \( -name '*.qcow2' -o -name '*.tmp' \) -printf '%p %i\n' | sort && cat qube.json) |
		md5sum
}
no_marker() { # QUBE: /etc/marker does not exist in it
	local rc=0
	bh run -p "$1" -- test -e /etc/marker || rc=$?
	[ "$rc" = 1 ] || fail "$1 sees /etc/marker (test -e gave $rc)"
}

bh create work --label blue --template minimal
bh prefs work memory 192 && bh prefs work maxmem 192
bh create dvm --label red --template minimal
bh prefs dvm template_for_dispvms True
bh create disp1 --class DispVM --label red --template dvm
bh prefs disp1 memory 192 && bh prefs disp1 maxmem 192

log "no revision yet: refusals change nothing"
[ "$(bh prefs minimal revisions_to_keep)" = 1 ] || fail "revisions_to_keep is not 1 by default"
bh volume info minimal root | grep -qE '^revisions_to_keep +1$' || fail "info: $(bh volume info minimal root)"
[ -z "$(revs)" ] || fail "a fresh template has revisions: $(revs)"
bh volume info work root | grep -q 'for revert): none$' || fail "an AppVM's root lists revisions"
before=$(files)
expect_fail 1 "no root revision to revert to" bh volume revert minimal root
expect_fail 1 "volume 'root' of 'work' has no revisions" bh volume revert work root
expect_fail 1 "volume 'private' of 'minimal' has no revisions" bh volume revert minimal private
expect_fail 1 "no volume 'swap'" bh volume info minimal swap
expect_fail 1 "revisions_to_keep is a template's" bh prefs work revisions_to_keep 2
expect_fail 1 "invalid value" bh prefs minimal revisions_to_keep 101
expect_fail 1 "invalid value" bh prefs minimal revisions_to_keep two
expect_fail 2 "volume revert needs" bh volume revert minimal
expect_fail 2 "volume info needs" bh volume info minimal
[ "$(files)" = "$before" ] || fail "a refused call changed the template's files"

log "the template starts and is updated while qubes based on it run"
bh start work
bh start disp1
bh start minimal
bh run -p --user root minimal -- sh -c 'echo v2 > /etc/marker && sync'
before=$(files)
expect_fail 1 "minimal' is Running; shut it down to revert" bh volume revert minimal root
[ "$(files)" = "$before" ] || fail "a refused revert changed the template's files"
no_marker work
bh shutdown minimal
[ "$(revs | wc -w)" = 1 ] || fail "one stop kept $(revs | wc -w) revisions: $(revs)"
[ ! -e "$Q/root-next.qcow2" ] || fail "root-next.qcow2 stayed after the stop"
no_marker work
no_marker disp1

log "they see the update at their next start"
bh shutdown work
bh shutdown disp1
bh start work
[ "$(bh run -p work -- cat /etc/marker)" = v2 ] || fail "work does not see the update after its restart"
bh start disp1
[ "$(bh run -p disp1 -- cat /etc/marker)" = v2 ] || fail "disp1 does not see the update after its restart"
bh shutdown disp1

log "bad revision names are refused, nothing changed"
before=$(files)
expect_fail 1 "no root revision '999'" bh volume revert minimal root 999
expect_fail 1 "invalid revision '../root'" bh volume revert minimal root ../root
expect_fail 1 "invalid revision '01'" bh volume revert minimal root 01
[ "$(files)" = "$before" ] || fail "a refused revert changed the template's files"

log "revert: the running AppVM keeps its root; at its next start the old root is back"
old=$(revs)
bh volume revert minimal root "$old"
[ "$(bh run -p work -- cat /etc/marker)" = v2 ] || fail "the revert changed a running qube's root"
[ "$(revs | wc -w)" = 1 ] || fail "after the revert: revisions $(revs), expected the replaced root"
[ "$(revs)" != "$old" ] || fail "the reverted-to revision is still listed"
bh shutdown work
bh start work
no_marker work
log "a second revert (newest by default) undoes the first"
bh volume revert minimal root
bh shutdown work
bh start work
[ "$(bh run -p work -- cat /etc/marker)" = v2 ] || fail "the second revert did not bring v2 back"

log "revisions_to_keep bounds the count; a revision a running qube reads stays until it stops"
# work runs on the current root R2 (with the marker); revisions: R1.
bh start minimal
bh run -p --user root minimal -- sh -c 'echo v3 > /etc/marker && sync'
bh shutdown minimal
# R2 became a revision and R1 is pruned (one is kept): R2 stays because it is the newest.
[ "$(revs | wc -w)" = 1 ] || fail "revisions $(revs), expected 1"
r2=$(revs)
bh start minimal
bh run -p --user root minimal -- sh -c 'echo v4 > /etc/marker && sync'
bh shutdown minimal
# R3 is the newest; R2 is beyond revisions_to_keep but work still reads it.
[ "$(revs | wc -w)" = 2 ] || fail "revisions $(revs): the one work reads must stay"
[ "$(bh run -p work -- cat /etc/marker)" = v2 ] || fail "work's root changed under it"
bh shutdown work
[ "$(revs | wc -w)" = 1 ] || fail "revisions $(revs) after work stopped, expected 1"
[ "$(revs)" != "$r2" ] || fail "the revision work read was kept instead of the newest"
[ ! -e "$Q/root.rev/$r2.qcow2" ] || fail "the pruned revision's file stayed"
bh prefs minimal revisions_to_keep 2
bh start minimal
bh shutdown minimal
[ "$(revs | wc -w)" = 2 ] || fail "revisions $(revs) with revisions_to_keep 2"
bh prefs minimal revisions_to_keep 0
[ -z "$(revs)" ] || fail "revisions_to_keep 0 left $(revs)"
expect_fail 1 "no root revision to revert to" bh volume revert minimal root
bh start work
[ "$(bh run -p work -- cat /etc/marker)" = v4 ] || fail "work does not run on the newest root"
bh shutdown work

log "bulkheadd killed while the template runs: the next bulkheadd commits at the template's stop"
bh prefs minimal revisions_to_keep 1
bh start minimal
bh run -p --user root minimal -- sh -c 'echo v5 > /etc/marker && sync'
kill9_daemon
start_daemon
bh shutdown minimal
[ "$(revs | wc -w)" = 1 ] || fail "revisions $(revs) after a stop under a new bulkheadd"
[ ! -e "$Q/root-next.qcow2" ] || fail "root-next.qcow2 stayed after the stop"
bh start work
[ "$(bh run -p work -- cat /etc/marker)" = v5 ] || fail "the update made before bulkheadd died is lost"
bh shutdown work

log "a crash mid-way: bulkheadd's next start completes the commit and removes leftovers"
stop_daemon
# As if the template had stopped and bulkheadd died before the rename: what it wrote is in
# root-next.qcow2; and as if another start died while copying.
qemu-img create -q -f qcow2 -F qcow2 -b "$Q/root.qcow2" "$T/ov.qcow2"
qemu-img convert -O qcow2 "$T/ov.qcow2" "$Q/root-next.qcow2"
echo partial >"$Q/root-copy.qcow2"
ino=$(stat -c %i "$Q/root-next.qcow2")
start_daemon
[ "$(stat -c %i "$Q/root.qcow2")" = "$ino" ] || fail "root-next.qcow2 did not become the root"
[ ! -e "$Q/root-next.qcow2" ] && [ ! -e "$Q/root-copy.qcow2" ] || fail "leftovers stayed: $(ls "$Q")"
[ "$(revs | wc -w)" = 1 ] || fail "the replaced root is not a revision: $(revs)"
bh start work
[ "$(bh run -p work -- cat /etc/marker)" = v5 ] || fail "the committed root is not what work runs on"
bh shutdown work

log ok
