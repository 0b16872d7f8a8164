# bash completion for bulkhead(1). Commands and each command's options come from the CLI's own
# --help, so that they cannot drift from it; qube names from `bulkhead ls --json --all` (the
# daemon's list: nothing is offered when it cannot be reached). Installed as
# /usr/share/bash-completion/completions/bulkhead.

# The names of the daemon's qubes: each object of the list's "name", as `ls --json` prints it
# (one key per line, the qubes' own keys indented four spaces). Qube names are [A-Za-z0-9_.-].
# The host (dom0) is listed too, but is no qube to start, run in or remove.
_bulkhead_qubes() {
	"$1" ls --json --all 2>/dev/null |
		sed -n 's/^    "name": *"\([A-Za-z0-9_.-]*\)".*/\1/p' | grep -vx dom0
}

_bulkhead() {
	local prog=${COMP_WORDS[0]} cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local words
	COMPREPLY=()
	if [ "$COMP_CWORD" -eq 1 ]; then
		if [[ $cur == -* ]]; then
			words="--help --version"
		else
			words=$("$prog" --help 2>/dev/null |
				sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\)  .*/\1/p')
		fi
		mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
		return 0
	fi
	local cmd=${COMP_WORDS[1]}
	if [[ $cur == -* ]]; then
		words=$("$prog" "$cmd" --help 2>/dev/null | sed -n '/^Options:/,$p' |
			grep -o -- '--[a-z][a-z-]*' | sort -u)
		mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
		return 0
	fi
	case $prev in
	--template | -t | --dispvm)
		mapfile -t COMPREPLY < <(compgen -W "$(_bulkhead_qubes "$prog")" -- "$cur")
		return 0
		;;
	esac
	# How many arguments (not options) come before this one.
	local i n=0
	for ((i = 2; i < COMP_CWORD; i++)); do
		[[ ${COMP_WORDS[i]} == -* ]] || n=$((n + 1))
	done
	case $cmd in
	start | shutdown | kill | pause | unpause | remove | update)
		words=$(_bulkhead_qubes "$prog") # any number of qubes
		;;
	clone | features | tags | firewall | run | log | apps)
		[ "$n" = 0 ] && words=$(_bulkhead_qubes "$prog")
		;;
	prefs | settings)
		[ "$n" = 0 ] && words="dom0 $(_bulkhead_qubes "$prog")"
		;;
	audio)
		if [ "$n" = 0 ]; then
			words=$(_bulkhead_qubes "$prog")
		elif [ "$n" = 1 ]; then
			words="volume mute unmute mic"
		elif [ "$n" = 2 ] && [ "${COMP_WORDS[COMP_CWORD - 1]}" = mic ]; then
			words="on off"
		fi
		;;
	volume)
		if [ "$n" = 0 ]; then
			words="ls info resize revert"
		elif [ "$n" = 1 ]; then
			words=$(_bulkhead_qubes "$prog")
		fi
		;;
	esac
	[ -n "${words:-}" ] && mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
	return 0
}

complete -F _bulkhead bulkhead
