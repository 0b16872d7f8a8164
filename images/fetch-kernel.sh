#!/bin/bash
# fetch-kernel.sh STATE_DIR
#
# Installs the Debian cloud kernel for qubes under STATE_DIR/kernels/<version>/ as vmlinuz,
# initramfs.img and modules.img (a raw ext4 image holding lib/modules/<version>, attached to qubes
# read-only), then points STATE_DIR/kernels/default at it. The package is only unpacked, never
# installed: the host's /boot and /lib/modules are not touched.
#
# BULKHEAD_KERNEL_DEB=/path/linux-image-*.deb uses that package instead of downloading one
# (offline installs, test caches). A version already installed is not fetched again.
set -euo pipefail

usage() {
	echo "usage: $0 STATE_DIR" >&2
	exit 2
}
die() {
	echo "fetch-kernel: $*" >&2
	exit 1
}
log() {
	echo "fetch-kernel: $*" >&2
}

[ $# -eq 1 ] || usage
state=$1
kernels=$state/kernels
here=$(cd "$(dirname "$0")" && pwd)
meta=linux-image-cloud-amd64

for tool in dpkg-deb mke2fs busybox; do
	command -v "$tool" >/dev/null || die "$tool not found"
done

deb=${BULKHEAD_KERNEL_DEB:-}
if [ -n "$deb" ]; then
	[ -f "$deb" ] || die "BULKHEAD_KERNEL_DEB=$deb is not a file"
	pkg=$(dpkg-deb -f "$deb" Package) || die "$deb is not a Debian package"
else
	# The meta package depends on exactly one versioned image package.
	pkg=$(apt-cache depends "$meta" 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1) || true
	[ -n "$pkg" ] || die "cannot resolve $meta to a kernel package (is the Debian archive in the apt sources? try apt-get update)"
fi
version=${pkg#linux-image-}
# The version names a directory; refuse anything that could climb out of kernels/.
[[ "$version" =~ ^[0-9][A-Za-z0-9._+-]*$ ]] || die "unexpected kernel package name '$pkg'"

datadir=${BULKHEAD_IMAGES_DATADIR:-}
if [ -z "$datadir" ]; then
	if [ -f "$here/initramfs/init" ]; then
		datadir=$here
	else
		datadir='@BULKHEAD_DATADIR@'
	fi
fi
[ -f "$datadir/initramfs/init" ] || die "cannot find initramfs/init under $datadir"
# What the installed files were built by: a kernel installed by other scripts is rebuilt, so a
# Bulkhead update reaches the initramfs of an already fetched kernel.
stamp=$(cat "$0" "$here/build-initramfs.sh" "$datadir/initramfs/init" | sha256sum | cut -d' ' -f1)

complete() {
	[ -s "$1/vmlinuz" ] && [ -s "$1/initramfs.img" ] && [ -s "$1/modules.img" ] &&
		[ "$(cat "$1/.stamp" 2>/dev/null)" = "$stamp" ]
}

set_default() {
	local link=$kernels/.default-$$
	ln -sfn "$version" "$link"
	mv -T "$link" "$kernels/default"
}

mkdir -p "$kernels"
if complete "$kernels/$version"; then
	log "kernel $version already installed"
	set_default
	echo "$version"
	exit 0
fi

tmp=$(mktemp -d "$kernels/.tmp-XXXXXX")
dl=
cleanup() {
	rm -rf "$tmp"
	[ -z "$dl" ] || rm -rf "$dl"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "$deb" ]; then
	# apt downloads as _apt when it can write the directory; otherwise it warns and uses root.
	dl=$(mktemp -d "${TMPDIR:-/tmp}/bulkhead-kernel.XXXXXX")
	chmod 0755 "$dl"
	if id _apt >/dev/null 2>&1; then
		chown _apt "$dl"
	fi
	log "downloading $pkg"
	(cd "$dl" && apt-get download -q=2 "$pkg") || die "apt-get download $pkg failed"
	deb=$(echo "$dl"/*.deb)
	[ -f "$deb" ] || die "apt-get download produced no package"
fi

log "unpacking $pkg"
dpkg-deb -x "$deb" "$tmp/x" || die "cannot unpack $deb"
vmlinuz=$tmp/x/boot/vmlinuz-$version
[ -f "$vmlinuz" ] || die "$deb has no boot/vmlinuz-$version"
# Debian moved modules to /usr/lib/modules after bookworm; accept both.
src=
for d in "$tmp/x/lib/modules/$version" "$tmp/x/usr/lib/modules/$version"; do
	[ -d "$d" ] && src=$d
done
[ -n "$src" ] || die "$deb has no lib/modules/$version"

mkdir -p "$tmp/m/lib/modules"
mv "$src" "$tmp/m/lib/modules/$version"
moddir=$tmp/m/lib/modules/$version
# The package ships no modules.dep; busybox depmod writes one busybox modprobe (in the qube) reads.
busybox depmod -b "$tmp/m" "$version" || die "depmod failed"
# kmod's modprobe (Debian templates, and the kernel's own module requests through /sbin/modprobe
# there: nftables loads its expressions on demand) reads only the binary indexes kmod's depmod
# writes beside them; its text files have the same format busybox reads.
if depmod=$(PATH=$PATH:/usr/sbin:/sbin command -v depmod) && [ "$(readlink -f "$depmod")" != "$(readlink -f "$(command -v busybox)")" ]; then
	"$depmod" -b "$tmp/m" "$version" || die "kmod depmod failed"
else
	log "kmod's depmod not found (install kmod): qubes of Debian templates cannot load modules"
fi

install -m 0644 "$vmlinuz" "$tmp/vmlinuz"
rm -rf "$tmp/x"

"$here/build-initramfs.sh" "$moddir" "$tmp/initramfs.img"

# Room for the files plus ext4 metadata; the image is read-only in the qube.
kib=$(du -sk "$moddir" | cut -f1)
kib=$((kib + kib / 4 + 16384))
truncate -s "${kib}k" "$tmp/modules.img"
mke2fs -q -F -t ext4 -O ^has_journal -m 0 -L modules -E root_owner=0:0 -d "$moddir" \
	"$tmp/modules.img" "${kib}k" || die "cannot build modules.img"
chmod 0644 "$tmp/modules.img" "$tmp/initramfs.img"
rm -rf "$tmp/m"
chmod 0755 "$tmp"
echo "$stamp" >"$tmp/.stamp"
sync "$tmp/vmlinuz" "$tmp/initramfs.img" "$tmp/modules.img" "$tmp/.stamp"

if [ -e "$kernels/$version" ]; then
	# Built by older scripts. Qubes running on it keep their open files.
	old=$(mktemp -u "$kernels/.old-XXXXXX")
	mv -T "$kernels/$version" "$old" 2>/dev/null && rm -rf "$old"
fi
if ! mv -T "$tmp" "$kernels/$version" 2>/dev/null; then
	# Another fetch may have finished first; its result is as good as ours.
	complete "$kernels/$version" || die "cannot install $kernels/$version"
	log "kernel $version was installed concurrently"
fi
set_default
log "installed kernel $version in $kernels/$version"
echo "$version"
