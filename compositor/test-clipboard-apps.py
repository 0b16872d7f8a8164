#!/usr/bin/env python3
"""Each qube's own clipboard with real applications (wl-copy and wl-paste from wl-clipboard,
which make a small window to get keyboard focus, then set or read the selection), on a headless
bulkhead-compositor:

- qube alice, on connections from the control socket: wl-copy then wl-paste reads the text;
- qube bob, focused afterwards, and the host (a host window focused) read "No selection";
- wl-copy in alice while bob's window is focused takes no focus: it waits and sets nothing;
- alice, focused again, still reads its own text; wl-copy --clear empties it;
- qube carol through its Wayland proxy pair (host half with its link and connector, guest half
  on the other end of a socketpair, as wayland-proxy/test-proxy.py runs them): wl-copy and
  wl-paste through the guest half's socket carry 200 KB intact; alice never reads carol's text
  nor carol alice's; text selected with the mouse in one of carol's foot windows is pasted
  into another (foot's XF86Paste, as Ctrl+Shift+V is the compositor's);
- a copy a client asked for while focused that reaches the compositor after the user moved to
  another qube's window (clipboard-client --set-on-leave) becomes its own qube's selection (it
  used to be refused by wlroots as superseded by the other qube's stand-in), and is not offered
  to the other qube.

A qube's window never takes the focus from another qube's or the host's window, so wl-copy and
wl-paste in a qube the user is not in wait for their window to be picked: by design.

Usage: test-clipboard-apps.py COMPOSITOR CLIPBOARD-CLIENT WAYLAND-PROXY
Exits 77 (skip) without wl-clipboard, or when not root (the proxy's host half drops to nobody).
"""
import base64
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("clip", os.path.join(here, "test-clipboard.py"))
clip = importlib.util.module_from_spec(spec)
spec.loader.exec_module(clip)
WAIT = clip.WAIT
TITLE_HEIGHT = 22  # server.h


class App:
    """A client program run with env; its output kept line by line (clipboard-client)."""

    def __init__(self, argv, env, pass_fds=(), title=None):
        self.proc = subprocess.Popen(argv, env=env, pass_fds=pass_fds, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE)
        self.out = clip.Lines(self.proc.stdout)
        self.title = title
        if title:
            self.out.wait(r"^ready$", f"{title} to map")

    def offered(self):
        self.out.drain()
        return [l for l in self.out.lines if l.startswith("offered")]


