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
case "$service" in
bulkhead.Filecopy) exec "$QT_DIR/bulkhead-filecopy-receive" ;;
bulkhead.OpenInVM) exec "$QT_DIR/bulkhead-open-receive" ;;
bulkhead.OpenURL) exec "$QT_DIR/bulkhead-openurl-receive" ;;
*)
	echo "no such service $service" >&2
	exit 127
	;;
esac
