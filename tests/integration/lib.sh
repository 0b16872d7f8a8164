# Shared set-up for integration tests: a private store, socket and libvirt domain prefix per
# test, a real bulkheadd, real libvirtd and QEMU. Sourced by each test script.
set -euo pipefail

: "${BULKHEAD_BUILD:?set by meson}"
: "${BULKHEAD_SRC:?set by meson}"

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: integration tests need root (libvirt's system connection)"
	exit 77
fi

TEST_NAME=$(basename "$0" .sh)
CACHE=${BULKHEAD_TEST_CACHE:-/var/cache/bulkhead-test}
T=$(mktemp -d /tmp/bht.XXXXXX)
chmod 0711 "$T"
export BULKHEAD_STATE_DIR=$T/state
export BULKHEAD_SOCKET=$T/run/api.sock
export BULKHEAD_DOMAIN_PREFIX="bht$$-"
export BULKHEAD_IMAGES_DIR=$BULKHEAD_SRC/images
export BULKHEAD_AGENT=$BULKHEAD_BUILD/agent/bulkhead-agent
# Directories, space-separated (build-template.sh's find_tool): the qube tools, and the audio
# guest half, which the debian-12 template carries.
export BULKHEAD_QUBE_TOOLS="$BULKHEAD_BUILD/qube-tools $BULKHEAD_BUILD/audio"
# The netvm tool goes into templates when it is built (net/apply/).
if [ -x "$BULKHEAD_BUILD/net/apply/bulkhead-net-apply" ]; then
	export BULKHEAD_NET_APPLY=$BULKHEAD_BUILD/net/apply/bulkhead-net-apply
fi
export BULKHEAD_WAYLAND_PROXY=$BULKHEAD_BUILD/wayland-proxy/bulkhead-wayland-proxy
export BULKHEAD_QCHAN=$BULKHEAD_BUILD/qchan/bulkhead-qchan
# Absent in a tree without audio/ built: bulkheadd then runs qubes without sound.
export BULKHEAD_AUDIO_HOST=$BULKHEAD_BUILD/audio/bulkhead-audio-host
export BULKHEAD_ICON_CONVERT=$BULKHEAD_BUILD/appmenu/bulkhead-icon-convert
export BULKHEAD_POLICY_DIR=$T/policy.d
mkdir -p "$BULKHEAD_POLICY_DIR"
export NO_COLOR=1
BULKHEAD=$BULKHEAD_BUILD/cli/bulkhead
BULKHEADD=$BULKHEAD_BUILD/vmmanager/bulkheadd
# What goes into the seeded templates (the agent, the qube tools, bulkhead-net-apply, the guest
# end of the Wayland proxy) comes from this build. tools/run-tests points the sanitizer half at
# the normal build: that half checks the host's processes, and sanitized programs inside a guest
# under TCG only cost time (the guest programs' own sanitizer runs are their unit and fuzz
# tests).
GUEST_BUILD=${BULKHEAD_GUEST_BUILD:-$BULKHEAD_BUILD}
GUEST_AGENT=$GUEST_BUILD/agent/bulkhead-agent
GUEST_QUBE_TOOLS="$GUEST_BUILD/qube-tools $GUEST_BUILD/audio"
GUEST_NET_APPLY=$GUEST_BUILD/net/apply/bulkhead-net-apply
GUEST_WAYLAND_PROXY=$GUEST_BUILD/wayland-proxy/bulkhead-wayland-proxy
DAEMON_PID=
FAILED=0

log() { printf '%s: [%ss] %s\n' "$TEST_NAME" "$SECONDS" "$*"; }
fail() {
	printf '%s: FAIL: %s\n' "$TEST_NAME" "$*" >&2
	FAILED=1
	exit 1
}
bh() { "$BULKHEAD" "$@"; }

ensure_libvirtd() {
	"$BULKHEAD_SRC/tools/start-services" || fail "cannot start libvirtd and virtlogd"
}

start_daemon() {
	"$BULKHEADD" >>"$T/bulkheadd.log" 2>&1 &
	DAEMON_PID=$!
	for _ in $(seq 100); do
		[ -S "$BULKHEAD_SOCKET" ] && bh info >/dev/null 2>&1 && return 0
		kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$T/bulkheadd.log" >&2; fail "bulkheadd exited"; }
		sleep 0.1
	done
	fail "bulkheadd did not come up"
}

stop_daemon() {
	if [ -n "$DAEMON_PID" ]; then
		kill "$DAEMON_PID" 2>/dev/null || true
		wait "$DAEMON_PID" 2>/dev/null || true
		DAEMON_PID=
	fi
}

kill9_daemon() {
	kill -9 "$DAEMON_PID" 2>/dev/null || true
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=
}

our_domains() {
	virsh -c qemu:///system list --name 2>/dev/null | grep "^$BULKHEAD_DOMAIN_PREFIX" || true
}

cleanup() {
	local rc=$?
	stop_daemon
	for dom in $(our_domains); do virsh -c qemu:///system destroy "$dom" >/dev/null 2>&1 || true; done
	if [ "$rc" != 0 ] || [ "$FAILED" != 0 ]; then
		echo "--- bulkheadd log ($T/bulkheadd.log) ---" >&2
		tail -n 40 "$T/bulkheadd.log" >&2 || true
		# A qube that crashed says why on its console (a panic of the agent as PID 1, an
		# oops); the test's directory goes below, so its last words go to the log now.
		local con
		for con in "$T"/state/qubes/*/console.log; do
			[ -s "$con" ] || continue
			echo "--- end of $(basename "$(dirname "$con")")'s console ---" >&2
			tail -n 15 "$con" | cut -c1-300 >&2 || true
		done
	fi
	if mountpoint -q "$T/small" 2>/dev/null; then umount "$T/small"; fi
	# BULKHEAD_TEST_KEEP=1 keeps the store, consoles and logs of a run for a post-mortem.
	if [ "${BULKHEAD_TEST_KEEP:-0}" = 1 ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
	exit "$rc"
}
trap cleanup EXIT

# The key of a template build's inputs: the flavour and the contents of what goes into the
# image (agent, qube tools, bulkhead-net-apply, the Wayland proxy) and of the image scripts.
template_key() {
	local files
	files=$( {
		find "$(dirname "$GUEST_AGENT")" "$GUEST_BUILD/qube-tools" "$(dirname "$GUEST_NET_APPLY")" \
			-maxdepth 1 -type f -perm -u+x 2>/dev/null
		[ -f "$GUEST_WAYLAND_PROXY" ] && echo "$GUEST_WAYLAND_PROXY"
		[ -f "$GUEST_BUILD/audio/bulkhead-audio-guest" ] && echo "$GUEST_BUILD/audio/bulkhead-audio-guest"
		find "$BULKHEAD_SRC/images" -type f
	})
	{
		echo "$1"
		# Contents and names, not paths: two checkouts or build directories with the same
		# files share an entry.
		xargs -d '\n' sha256sum <<<"$files" | sed 's|  .*/|  |' | sort
	} | sha256sum | cut -c 1-16
}

