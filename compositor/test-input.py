#!/usr/bin/env python3
"""Input on a headless bulkhead-compositor, driven through the control socket's virtual keyboard
and pointer. Two qubes each run foot with `cat > FILE`, so what each window receives ends up in
its file:
- qube personal's new window does not take focus from qube work's focused window;
- typed keys reach only the focused window; a click moves focus, Alt+Tab cycles it, and neither
  the Tab nor any other bound key reaches a client;
- Super+left-drag moves a window, Super+right-drag resizes it;
- Alt+F4 and Super+Shift+Q close the focused window (its foot exits), the other one stays;
- in kiosk mode neither closes the kiosk window: the keys reach it like any other."""
import importlib.util
import os
import shutil
import sys
import time

SKIP = 77
WAIT = 60

spec = importlib.util.spec_from_file_location(
    "test_control", os.path.join(os.path.dirname(os.path.abspath(__file__)), "test-control.py"))
tc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tc)


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


def wait_for(pred, what):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    print(f"timed out waiting for {what}")
    return False


def main():
    if os.geteuid() != 0:
        print("needs root")
        return SKIP
    if not shutil.which("foot"):
        print("foot missing")
        return SKIP
    comp = tc.Compositor(sys.argv[1])
    failures = []
    check = lambda cond, msg: tc.check(failures, cond, msg)  # noqa: E731

    def ok(line):
        first, _, _ = comp.request(line)
        check(first == "ok", f"{line}: {first}")

    def focused_title():
        return next((w["title"] for w in comp.windows() if w["focused"]), None)

    def type_line(text):
        for ch in text:
            ok(f"key {ch}")
        ok("key Return")

    try:
        file_a = os.path.join(comp.runtime, "a.txt")
        file_b = os.path.join(comp.runtime, "b.txt")
        a = comp.foot("work", "blue", "a", "sh", "-c", f"cat > {file_a}")
        comp.wait_windows(lambda ws: any(w["title"] == "[work] a" and w["focused"] for w in ws),
                          "work's window, focused")
        wait_for(lambda: read(file_a) is not None, "work's cat")
        b = comp.foot("personal", "green", "b", "sh", "-c", f"cat > {file_b}")
        comp.wait_windows(lambda ws: any(w["title"] == "[personal] b" for w in ws),
                          "personal's window")
        wait_for(lambda: read(file_b) is not None, "personal's cat")
        check(focused_title() == "[work] a",
              f"personal's new window took focus: focused is {focused_title()}")
        check([w["title"] for w in comp.windows()] == ["[work] a", "[personal] b"],
              f"personal's new window is not below work's: {comp.windows()}")
        if focused_title() != "[work] a":
            # So that the checks below test only what they are about.
            wa = comp.window("[work] a")
            ok(f"pointer {wa['x'] + 10} {wa['y'] + 40} left")

        # Keys go to the focused window only.
        type_line("xY!")
        check(wait_for(lambda: read(file_a) == "xY!\n", "xY! in a"), f"a has {read(file_a)!r}")
        check(read(file_b) == "", f"b got {read(file_b)!r}")

        # A click focuses the window under the pointer (work's window lies over personal's
        # top left, so the click goes to the bottom right).
        wb = comp.window("[personal] b")
        ok(f"pointer {wb['x'] + wb['w'] - 20} {wb['y'] + wb['h'] - 20} left")
        check(focused_title() == "[personal] b", f"click: focused is {focused_title()}")
        type_line("z")
        check(wait_for(lambda: read(file_b) == "z\n", "z in b"), f"b has {read(file_b)!r}")

        # Alt+Tab back to work; the Tab never reaches either window.
        ok("key alt+tab")
        check(focused_title() == "[work] a", f"alt+tab: focused is {focused_title()}")
        type_line("q")
        check(wait_for(lambda: read(file_a) == "xY!\nq\n", "q in a"), f"a has {read(file_a)!r}")
        ok("key super+tab")
        check(focused_title() == "[personal] b", f"super+tab: focused is {focused_title()}")
        # Ctrl+Shift+C/V are the compositor's: no ^C kills b's cat, no ^V reaches it.
        ok("key ctrl+shift+c")
        ok("key ctrl+shift+v")
        type_line("w")
        check(wait_for(lambda: read(file_b) == "z\nw\n", "w in b"), f"b has {read(file_b)!r}")
        check(b.poll() is None, "b died after ctrl+shift+c")
        check(read(file_a) == "xY!\nq\n", f"a has {read(file_a)!r}")

        # Super+left-drag moves work's window (and focuses it: it is a click).
        wa = comp.window("[work] a")
        px, py = wa["x"] + 30, wa["y"] + 60
        ok(f"pointer {px} {py} super+left-down")
        ok(f"pointer {px + 100} {py + 50}")
        ok(f"pointer {px + 150} {py + 70}")
        ok(f"pointer {px + 150} {py + 70} left-up")
        moved = comp.window("[work] a")
        check((moved["x"], moved["y"]) == (wa["x"] + 150, wa["y"] + 70),
              f"super+drag: {wa} -> {moved}")
        check(moved["focused"], "super+drag did not focus the window")
        # Moving the pointer after the drag no longer moves the window.
        ok(f"pointer {px + 10} {py + 10}")
        check((comp.window("[work] a")["x"], comp.window("[work] a")["y"]) ==
              (moved["x"], moved["y"]), "window moved after the drag ended")

        # Super+right-drag resizes it; the client answers with a bigger buffer.
        px, py = moved["x"] + 50, moved["y"] + 60
        ok(f"pointer {px} {py} super+right-down")
        ok(f"pointer {px + 120} {py + 90}")
        ok(f"pointer {px + 120} {py + 90} right-up")
        comp.wait_windows(
            lambda ws: any(w["title"] == "[work] a" and w["w"] >= moved["w"] + 100 and
                           w["h"] >= moved["h"] + 70 for w in ws), "the resize")
        # The drag's clicks reached no one: work still gets keys typed after it.
        type_line("r")
        check(wait_for(lambda: read(file_a) == "xY!\nq\nr\n", "r in a"),
              f"a has {read(file_a)!r}")

        # Alt+F4 closes the focused window (work's); personal's stays.
        check(focused_title() == "[work] a", f"before alt+f4: focused is {focused_title()}")
        ok("key alt+F4")
        try:
            a.wait(timeout=WAIT)
        except Exception:
            pass
        check(a.poll() is not None, "alt+f4 did not close work's foot")
        check(b.poll() is None, "alt+f4 closed personal's foot")
        comp.wait_windows(lambda ws: [w["title"] for w in ws] == ["[personal] b"],
                          "work's window to go")
        check(read(file_b) == "z\nw\n", f"b has {read(file_b)!r}")

        # Super+Shift+Q closes the one left, which has focus now.
        check(focused_title() == "[personal] b", f"focused is {focused_title()}")
        ok("key super+shift+q")
        try:
            b.wait(timeout=WAIT)
        except Exception:
            pass
        check(b.poll() is not None, "super+shift+q did not close personal's foot")
        check(read(file_b) == "z\nw\n", f"b has {read(file_b)!r}")
        check(comp.alive(), "compositor died")
    finally:
        comp.close()
    report = comp.sanitizer_report()
    check(report is None, f"sanitizer: {report}")
    if failures:
        print("".join(comp.log[-40:]))
    failures += kiosk(sys.argv[1])
    print(f"{len(failures)} failures")
    return 1 if failures else 0


