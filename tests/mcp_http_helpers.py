"""What the tests of the HTTP transport share: a raw ``initialize`` request and the headers streamable HTTP asks a
client to send with it, and whether this machine has IPv6's loopback (the IPv6 cases are skipped where it has not)."""

from __future__ import annotations

import socket

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True
