#!/bin/bash
# build-template.sh [--size SIZE] [--kernel STATE_DIR] [--wayland-proxy PATH] [--net-apply PATH]
#                   FLAVOUR OUTPUT_QCOW2 AGENT_BINARY
#
# Builds the root volume of a template qube as a qcow2 image, without loop mounts: the root tree
# is assembled in a temporary directory and written into a sparse ext4 image with mke2fs -d, then
# converted. OUTPUT_QCOW2 appears only when complete (written as .tmp, renamed); a failed or
# interrupted build leaves nothing behind.
#
# Flavours:
#   minimal  static busybox, bulkhead-agent, e2fsprogs for the private volume, the Bulkhead init,
#            the Wayland proxy (its guest half serves the qube's windows) and
#            bulkhead-demo-window. No network needed.
#   debian   Debian 12 (bookworm), debootstrap --variant=minbase from the Debian mirror in the
#            host's apt sources (or $BULKHEAD_DEBIAN_MIRROR), with iproute2, nftables, conntrack,
#            netbase (nft resolves protocol names through /etc/protocols), kmod, e2fsprogs and
#            ca-certificates, plus the same Bulkhead parts as minimal and
#            bulkhead-net-apply, and the updates proxy's ends (apt-cacher-ng,
#            bulkhead-updates-proxy, apt's proxy setting). Documentation, manuals, locales and apt's lists are left out.
#            Downloaded packages are kept in $BULKHEAD_DEBOOTSTRAP_CACHE
#            (/var/cache/bulkhead/debootstrap), so a rebuild downloads only the archive index.
#            $DEBOOTSTRAP names the debootstrap program (default: from PATH).
#   debian-12  debian plus what a Qubes user finds in a Debian template, for Wayland: Firefox ESR
#            (started with MOZ_ENABLE_WAYLAND=1), zathura with its PDF plugin, Thunar, foot,
#            DejaVu fonts and xdg-utils, with desktop entries and defaults that send a file or
#            link to another qube (bulkhead-open-in-vm) or a new disposable
#            (bulkhead-open-in-dvm), and Firefox's "Open link in a disposable qube" (the
#            extension in guest/firefox, with bulkhead-firefox-open as its native messaging
#            host). No recommended packages, no documentation.
#
# Progress goes to stdout as lines "[N/M] what", everything else to stderr.
# SIZE is the virtual size of the root volume (qemu-img/truncate syntax; default 1G for minimal,
# 4G for debian, 8G for debian-12). --kernel runs fetch-kernel.sh STATE_DIR first, as the first stage.
# --wayland-proxy and --net-apply (or $BULKHEAD_NET_APPLY) give the bulkhead-wayland-proxy and
# bulkhead-net-apply binaries; without them they are looked for like the other qube tools (beside
# the agent, in the directories of $BULKHEAD_QUBE_TOOLS, space-separated), and the qube goes without when they are not found.
set -euo pipefail

usage() {
	echo "usage: $0 [--size SIZE] [--kernel STATE_DIR] [--wayland-proxy PATH] [--net-apply PATH] FLAVOUR OUTPUT_QCOW2 AGENT_BINARY" >&2
	exit 2
}
die() {
	echo "build-template: $*" >&2
	exit 1
}
note() {
	echo "build-template: note: $*" >&2
}

size=
kernel_state=
wayland_proxy=
net_apply=${BULKHEAD_NET_APPLY:-}
args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--size) [ $# -ge 2 ] || usage; size=$2; shift 2 ;;
	--size=*) size=${1#--size=}; shift ;;
	--kernel) [ $# -ge 2 ] || usage; kernel_state=$2; shift 2 ;;
	--kernel=*) kernel_state=${1#--kernel=}; shift ;;
	--wayland-proxy) [ $# -ge 2 ] || usage; wayland_proxy=$2; shift 2 ;;
	--wayland-proxy=*) wayland_proxy=${1#--wayland-proxy=}; shift ;;
	--net-apply) [ $# -ge 2 ] || usage; net_apply=$2; shift 2 ;;
	--net-apply=*) net_apply=${1#--net-apply=}; shift ;;
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
minimal) stages=3 default_size=1G debian_based= ;;
debian) stages=5 default_size=4G debian_based=1 ;;
debian-12) stages=7 default_size=8G debian_based=1 ;;
*)
	echo "build-template: unknown flavour '$flavour' (known: minimal, debian, debian-12)" >&2
	exit 2
	;;
