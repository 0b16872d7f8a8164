#!/usr/bin/env python3
"""Plays sys-net's NIC on the uplink's QEMU end (QEMU's stream format: a 4-byte big-endian
length, then the Ethernet frame), as uplink-run hands it over (UPLINK_FD, UPLINK_IP4,
UPLINK_GW4, UPLINK_DNS).

  uplink-frames.py connect ADDR PORT   prints "open" (passt's SYN-ACK: its connect() worked),
                                       "refused" (RST: its connect() failed) or "silent"
  uplink-frames.py dns NAME            prints the A record the first resolver gives, or "none"

A guard that blocks passt's connect() makes it answer with an RST at once; the 20 s limit only
keeps a broken run from hanging, a test never passes by waiting it out."""
import os
import random
import select
import socket
import struct
import sys
import time

FD = int(os.environ.get("UPLINK_FD", "3"))
IP = socket.inet_aton(os.environ["UPLINK_IP4"])
GW = socket.inet_aton(os.environ["UPLINK_GW4"])
MAC = bytes.fromhex("02005e100001")
LIMIT = float(os.environ.get("FRAMES_LIMIT", "20"))

sock = socket.socket(fileno=FD)
buf = b""


def send(frame):
    sock.sendall(struct.pack(">I", len(frame)) + frame)


def frames(deadline):
    global buf
    while True:
        while len(buf) >= 4:
            n = struct.unpack(">I", buf[:4])[0]
            if len(buf) < 4 + n:
                break
            f, buf = buf[4:4 + n], buf[4 + n:]
            yield f
        left = deadline - time.monotonic()
        if left <= 0:
            return
        r, _, _ = select.select([sock], [], [], left)
        if not r:
            return
        d = sock.recv(65536)
        if not d:
            return
        buf += d


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4(proto, dst, payload):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), random.randrange(65536), 0x4000,
                    64, proto, 0, IP, dst)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def gw_mac():
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, MAC, IP, b"\0" * 6, GW)
    send(b"\xff" * 6 + MAC + b"\x08\x06" + arp)
    for f in frames(time.monotonic() + LIMIT):
        if f[12:14] == b"\x08\x06" and struct.unpack("!H", f[20:22])[0] == 2:
            return f[22:28]
    sys.exit("uplink-frames: no ARP answer from passt")


def l4(f, proto):
    """(src, payload of IPv4 proto) of a frame to us, or None."""
    if f[12:14] != b"\x08\x00" or f[23] != proto or f[30:34] != IP:
        return None
    ihl = (f[14] & 0xF) * 4
    return f[26:30], f[14 + ihl:]


def connect(dst_s, port):
    dst = socket.inet_aton(dst_s)
    peer = gw_mac()
    sport = random.randrange(40000, 60000)
    seq = random.randrange(1 << 32)
    opts = struct.pack("!BBH", 2, 4, 1460)
    tcp = struct.pack("!HHIIBBHHH", sport, port, seq, 0, (5 + 1) << 4, 0x02, 64240, 0, 0) + opts
    pseudo = IP + dst + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    send(peer + MAC + b"\x08\x00" + ipv4(6, dst, tcp))
    for f in frames(time.monotonic() + LIMIT):
        got = l4(f, 6)
        if not got or got[0] != dst:
            continue
        sp, dp, _, ack, _, flags = struct.unpack("!HHIIBB", got[1][:14])
        if sp != port or dp != sport:
            continue
        if flags & 0x04:
            return "refused"
        if flags & 0x12 == 0x12:
            # Leave nothing half-open behind.
            rst = struct.pack("!HHIIBBHHH", sport, port, seq + 1, 0, 5 << 4, 0x04, 0, 0, 0)
            p = IP + dst + struct.pack("!BBH", 0, 6, len(rst))
            rst = rst[:16] + struct.pack("!H", csum(p + rst)) + rst[18:]
            send(peer + MAC + b"\x08\x00" + ipv4(6, dst, rst))
            return "open"
    return "silent"


def dns(name):
    server = socket.inet_aton(os.environ["UPLINK_DNS"].split()[0])
    peer = gw_mac()
    qid = random.randrange(65536)
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack("!HH", 1, 1)
    sport = random.randrange(40000, 60000)
    udp = struct.pack("!HHHH", sport, 53, 8 + len(q), 0) + q
    send(peer + MAC + b"\x08\x00" + ipv4(17, server, udp))
    for f in frames(time.monotonic() + LIMIT):
        got = l4(f, 17)
        if not got:
            continue
        u = got[1]
        if struct.unpack("!HH", u[:4]) != (53, sport):
            continue
        m = u[8:]
        rid, flags, qd, an = struct.unpack("!HHHH", m[:8])
        if rid != qid or an == 0:
            return "none"
        # Skip the question, then take the first A answer (names may be compressed).
        i = 12
        while m[i] != 0:
            i += 1 + m[i]
        i += 5
        for _ in range(an):
            if m[i] & 0xC0 == 0xC0:
                i += 2
            else:
                while m[i] != 0:
                    i += 1 + m[i]
                i += 1
            t, _, _, rdlen = struct.unpack("!HHIH", m[i:i + 10])
            i += 10
            if t == 1 and rdlen == 4:
                return socket.inet_ntoa(m[i:i + 4])
            i += rdlen
        return "none"
    return "silent"


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "connect":
        print(connect(sys.argv[2], int(sys.argv[3])))
    elif len(sys.argv) == 3 and sys.argv[1] == "dns":
        print(dns(sys.argv[2]))
    else:
        sys.exit(__doc__)


main()
