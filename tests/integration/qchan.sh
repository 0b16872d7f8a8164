#!/bin/bash
# The channel processes of real qubes: one per running qube, each under its own uid from the
# reserved range and under seccomp; bulkheadd (root) holds no qube channel; killing one qube's
# channel process resets only that qube's channel, ends its calls cleanly on the other side,
# and the channel comes back.
. "$(dirname "$0")/lib.sh"

seed_template
cat >"$BULKHEAD_POLICY_DIR/50-test.policy" <<'EOF2'
test.Sleep  *  a  b  allow
EOF2
start_daemon
# maxmem as memory: no balloon to deflate from a larger map into 192 MiB.
for n in a b c; do
	bh create "$n" --label green --template minimal --prop memory=192 --prop maxmem=192
done
bh start a b c
bh run -p --user root b -- sh -c 'mkdir -p /etc/bulkhead/rpc &&
	printf "#!/bin/sh\necho started\nexec sleep 1000\n" >/etc/bulkhead/rpc/test.Sleep &&
	chmod +x /etc/bulkhead/rpc/test.Sleep'

qchan_pids() { pgrep -f "bulkhead-qchan --qube $1 " || true; }
uid_of() { awk '/^Uid:/ {print $2}' "/proc/$1/status"; }

log "one channel process per qube, each its own uid, confined"
uids=()
for n in a b c; do
	pids=$(qchan_pids "$n")
	[ "$(wc -w <<<"$pids")" = 1 ] || fail "qube $n has channel processes '$pids'"
	st=/proc/$pids/status
	grep -q '^Seccomp:[[:space:]]*2' "$st" || fail "$n's channel process is not under seccomp"
	grep -q '^NoNewPrivs:[[:space:]]*1' "$st" || fail "$n's channel process lacks no_new_privs"
	u=$(uid_of "$pids")
	[ "$u" -ge 1879048192 ] && [ "$u" -lt $((1879048192 + 65536)) ] ||
		fail "$n's channel process runs as uid $u, outside the reserved range"
	[ "$(awk '/^Gid:/ {print $2}' "$st")" = "$u" ] || fail "$n's gid differs from its uid"
	getent passwd "$u" >/dev/null && fail "uid $u belongs to an account"
	uids+=("$u")
	ps -o pid=,user=,comm= -p "$pids" | sed "s/^/  $n: /"
done
[ "$(printf '%s\n' "${uids[@]}" | sort -u | wc -l)" = 3 ] || fail "uids are shared: ${uids[*]}"
# bulkheadd itself holds no connection to a qube's channel socket.
dpid=$DAEMON_PID
for n in a b c; do
	sock=$(readlink -f "$(dirname "$BULKHEAD_SOCKET")/qubes/$n.sock")
	inode=$(ss -xp 2>/dev/null | grep -F "$sock" | grep -c "pid=$dpid," || true)
	[ "$inode" = 0 ] || fail "bulkheadd holds $n's channel socket"
done

log "killing a qube's channel process resets its channel only"
bh run -p a -- sh -c 'bulkhead-call b test.Sleep </dev/null >/tmp/out 2>&1; echo "rc=$?" >>/tmp/out' &
runner=$!
for _ in $(seq 100); do bh run -p a -- grep -q started /tmp/out 2>/dev/null && break; sleep 0.2; done
bh run -p a -- grep -q started /tmp/out || fail "the call did not start"
old=$(qchan_pids b)
kill -9 "$old"
wait "$runner" || true
out=$(bh run -p a -- cat /tmp/out)
grep -q "rc=126" <<<"$out" || fail "the caller of a reset target saw: $out"
for _ in $(seq 50); do
	new=$(qchan_pids b)
	[ -n "$new" ] && [ "$new" != "$old" ] && break
	sleep 0.2
done
[ -n "$new" ] && [ "$new" != "$old" ] || fail "b's channel was not reconnected"
grep -q "qube b: its channel process exited; resetting the channel" "$T/bulkheadd.log" ||
	fail "the reset is not logged"
for _ in $(seq 50); do [ "$(bh run -p b -- echo back 2>/dev/null)" = back ] && break; sleep 0.5; done
[ "$(bh run -p b -- echo back)" = back ] || fail "b does not run commands after the reset"
[ "$(bh run -p c -- echo fine)" = fine ] || fail "c was disturbed"
[ "$(qchan_pids a)" != "" ] && [ "$(qchan_pids c)" != "" ] || fail "another qube lost its channel"
n=$(bh run -p b -- sh -c 'ps | grep -v grep | grep -c "sleep 1000"' || true)
[ "$n" = 0 ] || fail "the service of the reset call still runs in b"

log "the channel process ends with its qube"
bh shutdown --wait c
[ -z "$(qchan_pids c)" ] || fail "c's channel process outlived it"
bh shutdown --wait a b
log ok
