#!/usr/bin/env python3
"""Host end of a qube control channel for the image boot test.

chan.py SOCKET TIMEOUT [--shutdown]
Connects to the QEMU chardev socket, waits at most TIMEOUT seconds for the agent's HELLO frame
(common/proto.h: 12-byte LE header u16 type, u16 flags, u32 stream, u32 length; HELLO payload
u32 version + version string), prints "hello VERSION STRING SECONDS" and, with --shutdown, answers
with the host's HELLO and a SHUTDOWN frame. Exits 1 on timeout or on a malformed frame.
"""
import socket
import struct
import sys
import time

HEADER = struct.Struct("<HHII")
HELLO, SHUTDOWN = 1, 9
MAX_PAYLOAD = 65536


def main():
    path, timeout = sys.argv[1], float(sys.argv[2])
    shutdown = "--shutdown" in sys.argv[3:]
    start = time.monotonic()
    deadline = start + timeout
    sock = None
    while sock is None:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            sock = s
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                print(f"cannot connect to {path}", file=sys.stderr)
                return 1
            time.sleep(0.05)
    buf = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            print(f"no HELLO within {timeout:.0f} s", file=sys.stderr)
            return 1
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            print("channel closed before HELLO", file=sys.stderr)
            return 1
        buf += chunk
        if len(buf) < HEADER.size:
            continue
        mtype, flags, stream, length = HEADER.unpack_from(buf)
        if mtype != HELLO or flags != 0 or stream != 0 or length < 4 or length > 4 + 64:
            print(f"first frame is not a valid HELLO: type={mtype} flags={flags} "
                  f"stream={stream} length={length}", file=sys.stderr)
            return 1
        if len(buf) < HEADER.size + length:
            continue
        payload = buf[HEADER.size:HEADER.size + length]
        (version,) = struct.unpack_from("<I", payload)
        name = payload[4:].decode("utf-8", "replace")
        print(f"hello {version} {name} {time.monotonic() - start:.1f}", flush=True)
        break
    if shutdown:
        ident = b"boot-test"
        sock.sendall(HEADER.pack(HELLO, 0, 0, 4 + len(ident)) + struct.pack("<I", version) + ident)
        sock.sendall(HEADER.pack(SHUTDOWN, 0, 0, 0))
        # Keep the socket open until QEMU exits (the agent may still write).
        sock.settimeout(60)
        try:
            while sock.recv(65536):
                pass
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
