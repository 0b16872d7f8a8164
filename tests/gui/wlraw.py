"""A Wayland client that speaks the wire protocol itself, for tests that must send what no
libwayland client would: any bytes, any descriptors, any object ids.

Messages are encoded from a signature string with libwayland's letters (i u f s o n a h, '?'
before a nullable one); a small table of the core and xdg-shell interfaces names requests and
decodes events. Descriptors go with socket.send_fds and come back with socket.recv_fds.

    c = Connection(path)
    globals_ = c.registry()              # {name: (interface, version)}
    comp = c.bind_global("wl_compositor", 4)
    surface = c.request(comp, "create_surface", "wl_surface")
    c.send_raw(b"...", fds=[fd])         # anything at all
    c.wait_closed()                      # True once the server ended the connection
"""
import os
import select
import socket
import struct
import time

HEADER = 8
MAX_SIZE = 4096
WAIT = 60  # seconds; only ever a limit on waiting

# interface: (requests, events), each a list of (name, signature, new interface or None).
# Only what the tests use; other interfaces can be spoken with send_msg and raw signatures.
INTERFACES = {
    "wl_display": ([("sync", "n", "wl_callback"), ("get_registry", "n", "wl_registry")],
                   [("error", "ous", None), ("delete_id", "u", None)]),
    "wl_registry": ([("bind", "usun", None)],
                    [("global", "usu", None), ("global_remove", "u", None)]),
    "wl_callback": ([], [("done", "u", None)]),
    "wl_compositor": ([("create_surface", "n", "wl_surface"),
                       ("create_region", "n", "wl_region")], []),
    "wl_shm": ([("create_pool", "nhi", "wl_shm_pool")], [("format", "u", None)]),
    "wl_shm_pool": ([("create_buffer", "niiiiu", "wl_buffer"), ("destroy", "", None),
                     ("resize", "i", None)], []),
    "wl_buffer": ([("destroy", "", None)], [("release", "", None)]),
    "wl_surface": ([("destroy", "", None), ("attach", "?oii", None),
                    ("damage", "iiii", None), ("frame", "n", "wl_callback"),
                    ("set_opaque_region", "?o", None), ("set_input_region", "?o", None),
                    ("commit", "", None), ("set_buffer_transform", "i", None),
                    ("set_buffer_scale", "i", None), ("damage_buffer", "iiii", None)],
                   [("enter", "o", None), ("leave", "o", None)]),
    "xdg_wm_base": ([("destroy", "", None), ("create_positioner", "n", "xdg_positioner"),
                     ("get_xdg_surface", "no", "xdg_surface"), ("pong", "u", None)],
                    [("ping", "u", None)]),
    "xdg_surface": ([("destroy", "", None), ("get_toplevel", "n", "xdg_toplevel"),
                     ("get_popup", "n?oo", "xdg_popup"),
                     ("set_window_geometry", "iiii", None), ("ack_configure", "u", None)],
                    [("configure", "u", None)]),
    "xdg_toplevel": ([("destroy", "", None), ("set_parent", "?o", None),
                      ("set_title", "s", None), ("set_app_id", "s", None)],
                     [("configure", "iia", None), ("close", "", None)]),
}

WL_SHM_FORMAT_XRGB8888 = 1


class Closed(Exception):
    """The server ended the connection."""


def pad4(n):
    return (n + 3) & ~3


def enc_string(s):
    """A string argument: length with the NUL, bytes, NUL, padding. None is the null string."""
    if s is None:
        return struct.pack("<I", 0)
    b = (s.encode() if isinstance(s, str) else bytes(s)) + b"\0"
    return struct.pack("<I", len(b)) + b + b"\0" * (pad4(len(b)) - len(b))


def enc_array(data):
    data = bytes(data)
    return struct.pack("<I", len(data)) + data + b"\0" * (pad4(len(data)) - len(data))


def fixed(value):
    """A float as wl_fixed_t (24.8), raw."""
    return int(round(value * 256)) & 0xffffffff


def encode_args(signature, args):
    """The argument bytes and the descriptors of one message. Objects and new ids are given as
    ids; 'f' takes a float; 'h' an fd, which travels beside the bytes."""
    out, fds = b"", []
    types = [c for c in signature if c.isalpha()]
    nullable = set()
    pos = 0
    for c in signature:
        if c == "?":
            nullable.add(pos)
        elif c.isalpha():
            pos += 1
    if len(types) != len(args):
        raise ValueError(f"signature {signature!r} takes {len(types)} arguments, "
                         f"{len(args)} given")
    for i, (t, a) in enumerate(zip(types, args)):
        if t == "i":
            out += struct.pack("<i", a)
        elif t in "uon":
            out += struct.pack("<I", 0 if a is None else a)
        elif t == "f":
            out += struct.pack("<I", fixed(a))
        elif t == "s":
            out += enc_string(a)
        elif t == "a":
            out += enc_array(a)
        elif t == "h":
            fds.append(a)
        else:
            raise ValueError(f"unknown argument type {t!r}")
    return out, fds


