#!/usr/bin/env python3
"""The control socket of a headless bulkhead-compositor: `connect` and `connector` hand out
working Wayland connections that belong to the named qube (and `audio` a connection to the
user's sound server) (foot runs on them, and `windows`
lists its window under that qube with its title), a peer of another uid is refused even when the
socket's mode would let it in, malformed and overlong lines are answered with errors while the
compositor carries on, and a window is gone from `windows` once its client exits.

test-input.py imports the Compositor class from here."""
import array
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77
WAIT = 60  # seconds; only ever a limit on waiting, never an assertion about speed


class Compositor:
    def __init__(self, binary, args=(), env_extra=None):
        self.runtime = tempfile.mkdtemp(prefix="bh-ctl-")
        os.chmod(self.runtime, 0o700)
        env = dict(os.environ)
        env.pop("WAYLAND_DISPLAY", None)
        env.pop("DISPLAY", None)
        env.update(XDG_RUNTIME_DIR=self.runtime, WLR_BACKENDS="headless",
                   WLR_RENDERER="pixman", WLR_HEADLESS_OUTPUTS="1",
                   WLR_LIBINPUT_NO_DEVICES="1", HOME=self.runtime, XKB_DEFAULT_LAYOUT="us")
        env.update(env_extra or {})
        self.env = env
        # wlroots 0.15 frees a destroyed output's global from a timer that never fires once
        # the display is gone, and fontconfig (under pango's title text) keeps its caches for
        # the process's life; those leaks are the libraries', every other one fails the test.
        supp = os.path.join(self.runtime, "lsan.supp")
        with open(supp, "w") as f:
            f.write("leak:wlr_global_destroy_safe\nleak:libfontconfig.so\n")
        self.log = []
        self.clients = []
        self.proc = subprocess.Popen([binary, *args],
                                     env=dict(env, LSAN_OPTIONS=f"suppressions={supp}"),
                                     stderr=subprocess.PIPE)
        self.partial = b""
        self.path = None
        self.display = None
        deadline = time.monotonic() + WAIT
        while (not self.path or not self.display) and time.monotonic() < deadline:
            line = self.readline(1)
            if line is None:
                if self.proc.poll() is not None:
                    break
                continue
            m = re.search(r"WAYLAND_DISPLAY=(\S+)", line)
            if m:
                self.display = m.group(1)
            m = re.search(r"control socket at (\S+)", line)
            if m:
                self.path = m.group(1)
        if not self.path or not self.display:
            self.close()
            raise RuntimeError("compositor did not start:\n" + "".join(self.log))
        self.sock = self.open()

    def readline(self, timeout):
        """The compositor's next log line, or None if none came within timeout. Read without
        buffering, so that select() sees every line that has not been returned yet."""
        while b"\n" not in self.partial:
            ready, _, _ = select.select([self.proc.stderr], [], [], timeout)
            if not ready:
                return None
            data = os.read(self.proc.stderr.fileno(), 65536)
            if not data:
                return None
            self.partial += data
        line, _, self.partial = self.partial.partition(b"\n")
        line = line.decode(errors="replace") + "\n"
        self.log.append(line)
        return line

    def drain_log(self):
        while self.readline(0) is not None:
            pass

    def open(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(WAIT)
        s.connect(self.path)
        return s

    leftover = {}

    @classmethod
    def recv_answer(cls, s):
        """One answer: its first line, any following lines it announces, and descriptors."""
        data, fds = cls.leftover.pop(s.fileno(), b""), []
        while b"\n" not in data:
            msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(4 * 4))
            if not msg:
                raise EOFError("control socket closed")
            data += msg
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    a = array.array("i")
                    a.frombytes(payload[:len(payload) - len(payload) % 4])
                    fds += list(a)
        first, _, rest = data.partition(b"\n")
        first = first.decode()
        m = re.fullmatch(r"ok (\d+)", first)
        lines = []
        if m and first.startswith("ok ") and first.count(" ") == 1:
            want = int(m.group(1))
            while rest.count(b"\n") < want:
                more = s.recv(65536)
                if not more:
                    raise EOFError("control socket closed mid-answer")
                rest += more
            parts = rest.split(b"\n", want)
            lines = [l.decode() for l in parts[:want]]
            rest = parts[want] if len(parts) > want else b""
        if rest:
            cls.leftover[s.fileno()] = rest
        return first, lines, fds

    def request(self, line, sock=None):
        s = sock or self.sock
        s.sendall(line.encode() + b"\n")
        return self.recv_answer(s)

    def windows(self):
        first, lines, _ = self.request("windows")
        if not first.startswith("ok "):
            raise RuntimeError(f"windows: {first}")
        out = []
        for l in lines:
            wid, qube, title, x, y, w, h, focused = l.split("\t")
            out.append(dict(id=int(wid), qube=qube, title=title, x=int(x), y=int(y),
                            w=int(w), h=int(h), focused=focused == "1"))
        return out

    def wait_windows(self, pred, what):
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            self.drain_log()
            wins = self.windows()
            if pred(wins):
                return wins
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"timed out waiting for {what}; windows: {self.windows()}")

    def window(self, title):
        for w in self.windows():
            if w["title"] == title:
                return w
        return None

    def connect(self, qube, label):
        first, _, fds = self.request(f"connect {qube} {label}")
        if first != "ok" or len(fds) != 1:
            raise RuntimeError(f"connect {qube} {label}: {first} {fds}")
        return fds[0]

    def spawn(self, fd, argv, **kw):
        """Runs a Wayland client on the connection fd (handed over: closed here)."""
        env = dict(self.env, WAYLAND_SOCKET=str(fd))
        env.pop("WAYLAND_DISPLAY", None)
        p = subprocess.Popen(argv, env=env, pass_fds=[fd], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, **kw)
        os.close(fd)
        self.clients.append(p)
        return p

    def foot(self, qube, label, title, *command):
        fd = self.connect(qube, label)
        return self.spawn(fd, ["foot", f"--title={title}", "--window-size-pixels=400x300",
                               *(command or ("sleep", "600"))])

    def sanitizer_report(self):
        """Whatever AddressSanitizer/UBSan/LeakSanitizer said (builds with -Db_sanitize)."""
        text = "".join(self.log)
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            if marker in text:
                return text[text.index(marker):][:3000]
        return None

    def alive(self):
        return self.proc.poll() is None

    def close(self):
        for p in self.clients:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rest = self.partial + self.proc.stderr.read()
        if rest:
            self.log.append(rest.decode(errors="replace"))
        shutil.rmtree(self.runtime, ignore_errors=True)


