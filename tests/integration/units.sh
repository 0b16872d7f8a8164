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
