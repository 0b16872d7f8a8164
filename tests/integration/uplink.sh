#!/bin/bash
# sys-net's uplink (net/uplink.h) in a namespace of the test's own (netns-lib.sh): passt runs
# under its uplink uid with no capabilities and no_new_privs; through it sys-net's NIC (played
# by uplink-frames.py on the QEMU end) reaches the servers' namespace (HTTP, DNS) and nothing of
# the uplink namespace itself (its loopback, its own addresses) while the guard is in place; the
# guard is the namespace's only change and goes with the last uplink; passt dies with its
# parent and its exit is reported.
set -euo pipefail
: "${BULKHEAD_BUILD:?set by meson}"
: "${BULKHEAD_SRC:?set by meson}"
TEST_NAME=uplink
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root (network namespaces)"
	exit 77
fi
[ -x /usr/bin/passt ] || { echo "SKIP: passt is not installed (tools/install-deps)"; exit 77; }
PATH=$PATH:/usr/sbin:/sbin
command -v nft >/dev/null || { echo "SKIP: nft is not installed"; exit 77; }
source "$BULKHEAD_SRC/tests/integration/netns-lib.sh"

fail() {
	echo "uplink: FAIL: $*" >&2
	exit 1
}
log() { echo "uplink: $*"; }

RUN=$BULKHEAD_BUILD/tests/integration/uplink-run
FRAMES=$BULKHEAD_SRC/tests/integration/uplink-frames.py
GUARD=bulkhead-uplink
LOCAL2=198.51.100.7 # a second address of the uplink namespace, on its loopback

netns_kit_up
log "namespaces $NETNS_UP (uplink) and $NETNS_SRV (servers)"

# Services of the uplink namespace itself ("the host" as passt sees it): on its loopback, on its
# own address, on a second local address. Each answers root there: what blocks passt below is
# the guard, not a missing server.
netns_up ip addr add "$LOCAL2/32" dev lo
netns_kit_listen "$NETNS_UP" 127.0.0.1 8081
netns_kit_listen "$NETNS_UP" "$NETNS_UP_IP" 8082
netns_kit_listen "$NETNS_UP" "$LOCAL2" 8083

# Somebody else's table in that namespace: the uplink must leave it exactly as it is.
netns_up nft -f - <<'NFT'
table inet host-own {
	chain input {
		type filter hook input priority filter; policy accept;
		tcp dport 9999 counter accept
	}
}
NFT
before=$(netns_up nft list ruleset)
host_before=$(nft list ruleset 2>/dev/null || true)
host_links=$(ip -o link | sed 's/ *link\/.*//')

# Inside the uplink: one script run by uplink-run with the QEMU end on descriptor 3.
check=$(mktemp /tmp/bh-uplink-check.XXXXXX)
cat >"$check" <<'INNER'
set -euo pipefail
fail() { echo "uplink: FAIL: $*" >&2; exit 1; }
# passt is ready (it answered) before its confinement is read: while it sets itself up it holds
# capabilities over a user namespace of its own, which it then drops.
r=$("$FRAMES" connect "$NETNS_SRV_IP" 80); [ "$r" = open ] || fail "the servers' HTTP port: $r"
r=$("$FRAMES" dns "www.$NETNS_NAME"); [ "$r" = "$NETNS_SRV_IP" ] || fail "DNS answer for www.$NETNS_NAME: $r"
r=$("$FRAMES" dns "example.org"); [ "$r" = none ] || fail "DNS answer for a name not ours: $r"
r=$("$FRAMES" connect 127.0.0.1 8081); [ "$r" = refused ] || fail "the namespace's loopback: $r"
r=$("$FRAMES" connect "$NETNS_UP_IP" 8082); [ "$r" = refused ] || fail "the namespace's own address: $r"
r=$("$FRAMES" connect "$LOCAL2" 8083); [ "$r" = refused ] || fail "the namespace's second address: $r"
# The gateway is the real one (--no-map-gw): port 8081 there is closed, not the loopback's.
r=$("$FRAMES" connect "$NETNS_SRV_IP" 8081); [ "$r" = refused ] || fail "gateway mapped to loopback? $r"
st=/proc/$UPLINK_PID/status
[ "$(awk '/^Uid:/ {print $2 $3 $4 $5}' "$st")" = "$UPLINK_UID$UPLINK_UID$UPLINK_UID$UPLINK_UID" ] ||
	fail "passt does not run under its uplink uid: $(grep ^Uid: "$st")"
[ "$UPLINK_UID" -ge 1879113728 ] || fail "uplink uid $UPLINK_UID is not in the uplink range"
for c in CapPrm CapEff CapAmb CapInh; do
	[ "$(awk -v c="$c:" '$1 == c {print $2}' "$st")" = 0000000000000000 ] ||
		fail "passt holds capabilities: $(grep ^Cap "$st" | tr '\n' ' ')"