# A template and the kernel, built once per set of inputs and copied into each test's store:
# building them is tested once (template-debian.sh for the debian flavour), the other tests need
# only the result. seed_template [FLAVOUR]: minimal (the default), debian or debian-12 (the
# desktop, desktop.sh), named after its flavour. The cache keeps the three entries of each flavour
# used last (a normal and a sanitizer build have different agents).
seed_template() {
	local flavour=${1:-minimal} lock=$CACHE/.lock key
	key=$(template_key "$flavour")
	local dir=$CACHE/$flavour-$key
	mkdir -p "$CACHE"
	(
		flock 9
		if [ ! -f "$dir/ok" ]; then
			rm -rf "$dir"
			local s=$T/seed-$flavour
			mkdir -p "$s/state"
			# A kernel another entry fetched is reused (fetch-kernel.sh checks it is current).
			local k
			for k in "$CACHE"/*/state/kernels; do
				[ -d "$k" ] && cp -a --sparse=always "$k" "$s/state/" && break
			done
			local net_apply=
			[ -x "$GUEST_NET_APPLY" ] && net_apply=$GUEST_NET_APPLY
			BULKHEAD_STATE_DIR=$s/state BULKHEAD_SOCKET=$s/run/api.sock \
				BULKHEAD_AGENT=$GUEST_AGENT BULKHEAD_QUBE_TOOLS=$GUEST_QUBE_TOOLS \
				BULKHEAD_NET_APPLY=$net_apply BULKHEAD_WAYLAND_PROXY=$GUEST_WAYLAND_PROXY \
				"$BULKHEADD" >"$s/log" 2>&1 &
			local pid=$!
			for _ in $(seq 100); do [ -S "$s/run/api.sock" ] && break; sleep 0.1; done
			if ! BULKHEAD_SOCKET=$s/run/api.sock "$BULKHEAD" template build "$flavour"; then
				kill "$pid"; cat "$s/log" >&2; exit 1
			fi
			kill "$pid"; wait "$pid" || true
			mkdir -p "$dir"
			cp -a --sparse=always "$s/state" "$dir/state"
			rm -rf "$s"
		fi
		# Marks the entry complete, and used now.
		touch "$dir/ok"
		local old
		# Exactly FLAVOUR-KEY: debian's entries are not debian-12's.
		for old in $(ls -dt "$CACHE/$flavour"-*/ok 2>/dev/null |
			grep -E "/$flavour-[0-9a-f]{16}/ok\$" | tail -n +4); do
			rm -rf "$(dirname "$old")"
		done
		mkdir -p "$BULKHEAD_STATE_DIR"
		cp -a --sparse=always "$dir/state/." "$BULKHEAD_STATE_DIR/"
	) 9>"$lock" || fail "building the $flavour template failed"
	chmod 0711 "$BULKHEAD_STATE_DIR"
}

# host_view: the host namespace's links, addresses, routes and nftables ruleset, to compare
# before and after qubes' networks come and go (QEMU's own vnet/macvtap lines left out).
host_view() {
	{
		ip -o link | sed 's/^[0-9]*: //'
		ip -o addr | sed 's/^[0-9]*: //'
		ip route
		ip -6 route
		nft list ruleset 2>/dev/null || true
	} | grep -v 'vnet\|macvtap' | sort
}

# expect_fail EXPECTED_EXIT PATTERN CMD...: CMD must fail with that exit code and say PATTERN.
expect_fail() {
	local want=$1 pat=$2 rc=0 out
	shift 2
	out=$("$@" 2>&1) || rc=$?
	local cmd="$*"
	cmd=${cmd:0:200}
	[ "$rc" = "$want" ] || fail "'$cmd' exited $rc, expected $want; said: ${out:0:500}"
	grep -qiE -- "$pat" <<<"$out" || fail "'$cmd' said '${out:0:500}', expected /$pat/"
}

ensure_libvirtd