esac
[ -n "$kernel_state" ] && stages=$((stages + 1))
size=${size:-$default_size}
[[ "$size" =~ ^[0-9]+[KMGT]?$ ]] || die "bad size '$size' (e.g. 1G, 2048M)"

stage_n=0
stage() {
	stage_n=$((stage_n + 1))
	echo "[$stage_n/$stages] $*"
}

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
if [ -n "$net_apply" ] && { [ ! -f "$net_apply" ] || [ ! -x "$net_apply" ]; }; then
	die "bulkhead-net-apply '$net_apply' is not an executable file"
fi

if [ "$flavour" = minimal ]; then
	busybox=${BUSYBOX:-$(command -v busybox || true)}
	if [ -z "$busybox" ] || [ ! -x "$busybox" ]; then
		die "busybox not found (install busybox-static)"
	fi
	if ldd "$busybox" >/dev/null 2>&1; then
		die "$busybox is dynamically linked; install busybox-static or set BUSYBOX"
	fi
fi
PATH=$PATH:/usr/sbin:/sbin
for tool in mke2fs qemu-img ldd; do
	command -v "$tool" >/dev/null || die "$tool not found"
done

# debian_mirror: the Debian archive the host's apt uses (shared with the package test).
. "$(dirname "$0")/debian-mirror.sh"

if [ -n "$debian_based" ]; then
	debootstrap=${DEBOOTSTRAP:-$(command -v debootstrap || true)}
	if [ -z "$debootstrap" ] || [ ! -x "$debootstrap" ]; then
		die "debootstrap not found${DEBOOTSTRAP:+ at $DEBOOTSTRAP} (install it: apt-get install debootstrap)"
	fi
	mirror=${BULKHEAD_DEBIAN_MIRROR:-$(debian_mirror)}
	[[ "$mirror" =~ ^(https?|file):/[^[:space:]]*$ ]] || die "bad Debian mirror '$mirror'"
	debcache=${BULKHEAD_DEBOOTSTRAP_CACHE:-/var/cache/bulkhead/debootstrap}
	mkdir -p "$debcache" || die "cannot create the package cache $debcache"
fi

