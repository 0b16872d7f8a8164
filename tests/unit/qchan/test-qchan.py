#!/usr/bin/env python3
"""The real bulkhead-qchan, confined as bulkheadd starts it, between a scripted hostile qube
(its channel is a socketpair this test holds) and a scripted bulkheadd (the message socket).
Each case plays one attack of issue 8 and checks that the harm is gone.

usage: test-qchan.py BULKHEAD_QCHAN
"""
import os
import socket
import struct
import subprocess
import sys
import time

QCHAN = sys.argv[1]

# common/proto.h
HELLO, EXEC, STDIN, STDOUT, STDERR, WINDOW, EXIT, SIGNAL, SHUTDOWN, ERROR, ECHO, ECHO_REPLY, \
    RPC_CALL, SERVICE, MEMINFO = range(1, 16)
API_REQUEST, API_REPLY = 32, 33
QUBE = 0x80000000
INITIAL_WINDOW = 256 * 1024
# common/qmsg.h
Q_EXEC, Q_SERVICE, Q_CALL_CONNECT, Q_CALL_DOM0, Q_CALL_REFUSE, Q_CALL_ABORT, Q_SERVICE_KILL, \
    Q_ECHO, Q_SHUTDOWN = range(1, 10)
Q_READY, Q_CALL, Q_CALL_END, Q_SERVICE_END, Q_ECHO_REPLY, Q_EXEC_END, Q_MEMINFO = range(32, 39)
QUBE_UID = 1879048192 + 7

failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print(f"FAIL: {what}", flush=True)
    else:
        print(f"ok: {what}", flush=True)


def frame(t, stream, payload=b""):
    return struct.pack("<HHII", t, 0, stream, len(payload)) + payload


def u32(v):
    return struct.pack("<I", v)


def strings(*ss):
    return b"".join(s.encode() + b"\0" for s in ss)


class Link:
    """A frame link: the qube's channel, a run client, the other side of a call."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        sock.settimeout(20)

    def send(self, t, stream, payload=b""):
        self.sock.sendall(frame(t, stream, payload))

    def recv(self):
        while True:
            if len(self.buf) >= 12:
                t, flags, stream, n = struct.unpack("<HHII", self.buf[:12])
                if len(self.buf) >= 12 + n:
                    p = self.buf[12:12 + n]
                    self.buf = self.buf[12 + n:]
                    return t, stream, p
            data = self.sock.recv(1 << 20)
            if not data:
                return None
            self.buf += data

    def recv_type(self, want, skip=(WINDOW,)):
        while True:
            f = self.recv()
            if f is None or f[0] == want or f[0] not in skip:
                return f

    def closed(self):
        try:
            self.sock.settimeout(5)
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except socket.timeout:
            return False
        finally:
            self.sock.settimeout(20)


class Parent:
    """bulkheadd's side of the message set."""

    def __init__(self, sock):
        self.sock = sock
        sock.settimeout(20)

    def send(self, t, ident=0, payload=b"", fd=None):
        data = struct.pack("<HHII", t, 0, ident, len(payload)) + payload
        if fd is None:
            self.sock.send(data)
        else:
            socket.send_fds(self.sock, [data], [fd])

    def recv(self):
        data, fds, _, _ = socket.recv_fds(self.sock, 65536, 4)
        for fd in fds:
            os.close(fd)
        if not data:
            return None
        t, _, ident, n = struct.unpack("<HHII", data[:12])
        return t, ident, data[12:12 + n]


class Qchan:
    def __init__(self, name="hostile"):
        self.chan, chan_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.ctl, ctl_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        args = [QCHAN, "--qube", name]
        if os.geteuid() == 0:
            args += ["--uid", str(QUBE_UID)]

        def fds():
            os.dup2(chan_child.fileno(), 3)
            os.dup2(ctl_child.fileno(), 4)

        # stderr a regular file, as bulkheadd's log often is: logging must not kill it.
        self.err = open(f"/tmp/test-qchan.{os.getpid()}.err", "w+")
        self.proc = subprocess.Popen(args, preexec_fn=fds, pass_fds=(3, 4), stderr=self.err)
        chan_child.close()
        ctl_child.close()
        self.qube = Link(self.chan)
        self.parent = Parent(self.ctl)
        t, s, p = self.qube.recv()
        assert t == HELLO and s == 0, "the channel process greets first"

    def hello(self, version="1.0"):
        self.qube.send(HELLO, 0, u32(1) + version.encode())
        return self.parent.recv()

    def exit_code(self):
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None

    def close(self):
        self.chan.close()
        self.ctl.close()
        self.exit_code()
        self.err.close()
        os.unlink(self.err.name)


