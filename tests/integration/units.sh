#!/bin/bash
# The systemd units are valid (systemd-analyze verify), with the paths meson filled in.
set -euo pipefail
if ! command -v systemd-analyze >/dev/null; then echo "SKIP: no systemd-analyze"; exit 77; fi
unit=$BULKHEAD_BUILD/systemd-units/bulkheadd.service
grep -q '^ExecStart=/' "$unit"
# verify wants the executables to exist; point it at the build tree's binaries.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s|^ExecStart=[^ ]*|ExecStart=$BULKHEAD_BUILD/vmmanager/bulkheadd|" "$unit" > "$tmp/bulkheadd.service"
out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$tmp/bulkheadd.service" 2>&1 | grep -v -e 'libvirtd.service' -e 'virtlogd.service' -e '^$' || true)
if [ -n "$out" ]; then echo "$out"; exit 1; fi
echo "bulkheadd.service verified"
# How exposed the service is (0 none, 10 fully): printed with what is left open, and held at or
# below 3.5 (3.1 when this was written; root, libvirt's system socket and the per-qube uids
# need what remains).
if out=$(systemd-analyze security --offline=yes --threshold=35 "$tmp/bulkheadd.service" 2>&1); then
	sec_ok=1
else
	sec_ok=0
fi
grep '^✗' <<<"$out" | sed 's/  */ /g' | cut -c 1-150
grep 'Overall exposure level' <<<"$out" || { echo "$out" | tail -n 5; exit 1; }
[ "$sec_ok" = 1 ] || { echo "bulkheadd.service is more exposed than 3.5"; exit 1; }

# The kiosk unit, with the build's kiosk script, and a kiosk configuration for qube "kiosk".
kunit=$BULKHEAD_BUILD/systemd-units/bulkhead-kiosk@.service
grep -q '^ExecStart=/.*/bulkhead-kiosk %i \$KIOSK_COMMAND$' "$kunit" || { echo "the kiosk unit's ExecStart"; exit 1; }
mkdir -p "$tmp/sys"
sed "s|^ExecStart=[^ ]*|ExecStart=$BULKHEAD_SRC/compositor/session/bulkhead-kiosk|" "$kunit" > "$tmp/sys/bulkhead-kiosk@.service"
out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$tmp/sys/bulkhead-kiosk@kiosk.service" 2>&1 |
	grep -v -e 'bulkheadd.service' -e 'getty@tty1.service' -e 'systemd-user-sessions.service' \
		-e 'kiosk.conf' -e '^$' || true)
if [ -n "$out" ]; then echo "$out"; exit 1; fi
echo "bulkhead-kiosk@.service verified"
if out=$(systemd-analyze security --offline=yes --threshold=45 "$tmp/sys/bulkhead-kiosk@kiosk.service" 2>&1); then
	sec_ok=1
else
	sec_ok=0
fi
grep '^✗' <<<"$out" | sed 's/  */ /g' | cut -c 1-150
grep 'Overall exposure level' <<<"$out" || { echo "$out" | tail -n 5; exit 1; }
[ "$sec_ok" = 1 ] || { echo "bulkhead-kiosk@.service is more exposed than 4.5"; exit 1; }

# The login session's user units.
mkdir -p "$tmp/user" "$tmp/xdg"
export XDG_RUNTIME_DIR=$tmp/xdg # verify --user wants a runtime directory
sed "s|^ExecStart=[^ ]*|ExecStart=$BULKHEAD_BUILD/compositor/bulkhead-compositor|" \
	"$BULKHEAD_BUILD/systemd-units/bulkhead-compositor.service" > "$tmp/user/bulkhead-compositor.service"
cp "$BULKHEAD_SRC/systemd-units/user/bulkhead-session.target" "$tmp/user/"
out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --user --man=no "$tmp/user/bulkhead-compositor.service" \
	"$tmp/user/bulkhead-session.target" 2>&1 | grep -v -e '^$' || true)
if [ -n "$out" ]; then echo "$out"; exit 1; fi
echo "user units bulkhead-compositor.service and bulkhead-session.target verified"
# The compositor needs the display, input devices and the user's files: printed, not held.
out=$(systemd-analyze security --user --offline=yes "$tmp/user/bulkhead-compositor.service" 2>&1 || true)
grep 'Overall exposure level' <<<"$out" || { echo "$out" | tail -n 5; exit 1; }
