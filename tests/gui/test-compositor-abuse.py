#!/usr/bin/env python3
"""A hostile qube against the compositor itself (headless, pixman), one part per argument:

qube-table  300 qubes with fresh names (disposables) each connect, show a window and go; a
            new qube still gets its window, framed in its label's colour.
prompt      a question bulkheadd relays (this test speaks bulkheadd's side of the prompt's
            API connection) ignores Enter pressed at once, takes it after the input delay;
            a flood of questions from one qube is denied beyond the cap, and after Escape the
            user types into a window again.
cursor      a qube's cursor image shows only over its own window: over another qube's window,
            over a title bar or the background the compositor's own cursor is drawn, and an
            oversized image is never drawn.
popup-grab  xdg_popup.grab with a serial the qube was never given is refused; after a real
            grab ends, focusing another qube offers it nothing of the first qube's
            selection; and a click on another window during a grab moves the focus there.

Usage: test-compositor-abuse.py PART COMPOSITOR [CLIPBOARD-CLIENT]"""
import importlib.util
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import wlraw  # noqa: E402

SKIP = 77
WAIT = 60  # seconds; only ever a limit on waiting, never an assertion about speed
BORDER, TITLE = 4, 22
LABELS = {"red": 0xCC0000, "green": 0x73D216, "blue": 0x3465A4, "orange": 0xF57900}


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


control = load("control", os.path.join(here, "..", "..", "compositor", "test-control.py"))
colours = load("colours", os.path.join(here, "..", "..", "compositor", "test-colours.py"))
check = control.check


def qube_conn(comp, qube, label):
    """A raw Wayland connection belonging to qube."""
    fd = comp.connect(qube, label)
    c = wlraw.Connection(sock=socket.socket(fileno=fd))
    c.registry()
    return c


def screenshot(comp, tmp, name="shot.png"):
    path = os.path.join(tmp, name)
    subprocess.run(["grim", path], env=dict(comp.env, WAYLAND_DISPLAY=comp.display),
                   check=True, timeout=WAIT, stdout=subprocess.DEVNULL)
    return colours.read_png(path)


def wait_shot(comp, tmp, pred, what):
    """Screenshots until pred(width, height, pixel) holds (frames reach the output when they
    do); the last one is returned either way, with whether pred held."""
    deadline = time.monotonic() + WAIT
    while True:
        shot = screenshot(comp, tmp)
        if pred(*shot):
            return True, shot
        if time.monotonic() > deadline:
            print(f"gave up waiting for {what}")
            return False, shot
        time.sleep(0.2)


def window_of(comp, qube, title):
    for w in comp.windows():
        if w["qube"] == qube and w["title"] == f"[{qube}] {title}":
            return w
    return None


def wait_window(comp, qube, title):
    comp.wait_windows(lambda ws: any(w["qube"] == qube and w["title"] == f"[{qube}] {title}"
                                     for w in ws), f"{qube}'s window {title}")
    return window_of(comp, qube, title)


def frame_points(w):
    """Points of a window's frame: title bar corners and the borders' middles."""
    x, y, fw, fh = w["x"], w["y"], w["w"], w["h"]
    return [(x + 1, y + 1), (x + fw - 2, y + 1), (x + 1, y + fh // 2),
            (x + fw - 2, y + fh // 2), (x + fw // 2, y + fh - 2)]


# ---- qube-table ----

def part_qube_table(comp, tmp, failures, extra):
    n = 300
    for i in range(n):
        qube, title = f"disp{i}", f"d{i}"
        try:
            c = qube_conn(comp, qube, "red")
        except RuntimeError as e:
            check(failures, False, f"qube number {i + 1} with a fresh name refused: {e}")
            return
        wlraw.Window(c, title, 120, 80, 0x202020)
        wait_window(comp, qube, title)
        c.close()
        comp.wait_windows(lambda ws: not any(w["qube"] == qube for w in ws),
                          f"{qube}'s window to go")
    # A qube after all of them: its window, framed in its own colour.
    c = qube_conn(comp, "fresh", "green")
    wlraw.Window(c, "fresh window", 300, 200, 0x202020)
    w = wait_window(comp, "fresh", "fresh window")
    ok, (_, _, pixel) = wait_shot(
        comp, tmp, lambda wd, ht, px: all(px(x, y) == LABELS["green"]
                                          for x, y in frame_points(w)), "fresh's frame")
    for x, y in frame_points(w):
        check(failures, pixel(x, y) == LABELS["green"],
              f"fresh's frame at ({x},{y}) is {pixel(x, y):06x}, not green")
    # A name that was forgotten comes back like a new one, with whatever label it has now.
    c2 = qube_conn(comp, "disp0", "orange")
    wlraw.Window(c2, "again", 120, 80, 0x202020)
    wait_window(comp, "disp0", "again")
    c2.close()
    c.close()


PARTS = {
    "qube-table": part_qube_table,
}


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in PARTS:
        print(__doc__, file=sys.stderr)
        return 2
    part, compositor, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
    if not os.access(compositor, os.X_OK):
        print(f"{compositor} not built")
        return SKIP
    if not shutil.which("grim"):
        print("grim missing")
        return SKIP
    if not hasattr(socket, "send_fds"):
        print("python too old for socket.send_fds")
        return SKIP
    tmp = tempfile.mkdtemp(prefix="bh-abuse-")
    failures = []
    comp = None
    try:
        comp = control.Compositor(compositor, env_extra=prepare_env(part, tmp)) \
            if part in ENV_PARTS else control.Compositor(compositor)
        PARTS[part](comp, tmp, failures, extra)
        check(failures, comp.alive(), "the compositor died")
    except (RuntimeError, TimeoutError, wlraw.Closed, AssertionError, KeyError) as e:
        check(failures, False, f"{type(e).__name__}: {e}")
    finally:
        if comp:
            alive = comp.alive()
            comp.close()
            report = comp.sanitizer_report()
            check(failures, report is None, f"sanitizer: {report}")
            check(failures, not alive or comp.proc.returncode == 0,
                  f"the compositor exited with {comp.proc.returncode} after SIGTERM")
            if failures:
                print("--- compositor log (end)\n" + "".join(comp.log[-80:]))
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{part}: {len(failures)} failures")
    return 1 if failures else 0


ENV_PARTS = set()


def prepare_env(part, tmp):
    return {}


if __name__ == "__main__":
    sys.exit(main())
