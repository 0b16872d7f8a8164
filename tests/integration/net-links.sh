#!/bin/bash
# Network links (vmmanager/net.c): netvm none means no NIC; a client and its netvm get one NIC
# each with the MACs of net/addr.h and frames cross the link; a netvm restart re-plugs the
# client's link without restarting the client; a netvm with running clients is not shut down
# without --force; loops and non-serving netvms are refused; the host's interfaces, addresses,
# routes and nftables ruleset are unchanged by all of it; a client that floods the link and is
# killed mid-way leaves bulkheadd answering and the netvm without the link.
. "$(dirname "$0")/lib.sh"


seed_template
# A hung bulkhead-net-apply (below) is given up after this many seconds instead of a minute.
export BULKHEAD_NET_APPLY_TIMEOUT=15
start_daemon
host_view >"$T/host-before"

small() { bh prefs "$1" memory 256; bh prefs "$1" maxmem 256; }
bh create nv --label red --template minimal
bh create c1 --label blue --template minimal
bh create iso --label gray --template minimal
for q in nv c1 iso; do small $q; done

# Refusals: a netvm that does not provide network, a loop, a qube of its own.
expect_fail 1 "does not provide network" bh prefs c1 netvm nv
bh prefs nv provides_network True
expect_fail 1 "own netvm" bh prefs nv netvm nv
bh prefs c1 netvm nv
bh prefs c1 provides_network True
expect_fail 1 "loop of netvms: nv -> c1 -> nv" bh prefs nv netvm c1
bh prefs c1 provides_network False
expect_fail 1 "no qube named" bh prefs c1 netvm nosuch
expect_fail 1 "does not provide network" bh prefs dom0 default_netvm iso
expect_fail 1 "netvm of c1" bh prefs nv provides_network False
bh prefs nv netvm none
bh prefs iso netvm none
[ "$(bh prefs c1 netvm)" = nv ] || fail "c1's netvm reads '$(bh prefs c1 netvm)'"

# default_netvm: a qube left at the default follows it.
bh prefs dom0 default_netvm nv
[ "$(bh prefs dom0 default_netvm)" = nv ] || fail "default_netvm not kept"
bh create d1 --label green --template minimal
[ "$(bh prefs d1 netvm)" = nv ] || fail "d1 does not follow default_netvm"
bh remove d1

qid() { bh ls --json | python3 -c "import json,sys; print([q for q in json.load(sys.stdin) if q['name']=='$1'][0]['qid'])"; }
mac_of() { printf '00:16:3e:%s:%02x:%02x' "$1" $(($2 >> 8)) $(($2 & 255)); }
C1=$(qid c1)

# Starting the client starts its netvm first.
state_of() { bh ls --json | python3 -c "import json,sys; print([q['state'] for q in json.load(sys.stdin) if q['name']=='$1'][0])"; }
bh start c1
[ "$(state_of nv)" != Halted ] || fail "nv was not started with c1"
for _ in $(seq 300); do [ "$(state_of nv)" = Running ] && break; sleep 1; done
[ "$(state_of nv)" = Running ] || fail "nv did not come up: $(state_of nv)"
bh start iso

nics() { bh run -p --user root "$1" -- sh -c 'for i in /sys/class/net/*; do [ "${i##*/}" = lo ] || cat $i/address; done' | sort | tr '\n' ' '; }
# The link is plugged once both run; the guest sees the device a moment later.
wait_nic() {
	for _ in $(seq 120); do [ "$(nics "$1")" = "$2 " ] && return 0; sleep 1; done
	fail "$1 has NICs '$(nics "$1")', expected '$2'"
}
wait_nic c1 "$(mac_of 5e "$C1")"
wait_nic nv "$(mac_of 5f "$C1")"
[ -z "$(nics iso)" ] || fail "iso (netvm none) has a NIC: $(nics iso)"

# Frames cross the link. The client is configured by bulkhead-net-apply (the static build in
# the minimal template: its Qubes address, the netvm's as gateway); nv, a minimal qube that
# cannot run the net qube role, gets its side by hand. A ping each way.
ip_of() { bh ls --json | python3 -c "import json,sys; print([q for q in json.load(sys.stdin) if q['name']==sys.argv[1]][0]['ip'])" "$1"; }
C1_IP=$(ip_of c1)
NV_IP=$(ip_of nv)
ifname() { bh run -p --user root "$1" -- sh -c "for i in /sys/class/net/*; do [ \"\$(cat \$i/address)\" = $2 ] && echo \${i##*/}; done; true"; }
link_up() {
	local n
	n=$(ifname nv "$(mac_of 5f "$C1")")
	bh run -p --user root nv -- sh -c "ip link set $n up && ip addr replace $NV_IP/32 dev $n && ip route replace $C1_IP dev $n"
	for _ in $(seq 60); do
		bh run -p c1 -- ip route | grep -q "default via $NV_IP" && return 0
		sleep 1
	done
	fail "c1 was not configured: $(bh run -p c1 -- ip route)"
}
link_up
bh run -p --user root c1 -- ping -c 3 -W 5 $NV_IP >/dev/null || fail "c1 cannot ping nv over the link"
bh run -p --user root nv -- ping -c 3 -W 5 $C1_IP >/dev/null || fail "nv cannot ping c1 over the link"