def kiosk(binary):
    comp = tc.Compositor(binary, ["--kiosk", "work"])
    failures = []
    try:
        path = os.path.join(comp.runtime, "k.txt")
        k = comp.foot("work", "blue", "k", "sh", "-c", f"cat > {path}")
        comp.wait_windows(lambda ws: any(w["title"] == "[work] k" and w["focused"] for w in ws),
                          "the kiosk window, focused")
        wait_for(lambda: read(path) is not None, "the kiosk's cat")
        for combo in ("alt+F4", "super+shift+q", "alt+tab"):
            first, _, _ = comp.request(f"key {combo}")
            tc.check(failures, first == "ok", f"key {combo}: {first}")
        # Keys are handled in order: had a close gone out, foot would have left before these.
        for combo in ("k", "Return"):
            comp.request(f"key {combo}")
        tc.check(failures, wait_for(lambda: (read(path) or "").endswith("k\n"), "k in kiosk"),
                 f"kiosk got {read(path)!r}")
        tc.check(failures, k.poll() is None, "a binding closed the kiosk window")
    finally:
        comp.close()
    report = comp.sanitizer_report()
    tc.check(failures, report is None, f"sanitizer: {report}")
    if failures:
        print("".join(comp.log[-40:]))
    return failures


if __name__ == "__main__":
    sys.exit(main())
