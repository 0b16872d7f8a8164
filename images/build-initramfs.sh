#!/bin/bash
# build-initramfs.sh MODULES_DIR OUTPUT
#
# Builds the qube initramfs: a static busybox, the virtio modules needed to find the root disk and
# the control port (with their dependencies, taken from MODULES_DIR/modules.dep) and the /init that mounts root and
# switches to it. MODULES_DIR is an unpacked lib/modules/<version> that already has modules.dep.
# The output is written to OUTPUT.tmp and renamed, so OUTPUT is either absent or complete.
set -euo pipefail

usage() {
	echo "usage: $0 MODULES_DIR OUTPUT" >&2
	exit 2
}
die() {
	echo "build-initramfs: $*" >&2
	exit 1
}

[ $# -eq 2 ] || usage
moddir=$1
output=$2

here=$(cd "$(dirname "$0")" && pwd)
datadir=${BULKHEAD_IMAGES_DATADIR:-}
if [ -z "$datadir" ]; then
	if [ -f "$here/initramfs/init" ]; then
		datadir=$here
	else
		datadir='@BULKHEAD_DATADIR@'
	fi
fi
[ -f "$datadir/initramfs/init" ] || die "cannot find initramfs/init under $datadir"

# Modules the root disk needs, and the console ports so that the agent reaches the host even
# when the modules volume fails to mount; the rest is loaded later from the modules volume.
modules="virtio_pci virtio_blk virtio_console"

busybox=${BUSYBOX:-$(command -v busybox || true)}
if [ -z "$busybox" ] || [ ! -x "$busybox" ]; then
	die "busybox not found (install busybox-static)"
fi
# A dynamically linked busybox would need a libc in the initramfs.
if ldd "$busybox" >/dev/null 2>&1; then
	die "$busybox is dynamically linked; install busybox-static or set BUSYBOX"
fi
command -v cpio >/dev/null || die "cpio not found"

[ -f "$moddir/modules.dep" ] || die "$moddir/modules.dep missing (run depmod first)"
version=$(basename "$moddir")

stage=$(mktemp -d "${TMPDIR:-/tmp}/bulkhead-initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT INT TERM

mkdir -p "$stage/bin" "$stage/etc" "$stage/dev" "$stage/proc" "$stage/sys" "$stage/sysroot" \
	"$stage/lib/modules/$version"
cp "$busybox" "$stage/bin/busybox"
for applet in $("$busybox" --list); do
	[ "$applet" = busybox ] || ln -s busybox "$stage/bin/$applet"
done
install -m 0755 "$datadir/initramfs/init" "$stage/init"

# The transitive closure of the wanted modules in modules.dep (paths relative to moddir).
files=$(awk -v want="$modules" '
	function norm(p,  n) { n = p; sub(/.*\//, "", n); sub(/\.ko(\..*)?$/, "", n); gsub(/-/, "_", n); return n }
	{
		path = $1; sub(/:$/, "", path)
		name = norm(path); bypath[name] = path; deps[path] = ""
		for (i = 2; i <= NF; i++) deps[path] = deps[path] " " $i
	}
	END {
		n = split(want, q, " ")
		for (i = 1; i <= n; i++) {
			if (!(q[i] in bypath)) { print "missing " q[i] > "/dev/stderr"; exit 1 }
			todo[++t] = bypath[q[i]]
		}
		for (h = 1; h <= t; h++) {
			p = todo[h]
			if (p in seen) continue
			seen[p] = 1; print p
			m = split(deps[p], d, " ")
			for (j = 1; j <= m; j++) if (!(d[j] in seen)) todo[++t] = d[j]
		}
	}' "$moddir/modules.dep") || die "$moddir/modules.dep lacks a module among: $modules"

for f in $files; do
	[ -f "$moddir/$f" ] || die "module file $moddir/$f missing"
	mkdir -p "$stage/lib/modules/$version/$(dirname "$f")"
	cp "$moddir/$f" "$stage/lib/modules/$version/$f"
done
"$busybox" depmod -b "$stage" "$version"
echo "$modules" >"$stage/etc/initramfs-modules"

mkdir -p "$(dirname "$output")"
(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -9 >"$output.tmp"
mv -f "$output.tmp" "$output"
