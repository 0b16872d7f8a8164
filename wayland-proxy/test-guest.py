#!/usr/bin/env python3
"""The guest half against a scripted host half: the real binary on one end of a socketpair,
this script speaking the link protocol (link.h) on the other and raw Wayland to the guest's
socket as a client. Checked, frame by frame:

- HELLO both ways; a client's connection opens a conn; its requests arrive unchanged in LINK_WL;
- wl_shm.create_pool is announced by LINK_FD_SHM with the pool's size, and a commit is preceded
  by LINK_SHM_WRITE frames holding exactly the damaged bytes of the client's buffer;
- wl_keyboard.keymap after LINK_FD_FILE reaches the client with a sealed memfd of the contents;
- wl_data_source.send after a host LINK_FD_PIPE: what the client writes comes back as
  PIPE_DATA and PIPE_END; wl_data_offer.receive: the guest announces a transfer id without
  LINK_PIPE_HOST_ID, and the host's PIPE_DATA reaches the client's pipe, closed at PIPE_END;
- a malformed request ends that client only, with LINK_CONN_CLOSE; the host's CONN_CLOSE ends
  a client; other clients carry on."""
import array
import fcntl
import os
import select
import socket
import struct
import subprocess
import sys
import tempfile
import time

WAIT = 30
HELLO, CONN_OPEN, CONN_CLOSE, WL, FD_SHM, FD_FILE, FD_PIPE, PIPE_DATA, PIPE_END, SHM_WRITE = \
    range(1, 11)
PIPE_HOST_ID = 0x80000000
F_GET_SEALS = 1034
F_SEAL_WRITE = 8

failures = []


def check(cond, msg):
    if not cond:
        print("FAIL: " + msg)
        failures.append(msg)


def msg(obj, opcode, fmt="", *args):
    """A Wayland message: fmt letters i/u (ints), s (string), n/o (ids)."""
    body = b""
    for kind, value in zip(fmt, args):
        if kind == "s":
            data = value.encode() + b"\0"
            body += struct.pack("<I", len(data)) + data + b"\0" * (-len(data) % 4)
        elif kind == "i":
            body += struct.pack("<i", value)
        else:
            body += struct.pack("<I", value)
    return struct.pack("<II", obj, (8 + len(body)) << 16 | opcode) + body


class Link:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def send(self, ftype, conn, payload=b""):
        self.sock.sendall(struct.pack("<III", ftype, conn, len(payload)) + payload)

    def recv(self, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 12:
                ftype, conn, n = struct.unpack("<III", self.buf[:12])
                if len(self.buf) >= 12 + n:
                    payload = self.buf[12:12 + n]
                    self.buf = self.buf[12 + n:]
                    return ftype, conn, payload
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                raise TimeoutError("no frame from the guest half")
            data = self.sock.recv(1 << 20)
            if not data:
                raise EOFError("link closed")
            self.buf += data

    def expect(self, ftype, conn=None):
        """The next frame of that type, skipping LINK_WL frames on the way (returned too)."""
        skipped = b""
        while True:
            t, c, p = self.recv()
            if t == ftype and (conn is None or c == conn):
                return p, skipped
            if t == WL:
                skipped += p
                continue
            raise AssertionError(f"frame {t} on conn {c} while waiting for {ftype}")


class Client:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(WAIT)
        self.sock.connect(path)
        self.buf, self.fds = b"", []

    def send(self, data, fds=()):
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
        self.sock.sendmsg([data], anc)

    def event(self):
        """The next event: (object, opcode, body); descriptors collect in self.fds."""
        while len(self.buf) < 8 or len(self.buf) < struct.unpack("<I", self.buf[4:8])[0] >> 16:
            data, anc, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(4 * 28))
            if not data:
                raise EOFError("guest half closed the client")
            self.buf += data
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    a = array.array("i")
                    a.frombytes(payload[:len(payload) - len(payload) % 4])
                    self.fds += list(a)
        obj, word = struct.unpack("<II", self.buf[:8])
        size = word >> 16
        body, self.buf = self.buf[8:size], self.buf[size:]
        return obj, word & 0xffff, body


