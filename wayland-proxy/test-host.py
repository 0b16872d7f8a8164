#!/usr/bin/env python3
"""The Wayland proxy's host half on its own, against a real headless bulkhead-compositor: the
test speaks the link protocol (wayland-proxy/link.h) as a guest half would. Only allowed globals
arrive; hostile requests (a bind to a name never announced, a truncated message, a string without
its terminator, create_pool with a missing or wrong fd announcement, a buffer above the cap) end
only their own connection; a window drawn through the proxy maps with its title under the qube's
name; the process runs as nobody under seccomp and holds only its two descriptors (plus stdio
and one per live connection, pool or pipe)."""
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

SKIP = 77
QUBE = "work"
ALLOWED = {"wl_compositor", "wl_subcompositor", "wl_shm", "wl_seat", "wl_output", "xdg_wm_base",
           "zxdg_decoration_manager_v1", "wp_viewporter", "wl_data_device_manager"}

HELLO, CONN_OPEN, CONN_CLOSE, WL, FD_SHM, FD_FILE, FD_PIPE = 1, 2, 3, 4, 5, 6, 7
PIPE_DATA, PIPE_END, SHM_WRITE = 8, 9, 10
WAIT = 60  # seconds, for anything to arrive; generous, never an assertion on speed


def wl_string(s):
    b = s.encode() + b"\0"
    return struct.pack("<I", len(b)) + b + b"\0" * (-len(b) % 4)


def wl_msg(obj, opcode, args=b""):
    return struct.pack("<II", obj, ((8 + len(args)) << 16) | opcode) + args


def u32(*vals):
    return struct.pack("<" + "I" * len(vals), *vals)


def i32(*vals):
    return struct.pack("<" + "i" * len(vals), *vals)


class Failure(Exception):
    pass


