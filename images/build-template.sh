#!/bin/bash
# build-template.sh [--size SIZE] [--wayland-proxy PATH] FLAVOUR OUTPUT_QCOW2 AGENT_BINARY
#
# Builds the root volume of a template qube as a qcow2 image, without loop mounts or network:
# the root tree is assembled in a temporary directory and written into a sparse ext4 image with
# mke2fs -d, then converted. OUTPUT_QCOW2 appears only when complete (written as .tmp, renamed).
#
# Flavours:
#   minimal  static busybox, bulkhead-agent, e2fsprogs for the private volume, the Bulkhead init,
#            the Wayland proxy (its guest half serves the qube's windows) and
#            bulkhead-demo-window
#
# SIZE is the virtual size of the root volume (qemu-img/truncate syntax, default 1G).
# --wayland-proxy gives the bulkhead-wayland-proxy binary; without it, it is looked for like the
# other qube tools (beside the agent, in $BULKHEAD_QUBE_TOOLS), and the qube has no GUI if it is
# not found.
set -euo pipefail

usage() {
	echo "usage: $0 [--size SIZE] [--wayland-proxy PATH] FLAVOUR OUTPUT_QCOW2 AGENT_BINARY" >&2
	exit 2
}
die() {
	echo "build-template: $*" >&2
	exit 1
}

size=1G
wayland_proxy=
args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--size) [ $# -ge 2 ] || usage; size=$2; shift 2 ;;
	--size=*) size=${1#--size=}; shift ;;
	--wayland-proxy) [ $# -ge 2 ] || usage; wayland_proxy=$2; shift 2 ;;
	--wayland-proxy=*) wayland_proxy=${1#--wayland-proxy=}; shift ;;
	--) shift; args+=("$@"); break ;;
	-*) usage ;;
	*) args+=("$1"); shift ;;
	esac
done
[ ${#args[@]} -eq 3 ] || usage
flavour=${args[0]}
output=${args[1]}
agent=${args[2]}

case "$flavour" in
minimal) ;;
*)
	echo "build-template: unknown flavour '$flavour' (known: minimal)" >&2
	exit 2
	;;
esac
[[ "$size" =~ ^[0-9]+[KMGT]?$ ]] || die "bad size '$size' (e.g. 1G, 2048M)"

here=$(cd "$(dirname "$0")" && pwd)
datadir=${BULKHEAD_IMAGES_DATADIR:-}
if [ -z "$datadir" ]; then
	if [ -f "$here/guest/init" ]; then
		datadir=$here
	else
		datadir='@BULKHEAD_DATADIR@'
	fi
fi
[ -f "$datadir/guest/init" ] || die "cannot find guest/init under $datadir"
if [ ! -f "$agent" ] || [ ! -x "$agent" ]; then
	die "agent binary '$agent' is not an executable file"
fi
if [ -n "$wayland_proxy" ] && { [ ! -f "$wayland_proxy" ] || [ ! -x "$wayland_proxy" ]; }; then
	die "Wayland proxy '$wayland_proxy' is not an executable file"
fi

busybox=${BUSYBOX:-$(command -v busybox || true)}
if [ -z "$busybox" ] || [ ! -x "$busybox" ]; then
	die "busybox not found (install busybox-static)"
fi
if ldd "$busybox" >/dev/null 2>&1; then
	die "$busybox is dynamically linked; install busybox-static or set BUSYBOX"
fi
for tool in mke2fs qemu-img ldd; do
	command -v "$tool" >/dev/null || die "$tool not found"
done

# mke2fs -d copies owners from the tree: only a root-built tree gives root-owned files.
[ "$(id -u)" -eq 0 ] || die "must run as root (the image takes file owners from the build tree)"
outdir=$(dirname "$output")
[ -d "$outdir" ] || die "directory $outdir does not exist"
work=$(mktemp -d "${TMPDIR:-/var/tmp}/bulkhead-template.XXXXXX")
trap 'rm -rf "$work"; rm -f "$output.tmp"' EXIT
trap 'exit 130' INT TERM
root=$work/root

# Plain directories (no /usr merge): few files, and busybox's applet paths need no symlinks.
for d in bin sbin lib lib64 usr/bin usr/sbin usr/lib etc/skel home rw proc sys dev tmp run \
	root lib/modules var/tmp var/log mnt; do
	mkdir -p "$root/$d"
done
chmod 1777 "$root/tmp" "$root/var/tmp"
chmod 0700 "$root/root"

