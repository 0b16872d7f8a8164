#!/usr/bin/env python3
"""Window look and window modes of bulkhead-compositor on the headless backend, checked pixel by
pixel in grim screenshots, with test-client drawing solid colours:

- every qube window has a title bar in its label colour holding text in the contrasting colour,
  and borders in the label colour;
- a popup asked for far outside its window is drawn inside the frame, with a label border; one
  that may not be moved (no constraint adjustment) is not drawn at all; a menu that fits neither
  below nor above its anchor and may be resized (as Firefox's context menus are) is configured
  no larger than it asked and drawn inside the frame;
- a subsurface wholly or partly outside its window's frame is not drawn, while one inside,
  committed at the same time, is;
- a fullscreen window (qube or host) covers its output except the panel and, below it, its
  label strip;
- with --kiosk work, only work's first window is shown, full screen; other qubes' and the host's
  windows appear nowhere, work's popup does;
- nested: a second compositor started inside the first (WAYLAND_DISPLAY set, no WLR_BACKENDS)
  shows its output as a window of the first, with its own qube's framed window in it, and hands
  its own socket, not its parent's, to its clients.
"""
import importlib.util
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77
LABELS = {"blue": 0x3465A4, "red": 0xCC0000, "green": 0x73D216}
WHITE, BLACK = 0xFFFFFF, 0x000000
BORDER, TITLE = 4, 22
PANEL = 26  # compositor/panel.h's PANEL_HEIGHT: windows stay below it

WORK_RGB = 0x8080FF
PERSONAL_RGB = 0xFFC0C0
HOST_RGB = 0xC0FFC0
POPUP_RGB = 0xFF00FF
FIXED_POPUP_RGB = 0x80FF00
MENU_POPUP_RGB = 0xFF8000
SUB_IN_RGB = 0x008080
SUB_OUT_RGB = 0x00FFFF
SUB_EDGE_RGB = 0x00FF80

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("colours", os.path.join(here, "test-colours.py"))
colours = importlib.util.module_from_spec(spec)
spec.loader.exec_module(colours)


