# Test network namespace kit: a namespace for the uplink (where passt runs, named for bulkheadd's
# --uplink-netns) joined by a veth to a second namespace holding the test's own servers. Traffic
# goes only to addresses inside these two namespaces: TEST-NET-1 (192.0.2.0/24, RFC 5737, never
# routed anywhere), and nothing is created in the host's namespace (both veth ends are made
# inside the namespaces). Sourced after lib.sh (or alone, e.g. by bench/net); needs root,
# iproute2, python3 and dnsmasq.
#
#   netns_kit_up          makes both namespaces and starts the servers; sets
#                           NETNS_UP   the uplink namespace's name (unique per run), with
#                                      address $NETNS_UP_IP/24, default route via $NETNS_SRV_IP,
#                                      and /etc/netns/$NETNS_UP/resolv.conf naming $NETNS_SRV_IP
#                                      (what passt in it is told to use)
#                           NETNS_SRV  the servers' namespace, address $NETNS_SRV_IP
#                           NETNS_HTTP_URL  http://$NETNS_SRV_IP/ (port 80) serving index.html
#                                      whose content is $NETNS_PAGE
#                           NETNS_HTTP6_URL the same over IPv6: both namespaces also have
#                                      $NETNS_UP_IP6/64 and $NETNS_SRV_IP6/64, the uplink one a
#                                      default route via $NETNS_SRV_IP6 (DNS stays IPv4: names
#                                      resolve to $NETNS_SRV_IP only)
#                           NETNS_NAME  test.example: the DNS server on $NETNS_SRV_IP:53 answers
#                                      it (and every name under it) with $NETNS_SRV_IP, and
#                                      refuses everything else (no upstream)
#                         the namespaces, servers and resolv.conf go at exit (an EXIT trap,
#                         chained before any trap already set, e.g. lib.sh's cleanup)
#   netns_kit_down        the same by hand (idempotent)
#   netns_up CMD...       runs CMD in the uplink namespace
#   netns_srv CMD...      runs CMD in the servers' namespace
#   netns_kit_listen NS ADDR PORT
#                         starts an HTTP server on ADDR:PORT in namespace NS (stopped with the
#                         kit) and waits until it accepts connections
#   netns_kit_wait_port NS ADDR PORT
#                         waits (bounded) until ADDR:PORT in NS accepts a connection

NETNS_SRV_IP=192.0.2.1
NETNS_UP_IP=192.0.2.2
# IPv6 beside it: the documentation prefix (RFC 3849), routed nowhere either.
NETNS_SRV_IP6=2001:db8::1
NETNS_UP_IP6=2001:db8::2
NETNS_NAME=test.example
NETNS_PAGE="bulkhead netns kit page $$"
NETNS_UP=
NETNS_SRV=
NETNS_KIT_DIR=
NETNS_KIT_PIDS=()

netns_up() { ip netns exec "$NETNS_UP" "$@"; }
netns_srv() { ip netns exec "$NETNS_SRV" "$@"; }

netns_kit_wait_port() {
	local ns=$1 addr=$2 port=$3
	for _ in $(seq 200); do
		ip netns exec "$ns" python3 -c '
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()
except OSError:
    sys.exit(1)' "$addr" "$port" && return 0
		sleep 0.1
	done
	echo "netns-lib: nothing listens on $addr:$port in $ns" >&2
	return 1
}

netns_kit_listen() {
	local ns=$1 addr=$2 port=$3
	ip netns exec "$ns" python3 -m http.server --bind "$addr" --directory "$NETNS_KIT_DIR/www" \
		"$port" >>"$NETNS_KIT_DIR/http-$port.log" 2>&1 &
	NETNS_KIT_PIDS+=($!)
	netns_kit_wait_port "$ns" "$addr" "$port"
}