def main():
    proxy = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="bh-guest-")
    path = os.path.join(tmp, "sub", "wayland-test")
    host_end, guest_end = socket.socketpair()
    gfd = guest_end.detach()
    guest = subprocess.Popen([proxy, "guest", "--link-fd", str(gfd), "--socket", path],
                             pass_fds=[gfd], stderr=subprocess.PIPE, text=True)
    os.close(gfd)
    link = Link(host_end)
    try:
        t, c, p = link.recv()
        check((t, c, p) == (HELLO, 0, struct.pack("<I", 1)), f"first frame {t} {c} {p!r}")
        link.send(HELLO, 0, struct.pack("<I", 1))
        deadline = time.monotonic() + WAIT
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.05)
        check(os.stat(os.path.dirname(path)).st_mode & 0o777 == 0o700, "socket dir not 0700")

        a = Client(path)
        t, conn_a, p = link.recv()
        check(t == CONN_OPEN and 1 <= conn_a <= 64, f"open frame {t} conn {conn_a}")
        a.send(msg(1, 1, "n", 2))  # wl_display.get_registry -> 2
        t, c, p = link.recv()
        check(t == WL and c == conn_a and p == msg(1, 1, "n", 2),
              f"get_registry arrived as {t} {p!r}")
        # The host announces globals; the client binds them.
        events = (msg(2, 0, "usu", 1, "wl_compositor", 4) + msg(2, 0, "usu", 2, "wl_shm", 1) +
                  msg(2, 0, "usu", 3, "wl_seat", 5) +
                  msg(2, 0, "usu", 4, "wl_data_device_manager", 3))
        link.send(WL, conn_a, events)
        for _ in range(4):
            a.event()
        binds = (msg(2, 0, "usun", 1, "wl_compositor", 4, 3) +
                 msg(2, 0, "usun", 2, "wl_shm", 1, 4) + msg(2, 0, "usun", 3, "wl_seat", 5, 5) +
                 msg(2, 0, "usun", 4, "wl_data_device_manager", 3, 6))
        a.send(binds)
        got = b""
        while len(got) < len(binds):
            t, c, p = link.recv()
            check(t == WL and c == conn_a, f"bind frame {t}")
            got += p
        check(got == binds, "binds did not arrive unchanged")

        # shm: pool of 64x16 XRGB, a buffer, a surface; damage (8,4 4x2); commits.
        w, h, stride = 64, 16, 256
        size = stride * h
        mfd = os.memfd_create("test", os.MFD_CLOEXEC)
        os.ftruncate(mfd, size)
        os.pwrite(mfd, bytes(range(256)) * (size // 256), 0)
        a.send(msg(4, 0, "ni", 7, size), [mfd])  # create_pool: n, h (fd), i
        p, _ = link.expect(FD_SHM, conn_a)
        check(p == struct.pack("<I", size), f"FD_SHM announced {p!r}")
        a.send(msg(7, 0, "niiiiu", 8, 0, w, h, stride, 1) + msg(3, 0, "n", 9) +
               msg(9, 1, "oii", 8, 0, 0) + msg(9, 2, "iiii", 0, 0, w, h) + msg(9, 6))
        writes = []
        while True:
            t, c, p = link.recv()
            if t == SHM_WRITE:
                writes.append(p)
            elif t == WL and p.endswith(msg(9, 6)):
                break
        check(len(writes) >= 1, "no SHM_WRITE before the first commit")
        total = sum(struct.unpack("<IIIIII", x[:24])[4] * struct.unpack("<IIIIII", x[:24])[2]
                    for x in writes)
        check(total == size, f"first commit sent {total} bytes, want the whole {size}")
        # Second commit of the same buffer: only the damaged rectangle, its exact bytes.
        os.pwrite(mfd, b"\xab" * 16, 4 * stride + 8 * 4)
        os.pwrite(mfd, b"\xcd" * 16, 5 * stride + 8 * 4)
        a.send(msg(9, 1, "oii", 8, 0, 0) + msg(9, 9, "iiii", 8, 4, 4, 2) + msg(9, 6))
        p, _ = link.expect(SHM_WRITE, conn_a)
        pool, off, row_len, st, rows, flags = struct.unpack("<IIIIII", p[:24])
        check((pool, off, row_len, st, rows, flags) == (7, 4 * stride + 32, 16, stride, 2, 0),
              f"damage frame header {(pool, off, row_len, st, rows, flags)}")
        check(p[24:] == b"\xab" * 16 + b"\xcd" * 16, f"damage bytes {p[24:]!r}")
        p, _ = link.expect(WL, conn_a)
        check(p.endswith(msg(9, 6)), "commit did not follow its SHM_WRITE")
        os.close(mfd)

        # Keymap: LINK_FD_FILE, then wl_keyboard.keymap with its fd.
        a.send(msg(5, 1, "n", 10))  # wl_seat.get_keyboard -> 10
        link.expect(WL, conn_a)
        keymap = b"xkb_keymap { fake };\0"
        link.send(FD_FILE, conn_a, keymap)
        link.send(WL, conn_a, msg(10, 0, "uu", 1, len(keymap)))  # format, (fd), size
        obj, op, body = a.event()
        check((obj, op) == (10, 0) and len(a.fds) == 1, f"keymap event {obj} {op} {a.fds}")
        if a.fds:
            kfd = a.fds.pop()
            check(os.pread(kfd, 4096, 0) == keymap, "keymap contents")
            seals = fcntl.fcntl(kfd, F_GET_SEALS)
            check(seals & F_SEAL_WRITE, f"keymap memfd not sealed ({seals:#x})")
            os.close(kfd)

        # Clipboard, the client as the source: the host asks it to send.
        a.send(msg(6, 0, "n", 11) + msg(11, 0, "s", "text/plain") +
               msg(6, 1, "no", 12, 5))  # create_data_source 11, offer, get_data_device 12
        link.expect(WL, conn_a)
        tid = PIPE_HOST_ID | 5
        link.send(FD_PIPE, conn_a, struct.pack("<I", tid))
        link.send(WL, conn_a, msg(11, 1, "s", "text/plain"))  # wl_data_source.send(mime, fd)
        obj, op, body = a.event()
        check((obj, op) == (11, 1) and len(a.fds) == 1, f"send event {obj} {op} {a.fds}")
        if a.fds:
            wfd = a.fds.pop()
            os.write(wfd, b"copied text")
            os.close(wfd)
            data = b""
            while True:
                t, c, p = link.recv()
                if t == PIPE_DATA:
                    check(p[:4] == struct.pack("<I", tid), "PIPE_DATA id")
                    data += p[4:]
                elif t == PIPE_END:
                    check(p == struct.pack("<I", tid), "PIPE_END id")
                    break
                else:
                    check(False, f"frame {t} during the transfer")
                    break
            check(data == b"copied text", f"source data arrived as {data!r}")

        # Clipboard, the client receiving: an offer from the host, the client's receive.
        link.send(WL, conn_a, msg(12, 0, "n", 0xff000000) +
                  msg(0xff000000, 0, "s", "text/plain"))
        a.event()
        a.event()
        r, wpipe = os.pipe()
        a.send(msg(0xff000000, 1, "s", "text/plain"), [wpipe])
        os.close(wpipe)
        p, skipped = link.expect(FD_PIPE, conn_a)
        gid = struct.unpack("<I", p)[0]
        check(not gid & PIPE_HOST_ID, f"guest transfer id {gid:#x} in the host's range")
        p, _ = link.expect(WL, conn_a)
        check(p == msg(0xff000000, 1, "s", "text/plain"), "receive request after FD_PIPE")
        link.send(PIPE_DATA, conn_a, struct.pack("<I", gid) + b"pasted ")
        link.send(PIPE_DATA, conn_a, struct.pack("<I", gid) + b"text")
        link.send(PIPE_END, conn_a, struct.pack("<I", gid))
        data = b""
        os.set_blocking(r, True)
        while True:
            ready = select.select([r], [], [], WAIT)[0]
            chunk = os.read(r, 4096) if ready else b""
            if not chunk:
                break
            data += chunk
        check(data == b"pasted text", f"pasted data arrived as {data!r}")
        os.close(r)

        # Descriptors and their messages (link.h: each fd is announced for its message).
        def shm_client(next_id):
            """A new client with wl_shm bound as object 3; its conn."""
            cl = Client(path)
            t, conn, p = link.recv()
            check(t == CONN_OPEN, f"open frame {t}")
            cl.send(msg(1, 1, "n", 2) + msg(2, 0, "usun", 2, "wl_shm", 1, 3))
            got = b""
            while len(got) < 40:
                p, _ = link.expect(WL, conn)
                got += p
            return cl, conn

        def shm_fd():
            fd = os.memfd_create("test", os.MFD_CLOEXEC)
            os.ftruncate(fd, 4096)
            return fd

        def expect_pool(conn, pool):
            p, _ = link.expect(FD_SHM, conn)
            check(p == struct.pack("<I", 4096), f"FD_SHM announced {p!r}")
            p, _ = link.expect(WL, conn)
            check(p == msg(3, 0, "ni", pool, 4096), f"create_pool arrived as {p!r}")

        # A message split across reads, its fd with the first part: accepted.
        cl, conn = shm_client(4)
        fd = shm_fd()
        pool_msg = msg(3, 0, "ni", 4, 4096)
        cl.send(pool_msg[:8], [fd])
        time.sleep(0.2)  # lets the guest half read the first part alone, as it may
        cl.send(pool_msg[8:])
        expect_pool(conn, 4)
        # libwayland's flush of more than a socket chunk's minimum: its fd comes with bytes
        # whose messages take none (here 1500 wl_display.sync), the message taking it follows
        # in the next read. Accepted: the fd may still belong to the rest of the flush.
        syncs = b"".join(msg(1, 0, "n", 5 + i) for i in range(1500))
        cl.send(syncs, [fd])
        time.sleep(0.2)
        cl.send(msg(3, 0, "ni", 5 + 1500, 4096))
        got = b""
        while len(got) < len(syncs):
            p, _ = link.expect(WL, conn)
            got += p
        check(got == syncs, "the syncs did not arrive unchanged")
        expect_pool(conn, 5 + 1500)
        os.close(fd)
        cl.send(msg(1, 0, "n", 6 + 1500))
        p, _ = link.expect(WL, conn)
        check(p == msg(1, 0, "n", 6 + 1500), "the client did not carry on")
        cl.sock.close()
        link.expect(CONN_CLOSE, conn)

        # Descriptors no message takes end the client: a sync with an fd, a create_pool with
        # two, and more than one flush's worth waiting in front of a partial message.
        for case in ("sync with an fd", "create_pool with two fds", "29 fds waiting"):
            cl, conn = shm_client(4)
            fds = [shm_fd() for _ in range(2 if case == "create_pool with two fds" else 1)]
            if case == "sync with an fd":
                cl.send(msg(1, 0, "n", 4), fds)
            elif case == "create_pool with two fds":
                cl.send(msg(3, 0, "ni", 4, 4096), fds)
            else:
                fds = [shm_fd() for _ in range(29)]
                cl.send(msg(3, 0, "ni", 4, 4096)[:8], fds)
            for fd in fds:
                os.close(fd)
            while True:  # the create_pool, valid itself, may go first with its FD_SHM
                t, c, p = link.recv()
                check(c == conn and t in (FD_SHM, WL, CONN_CLOSE), f"{case}: frame {t}")
                if t == CONN_CLOSE:
                    break
            try:
                while True:
                    cl.event()
            except (EOFError, ConnectionResetError):
                pass
            except socket.timeout:
                check(False, f"{case}: the client was not disconnected")
            cl.sock.close()

        # A second client; then a malformed request from the first ends only the first.
        b = Client(path)
        t, conn_b, p = link.recv()
        check(t == CONN_OPEN and conn_b != conn_a, f"second open frame {t} conn {conn_b}")
        b.send(msg(1, 0, "n", 2))  # wl_display.sync
        t, c, p = link.recv()
        check(t == WL and c == conn_b and p == msg(1, 0, "n", 2), "second client's sync")
        a.send(msg(9, 77))  # no such wl_surface opcode
        p, _ = link.expect(CONN_CLOSE, conn_a)
        try:
            a.event()
            check(False, "a malformed request did not end the client")
        except (EOFError, ConnectionResetError):
            pass
        link.send(WL, conn_b, msg(2, 0, "u", 1))  # wl_callback.done
        obj, op, _ = b.event()
        check((obj, op) == (2, 0), "the other client stopped getting events")
        # The host ends the second one.
        link.send(CONN_CLOSE, conn_b, b"gone")
        try:
            b.event()
            check(False, "the host's CONN_CLOSE did not end the client")
        except (EOFError, ConnectionResetError):
            pass
        check(guest.poll() is None, "guest half exited")
        # The link's end ends the guest half.
        host_end.close()
        try:
            guest.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            check(False, "guest half did not exit when the link closed")
    except (AssertionError, TimeoutError, EOFError, OSError) as e:
        check(False, f"{type(e).__name__}: {e}")
    finally:
        if guest.poll() is None:
            guest.kill()
        err = guest.communicate()[1]
        if failures:
            print(err)
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
