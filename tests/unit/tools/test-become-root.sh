#!/bin/bash
# tools/become-root, which the README's set-up scripts (tools/demo, tools/run-tests) source:
# - as root, the script runs as is, with its arguments (root on a host without sudo);
# - as a user with sudo, the script is run again through sudo with the same arguments;
# - as a user without sudo, it stops at once with a clear message, having done nothing.
# sudo is a recording stand-in here (a test cannot hold a user's password).
set -uo pipefail
BECOME_ROOT=$1
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (to run a script as another user)"; exit 77; }
command -v setpriv >/dev/null || { echo "SKIP: setpriv missing"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
chmod 0755 "$T"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

cat >"$T/setup" <<SCRIPT
#!/bin/bash
set -euo pipefail
. "$BECOME_ROOT"
echo "ran as \$(id -u): \$*" >"$T/ran"
SCRIPT
# Only what the script needs on PATH, so that the host's own sudo is not found.
mkdir -m 0755 "$T/bin" "$T/bin-sudo"
for tool in bash id basename; do ln -s "$(command -v "$tool")" "$T/bin/$tool"; done
cat >"$T/bin-sudo/sudo" <<SUDO
#!/bin/bash
printf '%s|' "\$@" >"$T/sudo-args"
SUDO
chmod 0755 "$T/setup" "$T/bin-sudo/sudo"
# The stand-in sudo runs as the user: its record is theirs to write.
touch "$T/sudo-args" && chown 65534 "$T/sudo-args"
as_user() { setpriv --reuid=65534 --regid=65534 --clear-groups env -i PATH="$1" "${@:2}"; }

out=$(env PATH="$T/bin" "$T/setup" a 'b c' 2>&1) || fail "as root: exit $?: $out"
[ "$(cat "$T/ran" 2>/dev/null)" = "ran as 0: a b c" ] || fail "as root: ran '$(cat "$T/ran" 2>/dev/null)'"
rm -f "$T/ran"

out=$(as_user "$T/bin-sudo:$T/bin" "$T/setup" a 'b c' 2>&1) || fail "with sudo: exit $?: $out"
[ "$(cat "$T/sudo-args" 2>/dev/null)" = "--|$T/setup|a|b c|" ] ||
	fail "with sudo: sudo was given '$(cat "$T/sudo-args" 2>/dev/null)'"
[ ! -e "$T/ran" ] || fail "with sudo: the script went on as the user"

out=$(as_user "$T/bin" "$T/setup" a 2>&1)
rc=$?
[ "$rc" = 1 ] || fail "without sudo: exit $rc"
grep -q "setup: needs root, and sudo is not installed: run it as root" <<<"$out" ||
	fail "without sudo: said '$out'"
[ ! -e "$T/ran" ] || fail "without sudo: the script went on"

[ "$fails" = 0 ] && echo "ok" || exit 1
