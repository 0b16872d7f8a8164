#!/bin/bash
# The desktop template (bulkhead template build debian-12), built once into the test cache:
# Firefox ESR in an AppVM (green, 1500 MiB) opens a page the test serves in its own network
# namespace, reached through sys-net; its window appears in the real compositor (headless)
# titled with the page's title and framed in exactly green. The page is one link: Firefox's
# "Open link in a disposable qube" (right click, then its access key) opens it in a new
# disposable's Firefox, framed in red, while web's tab stays where it was; ending that Firefox
# ends the disposable. Then zathura opens a PDF in a new disposable from bulkhead-open-in-dvm:
# the window is the disposable's, framed in its red; closing the viewer ends the call with the
# file unchanged, and the disposable is gone.
# Under TCG Firefox takes minutes to start: everything is polled with generous bounds.
# Traffic goes only to the namespaces netns-lib.sh makes (TEST-NET-1).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns-lib.sh"

COMPOSITOR=$BULKHEAD_BUILD/compositor/bulkhead-compositor
HELPER=$BULKHEAD_SRC/tests/integration/gui-helper.py
for f in "$COMPOSITOR" "$BULKHEAD_WAYLAND_PROXY"; do
	[ -x "$f" ] || { echo "SKIP: $f not built"; exit 77; }
done
for tool in grim python3 dnsmasq; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool missing"; exit 77; }
done
GREEN=73d216
RED=cc0000
WAIT=1500 # seconds: Firefox's first frame under TCG

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
BG_PIDS=()
desktop_cleanup() {
	local rc=$? p
	set +e # the status is lib.sh's cleanup's to report
	for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	kill "$COMPOSITOR_PID" 2>/dev/null
	wait "$COMPOSITOR_PID" 2>/dev/null
	(exit "$rc")
	cleanup
}
trap desktop_cleanup EXIT

log "a sandbox without mounts: said before anything is made"
mkdir -p "$T/tmp"
expect_fail 1 "may not mount .*apt needs it" env TMPDIR="$T/tmp" setpriv --bounding-set=-sys_admin \
	"$BULKHEAD_SRC/images/build-template.sh" debian-12 "$T/sandboxed.qcow2" "$BULKHEAD_AGENT"
[ ! -e "$T/sandboxed.qcow2" ] && [ ! -e "$T/sandboxed.qcow2.tmp" ] || fail "an image was left"
[ -z "$(ls -A "$T/tmp")" ] || fail "the refused build left $(ls -A "$T/tmp")"
# Its own trap runs before the one above (it chains).
netns_kit_up
export BULKHEAD_UPLINK_NETNS=$NETNS_UP
seed_template debian-12
img=$BULKHEAD_STATE_DIR/qubes/debian-12/root.qcow2
[ -f "$img" ] || fail "the seeded store has no debian-12 template"
log "debian-12 template: $(du -k "$img" | cut -f1) KiB on disk"


export BULKHEAD_GUI_CONTROL=$CTL
start_daemon

# shot_frame QUBE WINDOW_LINE RGB: a screenshot, with the window's frame in exactly RGB.
shot_frame() {
	local x y w h
	IFS=$'\t' read -r _ _ _ x y w h _ <<<"$2"
	env XDG_RUNTIME_DIR="$XDG" WAYLAND_DISPLAY=wayland-0 grim "$T/$1.png" || fail "grim failed"
	python3 "$HELPER" frame "$T/$1.png" "$x" "$y" "$w" "$h" "$3" || fail "$1's window is not framed in #$3"
}

log "the template: Firefox, zathura, Thunar, foot, xdg-utils and the open-in-qube entries"
bh create web --label green --template debian-12
bh prefs web memory 1500 && bh prefs web maxmem 1500
# Its network: sys-net of `bulkhead net setup`, on the same template; web straight behind it
# (one net qube fewer to boot under TCG).
bh net setup --template debian-12 >"$T/setup.out" || fail "net setup: $(cat "$T/setup.out")"
bh prefs sys-net memory 320 && bh prefs sys-net maxmem 320
bh prefs web netvm sys-net
run() { bh run -p web -- "$@"; }
for p in /usr/lib/firefox-esr/firefox-esr /usr/bin/zathura /usr/bin/thunar /usr/bin/foot \
	/usr/bin/xdg-open /usr/bin/bulkhead-open-in-dvm /usr/bin/bulkhead-open-in-vm; do
	run test -x "$p" || fail "the template has no $p"