def header(obj, opcode, size):
    return struct.pack("<II", obj, (size << 16) | opcode)


def message(obj, opcode, body=b""):
    return header(obj, opcode, HEADER + len(body)) + body


def decode_args(signature, body):
    """The arguments of an event; raises ValueError on anything malformed."""
    out, off = [], 0

    def take(n):
        nonlocal off
        if off + n > len(body):
            raise ValueError("argument beyond the message")
        b = body[off:off + n]
        off += n
        return b

    for t in (c for c in signature if c.isalpha()):
        if t == "i":
            out.append(struct.unpack("<i", take(4))[0])
        elif t in "uonf":
            out.append(struct.unpack("<I", take(4))[0])
        elif t == "s":
            n = struct.unpack("<I", take(4))[0]
            if n == 0:
                out.append(None)
                continue
            raw = take(pad4(n))[:n]
            if raw[-1:] != b"\0":
                raise ValueError("string without its terminator")
            out.append(raw[:-1].decode())
        elif t == "a":
            n = struct.unpack("<I", take(4))[0]
            out.append(take(pad4(n))[:n])
        elif t == "h":
            out.append(None)  # filled in from the received descriptors by the caller
    if off != len(body):
        raise ValueError("bytes left over")
    return out


def shm_file(size, fill=None):
    """A memfd of size bytes (sparse), optionally filled with a repeated pattern."""
    fd = os.memfd_create("wlraw-shm", os.MFD_CLOEXEC)
    os.ftruncate(fd, size)
    if fill:
        data = (fill * (size // len(fill) + 1))[:size]
        os.pwrite(fd, data, 0)
    return fd


class Connection:
    def __init__(self, path=None, sock=None):
        if sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            sock.connect(path)
        self.sock = sock
        self.objects = {1: "wl_display"}
        self.next_id = 2
        self.inbuf = b""
        self.in_fds = []
        self.events = []  # (obj, interface, event name or opcode, args)
        self.globals = {}
        self.registry_id = None
        self.errors = []  # wl_display.error events: (object, code, message)
        self.closed = False
        self.pong = True  # answer xdg_wm_base.ping, as every live client must

    # ---- sending ----

    def new_id(self, iface=None):
        i = self.next_id
        self.next_id += 1
        if iface:
            self.objects[i] = iface
        return i

    def send_raw(self, data, fds=()):
        """Any bytes, with any descriptors on their first byte. Raises Closed once the server
        has gone."""
        try:
            if fds:
                sent = socket.send_fds(self.sock, [data], list(fds))
                if sent < len(data):
                    self.sock.sendall(data[sent:])
            else:
                self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as e:
            self.closed = True
            raise Closed(str(e)) from e

    def send_msg(self, obj, opcode, signature, *args, fds_extra=()):
        body, fds = encode_args(signature, args)
        self.send_raw(message(obj, opcode, body), fds=fds + list(fds_extra))

    def request(self, obj, name, *args, new_iface=None):
        """Sends request name on obj (looked up in INTERFACES). A new_id argument left out is
        allocated here and returned; with several arguments, pass it as None."""
        iface = self.objects[obj]
        reqs = INTERFACES[iface][0]
        for opcode, (rname, sig, new) in enumerate(reqs):
            if rname == name:
                break
        else:
            raise KeyError(f"{iface}.{name}")
        types = [c for c in sig if c.isalpha()]
        args = list(args)
        made = None
        if "n" in types and (len(args) < len(types) or args[types.index("n")] is None):
            made = self.new_id(new_iface or new)
            if len(args) < len(types):
                args.insert(types.index("n"), made)
            else:
                args[types.index("n")] = made
        self.send_msg(obj, opcode, sig, *args)
        return made

    # ---- receiving ----

    def _read(self, timeout):
        """The next bytes and descriptors from the server, None after timeout seconds with
        nothing; raises Closed at the end of the stream. Other transports override this."""
        ready, _, _ = select.select([self.sock], [], [], max(timeout, 0))
        if not ready:
            return None
        try:
            data, fds, _, _ = socket.recv_fds(self.sock, 65536, 28)
        except ConnectionResetError:
            data, fds = b"", []
        if not data:
            for fd in fds:
                os.close(fd)
            raise Closed("end of stream")
        return data, fds

    def _recv(self, timeout):
        try:
            got = self._read(timeout)
        except Closed:
            self.closed = True
            raise
        if got is None:
            return False
        data, fds = got
        self.in_fds += fds
        self.inbuf += data
        while len(self.inbuf) >= HEADER:
            obj, word = struct.unpack("<II", self.inbuf[:HEADER])
            size, opcode = word >> 16, word & 0xffff
            if size < HEADER or size % 4:
                raise ValueError(f"event of {size} bytes")
            if len(self.inbuf) < size:
                break
            body, self.inbuf = self.inbuf[HEADER:size], self.inbuf[size:]
            self._event(obj, opcode, body)
        return True

    def _event(self, obj, opcode, body):
        iface = self.objects.get(obj)
        if iface not in INTERFACES or opcode >= len(INTERFACES[iface][1]):
            self.events.append((obj, iface, opcode, body))
            return
        name, sig, _ = INTERFACES[iface][1][opcode]
        args = decode_args(sig, body)
        for i, t in enumerate(c for c in sig if c.isalpha()):
            if t == "h":
                args[i] = self.in_fds.pop(0) if self.in_fds else None
        if iface == "wl_display" and name == "error":
            self.errors.append(tuple(args))
        elif iface == "wl_display" and name == "delete_id":
            self.objects.pop(args[0], None)
        elif iface == "wl_registry" and name == "global":
            self.globals[args[0]] = (args[1], args[2])
        elif iface == "wl_registry" and name == "global_remove":
            self.globals.pop(args[0], None)
        elif iface == "xdg_wm_base" and name == "ping" and self.pong:
            self.request(obj, "pong", args[0])
        self.events.append((obj, iface, name, args))

    def dispatch(self, timeout=0):
        """Reads what has arrived, waiting up to timeout seconds for the first of it."""
        if self._recv(timeout):
            while self._recv(0):
                pass

    def wait_event(self, pred, what, timeout=WAIT):
        """Takes the first received event, in order, for which pred(event) holds."""
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if pred(e):
                    return self.events.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"timed out waiting for {what}")
            self._recv(left)

    def roundtrip(self, timeout=WAIT):
        cb = self.request(1, "sync")
        self.wait_event(lambda e: e[0] == cb and e[2] == "done", "wl_display.sync",
                        timeout)

    def registry(self):
        if self.registry_id is None:
            self.registry_id = self.request(1, "get_registry")
        self.roundtrip()
        return dict(self.globals)

    def global_name(self, iface):
        for name, (i, _) in self.globals.items():
            if i == iface:
                return name
        return None

    def bind(self, name, iface, version, as_iface=None):
        """wl_registry.bind of global name as interface iface; the new object is recorded as
        as_iface (default iface) for decoding its events."""
        oid = self.new_id(as_iface or iface)
        self.send_msg(self.registry_id, 0, "usun", name, iface, version, oid)
        return oid

    def bind_global(self, iface, version):
        name = self.global_name(iface)
        if name is None:
            raise KeyError(f"{iface} not announced")
        return self.bind(name, iface, min(version, self.globals[name][1]))

    def wait_closed(self, timeout=WAIT):
        """True once the server has ended the connection (events before that are kept);
        False if it is still open after timeout."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                self._recv(left)
            except Closed:
                return True
        return True

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def close(self):
        for fd in self.in_fds:
            os.close(fd)
        self.in_fds = []
        self.sock.close()


class Window:
    """An xdg toplevel with one solid-colour shm buffer: what a well-behaved client shows."""

    def __init__(self, conn, title, width=300, height=200, rgb=0x808080):
        self.conn = conn
        self.compositor = comp = conn.bind_global("wl_compositor", 4)
        self.shm = shm = conn.bind_global("wl_shm", 1)
        self.wm_base = wm = conn.bind_global("xdg_wm_base", 1)
        self.surface = conn.request(comp, "create_surface")
        self.xdg_surface = conn.request(wm, "get_xdg_surface", None, self.surface)
        self.toplevel = conn.request(self.xdg_surface, "get_toplevel")
        if title is not None:
            conn.request(self.toplevel, "set_title", title)
        conn.request(self.surface, "commit")
        cfg = conn.wait_event(lambda e: e[0] == self.xdg_surface and e[2] == "configure",
                              "xdg_surface.configure")
        conn.request(self.xdg_surface, "ack_configure", cfg[3][0])
        stride = width * 4
        fd = shm_file(stride * height, struct.pack("<I", rgb | 0xff000000))
        try:
            self.pool = conn.request(shm, "create_pool", None, fd, stride * height)
        finally:
            os.close(fd)
        self.buffer = conn.request(self.pool, "create_buffer", None, 0, width, height, stride,
                                   WL_SHM_FORMAT_XRGB8888)
        conn.request(self.surface, "attach", self.buffer, 0, 0)
        conn.request(self.surface, "damage_buffer", 0, 0, width, height)
        conn.request(self.surface, "commit")
        conn.roundtrip()
