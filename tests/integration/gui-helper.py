#!/usr/bin/env python3
"""gui.sh's helper: asks bulkhead-compositor's control socket for its windows, and checks a
screenshot's frame pixels (with the PNG reader of compositor/test-colours.py).

  gui-helper.py wait CTL QUBE TITLE SECONDS   until a window of QUBE has TITLE; prints its line
  gui-helper.py wait-in CTL QUBE TEXT SECONDS until a window of QUBE has TEXT in its title;
                                              prints its line
  gui-helper.py gone CTL QUBE SECONDS         until QUBE has no window
  gui-helper.py send CTL REQUEST...           sends each request (e.g. "key q", "pointer X Y
                                              right"); fails unless each is answered "ok"
  gui-helper.py frame PNG X Y W H RGB         the window frame X,Y W x H (as `windows` lists
                                              it) has colour RGB (hex) on its title bar corner
                                              and all three borders
"""
import importlib.util
import os
import socket
import sys
import time

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
TITLE = 22  # compositor/server.h: TITLE_HEIGHT


def windows(ctl):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(ctl)
        s.sendall(b"windows\n")
        data = b""
        while True:
            lines = data.split(b"\n")
            if lines[0].startswith(b"ok ") and len(lines) > int(lines[0][3:]) + 1:
                break
            if lines[0].startswith(b"error"):
                raise RuntimeError(lines[0].decode())
            chunk = s.recv(65536)
            if not chunk:
                raise RuntimeError("control socket closed early")
            data += chunk
    count = int(lines[0][3:])
    return [line.decode().split("\t") for line in lines[1:1 + count]]


def poll(ctl, seconds, pred):
    deadline = time.monotonic() + seconds
    while True:
        try:
            found = pred(windows(ctl))
        except (OSError, RuntimeError) as e:
            found = None
            last = e
        else:
            last = None
        if found is not None:
            return found
        if time.monotonic() > deadline:
            if last:
                print(f"gui-helper: {last}", file=sys.stderr)
            return None
        time.sleep(1)


def main():
    cmd = sys.argv[1]
    if cmd in ("wait", "wait-in"):
        ctl, qube, title, seconds = sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
        exact = cmd == "wait"
        w = poll(ctl, seconds,
                 lambda ws: next((x for x in ws if x[1] == qube and
                                  (x[2] == title if exact else title in x[2])), None))
        if w is None:
            print(f"no window of {qube} titled {title!r}; windows: {windows(ctl)}")
            return 1
        print("\t".join(w))
        return 0
    if cmd == "gone":
        ctl, qube, seconds = sys.argv[2], sys.argv[3], float(sys.argv[4])
        ok = poll(ctl, seconds, lambda ws: True if all(x[1] != qube for x in ws) else None)
        if ok is None:
            print(f"{qube} still has windows: {windows(ctl)}")
            return 1
        return 0
    if cmd == "send":
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(30)
            s.connect(sys.argv[2])
            f = s.makefile("rb")
            for request in sys.argv[3:]:
                s.sendall(request.encode() + b"\n")
                answer = f.readline().decode().strip()
                if answer != "ok":
                    print(f"{request}: {answer or 'no answer'}")
                    return 1
        return 0
    if cmd == "frame":
        spec = importlib.util.spec_from_file_location(
            "test_colours", os.path.join(SRC, "compositor", "test-colours.py"))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        x, y, w, h = (int(v) for v in sys.argv[3:7])
        want = int(sys.argv[7], 16)
        _, _, pixel = mod.read_png(sys.argv[2])
        middle = y + TITLE + (h - TITLE) // 2
        points = {
            "title bar corner": (x + 1, y + 1),
            "left border": (x + 1, middle),
            "right border": (x + w - 2, middle),
            "bottom border": (x + w // 2, y + h - 2),
        }
        bad = 0
        for what, (px, py) in points.items():
            got = pixel(px, py)
            if got != want:
                print(f"{what} pixel ({px},{py}) is {got:06x}, want {want:06x}")
                bad += 1
        return 1 if bad else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
