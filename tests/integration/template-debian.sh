#!/bin/bash
# The Debian template (bulkhead template build NAME --flavour debian): built once into the test
# cache like the minimal one, booted as a qube under libvirt, with working nftables, iproute2 and
# conntrack, the netfilter modules loading (at boot and on demand) from the host's modules
# volume. Builds that cannot work fail with a clear error, show their progress and leave nothing
# behind: an unknown flavour, no debootstrap, a mirror that does not answer.
. "$(dirname "$0")/lib.sh"

seed_template debian
img=$BULKHEAD_STATE_DIR/qubes/debian/root.qcow2
[ -f "$img" ] || fail "the seeded store has no debian template"
log "debian template: $(du -k "$img" | cut -f1) KiB on disk"

# The failing builds run their scripts with a TMPDIR of their own, to see what they leave.
export TMPDIR=$T/tmp
mkdir -p "$TMPDIR"

# nothing_left NAME: no qube NAME, no image of it under build/, nothing in TMPDIR.
nothing_left() {
	bh ls | grep -q "^$1 " && fail "a failed build registered $1: $(bh ls)"
	[ ! -e "$BULKHEAD_STATE_DIR/qubes/$1" ] || fail "a failed build left qubes/$1"
	[ -z "$(ls "$BULKHEAD_STATE_DIR/build/" 2>/dev/null | grep -v '\.log$')" ] ||
		fail "a failed build left $(ls "$BULKHEAD_STATE_DIR/build/")"
	[ -z "$(ls -A "$TMPDIR")" ] || fail "a failed build left $(ls -A "$TMPDIR") in TMPDIR"
	grep -q " $TMPDIR/" /proc/mounts && fail "a failed build left a mount: $(grep " $TMPDIR/" /proc/mounts)"
	return 0
}

log "bad flavour and bad usage: refused, nothing made"
start_daemon
expect_fail 1 "unknown template flavour 'bogus' \(known: minimal, debian, debian-12\)" \
	bh template build t1 --flavour bogus
expect_fail 1 "unknown template flavour 'bogus'" bh template build bogus
expect_fail 2 "give the name once" bh template build t1 --flavour debian --name t2
expect_fail 2 "needs NAME --flavour FLAVOUR" bh template build --flavour debian
expect_fail 1 "invalid qube name" bh template build 1bad --flavour debian
nothing_left t1
nothing_left bogus
stop_daemon

log "no debootstrap: a clear error before anything is made"
DEBOOTSTRAP=$T/no/debootstrap start_daemon
expect_fail 1 "debootstrap not found.*install" bh template build t2 --flavour debian
nothing_left t2
stop_daemon

log "a sandbox that forbids what debootstrap needs: said before anything is made"
# As under bulkheadd.service: no CAP_SYS_CHROOT, no CAP_MKNOD.
for cap in sys_chroot mknod; do
	expect_fail 1 "may not .*debootstrap needs it" setpriv --bounding-set=-$cap \
		"$BULKHEAD_SRC/images/build-template.sh" debian "$T/sandboxed.qcow2" "$BULKHEAD_AGENT"
	[ ! -e "$T/sandboxed.qcow2" ] && [ ! -e "$T/sandboxed.qcow2.tmp" ] || fail "an image was left"
	nothing_left sandboxed
done

log "a Debian mirror that does not answer: a clear error, progress shown up to there"
# A closed port on loopback: nothing leaves the machine.
BULKHEAD_DEBIAN_MIRROR=http://127.0.0.1:9/debian start_daemon
rc=0
bh template build t3 --flavour debian >"$T/out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "build against a dead mirror exited $rc: $(cat "$T/out")"
grep -q "cannot reach the Debian mirror http://127.0.0.1:9/debian" "$T/out" ||
	fail "the error does not name the mirror: $(cat "$T/out")"
grep -qx '\[1/6\] fetching the qube kernel' "$T/out" || fail "no kernel stage shown: $(cat "$T/out")"
grep -qx '\[2/6\] downloading packages from http://127.0.0.1:9/debian' "$T/out" ||
	fail "no download stage shown: $(cat "$T/out")"
grep -q '^\[3/6\]' "$T/out" && fail "stages past the failure shown: $(cat "$T/out")"
grep -q '^I: ' "$T/out" && fail "debootstrap's chatter reached the user: $(cat "$T/out")"
nothing_left t3
grep -q "Failed getting release" "$BULKHEAD_STATE_DIR/build/t3.log" ||
	fail "the build log lacks debootstrap's output"
stop_daemon

log "a qube of the debian template: the network tools work, as root nftables too"
start_daemon
bh template ls | grep -q '^debian ' || fail "template ls lacks debian: $(bh template ls)"
bh create nv --label red --template debian
bh start nv
run() { bh run -p nv -- "$@"; }
runroot() { bh run -p --user root nv -- "$@"; }
grep -q '^ID=debian' <<<"$(run cat /etc/os-release)" || fail "not Debian: $(run cat /etc/os-release)"
grep -q 'VERSION_ID="12"' <<<"$(run cat /etc/os-release)" || fail "not Debian 12"
[ "$(run cat /etc/bulkhead-flavour)" = debian ] || fail "flavour file"
[ "$(run id -un)" = user ] && [ "$(run id -u)" = 1000 ] || fail "commands do not run as user 1000"
[ "$(runroot id -u)" = 0 ] || fail "--user root is not root"
out=$(run nft --version) || fail "nft --version failed: $out"
grep -q '^nftables v1\.' <<<"$out" || fail "nft --version said: $out"
out=$(run ip -V) || fail "ip -V failed: $out"
grep -q 'iproute2' <<<"$out" || fail "ip -V said: $out"
out=$(run conntrack --version 2>&1) || fail "conntrack --version failed: $out"
grep -q '^conntrack v1\.' <<<"$out" || fail "conntrack --version said: $out"
# The private volume and home work as in the minimal template (Debian's tools in the init).
run sh -c 'echo kept > ~/note && sync'
[ "$(run cat /home/user/note)" = kept ] || fail "/home/user is not writable"

# Loaded at boot from the template's list: nf_tables (and conntrack's netlink interface).
grep -q '^nf_tables ' <<<"$(run cat /proc/modules)" || fail "nf_tables not loaded: $(run cat /proc/modules)"
out=$(runroot nft list ruleset 2>&1) || fail "nft list ruleset as root failed: $out"
out=$(runroot conntrack -L 2>&1) || fail "conntrack -L as root failed: $out"
# On demand, through the kernel's modprobe and the modules volume's indexes: NAT and masquerade.
grep -q '^nft_masq ' <<<"$(run cat /proc/modules)" && fail "nft_masq loaded before it is used"
runroot nft -f - <<'NFT' || fail "a NAT table with masquerade cannot be loaded"
table ip bhtest {
	chain post {
		type nat hook postrouting priority 100;
		oifname "lo" masquerade
	}
}
NFT
grep -q 'masquerade' <<<"$(runroot nft list ruleset)" || fail "the masquerade rule is not in the ruleset"
mods=$(run cat /proc/modules)
for m in nft_masq nft_chain_nat nf_nat; do
	grep -q "^$m " <<<"$mods" || fail "$m did not load on demand: $mods"
done
expect_fail 1 "Operation not permitted" bh run -p nv -- nft list ruleset
bh shutdown --wait nv
bh ls | grep -qE '^nv +Halted' || fail "nv did not halt"
log "ok"
