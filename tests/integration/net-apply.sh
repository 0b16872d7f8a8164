#!/bin/bash
# bulkhead-net-apply for real, in network namespaces this test makes (no VM): two clients
# behind a "netvm" behind an "upstream" namespace with small servers, joined by veth pairs
# standing for the links; real nftables and conntrack. Traffic goes only between these
# namespaces. Checks: clients get through (masqueraded, virtual DNS translated), clients cannot
# reach each other, nothing new reaches a client from upstream, a client using another address
# gets nothing through, accept-one-port-drop-the-rest, a rule change cuts an open connection,
# an unresolvable name disables only its rule (or blocks, for drop), bad input changes nothing,
# re-applying is idempotent. The busybox ip serves one client.
set -euo pipefail
: "${BULKHEAD_BUILD:?set by meson}"
: "${BULKHEAD_SRC:?set by meson}"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (network namespaces)"; exit 77; }
for p in nft conntrack python3; do
	command -v $p >/dev/null || { echo "SKIP: $p missing (tools/install-deps)"; exit 77; }
done

APPLY=$BULKHEAD_BUILD/net/apply/bulkhead-net-apply
APPLY_STATIC=$BULKHEAD_BUILD/net/apply/bulkhead-net-apply-static
PROBE=$BULKHEAD_SRC/tests/integration/net-probe.py
P=bhn$$
UP=$P-up NV=$P-nv C7=$P-c7 C8=$P-c8
T=$(mktemp -d /tmp/bhnet.XXXXXX)
PIDS=()

