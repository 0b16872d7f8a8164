#!/bin/bash
# The application menu (bulkhead apps): a real qube's desktop entries and icon synced, listed,
# filtered by the menu-items feature (and the template's default-menu-items), the icon
# re-encoded by the host, an app started by id, the list kept across a daemon restart; then the
# qube's services lie, flood and send garbage, and each sync fails with a clear error, leaves
# the stored list as it was and the daemon up.
. "$(dirname "$0")/lib.sh"

seed_template
start_daemon
bh create work --label blue --template minimal
# No GUI port: its apps need no display, and none would come (no compositor here); an app in a
# qube with a GUI waits for its display first (launcher.sh).
bh features work gui 0
STORED=$BULKHEAD_STATE_DIR/qubes/work/apps.json

log "a user's desktop entries and icon in the qube's private volume"
bh run -p work -- sh -c 'mkdir -p ~/.local/share/applications ~/.local/share/icons/hicolor/48x48/apps'
# A 96x48 PNG, left half opaque red, right half half-transparent blue.
python3 - <<'PY' | bh run -p work -- sh -c 'cat > ~/.local/share/icons/hicolor/48x48/apps/bh-test.png'
import struct, sys, zlib
w, h = 96, 48
raw = b''.join(b'\0' + b''.join(bytes((255, 0, 0, 255) if x < 48 else (0, 0, 255, 128))
                                for x in range(w)) for y in range(h))
def chunk(t, d):
    return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
sys.stdout.buffer.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 6, 0, 0, 0))
                        + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
PY
bh run -p work -- sh -c 'cd ~/.local/share/applications &&
printf "[Desktop Entry]\nType=Application\nName=Hello Tool\nName[de]=Hallo\nIcon=bh-test\nExec=sh -c \"echo started > /tmp/hello-ran\" %%U\n" > bh-hello.desktop &&
printf "[Desktop Entry]\nType=Application\nName=Notes\nExec=true\n" > bh-notes.desktop &&
printf "[Desktop Entry]\nType=Application\nName=Hidden\nNoDisplay=true\nExec=true\n" > bh-hidden.desktop &&
printf "[Desktop Entry]\nType=Link\nName=A link\nURL=http://example.invalid/\n" > bh-link.desktop'
bh shutdown --wait work

log "--sync starts the qube and fetches its list"
bh apps work | grep -q '^ID' || fail "apps before a sync: $(bh apps work)"
[ "$(bh apps --json work | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["apps"]))')" = 0 ] ||
	fail "a never-synced qube has apps"
out=$(bh apps --sync work) || fail "sync failed: $out"
bh ls | grep -qE '^work +Running' || fail "--sync did not start the qube"
ids=$(bh apps --json work | python3 -c 'import json,sys; print(" ".join(a["id"] for a in json.load(sys.stdin)["apps"]))')
[ "$ids" = "bh-hello.desktop bh-notes.desktop" ] || fail "synced ids: '$ids' (hidden and link entries must be dropped)"
bh apps work | grep -qE '^bh-hello\.desktop +- +Hello Tool$' || fail "table: $(bh apps work)"

log "the menu: the template's default-menu-items, then the qube's own menu-items"
shown() { bh apps --json work | python3 -c 'import json,sys; print(" ".join(a["id"] for a in json.load(sys.stdin)["apps"] if a["shown"]))'; }
[ -z "$(shown)" ] || fail "shown without a feature: $(shown)"
bh features minimal default-menu-items 'bh-notes.desktop xterm.desktop'
[ "$(shown)" = bh-notes.desktop ] || fail "shown by the template's default: $(shown)"
bh features work menu-items 'bh-hello.desktop'
[ "$(shown)" = bh-hello.desktop ] || fail "shown by menu-items: $(shown)"
bh apps work | grep -qE '^bh-hello\.desktop +yes +Hello Tool$' || fail "table: $(bh apps work)"

log "the icon is the host's PNG, scaled to fit 64x64, with the qube's pixels"
bh apps work --icon bh-hello.desktop >"$T/icon.png" || fail "no icon"
python3 - "$T/icon.png" <<'PY' || fail "the icon is not the expected PNG"
import struct, sys, zlib
d = open(sys.argv[1], 'rb').read()
assert d[:8] == b'\x89PNG\r\n\x1a\n', d[:8]
w, h, depth, ctype = struct.unpack('>IIBB', d[16:26])
assert (w, h, depth, ctype) == (64, 32, 8, 6), (w, h, depth, ctype)
# libpng's own encoding (an sRGB chunk the qube's file did not have)
assert b'sRGB' in d
idat = b''
off = 8
while off < len(d):
    n, = struct.unpack('>I', d[off:off + 4]); t = d[off + 4:off + 8]
    if t == b'IDAT': idat += d[off + 8:off + 8 + n]
    off += 12 + n
raw = zlib.decompress(idat)
row = raw[1:1 + 64 * 4] if raw[0] == 0 else None
if row is not None:
    assert row[:4] == bytes((255, 0, 0, 255)) and row[-4:] == bytes((0, 0, 255, 128)), row[:8]
PY
expect_fail 1 "no stored icon" bh apps work --icon bh-notes.desktop