install -m 0755 "$busybox" "$root/bin/busybox"
# Links at the paths busybox itself lists (bin/sh, sbin/modprobe, usr/bin/wc, ...).
for applet in $("$busybox" --list-full); do
	[ "$applet" = bin/busybox ] || [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done

# Copy an executable with the shared libraries and loader it needs, at the host's paths.
copy_with_libs() {
	local src=$1 dst=$2 lib
	install -D -m 0755 "$src" "$root/$dst"
	for lib in $(ldd "$src" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p'); do
		[ -e "$root$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
	done
}

install -d "$root/usr/bin"
copy_with_libs "$agent" usr/bin/bulkhead-agent

# The tools a qube's programs use to reach other qubes, and the services it offers to them.
# They are looked for beside the agent and in $BULKHEAD_QUBE_TOOLS (a build tree keeps them in
# another directory than the agent).
find_tool() {
	local name=$1 dir
	for dir in "$(dirname "$agent")" "$(dirname "$0")" ${BULKHEAD_QUBE_TOOLS:-}; do
		[ -x "$dir/$name" ] && { echo "$dir/$name"; return 0; }
	done
	return 1
}
install -d -m 0755 "$root/etc/bulkhead/rpc"
for tool in bulkhead-call bulkhead-copy bulkhead-move bulkhead-open-in-vm \
	bulkhead-filecopy-receive bulkhead-open-receive bulkhead-openurl-receive; do
	if path=$(find_tool "$tool"); then
		copy_with_libs "$path" "usr/bin/$tool"
	elif [ "$tool" = bulkhead-call ]; then
		die "bulkhead-call not found beside $agent or in \$BULKHEAD_QUBE_TOOLS"
	else
		echo "build-template: note: $tool not found; the qube will not have it" >&2
	fi
done
# The GUI: the agent runs the proxy's guest half when the qube has a GUI port.
if [ -z "$wayland_proxy" ]; then
	wayland_proxy=$(find_tool bulkhead-wayland-proxy) || wayland_proxy=
fi
if [ -n "$wayland_proxy" ]; then
	copy_with_libs "$wayland_proxy" usr/bin/bulkhead-wayland-proxy
	if path=$(find_tool bulkhead-demo-window); then
		copy_with_libs "$path" usr/bin/bulkhead-demo-window
	else
		echo "build-template: note: bulkhead-demo-window not found; the qube will not have it" >&2
	fi
else
	echo "build-template: note: bulkhead-wayland-proxy not found; the qube will have no GUI" >&2
fi
for svc in bulkhead.Filecopy:bulkhead-filecopy-receive bulkhead.OpenInVM:bulkhead-open-receive \
	bulkhead.OpenURL:bulkhead-openurl-receive; do
	if [ -x "$root/usr/bin/${svc#*:}" ]; then
		ln -sf "/usr/bin/${svc#*:}" "$root/etc/bulkhead/rpc/${svc%%:*}"
	fi
done

# The real e2fsprogs replace busybox's applets: busybox has no resize2fs and no e2fsck.
for tool in mke2fs resize2fs e2fsck; do
	path=$(PATH=/usr/sbin:/sbin:$PATH command -v "$tool") || die "$tool not found (install e2fsprogs)"
	rm -f "$root/sbin/$tool"
	copy_with_libs "$path" "sbin/$tool"
done
ln -sf mke2fs "$root/sbin/mkfs.ext4"
ln -sf e2fsck "$root/sbin/fsck.ext4"

install -m 0755 "$datadir/guest/init" "$root/sbin/init"

cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
tty:x:5:
user:x:1000:
GROUP
# No passwords: the host runs commands through the agent, nothing logs in.
cat >"$root/etc/shadow" <<'SHADOW'
root:*:19000:0:99999:7:::
user:*:19000:0:99999:7:::
SHADOW
chmod 0644 "$root/etc/passwd" "$root/etc/group"
chmod 0600 "$root/etc/shadow"
echo bulkhead >"$root/etc/hostname"
cat >"$root/etc/hosts" <<'HOSTS'
127.0.0.1	localhost
::1	localhost
HOSTS
cat >"$root/etc/os-release" <<'OSREL'
NAME="Bulkhead minimal"
PRETTY_NAME="Bulkhead minimal"
ID=bulkhead
VARIANT_ID=minimal
OSREL
cat >"$root/etc/profile" <<'PROFILE'
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
PROFILE
ln -s /proc/self/mounts "$root/etc/mtab"
echo minimal >"$root/etc/bulkhead-flavour"

# A terminal for the qube's windows: the host's foot with its libraries, a monospace font, the
# font configuration with a prebuilt cache (fontconfig would otherwise scan at every start, which
# is slow under TCG) and its terminfo entry. Optional: without foot on the host, qubes have only
# bulkhead-demo-window.
if foot=$(command -v foot) && command -v fc-cache >/dev/null; then
	copy_with_libs "$foot" usr/bin/foot
	cp -a /etc/fonts "$root/etc/fonts"
	install -d "$root/usr/share"
	[ -d /usr/share/fontconfig ] && cp -a /usr/share/fontconfig "$root/usr/share/fontconfig"
	install -d "$root/usr/share/fonts/truetype/dejavu"
	for f in /usr/share/fonts/truetype/dejavu/DejaVuSansMono*.ttf \
		/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf; do
		[ -f "$f" ] && install -m 0644 "$f" "$root/usr/share/fonts/truetype/dejavu/"
	done
	install -d "$root/var/cache/fontconfig"
	fc-cache -f -y "$root" >/dev/null 2>&1 || echo "build-template: note: fc-cache failed" >&2
	for f in /usr/share/terminfo/f/foot /usr/share/terminfo/f/foot-direct; do
		[ -f "$f" ] && install -D -m 0644 "$f" "$root$f"
	done
	[ -f /etc/xdg/foot/foot.ini ] && install -D -m 0644 /etc/xdg/foot/foot.ini \
		"$root/etc/xdg/foot/foot.ini"
	# foot insists on a UTF-8 locale and falls back to C.UTF-8, which glibc loads from here.
	if [ -d /usr/lib/locale/C.utf8 ]; then
		install -d "$root/usr/lib/locale"
		cp -a /usr/lib/locale/C.utf8 "$root/usr/lib/locale/"
	fi
else
	echo "build-template: note: foot or fc-cache not found; qubes will have no terminal" >&2
fi

raw=$work/root.img
truncate -s "$size" "$raw"
mke2fs -q -F -t ext4 -L root -E root_owner=0:0 -d "$root" "$raw" >/dev/null ||
	die "mke2fs could not build the root file system (too small for --size $size?)"
qemu-img convert -q -f raw -O qcow2 "$raw" "$output.tmp" || die "qemu-img convert failed"
sync "$output.tmp"
mv -f "$output.tmp" "$output"
