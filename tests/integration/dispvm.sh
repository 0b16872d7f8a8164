#!/bin/bash
# `bulkhead run --dispvm[=TEMPLATE]` (qvm-run --dispvm): a new disposable of a disposable template
# runs one command and is removed when the command ends, also when it fails and when the caller
# goes away mid-command; the host's default_dispvm; refusals, with nothing left behind; and
# bulkhead-open-in-dvm from a qube (qvm-open-in-dvm): the file opens in a new disposable of the
# qube's default_dispvm, an edit made there comes back, and the disposable is gone.
. "$(dirname "$0")/lib.sh"

seed_template
start_daemon
bh create dvm --label red --template minimal
bh prefs dvm memory 192 && bh prefs dvm maxmem 192
disposables() { bh ls | awk 'NR>1 && $1 ~ /^disp[0-9]+$/{print $1}'; }
# wait_gone: the disposables go once the command ended (bounded).
wait_gone() {
	for _ in $(seq 60); do [ -z "$(disposables)" ] && return 0; sleep 1; done
	fail "disposables left: $(disposables); $(bh ls)"
}

log "refused: not a disposable template, no default, --no-autostart; nothing made"
expect_fail 1 "'dvm' is not a disposable template" bh run -p --dispvm=dvm -- true
expect_fail 1 "no default_dispvm" bh run -p --dispvm -- true
expect_fail 2 "not with --no-autostart" bh run -p --no-autostart --dispvm=dvm -- true
expect_fail 1 "not a disposable template" bh prefs dom0 default_dispvm dvm
[ -z "$(disposables)" ] || fail "a refused run left $(disposables)"
bh prefs dvm template_for_dispvms True

log "a command runs in a new disposable, which is gone afterwards"
out=$(bh run -p --dispvm=dvm -- sh -c 'echo "in $(hostname)"') || fail "run --dispvm: $out"
grep -qE '^in disp[0-9]+$' <<<"$out" || fail "the command did not run in a disposable: $out"
wait_gone
[ -z "$(ls "$BULKHEAD_STATE_DIR/qubes" | grep '^disp')" ] || fail "a disposable's directory is left"

log "its exit status comes back; the disposable goes anyway"
rc=0
bh run -p --dispvm=dvm -- sh -c 'exit 7' || rc=$?
[ "$rc" = 7 ] || fail "exit status $rc, not 7"
wait_gone

log "the host's default_dispvm"
bh prefs dom0 default_dispvm dvm || fail "setting default_dispvm"
[ "$(bh prefs dom0 default_dispvm)" = dvm ] || fail "default_dispvm reads back '$(bh prefs dom0 default_dispvm)'"
out=$(bh run -p --dispvm -- hostname) || fail "run --dispvm (default): $out"
grep -qE '^disp[0-9]+$' <<<"$out" || fail "not a disposable: $out"
wait_gone
expect_fail 1 "dom0 \(default_dispvm\)" bh remove dvm

log "the caller goes away mid-command: the command is killed and the disposable removed"
"$BULKHEAD" run -p --dispvm=dvm -- sh -c 'echo started; exec sleep 100000' >"$T/mid.out" 2>&1 &
caller=$!
for _ in $(seq 120); do grep -q started "$T/mid.out" && break; sleep 1; done
grep -q started "$T/mid.out" || fail "the command did not start: $(cat "$T/mid.out")"
[ -n "$(disposables)" ] || fail "no disposable runs the command"
kill -9 "$caller"
wait "$caller" 2>/dev/null || true
wait_gone

log "the caller goes away while the disposable boots: it is removed all the same"
"$BULKHEAD" run -p --dispvm=dvm -- true >/dev/null 2>&1 &
caller=$!
for _ in $(seq 60); do [ -n "$(disposables)" ] && break; sleep 0.2; done
[ -n "$(disposables)" ] || fail "no disposable appeared"
kill -9 "$caller"
wait "$caller" 2>/dev/null || true
wait_gone
bh ls >/dev/null || fail "bulkheadd does not answer"

log "bulkhead-open-in-dvm: an edit made in the disposable comes back to the calling qube"
# The minimal template has no viewer: an xdg-open that "edits" goes into its root, which the
# disposables' roots are overlays of (written before any qube based on it starts).
printf '#!/bin/sh\nsleep 1\necho "seen in $(hostname)" >>"$1"\n' |
	bh run -p --user root minimal -- sh -c 'mkdir -p /usr/local/bin && cat >/usr/local/bin/xdg-open && chmod 755 /usr/local/bin/xdg-open'
bh shutdown --wait minimal
# The shipped default policy's line for it (policy/90-default.policy): @dispvm is allowed.
grep "^bulkhead.OpenInVM .*@dispvm" "$BULKHEAD_SRC/policy/90-default.policy" >"$BULKHEAD_POLICY_DIR/90-default.policy"
bh create work --label blue --template minimal
bh prefs work default_dispvm dvm
bh run -p work -- sh -c 'echo draft >/home/user/doc.txt'
out=$(bh run -p work -- bulkhead-open-in-dvm /home/user/doc.txt 2>&1) || fail "open-in-dvm: $out"
content=$(bh run -p work -- cat /home/user/doc.txt)
grep -qE '^seen in disp[0-9]+$' <<<"$content" && grep -q '^draft$' <<<"$content" ||
	fail "the edit did not come back: '$content' ($out)"
wait_gone
# A file only viewed stays as it is.
bh shutdown --wait work
bh run -p --user root minimal -- sh -c 'printf "#!/bin/sh\ncat \"\$1\" >/dev/null\n" >/usr/local/bin/xdg-open' ||
	fail "cannot change the viewer"
bh shutdown --wait minimal
before=$(bh run -p work -- md5sum /home/user/doc.txt)
bh run -p work -- bulkhead-open-in-dvm /home/user/doc.txt >/dev/null 2>&1 || fail "open-in-dvm (view only)"
[ "$(bh run -p work -- md5sum /home/user/doc.txt)" = "$before" ] || fail "a file only viewed changed"
wait_gone

log "ok"
