# A private host sound server for tests and benchmarks: PipeWire with WirePlumber (which links
# streams to devices) and pipewire-pulse (for pactl), under one D-Bus session of their own (the
# session manager needs one), in a runtime directory of their own. Null sinks stand in for a
# sound card: nothing reaches a device.
#
#   pipewire_up DIR     starts it with XDG_RUNTIME_DIR=DIR (made 0700), waits until pactl answers
#   pipewire_down DIR   stops it (its whole process group)
#   pw_pactl DIR ARGS   pactl against it

pw_pactl() {
	local dir=$1
	shift
	env XDG_RUNTIME_DIR="$dir" PULSE_RUNTIME_PATH="$dir/pulse" pactl "$@"
}

pipewire_up() {
	local dir=$1 i
	mkdir -p -m 0700 "$dir"
	# setsid: a process group of its own, so pipewire_down ends all of it.
	env XDG_RUNTIME_DIR="$dir" PULSE_RUNTIME_PATH="$dir/pulse" DISPLAY= \
		setsid dbus-run-session -- sh -c 'pipewire &
			# The others connect to it at once, and give up when it is not there yet.
			i=0; while [ ! -S "$XDG_RUNTIME_DIR/pipewire-0" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
			wireplumber & pipewire-pulse & wait' \
		>>"$dir/pipewire.log" 2>&1 </dev/null &
	echo $! >"$dir/pipewire.pid"
	for i in $(seq 200); do
		# WirePlumber is up when the Dummy driver or a sink has been linked into the graph.
		if [ -S "$dir/pipewire-0" ] && pw_pactl "$dir" info >/dev/null 2>&1 &&
			env XDG_RUNTIME_DIR="$dir" wpctl status 2>/dev/null | grep -q WirePlumber; then
			return 0
		fi
		sleep 0.1
	done
	echo "pipewire_up: no sound server in $dir after 20 s:" >&2
	cat "$dir/pipewire.log" >&2
	return 1
}

pipewire_down() {
	local dir=$1 pid i
	pid=$(cat "$dir/pipewire.pid" 2>/dev/null) || return 0
	kill -- "-$pid" 2>/dev/null || true
	for i in $(seq 50); do
		kill -0 -- "-$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL -- "-$pid" 2>/dev/null || true
	rm -f "$dir/pipewire.pid" "$dir/pipewire-0" "$dir/pipewire-0.lock"
	return 0
}
