#!/bin/sh
# End to end: bulkhead-copy / -move / -open-in-vm against the real receivers, connected by
# fake-call.sh instead of bulkhead-call (QT_DIR: the built qube-tools directory).
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${QT_DIR:?QT_DIR must point at the built qube-tools}"
T=$(mktemp -d /tmp/qt-copy.XXXXXX)
trap 'chmod -R u+rwx "$T" 2>/dev/null; rm -rf "$T"' EXIT
export BULKHEAD_CALL="$here/fake-call.sh" FAKE_HOME="$T/home" FAKE_CALL_LOG="$T/calls" QT_DIR
mkdir -p "$FAKE_HOME"
fails=0
pass() { echo "ok - $1"; }
fail() {
	echo "FAIL - $1"
	fails=$((fails + 1))
}
inc="$FAKE_HOME/Incoming/work"

# listing of a tree: type, mode, md5 of each file, link targets
describe() {
	(cd "$1" && find . | LC_ALL=C sort | while read -r f; do
		if [ -L "$f" ]; then
			echo "$f link $(readlink "$f")"
		elif [ -d "$f" ]; then
			echo "$f dir $(stat -c %a "$f")"
		else
			echo "$f file $(stat -c %a "$f") $(md5sum <"$f" | cut -d' ' -f1)"
		fi
	done)
}

# --- an intact tree
src="$T/src"
mkdir -p "$src/proj/sub/deeper" "$src/proj/empty-dir"
echo hello >"$src/proj/a.txt"
head -c 1048577 /dev/urandom >"$src/proj/sub/blob"
: >"$src/proj/sub/empty"
printf 'x\n' >"$src/proj/sub/deeper/name with spaces"
chmod 700 "$src/proj/sub/deeper"
chmod 751 "$src/proj/a.txt"
chmod 4755 "$src/proj/sub/empty"
ln -s ../a.txt "$src/proj/sub/to-a"
ln -s sub/deeper "$src/proj/to-deeper"
echo single >"$src/single"
if "$QT_DIR/bulkhead-copy" --to vault "$src/proj" "$src/single" 2>"$T/err"; then
	describe "$src/proj" | sed 's/ 4755 / 755 /' >"$T/want"
	describe "$inc/proj" >"$T/got"
	if diff -u "$T/want" "$T/got" && cmp -s "$src/single" "$inc/single" &&
		[ "$(stat -c %a "$inc/proj/sub/empty")" = 755 ]; then
		pass "tree copied intact (contents, modes without setuid, links)"
	else
		fail "tree differs"
	fi
else
	fail "copy failed: $(cat "$T/err")"
fi
grep -q '^vault bulkhead.Filecopy$' "$T/calls" && pass "called vault bulkhead.Filecopy" ||
	fail "call log: $(cat "$T/calls")"
[ -e "$src/proj/a.txt" ] && pass "copy keeps sources" || fail "copy removed sources"

# --- without --to the target is @default
: >"$T/calls"
echo d >"$T/d1"
"$QT_DIR/bulkhead-copy" "$T/d1" 2>/dev/null
grep -q '^@default bulkhead.Filecopy$' "$T/calls" && pass "default target is @default" ||
	fail "no @default call: $(cat "$T/calls")"

# --- a second copy of the same names is refused, nothing replaced
echo changed >"$src/single"
if "$QT_DIR/bulkhead-copy" --to vault "$src/single" 2>"$T/err"; then
	fail "copy over an existing name succeeded"
elif grep -q "already exists" "$T/err" && [ "$(cat "$inc/single")" = single ]; then
	pass "existing name refused, file untouched"
else
	fail "unexpected: $(cat "$T/err")"
fi

# --- move: sources removed only after a confirmed copy
mkdir -p "$T/m/dir/in"
echo 1 >"$T/m/dir/in/f"
echo 2 >"$T/m/file"
if "$QT_DIR/bulkhead-move" --to vault "$T/m/dir" "$T/m/file" 2>"$T/err" &&
	[ ! -e "$T/m/dir" ] && [ ! -e "$T/m/file" ] && [ "$(cat "$inc/dir/in/f")" = 1 ] &&
	[ "$(cat "$inc/file")" = 2 ]; then
	pass "move removes sources after success"
else
	fail "move: $(cat "$T/err")"
fi
echo again >"$T/m/file"
if "$QT_DIR/bulkhead-move" --to vault "$T/m/file" 2>"$T/err"; then
	fail "move onto an existing name succeeded"
elif [ "$(cat "$T/m/file")" = again ]; then
	pass "failed move keeps its source"
else
	fail "failed move lost its source"
fi
if "$QT_DIR/bulkhead-move" --to refuse-me "$T/m/file" 2>"$T/err"; then
	fail "refused move succeeded"
