#!/usr/bin/env python3
"""Servers and probes for net-apply.sh, run inside the test's network namespaces.

  serve-tcp ADDR PORT...      echo servers (one thread per port)
  serve-udp ADDR PORT         a UDP echo server
  tcp HOST PORT [SRC]         connect (from SRC), send, expect the echo: exit 0 or 1
  udp HOST PORT               send a datagram, expect the echo
  hold HOST PORT              connect and echo once, print "up"; on each line of stdin echo
                              again and print "ok" or "cut"
The probes wait at most 1.5 s for an answer (between namespaces of one host an answer takes
milliseconds): only the absence of one is judged by it."""
import socket
import sys
import threading

WAIT = 1.5


def echo_conn(c):
    with c:
        while True:
            d = c.recv(4096)
            if not d:
                return
            c.sendall(d)


def serve_tcp(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(16)
    while True:
        c, _ = s.accept()
        threading.Thread(target=echo_conn, args=(c,), daemon=True).start()


def echo(s):
    try:
        s.sendall(b"hi\n")
        return s.recv(16) == b"hi\n"
    except OSError:
        return False


def main():
    mode = sys.argv[1]
    if mode == "serve-tcp":
        for p in sys.argv[3:]:
            threading.Thread(target=serve_tcp, args=(sys.argv[2], int(p)), daemon=True).start()
        threading.Event().wait()
    if mode == "serve-udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((sys.argv[2], int(sys.argv[3])))
        while True:
            d, a = s.recvfrom(4096)
            s.sendto(d, a)
    if mode == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(WAIT)
        try:
            s.sendto(b"hi", (sys.argv[2], int(sys.argv[3])))
            sys.exit(0 if s.recvfrom(16)[0] == b"hi" else 1)
        except OSError:
            sys.exit(1)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(WAIT)
    if mode == "tcp":
        try:
            if len(sys.argv) > 4:
                s.bind((sys.argv[4], 0))
            s.connect((sys.argv[2], int(sys.argv[3])))
        except OSError:
            sys.exit(1)
        sys.exit(0 if echo(s) else 1)
    if mode == "hold":
        s.connect((sys.argv[2], int(sys.argv[3])))
        print("up" if echo(s) else "down", flush=True)
        for _ in sys.stdin:
            print("ok" if echo(s) else "cut", flush=True)


main()
