#!/usr/bin/env python3
"""Starts the halves of one qube's audio for tests/integration/audio-halves.sh, joined by a
socketpair (the qube's audio port), the way bulkheadd and the agent would:

  audio-helper.py pair STATE NAME LABEL HOST_BIN HOST_RUNTIME GUEST_BIN GUEST_RUNTIME
      the host half (fd 3 port, fd 4 connected to HOST_RUNTIME/pipewire-0, fd 5 control) and
      the guest half (fd 3 the port's other end, XDG_RUNTIME_DIR=GUEST_RUNTIME)
  audio-helper.py fake STATE NAME LABEL HOST_BIN HOST_RUNTIME ATTACK
      the host half with a hostile fake qube on the port: ATTACK is garbage, oversized,
      badrate or flood

Lines written to the FIFO STATE/NAME.ctl go to the host half's control socket; what it reports
goes to STATE/NAME.reports; its exit status to STATE/NAME.exit. Runs until the host half ends.
Standard library only; no network."""
import os
import socket
import struct
import subprocess
import sys
import threading
import time

HELLO, PLAY_START, PLAY_DATA, PLAY_STOP = 64, 65, 66, 67


def frame(t, payload=b"", stream=0, flags=0):
    return struct.pack("<HHII", t, flags, stream, len(payload)) + payload


def start_host(state, name, label, host_bin, runtime, port_end):
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.connect(os.path.join(runtime, "pipewire-0"))
    ctl_ours, ctl_theirs = socket.socketpair()
    fds = [port_end.fileno(), server.fileno(), ctl_theirs.fileno()]

    def place():
        # the fds land on 3, 4, 5 (dup first, so none is overwritten before it is copied)
        copies = [os.dup(fd) for fd in fds]
        for i, fd in enumerate(copies):
            os.dup2(fd, 3 + i)

    log = open(os.path.join(state, name + ".host.log"), "w")
    proc = subprocess.Popen([host_bin, "--qube", name, "--label", label, "--uid", "65534"],
                            preexec_fn=place, pass_fds=(3, 4, 5), stdout=log, stderr=log)
    server.close()
    ctl_theirs.close()
    port_end.close()
    return proc, ctl_ours


def relay_control(state, name, ctl):
    fifo = os.path.join(state, name + ".ctl")
    if not os.path.exists(fifo):
        os.mkfifo(fifo)

    def to_host():
        while True:
            with open(fifo, "rb") as f:
                for line in f:
                    try:
                        ctl.sendall(line)
                    except OSError:
                        return

    def from_host():
        with open(os.path.join(state, name + ".reports"), "ab", buffering=0) as out:
            while True:
                data = ctl.recv(256)
                if not data:
                    return
                out.write(data)

    threading.Thread(target=to_host, daemon=True).start()
    threading.Thread(target=from_host, daemon=True).start()


def attack(kind, sock):
    try:
        attack_once(kind, sock)
    except OSError:
        pass  # the host half hung up, as it should


def attack_once(kind, sock):
    fmt = struct.pack("<III", 1, 48000, 2)
    sock.sendall(frame(HELLO, struct.pack("<I", 1)))
    if kind == "garbage":
        sock.sendall(os.urandom(64) + b"\xff" * 64)
    elif kind == "oversized":
        sock.sendall(frame(PLAY_START, fmt) + struct.pack("<HHII", PLAY_DATA, 0, 0, 1 << 20))
        sock.sendall(b"\0" * 65536)
    elif kind == "badrate":
        sock.sendall(frame(PLAY_START, struct.pack("<III", 1, 192000, 2)))
    elif kind == "flood":
        sock.sendall(frame(PLAY_START, fmt))
        chunk = frame(PLAY_DATA, b"\0" * 8192)
        for _ in range(4000):  # 40 s of audio as fast as it goes
            sock.sendall(chunk)
    else:
        raise SystemExit("unknown attack " + kind)
    # keep the port open: the host half must end by itself
    time.sleep(120)


def main():
    mode, state, name, label, host_bin, host_runtime = sys.argv[1:7]
    ours, theirs = socket.socketpair()
    proc, ctl = start_host(state, name, label, host_bin, host_runtime, theirs)
    relay_control(state, name, ctl)
    guest = None
    if mode == "pair":
        guest_bin, guest_runtime = sys.argv[7:9]
        env = dict(os.environ, XDG_RUNTIME_DIR=guest_runtime)
        log = open(os.path.join(state, name + ".guest.log"), "w")
        fd = ours.fileno()
        guest = subprocess.Popen([guest_bin], env=env, stdout=log, stderr=log,
                                 preexec_fn=lambda: os.dup2(fd, 3), pass_fds=(3,))
        ours.close()
    else:
        threading.Thread(target=attack, args=(sys.argv[7], ours), daemon=True).start()
    code = proc.wait()
    with open(os.path.join(state, name + ".exit"), "w") as f:
        f.write("%d\n" % code)
    if guest:
        guest.terminate()
        guest.wait()


if __name__ == "__main__":
    main()
