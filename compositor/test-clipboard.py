#!/usr/bin/env python3
"""The clipboard, the Qubes way, on a headless bulkhead-compositor with a private bulkheadd:

- qube alice's client sets its selection; bob's client, focused afterwards, is offered nothing;
- Ctrl+Shift+C in alice fills the global clipboard (source alice), Ctrl+Shift+V in bob (policy:
  allow) offers bob exactly alice's text and empties the global clipboard; neither key press
  reaches a client;
- carol -> bob is denied by the policy: bob is offered nothing and the clipboard keeps the text;
- carol -> alice is `ask`: the compositor's own dialog appears (a white box in a screenshot
  taken with grim); Escape pastes nothing, Return pastes;
- with bulkheadd gone, a paste pastes nothing.

Usage: test-clipboard.py COMPOSITOR CLIPBOARD-CLIENT BULKHEADD BULKHEAD-CLI
Exits 77 (skip) when not root (bulkheadd needs libvirt's system connection) or grim is missing.
"""
import array
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

WAIT = 60  # generous: the machine is shared and slow; nothing is timed
PROMPT_INPUT_DELAY = 1.0  # at least prompt.c's PROMPT_INPUT_DELAY_MS


def skip(why):
    print("SKIP:", why)
    sys.exit(77)


class Lines:
    """Line-wise reader of a child's output pipe that keeps every line seen."""

    def __init__(self, f):
        self.f = f
        self.partial = b""
        self.lines = []

    def pump(self, timeout):
        ready, _, _ = select.select([self.f], [], [], timeout)
        if not ready:
            return False
        data = os.read(self.f.fileno(), 65536)
        if not data:
            return False
        self.partial += data
        while b"\n" in self.partial:
            line, _, self.partial = self.partial.partition(b"\n")
            self.lines.append(line.decode(errors="replace"))
        return True

    def drain(self):
        while self.pump(0):
            pass

    def wait(self, pattern, what, start=0):
        """Index of the first line from `start` on matching pattern, waiting for it."""
        deadline = time.monotonic() + WAIT
        while True:
            for i in range(start, len(self.lines)):
                if re.search(pattern, self.lines[i]):
                    return i
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what}; saw:\n" +
                                     "\n".join(self.lines[-30:]))
            self.pump(min(left, 1.0))


