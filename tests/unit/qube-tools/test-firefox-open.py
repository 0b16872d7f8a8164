#!/usr/bin/env python3
"""bulkhead-firefox-open, Firefox's native messaging host for "Open link in a disposable qube",
spoken to as Firefox does (a 32-bit length in the machine's byte order, then JSON). Behind it the
real bulkhead-open-in-dvm, with bulkhead-call replaced by fake-call.sh, which runs the real
bulkhead-openurl-receive here; xdg-open is a script that records the URL.
- a good message: {"ok": true}, the URL reaches xdg-open through bulkhead.OpenURL to @dispvm,
  and the host has ended while the opener still runs, in a session of its own;
- what a broken or hostile page could make the extension send, and framing Firefox never sends
  (no message, a cut one, a huge length, not JSON, trailing bytes, other keys or types, deep
  nesting, an escaped NUL, schemes other than http/https/ftp/mailto, an over-long URL): an
  {"error": ...} reply, exit 1, and no call made;
- no bulkhead-open-in-dvm to run: said in the reply;
- Firefox gone before the reply: the host ends without a signal."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

QT_DIR = os.environ["QT_DIR"]
HOST = os.path.join(QT_DIR, "bulkhead-firefox-open")
HERE = os.path.dirname(os.path.abspath(__file__))

failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg)


def frame(payload):
    return struct.pack("=I", len(payload)) + payload


def message(obj):
    return frame(json.dumps(obj).encode())


def run_host(data, env):
    p = subprocess.run([HOST, "/usr/lib/mozilla/native-messaging-hosts/bulkhead_open.json",
                        "open-in-dvm@bulkhead"], input=data, capture_output=True, env=env,
                       timeout=60)
    reply = None
    if len(p.stdout) >= 4:
        (n,) = struct.unpack("=I", p.stdout[:4])
        body = p.stdout[4:]
        if n == len(body):
            reply = json.loads(body)
    return p, reply


def wait_for(pred, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def main():
    t = tempfile.mkdtemp(prefix="test-firefox-open.")
    try:
        bin_dir = os.path.join(t, "bin")
        os.makedirs(bin_dir)
        os.makedirs(os.path.join(t, "home"))
        os.symlink(os.path.join(QT_DIR, "bulkhead-open-in-dvm"),
                   os.path.join(bin_dir, "bulkhead-open-in-dvm"))
        opened = os.path.join(t, "opened")
        release = os.path.join(t, "release")
        sid_file = os.path.join(t, "sid")
        # The disposable's "browser": records the URL and its session, then stays until told
        # (or a minute, should the test have died).
        with open(os.path.join(bin_dir, "xdg-open"), "w") as f:
            f.write(f"""#!/bin/sh
ps -o sid= -p $$ | tr -d ' ' >"{sid_file}"
echo "$1" >>"{opened}"
i=0
while [ ! -e "{release}" ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done
""")
        os.chmod(os.path.join(bin_dir, "xdg-open"), 0o755)
        calls = os.path.join(t, "calls")
        env = dict(os.environ, PATH=bin_dir + ":" + os.environ.get("PATH", "/usr/bin:/bin"),
                   BULKHEAD_CALL=os.path.join(HERE, "fake-call.sh"), FAKE_HOME=os.path.join(t, "home"),
                   FAKE_CALL_LOG=calls, QT_DIR=QT_DIR)

        url = "https://example.test/a/b?c=d&e=%20f#g"
        p, reply = run_host(message({"url": url}), env)
        check(p.returncode == 0 and reply == {"ok": True},
              f"a good message: exit {p.returncode}, reply {reply}, stderr {p.stderr!r}")
        check(wait_for(lambda: read(opened) == url + "\n"), f"xdg-open got {read(opened)!r}")
        check(read(calls) == "@dispvm bulkhead.OpenURL\n", f"calls: {read(calls)!r}")
        # The host has exited (run_host returned) while the opener still waits on its viewer.
        check(not os.path.exists(release), "the opener ended before it was released")
        sid = read(sid_file).strip()
        check(sid.isdigit() and int(sid) != os.getsid(0), f"the opener's session {sid!r} is ours")
        open(release, "w").close()
        check(wait_for(lambda: subprocess.run(["pgrep", "-f", f"bulkhead-open-in-dvm {url}"],
                                              capture_output=True).returncode != 0),
              "the opener did not end when its viewer did")

        long_url = "http://example.test/" + "a" * 4100
        bad = {
            "no message": b"",
            "a cut length": b"\x05\x00",
            "length zero": struct.pack("=I", 0),
            "a huge length": struct.pack("=I", 0xFFFFFFFF) + b"{}",
            "a message cut short": struct.pack("=I", 100) + b'{"url": "http://x/"}',
            "not JSON": frame(b"open http://example.test/"),
            "trailing bytes": frame(b'{"url": "http://example.test/"} {}'),
            "an array": message(["http://example.test/"]),
            "a number for the URL": message({"url": 7}),
            "another key": message({"url": "http://example.test/", "to": "work"}),
            "deep nesting": message({"url": {"a": {"b": {"c": 1}}}}),
            "an escaped NUL": frame(b'{"url": "http://example.test/\\u0000x"}'),
            "javascript:": message({"url": "javascript:alert(1)"}),
            "file:": message({"url": "file:///etc/shadow"}),
            "whitespace": message({"url": "http://example.test/ x"}),
            "a newline": message({"url": "http://example.test/\nhttp://other.test/"}),
            "too long": message({"url": long_url}),
        }
        for what, data in bad.items():
            before = read(calls)
            p, reply = run_host(data, env)
            check(p.returncode == 1 and isinstance(reply, dict) and
                  isinstance(reply.get("error"), str) and reply["error"],
                  f"{what}: exit {p.returncode}, reply {reply}")
            check(read(calls) == before, f"{what}: a call was made")

        p, reply = run_host(message({"url": url}),
                            dict(env, PATH="/nonexistent"))
        check(p.returncode == 1 and reply and "bulkhead-open-in-dvm" in reply.get("error", ""),
              f"no opener: exit {p.returncode}, reply {reply}")

        # Firefox gone: the reply's pipe has no reader.
        r, w = os.pipe()
        os.close(r)
        q = subprocess.run([HOST], input=message({"url": "mailto:a@example.test"}), stdout=w,
                           stderr=subprocess.DEVNULL, env=dict(env, PATH="/nonexistent"),
                           timeout=60)
        os.close(w)
        check(q.returncode in (0, 1), f"with no reader the host ended with {q.returncode}")
    finally:
        shutil.rmtree(t, ignore_errors=True)
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
