#!/bin/bash
# The launcher, with no terminal: a headless bulkhead-compositor registered with a real
# bulkheadd, qube work (blue, minimal template) halted, its synced menu holding a desktop entry
# for bulkhead-demo-window with a solid red icon. Super opens the launcher, typing "work" shows
# the entry in blue with the host-converted icon framed in blue, Enter starts the qube
# (admin.vm.apps.Run with autostart) while the launcher says "starting work…", the launcher
# closes once the app started, and its window appears framed in blue. Then: an app that cannot
# start (its error stays in the launcher), 20 long-named entries (names cut, 8 rows, scrolling),
# and a policy `ask` while the launcher is open (the prompt is drawn above it and takes Escape).
. "$(dirname "$0")/lib.sh"

COMPOSITOR=$BULKHEAD_BUILD/compositor/bulkhead-compositor
HELPER=$BULKHEAD_SRC/tests/integration/gui-helper.py
LHELPER=$BULKHEAD_SRC/tests/integration/launcher-helper.py
for f in "$COMPOSITOR" "$BULKHEAD_WAYLAND_PROXY" "$BULKHEAD_BUILD/qube-tools/bulkhead-demo-window"; do
	[ -x "$f" ] || { echo "SKIP: $f not built"; exit 77; }
done
for tool in grim python3; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool missing"; exit 77; }
done
BLUE=3465a4
RED=ff0000
WAIT=600 # seconds: a TCG boot and a first frame through both halves can be slow

seed_template

XDG=$T/xdg
mkdir -m 0700 "$XDG"
CTL=$XDG/bulkhead-compositor.ctl
env -u WAYLAND_DISPLAY -u DISPLAY XDG_RUNTIME_DIR="$XDG" HOME="$XDG" WLR_BACKENDS=headless \
	WLR_RENDERER=pixman WLR_HEADLESS_OUTPUTS=1 WLR_LIBINPUT_NO_DEVICES=1 XKB_DEFAULT_LAYOUT=us \
	"$COMPOSITOR" >>"$T/compositor.log" 2>&1 &
COMPOSITOR_PID=$!
for _ in $(seq 300); do
	[ -S "$CTL" ] && [ -S "$XDG/wayland-0" ] && break
	kill -0 "$COMPOSITOR_PID" 2>/dev/null || { cat "$T/compositor.log" >&2; fail "the compositor exited"; }
	sleep 0.1
done
[ -S "$CTL" ] || fail "the compositor's control socket did not appear"
launcher_cleanup() {
	local rc=$?
	set +e
	kill "$COMPOSITOR_PID" 2>/dev/null
	wait "$COMPOSITOR_PID" 2>/dev/null
	(exit "$rc")
	cleanup
}
trap launcher_cleanup EXIT
send() { python3 "$HELPER" send "$CTL" "$@" || fail "control requests $* failed"; }
shot() { env XDG_RUNTIME_DIR="$XDG" WAYLAND_DISPLAY=wayland-0 grim "$1" || fail "grim failed"; }

# A call that asks: the compositor's trusted prompt shows it (over the launcher).
echo 'test.Ask * work @anyvm ask' >"$BULKHEAD_POLICY_DIR/50-launcher.policy"
unset BULKHEAD_GUI_CONTROL
start_daemon
for _ in $(seq 300); do
	grep -q "a compositor registered: qubes' windows go to $CTL" "$T/bulkheadd.log" && break
	sleep 0.1
done
grep -q "a compositor registered" "$T/bulkheadd.log" || fail "the compositor did not register"

bh create work --label blue --template minimal
log "work's menu: a desktop entry for bulkhead-demo-window, with a red icon"
bh run -p work -- sh -c 'mkdir -p ~/.local/share/applications ~/.local/share/icons/hicolor/48x48/apps'
python3 - <<'PY' | bh run -p work -- sh -c 'cat > ~/.local/share/icons/hicolor/48x48/apps/bh-demo.png'
import struct, sys, zlib
w = h = 48
raw = b''.join(b'\0' + bytes((255, 0, 0, 255)) * w for _ in range(h))
def chunk(t, d):
    return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
sys.stdout.buffer.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 6, 0, 0, 0))
                        + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
PY
bh run -p work -- sh -c 'printf "[Desktop Entry]\nType=Application\nName=Demo Window\nIcon=bh-demo\nExec=bulkhead-demo-window --title launched\n" > ~/.local/share/applications/bh-demo.desktop'
bh apps --sync work >/dev/null || fail "sync failed"
bh features work menu-items 'bh-demo.desktop'
bh apps work | grep -qE '^bh-demo\.desktop +yes +Demo Window$' || fail "menu: $(bh apps work)"
bh shutdown --wait work
bh ls | grep -qE '^work +Halted' || fail "work is not halted: $(bh ls)"

log "Super opens the launcher; typing filters it to work's entry, drawn in blue"
send "key super" "key w" "key o" "key r" "key k"
line=$(python3 "$LHELPER" entry "$CTL" work bh-demo.desktop 60) || { cat "$T/compositor.log" >&2; fail "$line"; }
log "entry: ${line//$'\t'/ }"
IFS=$'\t' read -r _ _ name selected X Y W H <<<"$line"
[ "$name" = "Demo Window" ] && [ "$selected" = 1 ] || fail "entry: $line"
# The icon is fetched after the list: drawn once its reply came (a key redraws).
for _ in $(seq 100); do
	send "key Down"
	shot "$T/launcher.png"
	python3 "$LHELPER" row "$T/launcher.png" "$X" "$Y" "$W" "$H" "$BLUE" "$RED" >/dev/null && break
	sleep 0.2
