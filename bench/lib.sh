# Shared by the benchmark scripts: a private bulkheadd instance, the reference domains, figures.
# Sourced; not run. Every benchmark prints ours, the reference, their ratio and the target, and
# never fails on a figure: only a broken set-up makes it exit non-zero.
set -euo pipefail

BENCH_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_BUILD=${BULKHEAD_BUILD:-$BENCH_SRC/build}
BULKHEAD=${BULKHEAD_CLI:-$BENCH_BUILD/cli/bulkhead}
BULKHEADD=$BENCH_BUILD/vmmanager/bulkheadd
HELPERS=$BENCH_BUILD/bench
CACHE=${BULKHEAD_TEST_CACHE:-/var/cache/bulkhead-test}
VIRSH=(virsh -q -c qemu:///system)
BENCH_NAME=$(basename "$0")

say() { printf '%s\n' "$*"; }
note() { printf '# %s: %s\n' "$BENCH_NAME" "$*" >&2; }
die() {
	printf '%s: error: %s\n' "$BENCH_NAME" "$*" >&2
	exit 1
}
bh() { "$BULKHEAD" "$@"; }

# --- the private instance --------------------------------------------------------------------

# run-all sets one up and exports BENCH_DIR; a benchmark run on its own makes its own.
BENCH_OWNS_INSTANCE=0

# The running daemon's pid is kept in a file, not a variable: bench/split replaces the daemon
# from a child process, and whoever cleans up must stop the one running then.
daemon_pid() { cat "$BENCH_DIR/bulkheadd.pid" 2>/dev/null || true; }

# gone PID: true once PID has exited (a zombie counts: its parent reaps it).
gone() { [ ! -e "/proc/$1" ] || [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" = Z ]; }

# stop_daemon: stops the instance's bulkheadd and waits until it and the processes it started
# (one bulkhead-qchan per running qube since the channel split) are gone, so that the next
# daemon finds each qube's channel socket free. The qubes keep running.
stop_daemon() {
	local pid kids k _
	pid=$(daemon_pid)
	[ -n "$pid" ] || return 0
	kids=$(ps -o pid= --ppid "$pid" 2>/dev/null || true)
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 200); do
		gone "$pid" && break
		sleep 0.05
	done
	gone "$pid" || die "bulkheadd (pid $pid) did not stop"
	# Reaps it when it is our child; a no-op otherwise.
	wait "$pid" 2>/dev/null || true
	for k in $kids; do
		for _ in $(seq 200); do
			gone "$k" && break
			sleep 0.05
		done
		gone "$k" || die "bulkheadd's child $k did not end with it"
	done
	rm -f "$BENCH_DIR/bulkheadd.pid"
}

# bench_cleanup [RC]: the EXIT trap; RC (default: the status the script is exiting with).
bench_cleanup() {
	local rc=${1:-$?}
	trap - EXIT INT TERM
	if [ "$BENCH_OWNS_INSTANCE" = 1 ]; then
		# The daemon first, so it does not react to its domains going away.
		( stop_daemon ) || true
		local dom
		for dom in $("${VIRSH[@]}" list --name 2>/dev/null | grep "^$BULKHEAD_DOMAIN_PREFIX" ||
			true); do
			"${VIRSH[@]}" destroy "$dom" >/dev/null 2>&1 || true
		done
		if [ "$rc" != 0 ] && [ -f "$BENCH_DIR/bulkheadd.log" ]; then
			echo "--- last lines of the bulkheadd log ---" >&2
			tail -n 30 "$BENCH_DIR/bulkheadd.log" >&2 || true
		fi
		rm -rf "$BENCH_DIR"
	else
		# Inside run-all: only what this benchmark started by hand (reference domains).
		ref_destroy_all
	fi
	exit "$rc"
}

seed_state() {
	mkdir -p "$BULKHEAD_STATE_DIR"
	if [ -f "$CACHE/ok" ] && [ ! "$CACHE/ok" -ot "$BULKHEAD_AGENT" ]; then
		note "seeding the minimal template from $CACHE"
		cp -a --sparse=always "$CACHE/state/." "$BULKHEAD_STATE_DIR/"
	fi
	chmod 0711 "$BULKHEAD_STATE_DIR"
}

# start_daemon [BULKHEADD]: starts this build's daemon, or the one given (bench/split's
# before-split build), on the instance's state, socket and prefix; running qubes are adopted.
start_daemon() {
	local bin=${1:-$BULKHEADD} pid _
	pid=$(daemon_pid)
	[ -z "$pid" ] || gone "$pid" || die "a bulkheadd (pid $pid) already runs for this instance"
	# Its own session: a Ctrl-C meant for the benchmark must not stop it under running qubes.
	setsid "$bin" >>"$BENCH_DIR/bulkheadd.log" 2>&1 &
	pid=$!
	echo "$pid" >"$BENCH_DIR/bulkheadd.pid"
	for _ in $(seq 300); do
		[ -S "$BULKHEAD_SOCKET" ] && bh info >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || die "$bin exited (log: $BENCH_DIR/bulkheadd.log)"
		sleep 0.1
	done
	die "$bin did not come up"
}

bench_instance_up() {
	[ "$(id -u)" = 0 ] || die "benchmarks need root (libvirt's system connection)"
	local f
	for f in "$BULKHEAD" "$BULKHEADD" "$HELPERS/bench-exec" "$HELPERS/bench-echo" \
		"$HELPERS/bench-refstart" "$HELPERS/bench-gaexec" "$BENCH_BUILD/agent/bulkhead-agent" \
		"$BENCH_BUILD/qchan/bulkhead-qchan"; do
		[ -x "$f" ] || die "$f is missing: build first (ninja -C $BENCH_BUILD), or set BULKHEAD_BUILD"
	done
	if [ -n "${BENCH_DIR:-}" ]; then
		return 0
	fi
	BENCH_OWNS_INSTANCE=1
	BENCH_DIR=$(mktemp -d /tmp/bhbench.XXXXXX)
	chmod 0711 "$BENCH_DIR"
	export BENCH_DIR
	export BULKHEAD_STATE_DIR=$BENCH_DIR/state
	export BULKHEAD_SOCKET=$BENCH_DIR/run/api.sock
	export BULKHEAD_DOMAIN_PREFIX="bench$$-"
	export BULKHEAD_IMAGES_DIR=$BENCH_SRC/images
	export BULKHEAD_AGENT=$BENCH_BUILD/agent/bulkhead-agent
	# Space-separated directories (build-template.sh's find_tool): the audio guest half too.
	export BULKHEAD_QUBE_TOOLS="$BENCH_BUILD/qube-tools $BENCH_BUILD/audio"
	export BULKHEAD_WAYLAND_PROXY=$BENCH_BUILD/wayland-proxy/bulkhead-wayland-proxy
	# The channel process, one per running qube (since the split; a daemon from before the
	# split ignores it).
	export BULKHEAD_QCHAN=$BENCH_BUILD/qchan/bulkhead-qchan
	# The RPC policy is the instance's own (rpc and split write their line there), never the
	# system's /etc/bulkhead/policy.d.
	export BULKHEAD_POLICY_DIR=$BENCH_DIR/policy.d
	export NO_COLOR=1
	mkdir -p "$BULKHEAD_POLICY_DIR"
	"$BENCH_SRC/tools/start-services"
	seed_state
	start_daemon "$BULKHEADD"
	if [ ! -d "$BULKHEAD_STATE_DIR/qubes/minimal" ]; then
		note "building the minimal template (no usable cache in $CACHE)"
		bh template build minimal
	fi
}

trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_qube() {
	[ -d "$BULKHEAD_STATE_DIR/qubes/$1" ] || bh create "$1" --label red --template minimal
}

domain_of() { printf '%s%s' "$BULKHEAD_DOMAIN_PREFIX" "$1"; }
domain_running() { "${VIRSH[@]}" domstate "$1" 2>/dev/null | grep -qx running; }

# --- the reference: the same domain, started by plain libvirt ---------------------------------

REF_DOMAINS=()

# save_ref_xml QUBE FILE: while QUBE runs, keeps the domain bulkheadd generated for it, renamed
# (ref-QUBE) and without its UUID so it can never be taken for the qube itself.
save_ref_xml() {
	local dom
	dom=$(domain_of "$1")
	"${VIRSH[@]}" dumpxml --inactive "$dom" |
		sed -e "s|<name>$dom</name>|<name>$(domain_of "ref-$1")</name>|" -e '/<uuid>/d' >"$2"
	grep -q "<name>$(domain_of "ref-$1")</name>" "$2" || die "cannot rename the domain in $2"
}

qube_dir() { printf '%s/qubes/%s' "$BULKHEAD_STATE_DIR" "$1"; }
channel_socket() { printf '%s/qubes/%s.sock' "$(dirname "$BULKHEAD_SOCKET")" "$1"; }

# The throw-away volumes bulkheadd makes at each start of an AppVM, made the same way.
ref_prepare_files() {
	local d
	d=$(qube_dir "$1")
	qemu-img create -q -f qcow2 -F qcow2 -b "$(qube_dir minimal)/root.qcow2" \
		"$d/root-overlay.qcow2"
	qemu-img create -q -f qcow2 "$d/volatile.qcow2" 1G
}

ref_remove_files() {
	local d
	d=$(qube_dir "$1")
	rm -f "$d/root-overlay.qcow2" "$d/volatile.qcow2"
}

# ref_start [-d] QUBE XMLFILE: prints "<total_us> <create_us>" (see bench-refstart.c).
ref_start() {
	local opt=()
	if [ "$1" = -d ]; then
		opt=(-d)
		shift
	fi
	# Remembered even with -d: an interrupted run leaves the domain behind.
	REF_DOMAINS+=("$1")
	"$HELPERS/bench-refstart" "${opt[@]}" "$2" "$(channel_socket "$1")"
}

ref_destroy_all() {
	local q
	for q in "${REF_DOMAINS[@]}"; do
		"${VIRSH[@]}" destroy "$(domain_of "ref-$q")" >/dev/null 2>&1 || true
		ref_remove_files "$q"
	done
	REF_DOMAINS=()
}

# --- figures ---------------------------------------------------------------------------------

# stats FILE [SCALE]: "median mean min max n" of the numbers in FILE, each divided by SCALE.
stats() {
	sort -g "$1" | awk -v s="${2:-1}" '
		{ v[NR] = $1 / s; sum += $1 / s }
		END {
			if (NR == 0) { print "nan nan nan nan 0"; exit }
			m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%.3f %.3f %.3f %.3f %d\n", m, sum / NR, v[1], v[NR], NR
		}'
}

# ratio A B: A/B with three decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "nan"; else printf "%.3f\n", a / b }'; }

# verdict RATIO LIMIT: says whether the ratio meets "<= LIMIT". Informative only.
verdict() {
	awk -v r="$1" -v l="$2" 'BEGIN { print (r != "nan" && r <= l) ? "met" : "NOT met" }'
}

# row LABEL FILE UNIT SCALE: one labelled line of statistics.
row() {
	local m mean min max n
	read -r m mean min max n < <(stats "$2" "$4")
	printf '  %-32s median %10s %s   mean %10s   min %10s   max %10s   (n=%s)\n' \
		"$1" "$m" "$3" "$mean" "$min" "$max" "$n"
}

# qemu_memory DOMAIN: "<rss> <maxmem> <current> <guest_resident>" in KiB: the QEMU process's
# VmRSS, the domain's <memory> and live currentMemory, and how much of the guest's RAM mapping
# (the one anonymous mapping of exactly <memory>) is resident. RSS minus the last is what QEMU
# itself costs, whatever the guest happened to touch.
qemu_memory() {
	local pid info max cur rss guest
	pid=$(cat "/var/run/libvirt/qemu/$1.pid") || die "no pid file for $1"
	info=$("${VIRSH[@]}" dominfo "$1")
	max=$(awk '/^Max memory:/ { print $3 }' <<<"$info")
	cur=$(awk '/^Used memory:/ { print $3 }' <<<"$info")
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
	guest=$(awk -v mem="$max" '
		/^[0-9a-f]+-[0-9a-f]+ / { size = -1 }
		/^Size:/ { size = $2 }
		/^Rss:/ && size == mem { n++; if ($2 > best) best = $2 }
		END { print n == 1 ? best + 0 : -1 }' "/proc/$pid/smaps")
	[ "$guest" -ge 0 ] || die "cannot find the guest RAM mapping of $1 (pid $pid)"
	printf '%s %s %s %s\n' "$rss" "$max" "$cur" "$guest"
}

pid_rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

median_of() { stats "$1" "${2:-1}" | cut -d' ' -f1; }

# --- the template's additions: the RPC service and qemu-guest-agent ------------------------

BENCH_POLICY_LINE='bench.Echo * b1 b2 allow'

# The qemu-guest-agent binary put into the template (Debian's qemu-guest-agent package).
QEMU_GA=${BENCH_QEMU_GA:-/usr/sbin/qemu-ga}

# files_with_libs PROGRAM: PROGRAM and the shared libraries and loader it needs, as the host
# paths that images/build-template.sh also uses in a qube's root.
files_with_libs() {
	printf '%s\n' "$1"
	ldd "$1" | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p'
}

# guest_put QUBE HOSTFILE GUESTPATH MODE: copies one file into QUBE through `bulkhead run`, as
# root, written aside and renamed into place.
guest_put() {
	# shellcheck disable=SC2016 # expanded in the guest
	bh run -p --user root "$1" -- sh -c 'set -e; mkdir -p "$(dirname "$1")"; cat >"$1.tmp"
		chmod "$2" "$1.tmp"; mv -f "$1.tmp" "$1"' sh "$3" "$4" <"$2" >/dev/null ||
		die "cannot copy $2 into $1 at $3"
}

# template_prepare: once per instance, installs into the minimal template the service that rpc and
# split call (/etc/bulkhead/rpc/bench.Echo: `read l; echo "$l"`) and qemu-guest-agent with the
# libraries it needs that the template lacks (for run's guest-exec reference). An AppVM's root is
# a fresh overlay on the template's root at each start, so the AppVMs running now are shut down:
# they see both from their next start, whenever they were created.
template_prepare() {
	local marker=$BENCH_DIR/template-prepared dom f files
	[ -f "$marker" ] && return 0
	if [ ! -x "$QEMU_GA" ]; then
		note "installing qemu-guest-agent on the host (its qemu-ga goes into the template)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q=2 qemu-guest-agent >&2 ||
			die "cannot install qemu-guest-agent (apt-get install qemu-guest-agent)"
	fi
	note "installing bench.Echo and qemu-ga in the minimal template"
	for dom in $("${VIRSH[@]}" list --name | grep "^$BULKHEAD_DOMAIN_PREFIX" || true); do
		case ${dom#"$BULKHEAD_DOMAIN_PREFIX"} in
		minimal | ref-* | _*) ;;
		*) bh shutdown --wait "${dom#"$BULKHEAD_DOMAIN_PREFIX"}" ;;
		esac
	done
	domain_running "$(domain_of minimal)" || bh start minimal
	# shellcheck disable=SC2016 # the service's own text
	printf '#!/bin/sh\nread l; echo "$l"\n' >"$BENCH_DIR/bench.Echo"
	guest_put minimal "$BENCH_DIR/bench.Echo" /etc/bulkhead/rpc/bench.Echo 755
	# One file per `run`, and only those the template lacks: a library it has is the same host
	# file (its tools were copied from this host), possibly in use there.
	files=$(files_with_libs "$QEMU_GA")
	# shellcheck disable=SC2016,SC2086 # expanded in the guest; one path per word
	for f in $(bh run -p minimal -- sh -c 'for f; do [ -e "$f" ] || echo "$f"; done' sh \
		$files </dev/null); do
		guest_put minimal "$(readlink -f "$f")" "$f" 755
	done
	bh run -p --user root minimal -- sync </dev/null
	bh shutdown --wait minimal
	touch "$marker"
}

# rpc_policy: the one rule the benchmark's calls need, in the instance's own policy directory.
rpc_policy() {
	printf '%s\n' "$BENCH_POLICY_LINE" >"$BULKHEAD_POLICY_DIR/50-bench.policy"
}

# ga_attach QUBE: gives the running QUBE a qemu-guest-agent. bulkheadd's domain has no agent
# channel, so a virtio-serial channel named org.qemu.guest_agent.0 is hot-plugged (libvirt then
# connects its agent monitor to it), and qemu-ga, installed by template_prepare, is started in the
# guest on that port. Returns once the agent answers guest-ping through libvirt.
ga_attach() {
	local dom _
	dom=$(domain_of "$1")
	if ! "${VIRSH[@]}" dumpxml "$dom" | grep -q "name='org.qemu.guest_agent.0'"; then
		printf '%s\n' "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>" \
			>"$BENCH_DIR/ga-channel.xml"
		"${VIRSH[@]}" attach-device "$dom" "$BENCH_DIR/ga-channel.xml" --live >/dev/null ||
			die "cannot hot-plug the guest agent channel into $dom"
	fi
	# The port shows in the guest moments after the hot-plug; no udev there, so it is found by
	# its name in sysfs. -d: qemu-ga daemonizes, so it outlives this `run`.
	# shellcheck disable=SC2016 # expanded in the guest
	bh run -p --user root "$1" -- sh -c '
		[ -x "$1" ] || { echo "no $1 in the qube" >&2; exit 1; }
		if [ -f /run/qemu-ga.pid ] && kill -0 "$(cat /run/qemu-ga.pid)" 2>/dev/null; then exit 0; fi
		i=0; dev=
		while [ -z "$dev" ] && [ $i -lt 100 ]; do
			for p in /sys/class/virtio-ports/*; do
				[ "$(cat "$p/name" 2>/dev/null)" = org.qemu.guest_agent.0 ] && dev=/dev/${p##*/}
			done
			[ -n "$dev" ] && [ -c "$dev" ] || { dev=; sleep 0.1; i=$((i + 1)); }
		done
		[ -n "$dev" ] || { echo "no org.qemu.guest_agent.0 port in the qube" >&2; exit 1; }
		exec "$1" -d -m virtio-serial -p "$dev" -f /run/qemu-ga.pid -t /run \
			-l /tmp/qemu-ga.log' sh "$QEMU_GA" </dev/null || die "cannot start qemu-ga in $1"
	for _ in $(seq 60); do
		"${VIRSH[@]}" qemu-agent-command "$dom" '{"execute":"guest-ping"}' --timeout 5 \
			>/dev/null 2>&1 && return 0
		sleep 1
	done
	die "qemu-ga in $1 does not answer guest-ping through libvirt"
}

# --- the daemon from before the channel split ------------------------------------------------

# The last commit before bulkhead-qchan (edbb00e): the same tree minus the split.
BENCH_BEFORE_REV=${BENCH_BEFORE_REV:-edbb00e^}
BENCH_BEFORE_CACHE=${BENCH_BEFORE_CACHE:-/var/cache/bulkhead-bench}

# before_build: prints the path of bulkheadd built from BENCH_BEFORE_REV, building it once into
# $BENCH_BEFORE_CACHE/before-<full hash>/ (the tree from `git archive`, a meson build dir; only
# bulkheadd is built). A lock keeps concurrent runs from building it twice; a build that did not
# finish is started over.
before_build() {
	local rev dir
	rev=$(git -C "$BENCH_SRC" rev-parse --verify -q "$BENCH_BEFORE_REV^{commit}") ||
		die "BENCH_BEFORE_REV=$BENCH_BEFORE_REV is not a commit of $BENCH_SRC"
	dir=$BENCH_BEFORE_CACHE/before-$rev
	mkdir -p "$BENCH_BEFORE_CACHE"
	(
		flock 9
		[ -f "$dir/ok" ] && exit 0
		note "building bulkheadd at $(git -C "$BENCH_SRC" rev-parse --short "$rev") (before the split) in $dir, once"
		rm -rf "$dir"
		mkdir -p "$dir/src"
		git -C "$BENCH_SRC" archive "$rev" | tar -x -C "$dir/src"
		meson setup "$dir/build" "$dir/src" >"$dir/setup.log" 2>&1 ||
			{ tail -n 20 "$dir/setup.log" >&2; exit 1; }
		ninja -C "$dir/build" vmmanager/bulkheadd >"$dir/build.log" 2>&1 ||
			{ tail -n 20 "$dir/build.log" >&2; exit 1; }
		touch "$dir/ok"
	) 9>"$BENCH_BEFORE_CACHE/.lock" >&2 || die "building bulkheadd at $BENCH_BEFORE_REV failed"
	printf '%s\n' "$dir/build/vmmanager/bulkheadd"
}

# wait_qube_ready QUBE: after a daemon change, until the new daemon has adopted QUBE and its
# agent answers a command.
wait_qube_ready() {
	local _
	for _ in $(seq 120); do
		bh run -p -n "$1" true </dev/null >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	die "$1 is not ready under the new daemon (log: $BENCH_DIR/bulkheadd.log)"
}
