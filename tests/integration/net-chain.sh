#!/bin/bash
# The whole network chain as a user makes it: `bulkhead net setup` (sys-net with passt's uplink,
# here in a namespace this test made, and sys-firewall, both of the Debian template), then client
# qubes (minimal template) behind sys-firewall:
# - a client fetches the test server's page by name, through the virtual DNS 10.139.1.1, and
#   over IPv6 by address;
# - two clients cannot reach each other; a client that takes another address gets nothing out;
# - sys-net cannot reach services of the uplink namespace itself (its loopback, its addresses);
# - firewall rules are enforced in sys-firewall: one host and port accepted, the rest dropped;
#   specialtarget=dns; a drop rule put first wins (cutting open connections is net-apply.sh's);
# - restarting sys-firewall while clients run brings their network back without restarting them;
# - an inbound forward carries a port of the uplink to one client's port, only once added;
# - the host's own links, addresses, routes and ruleset are unchanged by all of it.
# Traffic goes only to the two namespaces netns-lib.sh makes (TEST-NET-1, 192.0.2.0/24).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns-lib.sh"

host_view >"$T/host-before"

netns_kit_up
export BULKHEAD_UPLINK_NETNS=$NETNS_UP
seed_template debian
seed_template
start_daemon

log "bulkhead net setup"
bh net setup --template debian >"$T/setup.out" || fail "net setup: $(cat "$T/setup.out")"
bh net setup --template debian >/dev/null || fail "net setup is not idempotent"
[ "$(bh prefs dom0 default_netvm)" = sys-firewall ] || fail "default_netvm is not sys-firewall"
[ "$(bh prefs sys-net uplink)" = True ] || fail "sys-net has no uplink"
[ "$(bh prefs sys-firewall uplink)" = False ] || fail "sys-firewall has an uplink"
for q in sys-net sys-firewall; do bh prefs $q memory 320 && bh prefs $q maxmem 320; done

bh create work --label blue --template minimal
bh create other --label green --template minimal
for q in work other; do bh prefs $q memory 192 && bh prefs $q maxmem 192; done
[ "$(bh prefs work netvm)" = sys-firewall ] || fail "work does not follow default_netvm"

# fetch QUBE: the test server's page by name, as the client sees it (empty on failure).
# (busybox 1.35's wget crashes with -T: the bound is timeout's.)
fetch() { timeout 30 "$BULKHEAD" run -p "$1" -- wget -q -O - "http://$NETNS_NAME/" 2>/dev/null || true; }
# The chain comes up in steps (qubes boot, links plug, configurations apply): wait, bounded.
wait_fetch() {
	for _ in $(seq 90); do
		[ "$(fetch "$1")" = "$NETNS_PAGE" ] && return 0
		sleep 2
	done
	fail "$1 cannot fetch http://$NETNS_NAME/: $(timeout 30 "$BULKHEAD" run -p "$1" -- wget -O - "http://$NETNS_NAME/" 2>&1 | tail -n 2)"
}
# cannot QUBE CMD...: CMD in the qube must fail.
cannot() {
	local q=$1
	shift
	if timeout 30 "$BULKHEAD" run -p --user root "$q" -- "$@" >/dev/null 2>&1; then
		fail "$q could: $*"
	fi
}

log "a client fetches the test server's page by name, through sys-firewall and sys-net"
bh start work
wait_fetch work
bh ls | grep -q "^work .*sys-firewall .*10\.137\." || fail "ls shows no netvm and address: $(bh ls)"
# (busybox's nslookup fails when the AAAA question is refused, as the test's server does.)
out=$(timeout 30 "$BULKHEAD" run -p work -- nslookup "www.$NETNS_NAME" 10.139.1.1 2>&1 || true)
grep -q "$NETNS_SRV_IP" <<<"$out" || fail "virtual DNS did not answer with $NETNS_SRV_IP: $out"
grep -q "nameserver 10.139.1.1" <<<"$(bh run -p work -- cat /etc/resolv.conf)" ||
	fail "the client's resolv.conf does not name the virtual DNS"

log "IPv6 through the chain: the client's fd09:24ef:4179:: address, NAT66 in sys-net, passt"
out=$(timeout 30 "$BULKHEAD" run -p work -- wget -q -O - "$NETNS_HTTP6_URL" 2>&1 || true)
[ "$out" = "$NETNS_PAGE" ] || fail "work cannot fetch $NETNS_HTTP6_URL: $out"
grep -q "fd09:24ef:4179::a89:" <<<"$(bh run -p work -- ip -6 addr show dev eth0)" ||
	fail "work has no fd09:24ef:4179:: address"

