#!/usr/bin/env python3
"""Two qubes' Wayland proxy pairs on a headless bulkhead-compositor, the guest half running on
the host over a socketpair link: work (blue) and personal (green) each run an unmodified foot
(with a known background colour) through their guest half's socket, personal also a
weston-terminal, whose shm pools are destroyed while their buffers live. personal runs a second
foot: two foots with foot's default shm settings (512 MiB scrolling pools) in one qube.

Checked: every window is listed under its qube with a "[qube] ..." title; a grim screenshot
shows each foot window's border and title bar in its label colour and foot's own background
inside (so its shm contents crossed the link); keys typed through the compositor reach the
program in the focused foot; killing work's guest half ends work's windows only."""
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77
WAIT = 60  # seconds; a limit on waiting only
BORDER, TITLE = 4, 22
QUBES = {"work": ("blue", 0x3465A4), "personal": ("green", 0x73D216)}
WESTON_QUBE = ("untrusted", "red")
FOOT_BG = 0xA0522D  # no label's colour and nobody's default

here = os.path.dirname(os.path.abspath(__file__))


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


control = load("control", os.path.join(here, "..", "compositor", "test-control.py"))
colours = load("colours", os.path.join(here, "..", "compositor", "test-colours.py"))
check = control.check


class Qube:
    """One qube's proxy pair: host half with fd 3 = link, fd 4 = connector; guest half on the
    link's other end, serving DIR/wayland-NAME."""

    def __init__(self, comp, proxy, name, label, tmp):
        self.name = name
        first, _, fds = comp.request(f"connector {name} {label}")
        if first != "ok" or len(fds) != 1:
            raise RuntimeError(f"connector {name}: {first}")
        connector = fds[0]
        host_end, guest_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # Moved to 3 and 4 in the child; first out of the way of those numbers.
        link_hi = os.dup2(host_end.fileno(), 100, inheritable=False)
        conn_hi = os.dup2(connector, 101, inheritable=False)
        os.close(connector)
        host_end.close()

        def place():
            os.dup2(link_hi, 3)
            os.dup2(conn_hi, 4)

        self.host_log = open(os.path.join(tmp, f"host-{name}.log"), "w+")
        self.guest_log = open(os.path.join(tmp, f"guest-{name}.log"), "w+")
        self.host = subprocess.Popen([proxy, "host", "--qube", name], preexec_fn=place,
                                     close_fds=False, stdin=subprocess.DEVNULL,
                                     stdout=self.host_log, stderr=subprocess.STDOUT)
        os.close(link_hi)
        os.close(conn_hi)
        self.socket = os.path.join(tmp, "guest-" + name, f"wayland-{name}")
        gfd = guest_end.detach()
        self.guest = subprocess.Popen([proxy, "guest", "--link-fd", str(gfd), "--socket",
                                       self.socket], pass_fds=[gfd], stdin=subprocess.DEVNULL,
                                      stdout=self.guest_log, stderr=subprocess.STDOUT)
        os.close(gfd)
        self.runtime = os.path.join(tmp, "run-" + name)
        os.mkdir(self.runtime, 0o700)
        self.clients = []
        deadline = time.monotonic() + WAIT
        while not os.path.exists(self.socket) and time.monotonic() < deadline:
            if self.guest.poll() is not None:
                raise RuntimeError(f"guest half of {name} exited: {self.logs()}")
            time.sleep(0.1)

    def env(self, base):
        env = dict(base, WAYLAND_DISPLAY=self.socket, XDG_RUNTIME_DIR=self.runtime)
        env.pop("WAYLAND_SOCKET", None)
        return env

    def run(self, base_env, argv):
        p = subprocess.Popen(argv, env=self.env(base_env), stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.clients.append(p)
        return p

    def logs(self):
        out = ""
        for f in (self.host_log, self.guest_log):
            f.flush()
            f.seek(0)
            out += f"--- {f.name}\n{f.read()}"
        return out

    def close(self):
        for p in self.clients + [self.guest, self.host]:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def foot_argv(tmp, title, *command):
    ini = os.path.join(tmp, "foot.ini")
    if not os.path.exists(ini):
        with open(ini, "w") as f:
            # Only the colour: foot's shm pools keep their default size.
            f.write(f"[colors]\nbackground={FOOT_BG:06x}\n")
    return ["foot", "-c", ini, f"--title={title}", "--window-size-pixels=400x300", *command]


def covered(wins, i, px, py):
    """Whether a window above wins[i] (the list is topmost first) covers the point."""
    return any(w["x"] <= px < w["x"] + w["w"] and w["y"] <= py < w["y"] + w["h"]
               for w in wins[:i])


def check_screen(comp, wins, tmp, failures):
    """Each foot window: border and title bar in the label colour, foot's background inside,
    wherever no other window covers it."""
    shot = os.path.join(tmp, "shot.png")
    subprocess.run(["grim", shot], env=dict(comp.env, WAYLAND_DISPLAY=comp.display),
                   check=True, timeout=WAIT)
    width, height, pixel = colours.read_png(shot)
    for i, w in enumerate(wins):
        if w["qube"] not in QUBES or "foot-" not in w["title"]:
            continue
        want = QUBES[w["qube"]][1]
        # x, y, w, h: the whole frame (title bar and borders included).
        x, y, fw, fh = w["x"], w["y"], w["w"], w["h"]
        frame = [(x + 1, y + 1), (x + 2, y + TITLE // 2), (x + BORDER // 2, y + TITLE + 20),
                 (x + fw - BORDER // 2 - 1, y + TITLE + (fh - TITLE) // 2),
                 (x + fw // 2, y + fh - BORDER // 2 - 1), (x + fw - 3, y + 3),
                 (x + 2, y + fh - 3)]
        inside = [(x + BORDER + 20, y + fh - BORDER - 20),
                  (x + fw - BORDER - 20, y + TITLE + (fh - TITLE) // 2),
                  (x + fw // 2, y + fh - BORDER - 10), (x + fw - BORDER - 10, y + fh - 30)]
        seen = {"frame": 0, "inside": 0}
        for kind, points, colour in (("frame", frame, want), ("inside", inside, FOOT_BG)):
            for px, py in points:
                if covered(wins, i, px, py):
                    continue
                seen[kind] += 1
                got = pixel(px, py)
                check(failures, got == colour,
                      f"{w['title']}: {kind} pixel ({px},{py}) is {got:06x}, want {colour:06x}")
        check(failures, seen["frame"] >= 2 and seen["inside"] >= 1,
              f"{w['title']}: too little of it visible to check ({seen})")


def type_into(comp, failures, text):
    for ch in text:
        first, _, _ = comp.request(f"key {ch}")
        check(failures, first == "ok", f"key {ch}: {first}")
    first, _, _ = comp.request("key Return")
    check(failures, first == "ok", f"key Return: {first}")


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
    for tool in ("foot", "grim"):
        if not shutil.which(tool):
            print(f"{tool} missing")
            return SKIP
    compositor, proxy = sys.argv[1], sys.argv[2]
    animator = sys.argv[3] if len(sys.argv) > 3 else None
    if not os.access(compositor, os.X_OK):
        print("compositor not built")
        return SKIP
    tmp = tempfile.mkdtemp(prefix="bh-proxy-")
    comp = control.Compositor(compositor)
    qubes = {}
    failures = []
    try:
        weston = bool(shutil.which("weston-terminal"))
        for name, (label, _) in QUBES.items():
            qubes[name] = Qube(comp, proxy, name, label, tmp)
        if weston:
            qubes[WESTON_QUBE[0]] = Qube(comp, proxy, *WESTON_QUBE, tmp)
        answer = os.path.join(tmp, "answer")
        qubes["personal"].run(comp.env, foot_argv(tmp, "foot-personal", "sleep", "600"))
        want = {("personal", "[personal] foot-personal")}
        comp.wait_windows(lambda ws: want <= {(w["qube"], w["title"]) for w in ws},
                          "personal's foot")
        # A second foot in the same qube: its pools and the first one's count together.
        qubes["personal"].run(comp.env, foot_argv(tmp, "foot-personal-2", "sleep", "600"))
        want.add(("personal", "[personal] foot-personal-2"))
        comp.wait_windows(lambda ws: want <= {(w["qube"], w["title"]) for w in ws},
                          "personal's second foot")
        qubes["work"].run(comp.env, foot_argv(tmp, "foot-work", "sh", "-c",
                                              f'read x; echo "$x" > {answer}; sleep 600'))
        want.add(("work", "[work] foot-work"))
        wins = comp.wait_windows(lambda ws: want <= {(w["qube"], w["title"]) for w in ws},
                                 "both qubes' windows")
        check(failures, len(wins) == 3, f"windows: {wins}")
        # A qube's new window does not take the focus from another qube's: a click does.
        work = next(w for w in wins if w["title"] == "[work] foot-work")
        if not work["focused"]:
            i = wins.index(work)
            spot = next(((px, py) for px in range(work["x"] + work["w"] - 10, work["x"], -20)
                         for py in range(work["y"] + work["h"] - 10, work["y"] + TITLE, -20)
                         if not covered(wins, i, px, py)), None)
            check(failures, spot is not None, f"no visible spot on {work}")
            if spot:
                first, _, _ = comp.request(f"pointer {spot[0]} {spot[1]} left")
                check(failures, first == "ok", f"pointer: {first}")
        wins = comp.wait_windows(lambda ws: any(w["title"] == "[work] foot-work"
                                                and w["focused"] for w in ws),
                                 "work's foot to be focused")
        time.sleep(1)  # a frame with both windows drawn as they are now
        # The proxies' windows look as the compositor frames them, with foot's contents.
        check_screen(comp, comp.windows(), tmp, failures)

        # Typing reaches the program in the focused window, through both halves.
        type_into(comp, failures, "hello")
        if wait_for(lambda: os.path.exists(answer) and os.path.getsize(answer) > 0,
                    "the typed line"):
            with open(answer) as f:
                got = f.read()
            check(failures, got == "hello\n", f"typed line arrived as {got!r}")
        else:
            check(failures, False, "the typed line never reached foot's program")

        # weston-terminal: cairo's pools are destroyed while their buffers live.
        if weston:
            qubes[WESTON_QUBE[0]].run(comp.env, ["weston-terminal"])
            comp.wait_windows(lambda ws: any(w["qube"] == WESTON_QUBE[0] for w in ws),
                              "weston-terminal")
        # The benchmark's client destroys its pool as soon as its buffers exist, then animates
        # them: its frames must all arrive (the guest half holds the destroy back).
        if animator and os.access(animator, os.X_OK):
            r = subprocess.run([animator, "small", "200", "150", "5", "20"],
                               stdin=subprocess.DEVNULL, env=qubes["personal"].env(comp.env), capture_output=True,
                               text=True, timeout=WAIT)
            check(failures, r.returncode == 0 and "done 20" in r.stdout,
                  f"animated client: exit {r.returncode}, {r.stdout!r} {r.stderr!r}")
            comp.wait_windows(lambda ws: not any(w["title"] == "[personal] bench" for w in ws),
                              "the animated client's window to go")
        else:
            print("bench-gui-client not built: pool-destroy check not run")
        wins = comp.windows()
        for w in wins:
            check(failures, w["qube"] in qubes and w["title"].startswith(f"[{w['qube']}] "),
                  f"window {w}")
        check(failures, len(wins) == 3 + weston, f"windows: {wins}")

        # A guest half that dies takes its qube's windows along, and only those.
        qubes["work"].guest.send_signal(signal.SIGKILL)
        qubes["work"].guest.wait(timeout=WAIT)
        wins = comp.wait_windows(lambda ws: not any(w["qube"] == "work" for w in ws),
                                 "work's windows to go")
        check(failures, {w["qube"] for w in wins} == set(qubes) - {"work"},
              f"after the kill: {wins}")
        check(failures, len(wins) == 2 + weston, f"the others' windows after the kill: {wins}")
        check(failures, wait_for(lambda: qubes["work"].host.poll() is not None,
                                 "work's host half to exit"), "work's host half still runs")
        for name in set(qubes) - {"work"}:
            check(failures, qubes[name].host.poll() is None and
                  qubes[name].guest.poll() is None, f"{name}'s proxy pair died")
        check(failures, comp.alive(), "the compositor died")
    except RuntimeError as e:
        check(failures, False, str(e))
    finally:
        for q in qubes.values():
            q.close()
        if failures:
            for q in qubes.values():
                print(q.logs())
            print("".join(comp.log[-40:]))
        comp.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
