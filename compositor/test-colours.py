#!/usr/bin/env python3
"""Two qubes run foot on a headless bulkhead-compositor, and the host runs one on the ordinary
socket; a screenshot taken by a host client (grim, through screencopy) must show each qube
window's frame in exactly its label's colour and the host's in the host style. A third qube runs
grim itself and must fail: screencopy is not even visible to qubes."""
import os
import re
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib

SKIP = 77
# Now and then (one local run in 15-60; in CI runs, where this test starts beside the other
# compositor tests, more often), one foot never maps its window: it has logged the configure (its
# "using SSD decorations" line), then it and the compositor both wait in epoll for good (seen with
# gdb; with one render thread or none; not under CPU load alone). The compositor has sent what
# xdg-shell asks for, so the scene is set up afresh, up to ATTEMPTS times; a window that maps
# takes seconds, so a stall is declared after STALL_S.
ATTEMPTS = 3
STALL_S = 90
STALLED = -1
QUBES = {"work": ("blue", 0x3465A4), "personal": ("green", 0x73D216)}
HOST_RGB = 0xFFFFFF


def read_png(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat = 8, b""
    width = height = None
    while pos < len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if ctype == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or colour not in (2, 6) or interlace != 0:
                raise ValueError(f"unsupported PNG depth={depth} colour={colour}")
            bpp = 3 if colour == 2 else 4
        elif ctype == b"IDAT":
            idat += body
        elif ctype == b"IEND":
            break
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        rows.append(line)
        prev = line

    def pixel(x, y):
        o = x * bpp
        r, g, b = rows[y][o:o + 3]
        return (r << 16) | (g << 8) | b

    return width, height, pixel


def control(path, command):
    """One command on the compositor's control socket; the lines after "ok N"."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(path)
        s.sendall(command.encode() + b"\n")
        data = b""
        while True:
            lines = data.split(b"\n")
            if lines[0].startswith(b"error"):
                raise RuntimeError(lines[0].decode())
            if lines[0].startswith(b"ok ") and len(lines) > int(lines[0][3:]) + 1:
                return [line.decode() for line in lines[1:1 + int(lines[0][3:])]]
            chunk = s.recv(65536)
            if not chunk:
                raise RuntimeError("control socket closed early")
            data += chunk


def main():
    if os.geteuid() != 0:
        print("needs root")
        return SKIP
    for tool in ("foot", "grim"):
        if not shutil.which(tool):
            print(f"{tool} missing")
            return SKIP
    compositor = sys.argv[1]
    runtime = tempfile.mkdtemp(prefix="bh-comp-")
    os.chmod(runtime, 0o700)
    env = dict(os.environ)
    env.pop("WAYLAND_DISPLAY", None)
    env.pop("DISPLAY", None)
    env.update(XDG_RUNTIME_DIR=runtime, WLR_BACKENDS="headless", WLR_RENDERER="pixman",
               WLR_HEADLESS_OUTPUTS="1", WLR_LIBINPUT_NO_DEVICES="1", HOME=runtime)
    # wlroots 0.15 frees a destroyed output's global from a timer that never fires once the
    # display is gone, and fontconfig (pango's, for the title bars) keeps its configuration for
    # the process's life; those leaks are the libraries', every other one fails the test.
    supp = os.path.join(runtime, "lsan.supp")
    with open(supp, "w") as f:
        f.write("leak:wlr_global_destroy_safe\nleak:libfontconfig.so\n")
    comp_env = dict(env, LSAN_OPTIONS=f"suppressions={supp}")
    args = [compositor]
    for name, (label, _) in QUBES.items():
        args += ["--qube", f"{name}:{label}",
                 "--spawn", f"{name}=foot --window-size-pixels=400x300 sleep 600"]
    spy_rc = os.path.join(runtime, "spy.rc")
    spy_png = os.path.join(runtime, "spy.png")
    args += ["--qube", "spy:red", "--spawn", f"spy=grim {spy_png}; echo $? > {spy_rc}"]
    proc = subprocess.Popen(args, env=comp_env, stderr=subprocess.PIPE, text=True)
    mapped, order, display, log = {}, [], None, []
    host = None
    try:
        def wait_for(names):
            deadline = time.monotonic() + STALL_S
            nonlocal display
            while not names <= set(mapped) and time.monotonic() < deadline:
                ready, _, _ = select.select([proc.stderr], [], [], 1)
                if not ready:
                    if proc.poll() is not None:
                        break
                    continue
                line = proc.stderr.readline()
                if not line:
                    break
                log.append(line)
                m = re.search(r"WAYLAND_DISPLAY=(\S+)", line)
                if m:
                    display = m.group(1)
                m = re.search(r"mapped qube=(\S+) x=(\d+) y=(\d+) width=(\d+) height=(\d+) "
                              r"border=(\d+)", line)
                if m:
                    mapped[m.group(1)] = tuple(int(v) for v in m.groups()[1:])
                    order.append(m.group(1))
            return names <= set(mapped) and display

        if not wait_for(set(QUBES)):
            print("qube windows did not map:\n" + "".join(log))
            return STALLED
        # A host window, on the ordinary socket.
        host = subprocess.Popen(["foot", "--window-size-pixels=400x300", "sleep", "600"],
                                env=dict(env, WAYLAND_DISPLAY=display),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_for(set(QUBES) | {"@host"}):
            print("host window did not map:\n" + "".join(log))
            return STALLED
        time.sleep(1)  # let a frame with every window reach the output
        shot = os.path.join(runtime, "shot.png")
        subprocess.run(["grim", shot], env=dict(env, WAYLAND_DISPLAY=display), check=True,
                       timeout=30)
        width, height, pixel = read_png(shot)
        failures = 0
        # Which parts of each frame are visible comes from the stacking the compositor reports
        # (topmost first): a window of another qube opens below the focused one.
        stack = control(os.path.join(runtime, "bulkhead-compositor.ctl"), "windows")
        above = []
        checked = {}
        for line in stack:
            _, qube, title, x, y, w, h, _ = line.split("\t")
            x, y, w, h = int(x), int(y), int(w), int(h)
            name = "@host" if qube == "-" else qube
            want = QUBES[name][1] if name in QUBES else HOST_RGB
            points = [(x + 1, y + 1), (x + w - 2, y + 1), (x + 1, y + h - 2),
                      (x + w - 2, y + h - 2), (x + 1, y + h // 2), (x + w - 2, y + h // 2),
                      (x + w // 2, y + h - 2)]
            for px, py in points:
                if any(ax <= px < ax + aw and ay <= py < ay + ah for ax, ay, aw, ah in above):
                    continue
                checked[name] = checked.get(name, 0) + 1
                got = pixel(px, py)
                if got != want:
                    print(f"{name}: pixel ({px},{py}) is {got:06x}, want {want:06x}")
                    failures += 1
            above.append((x, y, w, h))
        for name in list(QUBES) + ["@host"]:
            if checked.get(name, 0) < 2:
                print(f"{name}: only {checked.get(name, 0)} frame points visible to check")
                failures += 1
        # The background outside every window (below the panel, whose chips are in label
        # colours: 26 is panel.h's PANEL_HEIGHT) is not a label colour.
        for px, py in ((5, 26 + 5), (width - 5, 26 + 5)):
            if pixel(px, py) in (v for _, v in QUBES.values()):
                print(f"background pixel ({px},{py}) has a label colour")
                failures += 1
        # The spy qube's grim had long finished: it must not have found screencopy.
        try:
            with open(spy_rc) as f:
                rc = int(f.read())
        except (OSError, ValueError):
            rc = None
        if rc in (None, 0) or os.path.exists(spy_png):
            print(f"a qube's grim was not refused (exit {rc})")
            failures += 1
        print(f"screenshot {width}x{height}, windows {mapped}, {failures} failures")
        proc.terminate()
        rest = proc.communicate(timeout=20)[1]
        if proc.returncode != 0:
            print(f"compositor exited with {proc.returncode} after SIGTERM:\n{rest}")
            failures += 1
        return 1 if failures else 0
    finally:
        if host:
            host.terminate()
            host.wait()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(runtime, ignore_errors=True)


if __name__ == "__main__":
    rc = main()
    for attempt in range(2, ATTEMPTS + 1):
        if rc != STALLED:
            break
        print(f"a foot did not map its window; setting the scene up afresh ({attempt})", flush=True)
        rc = main()
    sys.exit(1 if rc == STALLED else rc)
