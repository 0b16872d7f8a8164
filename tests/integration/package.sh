#!/bin/bash
# The Debian packages: `dpkg-buildpackage -b` on a copy of the checkout makes bulkhead,
# bulkhead-compositor and bulkhead-qube with the files and dependencies each needs. They are
# installed with apt into a fresh Debian 12 root (debootstrap --variant=minbase, from the
# host's mirror), which pulls in libvirt, QEMU and the rest; there `bulkhead --help` and
# `bulkhead-compositor --help` work, the package made the bulkhead group, and the installed
# bulkheadd, run in that root against the host's libvirtd, answers `bulkhead info`.
# Debian's downloads are kept in /var/cache/bulkhead (debootstrap's and apt's), so that a rerun
# fetches only what changed.
. "$(dirname "$0")/lib.sh"
for tool in dpkg-buildpackage dh debootstrap git; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool missing"; exit 77; }
done
[ -S /run/libvirt/libvirt-sock ] || fail "libvirtd is not running (tools/start-services starts it)"
. "$BULKHEAD_SRC/images/debian-mirror.sh"
MIRROR=${BULKHEAD_DEBIAN_MIRROR:-$(debian_mirror)}
DEBCACHE=${BULKHEAD_DEBOOTSTRAP_CACHE:-/var/cache/bulkhead/debootstrap}
APTCACHE=/var/cache/bulkhead/package-test-apt
mkdir -p "$DEBCACHE" "$APTCACHE/partial"
ROOT=$T/root
MOUNTS=()
ROOT_DAEMON=
package_cleanup() {
	local rc=$? m
	set +e
	[ -n "$ROOT_DAEMON" ] && kill "$ROOT_DAEMON" 2>/dev/null && wait "$ROOT_DAEMON" 2>/dev/null
	for ((m = ${#MOUNTS[@]} - 1; m >= 0; m--)); do umount -l "${MOUNTS[m]}"; done
	(exit "$rc")
	cleanup
}
trap package_cleanup EXIT
bind() { # SRC DST
	mkdir -p "$2"
	mount --bind "$1" "$2" || fail "cannot bind $1 on $2"
	MOUNTS+=("$2")
}

log "dpkg-buildpackage -b on a copy of the checkout"
mkdir "$T/src"
git -C "$BULKHEAD_SRC" ls-files -co --exclude-standard -z | grep -zv '^build' |
	(cd "$BULKHEAD_SRC" && tar --null -cf - -T -) | tar -xf - -C "$T/src" || fail "copying the checkout"
(cd "$T/src" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" dpkg-buildpackage -b -us -uc) \
	>"$T/build.log" 2>&1 || { tail -n 40 "$T/build.log" >&2; fail "dpkg-buildpackage failed"; }
for p in bulkhead bulkhead-compositor bulkhead-qube; do
	[ -f "$T/${p}_0.1.0_amd64.deb" ] || fail "no $p package: $(ls "$T")"
done
contents() { dpkg-deb -c "$T/$1_0.1.0_amd64.deb" | awk '{print $6}' | sed 's|^\./|/|'; }
has() { # PACKAGE PATH...
	local p=$1 f list
	list=$(contents "$p")
	shift
	for f in "$@"; do grep -qx "$f" <<<"$list" || fail "$p has no $f"; done
}
has bulkhead /usr/sbin/bulkheadd /usr/bin/bulkhead /usr/libexec/bulkhead/bulkhead-qchan \
	/usr/libexec/bulkhead/build-template.sh /usr/libexec/bulkhead/debian-mirror.sh \
	/lib/systemd/system/bulkheadd.service /usr/lib/sysusers.d/bulkhead.conf \
	/etc/bulkhead/policy.d/90-default.policy /usr/share/bash-completion/completions/bulkhead \
	/usr/share/bulkhead/guest/init /usr/share/man/man1/bulkhead.1.gz /usr/share/man/man8/bulkheadd.8.gz
has bulkhead-compositor /usr/bin/bulkhead-compositor /usr/share/wayland-sessions/bulkhead.desktop \
	/usr/share/man/man1/bulkhead-compositor.1.gz /usr/bin/bulkhead-session \
	/usr/libexec/bulkhead/bulkhead-kiosk /lib/systemd/system/bulkhead-kiosk@.service \
	/usr/lib/systemd/user/bulkhead-compositor.service /usr/lib/systemd/user/bulkhead-session.target
has bulkhead-qube /usr/bin/bulkhead-agent /usr/bin/bulkhead-call /usr/bin/bulkhead-open-in-dvm \
	/usr/bin/bulkhead-firefox-open /usr/libexec/bulkhead/bulkhead-openurl-receive
# Each file in exactly one package.
dups=$(for p in bulkhead bulkhead-compositor bulkhead-qube; do contents "$p" | grep -v '/$'; done |
	grep -v '^/usr/share/doc/' | sort | uniq -d)
[ -z "$dups" ] || fail "files in two packages: $dups"
deps=$(dpkg-deb -f "$T/bulkhead_0.1.0_amd64.deb" Depends)
for d in libvirt0 libjson-c5 libnftables1 libvirt-daemon-system qemu-system-x86 "bulkhead-qube (= 0.1.0)"; do
	grep -qF "$d" <<<"$deps" || fail "bulkhead does not depend on $d: $deps"
done
grep -q libwlroots10 <<<"$(dpkg-deb -f "$T/bulkhead-compositor_0.1.0_amd64.deb" Depends)" ||
	fail "bulkhead-compositor does not depend on libwlroots10"

log "a fresh Debian 12 root from $MIRROR"
debootstrap --variant=minbase --merged-usr --cache-dir="$DEBCACHE" bookworm "$ROOT" "$MIRROR" \
	>"$T/debootstrap.log" 2>&1 || { tail -n 20 "$T/debootstrap.log" >&2; fail "debootstrap failed"; }
# No service starts inside the root (Debian's policy-rc.d convention).
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod 0755 "$ROOT/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
bind /proc "$ROOT/proc"
bind /sys "$ROOT/sys"
bind /dev "$ROOT/dev"
bind "$APTCACHE" "$ROOT/var/cache/apt/archives"
mkdir -p "$ROOT/tmp/debs"
cp "$T"/bulkhead*_0.1.0_amd64.deb "$ROOT/tmp/debs/"
rm -f "$ROOT"/tmp/debs/*-dbgsym_*

log "apt installs the packages and what they depend on"
in_root() { chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
in_root apt-get update -qq >"$T/apt.log" 2>&1 || { tail -n 20 "$T/apt.log" >&2; fail "apt-get update"; }
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	/tmp/debs/bulkhead_0.1.0_amd64.deb /tmp/debs/bulkhead-compositor_0.1.0_amd64.deb \
	/tmp/debs/bulkhead-qube_0.1.0_amd64.deb >>"$T/apt.log" 2>&1 ||
	{ tail -n 30 "$T/apt.log" >&2; fail "apt-get install of the packages failed"; }
for p in bulkhead bulkhead-compositor bulkhead-qube libvirt-daemon-system qemu-system-x86; do
	in_root dpkg-query -W -f='${Status}\n' "$p" | grep -q 'install ok installed' || fail "$p is not installed"
done
log "installed: $(grep -c '^Setting up' "$T/apt.log") packages set up"

log "the installed programs"
out=$(in_root bulkhead --help) || fail "bulkhead --help: $out"
grep -q '^Commands:' <<<"$out" || fail "bulkhead --help: $out"
in_root bulkhead --version | grep -q '0\.1\.0' || fail "bulkhead --version"
out=$(in_root bulkhead-compositor --help 2>&1) || fail "bulkhead-compositor --help: $out"
grep -q -- '--kiosk' <<<"$out" || fail "bulkhead-compositor --help: $out"
in_root getent group bulkhead >/dev/null || fail "the package did not make the bulkhead group"
in_root id -nG bulkhead-kiosk | grep -qw bulkhead || fail "the package did not make the kiosk user in the bulkhead group"
grep -q '^Exec=bulkhead-session$' "$ROOT/usr/share/wayland-sessions/bulkhead.desktop" || fail "the session does not run bulkhead-session"
[ -L "$ROOT/etc/systemd/system/multi-user.target.wants/bulkheadd.service" ] ||
	fail "the package did not enable bulkheadd.service"
[ -f "$ROOT/usr/share/bash-completion/completions/bulkhead" ] || fail "no completion"

log "the installed bulkheadd answers bulkhead info (the host's libvirtd, through the root)"
bind /run/libvirt "$ROOT/run/libvirt"
mkdir -p "$ROOT/run/bulkhead"
chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin LANG=C.UTF-8 bulkheadd >"$T/root-bulkheadd.log" 2>&1 &
ROOT_DAEMON=$!
for _ in $(seq 100); do
	[ -S "$ROOT/run/bulkhead/api.sock" ] && break
	kill -0 "$ROOT_DAEMON" 2>/dev/null || { cat "$T/root-bulkheadd.log" >&2; fail "bulkheadd exited"; }
	sleep 0.2
done
out=$(in_root bulkhead info 2>&1) || { cat "$T/root-bulkheadd.log" >&2; fail "bulkhead info: $out"; }
log "bulkhead info: $(tr '\n' ' ' <<<"$out" | cut -c 1-200)"
grep -qi 'hypervisor' <<<"$out" || fail "bulkhead info says no hypervisor: $out"
log "ok"
