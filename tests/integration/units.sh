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
