#!/usr/bin/env python3
"""Hostile Wayland clients against the proxy, on a headless bulkhead-compositor.

Two qubes, work (blue) and banking (red), each with its proxy pair (the guest half running on
the host over a socketpair link). banking shows a well-behaved window. Then, through work's
guest half, raw clients (wlraw.py) each map a window and then misbehave: binds of screencopy,
layer-shell and virtual-keyboard by global name, binds of names not announced or under another
interface, shm buffers above the cap or outside their pool, a pool above the cap, truncated
messages, strings without their NUL, sizes that are no multiple of 4, descriptors missing or
extra. Each must be disconnected by the proxy, its window gone, while banking's window list
stays exactly as it was and work's proxy pair carries on. A title of "[banking] ..." is not
refused but shows as "[work] [banking] ..." in a blue frame (screenshot). The same hostile
messages are then sent straight to a host half as a compromised guest half would (link.h frames
from Python): each must end its own link connection (LINK_CONN_CLOSE), and garbage on the link
itself must end that host half, and nothing else. Afterwards a fresh well-behaved work client
still gets its window, and the compositor is alive with no crash in its log.

argv: bulkhead-compositor, bulkhead-wayland-proxy, test-client (compositor/)."""
import importlib.util
import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import wlraw  # noqa: E402
from wlraw import Closed, header, message  # noqa: E402

SKIP = 77
WAIT = 60  # seconds; only ever a limit on waiting, never an assertion about speed
BORDER, TITLE = 4, 22
QUBES = {"work": ("blue", 0x3465A4), "banking": ("red", 0xCC0000)}
BANK_TITLE = "Bank login"
FORGED = "[banking] Bank login"

# link.h
HELLO, CONN_OPEN, CONN_CLOSE, WL, FD_SHM, FD_FILE, FD_PIPE = 1, 2, 3, 4, 5, 6, 7
PIPE_DATA, PIPE_END, SHM_WRITE = 8, 9, 10
LINK_MAX_PAYLOAD = 1 << 20
LINK_MAX_CONNS = 64
LINK_MAX_POOL_BYTES = 512 << 20
LINK_MAX_BUFFER_BYTES = 8192 * 8192 * 4
SHM_WRITE_INLINE = 512 << 10  # pools up to this size get their contents sent by LinkConn

FORBIDDEN = ("zwlr_screencopy_manager_v1", "zwlr_layer_shell_v1",
             "zwp_virtual_keyboard_manager_v1")


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


control = load("control", os.path.join(here, "..", "..", "compositor", "test-control.py"))
colours = load("colours", os.path.join(here, "..", "..", "compositor", "test-colours.py"))
check = control.check


def u32(*vals):
    return struct.pack("<" + "I" * len(vals), *vals)


def i32(*vals):
    return struct.pack("<" + "i" * len(vals), *vals)


# ---- proxy halves ----

def start_host(comp, proxy, name, label, log):
    """A host half for qube name: fd 3 its link (the other end returned), fd 4 a connector
    from the compositor's control socket."""
    first, _, fds = comp.request(f"connector {name} {label}")
    if first != "ok" or len(fds) != 1:
        raise RuntimeError(f"connector {name}: {first}")
    host_end, guest_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    # Out of the way of 3 and 4 first, then moved there in the child.
    link_hi = os.dup2(host_end.fileno(), 100, inheritable=False)
    conn_hi = os.dup2(fds[0], 101, inheritable=False)
    os.close(fds[0])
    host_end.close()

    def place():
        os.dup2(link_hi, 3)
        os.dup2(conn_hi, 4)

    try:
        proc = subprocess.Popen([proxy, "host", "--qube", name], preexec_fn=place,
                                close_fds=False, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT)
    finally:
        os.close(link_hi)
        os.close(conn_hi)
    return proc, guest_end


