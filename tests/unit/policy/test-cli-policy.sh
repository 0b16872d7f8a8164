#!/bin/bash
# `bulkhead policy eval|lint` through the built binary, with --policy-dir and --system-info: no
# daemon needed. Usage: test-cli-policy.sh BULKHEAD SHIPPED_POLICY_DIR
set -u
B=$1
SHIPPED=$2
T=$(mktemp -d /tmp/test-cli-policy-XXXXXX)
trap 'rm -rf "$T"' EXIT
failed=0

check() { # NAME EXPECTED_RC EXPECTED_STDOUT EXPECTED_STDERR -- COMMAND...
	local name=$1 rc=$2 out=$3 err=$4
	shift 5
	"$@" >"$T/out" 2>"$T/err"
	local got=$?
	if [ "$got" != "$rc" ] || [ "$(cat "$T/out")" != "$out" ] || [ "$(cat "$T/err")" != "$err" ]; then
		echo "FAIL: $name (exit $got, expected $rc)"
		echo "--- stdout:"; cat "$T/out"; echo "--- expected:"; echo "$out"
		echo "--- stderr:"; cat "$T/err"; echo "--- expected:"; echo "$err"
		failed=1
	else
		echo "ok: $name"
	fi
}

cat >"$T/si.json" <<'JSON'
{"domains": {
  "dom0": {"type": "AdminVM", "tags": [], "default_dispvm": null, "template_for_dispvms": false, "power_state": "Running"},
  "work": {"type": "AppVM", "tags": ["work"], "default_dispvm": "dvm", "template_for_dispvms": false, "power_state": "Running"},
  "vault": {"type": "AppVM", "tags": [], "default_dispvm": null, "template_for_dispvms": false, "power_state": "Halted"},
  "dvm": {"type": "AppVM", "tags": [], "default_dispvm": null, "template_for_dispvms": true, "power_state": "Halted"}
}}
JSON
mkdir "$T/p"
cat >"$T/p/50-test.policy" <<'POL'
test.Echo  +hi  work  vault  allow  user=alice  notify=yes
test.Echo  *    work  @tag:work  allow  target=vault
test.Ask   *    work  @anyvm  ask  default_target=vault
test.Disp  *    work  @dispvm  allow
test.Deny  *    @anyvm  @anyvm  deny
POL

check "lint shipped policy" 0 "ok" "" -- "$B" policy lint "$SHIPPED"
check "lint test policy" 0 "ok" "" -- "$B" policy lint "$T/p"
check "eval allow" 0 \
	'{"action":"allow","target":"vault","user":"alice","autostart":true,"notify":true,"rule":"'"$T"'/p/50-test.policy:1"}' "" \
	-- "$B" policy eval --policy-dir "$T/p" --system-info "$T/si.json" test.Echo+hi work vault
check "eval redirect" 0 \
	'{"action":"allow","target":"vault","user":null,"autostart":true,"notify":false,"rule":"'"$T"'/p/50-test.policy:2"}' "" \
	-- "$B" policy eval --policy-dir "$T/p" --system-info "$T/si.json" test.Echo work work
check "eval ask" 0 \
	'{"action":"ask","targets":["@dispvm:dvm","dvm","vault"],"default_target":"vault","rule":"'"$T"'/p/50-test.policy:3"}' "" \
	-- "$B" policy eval --policy-dir "$T/p" --system-info "$T/si.json" test.Ask work ""
check "eval dispvm" 0 \
	'{"action":"allow","target":"@dispvm:dvm","user":null,"autostart":true,"notify":false,"rule":"'"$T"'/p/50-test.policy:4"}' "" \
	-- "$B" policy eval -d "$T/p" -s "$T/si.json" test.Disp work @dispvm
check "eval deny" 0 \
	'{"action":"deny","rule":"'"$T"'/p/50-test.policy:5","reason":"denied by policy '"$T"'/p/50-test.policy:5"}' "" \
	-- "$B" policy eval --policy-dir "$T/p" --system-info "$T/si.json" test.Deny work vault
check "eval no match" 0 '{"action":"deny","rule":null,"reason":"no matching rule found"}' "" \
	-- "$B" policy eval --policy-dir "$T/p" --system-info "$T/si.json" other.Service work vault

# A broken policy: eval exits 2 naming file and line; lint lists every error and exits 1.
mkdir "$T/bad"
printf 'a * @anyvm @anyvm allow\nb * @anyvm\n' >"$T/bad/10-a.policy"
printf '\nc * @nope @anyvm deny\n' >"$T/bad/20-b.policy"
printf 'x\n' >"$T/bad/30-C.policy"
errs="$T/bad/30-C.policy: invalid filename: $T/bad/30-C.policy
$T/bad/10-a.policy:2: wrong number of fields
$T/bad/20-b.policy:2: invalid source token: '@nope'
$T/bad/30-C.policy:1: wrong number of fields"
check "lint broken policy" 1 "$errs" "" -- "$B" policy lint "$T/bad"
check "eval broken policy" 2 "" "$errs" \
	-- "$B" policy eval --policy-dir "$T/bad" --system-info "$T/si.json" a work vault

# A broken system info: exit 2 with file and line.
printf '{"domains": {\n  "work": {"type": "AppVM",}\n}}\n' >"$T/bad.json"
check "eval broken system info" 2 "" "$T/bad.json:2: invalid JSON: unexpected character" \
	-- "$B" policy eval --policy-dir "$T/p" --system-info "$T/bad.json" test.Echo work vault
printf '{"domains": {"work": {"tags": []}}}' >"$T/shape.json"
check "eval system info without a type" 2 "" \
	"$T/shape.json: not a system info: domains.work.type: a string is required" \
	-- "$B" policy eval --policy-dir "$T/p" --system-info "$T/shape.json" test.Echo work vault

check "eval usage" 2 "" "bulkhead: eval needs SERVICE+ARG SOURCE TARGET
see bulkhead policy --help" -- "$B" policy eval work vault
check "unknown subcommand" 2 "" "bulkhead: unknown policy command 'frob'
see bulkhead policy --help" -- "$B" policy frob

"$B" --help | grep -q '^  policy ' || { echo "FAIL: policy missing from bulkhead --help"; failed=1; }
exit $failed