log "two clients cannot reach each other"
bh start other
wait_fetch other
ip_of() { bh ls --json | python3 -c "import json,sys; print([q for q in json.load(sys.stdin) if q['name']==sys.argv[1]][0]['ip'])" "$1"; }
work_ip=$(ip_of work)
other_ip=$(ip_of other)
# A TCP echo service in each client, reachable from the client itself (so the refusals below are
# the isolation, not a dead service); passt's ICMP needs ping sockets, so TCP it is.
for q in work other; do
	"$BULKHEAD" run -p --user root "$q" -- nc -ll -p 7000 -e /bin/cat >/dev/null 2>&1 &
done
for q in work other; do
	for _ in $(seq 30); do
		[ "$(echo hi | timeout 20 "$BULKHEAD" run -p "$q" -- nc -w 3 127.0.0.1 7000 2>/dev/null)" = hi ] && break
		sleep 1
	done
	[ "$(echo hi | timeout 20 "$BULKHEAD" run -p "$q" -- nc -w 3 127.0.0.1 7000 2>/dev/null)" = hi ] ||
		fail "the echo service in $q does not answer"
done
[ -z "$(echo hi | timeout 20 "$BULKHEAD" run -p work -- nc -w 3 "$other_ip" 7000 2>/dev/null)" ] ||
	fail "work reached other"
[ -z "$(echo hi | timeout 20 "$BULKHEAD" run -p other -- nc -w 3 "$work_ip" 7000 2>/dev/null)" ] ||
	fail "other reached work"

log "sys-net cannot reach the uplink namespace's own services"
netns_kit_listen "$NETNS_UP" 127.0.0.1 8082
netns_kit_listen "$NETNS_UP" "$NETNS_UP_IP" 8081
cannot sys-net bash -c "exec 3<>/dev/tcp/$NETNS_UP_IP/8081"
cannot sys-net bash -c "exec 3<>/dev/tcp/127.0.0.1/8082"
netns_kit_listen "$NETNS_UP" "$NETNS_UP_IP6" 8083
cannot sys-net bash -c "exec 3<>/dev/tcp/$NETNS_UP_IP6/8083"
netns_kit_listen "$NETNS_SRV" "$NETNS_SRV_IP6" 8084
bh run -p sys-net -- bash -c "exec 3<>/dev/tcp/$NETNS_SRV_IP6/8084" || fail "sys-net cannot reach the server over IPv6 (the refusal above proves nothing)"
bh run -p sys-net -- bash -c "exec 3<>/dev/tcp/$NETNS_SRV_IP/80" || fail "sys-net cannot reach the server (the refusals above prove nothing)"

log "firewall: one host and port accepted, dns by specialtarget, the rest dropped"
netns_kit_listen "$NETNS_SRV" "$NETNS_SRV_IP" 8080
[ "$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 20 "$BULKHEAD" run -p work -- nc -w 3 "$NETNS_SRV_IP" 8080 2>/dev/null | head -c 4)" = HTTP ] ||
	fail "port 8080 is not reachable before the rules (the refusal below would prove nothing)"
bh firewall work reset
bh firewall work del 0
bh firewall work add accept dsthost="$NETNS_SRV_IP" proto=tcp dstports=80
bh firewall work add accept specialtarget=dns
for _ in $(seq 60); do
	[ -z "$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 20 "$BULKHEAD" run -p work -- nc -w 3 "$NETNS_SRV_IP" 8080 2>/dev/null)" ] && break
	sleep 2
done
[ -z "$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 20 "$BULKHEAD" run -p work -- nc -w 3 "$NETNS_SRV_IP" 8080 2>/dev/null)" ] ||
	fail "port 8080 still answers after the rules allow only port 80"
[ "$(fetch work)" = "$NETNS_PAGE" ] || fail "the accepted port 80 (by name, through dns) no longer works"
out=$(bh firewall work list)
grep -q "dns" <<<"$out" || fail "firewall list lacks the dns rule: $out"
# While the chain runs, the list shows each rule's state as sys-firewall applied it.
grep -q "STATE" <<<"$out" && [ "$(grep -cw ok <<<"$out")" -ge 2 ] ||
	fail "firewall list shows no applied states: $out"

log "a drop rule added later wins when it comes first"
bh firewall work add --before 0 drop dsthost="$NETNS_SRV_IP" proto=tcp dstports=80
for _ in $(seq 60); do [ -z "$(fetch work)" ] && break; sleep 2; done
[ -z "$(fetch work)" ] || fail "a new connection passed the drop rule"
bh firewall work reset

