#!/bin/sh
# Fails when a C file differs from what clang-format makes of it.
set -eu
cf="$1"
cd "${MESON_SOURCE_ROOT:-$(dirname "$0")/..}"
rc=0
for f in $(git ls-files '*.c' '*.h'); do
	if ! "$cf" --style=file "$f" | cmp -s - "$f"; then
		echo "not formatted: $f (run: clang-format -i $f)"
		rc=1
	fi
done
exit $rc