cleanup() {
	# every process left in the namespaces this test made (its servers and probes)
	for n in $UP $NV $C7 $C8; do
		for p in $(ip netns pids "$n" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
	done
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	for n in $UP $NV $C7 $C8; do ip netns del "$n" 2>/dev/null || true; done
	rm -rf "/etc/netns/$NV" "$T"
}
trap cleanup EXIT

log() { printf 'net-apply: %s\n' "$*"; }
fail() {
	printf 'net-apply: FAIL: %s\n' "$*" >&2
	exit 1
}
in_ns() { local n=$1; shift; ip netns exec "$n" "$@"; }
probe() { local n=$1; shift; in_ns "$n" python3 "$PROBE" "$@"; }

# --- the namespaces and links
for n in $UP $NV $C7 $C8; do ip netns add "$n"; in_ns "$n" ip link set lo up; done
ip link add up0 netns $UP type veth peer name uplink netns $NV address 02:00:00:00:01:02
in_ns $UP ip addr add 192.0.2.1/24 dev up0
in_ns $UP ip addr add 192.0.2.3/24 dev up0
in_ns $UP ip link set up0 up
# the netvm's downstream NICs 00:16:3e:5f:00:ID, the clients' 00:16:3e:5e:6c:ID
ip link add d7 netns $NV address 00:16:3e:5f:00:07 type veth peer name eth0 netns $C7 \
	address 00:16:3e:5e:6c:07
ip link add d8 netns $NV address 00:16:3e:5f:00:08 type veth peer name eth0 netns $C8 \
	address 00:16:3e:5e:6c:08
# the netvm resolves rule names with these (ip netns exec mounts them over /etc): a name from
# hosts, and a resolver in the upstream namespace where nothing answers port 53
mkdir -p /etc/netns/$NV
echo "192.0.2.1 upstream.test" >/etc/netns/$NV/hosts
printf 'nameserver 192.0.2.1\noptions timeout:1 attempts:1\n' >/etc/netns/$NV/resolv.conf

probe $UP serve-tcp 192.0.2.1 9000 9001 & PIDS+=($!)
probe $UP serve-udp 192.0.2.3 53 & PIDS+=($!)
probe $C8 serve-tcp 0.0.0.0 9000 & PIDS+=($!)

client_config() { # ID
	cat <<JSON
{"version": 1, "qube": "c$1",
 "uplink": {"kind": "netvm", "mac": "00:16:3e:5e:6c:0$1", "ip4": "10.137.0.$1", "prefix4": 32,
   "gw4": "10.137.0.2", "gw_mac": "00:16:3e:5f:00:0$1", "dns": ["10.139.1.1", "10.139.1.2"],
   "mtu": 1400},
 "provides_network": false}
JSON
}

ACCEPT_ALL='[{"action": "accept"}]'
# netvm_config WORK_RULES [GUEST_RULES]
netvm_config() {
	cat <<JSON
{"version": 1, "qube": "sys-firewall",
 "uplink": {"kind": "passt", "mac": "02:00:00:00:01:02", "ip4": "192.0.2.2", "prefix4": 24,
   "gw4": "192.0.2.1", "dns": ["192.0.2.3"]},
 "provides_network": true, "gateway_ip4": "10.137.0.2",
 "virtual_dns": ["10.139.1.1", "10.139.1.2"],
 "downstream": [
  {"name": "work", "mac": "00:16:3e:5f:00:07", "client_mac": "00:16:3e:5e:6c:07",
   "client_ip4": "10.137.0.7", "firewall": $1, "forwards": ${3:-[]}},
  {"name": "guest", "mac": "00:16:3e:5f:00:08", "client_mac": "00:16:3e:5e:6c:08",
   "client_ip4": "10.137.0.8", "firewall": ${2:-$ACCEPT_ALL}}]}
JSON
}

apply_netvm() { # CONFIG_JSON -> output in $T/out
	echo "$1" | BULKHEAD_NET_STATE_DIR=$T/state BULKHEAD_NET_RESOLV_CONF=$T/resolv-nv \
		in_ns $NV "$APPLY" >"$T/out" 2>"$T/err"
}

log "clients: one with iproute2, one with busybox's ip and the static build"
client_config 7 | BULKHEAD_NET_RESOLV_CONF=$T/resolv-c7 in_ns $C7 "$APPLY" >"$T/out" ||
	fail "client 7: $(cat "$T/out")"
grep -q '"ok":true' "$T/out" || fail "client 7 output: $(cat "$T/out")"
mkdir "$T/bb" && ln -s "$(command -v busybox)" "$T/bb/ip"
client_config 8 | in_ns $C8 env PATH="$T/bb:$PATH" BULKHEAD_NET_RESOLV_CONF="$T/resolv-c8" \
	"$APPLY_STATIC" >"$T/out" || fail "client 8 (busybox): $(cat "$T/out")"
grep -q "nameserver 10.139.1.1" "$T/resolv-c7" || fail "resolv.conf not written"
grep -q "default via 10.137.0.2 dev eth0 onlink" <<<"$(in_ns $C8 ip route)" ||
	fail "busybox client: no default route: $(in_ns $C8 ip route)"
grep -q PERMANENT <<<"$(in_ns $C7 ip neigh show 10.137.0.2)" || fail "gateway neighbour not pinned"
grep -q "mtu 1400" <<<"$(in_ns $C7 ip link show eth0)" || fail "mtu not set"

log "netvm with default rules (accept)"
apply_netvm "$(netvm_config '[{"action": "accept"}]')" || fail "netvm: $(cat "$T/out" "$T/err")"
grep -q '"ok":true' "$T/out" || fail "netvm output: $(cat "$T/out")"
probe $C7 tcp 192.0.2.1 9000 || fail "client 7 cannot reach upstream"
probe $C8 tcp 192.0.2.1 9001 || fail "client 8 cannot reach upstream"
probe $C7 udp 10.139.1.1 53 || fail "virtual DNS 10.139.1.1 not translated to upstream"

log "re-applying the same config changes nothing and cuts nothing"
in_ns $NV nft list table inet bulkhead >"$T/rules1"
echo x | probe $C7 hold 192.0.2.1 9000 >"$T/hold0" || true
apply_netvm "$(netvm_config '[{"action": "accept"}]')" || fail "re-apply: $(cat "$T/out" "$T/err")"
in_ns $NV nft list table inet bulkhead >"$T/rules2"
cmp -s "$T/rules1" "$T/rules2" || fail "re-apply changed the ruleset"
[ "$(in_ns $NV nft list tables | grep -c bulkhead)" = 1 ] || fail "more than one table"

log "clients cannot reach each other"
probe $C7 tcp 10.137.0.8 9000 && fail "client 7 reached client 8"
log "nothing new reaches a client from upstream"
in_ns $UP ip route add 10.137.0.0/16 via 192.0.2.2
probe $UP tcp 10.137.0.8 9000 && fail "upstream opened a connection into client 8"
log "anti-spoofing: a client using another address gets nothing through"
in_ns $C8 ip addr add 10.137.0.9/32 dev eth0
probe $C8 tcp 192.0.2.1 9000 10.137.0.9 && fail "spoofed 10.137.0.9 got through"
in_ns $C8 ip addr add 10.137.0.7/32 dev eth0
probe $C8 tcp 192.0.2.1 9000 10.137.0.7 && fail "client 8 posing as client 7 got through"
probe $C8 tcp 192.0.2.1 9000 10.137.0.8 || fail "client 8's own address no longer works"

log "a rule change cuts an open connection (conntrack)"
mkfifo "$T/hold-in"
probe $C7 hold 192.0.2.1 9001 <"$T/hold-in" >"$T/hold" & PIDS+=($!)
exec 9>"$T/hold-in"
for _ in $(seq 50); do [ -s "$T/hold" ] && break; sleep 0.1; done
[ "$(head -1 "$T/hold")" = up ] || fail "held connection did not come up"
ONLY9000='[{"action": "accept", "dsthost": "192.0.2.1", "proto": "tcp", "dstports": "9000"},
	{"action": "accept", "specialtarget": "dns"}]'
