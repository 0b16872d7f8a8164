#!/bin/bash
# Preloaded disposables (Qubes 4.3's preload-dispvm-max on a disposable template): that many
# disposables boot ahead and wait paused; `run --dispvm` and @dispvm calls take one (used once,
# removed afterwards) and a new one replaces it; bad values of the feature are refused; lowering
# the number, unsetting template_for_dispvms and removing the template remove them; a SIGKILL of
# bulkheadd while one boots leaves no orphan and the next bulkheadd preloads again; a preload
# that does not fit in the host's memory is not made.
. "$(dirname "$0")/lib.sh"

VIRSH=(virsh -q -c qemu:///system)
seed_template
cat >"$BULKHEAD_POLICY_DIR/50-test.policy" <<'EOF2'
test.Host     *  alice  @dispvm   allow
EOF2
start_daemon
bh start minimal
bh run -p --user root minimal -- sh -c '
	mkdir -p /etc/bulkhead/rpc &&
	printf "#!/bin/sh\nhostname\n" >/etc/bulkhead/rpc/test.Host &&
	chmod 0755 /etc/bulkhead/rpc/test.Host && sync'
bh shutdown --wait minimal
bh create dvm --label red --template minimal
bh prefs dvm memory 192 && bh prefs dvm maxmem 192
bh prefs dvm template_for_dispvms True

# The state `bulkhead ls` shows for each disposable: "disp12 Preloaded" lines.
disposables() { bh ls | awk 'NR>1 && $1 ~ /^disp[0-9]+$/{print $1, $2}'; }
preloaded() { disposables | awk '$2 == "Preloaded"{print $1}'; }
domstate() { "${VIRSH[@]}" domstate "$BULKHEAD_DOMAIN_PREFIX$1" 2>/dev/null | head -n1; }
# wait_disposables WHAT: until `disposables` prints exactly WHAT (a pattern over all lines,
# joined by spaces); bounded, as a TCG boot under load takes long.
wait_disposables() {
	local now=
	for _ in $(seq 600); do
		now=$(disposables | tr '\n' ' ' | sed 's/ $//')
		grep -qxE "$1" <<<"$now" && return 0
		sleep 0.5
	done
	fail "disposables are '$now', expected /$1/; $(bh ls)"
}
# gone NAME: no qube, no directory, no domain of that name.
gone() {
	bh ls | awk '{print $1}' | grep -qx "$1" && return 1
	[ ! -e "$BULKHEAD_STATE_DIR/qubes/$1" ] || return 1
	! our_domains | grep -qx "$BULKHEAD_DOMAIN_PREFIX$1"
}
wait_gone() {
	for _ in $(seq 120); do gone "$1" && return 0; sleep 0.5; done
	fail "$1 is left: $(bh ls); domains: $(our_domains)"
}
# no_orphans: every domain and every directory of ours belongs to a qube bulkheadd lists.
no_orphans() {
	local names d
	names=$(bh ls | awk 'NR>1{print $1}')
	for d in $(our_domains); do
		grep -qx "${d#"$BULKHEAD_DOMAIN_PREFIX"}" <<<"$names" || fail "orphan domain $d"
	done
	for d in $(ls -A "$BULKHEAD_STATE_DIR/qubes"); do
		grep -qx "$d" <<<"$names" || fail "orphan store entry $d"
	done
}

log "bad values of preload-dispvm-max are refused, and nothing changes"
for bad in -1 two 1.5 17 99999999999999999999999 " 1"; do
	expect_fail 1 "invalid preload-dispvm-max '$bad' for 'dvm'.*\(0 to 16\)" \
		bh features dvm preload-dispvm-max -- "$bad"
done
expect_fail 1 "no feature" bh features dvm preload-dispvm-max
[ -z "$(disposables)" ] || fail "a refused value preloaded: $(disposables)"

log "preload-dispvm-max 1: one disposable boots and waits paused"
bh features dvm preload-dispvm-max 1
wait_disposables 'disp[0-9]+ Preloaded'
p1=$(preloaded)
[ "$(domstate "$p1")" = paused ] || fail "$p1's domain is $(domstate "$p1"), not paused"
bh ls --json | grep -q '"preloaded": *true' || fail "admin.vm.List does not mark it preloaded"

log "a preloaded disposable is not a qube to use by name"
expect_fail 1 "preloaded disposable; use run --dispvm=dvm" bh run -p "$p1" -- true
expect_fail 1 "preloaded disposable" bh unpause "$p1"
[ "$(domstate "$p1")" = paused ] || fail "a refused use resumed $p1"

log "run --dispvm takes the preloaded one, which is gone afterwards, and a new one replaces it"
out=$(bh run -p --dispvm=dvm -- hostname) || fail "run --dispvm: $out"
[ "$out" = "$p1" ] || fail "the command ran in '$out', not in the preloaded $p1"
wait_gone "$p1"
wait_disposables 'disp[0-9]+ Preloaded'
p2=$(preloaded)
[ "$p2" != "$p1" ] || fail "the used disposable $p1 is offered again"
[ "$(domstate "$p2")" = paused ] || fail "$p2's domain is $(domstate "$p2"), not paused"

log "an @dispvm call takes the preloaded one too"
bh create alice --label green --template minimal
bh prefs alice default_dispvm dvm
out=$(bh run -p alice -- bulkhead-call @dispvm test.Host) || fail "the @dispvm call: $out"
[ "$out" = "$p2" ] || fail "the call ran in '$out', not in the preloaded $p2"
wait_gone "$p2"
bh shutdown --wait alice
wait_disposables 'disp[0-9]+ Preloaded'
p3=$(preloaded)
[ "$p3" != "$p2" ] && [ "$p3" != "$p1" ] || fail "a used disposable is offered again ($p3)"

log "2, then 1: the surplus goes"
bh features dvm preload-dispvm-max 2
wait_disposables 'disp[0-9]+ Preloaded disp[0-9]+ Preloaded'
bh features dvm preload-dispvm-max 1
wait_disposables 'disp[0-9]+ Preloaded'
no_orphans

log "SIGKILL of bulkheadd while a replacement boots: no orphan, and the pool refills"
p4=$(preloaded)
out=$(bh run -p --dispvm=dvm -- hostname) || fail "run --dispvm: $out"
[ "$out" = "$p4" ] || fail "the command ran in '$out', not in the preloaded $p4"
wait_disposables 'disp[0-9]+ Preloading'
booting=$(disposables | awk '{print $1}')
kill9_daemon
start_daemon
wait_gone "$booting"
wait_gone "$p4"
wait_disposables 'disp[0-9]+ (Preloading|Preloaded)'
no_orphans
wait_disposables 'disp[0-9]+ Preloaded'
no_orphans

log "unsetting template_for_dispvms removes them; setting it again preloads again"
p5=$(preloaded)
bh prefs dvm template_for_dispvms False
wait_gone "$p5"
[ -z "$(disposables)" ] || fail "disposables of a template that is none: $(disposables)"
bh prefs dvm template_for_dispvms True
wait_disposables 'disp[0-9]+ Preloaded'

log "a preload that does not fit in the host's memory is not made"
bh features dvm preload-dispvm-max 0
wait_disposables ''
bh prefs dvm maxmem 1048576 && bh prefs dvm memory 1048576
bh features dvm preload-dispvm-max 1
for _ in $(seq 100); do grep -q "not preloading a disposable of dvm: the host's memory is short" "$T/bulkheadd.log" && break; sleep 0.2; done
grep -q "not preloading a disposable of dvm: the host's memory is short" "$T/bulkheadd.log" ||
	fail "no word of the memory: $(tail -n5 "$T/bulkheadd.log")"
[ -z "$(disposables)" ] || fail "a preload that does not fit was made: $(disposables)"
bh prefs dvm memory 192 && bh prefs dvm maxmem 192
wait_disposables 'disp[0-9]+ Preloaded'

log "removing the template removes its preloaded disposables"
p6=$(preloaded)
bh remove alice
bh remove dvm || fail "dvm, used only by its preloaded disposables, cannot be removed"
wait_gone "$p6"
[ -z "$(disposables)" ] || fail "disposables left: $(disposables)"
no_orphans

log "ok"
