#!/bin/bash
# `bulkhead settings`, the launcher's Settings, driven line by line against a real bulkheadd (no
# qube boots): a qube's view shows its properties; "KEY VALUE" sets one (a value with spaces
# too), "default KEY" resets it, a command that takes a qube runs on the open one, dom0's view
# holds the host's settings; wrong lines (unknown key, bad value, unknown qube or command, too
# long) say why and change nothing, and the end of input leaves cleanly.
. "$(dirname "$0")/lib.sh"

start_daemon
bh create tpl --class TemplateVM --label black >/dev/null || fail "create tpl"
bh create work --template tpl --label blue >/dev/null || fail "create work"

settings() { # LINES... -> stdout+stderr of one session
	printf '%s\n' "$@" | "$BULKHEAD" settings 2>&1
}

log "the list, a qube's view, a label and a value with spaces set"
out=$(settings work "label red" "features note one two  three" "" q) ||
	fail "settings exited $?: $out"
grep -q "^work .*AppVM" <<<"$out" || grep -q "work" <<<"$out" || fail "no list: $out"
grep -q "^label  *[-D]  *blue" <<<"$out" || fail "work's view does not show label blue: $out"
[ "$(bh prefs work label)" = red ] || fail "label not set: $(bh prefs work label)"
[ "$(bh features work note)" = "one two  three" ] ||
	fail "feature with spaces: '$(bh features work note)'"

log "default resets; a property value with spaces"
out=$(settings work "memory 640" "default memory" q) || fail "settings: $out"
[ "$(bh prefs work memory)" != 640 ] || fail "default memory did not reset"
bh prefs work memory >/dev/null
out=$(printf 'label green\n' | "$BULKHEAD" settings work 2>&1) || fail "settings work: $out"
[ "$(bh prefs work label)" = green ] || fail "settings NAME did not open NAME"

log "wrong lines: said why, nothing changed"
before=$(bh prefs work)
out=$(settings work "label purplish" "nosuchkey 3" "memory lots" "frobnicate" q)
grep -q "invalid value for label" <<<"$out" || fail "bad label not reported: $out"
grep -qi "nosuchkey" <<<"$out" || fail "unknown key not reported: $out"
[ "$(bh prefs work)" = "$before" ] || fail "a refused line changed work: $(bh prefs work)"
out=$(settings nosuch q)
grep -qi "nosuch" <<<"$out" || fail "unknown qube not reported: $out"
out=$(settings "two words" "../etc" q)
[ "$(grep -c 'type one qube name' <<<"$out")" = 2 ] || fail "bad names not refused: $out"
long=$(head -c 3000 /dev/zero | tr '\0' a)
out=$(settings work "label $long" q)
grep -q "longer than" <<<"$out" || fail "long line not refused: $out"
[ "$(bh prefs work)" = "$before" ] || fail "the long line changed work"

log "dom0: the host's settings"
out=$(settings dom0 "" q) || fail "dom0: $out"
grep -q "default_netvm" <<<"$out" || fail "dom0's view lacks default_netvm: $out"

log "usage errors; end of input in a view"
"$BULKHEAD" settings a b </dev/null >/dev/null 2>&1 && fail "two arguments accepted"
[ $? = 2 ] || fail "two arguments: exit $?"
"$BULKHEAD" settings 'bad/name' </dev/null >/dev/null 2>&1 && fail "bad name accepted"
printf 'work\nlabel' | "$BULKHEAD" settings >/dev/null 2>&1 || fail "end of input: exit $?"
log "ok"