done
[ "$(run cat /etc/bulkhead-flavour)" = debian-12 ] || fail "flavour file"
run grep -qx 'export MOZ_ENABLE_WAYLAND=1' /usr/local/bin/firefox-esr || fail "Firefox is not told to use Wayland"
# Nothing of what a template leaves out.
[ -z "$(run find /usr/share/man /usr/share/info -type f 2>/dev/null | head -n 1)" ] || fail "manuals in the template"
[ -z "$(run find /usr/share/doc -type f ! -name copyright | head -n 1)" ] || fail "documentation in the template"
# xdg-utils' defaults and the entries that send files and links to other qubes.
out=$(run xdg-mime query default application/pdf)
[ "$out" = org.pwmt.zathura-pdf-poppler.desktop ] || fail "PDFs open with '$out'"
out=$(run xdg-mime query default x-scheme-handler/https)
[ "$out" = firefox-esr.desktop ] || fail "links open with '$out'"
for e in open-in-dvm open-link-in-dvm open-in-vm open-link-in-vm; do
	run grep -q '^Exec=/usr/bin/bulkhead-open-in-' "/usr/share/applications/bulkhead-$e.desktop" ||
		fail "no bulkhead-$e.desktop"
done
run grep -q 'bulkhead-open-in-dvm.desktop' /usr/share/applications/mimeinfo.cache ||
	fail "bulkhead-open-in-dvm.desktop is not offered for any type"

log "the application menu: the template's programs, as its default-menu-items say"
want="firefox-esr.desktop thunar.desktop foot.desktop org.pwmt.zathura.desktop"
[ "$(bh features debian-12 default-menu-items)" = "$want" ] || fail "debian-12's default-menu-items: $(bh features debian-12 default-menu-items)"
bh apps --sync web >"$T/apps" || fail "syncing web's applications: $(cat "$T/apps")"
shown=$(bh apps --json web | python3 -c 'import json,sys; print(" ".join(sorted(a["id"] for a in json.load(sys.stdin)["apps"] if a["shown"])))')
[ "$shown" = "$(tr ' ' '\n' <<<"$want" | sort | tr '\n' ' ' | sed 's/ $//')" ] || fail "web's menu: '$shown'; all: $(cat "$T/apps")"
bh apps --json web | python3 -c '
import json, sys
apps = {a["id"]: a for a in json.load(sys.stdin)["apps"]}
assert apps["firefox-esr.desktop"]["name"].startswith("Firefox"), apps["firefox-esr.desktop"]
assert apps["firefox-esr.desktop"]["icon"], "Firefox has no icon"' || fail "Firefox in web's applications"
bh apps --icon firefox-esr.desktop web >"$T/firefox.png" && [ "$(head -c 4 "$T/firefox.png" | tail -c 3)" = PNG ] ||
	fail "Firefox's icon is not a PNG"

# The disposable template: Firefox's links and zathura's PDF go to its disposables.
bh create dvm --label red --template debian-12
bh prefs dvm memory 1000 && bh prefs dvm maxmem 1500
bh prefs dvm template_for_dispvms True
bh prefs dvm netvm sys-net
bh prefs web default_dispvm dvm
# The shipped default policy's lines for them (policy/90-default.policy): @dispvm is allowed.
grep "^bulkhead.Open\(InVM\|URL\) .*@dispvm" "$BULKHEAD_SRC/policy/90-default.policy" \
	>"$BULKHEAD_POLICY_DIR/90-default.policy"
[ "$(wc -l <"$BULKHEAD_POLICY_DIR/90-default.policy")" = 2 ] || fail "the default policy's @dispvm lines"
disposables() { bh ls | awk 'NR>1 && $1 ~ /^disp[0-9]+$/{print $1}'; }

log "Firefox in web opens the test server's page through sys-net"
TITLE="Bulkhead desktop test $$"
LINK_TITLE="Bulkhead link test $$"
# All of the page is one link, so that a click anywhere in it is on the link.
printf '<!DOCTYPE html><html><head><title>%s</title></head><body style="margin:0"><a href="/link.html" style="position:fixed;inset:0;background:#fff">%s</a></body></html>\n' \
	"$TITLE" "$NETNS_PAGE" >"$NETNS_KIT_DIR/www/desktop.html"
printf '<!DOCTYPE html><html><head><title>%s</title></head><body>linked</body></html>\n' \
	"$LINK_TITLE" >"$NETNS_KIT_DIR/www/link.html"