class Env:
    """How a client reaches the compositor: a qube connection from the control socket, the
    guest half's socket of a qube's proxy pair, or the host's own socket."""

    def __init__(self, base, comp=None, qube=None, label=None, display=None, runtime=None):
        self.base, self.comp, self.qube, self.label = base, comp, qube, label
        self.display, self.runtime = display, runtime

    def spawn(self, argv, **kw):
        env = {k: v for k, v in self.base.items() if k not in ("WAYLAND_DISPLAY",
                                                               "WAYLAND_SOCKET")}
        fds = []
        if self.comp:
            fds = self.comp.ok(f"connect {self.qube} {self.label}")[2]
            if len(fds) != 1:
                raise AssertionError(f"connect {self.qube}: {len(fds)} descriptors")
            env["WAYLAND_SOCKET"] = str(fds[0])
        else:
            env["WAYLAND_DISPLAY"] = self.display
        if self.runtime:
            env["XDG_RUNTIME_DIR"] = self.runtime
        try:
            if kw.pop("app", False):
                return App(argv, env, pass_fds=fds, **kw)
            return subprocess.Popen(argv, env=env, pass_fds=fds, stdin=kw.get("stdin"),
                                    stdout=kw.get("stdout", subprocess.PIPE),
                                    stderr=kw.get("stderr", subprocess.PIPE))
        finally:
            for fd in fds:
                os.close(fd)

    def window(self, client_bin, title, *args):
        return self.spawn([client_bin, "--title", title, *args], app=True, title=title)

    def copy(self, *args, stdin=None):
        """wl-copy ARGS: it returns once its selection is set (it forks to serve it)."""
        # The child it forks keeps its output open: a file, not a pipe, so nothing waits on it.
        with tempfile.TemporaryFile() as errf:
            p = self.spawn(["wl-copy", *args], stdin=stdin, stdout=subprocess.DEVNULL,
                           stderr=errf)
            try:
                p.wait(WAIT)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                raise AssertionError(f"wl-copy {' '.join(args)} in {self.who()} never set "
                                     "its selection (its window got no focus)")
            errf.seek(0)
            err = errf.read()
        if p.returncode != 0:
            raise AssertionError(f"wl-copy in {self.who()}: exit {p.returncode}: {err!r}")

    def paste(self):
        """(exit status, stdout bytes, stderr text) of wl-paste -n."""
        p = self.spawn(["wl-paste", "-n"])
        try:
            out, err = p.communicate(timeout=WAIT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise AssertionError(f"wl-paste in {self.who()} never read (its window got no "
                                 "focus)")
        return p.returncode, out, err.decode(errors="replace")

    def who(self):
        return self.qube or "the host"


def wait_file(path, what):
    deadline = time.monotonic() + WAIT
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def window_box(comp, title):
    """(x, y, w, h) of the frame of the window titled exactly title, once it is mapped."""
    deadline = time.monotonic() + WAIT
    while True:
        boxes = comp.windows()
        if title in boxes:
            return boxes[title]
        if time.monotonic() > deadline:
            raise AssertionError(f"no window {title}: {boxes}")
        time.sleep(0.2)


def focus(comp, app):
    """Clicks app's window and waits until it has the keyboard focus."""
    app.out.drain()
    mark = len(app.out.lines)
    comp.click(app.title)
    app.out.wait(r"^focus$", f"{app.title} to be focused", start=mark)


def expect_nothing(env):
    rc, out, err = env.paste()
    assert rc != 0 and out == b"" and "No selection" in err, (env.who(), rc, out, err)


class ProxyPair:
    """A qube's host half (fd 3 its link, fd 4 its connector from the control socket) and
    guest half on the link's other end, serving a socket for the qube's applications."""

    def __init__(self, comp, proxy, name, label, tmp):
        fds = comp.ok(f"connector {name} {label}")[2]
        if len(fds) != 1:
            raise AssertionError(f"connector {name}: {len(fds)} descriptors")
        host_end, guest_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # Moved to 3 and 4 in the child; first out of the way of those numbers.
        link_hi = os.dup2(host_end.fileno(), 100, inheritable=False)
        conn_hi = os.dup2(fds[0], 101, inheritable=False)
        os.close(fds[0])
        host_end.close()

        def place():
            os.dup2(link_hi, 3)
            os.dup2(conn_hi, 4)

        self.log = open(os.path.join(tmp, f"proxy-{name}.log"), "w+")
        self.host = subprocess.Popen([proxy, "host", "--qube", name], preexec_fn=place,
                                     close_fds=False, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        os.close(link_hi)
        os.close(conn_hi)
        self.socket = os.path.join(tmp, f"guest-{name}", f"wayland-{name}")
        gfd = guest_end.detach()
        self.guest = subprocess.Popen([proxy, "guest", "--link-fd", str(gfd), "--socket",
                                       self.socket], pass_fds=[gfd], stdin=subprocess.DEVNULL,
                                      stdout=self.log, stderr=subprocess.STDOUT)
        os.close(gfd)
        self.runtime = os.path.join(tmp, f"run-{name}")
        os.mkdir(self.runtime, 0o700)
        deadline = time.monotonic() + WAIT
        while not os.path.exists(self.socket):
            if self.guest.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the guest half of {name} did not come up:\n" +
                                     self.logs())
            time.sleep(0.1)

    def logs(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def close(self):
        for p in (self.guest, self.host):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(WAIT)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    compositor, client_bin, proxy = sys.argv[1:]
    for tool, package in (("wl-copy", "wl-clipboard"), ("wl-paste", "wl-clipboard"),
                          ("foot", "foot")):
        if not shutil.which(tool):
            clip.skip(f"{tool} is not installed ({package})")
    if os.geteuid() != 0:
        clip.skip("the proxy's host half needs root to drop to nobody")

    tmp = tempfile.mkdtemp(prefix="bh-clipapps.")
    env = dict(os.environ)
    env.update({
        "XDG_RUNTIME_DIR": f"{tmp}/xdg",
        "WLR_BACKENDS": "headless",
        "WLR_RENDERER": "pixman",
        "WLR_LIBINPUT_NO_DEVICES": "1",
        # No bulkheadd is needed: nothing here crosses qubes.
        "BULKHEAD_SOCKET": f"{tmp}/no-bulkheadd.sock",
        "NO_COLOR": "1",
    })
    env.pop("WAYLAND_DISPLAY", None)
    env.pop("WAYLAND_SOCKET", None)
    env.pop("DISPLAY", None)
    os.makedirs(f"{tmp}/xdg", mode=0o700)

    comp, apps, pair = None, [], None
    try:
        supp = f"{tmp}/lsan.supp"
        with open(supp, "w") as f:
            f.write("leak:wlr_global_destroy_safe\nleak:libfontconfig.so\n")
        comp = clip.Compositor(compositor, dict(env, LSAN_OPTIONS=f"suppressions={supp}"))
        i = comp.log.wait(r"running on WAYLAND_DISPLAY=", "the compositor's socket")
        display = comp.log.lines[i].split("WAYLAND_DISPLAY=", 1)[1].strip()

        alice = Env(env, comp, "alice", "green")
        bob = Env(env, comp, "bob", "blue")
        host = Env(env, display=display)
        pair = ProxyPair(comp, proxy, "carol", "red", tmp)
        carol = Env(env, display=pair.socket, runtime=pair.runtime)
        carol.qube = "carol"

        print("carol, through its proxy pair: wl-copy then wl-paste carry 200 KB intact")
        big = base64.b64encode(os.urandom(150 * 1024))
        with open(f"{tmp}/big", "wb") as f:
            f.write(big)
        cw = carol.window(client_bin, "C")
        apps.append(cw)
        comp.click("C")
        cw.out.wait(r"^focus$", "carol's window to be focused")
        with open(f"{tmp}/big", "rb") as f:
            carol.copy(stdin=f)
        rc, out, err = carol.paste()
        assert rc == 0 and out == big, (rc, len(out), err)

        print("alice: wl-copy then wl-paste reads the text")
        aw = alice.window(client_bin, "A")
        apps.append(aw)
        comp.click("A")
        aw.out.wait(r"^focus$", "alice's window to be focused")
        alice.copy("hello-alice")
        rc, out, err = alice.paste()
        assert (rc, out) == (0, b"hello-alice"), (rc, out, err)

        print("bob, focused afterwards, reads nothing")
        bw = bob.window(client_bin, "B")
        apps.append(bw)
        comp.click("B")
        bw.out.wait(r"^focus$", "bob's window to be focused")
        expect_nothing(bob)

        print("wl-copy in alice while bob's window has the focus waits: no focus is taken")
        mark = len(comp.log.lines)
        waiting = alice.spawn(["wl-copy", "stolen"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        try:
            comp.log.wait(r"mapped qube=alice", "wl-copy's window", start=mark)
            _, lines, _ = comp.ok("windows")
            focused = [l.split("\t")[2] for l in lines if l.endswith("\t1")]
            assert focused == ["[bob] B"], lines
            assert waiting.poll() is None, "wl-copy finished without the focus"
        finally:
            waiting.kill()
            waiting.wait()

        print("the host, a host window focused, reads nothing")
        hw = host.window(client_bin, "H")
        apps.append(hw)
        comp.click("H")
        hw.out.wait(r"^focus$", "the host window to be focused")
        expect_nothing(host)

        print("carol, focused again, still reads its own text")
        focus(comp, cw)
        rc, out, err = carol.paste()
        assert rc == 0 and out == big, (rc, len(out), err)

        print("alice, focused again, still reads its own text; wl-copy --clear empties it")
        focus(comp, aw)
        rc, out, err = alice.paste()
        assert (rc, out) == (0, b"hello-alice"), (rc, out, err)
        alice.copy("--clear")
        expect_nothing(alice)
        for w in (bw, hw, cw):
            assert not any("hello-alice" in l or "stolen" in l for l in w.offered()), \
                (w.title, w.out.lines)
        assert not any(big.decode()[:64] in l for w in (aw, bw, hw) for l in w.offered())

        print("a copy that reaches the compositor after the user moved to carol's window is "
              "alice's selection, and only alice's")
        late = alice.window(client_bin, "L", "--set", "late-alice", "--set-on-leave")
        apps.append(late)
        comp.click("L")
        late.out.wait(r"^focus$", "the late copier to be focused")
        focus(comp, cw)
        late.out.wait(r"^set$", "the late copy to be handled")
        focus(comp, aw)
        aw.out.wait(r"^offered late-alice$", "alice to be offered the late copy")
        rc, out, err = alice.paste()
        assert (rc, out) == (0, b"late-alice"), (rc, out, err)
        focus(comp, cw)
        rc, out, err = carol.paste()
        assert rc == 0 and out == big, (rc, len(out), err)
        for w in (bw, hw, cw):
            assert not any("late-alice" in l for l in w.offered()), (w.title, w.out.lines)

        print("two foot windows of carol, through its proxy pair: text selected with the mouse in "
              "one is pasted into the other")
        # Ctrl+Shift+C/V are the compositor's: foot copies its mouse selection to the clipboard
        # and pastes with the XF86Paste key instead.
        ini = f"{tmp}/foot.ini"
        with open(ini, "w") as f:
            f.write("[main]\nselection-target=clipboard\nfont=monospace:size=12\n"
                    "[tweak]\nmax-shm-pool-size-mb=64\n")
        shown, pasted = f"{tmp}/shown", f"{tmp}/pasted"
        foot = ["foot", "-c", ini, "--window-size-pixels=400x200"]
        apps.append(carol.spawn(foot + ["--title=F1", "sh", "-c",
                                        f"echo COPYME; touch {shown}; exec sleep 1000"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_file(shown, "foot to print the text")
        x, y, _, _ = window_box(comp, "[carol] F1")
        # The first line of the terminal, just below the title bar, from its first character
        # on.
        row = y + TITLE_HEIGHT + 8
        comp.ok(f"pointer {x + 6} {row} left-down")
        comp.ok(f"pointer {x + 200} {row}")
        comp.ok(f"pointer {x + 200} {row} left-up")
        apps.append(carol.spawn(foot + ["--title=F2", "sh", "-c",
                                        f"stty raw -echo; head -c 6 > {pasted}.part; "
                                        f"mv {pasted}.part {pasted}; exec sleep 1000"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        window_box(comp, "[carol] F2")
        comp.click("F2")
        comp.ok("key XF86Paste")
        wait_file(pasted, "foot to paste")
        with open(pasted, "rb") as f:
            got = f.read()
        assert got == b"COPYME", got

        assert comp.proc.poll() is None, "the compositor died"
        comp.stop()
        assert not comp.sanitizer_reports(), "sanitizer reports"
        print("ok")
        return 0
    except AssertionError as e:
        print("FAIL:", e, file=sys.stderr)
        if comp:
            comp.log.drain()
            print("--- compositor log ---\n" + "\n".join(comp.log.lines[-60:]), file=sys.stderr)
        if pair:
            print("--- proxy log ---\n" + pair.logs(), file=sys.stderr)
        return 1
    finally:
        for a in apps:
            p = a.proc if isinstance(a, App) else a
            if p.poll() is None:
                p.kill()
                p.wait()
        if pair:
            pair.close()
        if comp:
            comp.stop()
        if os.environ.get("BULKHEAD_TEST_KEEP") == "1":
            print("kept", tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