apply_netvm "$(netvm_config "$ONLY9000")" || fail "netvm: $(cat "$T/out")"
echo again >&9
for _ in $(seq 100); do [ "$(wc -l <"$T/hold")" -ge 2 ] && break; sleep 0.1; done
[ "$(sed -n 2p "$T/hold")" = cut ] || fail "the open connection to 9001 survived: $(cat "$T/hold")"
exec 9>&-

log "accept one port, drop the rest"
probe $C7 tcp 192.0.2.1 9000 || fail "accepted port 9000 refused"
probe $C7 tcp 192.0.2.1 9001 && fail "port 9001 got through"
probe $C7 udp 10.139.1.1 53 || fail "specialtarget=dns refused"
probe $C8 tcp 192.0.2.1 9001 || fail "guest's rules were touched"

log "host names: resolvable, unresolvable accept (disabled), unresolvable drop (blocking)"
NAMES='[{"action": "accept", "dsthost": "nowhere.invalid"},
	{"action": "accept", "dsthost": "upstream.test", "proto": "tcp", "dstports": "9001"}]'
apply_netvm "$(netvm_config "$NAMES")" || fail "netvm: $(cat "$T/out")"
python3 - "$T/out" <<'PY' || fail "states: $(cat "$T/out")"
import json, sys
o = json.load(open(sys.argv[1]))
w = o["firewall"]["work"]
assert o["ok"] and w[0]["state"] == "disabled" and "nowhere.invalid" in w[0]["reason"], w
assert w[1]["state"] == "ok", w
assert o["next_apply"] > 0, o
PY
probe $C7 tcp 192.0.2.1 9001 || fail "the rule with a resolvable name does not work"
probe $C7 tcp 192.0.2.1 9000 && fail "9000 got through"
BLOCK='[{"action": "accept", "proto": "tcp", "dstports": "9000"},
	{"action": "drop", "dsthost": "nowhere.invalid"}, {"action": "accept"}]'
apply_netvm "$(netvm_config "$BLOCK")" || fail "netvm: $(cat "$T/out")"
grep -q '"state":"blocking"' "$T/out" || fail "drop rule not blocking: $(cat "$T/out")"
probe $C7 tcp 192.0.2.1 9000 || fail "the rule before the blocking one must still work"
probe $C7 tcp 192.0.2.1 9001 && fail "fail-closed: 9001 got through past a blocking rule"

wait_listen() { # NS PORT
	for _ in $(seq 50); do in_ns "$1" ss -ltn | grep -q ":$2 " && return 0; sleep 0.1; done
	fail "nothing listens on port $2 in $1"
}

log "port ranges and icmp"
probe $UP serve-tcp 192.0.2.1 9002 9003 & PIDS+=($!)
wait_listen $UP 9003
RANGE='[{"action": "accept", "proto": "tcp", "dstports": "9001-9002"},
	{"action": "accept", "proto": "icmp", "icmptype": 8}]'
apply_netvm "$(netvm_config "$RANGE")" || fail "netvm: $(cat "$T/out")"
probe $C7 tcp 192.0.2.1 9001 || fail "9001 (first of 9001-9002) refused"
probe $C7 tcp 192.0.2.1 9002 || fail "9002 (last of 9001-9002) refused"
probe $C7 tcp 192.0.2.1 9000 && fail "9000 (below the range) got through"
probe $C7 tcp 192.0.2.1 9003 && fail "9003 (above the range) got through"
in_ns $C7 busybox ping -c 1 -W 3 192.0.2.1 >/dev/null || fail "icmp echo (icmptype=8) refused"
apply_netvm "$(netvm_config '[{"action": "accept", "proto": "tcp"}]')" || fail "netvm: $(cat "$T/out")"
probe $C7 tcp 192.0.2.1 9000 || fail "proto=tcp refused tcp"
in_ns $C7 busybox ping -c 1 -W 3 192.0.2.1 >/dev/null && fail "icmp got through a tcp-only list"

