#!/usr/bin/env python3
"""Speaks the API socket's framing directly, to send what the CLI never would."""
import json
import socket
import struct
import sys

HDR = struct.Struct("<HHII")
API_REQUEST, API_REPLY = 32, 33


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    return s


def recv_frame(s):
    buf = b""
    while len(buf) < HDR.size:
        chunk = s.recv(HDR.size - len(buf))
        if not chunk:
            return None
        buf += chunk
    t, flags, stream, length = HDR.unpack(buf)
    payload = b""
    while len(payload) < length:
        chunk = s.recv(length - len(payload))
        if not chunk:
            return None
        payload += chunk
    return t, stream, payload


def expect_error(reply, error, words):
    assert reply is not None, "no reply"
    t, _, payload = reply
    assert t == API_REPLY, f"reply type {t}"
    obj = json.loads(payload)
    assert obj["ok"] is False, obj
    assert obj["error"] == error, obj
    assert words in obj["message"], obj
    print("ok:", obj["message"])


def main():
    path = sys.argv[1]
    # A request over the cap: refused from its header, before the payload is read.
    s = connect(path)
    s.sendall(HDR.pack(API_REQUEST, 0, 0, 70000))
    expect_error(recv_frame(s), "QubesProtocolError", "larger than the limit")
    assert recv_frame(s) is None, "connection not closed after an oversized request"

    # Not JSON, then a valid request on a new connection still works.
    s = connect(path)
    body = b"{not json"
    s.sendall(HDR.pack(API_REQUEST, 0, 0, len(body)) + body)
    expect_error(recv_frame(s), "QubesProtocolError", "JSON")

    s = connect(path)
    body = json.dumps({"call": "admin.vm.Nonsense"}).encode()
    s.sendall(HDR.pack(API_REQUEST, 0, 0, len(body)) + body)
    expect_error(recv_frame(s), "QubesProtocolError", "unknown call")

    # A header with reserved flags set is not a frame of ours.
    s = connect(path)
    s.sendall(HDR.pack(API_REQUEST, 7, 0, 2) + b"{}")
    expect_error(recv_frame(s), "QubesProtocolError", "malformed")

    s = connect(path)
    body = json.dumps({"call": "admin.vm.List", "dest": ""}).encode()
    s.sendall(HDR.pack(API_REQUEST, 0, 0, len(body)) + body)
    t, _, payload = recv_frame(s)
    assert json.loads(payload)["ok"] is True
    print("ok: the daemon still answers")


if __name__ == "__main__":
    main()
