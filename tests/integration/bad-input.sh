#!/bin/bash
# Every kind of bad input gets a clear message, a non-zero exit, and changes nothing.
. "$(dirname "$0")/lib.sh"

log "daemon not running"
expect_fail 3 "start.*bulkheadd" bh ls

log "bad daemon options are refused before anything starts"
expect_fail 2 "--channel must be virtio-serial or vsock" "$BULKHEADD" --channel bogus
expect_fail 2 "--rpc-timeout must be" "$BULKHEADD" --rpc-timeout abc
expect_fail 2 "unrecognized option|usage" "$BULKHEADD" --no-such-option
[ ! -e "$BULKHEAD_SOCKET" ] || fail "a refused bulkheadd left its socket"

seed_template
start_daemon
snapshot() { (cd "$BULKHEAD_STATE_DIR/qubes" && find . -not -name console.log | sort; cat ./*/qube.json) | md5sum; }
before=$(snapshot)

log "names, labels, classes, templates"
expect_fail 1 "invalid qube name" bh create 1bad --label red --template minimal
expect_fail 1 "invalid qube name" bh create dom0 --label red --template minimal
expect_fail 1 "invalid qube name" bh create none --label red --template minimal
expect_fail 1 "invalid qube name" bh create default --label red --template minimal
expect_fail 1 "invalid qube name" bh create "a/b" --label red --template minimal
expect_fail 1 "invalid qube name" bh create abcdefghijabcdefghijabcdefghijab --label red --template minimal
expect_fail 1 "unknown label" bh create ok1 --label pink --template minimal
expect_fail 1 "unknown class|class" bh create ok1 --label red --class FooVM --template minimal
expect_fail 1 "no template named" bh create ok1 --label red --template nosuch
expect_fail 1 "already exists" bh create minimal --label red --class TemplateVM
expect_fail 1 "no property|property" bh create ok1 --label red --template minimal --prop nosuch=1
expect_fail 1 "memory" bh create ok1 --label red --template minimal --prop memory=1
expect_fail 2 "label" bh create ok1 --template minimal
[ "$(snapshot)" = "$before" ] || fail "a refused create changed the store"

bh create app --label green --template minimal
before=$(snapshot)
log "properties"
expect_fail 1 "invalid value|memory" bh prefs app memory lots
expect_fail 1 "no property" bh prefs app nosuch 1
expect_fail 1 "read-only" bh prefs app name other
expect_fail 1 "not a TemplateVM|no template" bh prefs app template app
expect_fail 1 "unknown label|invalid" bh prefs app label pink
expect_fail 1 "no qube named" bh prefs nosuch memory
[ "$(snapshot)" = "$before" ] || fail "a refused change altered the store"

log "removing what is running or still used"
expect_fail 1 "still used by: app" bh remove minimal
bh start app
expect_fail 1 "shut it down" bh remove app
expect_fail 1 "not halted|already" bh start app
# (The template may start while app runs: it writes a copy of its root, see revisions.sh.)
# A command line larger than one message to the channel process is refused before the qube
# sees it; the next one runs.
expect_fail 1 "the command line is too long" bh run -p app -- echo "$(head -c 17000 /dev/zero | tr '\0' x)"
[ "$(bh run -p app -- echo "$(head -c 16000 /dev/zero | tr '\0' y)" | wc -c)" = 16001 ] ||
	fail "a 16000-byte argument did not run"
bh shutdown app
expect_fail 1 "no qube named" bh start nosuch

log "a missing volume"
mv "$BULKHEAD_STATE_DIR/qubes/app/private.qcow2" "$T/private.qcow2"
expect_fail 1 "private volume of 'app' is missing" bh start app
mv "$T/private.qcow2" "$BULKHEAD_STATE_DIR/qubes/app/private.qcow2"
bh ls | grep -qE '^app +Halted' || fail "app not halted after a failed start"

log "an agent that never answers: clean-up after the timeout"
bh create mute --label gray --template minimal --prop qrexec_timeout=15 \
	--prop "kernelopts=rdinit=/bin/busybox -- sleep 100000"
expect_fail 1 "did not answer" bh start mute
bh ls | grep -qE '^mute +Halted' || fail "mute not halted after the timeout"
[ -z "$(our_domains | grep mute || true)" ] || fail "mute's domain still runs"
[ ! -e "$BULKHEAD_STATE_DIR/qubes/mute/root-overlay.qcow2" ] || fail "mute's overlay left behind"

log "volumes"
expect_fail 1 "only grow" bh volume resize app private 1M
expect_fail 1 "cannot be resized" bh volume resize app root 20G
expect_fail 2 "size" bh volume resize app private 12Q

log "requests over the size cap, malformed or unknown"
python3 "$BULKHEAD_SRC/tests/integration/api-raw.py" "$BULKHEAD_SOCKET" || fail "raw API checks"
big=$(head -c 70000 /dev/zero | tr '\0' a)
expect_fail 1 "large|long|limit" bh features app key "$big"

log "a caller who is not allowed"
id nobody >/dev/null
chmod 0755 "$T" "$T/run"
expect_fail 4 "not allowed|may not|permission" setpriv --reuid=nobody --regid=nogroup --clear-groups "$BULKHEAD" ls

log "a full disk during create and clone"
stop_daemon
mkdir -p "$T/small"
mount -t tmpfs -o size=16M,mode=0711 tmpfs "$T/small"
export BULKHEAD_STATE_DIR=$T/small/state
start_daemon
bh create tiny --class TemplateVM --label black
avail=$(df --output=avail -B1 "$T/small" | tail -1)
fallocate -l $((avail - 96 * 1024)) "$T/small/filler"
before_small=$(cd "$T/small/state/qubes" && find . | sort | md5sum)
expect_fail 1 "space" bh create big1 --label red --class StandaloneVM --template tiny
expect_fail 1 "space" bh clone tiny big2
expect_fail 1 "space" bh create big3 --label red --class TemplateVM
[ "$(cd "$T/small/state/qubes" && find . | sort | md5sum)" = "$before_small" ] ||
	fail "a failed create left files: $(ls -a "$T/small/state/qubes")"
bh ls | grep -qE '^(big1|big2|big3) ' && fail "a failed create is listed"
rm -f "$T/small/filler"
bh create big1 --label red --class StandaloneVM --template tiny
stop_daemon
umount "$T/small"

log ok