timeout "$WAIT" "$BULKHEAD" run -p web -- sh -c 'while [ ! -S "$WAYLAND_DISPLAY" ]; do sleep 1; done' ||
	fail "the display did not appear in web"
# Firefox keeps a failed lookup: it starts once web resolves the server's name through sys-net.
timeout 300 "$BULKHEAD" run -p web -- sh -c "until getent hosts $NETNS_NAME >/dev/null; do sleep 1; done" ||
	fail "web cannot resolve $NETNS_NAME through sys-net"
# A profile whose window fits the headless output (1280x720), so the whole frame is on screen.
run sh -c 'mkdir -p /home/user/ff && cat >/home/user/ff/xulstore.json' <<'XUL'
{"chrome://browser/content/browser.xhtml":{"main-window":{"screenX":"0","screenY":"0","width":"800","height":"500","sizemode":"normal"}}}
XUL
"$BULKHEAD" run -p web -- firefox-esr --profile /home/user/ff --new-instance \
	"http://$NETNS_NAME/desktop.html" >"$T/firefox.log" 2>&1 &
ff=$!
BG_PIDS+=("$ff")
line=
for _ in $(seq $((WAIT / 10))); do
	line=$(python3 "$HELPER" wait-in "$CTL" web "$TITLE" 10) && break
	kill -0 "$ff" 2>/dev/null || break
	line=
done
[ -n "$line" ] || {
	tail -n 30 "$T/firefox.log" "$T/compositor.log" >&2
	fail "no Firefox window titled '$TITLE' in web: $(python3 "$HELPER" wait-in "$CTL" web "$TITLE" 1)"
}
log "window: ${line//$'\t'/ }"
grep -q '"GET /desktop.html HTTP' "$NETNS_KIT_DIR"/http-80.log || fail "the server did not serve the page"
shot_frame web "$line" "$GREEN"

log "Firefox's \"Open link in a disposable qube\" opens the link in a new disposable"
run test -x /usr/bin/bulkhead-firefox-open || fail "the template has no bulkhead-firefox-open"
run test -f /usr/lib/mozilla/native-messaging-hosts/bulkhead_open.json ||
	fail "Firefox's native messaging host is not declared"
[ -z "$(disposables)" ] || fail "disposables before the click: $(disposables)"
IFS=$'\t' read -r _ _ _ x y w h _ <<<"$line"
cx=$((x + w / 2)) cy=$((y + h / 2))
# Right click in the page, then I. Under TCG the menu may not be up when the key comes; the key
# alone does nothing on this page, so the pair is tried again (after Escape closes any menu).
disp=
for attempt in 1 2 3; do
	python3 "$HELPER" send "$CTL" "pointer $cx $cy right" || fail "the compositor did not take the click"
	sleep 5
	python3 "$HELPER" send "$CTL" "key i" || fail "the compositor did not take the key"
	for _ in $(seq 60); do
		disp=$(disposables)
		[ -n "$disp" ] && break
		sleep 1
	done
	[ -n "$disp" ] && break
	log "no disposable after attempt $attempt"
	python3 "$HELPER" send "$CTL" "key Escape" || true
done
[ -n "$disp" ] || { tail -n 30 "$T/firefox.log" >&2; fail "the menu item started no disposable"; }
log "disposable: $disp"
dline=
for _ in $(seq $((WAIT / 10))); do
	dline=$(python3 "$HELPER" wait-in "$CTL" "$disp" "$LINK_TITLE" 10) && break
	[ -n "$(disposables)" ] || break
	dline=
done
[ -n "$dline" ] || fail "no Firefox window titled '$LINK_TITLE' in $disp: $(python3 "$HELPER" wait-in "$CTL" "$disp" "$LINK_TITLE" 1)"
log "window: ${dline//$'\t'/ }"
[ "$(disposables)" = "$disp" ] || fail "more than one disposable: $(disposables)"
grep -q '"GET /link.html HTTP' "$NETNS_KIT_DIR"/http-80.log || fail "the server did not serve the link"
# The disposable's window may reach past the headless output, and web's focused window covers
# its top-left corner: its frame is checked along its top-right corner (a 3x30 box there).
env XDG_RUNTIME_DIR="$XDG" WAYLAND_DISPLAY=wayland-0 grim "$T/link.png" || fail "grim failed"
IFS=$'\t' read -r _ _ _ x y w _ _ <<<"$dline"
[ $((x + w)) -le 1280 ] || fail "$disp's window reaches past the output: ${dline//$'\t'/ }"
python3 "$HELPER" frame "$T/link.png" $((x + w - 3)) "$y" 3 30 "$RED" ||
	fail "$disp's window is not framed in #$RED"
