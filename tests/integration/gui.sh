#!/bin/bash
# A window from a real qube: a headless bulkhead-compositor, bulkheadd with --gui-control, qube
# work (blue) booted from the minimal template, bulkhead-demo-window run in it through the
# Wayland proxy's two halves. The window is listed as "[work] hello" and framed in exactly blue;
# it goes away with the qube and its host half, and comes back with a new host half after a
# restart. A host half that dies while its qube runs is not restarted until the qube restarts.
. "$(dirname "$0")/lib.sh"

COMPOSITOR=$BULKHEAD_BUILD/compositor/bulkhead-compositor
HELPER=$BULKHEAD_SRC/tests/integration/gui-helper.py
for f in "$COMPOSITOR" "$BULKHEAD_WAYLAND_PROXY" "$BULKHEAD_QUBE_TOOLS/bulkhead-demo-window"; do
	[ -x "$f" ] || { echo "SKIP: $f not built"; exit 77; }
done
for tool in grim python3; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool missing"; exit 77; }
done
BLUE=3465a4
WAIT=600 # seconds: a TCG boot and a first frame through both halves can be slow

seed_template

# The compositor, headless, with a runtime directory of its own.
XDG=$T/xdg
mkdir -m 0700 "$XDG"
env -u WAYLAND_DISPLAY -u DISPLAY XDG_RUNTIME_DIR="$XDG" HOME="$XDG" WLR_BACKENDS=headless \
	WLR_RENDERER=pixman WLR_HEADLESS_OUTPUTS=1 WLR_LIBINPUT_NO_DEVICES=1 \
	"$COMPOSITOR" >"$T/compositor.log" 2>&1 &
COMPOSITOR_PID=$!
CTL=$XDG/bulkhead-compositor.ctl
for _ in $(seq 300); do
	[ -S "$CTL" ] && [ -S "$XDG/wayland-0" ] && break
	kill -0 "$COMPOSITOR_PID" 2>/dev/null || { cat "$T/compositor.log" >&2; fail "the compositor exited"; }
	sleep 0.1
done
[ -S "$CTL" ] || fail "the compositor's control socket did not appear"
stop_compositor() {
	kill "$COMPOSITOR_PID" 2>/dev/null || true
	wait "$COMPOSITOR_PID" 2>/dev/null || true
}
gui_cleanup() {
	local rc=$?
	set +e # the status is lib.sh's cleanup's to report
	stop_compositor
	(exit "$rc")
	cleanup
}
trap gui_cleanup EXIT

export BULKHEAD_GUI_CONTROL=$CTL
start_daemon
grep -q "windows go to the compositor at $CTL" "$T/bulkheadd.log" || fail "bulkheadd did not take --gui-control"

bh create work --label blue --template minimal
log "start work"
bh start work
xml=$(virsh -c qemu:///system dumpxml "${BULKHEAD_DOMAIN_PREFIX}work")
grep -q "org.bulkhead.gui" <<<"$xml" || fail "the domain has no GUI port"

log "commands in the qube get the display and a private runtime directory"
out=$(bh run -p work -- sh -c 'echo "$WAYLAND_DISPLAY"; stat -c "%a %u" "$XDG_RUNTIME_DIR"')
[ "$out" = "$(printf '/run/bulkhead-gui/wayland-0\n700 1000')" ] || fail "environment in the qube: '$out'"

# The host half of each start, from bulkheadd's log.
proxy_pids() { sed -n 's/.*qube work: GUI proxy started (pid \([0-9]*\)).*/\1/p' "$T/bulkheadd.log"; }

show_window() { # TITLE
	# The guest half starts once the host half holds the port, a moment after the hello.
	timeout "$WAIT" "$BULKHEAD" run -p work -- sh -c 'while [ ! -S "$WAYLAND_DISPLAY" ]; do sleep 1; done' ||
		fail "the display did not appear in the qube: $(bh log work | grep -i wayland | tail -n 5)"
	bh run -p work -- bulkhead-demo-window --title "$1" >>"$T/demo.log" 2>&1 &
	local demo=$! line= found=
	# Until the window is listed, or the client has given up.
	for _ in $(seq $((WAIT / 5))); do
		if line=$(python3 "$HELPER" wait "$CTL" work "[work] $1" 5); then
			found=1
			break
		fi
		kill -0 "$demo" 2>/dev/null || break
	done
	[ -n "$found" ] || { cat "$T/demo.log" "$T/compositor.log" >&2; fail "no window '[work] $1': $line"; }
	log "window: ${line//$'\t'/ }"
	IFS=$'\t' read -r _ _ _ X Y W H _ <<<"$line"
}

log "a window from the qube, framed in blue"
show_window hello
[ "$(proxy_pids | wc -l)" = 1 ] || fail "expected one host half, got: $(proxy_pids)"
pid1=$(proxy_pids | tail -n 1)
tr '\0' ' ' <"/proc/$pid1/cmdline" | grep -q "host --qube work" || fail "pid $pid1 is not work's host half"
env XDG_RUNTIME_DIR="$XDG" WAYLAND_DISPLAY=wayland-0 grim "$T/shot.png" || fail "grim failed"
python3 "$HELPER" frame "$T/shot.png" "$X" "$Y" "$W" "$H" "$BLUE" || fail "the frame is not blue"

log "shutdown: the window and the host half go"
bh shutdown --wait work
python3 "$HELPER" gone "$CTL" work "$WAIT" || fail "work's window outlived the qube"
[ ! -e "/proc/$pid1" ] || fail "the host half $pid1 outlived the qube"

log "restart: a new host half, a new window"
bh start work
show_window again
[ "$(proxy_pids | wc -l)" = 2 ] || fail "expected a second host half, got: $(proxy_pids)"
pid2=$(proxy_pids | tail -n 1)
[ "$pid2" != "$pid1" ] && [ -e "/proc/$pid2" ] || fail "no new host half after the restart"

log "a host half that ends while the qube runs stays gone"
kill -KILL "$pid2"
python3 "$HELPER" gone "$CTL" work "$WAIT" || fail "work's window outlived its host half"
for _ in $(seq 300); do
	grep -q "qube work: the GUI proxy (pid $pid2) exited with signal 9 while the qube runs" "$T/bulkheadd.log" && break
	sleep 0.2
done
grep -q "GUI proxy (pid $pid2) exited with signal 9 while the qube runs" "$T/bulkheadd.log" ||
	fail "bulkheadd did not log the host half's end"
# A channel round trip later, still no new host half (none is started for this run).
bh run -p work -- true
[ "$(proxy_pids | wc -l)" = 2 ] || fail "a host half was restarted while the qube runs: $(proxy_pids)"

log "a qube with the gui feature off has no GUI port"
bh create plain --label red --template minimal
bh features plain gui 0
bh shutdown --wait work
bh start plain
xml=$(virsh -c qemu:///system dumpxml "${BULKHEAD_DOMAIN_PREFIX}plain")
grep -q "org.bulkhead.gui" <<<"$xml" && fail "plain has a GUI port with gui=0"
grep -q "qube plain: GUI proxy started" "$T/bulkheadd.log" && fail "plain got a host half"
out=$(bh run -p plain -- sh -c 'echo "${WAYLAND_DISPLAY:-none}"')
[ "$out" = none ] || fail "plain's commands got WAYLAND_DISPLAY=$out"
bh shutdown --wait plain
log "ok"
