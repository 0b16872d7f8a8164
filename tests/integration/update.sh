#!/bin/bash
# Installing and updating software in a template through the net qube (bulkhead-update(1)):
# - the test's own apt repository (a package made with dpkg-deb) is served in the test's server
#   namespace; a template (netvm none) cannot reach it directly;
# - `bulkhead run -p --user root TEMPLATE -- apt-get install` installs version 1 through the
#   updates proxy (the template's listener, bulkhead.UpdatesProxy, apt-cacher-ng in sys-net);
#   an AppVM of the template has it at its next start;
# - version 2 is published; `bulkhead update TEMPLATE` installs it (the template started and
#   shut down again, a summary) while an AppVM of it runs, which keeps version 1 until its next
#   start (template revisions); a second run finds no updates;
# - errors: unknown qube, not a template, no updates proxy in the policy (nothing started);
# - hostile callers: an AppVM's call is refused by the policy; through the service a template
#   gets no CONNECT tunnel and no other port than 80.
# Traffic goes only to the two namespaces netns-lib.sh makes (TEST-NET-1).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns-lib.sh"
. "$(dirname "$0")/apt-repo-lib.sh"

PKG=bh-update-test
netns_kit_up
export BULKHEAD_UPLINK_NETNS=$NETNS_UP
# The repository has an address of its own in the servers' namespace.
REPO_IP=192.0.2.3
ip -n "$NETNS_SRV" addr add $REPO_IP/24 dev eth0
repo=$NETNS_KIT_DIR/apt/repo
mkdir -p "$repo"
apt_repo_add "$repo" $PKG 1
apt_repo_index "$repo"
http_log=$NETNS_KIT_DIR/apt-http.log
apt_repo_serve "$NETNS_SRV" $REPO_IP "$NETNS_KIT_DIR/apt" "$http_log"
REPO_URL=http://$REPO_IP/repo

# The shipped policy's lines for the service (policy/90-default.policy).
grep "^bulkhead.UpdatesProxy " "$BULKHEAD_SRC/policy/90-default.policy" \
	>"$BULKHEAD_POLICY_DIR/90-default.policy"
[ "$(wc -l <"$BULKHEAD_POLICY_DIR/90-default.policy")" = 2 ] || fail "no UpdatesProxy lines in the default policy"

seed_template debian
start_daemon

log "sys-net from the debian template; a template of our own (netvm none)"
bh net setup --template debian >/dev/null
bh prefs sys-net memory 320 && bh prefs sys-net maxmem 320
bh clone debian tpl
[ "$(bh prefs tpl netvm)" = "" ] || [ "$(bh prefs tpl netvm)" = none ] ||
	fail "the template has a netvm: $(bh prefs tpl netvm)"
bh create app --label green --template tpl
bh prefs app netvm none

log "errors come before anything starts"
expect_fail 2 "template names or --all" bh update
expect_fail 2 "either --all or template names" bh update --all tpl
expect_fail 1 "no qube named 'nosuch'" bh update nosuch
expect_fail 1 "app is an AppVM, not a template: update its template, tpl" bh update app
expect_fail 1 "no qube named 'nosuch'" bh update tpl nosuch
[ "$(bh ls --json | python3 -c 'import json,sys; print(" ".join(q["name"] for q in json.load(sys.stdin) if q["state"] != "Halted" and q["name"] != "dom0"))')" = "" ] ||
	fail "a refused update started qubes: $(bh ls)"

log "only the test's repository, by plain http, [trusted=yes]"
bh run -p --user root tpl -- sh -c "rm -f /etc/apt/sources.list.d/debian.sources &&
	echo 'deb [trusted=yes] $REPO_URL ./' >/etc/apt/sources.list.d/bulkhead-test.list"

log "the template has no network: a direct connection fails"
if timeout 60 "$BULKHEAD" run -p --user root tpl -- \
	bash -c "exec 3<>/dev/tcp/$REPO_IP/80" 2>/dev/null; then
	fail "the template reached $REPO_IP:80 directly"
fi
bh run -p --user root tpl -- ip -o link | grep -qv "lo:" && fail "the template has a network link"
if timeout 120 "$BULKHEAD" run -p --user root tpl -- apt-get -q -o Acquire::http::Proxy=false \
	-o Acquire::Retries=0 update >"$T/direct.out" 2>&1; then
	fail "apt without the proxy worked: $(cat "$T/direct.out")"
fi

log "apt-get install through the updates proxy (version 1)"
timeout 600 "$BULKHEAD" run -p --user root tpl -- sh -c \
	"apt-get -q update && DEBIAN_FRONTEND=noninteractive apt-get -q -y install $PKG" \
	>"$T/install.out" 2>&1 || fail "apt-get install failed: $(tail -n 20 "$T/install.out")"
[ "$(bh run -p tpl -- cat /usr/share/$PKG/version)" = 1 ] || fail "version 1 is not installed"
grep -q "GET /repo/${PKG}_1_all.deb" "$http_log" || fail "the server did not serve the package"
# It came through sys-net: the uplink namespace's address, passt's.
grep -q "^$NETNS_UP_IP .*GET /repo/" "$http_log" || fail "not fetched through the uplink: $(cat "$http_log")"
bh run -p --user root sys-net -- sh -c "ls -R /var/cache/apt-cacher-ng" | grep -q "${PKG}_1_all.deb" ||
	fail "sys-net's apt-cacher-ng did not cache the package"