log "expiry: a rule past its time is ignored; the next expiry is when to apply again"
now=$(date +%s)
EXP="[{\"action\": \"accept\", \"proto\": \"tcp\", \"dstports\": \"9000\", \"expire\": $((now - 5))},
	{\"action\": \"accept\", \"proto\": \"tcp\", \"dstports\": \"9001\", \"expire\": $((now + 8))}]"
apply_netvm "$(netvm_config "$EXP")" || fail "netvm: $(cat "$T/out")"
python3 - "$T/out" $((now + 8)) <<'PY' || fail "next_apply: $(cat "$T/out")"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["ok"] and o["next_apply"] == int(sys.argv[2]), o
PY
probe $C7 tcp 192.0.2.1 9000 && fail "an expired rule still accepts"
probe $C7 tcp 192.0.2.1 9001 || fail "a rule not yet expired does not accept"
while [ "$(date +%s)" -le $((now + 8)) ]; do sleep 1; done
apply_netvm "$(netvm_config "$EXP")" || fail "netvm: $(cat "$T/out")"
probe $C7 tcp 192.0.2.1 9001 && fail "the rule still accepts after its expiry"

log "anti-spoofing: a client using another MAC gets nothing through, not even one way"
apply_netvm "$(netvm_config "$ACCEPT_ALL")" || fail "netvm: $(cat "$T/out")"
# A datagram leaves a conntrack entry in the netvm once it passed anti-spoofing (which runs
# before conntrack): the control first, from the client's own MAC.
seen() { in_ns $NV conntrack -L -p udp 2>/dev/null | grep "src=10.137.0.8" | grep -c "dport=$1 " || true; }
probe $C8 udp 192.0.2.1 9556 || true
[ "$(seen 9556)" -gt 0 ] || fail "the control datagram left no trace in the netvm: $(in_ns $NV conntrack -L 2>&1 | head -20)"
in_ns $C8 ip link set eth0 address 00:16:3e:5e:6c:09
probe $C8 udp 192.0.2.1 9555 || true
[ "$(seen 9555)" = 0 ] || fail "a frame from a forged MAC passed the netvm's anti-spoofing"
in_ns $C8 ip link set eth0 address 00:16:3e:5e:6c:08
probe $C8 tcp 192.0.2.1 9000 || fail "client 8's own MAC no longer works"

log "an inbound forward reaches its client's port and nothing else"
probe $C7 serve-tcp 0.0.0.0 9000 & PIDS+=($!)
wait_listen $C7 9000
probe $UP tcp 10.137.0.7 9000 && fail "upstream reached client 7 before any forward"
apply_netvm "$(netvm_config "$ACCEPT_ALL" "$ACCEPT_ALL" '[{"proto": "tcp", "port": 8070, "to_port": 9000}]')" ||
	fail "netvm: $(cat "$T/out")"
probe $UP tcp 192.0.2.2 8070 || fail "the forward of 8070 to client 7's port 9000 does not work"
probe $UP tcp 192.0.2.2 8071 && fail "a port that was not forwarded answers"
probe $UP tcp 10.137.0.7 9000 && fail "upstream reached client 7 directly"
probe $UP tcp 10.137.0.8 9000 && fail "upstream reached client 8"
apply_netvm "$(netvm_config "$ACCEPT_ALL")" || fail "netvm: $(cat "$T/out")"
probe $UP tcp 192.0.2.2 8070 && fail "the forward outlived its removal"

log "bad input: a clear error and nothing applied"
in_ns $NV nft list table inet bulkhead >"$T/before"
BAD='[{"action": "accept", "proto": "tcp", "dstports": "99999"}]'
apply_netvm "$(netvm_config "$BAD")" && fail "bad rule accepted"
grep -q '"ok":false' "$T/out" && grep -q "dstports" "$T/out" || fail "unclear error: $(cat "$T/out")"
echo '{"version": 1, "qube": "x", "provides_network": true, "gateway_ip4": "10.137.0.2",
 "downstream": [{"name": "ghost", "mac": "00:16:3e:5f:00:99", "client_mac": "00:16:3e:5e:6c:99",
 "client_ip4": "10.137.0.99"}]}' | in_ns $NV "$APPLY" >"$T/out" && fail "unknown MAC accepted"
grep -q "no interface has the MAC" "$T/out" || fail "unclear error: $(cat "$T/out")"
in_ns $NV nft list table inet bulkhead >"$T/after"
cmp -s "$T/before" "$T/after" || fail "bad input changed the ruleset"

log "ok"
