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
DAEMON_PID=

bench_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ "$BENCH_OWNS_INSTANCE" = 1 ]; then
		# The daemon first, so it does not react to its domains going away.
		if [ -n "$DAEMON_PID" ]; then
			kill "$DAEMON_PID" 2>/dev/null || true
			wait "$DAEMON_PID" 2>/dev/null || true
		fi
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

start_daemon() {
	# Its own session: a Ctrl-C meant for the benchmark must not stop it under running qubes.
	setsid "$BULKHEADD" >>"$BENCH_DIR/bulkheadd.log" 2>&1 &
	DAEMON_PID=$!
	export BENCH_DAEMON_PID=$DAEMON_PID
	local _
	for _ in $(seq 100); do
		[ -S "$BULKHEAD_SOCKET" ] && bh info >/dev/null 2>&1 && return 0
		kill -0 "$DAEMON_PID" 2>/dev/null || die "bulkheadd exited (log: $BENCH_DIR/bulkheadd.log)"
		sleep 0.1
	done
	die "bulkheadd did not come up"
}

bench_instance_up() {
	[ "$(id -u)" = 0 ] || die "benchmarks need root (libvirt's system connection)"
	local f
	for f in "$BULKHEAD" "$BULKHEADD" "$HELPERS/bench-exec" "$HELPERS/bench-echo" \
		"$HELPERS/bench-refstart" "$BENCH_BUILD/agent/bulkhead-agent"; do
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
	export BULKHEAD_QCHAN=$BENCH_BUILD/qchan/bulkhead-qchan
	export NO_COLOR=1
	"$BENCH_SRC/tools/start-services"
	seed_state
	start_daemon
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
