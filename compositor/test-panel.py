#!/usr/bin/env python3
"""The panel of a headless bulkhead-compositor, the parts that need no qube (no bulkheadd runs:
$BULKHEAD_SOCKET names nothing, so the panel shows no chips), checked in grim screenshots and
through the control socket:
- the panel strip is drawn at the top of the output, the clock's text at its right end;
- the focused window's qube is shown in its label colour (a qube connected through `connect`),
  in white for a host window;
- a host window (test-client) asking for fullscreen is placed below the panel, and the panel's
  pixels stay intact above it; so is a maximized one, which fills the output below the panel;
- a window dragged up under the panel stays under it, and a click on the panel there does not
  reach it (the focus stays where it was), while a click on its visible part does;
- a window under the panel (test-client --log-pointer) gets no button event from a click on the
  panel over it: the first button event it sees is the one of a click below the panel;
- `panel` answers "ok 0" and `panel-menu` "ok 0";
- with --kiosk there is no panel: the kiosk window keeps the whole output."""
import importlib.util
import os
import shutil
import subprocess
import sys

SKIP = 77
PANEL = 26  # panel.h's PANEL_HEIGHT
PANEL_BG = 0x1E1E1E
CLOCK_WIDTH, FOCUS_WIDTH = 64, 180
BLUE, WHITE = 0x3465A4, 0xFFFFFF
HOST_RGB = 0xC0FFC0

here = os.path.dirname(os.path.abspath(__file__))


def load(name, file):
    spec = importlib.util.spec_from_file_location(name, os.path.join(here, file))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


tc = load("test_control", "test-control.py")
colours = load("colours", "test-colours.py")


def screenshot(comp, name):
    path = os.path.join(comp.runtime, name)
    subprocess.run(["grim", path], env=dict(comp.env, WAYLAND_DISPLAY=comp.display),
                   check=True, timeout=60)
    return colours.read_png(path)


def near(a, b, tolerance=0x30):
    return all(abs(((a >> s) & 0xFF) - ((b >> s) & 0xFF)) <= tolerance for s in (0, 8, 16))


def check_panel(check, width, pixel, what):
    """The strip's top and bottom rows are the panel's background all along (nothing drawn
    over them), and its chip area (empty here) is background all through."""
    wrong = [(x, y) for y in (0, 1, PANEL - 1) for x in range(0, width, 3)
             if pixel(x, y) != PANEL_BG]
    chips_end = width - CLOCK_WIDTH - FOCUS_WIDTH
    wrong += [(x, y) for y in range(0, PANEL, 2) for x in range(0, chips_end, 7)
              if pixel(x, y) != PANEL_BG]
    check(not wrong, f"{what}: {len(wrong)} panel pixels are not the panel's, first {wrong[:5]}")
    clock = [pixel(x, y) for y in range(PANEL) for x in range(width - CLOCK_WIDTH, width)]
    text = sum(1 for p in clock if near(p, WHITE))
    check(text >= 20, f"{what}: the clock area has {text} pixels of text")


def focus_pixels(width, pixel, rgb):
    x0 = width - CLOCK_WIDTH - FOCUS_WIDTH
    return sum(1 for y in range(PANEL) for x in range(x0, x0 + 40) if pixel(x, y) == rgb)