elif [ $? -eq 126 ] && [ -e "$T/m/file" ] && grep -q refused "$T/err"; then
	pass "refused call: exit 126, source kept, message"
else
	fail "refused call: $(cat "$T/err")"
fi

# --- the sender refuses what the receiver would, before sending anything
mkdir -p "$T/bad/esc" "$T/bad/abs" "$T/bad/fifo"
ln -s ../../etc/passwd "$T/bad/esc/l"
ln -s /etc/passwd "$T/bad/abs/l"
mkfifo "$T/bad/fifo/p"
for c in esc abs fifo; do
	: >"$T/calls"
	if "$QT_DIR/bulkhead-copy" --to vault "$T/bad/$c" 2>"$T/err"; then
		fail "sender accepted $c"
	elif [ ! -s "$T/calls" ] && grep -q "Nothing was copied" "$T/err"; then
		pass "sender refuses $c before calling: $(head -1 "$T/err")"
	else
		fail "sender $c: $(cat "$T/err") calls: $(cat "$T/calls")"
	fi
done
[ ! -e "$inc/esc" ] && [ ! -e "$inc/abs" ] && [ ! -e "$inc/fifo" ] &&
	pass "nothing of the refused trees arrived" || fail "refused trees arrived"

# --- a hostile source name never reaches the file system
if FAKE_SOURCE=../../etc "$QT_DIR/bulkhead-copy" --to vault "$T/d1" 2>"$T/err"; then
	fail "bad source name accepted"
else
	pass "bad BULKHEAD_REMOTE_DOMAIN refused: $(head -1 "$T/err")"
fi

