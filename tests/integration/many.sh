#!/bin/bash
# Ten qubes started at once, each running a command.
. "$(dirname "$0")/lib.sh"

seed_template
start_daemon
names=()
for i in $(seq 0 9); do
	bh create "q$i" --label purple --template minimal --prop memory=192 --prop maxmem=192
	names+=("q$i")
done
bh start "${names[@]}"
for n in "${names[@]}"; do
	[ "$(bh run -p "$n" -- hostname)" = "$n" ] || fail "$n answered wrongly"
done
[ "$(bh ls | grep -cE '^q[0-9] +Running')" = 10 ] || fail "not all ten running: $(bh ls)"
bh shutdown --all --wait
[ "$(bh ls | grep -cE '^q[0-9] +Halted')" = 10 ] || fail "not all ten halted: $(bh ls)"
log ok
