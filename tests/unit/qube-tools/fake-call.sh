#!/bin/sh
# Stands in for bulkhead-call in tests: runs the service locally the way the agent would, with
# BULKHEAD_REMOTE_DOMAIN set and HOME pointing at the test's receiving home.
# Usage (by the tools): fake-call.sh TARGET SERVICE
set -u
target="$1"
service="$2"
echo "$target $service" >>"$FAKE_CALL_LOG"
if [ "$target" = "refuse-me" ]; then
	echo "bulkhead-call: request refused by policy" >&2
	exit 126
fi
export BULKHEAD_REMOTE_DOMAIN="${FAKE_SOURCE:-work}" HOME="$FAKE_HOME"
# SERVICE+ARG: the agent passes the argument in BULKHEAD_SERVICE_ARGUMENT.
case "$service" in
*+*) export BULKHEAD_SERVICE_ARGUMENT="${service#*+}" ;;
esac
# FAKE_SERVICE_OVERRIDE: a hostile program stands in for the service.
[ -z "${FAKE_SERVICE_OVERRIDE:-}" ] || exec $FAKE_SERVICE_OVERRIDE
case "${service%%+*}" in
bulkhead.Filecopy) exec "$QT_DIR/bulkhead-filecopy-receive" ;;
bulkhead.OpenInVM) exec "$QT_DIR/bulkhead-open-receive" ;;
bulkhead.OpenURL) exec "$QT_DIR/bulkhead-openurl-receive" ;;
*)
	echo "no such service $service" >&2
	exit 127
	;;
esac