def call(q, stream, target, service):
    q.qube.send(RPC_CALL, stream, strings(target, service))
    return q.parent.recv()


# --- confinement ----------------------------------------------------------------------------
q = Qchan()
status = open(f"/proc/{q.proc.pid}/status").read()
check("Seccomp:\t2" in status, "the channel process runs under a seccomp filter")
check("NoNewPrivs:\t1" in status, "no_new_privs is set")
if os.geteuid() == 0:
    uids = [l for l in status.splitlines() if l.startswith("Uid:")][0].split()[1:]
    check(all(int(u) == QUBE_UID for u in uids), f"it runs as the qube's uid {QUBE_UID}: {uids}")
check(sorted(os.listdir(f"/proc/{q.proc.pid}/fd")) == ["0", "1", "2", "3", "4"],
      "it holds only stdio, the channel and the message socket")

# --- the handshake: the agent's version reaches bulkheadd printable only -------------------
m = q.hello("1.0\nbulkheadd: info: forged")
check(m is not None and m[0] == Q_READY and b"\n" not in m[2] and m[2].startswith(b"1.0?"),
      f"READY carries the version without control characters: {m}")

# --- 2.1: admin input after its end ----------------------------------------------------------
m = call(q, QUBE | 1, "dom0", "admin.vm.List")
check(m == (Q_CALL, QUBE | 1, strings("dom0", "admin.vm.List")), f"the call is reported: {m}")
api_ours, api_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
q.parent.send(Q_CALL_DOM0, QUBE | 1, strings("admin.vm.List", "", ""), api_child.fileno())
api_child.close()
api = Link(api_ours)
f = q.qube.recv()
check(f[0] == WINDOW and f[1] == QUBE | 1, f"the caller gets its input window: {f}")
q.qube.send(STDIN, QUBE | 1, b"")
q.qube.send(STDIN, QUBE | 1, b"")
q.qube.send(STDIN, QUBE | 1, b"")
f = api.recv()
check(f is not None and f[0] == API_REQUEST and b'"call":"admin.vm.List"' in f[2],
      f"one request reaches the API: {f}")
f = q.qube.recv_type(ERROR)
check(f is not None and f[0] == ERROR and b"after the end" in f[2],
      f"a second end of input ends the call: {f}")
m = q.parent.recv()
check(m == (Q_CALL_END, QUBE | 1, b""), f"bulkheadd is told the call ended: {m}")
check(api.closed() and not api.buf, "no second request reached the API, and its connection closed")

# --- an admin call's input that is not JSON never reaches the host --------------------------
m = call(q, QUBE | 2, "dom0", "admin.vm.List")
api_ours, api_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
q.parent.send(Q_CALL_DOM0, QUBE | 2, strings("admin.vm.List", "", ""), api_child.fileno())
api_child.close()
api = Link(api_ours)
q.qube.recv()
q.qube.send(STDIN, QUBE | 2, b'{"a": [[[[[[[[[[[[1]]]]]]]]]]]}')
q.qube.send(STDIN, QUBE | 2, b"")
f = q.qube.recv_type(EXIT, skip=(WINDOW, STDERR, STDOUT))
check(f is not None and f[0] == EXIT and struct.unpack("<Ii", f[2]) == (0, 2),
      f"deep JSON is refused in the channel process, exit 2: {f}")
check(api.closed() and not api.buf, "nothing reached the API")
q.parent.recv()

# --- 2.2: a malformed signal ends that call only, on both sides -----------------------------
m = call(q, QUBE | 3, "bob", "test.Echo")
peer_ours, peer_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
q.parent.send(Q_CALL_CONNECT, QUBE | 3, b"", peer_child.fileno())
peer_child.close()
peer = Link(peer_ours)
f = q.qube.recv()
check(f[0] == WINDOW and f[1] == QUBE | 3, "the caller may send once the call runs")
q.qube.send(SIGNAL, QUBE | 3, u32(15))
f = peer.recv()
check(f == (SIGNAL, 1, u32(15)), f"a well-formed signal reaches the target's side: {f}")
q.qube.send(SIGNAL, QUBE | 3, b"\x09\x00")
f = q.qube.recv_type(ERROR)
check(f is not None and f[1] == QUBE | 3 and b"malformed signal" in f[2],
      f"a malformed signal ends the caller's call: {f}")
