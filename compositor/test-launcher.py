#!/usr/bin/env python3
"""The launcher of a headless bulkhead-compositor, with no bulkheadd (so only the host's own
entries), driven by the control socket's virtual keyboard and checked in grim screenshots and
the control socket's `launcher` answer:
- Super pressed and released alone opens it (the screen changes where it is drawn); Super+Tab
  and a Super+click do not;
- the host entry "Terminal" is listed and drawn in the host's white, selected;
- typing filters (case-insensitive), Backspace takes a character back, Escape closes it and
  the screen is as before;
- a focused qube window (foot running `cat > FILE`) receives none of the keys typed into the
  launcher, and gets its focus back after it closes;
- Enter on "Terminal" starts foot on the host: a host window appears and the launcher closes."""
import importlib.util
import os
import shutil
import subprocess
import sys
import time

SKIP = 77
WAIT = 60
HOST_RGB = 0xFFFFFF
SELECT_RGB = 0x99C1F1  # launcher.c: the selection outline

here = os.path.dirname(os.path.abspath(__file__))


def load(name, file):
    spec = importlib.util.spec_from_file_location(name, os.path.join(here, file))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


tc = load("test_control", "test-control.py")
colours = load("colours", "test-colours.py")


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


def launcher_state(comp):
    """(open, filter, status, entries) from the control socket's `launcher`."""
    s = comp.sock
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
            raise EOFError("control socket closed")
        data += chunk
    first = lines[0].decode().split()
    filt, _, status = lines[1].decode().partition("\t")
    entries = []
    for line in lines[2:2 + int(first[2])]:
        qube, app, name, sel, x, y, w, h = line.decode().split("\t")
        entries.append(dict(qube=qube, id=app, name=name, selected=sel == "1", x=int(x),
                            y=int(y), w=int(w), h=int(h)))
    return first[1] == "1", filt, status, entries