log "hostile: an AppVM may not call the updates proxy"
bh shutdown --wait tpl
bh start app
rc=0
out=$(printf 'GET http://%s/repo/Packages HTTP/1.0\r\n\r\n' "$REPO_IP" |
	timeout 60 "$BULKHEAD" run -p app -- bulkhead-call @default bulkhead.UpdatesProxy 2>&1) || rc=$?
[ "$rc" = 126 ] || fail "an AppVM's updates proxy call was not refused (exit $rc): ${out:0:300}"

log "the AppVM has version 1 (it started after the install)"
[ "$(bh run -p app -- cat /usr/share/$PKG/version)" = 1 ] || fail "app does not see version 1"
# app keeps running: its template is updated under it (template revisions).

# proxy_ask REQUEST: the first line of the updates proxy's answer to REQUEST (printf escapes),
# sent from tpl through the service. The request side stays open until the answer comes, as
# apt's does (apt-cacher-ng drops a request whose client half-closed).
proxy_ask() {
	timeout 120 "$BULKHEAD" run -p tpl -- bash -c '
		coproc P { bulkhead-call @default bulkhead.UpdatesProxy 2>&1; }
		printf "$1" >&"${P[1]}"
		IFS= read -r line <&"${P[0]}"
		printf "%s\n" "${line%$'"'"'\r'"'"'}"' bash "$1" 2>&1 || true
}

log "hostile: through the service a template gets no CONNECT tunnel and no other port"
netns_kit_listen "$NETNS_SRV" "$NETNS_SRV_IP" 8080
for req in "CONNECT $NETNS_SRV_IP:80 HTTP/1.1\r\nHost: $NETNS_SRV_IP:80\r\n\r\n" \
	"CONNECT $NETNS_SRV_IP:22 HTTP/1.1\r\nHost: $NETNS_SRV_IP:22\r\n\r\n" \
	"GET http://$NETNS_SRV_IP:8080/repo/Packages HTTP/1.0\r\n\r\n" \
	"GET http://$REPO_IP/index.html HTTP/1.0\r\n\r\n"; do
	out=$(proxy_ask "$req")
	grep -q "^HTTP/1.[01] 403" <<<"$out" || fail "request '${req%%\\r*}' was not refused: $out"
done
grep -q "GET" "$NETNS_KIT_DIR/http-8080.log" && fail "the proxy fetched from port 8080"
# a repository file is served through the same path (what the refusals are compared with)
out=$(proxy_ask "GET http://$REPO_IP/repo/Packages HTTP/1.0\r\n\r\n")
grep -q "^HTTP/1.[01] 200" <<<"$out" || fail "a repository file was not served: $out"
bh shutdown --wait tpl

log "version 2 published; bulkhead update installs it"
apt_repo_add "$repo" $PKG 2
apt_repo_index "$repo"
rc=0
timeout 900 "$BULKHEAD" update tpl >"$T/update.out" 2>&1 || rc=$?
cat "$T/update.out"
[ "$rc" = 0 ] || fail "bulkhead update failed (exit $rc)"
grep -q "^tpl: updating" "$T/update.out" || fail "no progress line"
grep -q "^tpl: Get:.*$PKG" "$T/update.out" || fail "no download progress for $PKG"
grep -q "^tpl: Setting up $PKG (2) \.\.\.$" "$T/update.out" || fail "no install progress for $PKG"
grep -q "^tpl: updated (1 package changed)" "$T/update.out" || fail "tpl not reported updated"
grep -q "^summary: 1 updated, 0 with no updates, 0 failed" "$T/update.out" || fail "no summary"
[ "$(bh ls --json | python3 -c 'import json,sys; print([q["state"] for q in json.load(sys.stdin) if q["name"] == "tpl"][0])')" = Halted ] ||
	fail "update left the template it started running"
[ "$(grep -c "GET /repo/${PKG}_2_all.deb" "$http_log")" = 1 ] ||
	fail "version 2 was not fetched exactly once: $(grep "${PKG}_2" "$http_log")"

log "a second update finds nothing to do"
timeout 900 "$BULKHEAD" update tpl >"$T/update2.out" 2>&1 || fail "second update: $(cat "$T/update2.out")"
grep -q "^tpl: no updates" "$T/update2.out" || fail "second update: $(cat "$T/update2.out")"
grep -q "^summary: 0 updated, 1 with no updates, 0 failed" "$T/update2.out" ||
	fail "second update's summary: $(cat "$T/update2.out")"

log "the AppVM that ran through the update still has version 1, and version 2 at its next start"
[ "$(bh run -p app -- cat /usr/share/$PKG/version)" = 1 ] ||
	fail "app's root changed under it while it ran"
bh shutdown --wait app
bh start app
[ "$(bh run -p app -- cat /usr/share/$PKG/version)" = 2 ] || fail "app does not see version 2"
bh shutdown --wait app

log "no updates proxy: the policy sends the template's calls nowhere; nothing starts"
echo "bulkhead.UpdatesProxy * @anyvm @anyvm deny" >"$BULKHEAD_POLICY_DIR/30-test.policy"
expect_fail 1 "tpl: no updates proxy: the policy does not allow bulkhead.UpdatesProxy" bh update tpl
bh ls --json | python3 -c 'import json,sys; sys.exit(0 if [q["state"] for q in json.load(sys.stdin) if q["name"] == "tpl"][0] == "Halted" else 1)' ||
	fail "a template without updates proxy was started"
rm -f "$BULKHEAD_POLICY_DIR/30-test.policy"

log "ok"
