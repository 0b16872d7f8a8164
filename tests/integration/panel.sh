#!/bin/bash
# The panel with a real bulkheadd and a real qube: a headless bulkhead-compositor whose panel
# follows bulkheadd (admin.vm.List, admin.Events). Qube pnl (green) from the minimal template:
# its chip appears in green with its memory when it starts; a click on the chip opens the
# compositor's menu, and while it is open no key reaches the focused window (a host foot running
# `cat > FILE`); Escape and a click elsewhere close it; Terminal runs foot in the qube (its window
# comes); Pause, Unpause and Shut down from the menu do what they say (bulkhead ls agrees) and the
# chip follows; after bulkheadd restarts the panel
# reconnects; Kill from the menu and a crash of the qube's QEMU take the chip away.
. "$(dirname "$0")/lib.sh"

COMPOSITOR=$BULKHEAD_BUILD/compositor/bulkhead-compositor
HELPER=$BULKHEAD_SRC/tests/integration/gui-helper.py
PANEL=$BULKHEAD_SRC/tests/integration/panel-helper.py
[ -x "$COMPOSITOR" ] || { echo "SKIP: $COMPOSITOR not built"; exit 77; }
for tool in grim python3 foot; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool missing"; exit 77; }
done
GREEN=73d216
WAIT=300 # seconds: only ever a limit on waiting

seed_template

XDG=$T/xdg
mkdir -m 0700 "$XDG"
CTL=$XDG/bulkhead-compositor.ctl
env -u WAYLAND_DISPLAY -u DISPLAY XDG_RUNTIME_DIR="$XDG" HOME="$XDG" WLR_BACKENDS=headless \
	WLR_RENDERER=pixman WLR_HEADLESS_OUTPUTS=1 WLR_LIBINPUT_NO_DEVICES=1 XKB_DEFAULT_LAYOUT=us \
	BULKHEAD_CLI="$BULKHEAD" "$COMPOSITOR" >>"$T/compositor.log" 2>&1 &
COMPOSITOR_PID=$!
for _ in $(seq 300); do
	[ -S "$CTL" ] && [ -S "$XDG/wayland-0" ] && break
	kill -0 "$COMPOSITOR_PID" 2>/dev/null || { cat "$T/compositor.log" >&2; fail "the compositor exited"; }
	sleep 0.1
done
[ -S "$CTL" ] || fail "the compositor's control socket did not appear"
FOOT_PID=
panel_cleanup() {
	local rc=$?
	set +e
	[ -z "$FOOT_PID" ] || kill "$FOOT_PID" 2>/dev/null
	kill "$COMPOSITOR_PID" 2>/dev/null
	wait "$COMPOSITOR_PID" 2>/dev/null
	[ "$rc" = 0 ] || { echo "--- compositor log ---" >&2; tail -n 40 "$T/compositor.log" >&2; }
	(exit "$rc")
	cleanup
}
trap panel_cleanup EXIT

send() { python3 "$HELPER" send "$CTL" "$@" || fail "control requests $*"; }
chip() { # QUBE STATE: waits for the chip, sets CX CY (its centre) and CHIP (its line)
	CHIP=$(python3 "$PANEL" chip "$CTL" "$1" "$2" "$WAIT") || fail "$CHIP"
	local x y w h
	IFS=$'\t' read -r _ _ _ _ x y w h <<<"$CHIP"
	CX=$((x + w / 2))
	CY=$((y + h / 2))
}
menu() { # ITEM: clicks the chip at CX CY, then ITEM in the menu
	send "pointer $CX $CY left"
	local at
	at=$(python3 "$PANEL" menu "$CTL" "$1" 30) || fail "$at"
	send "pointer $at left"
	python3 "$PANEL" closed "$CTL" || fail "the menu stayed open after $1"
}
state_is() { # QUBE STATE: bulkhead ls agrees, within WAIT
	for _ in $(seq $((WAIT * 5))); do
		bh ls | grep -qE "^$1 +$2" && return 0
		sleep 0.2
	done
	fail "$1 is not $2: $(bh ls)"
}

start_daemon
bh create pnl --label green --template minimal
python3 "$PANEL" nochip "$CTL" pnl 0 || fail "a halted qube has a chip"

