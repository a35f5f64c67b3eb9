"""The HTTP server's listening sockets, bound before it starts, and the URL it serves on.

Binding here (not in uvicorn) gives three things: a port refused (in use, not an address of this machine, privileged)
is said with its fix before the server starts, where uvicorn's own failure was a log line with errno 98 and exit
status 3; nothing can take the port between that check and the server's bind, as there is no gap; and with
``--port 0`` the port the system chose is known before the app is built, so the start-up line says the URL served
on and the Host allow-list holds that port (a client reaching ``127.0.0.1:<port>`` is not refused 421).
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import sys

from ..errors import ConfigError

#: as uvicorn listens (its default backlog): connections that come before the server accepts wait in it
BACKLOG = 2048


#: how many ports the system chooses (``--port 0``) before the start is refused, when each is taken on another of
#: the name's addresses: the system chose it free on the first address only
PORT_0_TRIES = 8


class _ChosenPortTaken(Exception):
    """The port the system chose for a name's first address is taken on another of its addresses."""


def bind_listeners(host: str, port: int) -> list[socket.socket]:
    """Listening sockets on every address ``host`` resolves to, as asyncio's server binds them (each IPv6 one for
    IPv6 only; an address the system lacks, or of a family it has no sockets for, skipped while another binds), on
    ``port``; with port 0 the first takes the port the system chooses and the others the same one, so the server has
    one URL (a port so chosen that another address has taken is given up for another). The caller closes them."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host!r} does not resolve to an address of this machine ({exc.strerror})") from None
    addresses = list(dict.fromkeys(infos))  # (getaddrinfo may say one address twice)
    for _ in range(PORT_0_TRIES - 1):
        try:
            return _bind_all(host, port, addresses, give_up_taken=True)
        except _ChosenPortTaken:
            continue
    return _bind_all(host, port, addresses, give_up_taken=False)


def _bind_all(host: str, port: int, addresses: list[tuple], *, give_up_taken: bool) -> list[socket.socket]:
    listeners: list[socket.socket] = []
    skipped: OSError | None = None
    try:
        for family, kind, proto, _, address in addresses:
            if listeners:
                address = (address[0], listeners[0].getsockname()[1], *address[2:])
            try:
                sock = socket.socket(family, kind, proto)
            except OSError as exc:  # as asyncio: a family the system has no sockets for (IPv6 off) is skipped
                skipped = exc
                continue
            try:
                if _reuses_addresses():  # as asyncio: TIME_WAIT is no obstacle to a restart
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    # as asyncio binds: `--host ::` is IPv6's every address, not IPv4's too (0.0.0.0 is that)
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(address)
                sock.listen(BACKLOG)
            except OSError as exc:
                sock.close()
                if exc.errno == errno.EADDRINUSE and port == 0 and listeners and give_up_taken:
                    raise _ChosenPortTaken from None
                if exc.errno != errno.EADDRNOTAVAIL:
                    raise _refusal(host, port, exc) from None
                skipped = exc  # a name's IPv6 address where IPv6 is off: served on its others, as asyncio does
                continue
            listeners.append(sock)
        if not listeners and skipped is not None:  # each of its addresses one this machine lacks
            raise _refusal(host, port, skipped)
    except BaseException:
        for sock in listeners:
            sock.close()
        raise
    return listeners


def _reuses_addresses() -> bool:
    """Whether to set SO_REUSEADDR, where asyncio's server sets it: on POSIX, where it lets a port whose connections are
    in TIME_WAIT be bound again. Not on Windows, where it lets a socket bind a port another listens on."""
    return sys.platform not in ("win32", "cygwin")


def _refusal(host: str, port: int, exc: OSError) -> ConfigError:
    fix = _bind_fix(exc.errno, host, port)
    return ConfigError(f"cannot listen on {host_and_port(host, port)}: {exc.strerror}; {fix}")


def host_and_port(host: str, port: int) -> str:
    """``host`` on ``port`` as a URL writes them: an IPv6 address in brackets, once whether or not ``--host`` had
    them."""
    name = host.strip("[]")
    return f"[{name}]:{port}" if ":" in name else f"{name}:{port}"


def _link_local(host: str) -> bool:
    """Whether ``host`` is an IPv6 link-local address with no interface (``%eth0``) named, which no bind takes."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return address.is_link_local and address.version == 6 and not getattr(address, "scope_id", None)


def _bind_fix(code: int | None, host: str, port: int) -> str:
    if code == errno.EADDRNOTAVAIL:
        return (
            "it is not an address of this machine: give one of its own with --host (127.0.0.1 for this machine "
            "only, 0.0.0.0 for every address)"
        )
    if code == errno.EAFNOSUPPORT:
        return (
            "this machine has no IPv6 (or no IPv4): give an address of the other family with --host (--host "
            "127.0.0.1 for this machine only, 0.0.0.0 for every address)"
        )
    if code == errno.EINVAL and _link_local(host):
        name = host.strip("[]")
        return (
            "a link-local IPv6 address is an address of one interface, which --host must name after a %: "
            f"--host {name}%eth0 (the interface `ip -6 addr` lists it under)"
        )
    if code == errno.EACCES and 0 < port < 1024:
        return "ports below 1024 need privileges: choose a --port from 1024 up (the default is 8765)"
    return "choose another --port (0: a free one the system chooses), or stop the process that listens there"