f = peer.recv()
check(f is not None and f[0] == ERROR, f"the target's side gets an ERROR, not the signal: {f}")
check(q.parent.recv() == (Q_CALL_END, QUBE | 3, b""), "bulkheadd is told")
q.parent.send(Q_ECHO, 0, b"still here")
f = q.qube.recv()
check(f == (ECHO, 0, b"still here"), f"the channel carries on: {f}")
q.qube.send(ECHO_REPLY, 0, b"still here")
check(q.parent.recv() == (Q_ECHO_REPLY, 0, b"still here"), "and answers")

# --- 2.2, the target's side: a caller's bad signal never reaches the service ----------------
caller_ours, caller_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
q.parent.send(Q_SERVICE, 77, strings("", "test.Echo", "", "alice"), caller_child.fileno())
caller_child.close()
caller = Link(caller_ours)
f = q.qube.recv()
check(f[0] == SERVICE and f[2] == strings("", "test.Echo", "", "alice"),
      f"the target qube is asked to run the service: {f}")
svc = f[1]
caller.send(SIGNAL, 1, b"\x00")
f = q.qube.recv()
check(f == (SIGNAL, svc, u32(9)), f"a malformed signal from the caller's side kills the service: {f}")
q.qube.send(EXIT, svc, struct.pack("<Ii", 1, 9))
check(q.parent.recv() == (Q_SERVICE_END, 77, b""), "the service's end is reported with its id")

# --- 2.8: back-pressure, never a dropped byte ---------------------------------------------
client_ours, client_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
argv = b"\0\0\0\0" + strings("", "cat")
q.parent.send(Q_EXEC, 0, argv, client_child.fileno())
client_child.close()
client = Link(client_ours)
f = q.qube.recv_type(EXEC)
check(f[0] == EXEC, f"the command reaches the qube: {f}")
cmd = f[1]
total = 4 * 1024 * 1024
sent = 0
credit = INITIAL_WINDOW
got = bytearray()
pattern = bytes(range(256)) * 256
client.sock.settimeout(0.2)
while len(got) < total:
    while credit > 0 and sent < total:
        n = min(65536, credit, total - sent)
        q.qube.send(STDOUT, cmd, (pattern * 2)[sent % 256:sent % 256 + n])
        sent += n
        credit -= n
    try:
        f = client.recv()
    except socket.timeout:
        f = None
    if f and f[0] == STDOUT:
        got += f[2]
        client.send(WINDOW, 1, u32(len(f[2])))
    q.qube.sock.settimeout(0.05)
    try:
        while True:
            g = q.qube.recv()
            if g and g[0] == WINDOW and g[1] == cmd:
                credit += struct.unpack("<I", g[2])[0]
    except socket.timeout:
        pass
    q.qube.sock.settimeout(20)
expected = b"".join((pattern * 2)[i % 256:i % 256 + min(65536, total - i)]
                    for i in range(0, total, 65536))
check(bytes(got) == expected, f"{total} bytes of output arrive whole and in order ({len(got)})")
q.qube.send(EXIT, cmd, struct.pack("<Ii", 0, 0))
client.sock.settimeout(20)
f = client.recv()
check(f == (EXIT, 1, struct.pack("<Ii", 0, 0)), f"the exit status arrives after them: {f}")

# --- a run client's stdin, far beyond one window, with the qube granting as it reads -------
client_ours, client_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
q.parent.send(Q_EXEC, 0, argv, client_child.fileno())
client_child.close()
client = Link(client_ours)
cmd = q.qube.recv_type(EXEC)[1]
total_in, sent_in, credit_in, got_in = 8 * 1024 * 1024, 0, INITIAL_WINDOW, 0
client.sock.settimeout(0.05)
q.qube.sock.settimeout(0.05)
while got_in < total_in:
    while credit_in > 0 and sent_in < total_in:
        n = min(65536, credit_in, total_in - sent_in)
        client.send(STDIN, 1, b"i" * n)
        sent_in += n
        credit_in -= n
    try:
        g = q.qube.recv()
    except socket.timeout:
        g = None
    if g is None:
        pass
    elif g[0] == STDIN and g[1] == cmd:
        got_in += len(g[2])
        q.qube.send(WINDOW, cmd, u32(len(g[2])))
    try:
        while True:
            f = client.recv()
            if f and f[0] == WINDOW:
                credit_in += struct.unpack("<I", f[2])[0]
    except socket.timeout:
        pass
client.sock.settimeout(20)
q.qube.sock.settimeout(20)
check(got_in == total_in and q.proc.poll() is None,
      f"{total_in} bytes of stdin pass under the qube's windows, the channel intact ({got_in})")