done
grep -q '^NoNewPrivs:[[:space:]]*1' "$st" || fail "passt runs without no_new_privs"
args=$(tr '\0' ' ' </proc/$UPLINK_PID/cmdline)
case "$args" in *"--tcp-ports none --udp-ports none"*"--no-map-gw"*) ;;
*) fail "passt's command line forwards ports or maps the gateway: $args" ;; esac
# No inbound port: passt listens on no TCP port, and its UDP sockets are only the ephemeral ones
# the outbound flows above opened (a reply comes back through them, as through any NAT).
tcp=$(ip netns exec "$NETNS_UP" ss -Hltnp | grep "pid=$UPLINK_PID," || true)
[ -z "$tcp" ] || fail "passt listens on TCP: $tcp"
low=$(ip netns exec "$NETNS_UP" ss -Hlunp | grep "pid=$UPLINK_PID," |
	awk '{n = split($4, a, ":"); if (a[n] + 0 < 32768) print}' || true)
[ -z "$low" ] || fail "passt holds a non-ephemeral UDP port: $low"
[ "$UPLINK_IP4/$UPLINK_PREFIX4 via $UPLINK_GW4 dns $UPLINK_DNS" = \
  "$NETNS_UP_IP/24 via $NETNS_SRV_IP dns $NETNS_SRV_IP" ] ||
	fail "uplink addresses: $UPLINK_IP4/$UPLINK_PREFIX4 via $UPLINK_GW4 dns $UPLINK_DNS"
ip netns exec "$NETNS_UP" nft list table inet bulkhead-uplink >/dev/null || fail "no guard while passt runs"

echo inner-ok
INNER
export NETNS_UP NETNS_SRV_IP NETNS_UP_IP NETNS_NAME FRAMES LOCAL2
out=$("$RUN" --netns "$NETNS_UP" -- bash "$check") || fail "inside the uplink: $out"
[ "$(echo "$out" | tail -n1)" = inner-ok ] || fail "the checks did not run: $out"
log "passt: uplink uid, no capabilities, no_new_privs, no listening port; reaches the servers' HTTP and DNS, not the namespace's loopback or own addresses"

after=$(netns_up nft list ruleset)
[ "$after" = "$before" ] || fail "the uplink namespace's ruleset changed: $(diff <(echo "$before") <(echo "$after"))"
[ "$(nft list ruleset 2>/dev/null || true)" = "$host_before" ] || fail "the host's ruleset changed"
[ "$(ip -o link | sed 's/ *link\/.*//')" = "$host_links" ] || fail "the host's links changed"
log "the guard was removed with the uplink; the other table and the host are untouched"

# The guard is what stops passt: without it the same connection goes through.
cat >"$check" <<'INNER'
set -euo pipefail
ip netns exec "$NETNS_UP" nft delete table inet bulkhead-uplink
r=$("$FRAMES" connect "$LOCAL2" 8083); [ "$r" = open ] || { echo "without the guard: $r" >&2; exit 1; }
echo inner-ok
INNER
out=$("$RUN" --netns "$NETNS_UP" -- bash "$check") || fail "control without the guard: $out"
log "control: without the guard the same connection is open"

# passt's exit is seen (sys-net's end closed: passt quits, bulkheadd plugs a new one).
out=$("$RUN" --netns "$NETNS_UP" --hand-over -- true 2>&1) || fail "hand-over run: $out"
echo "$out" | grep -q "passt exited with status 0" || fail "passt's exit was not reported: $out"
log "passt quits when sys-net's end closes, and its exit is reported"

# passt dies with its parent (PR_SET_PDEATHSIG).
pidf=$(mktemp /tmp/bh-uplink-pid.XXXXXX)
"$RUN" --netns "$NETNS_UP" -- bash -c 'echo $UPLINK_PID $$ >'"$pidf"'; exec sleep 1000' &
runner=$!
for _ in $(seq 200); do [ -s "$pidf" ] && break; sleep 0.1; done
read -r passt_pid sleeper <"$pidf"
[ -n "$passt_pid" ] && kill -0 "$passt_pid" || fail "passt did not start"
kill -9 "$runner"
wait "$runner" 2>/dev/null || true
for _ in $(seq 300); do kill -0 "$passt_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$passt_pid" 2>/dev/null && fail "passt $passt_pid outlived its parent"
kill "$sleeper" 2>/dev/null || true
rm -f "$check" "$pidf"
log "passt dies with its parent"

# Bad input: no such namespace, a name that is a path.
out=$("$RUN" --netns "bh-no-such-ns-$$" -- true 2>&1) && fail "a missing namespace was accepted"
echo "$out" | grep -q "No such file" || fail "missing namespace: $out"
out=$("$RUN" --netns "../../etc" -- true 2>&1) && fail "a path as namespace name was accepted"
echo "$out" | grep -q "Invalid argument" || fail "bad namespace name: $out"
# bulkheadd refuses a bad --uplink-netns at start, with what to do, before touching anything.
BULKHEADD=$BULKHEAD_BUILD/vmmanager/bulkheadd
out=$("$BULKHEADD" --uplink-netns "../../etc" 2>&1) && fail "bulkheadd accepted a path as namespace"
echo "$out" | grep -q "takes a namespace name" || fail "bulkheadd, bad name: $out"
out=$("$BULKHEADD" --uplink-netns "bh-no-such-ns-$$" 2>&1) && fail "bulkheadd accepted a missing namespace"
echo "$out" | grep -q "ip netns add" || fail "bulkheadd, missing namespace: $out"
log "bulkheadd refuses a bad or missing --uplink-netns"
log "PASS"
