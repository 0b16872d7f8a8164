#!/bin/bash
# boot-test.sh IMAGES_DIR AGENT_BINARY
#
# Fetches the host-provided kernel, builds the minimal template with the given agent and boots it
# twice in plain QEMU (TCG), wired like bulkheadd wires a qube: vda root, vdb private, vdc
# volatile, vdd modules (read-only), a virtio-serial port org.bulkhead.control.
#   boot 1: the agent's HELLO arrives; the blank private volume was formatted and mounted on /rw,
#           /home/user was created (owned by uid 1000), swap was enabled, the host name was set,
#           SHUTDOWN powers the qube off.
#   boot 2: after the host grew the private volume, it is checked, mounted and grown, not
#           reformatted, and /home/user is still there.
#   boot 0: with root= naming a missing disk, the initramfs reports it and powers off.
# BULKHEAD_TEST_CACHE=DIR keeps fetched kernels in DIR/kernels between runs.
# Exits 77 (skip) when not root or when QEMU, qemu-img, python3 or debugfs is missing.
set -euo pipefail

skip() {
	echo "SKIP: $*"
	exit 77
}
fail() {
	echo "FAIL: $*"
	exit 1
}

[ $# -eq 2 ] || {
	echo "usage: $0 IMAGES_DIR AGENT_BINARY" >&2
	exit 2
}
images=$1
agent=$2
here=$(cd "$(dirname "$0")" && pwd)

[ "$(id -u)" -eq 0 ] || skip "needs root"
for tool in qemu-system-x86_64 qemu-img python3; do
	command -v "$tool" >/dev/null || skip "$tool not installed"
done
PATH=$PATH:/usr/sbin:/sbin
command -v debugfs >/dev/null || skip "debugfs not installed"
[ -x "$agent" ] || fail "agent $agent is not built"

