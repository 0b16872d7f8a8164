#!/bin/bash
# The accelerator: bulkheadd --accel auto|kvm|tcg and --check-accel. Passes on hosts without
# /dev/kvm, with a /dev/kvm that libvirt's QEMU user cannot open, and with working KVM: what
# bulkheadd must decide is worked out here independently (setpriv as the QEMU user).
. "$(dirname "$0")/lib.sh"

seed_template

qemu_user=$(sed -n 's/^[[:space:]]*user[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' \
	/etc/libvirt/qemu.conf 2>/dev/null | tail -1)
qemu_user=${qemu_user:-libvirt-qemu}
kvm_open=0
if [ -e /dev/kvm ] && setpriv --reuid="$qemu_user" --regid="$qemu_user" --init-groups \
	sh -c 'exec 3<>/dev/kvm' 2>/dev/null; then
	kvm_open=1
fi
log "libvirt's QEMU user $qemu_user can open /dev/kvm: $kvm_open"
probe_domains() { virsh -c qemu:///system list --all --name | grep "^${BULKHEAD_DOMAIN_PREFIX}_" || true; }

log "bad options are refused before anything starts"
expect_fail 2 "--accel must be auto, kvm or tcg" "$BULKHEADD" --accel fast
expect_fail 2 "--probe-timeout must be" "$BULKHEADD" --check-accel --probe-timeout 0
expect_fail 2 "--probe-timeout must be" "$BULKHEADD" --check-accel --probe-timeout x
BULKHEAD_ACCEL=fast expect_fail 2 "--accel must be auto, kvm or tcg" "$BULKHEADD"

log "the probe guest boots for real under TCG and prints its marker"
out=$("$BULKHEADD" --check-accel --accel tcg 2>&1) || fail "check-accel --accel tcg: $out"
grep -q "^tcg: the probe guest reached init under TCG in [0-9]* ms" <<<"$out" ||
	fail "check-accel --accel tcg said: $out"
[ -z "$(probe_domains)" ] || fail "a probe domain is left: $(probe_domains)"

log "a probe guest that does not reach init in time is reported and removed"
# No kernel reaches init in 50 ms under TCG, whatever the machine does meanwhile.
expect_fail 1 "tcg: the probe guest failed: the probe guest did not reach init within [0-9.]+ s" \
	"$BULKHEADD" --check-accel --accel tcg --probe-timeout 0.05
[ -z "$(probe_domains)" ] || fail "a timed-out probe domain is left: $(probe_domains)"

log "a probe without the kernel says what to do"
empty=$T/empty-state
mkdir -p "$empty"
BULKHEAD_STATE_DIR=$empty expect_fail 1 "bulkhead template build minimal" \
	"$BULKHEADD" --check-accel --accel tcg

log "auto decides as the host allows"
out=$("$BULKHEADD" --check-accel 2>/dev/null) || fail "check-accel: $out"
if [ "$kvm_open" = 0 ]; then
	grep -qE "^tcg: (there is no /dev/kvm|libvirt's QEMU user '$qemu_user' cannot open /dev/kvm)" <<<"$out" ||
		fail "auto on a host whose QEMU user cannot open /dev/kvm said: $out"
	expect_fail 1 "--accel kvm: libvirt's QEMU user .* cannot open /dev/kvm|--accel kvm: there is no /dev/kvm" \
		"$BULKHEADD" --accel kvm
	out=$("$BULKHEADD" --check-accel --accel kvm 2>&1) && fail "check-accel --accel kvm succeeded: $out"
else
	grep -qE "^(kvm \((host-passthrough|host-model|qemu64)\): the probe guest reached init|tcg: KVM is present but unusable)" <<<"$out" ||
		fail "auto on a host with an openable /dev/kvm said: $out"
fi
[ -z "$(probe_domains)" ] || fail "a probe domain is left: $(probe_domains)"

log "bulkheadd in auto mode: info says what it chose and why, and qubes run under it"
start_daemon
bh info >"$T/info"
grep -qE '^accelerator: (kvm \((host-passthrough|host-model|qemu64)\)|tcg)$' "$T/info" ||
	fail "info: $(cat "$T/info")"
grep -q '^accel_mode: auto$' "$T/info" || fail "info lacks the mode: $(cat "$T/info")"
grep -q '^accel_reason: .' "$T/info" || fail "info lacks the reason: $(cat "$T/info")"
if [ "$kvm_open" = 0 ]; then
	grep -q '^hypervisor: tcg$' "$T/info" || fail "KVM chosen though QEMU cannot open it"
	grep -q '^warning: .*cannot open /dev/kvm\|^warning: .*there is no /dev/kvm' "$T/info" ||
		fail "the TCG warning does not say why: $(cat "$T/info")"
fi
bh create acc --label orange --template minimal
bh start acc
[ "$(bh run -p acc -- echo up)" = up ] || fail "the qube does not run commands"
xml=$(virsh -c qemu:///system dumpxml "${BULKHEAD_DOMAIN_PREFIX}acc")
if grep -q '^hypervisor: tcg$' "$T/info"; then
	grep -q "<domain type='qemu'" <<<"$xml" || fail "TCG chosen but the domain is not type qemu"
else
	grep -q "<domain type='kvm'" <<<"$xml" || fail "KVM chosen but the domain is not type kvm"
fi
grep -q 'accelerator: ' "$T/bulkheadd.log" || fail "the choice is not logged"
bh shutdown --wait acc
stop_daemon

log "--accel tcg is obeyed"
BULKHEAD_ACCEL=tcg start_daemon
bh info | grep -q '^accelerator: tcg$' || fail "--accel tcg: $(bh info)"
bh info | grep -q '^accel_reason: --accel tcg was given$' || fail "--accel tcg reason: $(bh info)"
stop_daemon
log "ok"
