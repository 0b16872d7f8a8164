#!/usr/bin/env python3
"""launcher.sh's helper: reads the launcher's state from bulkhead-compositor's control socket
(`launcher`, compositor/control.h) and checks a screenshot's pixels in a launcher row.

  launcher-helper.py entry CTL QUBE ID SECONDS  until the open launcher lists QUBE's app ID;
                                                prints its line (QUBE ID NAME SELECTED X Y W H)
  launcher-helper.py status CTL TEXT SECONDS    until the open launcher's status has TEXT;
                                                prints it
  launcher-helper.py closed CTL SECONDS         until the launcher is closed
  launcher-helper.py check CTL N ROWS CHARS      the open launcher lists N entries, draws ROWS
                                                of them, the selected one among them, and no
                                                name is longer than CHARS characters
  launcher-helper.py row PNG X Y W H RGB ICON   the row X,Y W x H has colour RGB (hex) at its
                                                edges, and its icon (the PNG's solid colour
                                                ICON) drawn inside the frame
"""
import importlib.util
import os
import socket
import sys
import time

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
ICON_FRAME, ICON = 4, 32  # compositor/launcher.c


def state(ctl):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(ctl)
        s.sendall(b"launcher\n")
        data = b""
        while True:
            lines = data.split(b"\n")
            if lines[0].startswith(b"error"):
                raise RuntimeError(lines[0].decode())
            if len(lines) > 2 and lines[0].startswith(b"ok "):
                n = int(lines[0].split()[2])
                if len(lines) > n + 2:
                    break
            chunk = s.recv(65536)
            if not chunk:
                raise RuntimeError("control socket closed early")
            data += chunk
    first = lines[0].decode().split()
    _, _, status = lines[1].decode().partition("\t")
    entries = [l.decode().split("\t") for l in lines[2:2 + int(first[2])]]
    return first[1] == "1", status, entries


def poll(ctl, seconds, pred):
    deadline = time.monotonic() + seconds
    last = None
    while True:
        try:
            last = state(ctl)
            found = pred(*last)
        except (OSError, RuntimeError) as e:
            found, last = None, e
        if found is not None:
            return found, last
        if time.monotonic() > deadline:
            return None, last
        time.sleep(0.1)


def main():
    cmd = sys.argv[1]
    if cmd == "entry":
        ctl, qube, app, seconds = sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
        found, last = poll(ctl, seconds, lambda o, st, es: next(
            (e for e in es if o and e[0] == qube and e[1] == app and int(e[6]) > 0), None))
        if found is None:
            print(f"the launcher does not show {qube}'s {app}: {last}")
            return 1
        print("\t".join(found))
        return 0
    if cmd == "status":
        ctl, text, seconds = sys.argv[2], sys.argv[3], float(sys.argv[4])
        found, last = poll(ctl, seconds, lambda o, st, es: st if o and text in st else None)
        if found is None:
            print(f"the launcher never said {text!r}: {last}")
            return 1
        print(found)
        return 0
    if cmd == "closed":
        ctl, seconds = sys.argv[2], float(sys.argv[3])
        found, last = poll(ctl, seconds, lambda o, st, es: True if not o else None)
        if found is None:
            print(f"the launcher is still open: {last}")
            return 1
        return 0
    if cmd == "check":
        ctl, n, rows, chars = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        is_open, status, es = state(ctl)
        drawn = [e for e in es if int(e[6]) > 0]
        problems = []
        if not is_open or len(es) != n:
            problems.append(f"open {is_open}, {len(es)} entries, want {n}")
        if len(drawn) != rows:
            problems.append(f"{len(drawn)} rows drawn, want {rows}")
        if not any(e[3] == "1" for e in drawn):
            problems.append("the selected entry is not drawn")
        long = [e[2] for e in es if len(e[2]) > chars]
        if long:
            problems.append(f"names over {chars} characters: {long[:2]}")
        for p in problems:
            print(p)
        return 1 if problems else 0
    if cmd == "row":
        spec = importlib.util.spec_from_file_location(
            "test_colours", os.path.join(SRC, "compositor", "test-colours.py"))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        x, y, w, h = (int(v) for v in sys.argv[3:7])
        want, icon = int(sys.argv[7], 16), int(sys.argv[8], 16)
        _, _, pixel = mod.read_png(sys.argv[2])
        iy = y + (h - ICON) // 2
        points = {
            "row's left edge": (x + 1, y + h // 2, want),
            "row's top right": (x + w - 2, y + 1, want),
            "row's bottom": (x + w // 2, y + h - 2, want),
            "icon frame": (x + ICON_FRAME // 2, iy + ICON // 2, want),
            "icon": (x + ICON_FRAME + ICON // 2, iy + ICON // 2, icon),
        }
        bad = 0
        for what, (px, py, rgb) in points.items():
            got = pixel(px, py)
            if got != rgb:
                print(f"{what} pixel ({px},{py}) is {got:06x}, want {rgb:06x}")
                bad += 1
        return 1 if bad else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