def main():
    if os.geteuid() != 0:
        print("needs root")
        return SKIP
    for tool in ("foot", "grim"):
        if not shutil.which(tool):
            print(f"{tool} missing")
            return SKIP
    runtime_sock = "/nonexistent/bulkhead-test/api.sock"
    # The Settings entry runs `bulkhead settings` in foot: this build's CLI.
    cli_dir = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(sys.argv[1]))), "cli")
    comp = tc.Compositor(sys.argv[1], env_extra={
        "BULKHEAD_SOCKET": runtime_sock, "PATH": cli_dir + ":" + os.environ.get("PATH", "")})
    failures = []
    check = lambda cond, msg: tc.check(failures, cond, msg)  # noqa: E731
    shot_n = [0]

    def ok(line):
        first, _, _ = comp.request(line)
        check(first == "ok", f"{line}: {first}")

    def screenshot():
        shot_n[0] += 1
        path = os.path.join(comp.runtime, f"shot{shot_n[0]}.png")
        subprocess.run(["grim", path], env=dict(comp.env, WAYLAND_DISPLAY=comp.display),
                       check=True, timeout=WAIT)
        return colours.read_png(path)

    try:
        typed = os.path.join(comp.runtime, "typed.txt")
        comp.foot("work", "blue", "typist", "sh", "-c", f"cat > {typed}")
        comp.wait_windows(lambda ws: any(w["title"] == "[work] typist" and w["focused"]
                                         for w in ws), "work's window, focused")
        wait_for(lambda: read(typed) is not None, "work's cat")

        is_open, _, _, _ = launcher_state(comp)
        check(not is_open, "the launcher is open before Super")
        _, _, before = screenshot()

        # Super with another key, or with a click, is not a tap.
        ok("key super+Tab")
        ok("pointer 5 5 super+left")
        ok("pointer 5 5 super+left-up")  # Super around a button's release alone, too
        check(not launcher_state(comp)[0], "Super+Tab or Super+click opened the launcher")

        ok("key super")
        is_open, filt, status, entries = launcher_state(comp)
        check(is_open, "Super alone did not open the launcher")
        check(filt == "", f"filter on opening: {filt!r}")
        check("not reachable" in status, f"status without bulkheadd: {status!r}")
        term = [e for e in entries if e["name"] == "Terminal"]
        check(len(term) == 1 and term[0]["qube"] == "-" and term[0]["id"] == "foot",
              f"no host Terminal entry: {entries}")
        sett = [e for e in entries if e["name"] == "Settings"]
        check(len(sett) == 1 and sett[0]["qube"] == "-" and
              sett[0]["id"] == "foot --title=Settings bulkhead settings",
              f"no host Settings entry: {entries}")
        check(not any(w["focused"] for w in comp.windows()),
              "a window kept the keyboard focus under the launcher")
        width, height, pixel = screenshot()
        if term:
            e = term[0]
            check(e["selected"], "the only entry is not selected")
            check(e["w"] > 0 and e["h"] > 0, f"Terminal is not drawn: {e}")
            for px, py in ((e["x"] + 1, e["y"] + 1), (e["x"] + e["w"] - 2, e["y"] + e["h"] - 2),
                           (e["x"] + e["w"] - 2, e["y"] + 1)):
                check(pixel(px, py) == HOST_RGB,
                      f"Terminal row at ({px},{py}) is {pixel(px, py):06x}, not the host's white")
        for e in sett:
            check(e["w"] > 0 and e["h"] > 0 and not e["selected"], f"Settings row: {e}")
            check(pixel(e["x"] + 1, e["y"] + 1) == HOST_RGB,
                  f"Settings row is {pixel(e['x'] + 1, e['y'] + 1):06x}, not the host's white")
            # Its gear is drawn in white inside the dark icon box (launcher.c: ICON 32 px,
            # ICON_FRAME 4 px from the row's left, centred in its height), inside its frame.
            ix, iy = e["x"] + 4, e["y"] + (e["h"] - 32) // 2
            icon = [(x, y) for x in range(ix + 2, ix + 30) for y in range(iy + 2, iy + 30)]
            bright = sum(1 for x, y in icon if all((pixel(x, y) >> k) & 0xff >= 0xc0
                                                   for k in (0, 8, 16)))
            check(bright > 10, f"the Settings row has no glyph ({bright} bright pixels)")
        for e in term:
            check(pixel(e["x"] - 2, e["y"] + e["h"] // 2) == SELECT_RGB,
                  f"selection outline is {pixel(e['x'] - 2, e['y'] + e['h'] // 2):06x}")
            changed = sum(1 for y in range(0, height, 4) for x in range(0, width, 4)
                          if pixel(x, y) != before(x, y))
            check(changed > 1000, f"only {changed} sampled pixels changed when it opened")

        for ch in "TeR":
            ok(f"key {ch}")
        is_open, filt, _, entries = launcher_state(comp)
        check(filt == "TeR", f"filter after typing TeR: {filt!r}")
        check([e["name"] for e in entries] == ["Terminal"],
              f"TeR (case-insensitive) does not match Terminal: {entries}")
        for ch in "zq":
            ok(f"key {ch}")
        _, filt, _, entries = launcher_state(comp)
        check(filt == "TeRzq" and entries == [], f"TeRzq: {filt!r} {entries}")
        ok("key BackSpace")
        ok("key BackSpace")
        _, filt, _, entries = launcher_state(comp)
        check(filt == "TeR" and len(entries) == 1, f"after two BackSpaces: {filt!r} {entries}")
        ok("key Down")
        ok("key Up")
        ok("key Escape")
        is_open, _, _, _ = launcher_state(comp)
        check(not is_open, "Escape did not close the launcher")
        w2, h2, after = screenshot()
        if term:
            e = term[0]
            check(after(e["x"] + 1, e["y"] + 1) == before(e["x"] + 1, e["y"] + 1),
                  "the launcher is still drawn after Escape")
        comp.wait_windows(lambda ws: any(w["title"] == "[work] typist" and w["focused"]
                                         for w in ws), "work's window focused again")
        # Nothing typed into the launcher reached the window; what is typed now does.
        for ch in "ok":
            ok(f"key {ch}")
        ok("key Return")
        wait_for(lambda: read(typed) == "ok\n", "the typist's line")
        check(read(typed) == "ok\n", f"the window received {read(typed)!r}, want 'ok\\n' only")

        # A click outside the launcher closes it and reaches no window (the typist's, under it).
        ok("key super")
        typist = [w for w in comp.windows() if w["title"] == "[work] typist"][0]
        _, _, _, entries = launcher_state(comp)
        inside = [(x, y) for x in range(typist["x"] + 6, typist["x"] + typist["w"] - 6, 8)
                  for y in range(typist["y"] + 30, typist["y"] + typist["h"] - 6, 8)
                  if not any(e["x"] - 40 <= x < e["x"] + e["w"] + 40 for e in entries)]
        check(inside, f"no point of the typist's window beside the launcher: {typist} {entries}")
        if inside:
            ok(f"pointer {inside[0][0]} {inside[0][1]} left")
        check(not launcher_state(comp)[0], "a click outside the launcher did not close it")
        ok("key x")
        ok("key Return")
        wait_for(lambda: read(typed) == "ok\nx\n", "the typist's second line")
        check(read(typed) == "ok\nx\n", f"after the click the window has {read(typed)!r}")

        # Enter on Terminal starts foot on the host.
        ok("key super")
        for ch in "term":
            ok(f"key {ch}")
        ok("key Return")
        comp.wait_windows(lambda ws: any(w["qube"] == "-" for w in ws), "the host terminal")
        check(not launcher_state(comp)[0], "the launcher stayed open after Enter")
        check(read(typed) == "ok\nx\n", f"the window received {read(typed)!r}")
        # A click on a row starts it, as Enter does: a second host terminal.
        ok("key super")
        _, _, _, entries = launcher_state(comp)
        term = [e for e in entries if e["name"] == "Terminal"]
        check(len(term) == 1, f"no Terminal row to click: {entries}")
        if term:
            e = term[0]
            ok(f"pointer {e['x'] + e['w'] // 2} {e['y'] + e['h'] // 2} left")
            comp.wait_windows(lambda ws: sum(w["qube"] == "-" for w in ws) >= 2,
                              "a second host terminal, from a click on the row")
            check(not launcher_state(comp)[0], "the launcher stayed open after a click on a row")
        # Settings: `bulkhead settings` in a host terminal, which stays open (no bulkheadd here:
        # it says so and waits for a line).
        ok("key super")
        for ch in "sett":
            ok(f"key {ch}")
        _, _, _, entries = launcher_state(comp)
        check([e["name"] for e in entries] == ["Settings"], f"'sett' matches {entries}")
        ok("key Return")
        comp.wait_windows(lambda ws: any(w["qube"] == "-" and w["title"] == "Settings"
                                         for w in ws), "the host's Settings window")
        check(comp.alive(), "the compositor died")
        report = comp.sanitizer_report()
        check(report is None, f"sanitizer: {report}")
    finally:
        # The host terminal is the compositor's child: it exits when its display goes.
        comp.close()
    if failures:
        print("".join(comp.log[-40:]))
        print(f"{len(failures)} failure(s)")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