# web stayed on its page: the link went to the disposable only.
python3 "$HELPER" wait-in "$CTL" web "$TITLE" 1 >/dev/null || fail "web's Firefox left its page"
# Ending the disposable's Firefox ends the call (xdg-open returns), and the disposable with it.
bh run -p "$disp" -- pkill -f /usr/lib/firefox-esr/firefox-esr || true
for _ in $(seq 300); do [ -z "$(disposables)" ] && break; sleep 1; done
[ -z "$(disposables)" ] || fail "the link's disposable is left: $(bh ls)"
python3 "$HELPER" gone "$CTL" "$disp" 60 || fail "the link's disposable's window outlived it"

kill "$ff" 2>/dev/null || true
bh run -p web -- pkill -f /usr/lib/firefox-esr/firefox-esr || true
python3 "$HELPER" gone "$CTL" web "$WAIT" || fail "Firefox's window stayed after it was ended"

log "zathura opens a PDF in a new disposable from bulkhead-open-in-dvm"
# A viewer window that fits the headless output, from the disposable template's home (which
# each disposable's home starts as).
bh run -p dvm -- sh -c 'mkdir -p ~/.config/zathura &&
	printf "set window-width 600\nset window-height 400\n" >~/.config/zathura/zathurarc'
bh shutdown --wait dvm
# A one-page PDF, its cross-reference table with the offsets it needs.
python3 - "$T/doc.pdf" <<'PDF'
import sys
objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R >>"]
stream = b"0 0 1 rg 20 20 260 160 re f"
objs.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
out = b"%PDF-1.4\n"
offsets = []
for i, o in enumerate(objs, 1):
    offsets.append(len(out))
    out += b"%d 0 obj\n%s\nendobj\n" % (i, o)
xref = len(out)
out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
open(sys.argv[1], "wb").write(out)
PDF
run sh -c 'cat >/home/user/doc.pdf' <"$T/doc.pdf"
[ -z "$(disposables)" ] || fail "disposables before the call: $(disposables)"
"$BULKHEAD" run -p web -- bulkhead-open-in-dvm /home/user/doc.pdf >"$T/open.log" 2>&1 &
opener=$!
BG_PIDS+=("$opener")
disp=
for _ in $(seq 300); do
	disp=$(disposables)
	[ -n "$disp" ] && break
	kill -0 "$opener" 2>/dev/null || fail "bulkhead-open-in-dvm ended early: $(cat "$T/open.log")"
	sleep 1
done
[ -n "$disp" ] || fail "no disposable appeared"
log "disposable: $disp"
line=
for _ in $(seq $((WAIT / 10))); do
	line=$(python3 "$HELPER" wait-in "$CTL" "$disp" doc.pdf 10) && break
	kill -0 "$opener" 2>/dev/null || break
	line=
done
[ -n "$line" ] || fail "no zathura window of $disp: $(cat "$T/open.log"); $(python3 "$HELPER" wait-in "$CTL" "$disp" doc.pdf 1)"
log "window: ${line//$'\t'/ }"
shot_frame "$disp" "$line" "$RED"
# Focused (the newest window is): zathura quits on q, which ends the viewer and the call.
focused=$(cut -f 8 <<<"$line")
[ "$focused" = 1 ] || fail "the viewer's window is not focused"
python3 "$HELPER" send "$CTL" "key q" || fail "the compositor did not take the key"
for _ in $(seq 300); do kill -0 "$opener" 2>/dev/null || break; sleep 1; done
kill -0 "$opener" 2>/dev/null && fail "bulkhead-open-in-dvm did not end when the viewer closed"
wait "$opener" || fail "bulkhead-open-in-dvm failed: $(cat "$T/open.log")"
cmp -s <(run cat /home/user/doc.pdf) "$T/doc.pdf" || fail "the PDF changed without an edit"
for _ in $(seq 300); do [ -z "$(disposables)" ] && break; sleep 1; done
[ -z "$(disposables)" ] || fail "the disposable is left: $(bh ls)"
python3 "$HELPER" gone "$CTL" "$disp" 60 || fail "the disposable's window outlived it"
! compgen -G "$BULKHEAD_STATE_DIR/qubes/disp*" >/dev/null || fail "a disposable's directory is left"
bh shutdown --wait web
log "ok"
