#!/usr/bin/env python3
"""Unmodified toolkit programs through a qube's Wayland proxy pair (the guest half on the host over
a socketpair, as in wayland-proxy/test-proxy.py): GTK 3's gtk3-widget-factory in qube work (blue)
must map a window listed as "[work] ...", framed in blue, with the toolkit's own light widgets
drawn inside (so its buffers crossed the link), and the proxy pair must stay up.

  test-toolkits.py COMPOSITOR PROXY"""
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time

SKIP = 77
WAIT = 120  # seconds, a limit on waiting only
BLUE = 0x3465A4
here = os.path.dirname(os.path.abspath(__file__))


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    if os.geteuid() != 0:
        print("needs root")
        return SKIP
    compositor, proxy = sys.argv[1], sys.argv[2]
    for f in (compositor, proxy):
        if not os.access(f, os.X_OK):
            print(f"{f} not built")
            return SKIP
    for tool in ("gtk3-widget-factory", "grim"):
        if not shutil.which(tool):
            print(f"{tool} missing")
            return SKIP
    pair = load("pair", os.path.join(here, "..", "..", "wayland-proxy", "test-proxy.py"))
    comp = pair.control.Compositor(compositor)
    tmp = tempfile.mkdtemp(prefix="bh-toolkits-")
    qube = None
    failures = []
    try:
        qube = pair.Qube(comp, proxy, "work", "blue", tmp)
        env = dict(os.environ, GDK_BACKEND="wayland", NO_AT_BRIDGE="1", GTK_A11Y="none")
        app = qube.run(env, ["gtk3-widget-factory"])
        win = None
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and win is None:
            first, lines, _ = comp.request("windows")
            for line in lines:
                f = line.split("\t")
                if f[1] == "work" and "gtk3-widget-factory" in f[2]:
                    win = f
            if app.poll() is not None:
                break
            time.sleep(1)
        if win is None:
            print("no GTK window appeared:\n" + qube.logs())
            return 1
        title, x, y, w, h = win[2], int(win[3]), int(win[4]), int(win[5]), int(win[6])
        if not title.startswith("[work] "):
            failures.append(f"title '{title}'")
        time.sleep(3)  # its first full frame
        shot = os.path.join(tmp, "shot.png")
        subprocess.run(["grim", shot], env=dict(comp.env, WAYLAND_DISPLAY=comp.display),
                       check=True, timeout=WAIT)
        width, height, pixel = pair.colours.read_png(shot)
        for px, py in ((x + 1, y + 1), (x + 2, y + 11), (x + 1, min(y + h, height) - 2)):
            if pixel(px, py) != BLUE:
                failures.append(f"frame pixel ({px},{py}) is {pixel(px, py):06x}, not blue")
        # GTK's default theme paints light widget backgrounds; black or nothing means no pixels
        # crossed the link.
        light = 0
        for py in range(y + 40, min(y + h, height) - 10, 20):
            for px in range(x + 40, min(x + w, width) - 10, 20):
                p = pixel(px, py)
                if ((p >> 16) & 255) > 200 and ((p >> 8) & 255) > 200 and (p & 255) > 200:
                    light += 1
        if light < 20:
            failures.append(f"only {light} light pixels inside the GTK window")
        for half in (qube.host, qube.guest):
            if half.poll() is not None:
                failures.append(f"a proxy half exited ({half.returncode}):\n{qube.logs()}")
    finally:
        if qube:
            qube.close()
        comp.close()
        shutil.rmtree(tmp, ignore_errors=True)
    for f in failures:
        print("FAIL:", f)
    print(f"toolkits: {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