done
python3 "$LHELPER" row "$T/launcher.png" "$X" "$Y" "$W" "$H" "$BLUE" "$RED" || fail "the row is not blue with the red icon"

log "Enter starts work's app: progress, then the launcher closes and the window comes, blue"
send "key Return"
status=$(python3 "$LHELPER" status "$CTL" "starting work" 60) || fail "$status"
python3 "$LHELPER" closed "$CTL" "$WAIT" || { cat "$T/compositor.log" >&2; fail "the launcher did not close"; }
bh ls | grep -qE '^work +Running' || fail "work is not running: $(bh ls)"
line=$(python3 "$HELPER" wait "$CTL" work "[work] launched" "$WAIT") || { cat "$T/compositor.log" >&2; fail "no window: $line"; }
log "window: ${line//$'\t'/ }"
IFS=$'\t' read -r _ _ _ X Y W H _ <<<"$line"
shot "$T/window.png"
python3 "$HELPER" frame "$T/window.png" "$X" "$Y" "$W" "$H" "$BLUE" || fail "the window's frame is not blue"

log "an app that cannot start: the error is shown in the launcher, which stays open"
# The stored menu still lists it; the qube's own entry is gone, so its bulkhead.StartApp fails.
bh run -p work -- sh -c 'rm ~/.local/share/applications/bh-demo.desktop'
send "key super" "key D" "key e" "key m" "key o"
python3 "$LHELPER" entry "$CTL" work bh-demo.desktop 60 >/dev/null || fail "the entry is gone from the launcher"
send "key Return"
status=$(python3 "$LHELPER" status "$CTL" "error" 120) || fail "$status"
log "status: $status"
send "key Escape"
python3 "$LHELPER" closed "$CTL" 30 || fail "Escape did not close the launcher"

log "many entries with long names: names cut, 8 rows drawn, the selection scrolls"
bh run -p work -- sh -c 'cd ~/.local/share/applications && i=10 && while [ $i -le 29 ]; do
	printf "[Desktop Entry]\nType=Application\nName=Many $i %0110d\nExec=true\n" 0 > bh-many-$i.desktop; i=$((i + 1)); done'
bh apps --sync work >/dev/null || fail "sync failed"
bh features work menu-items "$(seq -f 'bh-many-%g.desktop' 10 29 | tr '\n' ' ')"
send "key super" "key m" "key a" "key n" "key y"
python3 "$LHELPER" entry "$CTL" work bh-many-10.desktop 60 >/dev/null || fail "no entry bh-many-10"
for _ in $(seq 100); do
	python3 "$LHELPER" check "$CTL" 20 8 64 >/dev/null && break
	sleep 0.1
done
python3 "$LHELPER" check "$CTL" 20 8 64 || fail "the launcher's caps"
for _ in $(seq 12); do send "key Down"; done
python3 "$LHELPER" check "$CTL" 20 8 64 || fail "after scrolling down"
line=$(python3 "$LHELPER" entry "$CTL" work bh-many-22.desktop 5) || fail "the 13th entry is not drawn after 12 Downs: $line"
IFS=$'\t' read -r _ _ _ selected _ <<<"$line"
[ "$selected" = 1 ] || fail "the 13th entry is not selected after 12 Downs: $line"
python3 "$LHELPER" entry "$CTL" work bh-many-10.desktop 0 >/dev/null && fail "the first entry is still drawn after scrolling"

log "the trusted prompt comes above the launcher and takes the keys while it is shown"
# (905,260): inside a launcher row, and inside the prompt's dialog right of its text, which is
# white there whatever the number of targets (prompt.c's layout).
pixel() { python3 -c 'import importlib.util,sys
s=importlib.util.spec_from_file_location("c",sys.argv[1]);m=importlib.util.module_from_spec(s);s.loader.exec_module(m)
print("%06x" % m.read_png(sys.argv[2])[2](905, 260))' "$BULKHEAD_SRC/compositor/test-colours.py" "$1"; }
shot "$T/before-ask.png"
[ "$(pixel "$T/before-ask.png")" != ffffff ] || fail "no launcher row at (905,260)"
mark=$(wc -l <"$T/compositor.log")
bh run -p work -- bulkhead-call minimal test.Ask </dev/null >/dev/null 2>&1 &
caller=$!
for _ in $(seq 600); do
	tail -n +"$mark" "$T/compositor.log" | grep -q "prompt: asking: work wants test.Ask" && break
	sleep 0.1
done
tail -n +"$mark" "$T/compositor.log" | grep -q "prompt: asking: work wants test.Ask" || fail "no question shown"
for _ in $(seq 50); do
	shot "$T/ask.png"
	[ "$(pixel "$T/ask.png")" = ffffff ] && break
	sleep 0.1
done
[ "$(pixel "$T/ask.png")" = ffffff ] || fail "the prompt is not drawn above the launcher: $(pixel "$T/ask.png")"
send "key Escape"
rc=0
wait "$caller" || rc=$?
[ "$rc" != 0 ] || fail "the call the prompt refused went through"
tail -n +"$mark" "$T/compositor.log" | grep -q "denied" || fail "the prompt did not log its refusal"
python3 "$LHELPER" check "$CTL" 20 8 64 || fail "Escape on the prompt reached the launcher"
shot "$T/after-ask.png"
[ "$(pixel "$T/after-ask.png")" != ffffff ] || fail "the launcher row is not drawn again after the prompt"
send "key Escape"
python3 "$LHELPER" closed "$CTL" 30 || fail "Escape did not close the launcher"
bh shutdown --wait work
log "ok"