class Compositor:
    def __init__(self, binary, env):
        self.proc = subprocess.Popen([binary], env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.log = Lines(self.proc.stderr)
        i = self.log.wait(r"control socket at ", "the control socket")
        self.path = self.log.lines[i].split("control socket at ", 1)[1].strip()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(WAIT)
        self.sock.connect(self.path)
        self.buf = b""

    def request(self, line):
        self.sock.sendall(line.encode() + b"\n")
        fds = []
        while b"\n" not in self.buf:
            msg, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(4 * 4))
            if not msg:
                raise EOFError("control socket closed")
            self.buf += msg
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    a = array.array("i")
                    a.frombytes(payload[:len(payload) - len(payload) % 4])
                    fds += list(a)
        first, _, self.buf = self.buf.partition(b"\n")
        first = first.decode()
        lines = []
        m = re.fullmatch(r"ok (\d+)", first)
        if m:
            while self.buf.count(b"\n") < int(m.group(1)):
                self.buf += self.sock.recv(65536)
            for _ in range(int(m.group(1))):
                l, _, self.buf = self.buf.partition(b"\n")
                lines.append(l.decode())
        return first, lines, fds

    def ok(self, line):
        first, lines, fds = self.request(line)
        if not first.startswith("ok"):
            raise AssertionError(f"{line}: {first}")
        return first, lines, fds

    def windows(self):
        """{title: (x, y, w, h)} of every window."""
        _, lines, _ = self.ok("windows")
        boxes = {}
        for l in lines:
            f = l.split("\t")
            if len(f) >= 8:
                boxes[f[2]] = tuple(int(v) for v in f[3:7])
        return boxes

    def click(self, title, button="left"):
        """Clicks a point of the window that no other window covers (windows overlap)."""
        x, y = self.point_of(title)
        self.ok(f"pointer {x} {y} {button}")

    def point_of(self, title):
        """A point of the window that no other window covers (windows overlap)."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            boxes = self.windows()
            mine = [b for t, b in boxes.items() if t.endswith(title)]
            if mine:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"no window titled {title}")
        x, y, w, h = mine[0]
        others = [b for t, b in boxes.items() if not t.endswith(title)]
        for py in range(y + h - 10, y + 30, -10):
            for px in range(x + 10, x + w - 10, 10):
                if not any(ox <= px < ox + ow and oy <= py < oy + oh for ox, oy, ow, oh in others):
                    return px, py
        raise AssertionError(f"window {title} is covered")

    def clipboard(self):
        first, _, _ = self.ok("clipboard")
        _, source, size = first.split(" ")
        return source, int(size)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        while self.log.pump(0.1):
            pass

    def sanitizer_reports(self):
        return [l for l in self.log.lines
                if "Sanitizer" in l or "runtime error:" in l]


class Client:
    def __init__(self, binary, comp, qube, label, title, text=None, size=None, drag=False,
                 close_offers=False):
        fds = comp.ok(f"connect {qube} {label}")[2]
        if len(fds) != 1:
            raise AssertionError(f"connect {qube}: {len(fds)} descriptors")
        argv = [binary, "--title", title] + (["--set", text] if text else [])
        argv += ["--set-size", str(size)] if size else []
        argv += ["--drag"] if drag else []
        argv += ["--close-offers"] if close_offers else []
        env = {k: v for k, v in os.environ.items() if k != "WAYLAND_DISPLAY"}
        env["WAYLAND_SOCKET"] = str(fds[0])
        self.proc = subprocess.Popen(argv, env=env, pass_fds=fds, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE)
        os.close(fds[0])
        self.out = Lines(self.proc.stdout)
        self.title = title
        self.out.wait(r"^ready$", f"{title} to map")

    def offered(self):
        self.out.drain()
        return [l for l in self.out.lines if l.startswith("offered")]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def white_box_at_centre(path):
    """True when the screenshot (PNG, 8-bit RGB(A), from grim) is mostly white in a 400x40
    block just above the middle of the output, where the dialog is drawn."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6), (depth, ctype)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    # The dialog is 560 wide, centred, its top a third of the way down: this block lies inside
    # it, around its lines of dark text.
    cx, cy = w // 2, h // 3
    white = total = 0
    for y in range(cy - 20, cy + 20):
        for x in range(cx - 200, cx + 200):
            total += 1
            white += tuple(rows[y][x * bpp:x * bpp + 3]) == (255, 255, 255)
    return white > total * 0.7


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    compositor, client_bin, bulkheadd, cli = sys.argv[1:]
    if os.geteuid() != 0:
        skip("bulkheadd needs root (libvirt's system connection)")
    grim = shutil.which("grim")
    if not grim:
        skip("grim is not installed")

    tmp = tempfile.mkdtemp(prefix="bh-clip.")
    os.chmod(tmp, 0o700)
    env = dict(os.environ)
    env.update({
        "BULKHEAD_STATE_DIR": f"{tmp}/state",
        "BULKHEAD_SOCKET": f"{tmp}/run/api.sock",
        "BULKHEAD_POLICY_DIR": f"{tmp}/policy.d",
        "BULKHEAD_DOMAIN_PREFIX": f"bhclip{os.getpid()}-",
        "XDG_RUNTIME_DIR": f"{tmp}/xdg",
        "WLR_BACKENDS": "headless",
        "WLR_RENDERER": "pixman",
        "WLR_LIBINPUT_NO_DEVICES": "1",
        "NO_COLOR": "1",
        # The build's channel process, beside the build's bulkheadd.
        "BULKHEAD_QCHAN": os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(bulkheadd))),
                                       "qchan", "bulkhead-qchan"),
    })
    env.pop("WAYLAND_DISPLAY", None)
    env.pop("DISPLAY", None)
    os.makedirs(f"{tmp}/policy.d")
    os.makedirs(f"{tmp}/xdg", mode=0o700)
    with open(f"{tmp}/policy.d/50-test.policy", "w") as f:
        f.write("bulkhead.ClipboardPaste  *  alice  bob    allow\n"
                "bulkhead.ClipboardPaste  *  carol  bob    deny\n"
                "bulkhead.ClipboardPaste  *  carol  alice  ask\n"
                "bulkhead.ClipboardPaste  *  alice  dave   allow\n")

    src = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run([os.path.join(src, "tools", "start-services")], check=True)
    daemon = subprocess.Popen([bulkheadd], env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=open(f"{tmp}/bulkheadd.log", "w"))
    comp, clients = None, []
    try:
        deadline = time.monotonic() + WAIT
        while subprocess.run([cli, "info"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL).returncode != 0:
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("bulkheadd did not come up:\n" +
                                     open(f"{tmp}/bulkheadd.log").read())
            time.sleep(0.2)
        # Standalone qubes need no template; none of them is ever started.
        for name, label in (("alice", "green"), ("bob", "blue"), ("carol", "red"),
                            ("dave", "yellow")):
            subprocess.run([cli, "create", name, "--class", "StandaloneVM", "--label", label],
                           env=env, check=True)

        # wlroots 0.15 frees a destroyed output's global from a timer that never fires once
        # the display is gone, and fontconfig (under pango) keeps its caches for the process's
        # life; those leaks are the libraries', every other one fails the test.
        supp = f"{tmp}/lsan.supp"
        with open(supp, "w") as f:
            f.write("leak:wlr_global_destroy_safe\nleak:libfontconfig.so\n")
        comp = Compositor(compositor, dict(env, LSAN_OPTIONS=f"suppressions={supp}"))
        comp.log.wait(r"prompt: registered with bulkheadd", "the prompt to register")

        print("alice sets its selection; bob, focused later, is offered nothing")
        alice = Client(client_bin, comp, "alice", "green", "A", "secret-A")
        clients.append(alice)
        comp.click("A")
        alice.out.wait(r"^set$", "alice to set its selection")
        bob = Client(client_bin, comp, "bob", "blue", "B")
        clients.append(bob)
        comp.click("B")
        bob.out.wait(r"^focus$", "bob's focus")
        comp.click("A")
        alice.out.wait(r"^offered secret-A$", "alice to be offered its own selection")
        bob.out.wait(r"^leave$", "bob to lose focus")
        comp.click("B")
        bob.out.wait(r"^focus$", "bob's focus again", start=bob.out.lines.index("focus") + 1)
        comp.click("A")
        bob.out.wait(r"^leave$", "bob to lose focus again", start=bob.out.lines.index("leave") + 1)
        # Everything sent to bob while focused came before its leave: no offer at all.
        assert not any(l.startswith(("selection", "offered ")) for l in bob.out.lines), \
            bob.out.lines
        assert comp.clipboard() == ("-", 0), comp.clipboard()

        print("Ctrl+Shift+C in alice: the global clipboard holds alice's text")
        comp.click("A")
        comp.ok("key ctrl+shift+c")
        comp.log.wait(r"clipboard: copied 8 bytes from alice", "the copy")
        assert comp.clipboard() == ("alice", 8), comp.clipboard()

        print("Ctrl+Shift+V in bob (allowed): bob reads alice's text, the clipboard is empty")
        comp.click("B")
        comp.ok("key ctrl+shift+v")
        bob.out.wait(r"^offered secret-A$", "bob to be offered alice's text")
        assert comp.clipboard() == ("-", 0), comp.clipboard()
        # Neither gesture's C or V reached a client (Ctrl and Shift do, as they go down
        # before anyone can know a gesture follows).
        for c in (alice, bob):
            c.out.drain()
            assert not any(re.match(r"key (46|47) ", l) for l in c.out.lines), c.out.lines

        print("a selection over 256 KiB is not copied")
        dave = Client(client_bin, comp, "dave", "yellow", "D", size=256 * 1024 + 1, drag=True,
                      close_offers=True)
        clients.append(dave)
        comp.click("D")
        dave.out.wait(r"^set$", "dave to set its selection")
        mark = len(comp.log.lines)
        comp.ok("key ctrl+shift+c")
        comp.log.wait(r"clipboard: copy from dave refused: more than 262144 bytes",
                      "the refusal", start=mark)
        assert comp.clipboard() == ("-", 0), comp.clipboard()

        print("a drag from dave's window over bob's is refused: bob never sees it")
        x, y = comp.point_of("D")
        comp.ok(f"pointer {x} {y} left-down")
        dave.out.wait(r"^drag-start$", "dave to start a drag")
        dave.out.wait(r"^drag-cancelled$", "dave's drag to be refused")
        bx, by = comp.point_of("B")
        comp.ok(f"pointer {bx} {by}")
        comp.ok(f"pointer {bx} {by} left-up")
        comp.log.wait(r"clipboard: drag and drop refused", "the log to say so")
        comp.click("B")
        bob.out.wait(r"^focus$", "bob's focus", start=len(bob.out.lines))
        assert "drag-enter" not in bob.out.lines, bob.out.lines

        print("carol -> bob is denied: bob gets nothing, the clipboard keeps the text")
        carol = Client(client_bin, comp, "carol", "red", "C", "secret-C")
        clients.append(carol)
        comp.click("C")
        carol.out.wait(r"^set$", "carol to set its selection")
        comp.ok("key ctrl+shift+c")
        comp.log.wait(r"clipboard: copied 8 bytes from carol", "the copy from carol")
        comp.click("B")
        mark = len(comp.log.lines)
        comp.ok("key ctrl+shift+v")
        comp.log.wait(r"ClipboardPaste from carol to bob denied", "the denial", start=mark)
        assert not any("secret-C" in l for l in bob.offered()), bob.out.lines
        assert comp.clipboard() == ("carol", 8), comp.clipboard()

        print("carol -> alice asks: the compositor's dialog; Escape pastes nothing")
        shot = f"{tmp}/before.png"
        subprocess.run([grim, shot], env=comp_env(env, comp), check=True)
        assert not white_box_at_centre(shot), "a white box before any question"
        # alice's window is dragged (Super + left button) to lie partly under the dialog.
        x, y = comp.point_of("A")
        ax, ay, _, _ = [b for t, b in comp.windows().items() if t.endswith("A")][0]
        comp.ok(f"pointer {x} {y} super+left-down")
        comp.ok(f"pointer {x + 500 - ax} {y + 150 - ay}")
        comp.ok(f"pointer {x + 500 - ax} {y + 150 - ay} super+left-up")
        ax, ay, aw, ah = [b for t, b in comp.windows().items() if t.endswith("A")][0]
        assert (ax, ay) == (500, 150), (ax, ay)
        comp.click("A")
        mark = len(comp.log.lines)
        comp.ok("key ctrl+shift+v")
        comp.log.wait(r"prompt: asking: carol wants bulkhead.ClipboardPaste", "the dialog",
                      start=mark)
        shot = f"{tmp}/ask.png"
        subprocess.run([grim, shot], env=comp_env(env, comp), check=True)
        assert white_box_at_centre(shot), "no white dialog in the screenshot"
        # A click raises alice's window, which still does not cover the dialog, nor get focus.
        comp.ok(f"pointer {ax + 20} {ay + 10} left")
        shot = f"{tmp}/ask-click.png"
        subprocess.run([grim, shot], env=comp_env(env, comp), check=True)
        assert white_box_at_centre(shot), "a window covers the dialog after a click"
        _, lines, _ = comp.ok("windows")
        assert not any(l.endswith("\t1") for l in lines), lines
        comp.ok("key Escape")
        comp.log.wait(r"paste into alice denied at the prompt", "the refusal", start=mark)
        assert not any("secret-C" in l for l in alice.offered()), alice.out.lines
        assert comp.clipboard() == ("carol", 8), comp.clipboard()
        shot = f"{tmp}/after.png"
        subprocess.run([grim, shot], env=comp_env(env, comp), check=True)
        assert not white_box_at_centre(shot), "the dialog stayed after Escape"

        print("...and Return pastes")
        comp.click("A")
        mark = len(comp.log.lines)
        comp.ok("key ctrl+shift+v")
        comp.log.wait(r"prompt: asking: carol", "the dialog again", start=mark)
        # The dialog ignores Enter for its first PROMPT_INPUT_DELAY_MS (500 ms): at least that.
        time.sleep(PROMPT_INPUT_DELAY)
        comp.ok("key Return")
        alice.out.wait(r"^offered secret-C$", "alice to be offered carol's text")
        assert comp.clipboard() == ("-", 0), comp.clipboard()
        # Nor did Escape or Return, which went to the dialog.
        for c in (alice, bob, carol):
            c.out.drain()
            assert not any(re.match(r"key (1|28|46|47) ", l) for l in c.out.lines), c.out.lines

        print("with bulkheadd gone, nothing is pasted")
        comp.click("C")
        comp.ok("key ctrl+shift+c")
        comp.log.wait(r"clipboard: copied 8 bytes from carol", "a copy", start=mark)
        daemon.terminate()
        daemon.wait(WAIT)
        comp.click("B")
        mark = len(comp.log.lines)
        comp.ok("key ctrl+shift+v")
        comp.log.wait(r"nothing pasted: .*bulkheadd", "the paste to fail", start=mark)
        assert not any("secret-C" in l for l in bob.offered()), bob.out.lines
        assert comp.proc.poll() is None, "the compositor died"
        assert comp.clipboard() == ("carol", 8), comp.clipboard()

        print("bulkheadd back: the prompt registers again by itself, and pastes work")
        mark = len(comp.log.lines)
        daemon = subprocess.Popen([bulkheadd], env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL,
                                  stderr=open(f"{tmp}/bulkheadd.log", "a"))
        comp.log.wait(r"prompt: registered with bulkheadd", "the prompt to register again",
                      start=mark)
        comp.click("A")
        n = len([l for l in alice.offered() if l == "offered secret-C"])
        comp.ok("key ctrl+shift+v")
        comp.log.wait(r"prompt: asking: carol", "the dialog after the restart", start=mark)
        time.sleep(PROMPT_INPUT_DELAY)
        comp.ok("key Return")
        deadline = time.monotonic() + WAIT
        while len([l for l in alice.offered() if l == "offered secret-C"]) == n:
            assert time.monotonic() < deadline, "alice was not offered the text after a restart"
            alice.out.pump(1.0)

        print("a paste whose reader has gone away leaves the compositor running")
        comp.click("A")
        mark = len(comp.log.lines)
        comp.ok("key ctrl+shift+c")
        comp.log.wait(r"clipboard: copied 8 bytes from alice", "the copy", start=mark)
        comp.click("D")
        n = dave.out.lines.count("offer-closed")
        comp.ok("key ctrl+shift+v")
        comp.log.wait(r"pasted 8 bytes from alice into dave", "the paste", start=mark)
        deadline = time.monotonic() + WAIT
        while dave.out.lines.count("offer-closed") == n:
            assert time.monotonic() < deadline, "dave did not ask for the paste"
            dave.out.pump(1.0)
        comp.log.wait(r"clipboard: dave stopped reading its paste", "the write to fail",
                      start=mark)
        assert comp.clipboard() == ("-", 0), comp.clipboard()
        assert comp.proc.poll() is None, "the compositor died writing to a closed pipe"
        comp.stop()
        assert not comp.sanitizer_reports(), "sanitizer reports"
        print("ok")
        return 0
    except AssertionError as e:
        print("FAIL:", e, file=sys.stderr)
        if comp:
            comp.log.drain()
            print("--- compositor log ---\n" + "\n".join(comp.log.lines[-60:]), file=sys.stderr)
        return 1
    finally:
        for c in clients:
            c.stop()
        if comp:
            comp.stop()
        if daemon.poll() is None:
            daemon.terminate()
            daemon.wait()
        # BULKHEAD_TEST_KEEP=1 keeps the screenshots and bulkheadd's log for a post-mortem.
        if os.environ.get("BULKHEAD_TEST_KEEP") == "1":
            print("kept", tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def comp_env(env, comp):
    """grim is a host client on the compositor's ordinary socket."""
    e = dict(env)
    sockets = [n for n in os.listdir(env["XDG_RUNTIME_DIR"]) if re.fullmatch(r"wayland-\d+", n)]
    e["WAYLAND_DISPLAY"] = sorted(sockets)[0]
    return e


if __name__ == "__main__":
    sys.exit(main())