# A netvm with running clients is not shut down without --force.
expect_fail 1 "netvm of running qubes: c1" bh shutdown --wait nv
[ "$(state_of nv)" = Running ] || fail "the refused shutdown stopped nv anyway"

# Restart of the netvm: the client's link comes back without restarting the client.
bh shutdown --wait --force nv
for _ in $(seq 60); do [ -z "$(nics c1)" ] && break; sleep 1; done
[ -z "$(nics c1)" ] || fail "c1 kept its NIC after nv stopped: $(nics c1)"
bh start nv
wait_nic c1 "$(mac_of 5e "$C1")"
wait_nic nv "$(mac_of 5f "$C1")"
link_up
bh run -p --user root c1 -- ping -c 3 -W 5 $NV_IP >/dev/null || fail "the link did not come back after nv restarted"

# A hostile client floods the link, then vanishes mid-flood: its frames go from QEMU to QEMU,
# never through bulkheadd, which keeps answering; the netvm loses the link, nothing else.
bh run -p --user root c1 -- ping -q -i 0 -s 1400 -w 40 $NV_IP >/dev/null 2>&1 &
flood=$!
sleep 3
bh ls >/dev/null || fail "bulkheadd does not answer during the flood"
bh run -p nv -- true || fail "nv does not run commands during the flood"
bh kill c1
wait "$flood" || true
for _ in $(seq 60); do [ -z "$(nics nv)" ] && break; sleep 1; done
[ -z "$(nics nv)" ] || fail "nv kept the link of a killed client: $(nics nv)"
bh ls >/dev/null || fail "bulkheadd does not answer after the client vanished"
bh start c1
wait_nic c1 "$(mac_of 5e "$C1")"
wait_nic nv "$(mac_of 5f "$C1")"

# A live netvm change: none unplugs, back to nv plugs again.
bh prefs c1 netvm none
for _ in $(seq 60); do [ -z "$(nics c1)" ] && break; sleep 1; done
[ -z "$(nics c1)" ] || fail "c1 kept its NIC after netvm none"
bh prefs c1 netvm nv
wait_nic c1 "$(mac_of 5e "$C1")"

# A hostile qube lies in what its bulkhead-net-apply prints (bulkheadd parses it): a run that
# never ends, garbage, a flood far past the cap, a forged log line, a bogus state list and a
# re-apply every second.
# bulkheadd keeps answering, logs each refusal escaped, and the qube keeps running.
lie() { # SCRIPT-LINE PATTERN: the qube's program prints what the line does; PATTERN is logged
	local before
	before=$(grep -c "$2" "$T/bulkheadd.log" || true)
	# Renamed into place: the program may be running (re-applies), and a running one cannot be
	# written over.
	printf '#!/bin/sh\ncat >/dev/null\n%s\n' "$1" |
		bh run -p --user root c1 -- sh -c 'f=/usr/bin/bulkhead-net-apply; cat >$f.new && chmod 0755 $f.new && mv -f $f.new $f'
	bh prefs c1 netvm none
	bh prefs c1 netvm nv
	for _ in $(seq 60); do
		[ "$(grep -c "$2" "$T/bulkheadd.log" || true)" -gt "$before" ] && return 0
		sleep 1
	done
	fail "no '$2' in the log after the lie: $1"
}
# A program that never ends is given up after BULKHEAD_NET_APPLY_TIMEOUT (set short above) and
# killed; the qube's next configuration is not held up behind it.
lie 'sleep 100000' "c1: bulkhead-net-apply did not complete: Connection timed out"
lie 'echo "garbage{"' "c1: bulkhead-net-apply exited 0 without a result"
lie 'head -c 5000000 /dev/zero | tr "\000" x' "c1: bulkhead-net-apply"
forged='{"ok": false, "error": "x\nbulkheadd: info: forged"}'
lie "printf '%s' '$forged'" "refused its network configuration"
grep -q "^bulkheadd: info: forged" "$T/bulkheadd.log" && fail "a qube forged a log line"
bogus='{"ok": true, "next_apply": 1, "firewall": {"c1": [{"rule": "x"}], "nv": 5}}'
lie "printf '%s' '$bogus'" "network configuration of c1 applied"
bh ls >/dev/null || fail "bulkheadd does not answer after the lies"
[ "$(state_of c1)" = Running ] || fail "c1 is $(state_of c1) after its lies"
bh firewall c1 list >/dev/null || fail "firewall list fails after a bogus state list"

# The host saw nothing of it.
host_view >"$T/host-after"
diff -u "$T/host-before" "$T/host-after" || fail "the host's network changed"
grep -q "network link c1" "$T/bulkheadd.log" || fail "no link in the log"

# Shutting down a netvm together with its clients (--all) needs no --force: the clients go first.
[ "$(state_of nv)" = Running ] && [ "$(state_of c1)" = Running ] || fail "nv and c1 are not both running"
bh shutdown --all || fail "shutdown --all was refused (nv before its client c1?)"
for q in nv c1; do [ "$(state_of $q)" = Halted ] || fail "$q is $(state_of $q) after shutdown"; done
log "ok"