class Compositor:
    """One compositor run: its log is read as it comes (by a thread, so that no line waits in a
    buffer), for window maps and test clients' ready lines."""

    def __init__(self, binary, runtime, args, env):
        self.env = env
        self.proc = subprocess.Popen([binary] + args, env=env, stderr=subprocess.PIPE,
                                     text=True)
        self.log, self.windows, self.ready, self.display = [], {}, 0, None
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.put(line)
        self.lines.put(None)

    def wait(self, done, what):
        deadline = time.monotonic() + 90
        while not done() and time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                break
            self.log.append(line)
            m = re.search(r"WAYLAND_DISPLAY=(\S+)", line)
            if m:
                self.display = m.group(1)
            m = re.search(r"(mapped|hidden) qube=(\S+) x=(-?\d+) y=(-?\d+) width=(\d+) "
                          r"height=(\d+)", line)
            if m:
                self.windows[m.group(2)] = (m.group(1),) + tuple(int(v) for v in m.groups()[2:])
            if "test-client ready" in line:
                self.ready += 1
        if not done():
            raise AssertionError(f"timed out waiting for {what}:\n" + "".join(self.log))

    def screenshot(self, path):
        subprocess.run(["grim", path], env=dict(self.env, WAYLAND_DISPLAY=self.display),
                       check=True, timeout=60)
        return colours.read_png(path)

    def stop(self, ck=None):
        """Stops the compositor; with ck, a dirty exit (a crash or a sanitizer report while it
        tears windows down) is a failure."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if ck and self.proc.returncode != 0:
            rest = []
            while True:
                try:
                    line = self.lines.get(timeout=5)
                except queue.Empty:
                    break
                if line is None:
                    break
                rest.append(line)
            ck.check(False, f"compositor exited with {self.proc.returncode}:\n" +
                     "".join(self.log + rest))


class Checker:
    def __init__(self):
        self.failures = 0

    def check(self, ok, message):
        if not ok:
            print("FAIL: " + message)
            self.failures += 1

    def pixel_is(self, pixel, x, y, want, what):
        got = pixel(x, y)
        self.check(got == want, f"{what}: pixel ({x},{y}) is {got:06x}, want {want:06x}")


def find_colour(width, height, pixel, rgb, step=1):
    """Bounding box (x0, y0, x1, y1) of the pixels of exactly rgb, or None."""
    box = None
    for y in range(0, height, step):
        for x in range(0, width, step):
            if pixel(x, y) == rgb:
                box = (x, y, x, y) if box is None else (
                    min(box[0], x), min(box[1], y), max(box[2], x), max(box[3], y))
    return box


def near(a, b, tolerance=0x30):
    return all(abs(((a >> s) & 0xFF) - ((b >> s) & 0xFF)) <= tolerance for s in (0, 8, 16))


def check_title_bar(ck, pixel, name, x, y, w, label_rgb, text_rgb):
    ck.pixel_is(pixel, x + 1, y + 1, label_rgb, f"{name} title bar")
    ck.pixel_is(pixel, x + w - 2, y + TITLE - 2, label_rgb, f"{name} title bar")
    row = [pixel(px, py) for py in range(y, y + TITLE) for px in range(x, x + min(w, 200))]
    text = sum(1 for p in row if near(p, text_rgb))
    other = sum(1 for p in row if not near(p, text_rgb) and p != label_rgb)
    ck.check(text >= 20, f"{name} title bar: {text} pixels of text colour {text_rgb:06x}")
    # Antialiased edges only: nothing but the label colour, the text colour and blends.
    ck.check(other < text * 3, f"{name} title bar: {other} pixels of neither colour")


def run_windows(binary, client, runtime, env, ck):
    """Two qubes side by side: title bars, borders, popups, subsurfaces."""
    work = [client, "--title", "work window", "--colour", f"{WORK_RGB:06x}", "--size", "500x300",
            # Inside, and committed together with the two that are not.
            "--subsurface", f"400,20,40,40,{SUB_IN_RGB:06x}",
            "--subsurface", f"100,320,40,40,{SUB_OUT_RGB:06x}",
            "--subsurface", f"480,100,40,40,{SUB_EDGE_RGB:06x}",
            "--popup", f"900,600,80,60,{POPUP_RGB:06x}",
            "--popup", f"1000,-400,50,50,{FIXED_POPUP_RGB:06x},fixed",
            # 200 high from y 150 of 300: it fits neither below nor above its anchor.
            "--popup", f"100,150,80,200,{MENU_POPUP_RGB:06x},menu"]
    # personal maps first, at the first cascade place, and keeps the focus; work maps second,
    # below it (no qube takes the focus from another), at the second place. personal is low
    # enough not to reach work's frame, so both frames are seen whole.
    personal = [client, "--title", "personal", "--colour", f"{PERSONAL_RGB:06x}", "--size",
                "200x12"]
    go = os.path.join(runtime, "go")
    args = ["--qube", "work:blue", "--qube", "personal:red",
            "--spawn", f"work=while [ ! -e {go} ]; do sleep 0.1; done; exec " +
            " ".join(f"'{a}'" for a in work),
            "--spawn", "personal=" + " ".join(f"'{a}'" for a in personal)]
    comp = Compositor(binary, runtime, args, env)
    try:
        comp.wait(lambda: comp.ready >= 1 and "personal" in comp.windows, "personal's window")
        open(go, "w").close()
        comp.wait(lambda: comp.ready >= 2 and "work" in comp.windows, "work's window")
        width, height, pixel = comp.screenshot(os.path.join(runtime, "windows.png"))
        for name, label, client_rgb in (("work", "blue", WORK_RGB),
                                        ("personal", "red", PERSONAL_RGB)):
            state, x, y, w, h = comp.windows[name]
            ck.check(state == "mapped", f"{name} window is {state}")
            rgb = LABELS[label]
            check_title_bar(ck, pixel, name, x, y, w, rgb, WHITE)
            # Left border below the title bar, and the client's colour inside it.
            ck.pixel_is(pixel, x + 1, y + TITLE + 5, rgb, f"{name} left border")
            ck.pixel_is(pixel, x + BORDER + 2, y + TITLE + 2, client_rgb, f"{name} content")
        state, x, y, w, h = comp.windows["work"]
        ck.check((w, h) == (500 + 2 * BORDER, 300 + TITLE + BORDER), f"work frame {w}x{h}")
        ck.pixel_is(pixel, x + w - 2, y + h // 2, LABELS["blue"], "work right border")
        ck.pixel_is(pixel, x + w // 2 + 100, y + h - 2, LABELS["blue"], "work bottom border")
        content = (x + BORDER, y + TITLE, x + BORDER + 500, y + TITLE + 300)

        # The inside subsurface shows, the two not wholly inside do not.
        box = find_colour(width, height, pixel, SUB_IN_RGB)
        ck.check(box == (content[0] + 400, content[1] + 20, content[0] + 439, content[1] + 59),
                 f"inside subsurface at {box}")
        for rgb, what in ((SUB_OUT_RGB, "subsurface outside"), (SUB_EDGE_RGB,
                                                                 "subsurface across the edge")):
            box = find_colour(width, height, pixel, rgb)
            ck.check(box is None, f"{what} drawn at {box}")
        # Where the outside one would be: the background.
        ck.check(pixel(content[0] + 120, content[1] + 340) not in (SUB_OUT_RGB, WORK_RGB),
                 "below work's frame is not the background")

        # The popup slid inside the frame, all of it, with a blue border round it.
        box = find_colour(width, height, pixel, POPUP_RGB)
        ck.check(box is not None, "popup not drawn")
        if box:
            x0, y0, x1, y1 = box
            ck.check((x1 - x0 + 1, y1 - y0 + 1) == (80, 60), f"popup size at {box}")
            ck.check(x0 >= content[0] and y0 >= content[1] and x1 < content[2] and
                     y1 < content[3], f"popup {box} outside work's content {content}")
            mx, my = (x0 + x1) // 2, (y0 + y1) // 2
            for px, py in ((x0 - 1, my), (x1 + 1, my), (mx, y0 - 1), (mx, y1 + 1),
                           (x0 - 2, y0 - 2), (x1 + 2, y1 + 2)):
                ck.pixel_is(pixel, px, py, LABELS["blue"], "popup border")
        box = find_colour(width, height, pixel, FIXED_POPUP_RGB)
        ck.check(box is None, f"immovable popup outside the frame drawn at {box}")
        # The menu, drawn at the size it was configured: shrunk, never grown, and inside.
        box = find_colour(width, height, pixel, MENU_POPUP_RGB)
        ck.check(box is not None, "menu popup not drawn")
        if box:
            x0, y0, x1, y1 = box
            ck.check(x1 - x0 + 1 <= 80 and y1 - y0 + 1 <= 200, f"menu popup grew: {box}")
            ck.check(x0 >= content[0] and y0 >= content[1] and x1 < content[2] and
                     y1 < content[3], f"menu popup {box} outside work's content {content}")
    finally:
        comp.stop(ck)


def check_fullscreen(ck, width, height, pixel, label_rgb, text_rgb, client_rgb, what):
    top = PANEL + TITLE
    check_title_bar(ck, pixel, what, 0, PANEL, width, label_rgb, text_rgb)
    ck.pixel_is(pixel, width - 1, PANEL, label_rgb, f"{what} strip")
    ck.pixel_is(pixel, width - 1, top - 1, label_rgb, f"{what} strip")
    wrong = [(x, y) for y in range(top, height, 5) for x in range(0, width, 5)
             if pixel(x, y) != client_rgb]
    wrong += [(x, y) for y in (top, height - 1) for x in (0, width - 1)
              if pixel(x, y) != client_rgb]
    ck.check(not wrong, f"{what}: {len(wrong)} sampled pixels below the strip are not the "
             f"window's colour, first {wrong[:5]}")


def run_fullscreen(binary, client, runtime, env, ck):
    work = [client, "--title", "full", "--colour", f"{WORK_RGB:06x}", "--fullscreen"]
    args = ["--qube", "work:blue", "--spawn", "work=" + " ".join(f"'{a}'" for a in work)]
    comp = Compositor(binary, runtime, args, env)
    host = None
    try:
        comp.wait(lambda: comp.ready >= 1 and "work" in comp.windows, "work's window")
        width, height, pixel = comp.screenshot(os.path.join(runtime, "fullscreen.png"))
        _, x, y, w, h = comp.windows["work"]
        ck.check((x, y, w, h) == (0, PANEL, width, height - PANEL),
                 f"fullscreen frame {(x, y, w, h)}")
        check_fullscreen(ck, width, height, pixel, LABELS["blue"], WHITE, WORK_RGB,
                         "fullscreen work")
        # A host window asks for fullscreen too, but work's window has the focus: the new one
        # goes below it (input.c's rule) and, fullscreen, must not come up over it.
        host = subprocess.Popen([client, "--title", "host", "--colour", f"{HOST_RGB:06x}",
                                 "--fullscreen"],
                                env=dict(env, WAYLAND_DISPLAY=comp.display),
                                stderr=subprocess.PIPE, text=True)
        line = host.stderr.readline()
        ck.check("test-client ready" in line, f"host client: {line!r}")
        comp.wait(lambda: "@host" in comp.windows, "the host window")
        width, height, pixel = comp.screenshot(os.path.join(runtime, "fullscreen-below.png"))
        check_fullscreen(ck, width, height, pixel, LABELS["blue"], WHITE, WORK_RGB,
                         "fullscreen work above an unfocused fullscreen host window")
    finally:
        if host:
            host.terminate()
            host.wait()
        comp.stop(ck)


def run_fullscreen_host(binary, client, runtime, env, ck):
    """A host window alone, fullscreen: white strip, dark text."""
    comp = Compositor(binary, runtime, [], env)
    host = None
    try:
        comp.wait(lambda: comp.display, "the compositor")
        host = subprocess.Popen([client, "--title", "host", "--colour", f"{HOST_RGB:06x}",
                                 "--fullscreen"],
                                env=dict(env, WAYLAND_DISPLAY=comp.display),
                                stderr=subprocess.PIPE, text=True)
        line = host.stderr.readline()
        ck.check("test-client ready" in line, f"host client: {line!r}")
        comp.wait(lambda: "@host" in comp.windows, "the host window")
        width, height, pixel = comp.screenshot(os.path.join(runtime, "fullscreen-host.png"))
        check_fullscreen(ck, width, height, pixel, WHITE, BLACK, HOST_RGB, "fullscreen host")
    finally:
        if host:
            host.terminate()
            host.wait()
        comp.stop(ck)


def run_kiosk(binary, client, runtime, env, ck):
    work = [client, "--title", "kiosk", "--colour", f"{WORK_RGB:06x}",
            "--popup", f"100,100,80,60,{POPUP_RGB:06x}"]
    personal = [client, "--title", "personal", "--colour", f"{PERSONAL_RGB:06x}"]
    args = ["--kiosk", "work", "--qube", "work:blue", "--qube", "personal:red",
            "--spawn", "work=" + " ".join(f"'{a}'" for a in work),
            "--spawn", "personal=" + " ".join(f"'{a}'" for a in personal)]
    comp = Compositor(binary, runtime, args, env)
    host = None
    try:
        comp.wait(lambda: comp.ready >= 2 and {"work", "personal"} <= set(comp.windows),
                  "both qubes' windows")
        # The host's window comes last, which would put it on top anywhere else.
        host = subprocess.Popen([client, "--title", "host", "--colour", f"{HOST_RGB:06x}"],
                                env=dict(env, WAYLAND_DISPLAY=comp.display),
                                stderr=subprocess.PIPE, text=True)
        line = host.stderr.readline()
        ck.check("test-client ready" in line, f"host client: {line!r}")
        comp.wait(lambda: "@host" in comp.windows, "the host window")
        ck.check(comp.windows["work"][0] == "mapped", f"kiosk window {comp.windows['work']}")
        ck.check(comp.windows["personal"][0] == "hidden", f"personal {comp.windows['personal']}")
        ck.check(comp.windows["@host"][0] == "hidden", f"host {comp.windows['@host']}")
        width, height, pixel = comp.screenshot(os.path.join(runtime, "kiosk.png"))
        for rgb, what in ((PERSONAL_RGB, "personal's window"), (HOST_RGB, "the host's window"),
                          (LABELS["red"], "personal's frame")):
            box = find_colour(width, height, pixel, rgb, step=2)
            ck.check(box is None, f"kiosk: {what} drawn at {box}")
        box = find_colour(width, height, pixel, POPUP_RGB)
        ck.check(box is not None and box[1] >= TITLE, f"kiosk: work's popup at {box}")
        check_title_bar(ck, pixel, "kiosk work", 0, 0, width, LABELS["blue"], WHITE)
        # Everything else below the strip is work's (its popup and the popup's border aside).
        wrong = [(x, y) for y in range(TITLE, height, 5) for x in range(0, width, 5)
                 if pixel(x, y) not in (WORK_RGB, POPUP_RGB, LABELS["blue"])]
        ck.check(not wrong, f"kiosk: {len(wrong)} sampled pixels are not work's, "
                 f"first {wrong[:5]}")
    finally:
        if host:
            host.terminate()
            host.wait()
        comp.stop(ck)


def run_nested(binary, client, runtime, env, ck):
    outer = Compositor(binary, runtime, [], env)
    inner = None
    try:
        outer.wait(lambda: outer.display, "the outer compositor")
        inner_runtime = os.path.join(runtime, "inner")
        os.mkdir(inner_runtime, 0o700)
        work = [client, "--title", "nested", "--colour", f"{WORK_RGB:06x}"]
        inner_env = dict(env, XDG_RUNTIME_DIR=inner_runtime,
                         WAYLAND_DISPLAY=os.path.join(runtime, outer.display))
        inner_env.pop("WLR_BACKENDS")
        # wlroots 0.15's Wayland backend leaks one allocation of its own at exit.
        supp = os.path.join(runtime, "lsan-inner.supp")
        with open(supp, "w") as f:
            f.write("leak:wlr_global_destroy_safe\nleak:libfontconfig.so\nleak:libwlroots.so\n")
        inner_env["LSAN_OPTIONS"] = f"suppressions={supp}"
        inner = Compositor(binary, inner_runtime,
                           ["--qube", "work:green",
                            "--spawn", "work=" + " ".join(f"'{a}'" for a in work)], inner_env)
        inner.wait(lambda: inner.ready >= 1 and "work" in inner.windows, "the nested window")
        outer.wait(lambda: "@host" in outer.windows, "the inner compositor's window")
        ck.check(os.path.exists(os.path.join(inner_runtime, inner.display)),
                 f"inner compositor's socket {inner.display} is not in its own runtime dir")
        _, ox, oy, ow, oh = outer.windows["@host"]
        _, x, y, w, h = inner.windows["work"]
        # The inner compositor draws its frame and hands it to the outer one after its client
        # is ready: wait until the outer one shows it.
        deadline = time.monotonic() + 60
        while True:
            width, height, pixel = outer.screenshot(os.path.join(runtime, "nested.png"))
            if (pixel(ox + BORDER + x + BORDER + 5, oy + TITLE + y + TITLE + 5) == WORK_RGB or
                    time.monotonic() > deadline):
                break
            time.sleep(0.5)
        # The inner output is as large as the outer one: its frame runs off the right edge.
        check_title_bar(ck, pixel, "inner compositor", ox, oy, min(ow, width - ox), WHITE,
                        BLACK)
        # The inner output's top-left corner sits inside the outer frame.
        x += ox + BORDER
        y += oy + TITLE
        check_title_bar(ck, pixel, "nested work", x, y, w, LABELS["green"], BLACK)
        ck.pixel_is(pixel, x + 1, y + TITLE + 5, LABELS["green"], "nested work left border")
        ck.pixel_is(pixel, x + BORDER + 5, y + TITLE + 5, WORK_RGB, "nested work content")
    finally:
        if inner:
            inner.stop(ck)
        outer.stop(ck)


def main():
    if os.geteuid() != 0:
        print("needs root")
        return SKIP
    if not shutil.which("grim"):
        print("grim missing")
        return SKIP
    binary, client = sys.argv[1], sys.argv[2]
    ck = Checker()
    for run in (run_windows, run_fullscreen, run_fullscreen_host, run_kiosk, run_nested):
        runtime = tempfile.mkdtemp(prefix="bh-frames-")
        os.chmod(runtime, 0o700)
        env = dict(os.environ)
        env.pop("WAYLAND_DISPLAY", None)
        env.pop("DISPLAY", None)
        env.update(XDG_RUNTIME_DIR=runtime, WLR_BACKENDS="headless", WLR_RENDERER="pixman",
                   WLR_HEADLESS_OUTPUTS="1", WLR_LIBINPUT_NO_DEVICES="1", HOME=runtime)
        # For a sanitizer build: fontconfig's caches (under pango) live until exit, and
        # wlroots 0.15 frees a destroyed output's global from a timer that never fires once
        # the display is gone. Every other leak fails the run.
        supp = os.path.join(runtime, "lsan.supp")
        with open(supp, "w") as f:
            f.write("leak:wlr_global_destroy_safe\nleak:libfontconfig.so\n")
        env["LSAN_OPTIONS"] = f"suppressions={supp}"
        try:
            before = ck.failures
            run(binary, client, runtime, env, ck)
            print(f"{run.__name__}: {ck.failures - before} failures")
        except AssertionError as e:
            print(f"FAIL: {run.__name__}: {e}")
            ck.failures += 1
        finally:
            if os.environ.get("BULKHEAD_TEST_KEEP"):
                print(f"kept {runtime}")
            else:
                shutil.rmtree(runtime, ignore_errors=True)
    return 1 if ck.failures else 0


if __name__ == "__main__":
    sys.exit(main())