class Link:
    """The guest half's end of the link."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.frames = []  # read but not yet consumed

    def send(self, ftype, conn, payload=b""):
        self.sock.sendall(struct.pack("<III", ftype, conn, len(payload)) + payload)

    def _read_more(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise Failure("timed out waiting on the link")
        ready, _, _ = select.select([self.sock], [], [], left)
        if not ready:
            raise Failure("timed out waiting on the link")
        data = self.sock.recv(1 << 20)
        if not data:
            raise Failure("the host half closed the link")
        self.buf += data
        while len(self.buf) >= 12:
            ftype, conn, length = struct.unpack("<III", self.buf[:12])
            if len(self.buf) < 12 + length:
                break
            self.frames.append((ftype, conn, self.buf[12:12 + length]))
            self.buf = self.buf[12 + length:]

    def wait(self, pred, what):
        """Takes the first frame, in order, for which pred holds; others stay for later."""
        deadline = time.monotonic() + WAIT
        while True:
            for i, f in enumerate(self.frames):
                if pred(f):
                    return self.frames.pop(i)
            try:
                self._read_more(deadline)
            except Failure as e:
                raise Failure(f"{e} ({what})")


def events(payload):
    out, off = [], 0
    while off + 8 <= len(payload):
        obj, word = struct.unpack("<II", payload[off:off + 8])
        size = word >> 16
        out.append((obj, word & 0xffff, payload[off + 8:off + size]))
        off += size
    return out


class Conn:
    def __init__(self, link, cid):
        self.link, self.id, self.next_id = link, cid, 2
        self.events = []
        link.send(CONN_OPEN, cid)

    def new_id(self):
        i = self.next_id
        self.next_id += 1
        return i

    def send(self, *msgs):
        self.link.send(WL, self.id, b"".join(msgs))

    def pump_until(self, pred, what):
        """Collects this connection's events until pred(event) holds for one."""
        for i, e in enumerate(self.events):
            if pred(e):
                del self.events[:i + 1]
                return e
        while True:
            f = self.link.wait(lambda f: f[1] == self.id, what)
            if f[0] == CONN_CLOSE:
                raise Failure(f"connection {self.id} closed: {f[2].decode(errors='replace')} "
                              f"({what})")
            if f[0] == WL:
                for e in events(f[2]):
                    if pred(e):
                        return e
                    self.events.append(e)
            else:
                self.events.append(("frame", f[0], f[2]))
                if pred(("frame", f[0], f[2])):
                    return self.events.pop()

    def roundtrip(self):
        cb = self.new_id()
        self.send(wl_msg(1, 0, u32(cb)))
        self.pump_until(lambda e: e[0] == cb and e[1] == 0, "wl_display.sync")

    def registry(self):
        reg = self.new_id()
        self.send(wl_msg(1, 1, u32(reg)))
        self.roundtrip()
        globs = {}
        for obj, op, args in self.events:
            if obj == reg and op == 0:
                name, slen = struct.unpack("<II", args[:8])
                iface = args[8:8 + slen - 1].decode()
                version = struct.unpack("<I", args[8 + (slen + 3) // 4 * 4:][:4])[0]
                globs[iface] = (name, version)
        self.events = [e for e in self.events if e[0] != reg]
        return reg, globs

    def bind(self, reg, globs, iface, version):
        oid = self.new_id()
        self.send(wl_msg(reg, 0, u32(globs[iface][0]) + wl_string(iface) + u32(version, oid)))
        return oid

    def expect_closed(self, what):
        f = self.link.wait(lambda f: f[1] == self.id and f[0] == CONN_CLOSE, what)
        return f[2].decode(errors="replace")


def control(runtime, line):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(os.path.join(runtime, "bulkhead-compositor.ctl"))
    s.sendall(line.encode() + b"\n")
    msg, fds, _, _ = socket.recv_fds(s, 4096, 1)
    data = msg
    while data.count(b"\n") < 1:
        more = s.recv(4096)
        if not more:
            break
        data += more
    first = data.split(b"\n", 1)[0].decode()
    if line == "windows" and first.startswith("ok "):
        want = int(first.split()[1])
        while data.count(b"\n") < want + 1:
            more = s.recv(4096)
            if not more:
                break
            data += more
    s.close()
    return data.decode(), fds


def proc_fds(pid):
    d = f"/proc/{pid}/fd"
    return {int(n): os.readlink(os.path.join(d, n)) for n in os.listdir(d)}


def main():
    if os.geteuid() != 0:
        print("needs root (the host half drops to nobody)")
        return SKIP
    compositor, proxy = sys.argv[1], sys.argv[2]
    runtime = tempfile.mkdtemp(prefix="bh-proxy-")
    os.chmod(runtime, 0o700)
    env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "DISPLAY")}
    env.update(XDG_RUNTIME_DIR=runtime, WLR_BACKENDS="headless", WLR_RENDERER="pixman",
               WLR_HEADLESS_OUTPUTS="1", WLR_LIBINPUT_NO_DEVICES="1", HOME=runtime)
    supp = os.path.join(runtime, "lsan.supp")
    with open(supp, "w") as f:
        f.write("leak:wlr_global_destroy_safe\n")
    comp = subprocess.Popen([compositor], env=dict(env, LSAN_OPTIONS=f"suppressions={supp}"),
                            stderr=subprocess.PIPE, text=True)
    host = None
    comp_log = []
    failures = []

    def check(cond, msg):
        if not cond:
            failures.append(msg)
            print("FAIL: " + msg)

    try:
        ctl = os.path.join(runtime, "bulkhead-compositor.ctl")
        deadline = time.monotonic() + WAIT
        while not os.path.exists(ctl) and time.monotonic() < deadline and comp.poll() is None:
            time.sleep(0.1)
        if not os.path.exists(ctl):
            print("the compositor's control socket did not appear")
            return 1
        answer, fds = control(runtime, f"connector {QUBE} blue")
        if not answer.startswith("ok") or len(fds) != 1:
            print(f"connector: {answer!r}")
            return 1
        connector = fds[0]
        guest_end, host_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)

        # dup2 leaves 3 and 4 inheritable; everything else of ours is close-on-exec.
        def child_fds():
            os.dup2(host_end.fileno(), 3)
            os.dup2(connector, 4)

        host = subprocess.Popen([proxy, "host", "--qube", QUBE], stdin=subprocess.DEVNULL, text=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                preexec_fn=child_fds, close_fds=False)
        host_end.close()
        os.close(connector)
        link = Link(guest_end)

        link.send(HELLO, 0, u32(1))
        f = link.wait(lambda f: f[0] == HELLO, "hello")
        check(f[1] == 0 and f[2] == u32(1), f"hello answer {f}")

        # Confinement, before any connection exists.
        with open(f"/proc/{host.pid}/status") as st:
            status = st.read()
        uid = re.search(r"^Uid:\s+(\d+)\s+(\d+)\s+(\d+)", status, re.M).groups()
        gid = re.search(r"^Gid:\s+(\d+)\s+(\d+)\s+(\d+)", status, re.M).groups()
        check(uid == ("65534",) * 3, f"uids {uid}")
        check(gid == ("65534",) * 3, f"gids {gid}")
        check(re.search(r"^Seccomp:\s+2$", status, re.M) is not None, "seccomp not filtering")
        check(re.search(r"^NoNewPrivs:\s+1$", status, re.M) is not None, "no_new_privs unset")
        check(re.search(r"^CapEff:\s+0+$", status, re.M) is not None, "capabilities left")
        fds = proc_fds(host.pid)
        check(sorted(fds) == [0, 1, 2, 3, 4], f"descriptors at start: {fds}")
        with open(f"/proc/{host.pid}/limits") as lim:
            limits = lim.read()
        check(re.search(r"^Max open files\s+256\s+256", limits, re.M) is not None,
              "open files limit")
        check(re.search(r"^Max processes\s+0\s+0", limits, re.M) is not None, "process limit")
        check(re.search(r"^Max core file size\s+0\s+0", limits, re.M) is not None, "core limit")

        # Globals: only the allow list, and the ones a qube needs are there.
        c1 = Conn(link, 1)
        reg1, globs = c1.registry()
        check(set(globs) <= ALLOWED, f"globals beyond the allow list: {set(globs) - ALLOWED}")
        check({"wl_compositor", "wl_shm", "xdg_wm_base", "wl_seat"} <= set(globs),
              f"globals missing: {sorted(globs)}")

        c2 = Conn(link, 2)
        reg2, globs2 = c2.registry()

        # A bind to a name never announced ends that connection only.
        c1.send(wl_msg(reg1, 0, u32(4242) + wl_string("wl_compositor") + u32(1, c1.new_id())))
        reason = c1.expect_closed("bind to an unannounced name")
        check("not announced" in reason, f"bind refusal reason {reason!r}")
        c2.roundtrip()

        # A bind naming an announced global with another interface.
        c3 = Conn(link, 3)
        reg3, globs3 = c3.registry()
        c3.send(wl_msg(reg3, 0, u32(globs3["wl_shm"][0]) + wl_string("wl_compositor") +
                       u32(1, c3.new_id())))
        check("not announced" in c3.expect_closed("bind with another interface"),
              "bind with another interface")

        # A truncated message: the size says 16, 12 bytes are there.
        c4 = Conn(link, 4)
        c4.send(struct.pack("<III", 1, (16 << 16) | 0, 5))
        check("truncated" in c4.expect_closed("truncated message"), "truncated message")

        # A string without its terminator.
        c5 = Conn(link, 5)
        reg5, globs5 = c5.registry()
        c5.send(wl_msg(reg5, 0, u32(globs5["wl_compositor"][0], 4) + b"wl_c" + u32(1, 4)))
        check("refused" in c5.expect_closed("string without terminator"), "unterminated string")

        # create_pool without an announcement, and with a pipe announced instead.
        for cid, announce in ((6, None), (7, (FD_PIPE, u32(1))), (8, (FD_SHM, u32(8192)))):
            c = Conn(link, cid)
            reg, gl = c.registry()
            shm = c.bind(reg, gl, "wl_shm", 1)
            if announce:
                link.send(announce[0], cid, announce[1])
            c.send(wl_msg(shm, 0, u32(c.new_id()) + i32(4096)))
            reason = c.expect_closed(f"create_pool with announcement {announce}")
            check("create_pool" in reason, f"create_pool refusal {reason!r}")

        # A buffer above LINK_MAX_BUFFER_BYTES, inside a pool big enough for it.
        c9 = Conn(link, 9)
        reg9, globs9 = c9.registry()
        shm = c9.bind(reg9, globs9, "wl_shm", 1)
        size = 8200 * 4 * 8200
        link.send(FD_SHM, 9, u32(size))
        pool = c9.new_id()
        c9.send(wl_msg(shm, 0, u32(pool) + i32(size)))
        c9.roundtrip()
        c9.send(wl_msg(pool, 0, u32(c9.new_id()) + i32(0, 8200, 8200, 8200 * 4, 1)))
        reason = c9.expect_closed("buffer above the cap")
        check("above the cap" in reason, f"buffer cap refusal {reason!r}")
        c2.roundtrip()

        # A window through the proxy: it maps, titled under the qube's name.
        w = Conn(link, 10)
        regw, globsw = w.registry()
        comp_id = w.bind(regw, globsw, "wl_compositor", 4)
        shm = w.bind(regw, globsw, "wl_shm", 1)
        wm = w.bind(regw, globsw, "xdg_wm_base", 1)
        seat = w.bind(regw, globsw, "wl_seat", 5)
        kbd = w.new_id()
        w.send(wl_msg(seat, 1, u32(kbd)))
        keymap_file = w.pump_until(lambda e: e[0] == "frame" and e[1] == FD_FILE, "keymap")
        check(b"xkb_keymap" in keymap_file[2], "keymap contents")
        km = w.pump_until(lambda e: e[0] == kbd and e[1] == 0, "wl_keyboard.keymap")
        check(struct.unpack("<II", km[2])[1] == len(keymap_file[2]),
              "keymap size and contents disagree")
        surface = w.new_id()
        w.send(wl_msg(comp_id, 0, u32(surface)))
        xdg_surface = w.new_id()
        w.send(wl_msg(wm, 2, u32(xdg_surface, surface)))
        toplevel = w.new_id()
        w.send(wl_msg(xdg_surface, 1, u32(toplevel)),
               wl_msg(toplevel, 2, wl_string("hello \u00e9t\u00e9")),
               wl_msg(toplevel, 3, wl_string("org.example.test")),
               wl_msg(surface, 6))
        cfg = w.pump_until(lambda e: e[0] == xdg_surface and e[1] == 0, "xdg_surface.configure")
        serial = struct.unpack("<I", cfg[2])[0]
        width, height = 200, 100
        pool_size = width * 4 * height
        link.send(FD_SHM, 10, u32(pool_size))
        pool = w.new_id()
        w.send(wl_msg(shm, 0, u32(pool) + i32(pool_size)))
        link.send(SHM_WRITE, 10, u32(pool, 0, width * 4, width * 4, height, 0) +
                  b"\x40\x80\xc0\xff" * (width * height))
        buf = w.new_id()
        w.send(wl_msg(pool, 0, u32(buf) + i32(0, width, height, width * 4, 1)),
               wl_msg(xdg_surface, 4, u32(serial)),
               wl_msg(surface, 1, u32(buf) + i32(0, 0)),
               wl_msg(surface, 2, i32(0, 0, width, height)),
               wl_msg(surface, 6))
        w.roundtrip()

        title = None
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            answer, _ = control(runtime, "windows")
            for line in answer.splitlines()[1:]:
                fields = line.split("\t")
                if len(fields) >= 3 and fields[1] == QUBE:
                    title = fields[2]
            if title:
                break
            time.sleep(0.2)
        check(title == f"[{QUBE}] hello \u00e9t\u00e9", f"window title {title!r}")

        # Per-connection descriptors only: sockets, the pool's memfd.
        fds = proc_fds(host.pid)
        extra = {n: t for n, t in fds.items() if n > 4}
        check(all(t.startswith(("socket:", "/memfd:", "pipe:")) for t in extra.values()),
              f"unexpected descriptors {extra}")
        check(len([t for t in extra.values() if t.startswith("socket:")]) == 2,
              f"connection sockets {extra}")

        # The guest closing a connection and the link: the process exits cleanly.
        link.send(CONN_CLOSE, 10)
        c2.roundtrip()
        guest_end.shutdown(socket.SHUT_WR)
        try:
            rc = host.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            rc = None
        check(rc == 0, f"host half exit status {rc} at the link's end")

        # A link-level violation: a frame before hello ends the process with status 1.
        answer, fds = control(runtime, f"connector {QUBE} blue")
        g2, h2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        conn2 = fds[0]

        def child_fds2():
            os.dup2(h2.fileno(), 3)
            os.dup2(conn2, 4)

        bad = subprocess.Popen([proxy, "host", "--qube", QUBE], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               preexec_fn=child_fds2, close_fds=False)
        h2.close()
        os.close(conn2)
        g2.sendall(struct.pack("<III", CONN_OPEN, 1, 0))
        try:
            rc = bad.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            bad.kill()
            rc = None
        bad.stderr.close()
        g2.close()
        check(rc == 1, f"frame before hello: exit status {rc}")

        check(comp.poll() is None, "the compositor died")
    except Failure as e:
        failures.append(str(e))
        print("FAIL: " + str(e))
    finally:
        if host:
            if host.poll() is None:
                host.kill()
            err = host.stderr.read()
            host.wait()
            print("host half log:\n" + err)
        comp.send_signal(signal.SIGTERM)
        try:
            comp_log = comp.communicate(timeout=20)[1]
        except subprocess.TimeoutExpired:
            comp.kill()
            comp_log = comp.communicate()[1]
        if failures:
            print("compositor log:\n" + comp_log)
        shutil.rmtree(runtime, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