work=$(mktemp -d "${TMPDIR:-/var/tmp}/bulkhead-boot-test.XXXXXX")
qemu_pid=
cleanup() {
	[ -z "$qemu_pid" ] || kill "$qemu_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

state=${BULKHEAD_TEST_CACHE:-$work/state}
mkdir -p "$state"
"$images/fetch-kernel.sh" "$state" >/dev/null || fail "fetch-kernel.sh failed"
kdir=$state/kernels/default
for f in vmlinuz initramfs.img modules.img; do
	[ -s "$kdir/$f" ] || fail "fetch-kernel.sh did not install $f"
done
# Fetching again must be a no-op.
again=$("$images/fetch-kernel.sh" "$state" 2>&1) || fail "second fetch-kernel.sh failed"
echo "$again" | grep -q "already installed" || fail "second fetch-kernel.sh fetched again: $again"

"$images/build-template.sh" bogus "$work/x.qcow2" "$agent" 2>/dev/null && rc=0 || rc=$?
[ "$rc" -eq 2 ] || fail "unknown flavour exited $rc, expected 2"

t0=$(date +%s.%N)
"$images/build-template.sh" minimal "$work/root.qcow2" "$agent" || fail "build-template.sh failed"
t1=$(date +%s.%N)
build_s=$(echo "$t0 $t1" | awk '{printf "%.1f", $2 - $1}')
img_kib=$(du -k "$work/root.qcow2" | cut -f1)
echo "template build: ${build_s} s, image ${img_kib} KiB on disk"
awk -v s="$build_s" 'BEGIN { exit !(s < 60) }' || fail "template build took ${build_s} s (limit 60)"
[ ! -e "$work/root.qcow2.tmp" ] || fail "build-template.sh left root.qcow2.tmp behind"

qemu-img create -q -f qcow2 "$work/private.qcow2" 1G
qemu-img create -q -f qcow2 "$work/volatile.qcow2" 256M

# boot N: boots, waits for the agent's HELLO, sends SHUTDOWN, waits for power-off; prints the
# console log as console-N.log.
boot() {
	local n=$1 log=$work/console-$1.log sock=$work/control.sock hello rc
	rm -f "$sock"
	qemu-system-x86_64 -machine q35,accel=tcg -m 512 -smp 1 \
		-display none -monitor none -serial "file:$log" -no-reboot \
		-kernel "$kdir/vmlinuz" -initrd "$kdir/initramfs.img" \
		-append "root=/dev/vda rw console=ttyS0 quiet bulkhead.name=boottest" \
		-drive "file=$work/root.qcow2,if=virtio,format=qcow2" \
		-drive "file=$work/private.qcow2,if=virtio,format=qcow2" \
		-drive "file=$work/volatile.qcow2,if=virtio,format=qcow2" \
		-drive "file=$kdir/modules.img,if=virtio,format=raw,readonly=on" \
		-device virtio-serial \
		-chardev "socket,id=c0,path=$sock,server=on,wait=off" \
		-device virtserialport,chardev=c0,name=org.bulkhead.control </dev/null &
	qemu_pid=$!
	hello=$(python3 "$here/chan.py" "$sock" 120 --shutdown) && rc=0 || rc=$?
	if [ $rc -ne 0 ]; then
		echo "--- console, boot $n ---"
		cat "$log" || true
		fail "boot $n: no HELLO from the agent"
	fi
	echo "boot $n: $hello (seconds to HELLO under TCG: $(echo "$hello" | awk '{print $NF}'))"
	# SHUTDOWN must power the qube off.
	local _
	for _ in $(seq 600); do
		kill -0 "$qemu_pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$qemu_pid" 2>/dev/null; then
		cat "$log"
		fail "boot $n: the qube did not power off after SHUTDOWN"
	fi
	wait "$qemu_pid" || true
	qemu_pid=
	echo "--- console, boot $n ---"
	cat "$log"
	echo "---"
}

expect() {
	grep -qF -- "$2" "$work/console-$1.log" || fail "boot $1: console lacks '$2'"
}
refute() {
	! grep -qF -- "$2" "$work/console-$1.log" || fail "boot $1: console has '$2'"
}

# private_fs: a raw copy of the private volume for debugfs and dumpe2fs.
private_fs() {
	qemu-img convert -q -f qcow2 -O raw "$work/private.qcow2" "$work/private.raw"
}

# A root device that never appears: the initramfs must say so and power off, not hang.
log=$work/console-0.log
timeout 120 qemu-system-x86_64 -machine q35,accel=tcg -m 512 -smp 1 \
	-display none -monitor none -serial "file:$log" -no-reboot \
	-kernel "$kdir/vmlinuz" -initrd "$kdir/initramfs.img" \
	-append "root=/dev/vdx rw console=ttyS0 quiet" \
	-drive "file=$work/root.qcow2,if=virtio,format=qcow2,snapshot=on" </dev/null ||
	fail "boot with a missing root device did not power off"
expect 0 "bulkhead-initramfs: FATAL: root device /dev/vdx did not appear"

boot 1
expect 1 "bulkhead-init: mounted modules for"
expect 1 "bulkhead-init: formatting blank private volume /dev/vdb"
expect 1 "bulkhead-init: mounted /rw"
expect 1 "bulkhead-init: created /home/user"
expect 1 "bulkhead-init: mounted /home"
expect 1 "bulkhead-init: swap enabled on /dev/vdc"
expect 1 "bulkhead-init: hostname boottest"
refute 1 "bulkhead-init: cannot"
private_fs
debugfs -R "stat /home/user" "$work/private.raw" 2>/dev/null | grep -Eq 'User: +1000 +Group: +1000' ||
	fail "/home/user on the private volume is not owned by 1000:1000"

qemu-img resize -q -f qcow2 "$work/private.qcow2" 2G
boot 2
refute 2 "formatting blank private volume"
expect 2 "bulkhead-init: mounted /rw"
expect 2 "bulkhead-init: grew /rw to fill /dev/vdb"
expect 2 "bulkhead-init: swap enabled on /dev/vdc"
refute 2 "bulkhead-init: created /home/user"
private_fs
blocks=$(dumpe2fs -h "$work/private.raw" 2>/dev/null | awk -F: '/^Block count/ {gsub(/ /, "", $2); print $2}')
bsize=$(dumpe2fs -h "$work/private.raw" 2>/dev/null | awk -F: '/^Block size/ {gsub(/ /, "", $2); print $2}')
[ "$((blocks * bsize))" -gt $((1900 * 1024 * 1024)) ] ||
	fail "private file system is $((blocks * bsize)) bytes after growing the disk to 2 GiB"
echo "PASS"
