#!/bin/bash
# `bulkhead gui` against a real headless bulkhead-compositor (no qubes, no libvirt needed): a host
# program run as qube work's client is listed as "[work] ...", the answers of bad commands and a
# missing compositor are errors with their exit codes, `quit` stops the compositor.
set -uo pipefail
B=${BULKHEAD_BUILD:?}
CLI=$B/cli/bulkhead
COMPOSITOR=$B/compositor/bulkhead-compositor
[ -x "$COMPOSITOR" ] || { echo "SKIP: no compositor built"; exit 77; }
command -v foot >/dev/null || { echo "SKIP: foot missing"; exit 77; }
T=$(mktemp -d /tmp/bulkhead-gui-cli.XXXXXX)
fail() {
	echo "FAIL: $*" >&2
	cat "$T/compositor.log" >&2
	exit 1
}
cleanup() {
	[ -n "${CPID:-}" ] && kill "$CPID" 2>/dev/null
	[ -n "${FPID:-}" ] && kill "$FPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
chmod 0700 "$T"
export XDG_RUNTIME_DIR=$T
unset WAYLAND_DISPLAY DISPLAY BULKHEAD_GUI_CONTROL

"$CLI" gui windows 2>"$T/err"
[ $? = 3 ] || fail "no compositor: expected exit 3"
grep -q "cannot reach the compositor" "$T/err" || fail "no compositor: message '$(cat "$T/err")'"

WLR_BACKENDS=headless WLR_RENDERER=pixman "$COMPOSITOR" >"$T/compositor.log" 2>&1 &
CPID=$!
for _ in $(seq 300); do
	[ -S "$T/bulkhead-compositor.ctl" ] && break
	sleep 0.1
done
[ -S "$T/bulkhead-compositor.ctl" ] || fail "no control socket"

out=$("$CLI" gui windows) || fail "windows: exit $?"
[ -z "$out" ] || fail "windows before any client: '$out'"

"$CLI" gui run work blue -- foot sh -c 'sleep 600' >"$T/foot.log" 2>&1 &
FPID=$!
for _ in $(seq 300); do
	out=$("$CLI" gui windows) && [ -n "$out" ] && break
	sleep 0.2
done
IFS=$'\t' read -r _ qube title _ <<<"$out"
[ "$qube" = work ] && [ "$title" = "[work] foot" ] || fail "windows: '$out'"

"$CLI" gui run work red -- true 2>"$T/err"
[ $? = 1 ] || fail "a second label for work: expected exit 1"
grep -q "label" "$T/err" || fail "label mismatch: message '$(cat "$T/err")'"
"$CLI" gui no-such-command 2>"$T/err"
[ $? = 1 ] || fail "unknown command: expected exit 1"
"$CLI" gui run work 2>/dev/null
[ $? = 2 ] || fail "run without LABEL COMMAND: expected usage error"
"$CLI" gui --control "$T/nothing" windows 2>/dev/null
[ $? = 3 ] || fail "--control to nothing: expected exit 3"

"$CLI" gui quit || fail "quit: exit $?"
for _ in $(seq 100); do
	kill -0 "$CPID" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$CPID" 2>/dev/null && fail "the compositor is still running after quit"
CPID=
echo "gui-cli: ok"