def check(failures, cond, message):
    if not cond:
        print("FAIL: " + message)
        failures.append(message)


def other_uid_is_refused(comp, failures):
    """Opens the way on the file system, so that only SO_PEERCRED stands between nobody and
    the socket."""
    setpriv = shutil.which("setpriv")
    if not setpriv:
        print("setpriv missing: other-uid check not run")
        failures.append("setpriv missing")
        return
    os.chmod(comp.runtime, 0o755)
    os.chmod(comp.path, 0o777)
    probe = ("import socket,sys\n"
             "s=socket.socket(socket.AF_UNIX)\n"
             "s.settimeout(60)\n"
             "s.connect(sys.argv[1])\n"
             "try:\n"
             "    s.sendall(b'connect intruder red\\n')\n"
             "except (BrokenPipeError, ConnectionResetError):\n"
             "    pass\n"
             "data=b''\n"
             "try:\n"
             "    while True:\n"
             "        m=s.recv(4096)\n"
             "        if not m: break\n"
             "        data+=m\n"
             "except ConnectionResetError:\n"
             "    data+=b'(reset)'\n"
             "print(data.decode(errors='replace'), end='')\n")
    r = subprocess.run([setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        sys.executable, "-c", probe, comp.path],
                       capture_output=True, text=True, timeout=WAIT)
    os.chmod(comp.path, 0o600)
    os.chmod(comp.runtime, 0o700)
    check(failures, r.returncode == 0, f"nobody's probe could not connect: {r.stderr}")
    # The refusal closes the connection: a reset may overtake the error line.
    check(failures, (r.stdout.startswith("error") or r.stdout == "(reset)")
          and "ok" not in r.stdout,
          f"a peer of another uid got {r.stdout!r}")
    first, _, _ = comp.request("windows")
    check(failures, first.startswith("ok"), "compositor did not carry on after the refusal")
    # The intruder's qube must not have been registered: asking for it with another label
    # works only if it is unknown.
    first, _, fds = comp.request("connect intruder blue")
    for fd in fds:
        os.close(fd)
    check(failures, first == "ok", f"refused peer registered its qube ({first})")


def bad_requests(comp, failures):
    cases = [
        "frobnicate",
        "connect",
        "connect work",
        "connect work blue extra",
        "connect work pink",
        "connect 9bad blue",
        "connect " + "q" * 40 + " blue",
        "connect work red",  # work is blue
        "connect wo\x01rk blue",
        "connect wo\x00rk blue",
        "windows now",
        "key nosuchkeyname",
        "key ctrl+a+b",
        "key " + "+".join(["shift"] * 20),
        "pointer 10",
        "pointer ten 10",
        "pointer 10 10 thumb",
        "pointer 10 10 left-sideways",
        "pointer 10 10 a+left",
        "",
    ]
    for line in cases:
        first, _, fds = comp.request(line)
        for fd in fds:
            os.close(fd)
        check(failures, first.startswith("error ") and not fds, f"{line!r} answered {first!r}")
    # An overlong line gets one error, and the line after it is answered normally.
    comp.sock.sendall(b"windows " + b"x" * 5000 + b"\nwindows\n")
    first, _, fds = comp.recv_answer(comp.sock)
    check(failures, first == "error line too long", f"overlong line answered {first!r}")
    first, _, _ = comp.recv_answer(comp.sock)
    check(failures, first.startswith("ok "), f"request after an overlong line: {first!r}")
    # A peer that sends garbage and vanishes leaves the compositor running.
    s = comp.open()
    s.sendall(os.urandom(3000).replace(b"\n", b"x"))
    s.close()
    s = comp.open()
    s.sendall(b"connect work blue\n")  # and one that never reads its answer
    s.close()
    first, _, _ = comp.request("windows")
    check(failures, first.startswith("ok ") and comp.alive(), "compositor did not carry on")
    first, _, _ = comp.request("clipboard")
    check(failures, first == "ok - 0", f"empty clipboard answered {first!r}")


