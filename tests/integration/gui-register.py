#!/usr/bin/env python3
"""admin.gui.Register with what a confused or hostile API client might send: each is refused
with a clear error while the session's compositor stays registered. Run as root against a
bulkheadd that already has a compositor registered; argv: API socket, scratch directory."""
import json
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from importlib import import_module  # noqa: E402

raw = import_module("api-raw")


def register(api, payload):
    s = raw.connect(api)
    req = {"call": "admin.gui.Register", "dest": ""}
    if payload is not None:
        req["payload"] = payload
    body = json.dumps(req).encode()
    s.sendall(raw.HDR.pack(raw.API_REQUEST, 0, 0, len(body)) + body)
    return s, raw.recv_frame(s)


def refused(api, payload, error, words):
    s, reply = register(api, payload)
    raw.expect_error(reply, error, words)
    s.close()


def main():
    api, scratch = sys.argv[1], sys.argv[2]
    sock = os.path.join(scratch, "other.ctl")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock)
    plain = os.path.join(scratch, "plain-file")
    open(plain, "w").close()
    foreign = os.path.join(scratch, "foreign.ctl")
    srv2 = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv2.bind(foreign)
    os.chown(foreign, 65534, 65534)

    refused(api, None, "QubesValueError", '"control"')
    refused(api, {"control": 7}, "QubesValueError", '"control"')
    refused(api, {"control": "relative.ctl"}, "QubesValueError", "absolute path")
    refused(api, {"control": "/x" * 80}, "QubesValueError", "fits a socket address")
    refused(api, {"control": sock + "\nfake log line"}, "QubesValueError", "control characters")
    refused(api, {"control": os.path.join(scratch, "missing.ctl")}, "QubesValueError",
            "No such file")
    refused(api, {"control": plain}, "QubesPermissionDenied", "not a socket owned by")
    refused(api, {"control": foreign}, "QubesPermissionDenied", "not a socket owned by")
    # A good socket of the caller's, but the session's compositor holds the registration.
    refused(api, {"control": sock}, "QubesValueError", "another compositor is registered")
    srv.close()
    srv2.close()


if __name__ == "__main__":
    main()
