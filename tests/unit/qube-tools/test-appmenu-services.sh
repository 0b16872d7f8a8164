#!/bin/bash
# The qube's application-menu services as they run in a qube, against a made-up home
# (QT_DIR: the built qube-tools): bulkhead-appmenus' lines (from the user's directory: the
# system ones are the host's own), a value the host would refuse left out,
# bulkhead-get-image-rgba's header and scaling, bulkhead-start-app's Exec= splitting.
set -u
: "${QT_DIR:?QT_DIR must point at the built qube-tools}"
T=$(mktemp -d /tmp/qt-appmenu.XXXXXX)
trap 'rm -rf "$T"' EXIT
export HOME=$T/home
apps=$HOME/.local/share/applications
mkdir -p "$apps" "$HOME/.local/share/icons/hicolor/48x48/apps"
fails=0
pass() { echo "ok - $1"; }
fail() {
	echo "FAIL - $1"
	fails=$((fails + 1))
}

printf '[Desktop Entry]\nType=Application\nName = Spaced\nName[de]=Lokal\nIcon=qt-icon\nExec=sh -c "echo \\"$0 $1\\" > %s/ran" one "two words" %%U\n[Desktop Action new]\nName=Not me\n' \
	"$T" >"$apps/qt-one.desktop"
printf '[Desktop Entry]\nType=Application\nName=Bad\x1bName\nExec=true\n' >"$apps/qt-two.desktop"
printf '[Desktop Entry]\nName=x\n' >"$apps/not an id.desktop"
out=$("$QT_DIR/bulkhead-appmenus")
grep -qx 'qt-one.desktop:Name=Spaced' <<<"$out" && pass "a key with spaces around =" || fail "Name: $out"
grep -q 'Lokal\|Not me\|Exec' <<<"$out" && fail "localised, action or Exec keys printed: $out" || pass "only the keys the host reads"
grep -q 'Bad' <<<"$out" && fail "a control character passed: $out" || pass "a value with a control character left out"
grep -qx 'qt-two.desktop:Type=Application' <<<"$out" && pass "the rest of that entry kept" || fail "qt-two: $out"
grep -q 'not an id' <<<"$out" && fail "a file name outside the id set listed" || pass "ids outside the set skipped"

python3 - "$HOME/.local/share/icons/hicolor/48x48/apps/qt-icon.png" <<'PY'
import struct, sys, zlib
w, h = 10, 200
raw = b''.join(b'\0' + b''.join(bytes((x, y % 256, 7, 255)) for x in range(w)) for y in range(h))
def chunk(t, d):
    return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
open(sys.argv[1], 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 6, 0, 0, 0))
                              + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
PY
"$QT_DIR/bulkhead-get-image-rgba" qt-icon >"$T/rgba" || fail "get-image-rgba failed"
[ "$(head -n1 "$T/rgba")" = "3 64" ] && pass "a 10x200 icon scaled to 3x64" || fail "header: $(head -n1 "$T/rgba")"
[ "$(stat -c %s "$T/rgba")" = $((5 + 3 * 64 * 4)) ] && pass "exactly the pixels" || fail "size $(stat -c %s "$T/rgba")"
"$QT_DIR/bulkhead-get-image-rgba" no-such-icon >/dev/null 2>&1 && fail "a missing icon succeeded" || pass "a missing icon fails"
"$QT_DIR/bulkhead-get-image-rgba" ../../etc/passwd >/dev/null 2>&1 && fail "a path upwards succeeded" || pass "no '..'"

"$QT_DIR/bulkhead-start-app" qt-one.desktop >/dev/null || fail "start-app failed"
for _ in $(seq 50); do [ -s "$T/ran" ] && break; sleep 0.1; done
[ "$(cat "$T/ran" 2>/dev/null)" = "one two words" ] && pass "Exec= split with quotes, %U dropped" || fail "ran: $(cat "$T/ran" 2>/dev/null)"
"$QT_DIR/bulkhead-start-app" 'x;reboot.desktop' 2>/dev/null && fail "an id outside the set started" || pass "ids outside the set refused"
"$QT_DIR/bulkhead-start-app" qt-none.desktop 2>/dev/null && fail "a missing entry started" || pass "a missing entry fails"
printf '[Desktop Entry]\nType=Application\nName=N\nExec=/nonexistent/prog\n' >"$apps/qt-missing.desktop"
"$QT_DIR/bulkhead-start-app" qt-missing.desktop 2>/dev/null && fail "a missing program reported started" || pass "a missing program fails"
exit $((fails > 0))
