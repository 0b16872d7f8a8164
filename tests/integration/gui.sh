#!/bin/bash
# A window from a real qube: a headless bulkhead-compositor that registers itself with bulkheadd
# (admin.gui.Register; nothing configured), qube work (blue) booted from the minimal template,
# bulkhead-demo-window run in it through the Wayland proxy's two halves. The window is listed as "[work] hello" and framed in exactly blue;
# it goes away with the qube and its host half, and comes back with a new host half after a
# restart. A host half that dies while its qube runs is not restarted until the qube restarts,
# or a compositor registers anew: a restarted compositor gets the running qube's windows back.
# Registrations of bad sockets are refused. (desktop.sh covers --gui-control.)
. "$(dirname "$0")/lib.sh"

COMPOSITOR=$BULKHEAD_BUILD/compositor/bulkhead-compositor
HELPER=$BULKHEAD_SRC/tests/integration/gui-helper.py
for f in "$COMPOSITOR" "$BULKHEAD_WAYLAND_PROXY" "$BULKHEAD_BUILD/qube-tools/bulkhead-demo-window"; do
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
CTL=$XDG/bulkhead-compositor.ctl
start_compositor() {
	env -u WAYLAND_DISPLAY -u DISPLAY XDG_RUNTIME_DIR="$XDG" HOME="$XDG" WLR_BACKENDS=headless \
		WLR_RENDERER=pixman WLR_HEADLESS_OUTPUTS=1 WLR_LIBINPUT_NO_DEVICES=1 \
		"$COMPOSITOR" >>"$T/compositor.log" 2>&1 &
	COMPOSITOR_PID=$!
	for _ in $(seq 300); do
		[ -S "$CTL" ] && [ -S "$XDG/wayland-0" ] && break
		kill -0 "$COMPOSITOR_PID" 2>/dev/null || { cat "$T/compositor.log" >&2; fail "the compositor exited"; }
		sleep 0.1
	done
	[ -S "$CTL" ] || fail "the compositor's control socket did not appear"
}
wait_registered() { # N: the Nth registration in bulkheadd's log
	for _ in $(seq 300); do
		[ "$(grep -c "a compositor registered: qubes' windows go to $CTL" "$T/bulkheadd.log")" -ge "$1" ] && return 0
		sleep 0.1
	done
	cat "$T/compositor.log" >&2
	fail "the compositor did not register with bulkheadd (registration $1)"
}
start_compositor
stop_compositor() {
	kill "$COMPOSITOR_PID" 2>/dev/null || true
	wait "$COMPOSITOR_PID" 2>/dev/null || true
}
gui_cleanup() {
	local rc=$?
	set +e # the status is lib.sh's cleanup's to report
	stop_compositor
	[ -z "${kiosk:-}" ] || { kill "$kiosk"; wait "$kiosk"; } 2>/dev/null
	(exit "$rc")
	cleanup
}
trap gui_cleanup EXIT

unset BULKHEAD_GUI_CONTROL
start_daemon
# The compositor came up first and retries until bulkheadd answers.
wait_registered 1
grep -q "session: registered with bulkheadd" "$T/compositor.log" || fail "the compositor did not log its registration"
log "registrations of bad sockets are refused; the registered compositor stays"
python3 "$BULKHEAD_SRC/tests/integration/gui-register.py" "$BULKHEAD_SOCKET" "$T" || fail "bad registrations"
[ "$(grep -c "a compositor registered" "$T/bulkheadd.log")" = 1 ] || fail "a bad registration was taken"

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
	local demo= line= found= tries=0
	# Until the window is listed. A client that gave up is started again a few times: after a
	# new host half, the guest half restarts after its backoff, and until then its old socket
	# refuses connections.
	for _ in $(seq $((WAIT / 5))); do
		if [ -z "$demo" ] || ! kill -0 "$demo" 2>/dev/null; then
			[ "$tries" -lt 10 ] || break
			tries=$((tries + 1))
			[ "$tries" = 1 ] || sleep 1
			bh run -p work -- bulkhead-demo-window --title "$1" >>"$T/demo.log" 2>&1 &
			demo=$!
		fi
		if line=$(python3 "$HELPER" wait "$CTL" work "[work] $1" 5); then
			found=1
			break
		fi
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

log "a compositor that restarts gets the running qube's windows back"
stop_compositor
for _ in $(seq 300); do
	grep -q "the compositor at $CTL went away" "$T/bulkheadd.log" && break
	sleep 0.1
done
grep -q "the compositor at $CTL went away" "$T/bulkheadd.log" || fail "bulkheadd did not see the compositor go"
start_compositor
wait_registered 2
show_window back
[ "$(proxy_pids | wc -l)" = 3 ] || fail "expected a third host half for the new compositor, got: $(proxy_pids)"

log "kiosk: bulkhead-kiosk shows one command's window full screen, and ends with its compositor"
KIOSK=$BULKHEAD_SRC/compositor/session/bulkhead-kiosk
rc=0; "$KIOSK" work 2>"$T/kiosk-usage" || rc=$?
[ "$rc" = 2 ] && grep -q "usage: bulkhead-kiosk QUBE COMMAND" "$T/kiosk-usage" || fail "bulkhead-kiosk without a command: $rc"
stop_compositor
KXDG=$T/kxdg
mkdir -m 0700 "$KXDG"
env -u WAYLAND_DISPLAY -u DISPLAY XDG_RUNTIME_DIR="$KXDG" HOME="$KXDG" WLR_BACKENDS=headless \
	WLR_RENDERER=pixman WLR_HEADLESS_OUTPUTS=1 WLR_LIBINPUT_NO_DEVICES=1 \
	BULKHEAD_CLI="$BULKHEAD" BULKHEAD_COMPOSITOR="$COMPOSITOR" \
	"$KIOSK" work bulkhead-demo-window --title kiosk >"$T/kiosk.log" 2>&1 &
kiosk=$!
line=$(python3 "$HELPER" wait "$KXDG/bulkhead-compositor.ctl" work "[work] kiosk" "$WAIT") ||
	{ cat "$T/kiosk.log" >&2; fail "no kiosk window: $line"; }
IFS=$'\t' read -r _ _ _ X Y W H _ <<<"$line"
[ "$X $Y $W $H" = "0 0 1280 720" ] || fail "the kiosk window is not full screen: $X $Y $W $H"
# The command is run again when it ends.
bh run -p --user root work -- killall bulkhead-demo-window
python3 "$HELPER" gone "$KXDG/bulkhead-compositor.ctl" work 60 || fail "the kiosk window outlived its command"
line=$(python3 "$HELPER" wait "$KXDG/bulkhead-compositor.ctl" work "[work] kiosk" "$WAIT") ||
	{ cat "$T/kiosk.log" >&2; fail "the kiosk command was not run again: $line"; }
grep -q "bulkhead-kiosk: the command in work ended" "$T/kiosk.log" || fail "the command's end was not logged"
kpid=$(pgrep -P "$kiosk" -f "^$COMPOSITOR --kiosk work") || fail "no kiosk compositor"
kill "$kpid"
rc=0; timeout 60 tail --pid="$kiosk" -f /dev/null || fail "bulkhead-kiosk outlived its compositor"
wait "$kiosk" || rc=$?
[ "$rc" = 1 ] || fail "bulkhead-kiosk ended with $rc, expected 1 (for its unit to restart it)"
grep -q "bulkhead-kiosk: the compositor ended" "$T/kiosk.log" || fail "bulkhead-kiosk did not say why it ended: $(cat "$T/kiosk.log")"
kiosk=

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