netns_kit_down() {
	local p
	for p in "${NETNS_KIT_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${NETNS_KIT_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	NETNS_KIT_PIDS=()
	[ -z "$NETNS_UP" ] || ip netns del "$NETNS_UP" 2>/dev/null || true
	[ -z "$NETNS_SRV" ] || ip netns del "$NETNS_SRV" 2>/dev/null || true
	[ -z "$NETNS_UP" ] || rm -rf "/etc/netns/$NETNS_UP"
	[ -z "$NETNS_KIT_DIR" ] || rm -rf "$NETNS_KIT_DIR"
	NETNS_UP= NETNS_SRV= NETNS_KIT_DIR=
}

netns_kit_up() {
	local id prev
	command -v dnsmasq >/dev/null || PATH=$PATH:/usr/sbin
	command -v dnsmasq >/dev/null || { echo "netns-lib: dnsmasq is not installed" >&2; return 1; }
	id=$$-$RANDOM
	NETNS_UP=bh-up-$id
	NETNS_SRV=bh-srv-$id
	NETNS_KIT_DIR=$(mktemp -d /tmp/bh-netns.XXXXXX)
	chmod 0755 "$NETNS_KIT_DIR"

	prev=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//")
	# shellcheck disable=SC2064 # expanded now on purpose: the trap that was there before.
	# set +e: under errexit, the (exit RC) that hands the status on would end the trap before
	# the earlier one (lib.sh's cleanup: domains, daemon) runs.
	trap "_nk_rc=\$?; set +e; netns_kit_down; (exit \$_nk_rc); ${prev:-exit \$_nk_rc}" EXIT

	ip netns add "$NETNS_UP"
	ip netns add "$NETNS_SRV"
	ip -n "$NETNS_UP" link set lo up
	ip -n "$NETNS_SRV" link set lo up
	# Made inside the uplink namespace, its peer moved straight into the servers': the host's
	# own link list never holds either end.
	ip -n "$NETNS_UP" link add eth0 type veth peer name eth0 netns "$NETNS_SRV"
	ip -n "$NETNS_UP" addr add "$NETNS_UP_IP/24" dev eth0
	ip -n "$NETNS_SRV" addr add "$NETNS_SRV_IP/24" dev eth0
	ip -n "$NETNS_UP" link set eth0 up
	ip -n "$NETNS_SRV" link set eth0 up
	ip -n "$NETNS_UP" route add default via "$NETNS_SRV_IP"
	ip -n "$NETNS_UP" addr add "$NETNS_UP_IP6/64" dev eth0 nodad
	ip -n "$NETNS_SRV" addr add "$NETNS_SRV_IP6/64" dev eth0 nodad
	ip -n "$NETNS_UP" -6 route add default via "$NETNS_SRV_IP6"
	mkdir -p "/etc/netns/$NETNS_UP"
	echo "nameserver $NETNS_SRV_IP" >"/etc/netns/$NETNS_UP/resolv.conf"

	mkdir -p "$NETNS_KIT_DIR/www"
	echo "$NETNS_PAGE" >"$NETNS_KIT_DIR/www/index.html"
	netns_kit_listen "$NETNS_SRV" "$NETNS_SRV_IP" 80 || return 1
	NETNS_HTTP_URL=http://$NETNS_SRV_IP/
	netns_kit_listen "$NETNS_SRV" "$NETNS_SRV_IP6" 80 || return 1
	NETNS_HTTP6_URL=http://[$NETNS_SRV_IP6]/

	ip netns exec "$NETNS_SRV" dnsmasq --keep-in-foreground --conf-file=/dev/null \
		--no-resolv --no-hosts --no-dhcp-interface=eth0 --bind-interfaces \
		--listen-address="$NETNS_SRV_IP" --port=53 --user=root --pid-file= \
		--address="/$NETNS_NAME/$NETNS_SRV_IP" --log-queries \
		--log-facility="$NETNS_KIT_DIR/dnsmasq.log" &
	NETNS_KIT_PIDS+=($!)
	netns_kit_wait_port "$NETNS_SRV" "$NETNS_SRV_IP" 53 || return 1
}