# --- open in another qube: a fake xdg-open records what it was given
mkdir -p "$T/bin"
cat >"$T/bin/xdg-open" <<EOS
#!/bin/sh
echo "\$1" >"$T/opened"
case "\$1" in /*) cat "\$1" >"$T/opened-content" ;; esac
echo "handler output goes to stderr, not the caller"
EOS
chmod +x "$T/bin/xdg-open"
echo "document" >"$T/doc.txt"
out=$(PATH="$T/bin:$PATH" "$QT_DIR/bulkhead-open-in-vm" viewer "$T/doc.txt" 2>"$T/err")
rc=$?
if [ $rc -eq 0 ] && [ -z "$out" ] && [ "$(cat "$T/opened-content")" = document ] &&
	[ "$(basename "$(cat "$T/opened")")" = doc.txt ] &&
	[ "$(stat -c %a "$(dirname "$(cat "$T/opened")")")" = 700 ]; then
	pass "file opened in a private directory"
else
	fail "open file: rc=$rc out=$out err=$(cat "$T/err")"
fi
rm -rf "$(dirname "$(cat "$T/opened")")"
out=$(PATH="$T/bin:$PATH" "$QT_DIR/bulkhead-open-in-vm" viewer "https://example.org/a?b=c" 2>/dev/null)
[ $? -eq 0 ] && [ "$(cat "$T/opened")" = "https://example.org/a?b=c" ] && [ -z "$out" ] &&
	pass "URL opened" || fail "open URL: $out"
# no handler in the target: PATH without xdg-open
if out=$(PATH=/nonexistent "$QT_DIR/bulkhead-open-in-vm" viewer "$T/doc.txt" 2>&1); then
	fail "open without a handler succeeded"
else
	echo "$out" | grep -q "no handler" && pass "file: no handler reported ($out)" ||
		fail "file no handler: $out"
fi
if out=$(PATH=/nonexistent "$QT_DIR/bulkhead-open-in-vm" viewer "http://example.org/" 2>&1); then
	fail "URL without a handler succeeded"
else
	echo "$out" | grep -q "no handler" && pass "URL: no handler reported" ||
		fail "URL no handler: $out"
fi
# --- open in a disposable (bulkhead-open-in-dvm): what the viewer changed comes back
mkdir -p "$T/bin/edit"
cat >"$T/bin/edit/xdg-open" <<EOS
#!/bin/sh
sleep 1 # a viewer open for a while; the change must not be missed within the same second
echo "edited in the disposable" >>"\$1"
EOS
chmod +x "$T/bin/edit/xdg-open"
printf 'draft\n' >"$T/edit.txt"
chmod 640 "$T/edit.txt"
: >"$FAKE_CALL_LOG"
if PATH="$T/bin/edit:$PATH" "$QT_DIR/bulkhead-open-in-dvm" "$T/edit.txt" 2>"$T/err" &&
	[ "$(cat "$T/edit.txt")" = "$(printf 'draft\nedited in the disposable')" ] &&
	[ "$(stat -c %a "$T/edit.txt")" = 640 ] && grep -q "saved back" "$T/err" &&
	grep -q "^@dispvm bulkhead.OpenInVM+edit$" "$FAKE_CALL_LOG" &&
	[ -z "$(ls -A "$T" | grep bulkhead-edit)" ]; then
	pass "open-in-dvm: the edited file came back, mode kept, nothing left beside it"
else
	fail "open-in-dvm edit: $(cat "$T/edit.txt") / $(cat "$T/err") / $(cat "$FAKE_CALL_LOG")"
fi
before=$(stat -c %Y.%i "$T/edit.txt")
if PATH="$T/bin:$PATH" "$QT_DIR/bulkhead-open-in-dvm" "$T/edit.txt" 2>"$T/err" &&
	[ "$(stat -c %Y.%i "$T/edit.txt")" = "$before" ] && ! grep -q "saved back" "$T/err"; then
	pass "open-in-dvm: a file only viewed is left alone"
else
	fail "open-in-dvm view: $(cat "$T/err")"
fi
# A hostile disposable: says the file changed, then sends garbage, a directory, or two files.
cat >"$T/evil-open" <<'EOS'
#!/usr/bin/env python3
import os, struct, sys
sys.stdin.buffer.read()
out = sys.stdout.buffer
out.write(b"BHFS" + struct.pack("<II", 0, 0) + b"1")
out.write({"garbage": b"\xff" * 4096, "nothing": b"", "mark": b""}[os.environ["EVIL"]])
out.flush()
EOS
chmod +x "$T/evil-open"
cp "$T/edit.txt" "$T/edit.orig"
for evil in garbage nothing; do
	if FAKE_SERVICE_OVERRIDE="$T/evil-open" EVIL=$evil "$QT_DIR/bulkhead-open-in-dvm" \
		"$T/edit.txt" 2>"$T/err"; then
		fail "open-in-dvm took a hostile answer ($evil)"
	elif cmp -s "$T/edit.txt" "$T/edit.orig" && grep -q "as it was" "$T/err" &&
		[ -z "$(ls -A "$T" | grep bulkhead-edit)" ]; then
		pass "open-in-dvm: a hostile answer ($evil) changes nothing: $(head -1 "$T/err")"
	else
		fail "open-in-dvm hostile ($evil): $(cat "$T/err")"
	fi
done

# the URL receiver checks on its own (a caller need not be bulkhead-open-in-vm)
for u in "javascript://alert(1)" "http://a b" "file:///etc/passwd" "$(printf 'http://x\033[2J')"; do
	if out=$(printf '%s\n' "$u" | PATH="$T/bin:$PATH" "$QT_DIR/bulkhead-openurl-receive"); then
		fail "URL receiver accepted $u"
	else
		echo "$out" | grep -q refused && pass "URL receiver refuses $(echo "$u" | tr -cd '[:print:]')" ||
			fail "URL receiver: $out"
	fi
done
long="http://$(head -c 5000 /dev/zero | tr '\0' a)"
if printf '%s\n' "$long" | "$QT_DIR/bulkhead-openurl-receive" >/dev/null; then
	fail "URL receiver accepted an over-long URL"
else
	pass "URL receiver refuses a URL over 4096 bytes"
fi
# the open receiver takes exactly one regular file
if "$QT_DIR/bulkhead-open-in-vm" viewer "$T/m" 2>"$T/err"; then
	fail "opened a directory"
else
	pass "a directory is not opened: $(cat "$T/err")"
fi

# --- a full disk (a small tmpfs in a private mount namespace; needs root)
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
	head -c 3000000 /dev/urandom >"$T/big"
	echo small >"$T/small"
	mkdir -p "$T/full"
	unshare -m sh -c '
		mount -t tmpfs -o size=1m none "$1" || exit 99
		export FAKE_HOME="$1"
		"$QT_DIR/bulkhead-move" --to vault "$2" "$3" 2>"$4"
		rc=$?
		left=$(find "$1/Incoming/work" -mindepth 1 | wc -l)
		echo "$rc $left" >"$5"
	' sh "$T/full" "$T/small" "$T/big" "$T/err" "$T/result"
	read -r rc left <"$T/result"
	if [ "$rc" -ne 0 ] && [ "$left" -eq 0 ] && grep -q "No space left" "$T/err" &&
		[ -e "$T/big" ] && [ -e "$T/small" ]; then
		pass "full disk: error on the sender, nothing partial, sources kept"
	else
		fail "full disk: rc=$rc left=$left err=$(cat "$T/err")"
	fi
else
	echo "skip - full disk test needs root and unshare"
fi

[ $fails -eq 0 ] || {
	echo "$fails failure(s)"
	exit 1
}