def run_panel(binary, client, failures):
    comp = tc.Compositor(binary)
    check = lambda cond, msg: tc.check(failures, cond, msg)  # noqa: E731
    host = None
    try:
        env = dict(comp.env, WAYLAND_DISPLAY=comp.display)
        first, lines, _ = comp.request("panel")
        check(first == "ok 0" and not lines, f"panel without bulkheadd: {first} {lines}")
        first, lines, _ = comp.request("panel-menu")
        check(first == "ok 0", f"panel-menu with no menu: {first}")

        width, height, pixel = screenshot(comp, "empty.png")
        check_panel(check, width, pixel, "no window")

        # A qube's window (foot on a connection of qube work, label blue) gets the focus: the
        # panel shows work in blue.
        comp.foot("work", "blue", "a")
        comp.wait_windows(lambda ws: any(w["title"] == "[work] a" and w["focused"] for w in ws),
                          "work's window, focused")
        work = comp.window("[work] a")
        check(work["y"] >= PANEL, f"work's window placed at y {work['y']}, under the panel")
        width, height, pixel = screenshot(comp, "work.png")
        check_panel(check, width, pixel, "work focused")
        n = focus_pixels(width, pixel, BLUE)
        check(n >= 50, f"work focused: {n} blue pixels in the panel's focus area")

        # A host window asking for fullscreen: placed below the panel, which stays intact. It
        # maps below work's focused window; a click on it gives it the focus.
        host = subprocess.Popen([client, "--title", "host", "--colour", f"{HOST_RGB:06x}",
                                 "--fullscreen"], env=env, stderr=subprocess.PIPE, text=True)
        line = host.stderr.readline()
        check("test-client ready" in line, f"host client: {line!r}")
        ws = comp.wait_windows(lambda ws: any(w["title"] == "host" for w in ws),
                               "the host window")
        full = next(w for w in ws if w["title"] == "host")
        check((full["x"], full["y"], full["w"], full["h"]) == (0, PANEL, width, height - PANEL),
              f"fullscreen host window at {full}, want (0, {PANEL}, {width}, {height - PANEL})")
        first, _, _ = comp.request(f"pointer {width // 2} {height - 5} left")
        check(first == "ok", f"click on the host window: {first}")
        comp.wait_windows(lambda ws: any(w["title"] == "host" and w["focused"] for w in ws),
                          "the host window, focused")
        width, height, pixel = screenshot(comp, "fullscreen.png")
        check_panel(check, width, pixel, "fullscreen host window")
        n = focus_pixels(width, pixel, WHITE)
        check(n >= 50, f"host focused: {n} white pixels in the panel's focus area")
        body = [(x, y) for y in range(PANEL + 22, height, 9) for x in range(0, width, 9)
                if pixel(x, y) != HOST_RGB]
        check(not body, f"fullscreen host window: {len(body)} pixels below its strip are not "
              f"its colour, first {body[:5]}")

        # Clicks on the panel reach no client: drag work's window up under the panel (its
        # title bar is the compositor's, so Super+drag), then click the panel over it.
        host.terminate()
        host.wait()
        host = None
        comp.wait_windows(lambda ws: all(w["title"] != "host" for w in ws), "host window gone")
        work = comp.window("[work] a")
        x, y = work["x"] + 50, work["y"] + 40
        # Up under the panel and right, clear of where the next window is placed.
        x2, y2 = x + 500, y - work["y"] - 10
        for req in (f"pointer {x} {y} super+left-down", f"pointer {x2} {y2}",
                    f"pointer {x2} {y2} left-up"):
            first, _, _ = comp.request(req)
            check(first == "ok", f"{req}: {first}")
        work = comp.window("[work] a")
        check(work["y"] < PANEL // 2, f"work's window was not dragged under the panel: {work}")
        # The host takes the focus from it with a second host window, away from the panel.
        host = subprocess.Popen([client, "--title", "host2", "--colour", f"{HOST_RGB:06x}",
                                 "--size", "100x100"], env=env, stderr=subprocess.PIPE,
                                text=True)
        line = host.stderr.readline()
        check("test-client ready" in line, f"second host client: {line!r}")
        h2 = comp.wait_windows(lambda ws: any(w["title"] == "host2" for w in ws), "host2")
        h2 = next(w for w in h2 if w["title"] == "host2")
        first, _, _ = comp.request(f"pointer {h2['x'] + 50} {h2['y'] + 60} left")
        comp.wait_windows(lambda ws: any(w["title"] == "host2" and w["focused"] for w in ws),
                          "host2 focused")
        work = comp.window("[work] a")
        px, py = work["x"] + 100, PANEL // 2
        check(work["x"] <= px < work["x"] + work["w"] and work["y"] <= py,
              f"work's window {work} is not under the panel at {px},{py}")
        first, _, _ = comp.request(f"pointer {px} {py} left")
        check(first == "ok", f"click on the panel: {first}")
        ws = comp.windows()
        check(any(w["title"] == "host2" and w["focused"] for w in ws),
              f"a click on the panel over work's window reached it: {ws}")
        # The pointer's image is drawn too: out of the way first.
        comp.request(f"pointer {px} {height - 5}")
        width, height, pixel = screenshot(comp, "over.png")
        check_panel(check, width, pixel, "work's window under the panel")
        first, _, _ = comp.request(f"pointer {px} {PANEL + 30} left")
        comp.wait_windows(lambda ws: any(w["title"] == "[work] a" and w["focused"] for w in ws),
                          "work focused by a click below the panel")
    finally:
        if host:
            host.terminate()
            host.wait()
        comp.close()
        report = comp.sanitizer_report()
        check(report is None, f"sanitizer: {report}")


def run_clicks(binary, client, failures):
    comp = tc.Compositor(binary)
    check = lambda cond, msg: tc.check(failures, cond, msg)  # noqa: E731
    host = None
    try:
        host = subprocess.Popen([client, "--title", "clicks", "--colour", f"{HOST_RGB:06x}",
                                 "--size", "400x300", "--log-pointer"],
                                env=dict(comp.env, WAYLAND_DISPLAY=comp.display),
                                stderr=subprocess.PIPE, text=True)
        line = host.stderr.readline()
        check("test-client ready" in line, f"clicks client: {line!r}")
        win = comp.wait_windows(lambda ws: any(w["title"] == "clicks" for w in ws), "clicks")
        win = next(w for w in win if w["title"] == "clicks")
        # Super+drag it up so that its top part is under the panel (Super: no button event).
        x, y = win["x"] + 100, win["y"] + 100
        x2, y2 = x, y - win["y"] - 60
        for req in (f"pointer {x} {y} super+left-down", f"pointer {x2} {y2}",
                    f"pointer {x2} {y2} super+left-up"):
            first, _, _ = comp.request(req)
            check(first == "ok", f"{req}: {first}")
        win = comp.window("clicks")
        top = win["y"] + 22  # its surface's top (below the title bar)
        check(top < 0, f"the window's surface does not reach under the panel: {win}")
        px = win["x"] + 4 + 50
        # On the panel, over the window's surface: nothing for the client.
        first, _, _ = comp.request(f"pointer {px} {PANEL // 2} left")
        check(first == "ok", f"click on the panel: {first}")
        # Below the panel, on the window: its first button events are this click's.
        first, _, _ = comp.request(f"pointer {px} {PANEL + 40} left")
        check(first == "ok", f"click on the window: {first}")
        want = f"test-client button 50 {PANEL + 40 - top} 1"
        line = host.stderr.readline().strip()
        check(line == want, f"first button event {line!r}, want {want!r} (the panel's click "
              "reached the window?)")
    finally:
        if host:
            host.terminate()
            host.wait()
        comp.close()


def run_maximized(binary, client, failures):
    comp = tc.Compositor(binary)
    check = lambda cond, msg: tc.check(failures, cond, msg)  # noqa: E731
    host = None
    try:
        host = subprocess.Popen([client, "--title", "max", "--colour", f"{HOST_RGB:06x}",
                                 "--maximized"], env=dict(comp.env, WAYLAND_DISPLAY=comp.display),
                                stderr=subprocess.PIPE, text=True)
        line = host.stderr.readline()
        check("test-client ready" in line, f"maximized client: {line!r}")
        ws = comp.wait_windows(lambda ws: any(w["title"] == "max" for w in ws), "max")
        width, height, pixel = screenshot(comp, "maximized.png")
        m = next(w for w in ws if w["title"] == "max")
        check((m["x"], m["y"], m["w"], m["h"]) == (0, PANEL, width, height - PANEL),
              f"maximized window at {m}, want (0, {PANEL}, {width}, {height - PANEL})")
        check_panel(check, width, pixel, "maximized host window")
        check(pixel(width // 2, height - 10) == HOST_RGB, "the maximized window's content")
    finally:
        if host:
            host.terminate()
            host.wait()
        comp.close()


def run_kiosk(binary, client, failures):
    comp = tc.Compositor(binary, ["--kiosk", "work"])
    check = lambda cond, msg: tc.check(failures, cond, msg)  # noqa: E731
    try:
        first, lines, _ = comp.request("panel")
        check(first == "ok 0", f"kiosk: panel: {first}")
        comp.foot("work", "blue", "k")
        ws = comp.wait_windows(lambda ws: any(w["title"] == "[work] k" for w in ws),
                               "the kiosk window")
        k = next(w for w in ws if w["title"] == "[work] k")
        width, height, pixel = screenshot(comp, "kiosk.png")
        check((k["x"], k["y"], k["w"], k["h"]) == (0, 0, width, height),
              f"kiosk window at {k}, want the whole output")
        top = [(x, 1) for x in range(0, width, 5) if pixel(x, 1) != BLUE]
        check(not top, f"kiosk: top row is not the kiosk window's strip: {top[:5]}")
    finally:
        comp.close()


def main():
    if os.geteuid() != 0:
        print("needs root")
        return SKIP
    for tool in ("grim", "foot"):
        if not shutil.which(tool):
            print(f"{tool} missing")
            return SKIP
    binary, client = sys.argv[1], sys.argv[2]
    # No bulkheadd: the panel shows no chips, and a bulkheadd of the host is not asked.
    os.environ["BULKHEAD_SOCKET"] = "/nonexistent/bulkhead-test-panel.sock"
    failures = []
    for run in (run_panel, run_clicks, run_maximized, run_kiosk):
        before = len(failures)
        try:
            run(binary, client, failures)
        except Exception as e:  # noqa: BLE001
            failures.append(f"{run.__name__}: {e}")
            print(f"FAIL: {run.__name__}: {e}")
        print(f"{run.__name__}: {len(failures) - before} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
