#!/usr/bin/env python3
"""panel.sh's helper: asks bulkhead-compositor's control socket for the panel's chips and menu,
and checks a chip's pixels in a screenshot (with the PNG reader of compositor/test-colours.py).

  panel-helper.py chip CTL QUBE STATE SECONDS  until QUBE's chip shows STATE; prints its line
                                               "QUBE LABEL STATE MEMORY X Y W H" (tabs)
  panel-helper.py nochip CTL QUBE SECONDS      until QUBE has no chip
  panel-helper.py menu CTL ITEM SECONDS        until the open menu has ITEM; prints its centre
                                               "X Y"
  panel-helper.py closed CTL                   the menu is closed
  panel-helper.py pixels PNG X Y W H RGB       the chip X,Y W x H is colour RGB (hex) at its
                                               corners and left edge
  panel-helper.py mic PNG X Y W H RGB yes|no   the chip has (or has not) the microphone mark
                                               (panel.c, draw_mic): at its right end, a patch
                                               of the panel's grey with a mark in RGB on it
"""
import importlib.util
import os
import socket
import sys
import time

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def ask(ctl, request):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(ctl)
        s.sendall(request.encode() + b"\n")
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


def poll(ctl, request, seconds, pred):
    deadline = time.monotonic() + seconds
    while True:
        found = pred(ask(ctl, request))
        if found is not None or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def main():
    cmd = sys.argv[1]
    if cmd == "chip":
        ctl, qube, state, seconds = sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
        c = poll(ctl, "panel", seconds,
                 lambda cs: next((c for c in cs if c[0] == qube and c[2] == state), None))
        if c is None:
            print(f"no chip of {qube} in state {state}; panel: {ask(ctl, 'panel')}")
            return 1
        print("\t".join(c))
        return 0
    if cmd == "nochip":
        ctl, qube, seconds = sys.argv[2], sys.argv[3], float(sys.argv[4])
        ok = poll(ctl, "panel", seconds,
                  lambda cs: True if all(c[0] != qube for c in cs) else None)
        if ok is None:
            print(f"{qube} still has a chip: {ask(ctl, 'panel')}")
            return 1
        return 0
    if cmd == "menu":
        ctl, item, seconds = sys.argv[2], sys.argv[3], float(sys.argv[4])
        m = poll(ctl, "panel-menu", seconds, lambda ms: next((m for m in ms if m[0] == item),
                                                             None))
        if m is None:
            print(f"no menu item {item!r}; menu: {ask(ctl, 'panel-menu')}")
            return 1
        x, y, w, h = (int(v) for v in m[1:5])
        print(f"{x + w // 2} {y + h // 2}")
        return 0
    if cmd == "closed":
        items = ask(sys.argv[2], "panel-menu")
        if items:
            print(f"the menu is open: {items}")
            return 1
        return 0
    if cmd == "pixels":
        spec = importlib.util.spec_from_file_location(
            "test_colours", os.path.join(SRC, "compositor", "test-colours.py"))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        x, y, w, h = (int(v) for v in sys.argv[3:7])
        want = int(sys.argv[7], 16)
        _, _, pixel = mod.read_png(sys.argv[2])
        points = [(x + 1, y + 1), (x + w - 2, y + 1), (x + 2, y + h // 2), (x + w - 2, y + h - 5)]
        bad = [(px, py, pixel(px, py)) for px, py in points if pixel(px, py) != want]
        for px, py, got in bad:
            print(f"chip pixel ({px},{py}) is {got:06x}, want {want:06x}")
        return 1 if bad else 0
    if cmd == "mic":
        spec = importlib.util.spec_from_file_location(
            "test_colours", os.path.join(SRC, "compositor", "test-colours.py"))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        x, y, w, h = (int(v) for v in sys.argv[3:7])
        want, expect = int(sys.argv[7], 16), sys.argv[8] == "yes"
        _, _, pixel = mod.read_png(sys.argv[2])
        # panel.c: PANEL_CHIP_PADDING 8, MIC_MARK_WIDTH 14, 3 px above and below; PANEL_BG.
        area = [(px, py) for px in range(x + w - 8 - 14, x + w - 8)
                for py in range(y + 3, y + h - 3)]
        grey = sum(1 for p in area if pixel(*p) == 0x1e1e1e)
        mark = sum(1 for p in area if pixel(*p) == want)
        has = grey >= 20 and mark >= 10
        if has != expect:
            print(f"microphone mark {'missing' if expect else 'shown'}: {grey} grey and {mark}"
                  f" {want:06x} pixels at the chip's end")
            return 1
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