def audio_request(comp, failures):
    """`audio`: an error naming the socket while no sound server listens, then a connection to
    the one at $XDG_RUNTIME_DIR/pipewire-0 (a listening socket of the test stands in for
    PipeWire: what is written on the handed fd arrives at the socket the test accepted)."""
    path = os.path.join(comp.runtime, "pipewire-0")
    first, _, fds = comp.request("audio")
    check(failures, first.startswith("error no sound server at " + path) and not fds,
          f"audio without a server answered {first} {fds}")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    server.settimeout(WAIT)
    try:
        first, _, fds = comp.request("audio")
        check(failures, first == "ok" and len(fds) == 1, f"audio answered {first} {fds}")
        if len(fds) == 1:
            conn, _ = server.accept()
            conn.settimeout(WAIT)
            with socket.socket(fileno=fds[0]) as handed, conn:
                handed.sendall(b"hello pipewire")
                got = b""
                while len(got) < 14:
                    chunk = conn.recv(64)
                    if not chunk:
                        break
                    got += chunk
                check(failures, got == b"hello pipewire", f"the server got {got!r}")
                check(failures, os.get_blocking(handed.fileno()),
                      "the handed connection is non-blocking")
        first, _, fds = comp.request("audio extra")
        check(failures, first.startswith("error") and not fds, f"audio extra answered {first}")
    finally:
        server.close()
        os.unlink(path)


def main():
    if os.geteuid() != 0:
        print("needs root")
        return SKIP
    if not shutil.which("foot"):
        print("foot missing")
        return SKIP
    comp = Compositor(sys.argv[1])
    failures = []
    try:
        check(failures, os.stat(comp.path).st_mode & 0o777 == 0o600,
              f"socket mode {oct(os.stat(comp.path).st_mode)}")
        # connect: a foot of qube work.
        a = comp.foot("work", "blue", "alpha")
        # connector: the proxy's way; two connections from one connector, both qube personal.
        first, _, fds = comp.request("connector personal green")
        check(failures, first == "ok" and len(fds) == 1, f"connector answered {first} {fds}")
        conn = socket.socket(fileno=fds[0])
        conn.settimeout(WAIT)
        conn.sendall(b"xy")
        got = []
        while len(got) < 2:
            _, anc, _, _ = conn.recvmsg(1, socket.CMSG_SPACE(4))
            for level, kind, payload in anc:
                if kind == socket.SCM_RIGHTS:
                    a_ = array.array("i")
                    a_.frombytes(payload[:4])
                    got += list(a_)
        b = comp.spawn(got[0], ["foot", "--title=beta", "--window-size-pixels=400x300",
                                "sleep", "600"])
        c = comp.spawn(got[1], ["foot", "--title=gamma", "--window-size-pixels=400x300",
                                "sleep", "600"])
        want = {("work", "[work] alpha"), ("personal", "[personal] beta"),
                ("personal", "[personal] gamma")}
        wins = comp.wait_windows(lambda ws: want <= {(w["qube"], w["title"]) for w in ws},
                                 "three windows")
        check(failures, len(wins) == 3, f"windows: {wins}")
        # The connector closes on EOF; the connections it made stay.
        conn.close()
        audio_request(comp, failures)
        # A host client on the ordinary socket is listed as "-".
        host_env = dict(comp.env, WAYLAND_DISPLAY=comp.display)
        host = subprocess.Popen(["foot", "--title=hostwin", "--window-size-pixels=300x200",
                                 "sleep", "600"], env=host_env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        comp.clients.append(host)
        comp.wait_windows(lambda ws: any(w["title"] == "hostwin" and w["qube"] == "-"
                                         for w in ws), "the host window")
        bad_requests(comp, failures)
        other_uid_is_refused(comp, failures)
        # A client that exits is no longer listed; the others stay.
        b.terminate()
        b.wait(timeout=WAIT)
        wins = comp.wait_windows(lambda ws: not any(w["title"] == "[personal] beta"
                                                    for w in ws), "beta to go")
        check(failures, {w["title"] for w in wins} ==
              {"[work] alpha", "[personal] gamma", "hostwin"}, f"after exit: {wins}")
        check(failures, a.poll() is None and c.poll() is None, "other clients died")
        first, _, _ = comp.request("quit")
        check(failures, first == "ok", f"quit answered {first}")
        try:
            comp.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            pass
        check(failures, comp.proc.returncode == 0, f"quit: exit {comp.proc.returncode}")
        check(failures, not os.path.exists(comp.path), "socket left behind after quit")
    finally:
        comp.close()
    report = comp.sanitizer_report()
    check(failures, report is None, f"sanitizer: {report}")
    if failures:
        print("".join(comp.log[-40:]))
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