log "pnl starts: its chip appears, green, with its memory"
bh start pnl
chip pnl Running
log "chip: ${CHIP//$'\t'/ }"
IFS=$'\t' read -r _ label _ memory x y w h <<<"$CHIP"
[ "$label" = green ] || fail "chip label '$label'"
[ "$memory" -gt 0 ] || fail "chip memory '$memory'"
[ "$y" -ge 0 ] && [ "$((y + h))" -le 26 ] || fail "chip at y $y height $h is not on the panel"
send "pointer 600 600" # the pointer's image out of the way
env XDG_RUNTIME_DIR="$XDG" WAYLAND_DISPLAY=wayland-0 grim "$T/chip.png" || fail "grim failed"
python3 "$PANEL" pixels "$T/chip.png" "$x" "$y" "$w" "$h" "$GREEN" || fail "the chip is not green"

log "a host foot has the focus; while the menu is open, no key reaches it"
env -u DISPLAY XDG_RUNTIME_DIR="$XDG" WAYLAND_DISPLAY=wayland-0 HOME="$XDG" \
	foot --title=typed --window-size-pixels=400x300 sh -c "cat > $T/typed" >>"$T/foot.log" 2>&1 &
FOOT_PID=$!
line=$(python3 "$HELPER" wait "$CTL" - typed "$WAIT") || fail "no foot window: $line"
IFS=$'\t' read -r _ _ _ _ _ _ _ focused <<<"$line"
[ "$focused" = 1 ] || fail "foot's window is not focused: $line"
for _ in $(seq $((WAIT * 5))); do [ -e "$T/typed" ] && break; sleep 0.2; done
send "pointer $CX $CY left"
python3 "$PANEL" menu "$CTL" Terminal 30 >/dev/null || fail "no menu after a click on the chip"
# (Return would choose the menu's selected item.)
send "key x" "key y" "key space"
send "key Escape"
python3 "$PANEL" closed "$CTL" || fail "Escape did not close the menu"
send "key z" "key Return"
for _ in $(seq $((WAIT * 5))); do grep -q z "$T/typed" && break; sleep 0.2; done
[ "$(cat "$T/typed")" = z ] || fail "foot got '$(cat "$T/typed")', want only what was typed with the menu closed"
line=$(python3 "$HELPER" wait "$CTL" - typed 5)
IFS=$'\t' read -r _ _ _ _ _ _ _ focused <<<"$line"
[ "$focused" = 1 ] || fail "foot lost the focus to the menu: $line"

log "a click elsewhere closes the menu"
send "pointer $CX $CY left"
python3 "$PANEL" menu "$CTL" Kill 30 >/dev/null || fail "no menu after a click on the chip"
send "pointer 900 700 left"
python3 "$PANEL" closed "$CTL" || fail "a click elsewhere did not close the menu"

log "Terminal from the menu: foot runs in pnl, and its window comes"
menu Terminal
line=$(python3 "$HELPER" wait-in "$CTL" pnl "" "$WAIT") || fail "no window from pnl's terminal: $line"
log "window: ${line//$'\t'/ }"

log "Pause, then Unpause, from the menu"
menu Pause
state_is pnl Paused
chip pnl Paused
menu Unpause
state_is pnl Running
chip pnl Running

log "Shut down from the menu: the qube halts, its chip goes"
menu "Shut down"
state_is pnl Halted
python3 "$PANEL" nochip "$CTL" pnl "$WAIT" || fail "pnl's chip outlived it"

log "bulkheadd restarts: the panel reconnects"
stop_daemon
start_daemon
bh start pnl
chip pnl Running

log "Kill from the menu"
menu Kill
state_is pnl Halted
python3 "$PANEL" nochip "$CTL" pnl "$WAIT" || fail "pnl's chip outlived a kill"

log "a crash (its QEMU killed) takes the chip away"
bh start pnl
chip pnl Running
virsh -c qemu:///system destroy "${BULKHEAD_DOMAIN_PREFIX}pnl" >/dev/null || fail "virsh destroy"
python3 "$PANEL" nochip "$CTL" pnl "$WAIT" || fail "pnl's chip outlived its crash"
kill -0 "$COMPOSITOR_PID" || fail "the compositor died"
log "ok"