log "an app starts by id, through the qube's own bulkhead.StartApp"
bh run -p work -- rm -f /tmp/hello-ran
bh apps work --run bh-hello.desktop || fail "--run failed"
for _ in $(seq 50); do
	[ "$(bh run -p work -- cat /tmp/hello-ran 2>/dev/null)" = started ] && break
	sleep 0.2
done
[ "$(bh run -p work -- cat /tmp/hello-ran)" = started ] || fail "the app did not run"
expect_fail 1 "not a desktop-file id" bh apps work --run '../x;reboot'
expect_fail 1 "no such application" bh apps work --run bh-nothere.desktop

log "the list survives a daemon restart"
stop_daemon
start_daemon
bh apps work | grep -qE '^bh-hello\.desktop +yes +Hello Tool$' || fail "after a restart: $(bh apps work)"

# hostile SERVICE SCRIPT PATTERN: the qube's SERVICE becomes SCRIPT; a sync must fail saying
# PATTERN and leave the stored list alone; the daemon stays up; the service is put back.
hostile() {
	local svc=$1 script=$2 pat=$3 before
	before=$(sha256sum <"$STORED")
	printf '#!/bin/sh\n%s\n' "$script" | bh run -p --user root work -- \
		sh -c "rm -f /etc/bulkhead/rpc/$svc && cat > /etc/bulkhead/rpc/$svc && chmod 755 /etc/bulkhead/rpc/$svc"
	expect_fail 1 "$pat" bh apps --sync work
	[ "$(sha256sum <"$STORED")" = "$before" ] || fail "$svc ($pat) changed the stored list"
	bh info >/dev/null || fail "bulkheadd is not answering"
	local tool=bulkhead-appmenus
	[ "$svc" = bulkhead.GetImageRGBA ] && tool=bulkhead-get-image-rgba
	bh run -p --user root work -- ln -sf /usr/bin/$tool /etc/bulkhead/rpc/$svc
}

log "a hostile list: too many entries, a huge line, bad UTF-8, control characters, a flood"
hostile bulkhead.GetAppmenus 'i=0; while [ $i -lt 300 ]; do echo "e$i.desktop:Type=Application"; i=$((i+1)); done' \
	"more than 256 desktop entries"
hostile bulkhead.GetAppmenus "printf 'x.desktop:Name=%02000d\\n' 0" "longer than 1024 bytes"
hostile bulkhead.GetAppmenus "printf 'x.desktop:Type=Application\\nx.desktop:Name=\\377\\376\\n'" "not printable UTF-8"
hostile bulkhead.GetAppmenus "printf 'x.desktop:Type=Application\\nx.desktop:Name=a\\033[2Jb\\n'" "not printable UTF-8"
hostile bulkhead.GetAppmenus "printf '../../x.desktop:Name=a\\n'" "not a desktop-file id"
hostile bulkhead.GetAppmenus 'yes x.desktop:Type=Application | head -c 300000' "more than 64 KiB"
hostile bulkhead.GetAppmenus 'echo hi; exit 3' "exited with status 3"

log "a hostile icon: bad header, bad dimensions, short data, too much data"
hostile bulkhead.GetImageRGBA "printf 'abc\\n'" "icon of bh-hello.desktop is unusable: the icon does not start"
hostile bulkhead.GetImageRGBA "printf '100 100\\n'; head -c 40000 /dev/zero" "larger than 64x64 pixels"
hostile bulkhead.GetImageRGBA "printf '65 1\\n'; head -c 260 /dev/zero" "not 1 to 64 pixels"
hostile bulkhead.GetImageRGBA "printf '0 4\\n'" "not 1 to 64 pixels"
hostile bulkhead.GetImageRGBA "printf '4 4\\n0123456789'" "pixel data is short"
hostile bulkhead.GetImageRGBA "printf '1 1\\n0123456789'" "more data than its size"
grep -q 'applications of work not synced (the stored list is unchanged)' "$T/bulkheadd.log" ||
	fail "the refusals were not logged"

log "a qube that disappears in the middle of a sync"
before=$(sha256sum <"$STORED")
printf '#!/bin/sh\necho bh-x.desktop:Type=Application\nsleep 60\n' | bh run -p --user root work -- \
	sh -c 'rm -f /etc/bulkhead/rpc/bulkhead.GetAppmenus && cat > /etc/bulkhead/rpc/bulkhead.GetAppmenus && chmod 755 /etc/bulkhead/rpc/bulkhead.GetAppmenus'
rc=0
(sleep 3; bh kill work) &
killer=$!
err=$(bh apps --sync --no-autostart work 2>&1) || rc=$?
wait $killer
[ "$rc" = 1 ] || fail "a sync whose qube was killed exited $rc: $err"
grep -qiE "went away|stopped|not running" <<<"$err" || fail "unclear error: $err"
[ "$(sha256sum <"$STORED")" = "$before" ] || fail "the killed sync changed the stored list"
bh info >/dev/null || fail "bulkheadd is not answering"
bh apps work | grep -qE '^bh-hello\.desktop +yes +Hello Tool$' || fail "the old list is gone: $(bh apps work)"

log "the list goes with the qube"
bh remove work
[ ! -e "$BULKHEAD_STATE_DIR/qubes/work" ] || fail "the qube's directory is still there"
expect_fail 1 "no qube named" bh apps work
log "ok"