def stop(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class Qube:
    """A proxy pair: host half and guest half, the guest half serving a socket in tmp."""

    def __init__(self, comp, proxy, name, label, tmp):
        self.name = name
        self.logs = [os.path.join(tmp, f"host-{name}.log"), os.path.join(tmp, f"guest-{name}.log")]
        with open(self.logs[0], "w") as log:
            self.host, guest_end = start_host(comp, proxy, name, label, log)
        self.socket = os.path.join(tmp, f"guest-{name}", f"wayland-{name}")
        gfd = guest_end.detach()
        with open(self.logs[1], "w") as log:
            self.guest = subprocess.Popen([proxy, "guest", "--link-fd", str(gfd), "--socket",
                                           self.socket], pass_fds=[gfd],
                                          stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT)
        os.close(gfd)
        self.runtime = os.path.join(tmp, f"run-{name}")
        os.mkdir(self.runtime, 0o700)
        self.clients = []
        deadline = time.monotonic() + WAIT
        while not os.path.exists(self.socket) and time.monotonic() < deadline:
            if self.guest.poll() is not None or self.host.poll() is not None:
                raise RuntimeError(f"proxy pair of {name} exited:\n{self.log_text()}")
            time.sleep(0.1)
        if not os.path.exists(self.socket):
            raise RuntimeError(f"the guest half of {name} did not listen:\n{self.log_text()}")

    def run(self, base_env, argv):
        env = dict(base_env, WAYLAND_DISPLAY=self.socket, XDG_RUNTIME_DIR=self.runtime)
        env.pop("WAYLAND_SOCKET", None)
        p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.clients.append(p)
        return p

    def alive(self):
        return self.host.poll() is None and self.guest.poll() is None

    def log_text(self):
        out = ""
        for path in self.logs:
            with open(path, errors="replace") as f:
                out += f"--- {os.path.basename(path)}\n{f.read()}"
        return out

    def close(self):
        for p in self.clients + [self.guest, self.host]:
            stop(p)


class LinkEnded(Exception):
    """The host half closed the link."""


class Link:
    """The guest half's end of a link, spoken by the test: frames routed by conn."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.frames = {}  # conn -> [(type, payload)]
        self.ended = False

    def send(self, ftype, conn, payload=b""):
        try:
            self.sock.sendall(struct.pack("<III", ftype, conn, len(payload)) + payload)
        except (BrokenPipeError, ConnectionResetError) as e:
            self.ended = True
            raise LinkEnded(str(e)) from e

    def pump(self, timeout):
        """Reads what arrives within timeout; False if nothing did."""
        if self.ended:
            raise LinkEnded("link closed")
        ready, _, _ = select.select([self.sock], [], [], max(timeout, 0))
        if not ready:
            return False
        try:
            data = self.sock.recv(1 << 20)
        except ConnectionResetError:
            data = b""
        if not data:
            self.ended = True
            raise LinkEnded("link closed by the host half")
        self.buf += data
        while len(self.buf) >= 12:
            ftype, conn, length = struct.unpack("<III", self.buf[:12])
            if len(self.buf) < 12 + length:
                break
            self.frames.setdefault(conn, []).append((ftype, self.buf[12:12 + length]))
            self.buf = self.buf[12 + length:]
        return True

    def wait_hello(self):
        self.send(HELLO, 0, u32(1))
        deadline = time.monotonic() + WAIT
        while not self.frames.get(0):
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("no hello from the host half")
            self.pump(left)
        ftype, payload = self.frames[0].pop(0)
        if ftype != HELLO or payload != u32(1):
            raise RuntimeError(f"host half answered hello with {ftype} {payload!r}")


class LinkConn(wlraw.Connection):
    """A Wayland connection carried as one conn of a Link, as the guest half carries a client.
    Descriptors cannot cross: each fd sent is announced as LINK_FD_SHM of its size, and a small
    pool's contents follow its create_pool as LINK_SHM_WRITE."""

    def __init__(self, link, cid):
        super().__init__(sock=link.sock)
        self.link, self.id = link, cid
        self.close_reason = None
        link.frames.pop(cid, None)
        link.send(CONN_OPEN, cid)

    def send_raw(self, data, fds=()):
        if self.closed:
            raise Closed("connection closed by the host half")
        for fd in fds:
            self.link.send(FD_SHM, self.id, u32(os.fstat(fd).st_size))
        self.link.send(WL, self.id, data)
        obj, word = struct.unpack("<II", data[:8]) if len(data) >= 8 else (0, 0)
        if fds and len(data) >= 12 and self.objects.get(obj) == "wl_shm" and not word & 0xffff:
            size = os.fstat(fds[0]).st_size
            if size <= SHM_WRITE_INLINE:
                pool = struct.unpack("<I", data[8:12])[0]
                self.link.send(SHM_WRITE, self.id, u32(pool, 0, size, size, 1, 0) +
                               os.pread(fds[0], size, 0))

    def _read(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            queue = self.link.frames.get(self.id, [])
            while queue:
                ftype, payload = queue.pop(0)
                if ftype == WL:
                    return payload, []
                if ftype == CONN_CLOSE:
                    self.close_reason = payload.decode(errors="replace")
                    raise Closed(self.close_reason)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.link.pump(left)

    def shutdown_write(self):
        pass  # a frame holds whole messages: the truncated one was refused as it came

    def close(self):
        if not self.closed and not self.link.ended:
            self.link.send(CONN_CLOSE, self.id)
        self.closed = True


# ---- the hostile requests ----

def hostile_cases(names):
    """(name, fn(conn, window)): each sends one hostile thing on a connection that has a
    mapped window. names: global names to bind (see find_names)."""
    def bind(name_key, iface):
        return lambda c, w: c.bind(names[name_key], iface, 1)

    def buffer_above_cap(c, w):
        width = height = 8200  # 8200 * 8200 * 4 > LINK_MAX_BUFFER_BYTES
        size = width * 4 * height + 4096
        assert width * height * 4 > LINK_MAX_BUFFER_BYTES and size <= LINK_MAX_POOL_BYTES
        fd = wlraw.shm_file(size)
        try:
            pool = c.request(w.shm, "create_pool", None, fd, size)
        finally:
            os.close(fd)
        c.request(pool, "create_buffer", None, 0, width, height, width * 4, 1)

    def buffer_outside_pool(size, offset, width, height):
        def fn(c, w):
            fd = wlraw.shm_file(size)
            try:
                pool = c.request(w.shm, "create_pool", None, fd, size)
            finally:
                os.close(fd)
            c.request(pool, "create_buffer", None, offset, width, height, width * 4, 1)
        return fn

    def pool_above_cap(c, w):
        size = LINK_MAX_POOL_BYTES + 4096
        fd = wlraw.shm_file(size)
        try:
            c.request(w.shm, "create_pool", None, fd, size)
        finally:
            os.close(fd)

    def truncated_eof(c, w):
        c.send_raw(header(1, 0, 32) + u32(c.new_id()))  # 12 of 32 bytes
        c.shutdown_write()

    def truncated_garbage(c, w):
        c.send_raw(header(1, 0, 32) + u32(c.new_id()))
        time.sleep(0.2)  # let the proxy see the first part alone, if it will
        c.send_raw(b"\xff" * 20)

    def bind_string_unterminated(c, w):
        c.send_raw(message(c.registry_id, 0, u32(names["wl_compositor"], 4) + b"wl_c" +
                           u32(1, c.new_id())))

    def title_unterminated(c, w):
        c.send_raw(message(w.toplevel, 2, u32(8) + b"[banking"))

    def size_not_multiple(c, w):
        c.send_raw(header(1, 0, 10) + u32(c.new_id()) + b"\0\0\0\0")

    def size_below_header(c, w):
        c.send_raw(header(1, 0, 4) + u32(c.new_id()))

    def size_above_max(c, w):
        c.send_raw(header(1, 0, 4100) + u32(c.new_id()) + b"\0" * 4088)

    def create_pool_without_fd(c, w):
        c.send_raw(message(w.shm, 0, u32(c.new_id()) + i32(4096)))

    def sync_with_fd(c, w):
        fd = wlraw.shm_file(4096)
        try:
            c.send_raw(message(1, 0, u32(c.new_id())), fds=[fd])
        finally:
            os.close(fd)

    def create_pool_two_fds(c, w):
        a, b = wlraw.shm_file(4096), wlraw.shm_file(4096)
        try:
            c.send_raw(message(w.shm, 0, u32(c.new_id()) + i32(4096)), fds=[a, b])
        finally:
            os.close(a)
            os.close(b)

    return [
        ("bind screencopy by name", bind("zwlr_screencopy_manager_v1",
                                         "zwlr_screencopy_manager_v1")),
        ("bind layer-shell by name", bind("zwlr_layer_shell_v1", "zwlr_layer_shell_v1")),
        ("bind virtual keyboard by name", bind("zwp_virtual_keyboard_manager_v1",
                                               "zwp_virtual_keyboard_manager_v1")),
        ("bind screencopy's name as wl_compositor", bind("zwlr_screencopy_manager_v1",
                                                         "wl_compositor")),
        ("bind a name never announced", bind("never", "wl_compositor")),
        ("bind wl_shm's name as wl_compositor", bind("wl_shm", "wl_compositor")),
        ("buffer above the cap", buffer_above_cap),
        ("buffer outside its pool", buffer_outside_pool(4096, 0, 64, 64)),
        ("buffer past its pool's end", buffer_outside_pool(65536, 65536 - 1024, 64, 64)),
        ("pool above the cap", pool_above_cap),
        ("truncated message, then end of stream", truncated_eof),
        ("truncated message, then garbage", truncated_garbage),
        ("bind string without its NUL", bind_string_unterminated),
        ("set_title string without its NUL", title_unterminated),
        ("message size not a multiple of 4", size_not_multiple),
        ("message size below the header", size_below_header),
        ("message size above 4096", size_above_max),
        ("create_pool without its fd", create_pool_without_fd),
        ("wl_display.sync with an extra fd", sync_with_fd),
        ("create_pool with two fds", create_pool_two_fds),
    ]


def link_only_cases():
    """Frames only a compromised guest half sends: (name, fn(link, conn, window))."""
    def write(pool_of, offset, row_len, stride, rows, flags, data):
        def fn(link, c, w):
            pool = w.pool if pool_of == "own" else 0x7777
            link.send(SHM_WRITE, c.id, u32(pool, offset, row_len, stride, rows, flags) + data)
        return fn

    return [
        ("shm write outside its pool", write("own", 200 * 1024, 4096, 4096, 16, 0,
                                             b"\0" * 4096 * 16)),
        ("shm write to an unknown pool", write("none", 0, 16, 16, 1, 0, b"\0" * 16)),
        ("shm write with short data", write("own", 0, 4096, 4096, 2, 0, b"\0" * 4096)),
        ("shm write with a bad LZ4 block", write("own", 0, 4096, 4096, 2, 1, b"\xff" * 64)),
        ("shm write with unknown flags", write("own", 0, 16, 16, 1, 6, b"\0" * 16)),
        ("keymap file sent by the guest", lambda link, c, w: link.send(FD_FILE, c.id, b"x")),
        ("shm announcement of 3 bytes", lambda link, c, w: link.send(FD_SHM, c.id, b"abc")),
        ("shm announcement above the pool cap",
         lambda link, c, w: link.send(FD_SHM, c.id, u32(LINK_MAX_POOL_BYTES + 1))),
        ("pipe announcement in the host's id range",
         lambda link, c, w: link.send(FD_PIPE, c.id, u32(0x80000001))),
        ("create_pool after a pipe announcement",
         lambda link, c, w: (link.send(FD_PIPE, c.id, u32(5)),
                             link.send(WL, c.id, message(w.shm, 0, u32(c.new_id()) +
                                                         i32(4096))))),
    ]


def link_level_cases():
    """Garbage on the link itself: (name, fn(link, conn_id)); each must end the host half."""
    return [
        ("frame above LINK_MAX_PAYLOAD",
         lambda link, cid: link.sock.sendall(struct.pack("<III", WL, cid,
                                                         LINK_MAX_PAYLOAD + 1) + b"\0" * 64)),
        ("unknown frame type", lambda link, cid: link.send(77, cid, b"")),
        ("frame type 0", lambda link, cid: link.send(0, cid, b"")),
        ("Wayland frame on conn 0", lambda link, cid: link.send(WL, 0, message(1, 0, u32(9)))),
        ("conn id above LINK_MAX_CONNS",
         lambda link, cid: link.send(CONN_OPEN, LINK_MAX_CONNS + 1)),
        ("conn opened twice", lambda link, cid: link.send(CONN_OPEN, cid)),
        ("second hello", lambda link, cid: link.send(HELLO, 0, u32(1))),
    ]


# ---- the checks ----

def find_names(comp, work_globals):
    """Global names to bind: each forbidden interface's real name when the compositor has that
    global (a host client sees it), else a name the qube was not told about."""
    host = wlraw.Connection(os.path.join(comp.runtime, comp.display))
    try:
        everything = host.registry()
    finally:
        host.close()
    by_iface = {iface: name for name, (iface, _) in everything.items()}
    taken = {by_iface[i] for i in FORBIDDEN if i in by_iface}
    hidden = sorted(set(everything) - set(work_globals) - taken)
    spare = max(everything) + 1
    names = {}
    for iface in FORBIDDEN:
        if iface in by_iface:
            names[iface] = by_iface[iface]
        elif hidden:
            names[iface] = hidden.pop(0)
        else:
            names[iface] = spare
            spare += 1
        print(f"binding {iface} as global name {names[iface]} "
              f"({everything.get(names[iface], ('not a global',))[0]})")
    names["never"] = max(everything) + 1000
    for name, (iface, _) in work_globals.items():
        names[iface] = name
    return names, everything


def banking_view(comp):
    return sorted((w["id"], w["title"], w["x"], w["y"], w["w"], w["h"], w["focused"])
                  for w in comp.windows() if w["qube"] == "banking")


def wait_no_work_window(comp, what):
    try:
        comp.wait_windows(lambda ws: not any(w["qube"] == "work" for w in ws), what)
        return True
    except RuntimeError as e:
        print(e)
        return False


def map_window(comp, conn, title):
    """A window through conn, and its listing under work."""
    w = wlraw.Window(conn, title, 200, 120, 0x808080)
    want = f"[work] {title}"
    comp.wait_windows(lambda ws: any(x["qube"] == "work" and x["title"] == want for x in ws),
                      f"window {want!r}")
    return w


def refused(comp, failures, label, conn, fn, window, after):
    """Sends the hostile thing; the connection must end and take its window along; after()
    checks the rest carries on."""
    try:
        fn(conn, window)
    except Closed:
        pass  # ended while we were still sending: refused all the same
    closed = conn.wait_closed(WAIT)
    reason = getattr(conn, "close_reason", None)
    check(failures, closed, f"{label}: the connection was not closed")
    if closed:
        print(f"refused: {label}" + (f" ({reason})" if reason else ""))
    conn.close()
    check(failures, wait_no_work_window(comp, f"{label}: its window to go"),
          f"{label}: its window survived")
    after(label)


def frame_points(w):
    x, y, fw, fh = w["x"], w["y"], w["w"], w["h"]
    return [(x + 1, y + 1), (x + 2, y + TITLE // 2), (x + fw // 2, y + 2),
            (x + BORDER // 2, y + TITLE + 20), (x + BORDER // 2, y + fh - 10),
            (x + fw - BORDER // 2 - 1, y + TITLE + (fh - TITLE) // 2),
            (x + fw // 2, y + fh - BORDER // 2 - 1), (x + fw - 3, y + 3), (x + 2, y + fh - 3)]


def covered(wins, i, px, py):
    return any(w["x"] <= px < w["x"] + w["w"] and w["y"] <= py < w["y"] + w["h"]
               for w in wins[:i])


def check_forged_title(comp, work_q, tmp, failures, after):
    """A "[banking] ..." title from work: listed as "[work] [banking] ...", framed in blue."""
    conn = wlraw.Connection(work_q.socket)
    conn.registry()
    window = wlraw.Window(conn, FORGED, 300, 200, 0x808080)
    want = f"[work] {FORGED}"
    wins = comp.wait_windows(lambda ws: any(w["qube"] == "work" for w in ws),
                             "the forged title's window")
    check(failures, not conn.closed, "a [banking] title was refused (it must be rewritten)")
    for w in wins:
        if w["qube"] == "work":
            check(failures, w["title"] == want, f"work window titled {w['title']!r}, want "
                  f"{want!r}")
        check(failures, not w["title"].startswith("[banking]") or w["qube"] == "banking",
              f"window of {w['qube']} titled {w['title']!r}")
    # Retitled afterwards too: still under work's name.
    conn.request(window.toplevel, "set_title", "[banking] Transfer")
    conn.roundtrip()
    wins = comp.wait_windows(lambda ws: any(w["qube"] == "work" and "Transfer" in w["title"]
                                            for w in ws), "the retitled window")
    titles = [w["title"] for w in wins if w["qube"] == "work"]
    check(failures, titles == ["[work] [banking] Transfer"], f"retitled: {titles}")
    time.sleep(1)  # a frame with the window as it is now
    shot = os.path.join(tmp, "forged.png")
    subprocess.run(["grim", shot], env=dict(comp.env, WAYLAND_DISPLAY=comp.display),
                   check=True, timeout=WAIT)
    _, _, pixel = colours.read_png(shot)
    wins = comp.windows()
    seen = 0
    for i, w in enumerate(wins):
        want_rgb = QUBES[w["qube"]][1]
        for px, py in frame_points(w):
            if covered(wins, i, px, py):
                continue
            got = pixel(px, py)
            check(failures, got == want_rgb, f"{w['qube']} window {w['title']!r}: frame pixel "
                  f"({px},{py}) is {got:06x}, want {want_rgb:06x}")
            seen += w["qube"] == "work"
    check(failures, seen >= 3, f"too little of work's frame visible to check ({seen} points)")
    conn.close()
    check(failures, wait_no_work_window(comp, "the forged title's window to go"),
          "the forged title's window survived its client")
    after("forged title")


def run_guest_cases(comp, work_q, names, failures, after):
    for label, fn in hostile_cases(names):
        try:
            conn = wlraw.Connection(work_q.socket)
            conn.registry()
            window = map_window(comp, conn, f"hostile {label}")
        except (Closed, RuntimeError, TimeoutError) as e:
            check(failures, False, f"{label}: setting up its window failed: {e}")
            after(label)
            continue
        refused(comp, failures, f"guest half: {label}", conn, fn, window, after)


def run_link_cases(comp, proxy, names, tmp, failures, after):
    """Per-connection violations straight to a host half: each ends its conn only."""
    log_path = os.path.join(tmp, "host-raw.log")
    with open(log_path, "w") as log:
        host, sock = start_host(comp, proxy, "work", "blue", log)
    link = Link(sock)
    try:
        link.wait_hello()
        sentinel = LinkConn(link, LINK_MAX_CONNS)
        sentinel.registry()
        cid = 0
        cases = [(l, lambda link_, c, w, fn=fn: fn(c, w)) for l, fn in hostile_cases(names)]
        cases += link_only_cases()
        for label, fn in cases:
            cid += 1
            conn = LinkConn(link, cid)
            try:
                conn.registry()
                window = map_window(comp, conn, f"raw {label}")
            except (Closed, RuntimeError, TimeoutError) as e:
                check(failures, False, f"link: {label}: setting up its window failed: {e}")
                continue
            refused(comp, failures, f"link: {label}", conn,
                    lambda c, w, fn=fn: fn(link, c, w), window, after)
            # The host half and its other connections carry on.
            check(failures, host.poll() is None, f"link: {label}: the host half exited")
            if host.poll() is not None:
                break
            sentinel.roundtrip()
        # Not refused: a forged title, rewritten under the qube's name, even one so long that
        # the prefix only fits by cutting the title.
        for title in (FORGED, "[banking] " + "\u00e9" * 2030):
            cid += 1
            conn = LinkConn(link, cid)
            conn.registry()
            wlraw.Window(conn, title, 100, 80)
            wins = comp.wait_windows(lambda ws: any(w["qube"] == "work" for w in ws),
                                     "the raw link's forged title")
            titles = [w["title"] for w in wins if w["qube"] == "work"]
            check(failures, len(titles) == 1 and titles[0].startswith("[work] [banking] "),
                  f"link: forged title listed as {[t[:40] for t in titles]}")
            check(failures, not conn.closed, "link: a forged title was refused")
            conn.close()
            sentinel.roundtrip()
            check(failures, wait_no_work_window(comp, "the raw link's window to go"),
                  "link: a closed conn's window survived")
            after("link: forged title")
    except (LinkEnded, RuntimeError, TimeoutError, Closed) as e:
        check(failures, False, f"link cases: {type(e).__name__}: {e}")
    finally:
        sock.close()
        stop(host)
        with open(log_path, errors="replace") as f:
            text = f.read()
        if failures:
            print(f"--- {os.path.basename(log_path)}\n{text}")


def run_link_level_cases(comp, proxy, tmp, failures, after):
    """Garbage on the link: the host half ends (status 1), its windows go, nothing else."""
    for k, (label, fn) in enumerate(link_level_cases()):
        log_path = os.path.join(tmp, f"host-level-{k}.log")
        with open(log_path, "w") as log:
            host, sock = start_host(comp, proxy, "work", "blue", log)
        link = Link(sock)
        try:
            link.wait_hello()
            conn = LinkConn(link, 3)
            conn.registry()
            map_window(comp, conn, f"link level {label}")
            try:
                fn(link, conn.id)
            except LinkEnded:
                pass
            try:
                rc = host.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                rc = None
            check(failures, rc == 1, f"link level: {label}: host half exit status {rc}, want 1")
            if rc == 1:
                print(f"link ended: {label}")
            check(failures, wait_no_work_window(comp, f"{label}: the link's window to go"),
                  f"link level: {label}: the link's window survived")
        except (LinkEnded, RuntimeError, TimeoutError, Closed) as e:
            check(failures, False, f"link level: {label}: {type(e).__name__}: {e}")
        finally:
            sock.close()
            stop(host)
            if failures:
                with open(log_path, errors="replace") as f:
                    print(f"--- {os.path.basename(log_path)}\n{f.read()}")
        after(f"link level: {label}")


def crash_in_log(comp):
    report = comp.sanitizer_report()
    if report:
        return report
    for line in comp.log:
        if any(m in line for m in ("Segmentation fault", "Assertion", "Aborted",
                                   "core dumped", "double free")):
            return line
    return None


def main():
    if os.geteuid() != 0:
        print("needs root")
        return SKIP
    if len(sys.argv) != 4:
        print("usage: test-hostile.py COMPOSITOR PROXY TEST-CLIENT")
        return 2
    compositor, proxy, test_client = sys.argv[1:]
    for path in (compositor, proxy, test_client):
        if not os.access(path, os.X_OK):
            print(f"{path} not built")
            return SKIP
    if not shutil.which("grim"):
        print("grim missing")
        return SKIP
    if not hasattr(socket, "send_fds"):
        print("python too old for socket.send_fds")
        return SKIP
    tmp = tempfile.mkdtemp(prefix="bh-hostile-")
    failures = []
    comp = control.Compositor(compositor)
    qubes = {}
    try:
        for name, (label, _) in QUBES.items():
            qubes[name] = Qube(comp, proxy, name, label, tmp)
        qubes["banking"].run(comp.env, [test_client, "--title", BANK_TITLE, "--colour",
                                        "208020", "--size", "300x200"])
        comp.wait_windows(lambda ws: any(w["qube"] == "banking" and
                                         w["title"] == f"[banking] {BANK_TITLE}"
                                         for w in ws), "banking's window")
        bank = banking_view(comp)
        check(failures, len(bank) == 1, f"banking's windows: {bank}")

        def after(label):
            comp.drain_log()
            got = banking_view(comp)
            check(failures, got == bank, f"{label}: banking's windows changed: {got} != {bank}")
            check(failures, qubes["work"].alive(), f"{label}: work's proxy pair died")
            check(failures, qubes["banking"].alive(), f"{label}: banking's proxy pair died")
            check(failures, comp.alive(), f"{label}: the compositor died")
            if not comp.alive() or not qubes["work"].alive():
                raise RuntimeError(f"cannot go on after {label}")

        probe = wlraw.Connection(qubes["work"].socket)
        work_globals = probe.registry()
        probe.close()
        seen = {iface for iface, _ in work_globals.values()}
        check(failures, not seen & set(FORBIDDEN), f"work is offered {seen & set(FORBIDDEN)}")
        names, everything = find_names(comp, work_globals)
        check(failures, "zwlr_screencopy_manager_v1" in {i for i, _ in everything.values()},
              "the compositor offers no screencopy to host clients: nothing to bind")

        run_guest_cases(comp, qubes["work"], names, failures, after)
        check_forged_title(comp, qubes["work"], tmp, failures, after)
        run_link_cases(comp, proxy, names, tmp, failures, after)
        run_link_level_cases(comp, proxy, tmp, failures, after)

        # work's GUI carries on: a fresh well-behaved client gets its window.
        qubes["work"].run(comp.env, [test_client, "--title", "work-after", "--colour",
                                     "206080"])
        comp.wait_windows(lambda ws: any(w["qube"] == "work" and
                                         w["title"] == "[work] work-after" for w in ws),
                          "work's well-behaved window after the hostile clients")
        after("well-behaved work client")
    except (RuntimeError, TimeoutError, Closed) as e:
        check(failures, False, f"{type(e).__name__}: {e}")
    finally:
        alive = comp.alive()
        for q in qubes.values():
            q.close()
        comp.drain_log()
        comp.close()
        check(failures, alive, "the compositor was not running at the end")
        crash = crash_in_log(comp)
        check(failures, crash is None, f"the compositor's log shows a crash: {crash}")
        check(failures, comp.proc.returncode == 0,
              f"the compositor exited with {comp.proc.returncode} after SIGTERM")
        if failures:
            for q in qubes.values():
                print(q.log_text())
            print("--- compositor log (end)\n" + "".join(comp.log[-60:]))
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
