#!/usr/bin/env python3
"""Writes the saved inputs of tests/fuzz/fuzz-proxy-host.c: link streams a guest half could send
(valid sessions and hostile ones), with FROM_COMPOSITOR frames standing for what the compositor
says on a connection. Run from the source root: wayland-proxy/gen-fuzz-corpus.py"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fuzz", "corpus",
                   "proxy-host")
HELLO, OPEN, CLOSE, WL, FD_SHM, FD_FILE, FD_PIPE, PIPE_DATA, PIPE_END, SHM_WRITE = range(1, 11)
FROM_COMPOSITOR = 0xfffffff0
WITH_FD = 0x80000000


def frame(t, conn, payload=b""):
    return struct.pack("<III", t, conn, len(payload)) + payload


def u32(*v):
    return struct.pack("<" + "I" * len(v), *v)


def i32(*v):
    return struct.pack("<" + "i" * len(v), *v)


def s(text):
    b = text.encode() + b"\0"
    return u32(len(b)) + b + b"\0" * (-len(b) % 4)


def msg(obj, op, args=b""):
    return struct.pack("<II", obj, ((8 + len(args)) << 16) | op) + args


def lz4_literals(data):
    """An LZ4 block of literals only (valid for fewer than 15 bytes)."""
    assert len(data) < 15
    return bytes([len(data) << 4]) + data


def hello():
    return frame(HELLO, 0, u32(1))


def globals_event(conn):
    ev = b"".join(msg(2, 0, u32(n) + s(name) + u32(v)) for n, name, v in [
        (1, "wl_compositor", 5), (2, "wl_shm", 1), (3, "xdg_wm_base", 4), (4, "wl_seat", 8),
        (5, "zwlr_screencopy_manager_v1", 3), (6, "wl_data_device_manager", 3),
        (7, "zwlr_layer_shell_v1", 4)])
    return frame(FROM_COMPOSITOR, conn, ev + msg(3, 0, u32(0)) + msg(1, 1, u32(3)))


def session():
    out = hello() + frame(OPEN, 1)
    out += frame(WL, 1, msg(1, 1, u32(2)) + msg(1, 0, u32(3)))
    out += globals_event(0)
    out += frame(WL, 1, msg(2, 0, u32(1) + s("wl_compositor") + u32(4, 3)) +
                 msg(2, 0, u32(2) + s("wl_shm") + u32(1, 4)) +
                 msg(2, 0, u32(3) + s("xdg_wm_base") + u32(2, 5)) +
                 msg(3, 0, u32(6)) + msg(5, 2, u32(7, 6)) + msg(7, 1, u32(8)) +
                 msg(8, 2, s("a title")) + msg(8, 3, s("org.example")) + msg(6, 6))
    out += frame(FD_SHM, 1, u32(4096))
    out += frame(WL, 1, msg(4, 0, u32(9) + i32(4096)))
    out += frame(SHM_WRITE, 1, u32(9, 0, 16, 16, 2, 0) + b"\xff" * 32)
    out += frame(SHM_WRITE, 1, u32(9, 64, 8, 32, 1, 1) + lz4_literals(b"\x11" * 8))
    out += frame(WL, 1, msg(9, 0, u32(10) + i32(0, 16, 16, 64, 1)) + msg(9, 2, i32(8192)) +
                 msg(6, 1, u32(10) + i32(0, 0)) + msg(6, 2, i32(0, 0, 16, 16)) + msg(6, 6))
    out += frame(FROM_COMPOSITOR, 0, msg(10, 0))
    return out


def clipboard():
    out = hello() + frame(OPEN, 1)
    out += frame(WL, 1, msg(1, 1, u32(2)) + msg(1, 0, u32(3)))
    out += globals_event(0)
    out += frame(WL, 1, msg(2, 0, u32(4) + s("wl_seat") + u32(7, 4)) +
                 msg(2, 0, u32(6) + s("wl_data_device_manager") + u32(3, 5)) +
                 msg(5, 1, u32(6, 4)) + msg(5, 0, u32(7)))
    out += frame(FROM_COMPOSITOR, 0, msg(6, 0, u32(0xff000000)) +
                 msg(0xff000000, 0, s("text/plain")))
    out += frame(FD_PIPE, 1, u32(1))
    out += frame(WL, 1, msg(0xff000000, 1, s("text/plain")))
    out += frame(PIPE_END, 1, u32(1))
    out += frame(WL, 1, msg(0xff000000, 2))
    out += frame(FROM_COMPOSITOR, WITH_FD, msg(7, 1, s("text/plain")))
    out += frame(PIPE_DATA, 1, u32(0x80000000) + b"hello")
    out += frame(PIPE_END, 1, u32(0x80000000))
    return out


CASES = {
    "hello": hello(),
    "hello-bad-version": frame(HELLO, 0, u32(2)),
    "frame-before-hello": frame(OPEN, 1),
    "session": session(),
    "clipboard": clipboard(),
    "keymap": hello() + frame(OPEN, 1) + frame(WL, 1, msg(1, 1, u32(2))) + globals_event(0) +
    frame(WL, 1, msg(2, 0, u32(4) + s("wl_seat") + u32(7, 3)) + msg(3, 1, u32(4))) +
    frame(FROM_COMPOSITOR, WITH_FD, msg(4, 0, u32(1) + u32(16))) +
    frame(FROM_COMPOSITOR, 0, msg(4, 0, u32(1) + u32(16))),
    "close-and-reopen": hello() + frame(OPEN, 1) + frame(CLOSE, 1) + frame(OPEN, 1) +
    frame(WL, 1, msg(1, 0, u32(2))),
    "reopen-while-open": hello() + frame(OPEN, 2) + frame(OPEN, 2),
    "conn-out-of-range": hello() + frame(OPEN, 65),
    "unknown-type": hello() + frame(OPEN, 1) + frame(77, 1),
    "truncated-message": hello() + frame(OPEN, 1) + frame(WL, 1, u32(1, (16 << 16)) + u32(2)),
    "size-not-multiple": hello() + frame(OPEN, 1) + frame(WL, 1, u32(1, (10 << 16)) + b"\0\0"),
    "string-no-nul": hello() + frame(OPEN, 1) + frame(WL, 1, msg(1, 1, u32(2))) +
    globals_event(0) + frame(WL, 1, msg(2, 0, u32(1, 4) + b"wl_c" + u32(1, 3))),
    "bind-unannounced": hello() + frame(OPEN, 1) + frame(WL, 1, msg(1, 1, u32(2))) +
    frame(WL, 1, msg(2, 0, u32(99) + s("wl_compositor") + u32(1, 3))),
    "bind-screencopy": hello() + frame(OPEN, 1) + frame(WL, 1, msg(1, 1, u32(2))) +
    globals_event(0) +
    frame(WL, 1, msg(2, 0, u32(5) + s("zwlr_screencopy_manager_v1") + u32(1, 3))),
    "create-pool-unannounced": hello() + frame(OPEN, 1) + frame(WL, 1, msg(1, 1, u32(2))) +
    globals_event(0) + frame(WL, 1, msg(2, 0, u32(2) + s("wl_shm") + u32(1, 3)) +
                             msg(3, 0, u32(4) + i32(4096))),
    "buffer-above-cap": hello() + frame(OPEN, 1) + frame(WL, 1, msg(1, 1, u32(2))) +
    globals_event(0) + frame(FD_SHM, 1, u32(8200 * 8200 * 4)) +
    frame(WL, 1, msg(2, 0, u32(2) + s("wl_shm") + u32(1, 3)) +
          msg(3, 0, u32(4) + i32(8200 * 8200 * 4)) +
          msg(4, 0, u32(5) + i32(0, 8200, 8200, 8200 * 4, 1))),
    "shm-write-outside": hello() + frame(OPEN, 1) + frame(WL, 1, msg(1, 1, u32(2))) +
    globals_event(0) + frame(FD_SHM, 1, u32(4096)) +
    frame(WL, 1, msg(2, 0, u32(2) + s("wl_shm") + u32(1, 3)) + msg(3, 0, u32(4) + i32(4096))) +
    frame(SHM_WRITE, 1, u32(4, 4000, 16, 4096, 2, 0) + b"\0" * 32),
    "shm-write-bad-lz4": hello() + frame(OPEN, 1) + frame(WL, 1, msg(1, 1, u32(2))) +
    globals_event(0) + frame(FD_SHM, 1, u32(4096)) +
    frame(WL, 1, msg(2, 0, u32(2) + s("wl_shm") + u32(1, 3)) + msg(3, 0, u32(4) + i32(4096))) +
    frame(SHM_WRITE, 1, u32(4, 0, 64, 64, 1, 1) + b"\xf0\xff\xff\xff"),
    "too-many-announcements": hello() + frame(OPEN, 1) +
    b"".join(frame(FD_PIPE, 1, u32(i)) for i in range(40)),
    "oversized-frame": hello() + struct.pack("<III", WL, 1, (1 << 20) + 1),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in CASES.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