log "restarting sys-firewall brings the clients' network back"
expect_fail 1 "work|other" bh shutdown sys-firewall
bh shutdown --force sys-firewall
bh start sys-firewall
wait_fetch work
wait_fetch other

log "inbound forward: off until added, then the uplink's port reaches one qube's port"
# From the servers' namespace (the outside world here) to the uplink namespace's address, where
# passt listens only for forwards; a service on work's port 7001 answers a line with its qube's
# name. The client speaks first: Debian 12's passt completes the handshake towards the guest only
# with the first data (README, "Inbound port forwards").
bh run -p --user root work -- sh -c 'printf "#!/bin/sh\nread x\necho \"\$(hostname):\$x\"\n" >/run/who && chmod 755 /run/who' ||
	fail "cannot write the service's script in work"
"$BULKHEAD" run -p --user root work -- nc -ll -p 7001 -e /run/who >/dev/null 2>&1 &
inbound() {
	timeout 20 ip netns exec "$NETNS_SRV" python3 -c '
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
    s.sendall(b"hi\n")
    print(s.recv(100).decode().strip())
except OSError:
    pass' "$NETNS_UP_IP" "$1" 2>/dev/null || true
}
[ -z "$(inbound 8070)" ] || fail "port 8070 answers before any forward"
bh firewall work forward add tcp 8070 7001 || fail "forward add"
for _ in $(seq 60); do [ "$(inbound 8070)" = work:hi ] && break; sleep 2; done
[ "$(inbound 8070)" = work:hi ] || fail "the forward to work's port 7001 does not answer: '$(inbound 8070)'"
# The same port of other is not reachable: nothing else was opened.
[ -z "$(inbound 7001)" ] && [ -z "$(inbound 7000)" ] || fail "a port that was not forwarded answers"
bh firewall work forward list | grep -q "^tcp  *8070  *7001" || fail "forward list: $(bh firewall work forward list)"
# passt was started again with the new port: sys-net's own traffic goes on.
wait_fetch work
wait_fetch other
bh firewall work forward del tcp 8070 || fail "forward del"

log "passt dying is noticed: a new one is plugged and sys-net's network comes back"
# (Our daemon's own child: other tests' daemons may run a passt under the same uid.)
passt_pid=$(pgrep -P "$DAEMON_PID" passt || true)
[ -n "$passt_pid" ] || fail "bulkheadd has no passt child"
[ "$(stat -c %u "/proc/$passt_pid")" -ge 1879113728 ] || fail "passt does not run under an uplink uid"
kill -9 $passt_pid
for _ in $(seq 60); do grep -q "the uplink of sys-net (passt) exited" "$T/bulkheadd.log" && break; sleep 1; done
grep -q "the uplink of sys-net (passt) exited" "$T/bulkheadd.log" || fail "bulkheadd did not notice passt's death"
wait_fetch work
for _ in $(seq 60); do [ -z "$(inbound 8070)" ] && break; sleep 2; done
[ -z "$(inbound 8070)" ] || fail "port 8070 still answers after the forward went"

log "a client that takes another address gets nothing out"
# One-way proof: a DNS query reaches the server's log only if the netvm let it through. The
# same query from the client's own address is the control.
dns_seen() { grep -c "query\[A\] $1" "$NETNS_KIT_DIR/dnsmasq.log" 2>/dev/null || true; }
timeout 30 "$BULKHEAD" run -p other -- nslookup "own-$$.$NETNS_NAME" 10.139.1.1 >/dev/null 2>&1 || true
[ "$(dns_seen "own-$$")" -gt 0 ] || fail "the control query from other's own address did not arrive"
bh run -p --user root other -- sh -c "ip addr flush dev eth0 && ip addr add $work_ip/32 dev eth0 && ip route replace default via $(ip_of sys-firewall) dev eth0 onlink" ||
	fail "cannot take work's address in other"
timeout 30 "$BULKHEAD" run -p other -- nslookup "spoof-$$.$NETNS_NAME" 10.139.1.1 >/dev/null 2>&1 || true
[ "$(dns_seen "spoof-$$")" = 0 ] || fail "a query from a forged source address got through"

log "the host's namespace is unchanged"
host_view >"$T/host-after"
diff "$T/host-before" "$T/host-after" >&2 || fail "the host's links, addresses, routes or ruleset changed"
log "ok"