q.qube.send(EXIT, cmd, struct.pack("<Ii", 0, 0))
f = client.recv_type(EXIT)
check(f is not None and f[0] == EXIT, f"and the command ends normally: {f}")

# --- 2.8: a client that is slow to read still gets every byte and the exit status ----------
client_ours, client_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
client_ours.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
q.parent.send(Q_EXEC, 0, argv, client_child.fileno())
client_child.close()
client = Link(client_ours)
f = q.qube.recv_type(EXEC)
cmd = f[1]
burst = bytes(range(256)) * 1000  # 256000 bytes: within the initial window
for i in range(0, len(burst), 65536):
    q.qube.send(STDOUT, cmd, burst[i:i + 65536])
q.qube.send(EXIT, cmd, struct.pack("<Ii", 0, 7))
time.sleep(1)  # the command is over before the client reads anything
got = bytearray()
while True:
    f = client.recv()
    if f is None or f[0] != STDOUT:
        break
    got += f[2]
check(bytes(got) == burst and f == (EXIT, 1, struct.pack("<Ii", 0, 7)),
      f"output queued when the command ended is not dropped ({len(got)} bytes, then {f})")

# --- a qube that lies: names with control characters, a host stream it does not own --------
q.qube.send(RPC_CALL, QUBE | 9, strings("bob\nx", "test.Echo"))
f = q.qube.recv()
check(f is not None and f[0] == ERROR and f[1] == QUBE | 9, f"a bad target is refused: {f}")
q.qube.send(STDOUT, 4242, b"x")
check(q.exit_code() == 3, "output on a stream the host never opened resets the channel (exit 3)")
q.err.seek(0)
log = q.err.read()
check("qube hostile broke the channel protocol (a message for a stream that is not open)" in log,
      f"and says why in its log, a regular file: {log!r}")
q.close()

# --- garbage and floods -------------------------------------------------------------------
q = Qchan()
q.hello()
q.qube.sock.sendall(b"\xff" * 64)
check(q.exit_code() == 3, "a garbage header resets the channel")
q.close()

q = Qchan()
q.hello()
for i in range(200):
    q.qube.send(RPC_CALL, QUBE | (100 + i), strings("bob", "test.Echo"))
reported = 0
refused = 0
q.ctl.settimeout(2)
try:
    while True:
        m = q.parent.recv()
        if m and m[0] == Q_CALL:
            reported += 1
except socket.timeout:
    pass
q.qube.sock.settimeout(2)
try:
    while True:
        f = q.qube.recv()
        if f and f[0] == ERROR and b"too many" in f[2]:
            refused += 1
except socket.timeout:
    pass
check(reported == 128 and refused == 72,
      f"a flood of calls: 128 reach bulkheadd, the rest are refused ({reported}, {refused})")
q.close()

# --- swap reports (MEMINFO): passed on as they are, a flood thinned, a bad one a violation --
q = Qchan()
q.hello()
q.qube.send(MEMINFO, 0, struct.pack("<Q", 123456))
check(q.parent.recv() == (Q_MEMINFO, 0, struct.pack("<Q", 123456)),
      "a swap report reaches bulkheadd as it came")
for i in range(5000):
    q.qube.send(MEMINFO, 0, struct.pack("<Q", i))
q.qube.send(ECHO_REPLY, 0, b"after the flood")
passed = []
while True:
    m = q.parent.recv()
    if m is None or m[0] != Q_MEMINFO:
        break
    passed.append(m)
check(m == (Q_ECHO_REPLY, 0, b"after the flood") and len(passed) <= 3,
      f"a flood of 5000 swap reports: {len(passed)} reach bulkheadd, the channel carries on")
q.close()
for what, stream, payload in (("a short", 0, b"\x01\x02"), ("a long", 0, b"\0" * 9),
                              ("a stream's", 5, struct.pack("<Q", 1))):
    q = Qchan()
    q.hello()
    q.qube.send(MEMINFO, stream, payload)
    check(q.exit_code() == 3, f"{what} swap report resets the channel (exit 3)")
    q.close()

q = Qchan()
q.hello()
q.ctl.send(struct.pack("<HHII", Q_READY, 0, 0, 0))  # a child->parent type, sent to the child
check(q.exit_code() in (0, 1), "a message against the table ends the channel process")
q.close()

q = Qchan()
q.hello()
q.chan.close()  # the qube disappears mid-way
check(q.exit_code() == 0, "a qube that disappears ends its channel process cleanly")
q.close()

print(f"{failures} failure(s)")
sys.exit(1 if failures else 0)