# mke2fs -d copies owners from the tree: only a root-built tree gives root-owned files.
[ "$(id -u)" -eq 0 ] || die "must run as root (the image takes file owners from the build tree)"
outdir=$(dirname "$output")
[ -d "$outdir" ] || die "directory $outdir does not exist"
work=$(mktemp -d "${TMPDIR:-/var/tmp}/bulkhead-template.XXXXXX")
helper_pid=
cleanup() {
	# debootstrap runs in a session of its own: end all of it (dpkg, wget) before removing.
	if [ -n "$helper_pid" ]; then
		kill -TERM -- "-$helper_pid" 2>/dev/null || true
		wait "$helper_pid" 2>/dev/null || true
	fi
	# What debootstrap mounted in the tree (proc, sys) goes before the tree does.
	local m
	for m in $(awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	rm -rf --one-file-system "$work"
	rm -f "$output.tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
root=$work/root
mkdir "$root"

# debootstrap chroots, makes device nodes and installs set-uid programs: where a sandbox forbids
# that (such as bulkheadd.service's), it would fail half-way with an obscure error.
if [ -n "$debian_based" ]; then
	sandboxed="this process may not %s (a sandbox such as bulkheadd.service's?); debootstrap needs it"
	# shellcheck disable=SC2059
	chroot / true 2>/dev/null || die "$(printf "$sandboxed" "chroot (CAP_SYS_CHROOT)")"
	# shellcheck disable=SC2059
	mknod "$work/null" c 1 3 2>/dev/null || die "$(printf "$sandboxed" "make device nodes (CAP_MKNOD)")"
	touch "$work/suid"
	# shellcheck disable=SC2059
	chmod u+s "$work/suid" 2>/dev/null || die "$(printf "$sandboxed" "make set-uid files")"
	rm -f "$work/null" "$work/suid"
	if [ "$flavour" = debian-12 ]; then
		# apt in the tree needs /proc and the package cache mounted there.
		mkdir "$work/mnt"
		# shellcheck disable=SC2059
		mount --bind "$work/mnt" "$work/mnt" 2>/dev/null ||
			die "$(printf "${sandboxed/debootstrap/apt}" "mount (CAP_SYS_ADMIN)")"
		umount "$work/mnt"
		rmdir "$work/mnt"
	fi
fi

if [ -n "$kernel_state" ]; then
	stage "fetching the qube kernel"
	if ! "$here/fetch-kernel.sh" "$kernel_state" >/dev/null 2>"$work/kernel.err"; then
		cat "$work/kernel.err" >&2
		die "fetching the kernel failed: $(sed -n 's/^fetch-kernel: //p' "$work/kernel.err" | tail -n 1)"
	fi
	cat "$work/kernel.err" >&2
fi

# Static busybox and the host's e2fsprogs.
build_minimal_tree() {
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

	# The real e2fsprogs replace busybox's applets: busybox has no resize2fs and no e2fsck.
	for tool in mke2fs resize2fs e2fsck; do
		path=$(PATH=/usr/sbin:/sbin:$PATH command -v "$tool") || die "$tool not found (install e2fsprogs)"
		rm -f "$root/sbin/$tool"
		copy_with_libs "$path" "sbin/$tool"
	done
	ln -sf mke2fs "$root/sbin/mkfs.ext4"
	ln -sf e2fsck "$root/sbin/fsck.ext4"
}

# Debian 12 from the archive: debootstrap in a session of its own (so that an interrupted build
# can end it and its dpkg), its output in the log, the switch from downloading to unpacking
# shown as a stage.
debian_packages=iproute2,nftables,conntrack,netbase,kmod,e2fsprogs,ca-certificates
# The updates proxy (add_updates_proxy below): the caching proxy a net qube runs.
debian_packages+=,apt-cacher-ng
build_debian_tree() {
	local fifo=$work/debootstrap.fifo out=$work/debootstrap.out line installing=0 rc=0
	stage "downloading packages from $mirror"
	mkfifo "$fifo"
	setsid -w "$debootstrap" --variant=minbase --merged-usr --components=main \
		--include="$debian_packages" --cache-dir="$debcache" \
		bookworm "$root" "$mirror" >"$fifo" 2>&1 </dev/null &
	helper_pid=$!
	while IFS= read -r line; do
		printf '%s\n' "$line" >>"$out"
		printf '%s\n' "$line" >&2
		case "$line" in
		"I: Extracting "* | "I: Installing core packages"*)
			if [ $installing = 0 ]; then
				installing=1
				stage "installing packages"
			fi
			;;
		esac
	done <"$fifo"
	wait "$helper_pid" || rc=$?
	helper_pid=
	if [ $rc -ne 0 ]; then
		if grep -q "Failed getting release" "$out"; then
			die "cannot reach the Debian mirror $mirror: $(grep -m 1 '^E:' "$out" | cut -c 4-)"
		fi
		[ -f "$root/debootstrap/debootstrap.log" ] && tail -n 20 "$root/debootstrap/debootstrap.log"
		die "debootstrap failed (exit $rc): $(grep '^E:' "$out" | tail -n 1 | cut -c 4-)"
	fi
	[ $installing = 1 ] || stage "installing packages"
	[ -x "$root/usr/sbin/nft" ] && [ -x "$root/usr/bin/ip" ] || die "debootstrap left no nft or ip"
	# A flavour's additions, while the tree still has the host's resolver.
	[ $# -eq 0 ] || "$@"

	# The host's resolver and name are not the qube's: bulkhead-net-apply writes resolv.conf.
	: >"$root/etc/resolv.conf"
	grep -q '^user:' "$root/etc/passwd" ||
		echo 'user:x:1000:1000:user:/home/user:/bin/bash' >>"$root/etc/passwd"
	grep -q '^user:' "$root/etc/group" || echo 'user:x:1000:' >>"$root/etc/group"
	grep -q '^user:' "$root/etc/shadow" || echo 'user:*:19000:0:99999:7:::' >>"$root/etc/shadow"
	if [ -f "$root/etc/gshadow" ] && ! grep -q '^user:' "$root/etc/gshadow"; then
		echo 'user:!::' >>"$root/etc/gshadow"
	fi
	mkdir -p "$root/rw" "$root/lib/modules"

	# apt in the template updates from the same mirror, plus Debian's updates and security.
	rm -f "$root/etc/apt/sources.list"
	cat >"$root/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
	# Packages installed later stay small too; copyright files are kept (licences).
	cat >"$root/etc/dpkg/dpkg.cfg.d/bulkhead-small" <<'DPKG'
# Bulkhead templates carry no documentation, manuals or translations; remove this file to get
# them with the next installs.
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
path-exclude=/usr/share/lintian/*
DPKG
	find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
	find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
	find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
	rm -rf "$root/usr/share/man" "$root/usr/share/info" "$root/usr/share/lintian"
	rm -rf "$root/var/lib/apt/lists" "$root/var/cache/apt"
	mkdir -p "$root/var/lib/apt/lists/partial" "$root/var/cache/apt/archives/partial"
	rm -f "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old
	find "$root/var/log" -type f -delete
	# Modules the netfilter tools use, loaded by the init at boot (others load on demand).
	mkdir -p "$root/etc/bulkhead"
	printf '%s\n' nf_tables nf_conntrack_netlink >"$root/etc/bulkhead/modules"
}

# debian-12: the desktop programs, installed by apt in the tree (debootstrap cannot resolve
# virtual packages such as dbus-session-bus), without recommended packages: no X server, no
# systemd. Sound: pulseaudio, which bulkhead-audio-guest starts as the qube's user when no
# server answers (no session service), and pulseaudio-utils (paplay, pactl). dbus-x11
# satisfies dconf's need of a session bus without pulling in systemd (apt's default,
# dbus-user-session, would); no session bus runs in a qube.
desktop_packages=(firefox-esr zathura zathura-pdf-poppler thunar foot fonts-dejavu-core
	xdg-utils file desktop-file-utils shared-mime-info dbus-x11 pulseaudio pulseaudio-utils)
install_desktop() {
	stage "installing the desktop programs from $mirror"
	# Downloaded packages share debootstrap's cache (same file names), so a rebuild fetches only
	# the index. Services are not started in the tree.
	mkdir -p "$debcache/partial" "$root/var/cache/apt/archives"
	mount --bind "$debcache" "$root/var/cache/apt/archives" || die "cannot bind the package cache"
	mount -t proc proc "$root/proc" || die "cannot mount /proc in the tree"
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 0755 "$root/usr/sbin/policy-rc.d"
	local rc=0
	{
		chroot "$root" apt-get update &&
			DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -q \
				--no-install-recommends -o Dpkg::Use-Pty=0 "${desktop_packages[@]}"
	} </dev/null >"$work/apt.out" 2>&1 || rc=$?
	cat "$work/apt.out" >&2
	rm -f "$root/usr/sbin/policy-rc.d"
	umount "$root/proc" "$root/var/cache/apt/archives" || die "cannot unmount the tree's /proc and cache"
	if [ $rc -ne 0 ]; then
		die "installing the desktop programs failed (exit $rc): $(grep '^E:' "$work/apt.out" | tail -n 1 | cut -c 4-)"
	fi
}

# debian-12: Firefox on Wayland, and the desktop entries and defaults xdg-open, Firefox and
# Thunar use, so that a file or link can be sent to another qube or a new disposable.
setup_desktop() {
	stage "setting up the desktop programs"
	local p
	for p in usr/lib/firefox-esr/firefox-esr usr/bin/zathura usr/bin/thunar usr/bin/foot \
		usr/bin/xdg-open usr/bin/file; do
		[ -x "$root/$p" ] || die "debootstrap left no /$p"
	done
	local apps=$root/usr/local/share/applications
	install -d "$root/usr/local/bin" "$apps" "$root/etc/xdg"
	# The agent gives commands a fixed environment: Firefox learns it is on Wayland here. The
	# entry in /usr/local/share shadows Debian's, which starts the binary directly.
	cat >"$root/usr/local/bin/firefox-esr" <<'FIREFOX'
#!/bin/sh
# Bulkhead: qubes show windows through Wayland only.
export MOZ_ENABLE_WAYLAND=1
exec /usr/lib/firefox-esr/firefox-esr "$@"
FIREFOX
	chmod 0755 "$root/usr/local/bin/firefox-esr"
	cat >"$apps/firefox-esr.desktop" <<'ENTRY'
[Desktop Entry]
Type=Application
Name=Firefox ESR
GenericName=Web Browser
Exec=/usr/local/bin/firefox-esr %u
Icon=firefox-esr
Terminal=false
Categories=Network;WebBrowser;
MimeType=text/html;text/xml;application/xhtml+xml;application/xml;application/pdf;x-scheme-handler/http;x-scheme-handler/https;
StartupWMClass=firefox-esr
ENTRY
	# Firefox's first-run, privacy-notice and default-browser pages would reach out or ask at
	# every start (Debian reads every .js here as default preferences).
	cat >"$root/etc/firefox-esr/bulkhead.js" <<'PREFS'
// Bulkhead: no first-run pages, no default-browser question, no telemetry.
pref("browser.shell.checkDefaultBrowser", false);
pref("browser.startup.homepage_override.mstone", "ignore");
pref("datareporting.policy.firstRunURL", "");
pref("datareporting.policy.dataSubmissionEnabled", false);
pref("datareporting.healthreport.uploadEnabled", false);
pref("toolkit.telemetry.reportingpolicy.firstRun", false);
pref("app.shield.optoutstudies.enabled", false);
// The template's own extension ("Open link in a disposable qube", add_firefox_extension) is
// unsigned, which Firefox ESR allows with this pref, and installed in the system-wide directory
// (scope 8), where Firefox would otherwise wait for the user to enable it. Extensions a user puts
// in the profile or home directory (scopes 1 and 2) still need the user's approval.
pref("xpinstall.signatures.required", false);
pref("extensions.autoDisableScopes", 7);
PREFS
	# The compositor frames each window whole: the shadows GTK draws around its own title bar
	# would only put a dark margin inside the frame. New homes get this from /etc/skel.
	install -d "$root/etc/skel/.config/gtk-3.0"
	cat >"$root/etc/skel/.config/gtk-3.0/gtk.css" <<'CSS'
/* Bulkhead: the compositor draws the frame; no client-side shadow around it. */
decoration, decoration:backdrop { box-shadow: none; margin: 0; border-radius: 0; }
CSS
	# Like Qubes' qvm-open-in-dvm.desktop: offered under "Open with" (Firefox's downloads,
	# Thunar), and what `xdg-settings set default-web-browser bulkhead-open-link-in-dvm.desktop`
	# or a mimeapps.list line makes the default. Files and links apart: a launcher hands %u a
	# file:// URL, which the tools take for a link.
	local types='application/pdf;application/octet-stream;application/xml;application/xhtml+xml;application/zip;application/msword;application/vnd.oasis.opendocument.text;application/vnd.openxmlformats-officedocument.wordprocessingml.document;image/gif;image/jpeg;image/png;image/svg+xml;image/webp;text/html;text/plain;text/xml;'
	local links='x-scheme-handler/http;x-scheme-handler/https;'
	local e
	for e in "open-in-dvm:Open in a disposable qube:bulkhead-open-in-dvm %f:$types" \
		"open-link-in-dvm:Open link in a disposable qube:bulkhead-open-in-dvm %u:$links" \
		"open-in-vm:Open in another qube:bulkhead-open-in-vm @default %f:$types" \
		"open-link-in-vm:Open link in another qube:bulkhead-open-in-vm @default %u:$links"; do
		IFS=: read -r id name exec mime <<<"$e"
		cat >"$root/usr/share/applications/bulkhead-$id.desktop" <<ENTRY
[Desktop Entry]
Type=Application
Name=$name
Exec=/usr/bin/$exec
Terminal=false
NoDisplay=true
Categories=Utility;
MimeType=$mime
ENTRY
	done
	# The qube's own defaults: PDFs in zathura, folders in Thunar, pages and links in Firefox.
	cat >"$root/etc/xdg/mimeapps.list" <<'MIMEAPPS'
[Default Applications]
application/pdf=org.pwmt.zathura-pdf-poppler.desktop;org.pwmt.zathura.desktop;
inode/directory=thunar.desktop;
text/html=firefox-esr.desktop;
application/xhtml+xml=firefox-esr.desktop;
x-scheme-handler/http=firefox-esr.desktop;
x-scheme-handler/https=firefox-esr.desktop;
MIMEAPPS
	chroot "$root" update-desktop-database -q /usr/share/applications /usr/local/share/applications ||
		note "update-desktop-database failed"
}

# Copy an executable with the shared libraries and loader it needs, at the host's paths.
copy_with_libs() {
	local src=$1 dst=$2 lib
	install -D -m 0755 "$src" "$root/$dst"
	for lib in $(ldd "$src" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p'); do
		[ -e "$root$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
	done
}

case "$flavour" in
minimal) build_minimal_tree ;;
debian) build_debian_tree ;;
debian-12)
	build_debian_tree install_desktop
	setup_desktop
	;;
esac

stage "adding the Bulkhead agent, init and tools"
install -d "$root/usr/bin"
copy_with_libs "$agent" usr/bin/bulkhead-agent

# The tools a qube's programs use to reach other qubes, the services it offers to them, and
# those the host calls for its application menu (bulkhead.GetAppmenus, GetImageRGBA, StartApp).
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
for tool in bulkhead-call bulkhead-copy bulkhead-move bulkhead-open-in-vm bulkhead-open-in-dvm \
	bulkhead-filecopy-receive bulkhead-open-receive bulkhead-openurl-receive \
	bulkhead-appmenus bulkhead-get-image-rgba bulkhead-start-app; do
	if path=$(find_tool "$tool"); then
		copy_with_libs "$path" "usr/bin/$tool"
	elif [ "$tool" = bulkhead-call ]; then
		die "bulkhead-call not found beside $agent or in \$BULKHEAD_QUBE_TOOLS"
	else
		note "$tool not found; the qube will not have it"
	fi
done
# Networking: applies what bulkheadd sends (addresses, routes, nftables). The minimal flavour
# has no libnftables: it gets the static build, which does the client role only.
if [ -z "$net_apply" ]; then
	net_apply=$(find_tool bulkhead-net-apply) || net_apply=
fi
if [ "$flavour" = minimal ]; then
	if [ -n "$net_apply" ] && [ -x "$(dirname "$net_apply")/bulkhead-net-apply-static" ]; then
		net_apply=$(dirname "$net_apply")/bulkhead-net-apply-static
	else
		net_apply=$(find_tool bulkhead-net-apply-static) || net_apply=
	fi
fi
if [ -n "$net_apply" ]; then
	copy_with_libs "$net_apply" usr/bin/bulkhead-net-apply
else
	note "bulkhead-net-apply not found; the qube cannot take part in networking"
fi
# Sound (debian-12): the agent runs the guest half when the qube has an audio port. It links
# libpulse dynamically, which only the debian-12 flavour carries (with pulseaudio).
if [ "$flavour" = debian-12 ]; then
	if path=$(find_tool bulkhead-audio-guest); then
		copy_with_libs "$path" usr/bin/bulkhead-audio-guest
	else
		note "bulkhead-audio-guest not found; the qube will have no sound"
	fi
fi
# The GUI: the agent runs the proxy's guest half when the qube has a GUI port.
if [ -z "$wayland_proxy" ]; then
	wayland_proxy=$(find_tool bulkhead-wayland-proxy) || wayland_proxy=
fi
if [ -n "$wayland_proxy" ]; then
	copy_with_libs "$wayland_proxy" usr/bin/bulkhead-wayland-proxy
	if path=$(find_tool bulkhead-demo-window); then
		copy_with_libs "$path" usr/bin/bulkhead-demo-window
	else
		note "bulkhead-demo-window not found; the qube will not have it"
	fi
else
	note "bulkhead-wayland-proxy not found; the qube will have no GUI"
fi
for svc in bulkhead.Filecopy:bulkhead-filecopy-receive bulkhead.OpenInVM:bulkhead-open-receive \
	bulkhead.OpenURL:bulkhead-openurl-receive bulkhead.GetAppmenus:bulkhead-appmenus \
	bulkhead.GetImageRGBA:bulkhead-get-image-rgba bulkhead.StartApp:bulkhead-start-app; do
	if [ -x "$root/usr/bin/${svc#*:}" ]; then
		ln -sf "/usr/bin/${svc#*:}" "$root/etc/bulkhead/rpc/${svc%%:*}"
	fi
done

# Updates through the net qube (bulkhead-update(1)), Qubes' qubes.UpdatesProxy: apt in a template
# (no network) uses the proxy 127.0.0.1:8082, where bulkhead-updates-proxy --listen (started by
# the init in templates) passes each connection to the bulkhead.UpdatesProxy service; in a net
# qube that service joins the caching proxy apt-cacher-ng on 127.0.0.1:3142 (started by the init
# in qubes that provide network), so several templates fetch a package once.
add_updates_proxy() {
	local path
	if ! path=$(find_tool bulkhead-updates-proxy); then
		note "bulkhead-updates-proxy not found; the template cannot be updated"
		return 0
	fi
	copy_with_libs "$path" usr/bin/bulkhead-updates-proxy
	ln -sf /usr/bin/bulkhead-updates-proxy "$root/etc/bulkhead/rpc/bulkhead.UpdatesProxy"
	cat >"$root/etc/apt/apt.conf.d/01bulkhead-updates-proxy" <<'APTPROXY'
// Bulkhead: a template has no network. apt fetches through the net qube's caching proxy,
// reached by bulkhead-updates-proxy on 127.0.0.1:8082 (the bulkhead.UpdatesProxy service,
// as the host's policy routes it). Only plain http:// sources work through it: the proxy
// opens no CONNECT tunnels.
Acquire::http::Proxy "http://127.0.0.1:8082/";
APTPROXY
	[ -d "$root/etc/apt-cacher-ng" ] || die "apt-cacher-ng is not installed in the template"
	cat >"$root/etc/apt-cacher-ng/zz-bulkhead.conf" <<'ACNG'
# Bulkhead: the net qube's updates proxy. It listens on the qube's loopback only, where the
# bulkhead.UpdatesProxy service connects; templates reach it through the host's policy.
BindAddress: 127.0.0.1
Port: 3142
# What the templates send is untrusted: no CONNECT tunnel to any host (the default allows two),
# no port but 80 in the URLs they ask for, no report page and no local directories served.
PassThroughPattern: ^$
AllowUserPorts: 80
ReportPage:
LocalDirs:
ACNG
}
[ -n "$debian_based" ] && add_updates_proxy

# debian-12: Firefox's "Open link in a disposable qube": the extension, unpacked where Debian's
# Firefox finds system-wide extensions (by its ID, under Firefox's application ID), and its
# native messaging host, which Firefox finds by the manifest's name.
add_firefox_extension() {
	local path ext=$root/usr/share/mozilla/extensions/{ec8030f7-c20a-464f-9b0e-13a3a9e97384}/open-in-dvm@bulkhead
	if ! path=$(find_tool bulkhead-firefox-open); then
		note "bulkhead-firefox-open not found; Firefox will not open links in disposables"
		return 0
	fi
	copy_with_libs "$path" usr/bin/bulkhead-firefox-open
	install -d "$ext" "$root/usr/lib/mozilla/native-messaging-hosts"
	install -m 0644 "$datadir/guest/firefox/manifest.json" "$datadir/guest/firefox/background.js" "$ext/"
	install -m 0644 "$datadir/guest/firefox/bulkhead_open.json" "$root/usr/lib/mozilla/native-messaging-hosts/"
}
[ "$flavour" = debian-12 ] && add_firefox_extension

install -m 0755 "$datadir/guest/init" "$root/sbin/init"

echo bulkhead >"$root/etc/hostname"
cat >"$root/etc/hosts" <<'HOSTS'
127.0.0.1	localhost
::1	localhost
HOSTS
echo "$flavour" >"$root/etc/bulkhead-flavour"

# A terminal for the qube's windows: the host's foot with its libraries, a monospace font, the
# font configuration with a prebuilt cache (fontconfig would otherwise scan at every start, which
# is slow under TCG) and its terminfo entry. Optional: without foot on the host, qubes have only
# bulkhead-demo-window.
if [ -x "$root/usr/bin/foot" ]; then
	: # Debian's own foot and fonts (debian-12)
elif foot=$(command -v foot) && command -v fc-cache >/dev/null; then
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
	fc-cache -f -y "$root" >/dev/null 2>&1 || note "fc-cache failed"
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
	note "foot or fc-cache not found; qubes will have no terminal"
fi

if [ -n "$debian_based" ]; then
	# The libraries copied beside the agent join the loader's cache.
	chroot "$root" /sbin/ldconfig || note "ldconfig failed"
fi

stage "assembling the image ($(du -sh --apparent-size "$root" | cut -f1) of files)"
raw=$work/root.img
truncate -s "$size" "$raw"
mke2fs -q -F -t ext4 -L root -E root_owner=0:0 -d "$root" "$raw" >/dev/null ||
	die "mke2fs could not build the root file system (too small for --size $size?)"
stage "converting the image to qcow2"
qemu-img convert -q -f raw -O qcow2 "$raw" "$output.tmp" || die "qemu-img convert failed"
sync "$output.tmp"
mv -f "$output.tmp" "$output"
echo "build-template: $flavour template: $(du -k "$output" | cut -f1) KiB on disk" >&2
