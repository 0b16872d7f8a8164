#!/bin/bash
# The bash completion (cli/bulkhead-completion.bash) against the real CLI and a real bulkheadd
# (no qube boots): commands and a command's options from the CLI's --help, qube names from the
# daemon's list where a command takes qubes (dom0 too for prefs), volume's subcommands, nothing
# after run's qube (the command's own words), and nothing, quietly, when the daemon is away.
. "$(dirname "$0")/lib.sh"
COMPLETION=$BULKHEAD_SRC/cli/bulkhead-completion.bash
command -v compgen >/dev/null || { echo "SKIP: bash without programmable completion"; exit 77; }

start_daemon
bh create tpl --class TemplateVM --label black >/dev/null || fail "create tpl"
bh create work --template tpl --label blue >/dev/null || fail "create work"
bh create web --template tpl --label green >/dev/null || fail "create web"
bh create personal --template tpl --label yellow >/dev/null || fail "create personal"

# complete WORD...: what the completion offers for the last word, sorted, on one line.
complete_words() {
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _bulkhead
		printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' sh "$COMPLETION" "$BULKHEAD" "$@" 2>&1
}
expect() { # WANT WORD...
	local want=$1 got
	shift
	got=$(complete_words "$@")
	got=${got% }
	[ "$got" = "$want" ] || fail "bulkhead ${*:-''}: offered '$got', want '$want'"
}

log "commands and options from the CLI's help"
all=$("$BULKHEAD" --help | sed -n '/^Commands:/,/^$/p' | awk 'NF > 1 {print $1}' | sort | tr '\n' ' ')
expect "${all% }" ""
expect "start" sta
expect "shutdown" shu
expect "--help --version" --
expect "--json" ls --j
expect "--class --help --label --prop --template" create --

log "qube names from the daemon"
expect "web work" start w
expect "personal tpl web work" shutdown ""
expect "web work" kill work w
expect "personal" run p
expect "" run work ""
expect "" run -p work ""
expect "dom0" prefs d
expect "dom0" settings d
expect "" settings work ""
expect "" prefs work ""
expect "tpl" create new --label blue --template t
expect "ls" volume l
expect "work" volume ls wo

log "no daemon: nothing offered, nothing said"
out=$(BULKHEAD_SOCKET=$T/nowhere complete_words start w)
out=${out% }
[ -z "$out" ] || fail "with no daemon: '$out'"
log "ok"
