"""How ``magsag-mcp --transport http`` binds its listening sockets (listeners.bind_listeners), against what uvicorn did
when it bound them itself (asyncio's ``create_server``): a port in TIME_WAIT is bound again at once (SO_REUSEADDR), an
address family the system lacks is left out while another binds, a port the system chose for a name's first address
that its other address has taken is given up for another, and no socket is left open on any refusal."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from magsag_mcp.errors import ConfigError
from magsag_mcp.mcp_server import listeners
from magsag_mcp.mcp_server.listeners import bind_listeners
from tests.mcp_http_helpers import has_ipv6_loopback
from tests.shutdown_helpers import until_serving

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
#: /proc/net/tcp's state of a connection in TIME_WAIT
TIME_WAIT = "06"


def _resolving_to(monkeypatch: pytest.MonkeyPatch, *addresses: tuple[int, tuple]) -> None:
    """``--host`` resolving to ``addresses`` (family, socket address), as a name with several does."""

    def getaddrinfo(*_: object, **__: object) -> list[tuple]:
        return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address) for family, address in addresses]

    monkeypatch.setattr(listeners.socket, "getaddrinfo", getaddrinfo)


def _open_sockets() -> set[str]:
    """This process's socket descriptors (a descriptor another thread closes meanwhile left out; none counted where
    there is no /proc, as on macOS)."""
    found: set[str] = set()
    for fd in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else ():
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            found.add(f"{fd} {target}")
    return found


def _closed(bound: list[socket.socket]) -> None:
    for sock in bound:
        sock.close()


# -- a restart on the same port, with the last connection in TIME_WAIT ------------------------------------------


def _start(tmp: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAGSAG_", "OPENAI_", "ANTHROPIC_", "GEMINI_"))}
    env.update(MAGSAG_PROVIDER="fake", MAGSAG_DB=str(tmp / "ledger.db"))
    argv = [sys.executable, "-m", "magsag_mcp", "--transport", "http", "--catalog", str(CATALOG), "--port", str(port)]
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.communicate(timeout=60)  # a hang guard


def _in_time_wait(port: int) -> bool:
    """Whether a connection to or from loopback ``port`` is in TIME_WAIT (the side that closed first holds it)."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return any(row.split()[1] == f"0100007F:{port:04X}" and row.split()[3] == TIME_WAIT for row in rows)


def _served_and_closed_by_the_server(port: int) -> None:
    """One request with ``Connection: close``, so the server closes first and its side of the connection (on the
    listening port) is left in TIME_WAIT."""
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := client.recv(65536):  # to the server's close
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 404"), answer[:200]


@pytest.mark.anyio
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs /proc/net/tcp to see TIME_WAIT")
async def test_a_server_stopped_and_started_at_once_on_the_same_port_binds_it_again(tmp_path: Path):
    # uvicorn bound with SO_REUSEADDR, so a restart (a process manager's, or an operator's) found its port again while
    # the connections the last server closed were in TIME_WAIT; without it the new server is refused "Address already
    # in use" for a minute or more, where nothing listens.
    first = _start(tmp_path, 0)
    try:
        url, _ = await until_serving(first)
        port = urlsplit(url).port
        assert port
        _served_and_closed_by_the_server(port)
    finally:
        _stop(first)
    assert _in_time_wait(port), "the test needs the server's side of its last connection in TIME_WAIT"
    second = _start(tmp_path, port)
    try:
        url, said = await until_serving(second)
        assert urlsplit(url).port == port, said
        _served_and_closed_by_the_server(port)
    finally:
        _stop(second)


# -- port 0 on a name of several addresses ------------------------------------------------------------------------


class Blockers(list):  # type: ignore[type-arg]
    """The sockets that took the ports (``tries``: how many of the server's binds found their port taken)."""

    tries = 0


def _taken_as_bound(monkeypatch: pytest.MonkeyPatch, address: str, times: int) -> Blockers:
    """Another process takes ``address`` on the port the server is about to bind it to, the first ``times`` times
    (a real socket listening there, so the server's bind is refused by the system, EADDRINUSE)."""
    real_socket = socket.socket
    blockers = Blockers()

    class Raced(real_socket):
        def bind(self, where: tuple) -> None:  # type: ignore[override]
            if where[0] == address and blockers.tries < times:
                blockers.tries += 1
                # the system may choose a port again once the server gave it up: a blocker of an earlier try then
                # holds it already (counted as one blocker, where the test meant one a try)
                if all(blocker.getsockname() != where for blocker in blockers):
                    blocker = real_socket(self.family, socket.SOCK_STREAM)
                    blocker.bind(where)
                    blocker.listen()
                    blockers.append(blocker)
            super().bind(where)

    monkeypatch.setattr(socket, "socket", Raced)
    return blockers


def test_port_0_gives_up_a_port_another_address_of_the_name_has_taken_for_another(monkeypatch: pytest.MonkeyPatch):
    # The system chooses a port free on the name's first address; on its second another process may hold that port
    # already. Before: "cannot listen on mybox:0: Address already in use; choose another --port (0: a free one the
    # system chooses)", to a user who gave 0, now and then, as which port came up decided.
    _resolving_to(monkeypatch, (socket.AF_INET, ("127.0.0.1", 0)), (socket.AF_INET, ("127.0.0.2", 0)))
    blockers = _taken_as_bound(monkeypatch, "127.0.0.2", times=2)
    before = _open_sockets()
    try:
        bound = bind_listeners("mybox", 0)
        try:
            ports = {sock.getsockname()[1] for sock in bound}
            assert [sock.getsockname()[0] for sock in bound] == ["127.0.0.1", "127.0.0.2"] and len(ports) == 1
            assert ports.isdisjoint(blocker.getsockname()[1] for blocker in blockers)  # the ports taken given up
        finally:
            _closed(bound)
    finally:
        _closed(blockers)
    assert blockers.tries == 2 and _open_sockets() == before  # the sockets of the ports given up closed


def test_port_0_says_the_port_taken_when_every_port_chosen_is_taken_on_another_address(monkeypatch: pytest.MonkeyPatch):
    _resolving_to(monkeypatch, (socket.AF_INET, ("127.0.0.1", 0)), (socket.AF_INET, ("127.0.0.2", 0)))
    blockers = _taken_as_bound(monkeypatch, "127.0.0.2", times=listeners.PORT_0_TRIES)
    before = _open_sockets()
    try:
        with pytest.raises(ConfigError, match=r"cannot listen on mybox:0: .*choose another --port"):
            bind_listeners("mybox", 0)
    finally:
        _closed(blockers)
    assert blockers.tries == listeners.PORT_0_TRIES and _open_sockets() == before


def test_a_fixed_port_taken_on_a_names_second_address_is_refused_not_tried_again(monkeypatch: pytest.MonkeyPatch):
    # only a port the system chose is given up: the port the user gave is the one wanted
    _resolving_to(monkeypatch, (socket.AF_INET, ("127.0.0.1", 0)), (socket.AF_INET, ("127.0.0.2", 0)))
    with socket.socket() as probe:  # a port free on both, given as --port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _resolving_to(monkeypatch, (socket.AF_INET, ("127.0.0.1", port)), (socket.AF_INET, ("127.0.0.2", port)))
    blockers = _taken_as_bound(monkeypatch, "127.0.0.2", times=1)
    before = _open_sockets()
    try:
        with pytest.raises(ConfigError, match=f"cannot listen on mybox:{port}: .*choose another --port"):
            bind_listeners("mybox", port)
    finally:
        _closed(blockers)
    assert len(blockers) == 1 and _open_sockets() == before


# -- an address family the system lacks ---------------------------------------------------------------------------


def _no_ipv6(monkeypatch: pytest.MonkeyPatch) -> None:
    """A system with IPv6 off (Linux's ipv6.disable=1): an IPv6 socket is refused EAFNOSUPPORT, while /etc/hosts
    still names ::1 as localhost."""
    real_socket = socket.socket

    def sockets(family: int = socket.AF_INET, *args: object, **kwargs: object) -> socket.socket:
        if family == socket.AF_INET6:
            raise OSError(errno.EAFNOSUPPORT, os.strerror(errno.EAFNOSUPPORT))
        return real_socket(family, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "socket", sockets)


def test_a_name_s_ipv6_address_on_a_system_without_ipv6_is_left_out_while_ipv4_binds(monkeypatch: pytest.MonkeyPatch):
    # asyncio's server (uvicorn's before) skips an address whose family the system cannot open a socket of. Before:
    # `--host localhost` there ended in a traceback (OSError: Address family not supported by protocol).
    _resolving_to(monkeypatch, (socket.AF_INET6, ("::1", 0, 0, 0)), (socket.AF_INET, ("127.0.0.1", 0)))
    _no_ipv6(monkeypatch)
    bound = bind_listeners("localhost", 0)
    try:
        assert [(sock.family, sock.getsockname()[0]) for sock in bound] == [(socket.AF_INET, "127.0.0.1")]
    finally:
        _closed(bound)


def test_an_ipv6_host_on_a_system_without_ipv6_is_refused_saying_so(monkeypatch: pytest.MonkeyPatch):
    _resolving_to(monkeypatch, (socket.AF_INET6, ("::1", 0, 0, 0)))
    _no_ipv6(monkeypatch)
    with pytest.raises(ConfigError) as caught:
        bind_listeners("::1", 8765)
    message = caught.value.message
    assert message.startswith("cannot listen on [::1]:8765: Address family not supported by protocol; "), message
    assert "no IPv6" in message and "--host 127.0.0.1" in message
    assert "choose another --port" not in message  # no port would do


# -- a refusal as the socket starts listening ---------------------------------------------------------------------


def test_a_port_refused_as_it_starts_listening_is_refused_with_the_fix_and_no_socket_left(
    monkeypatch: pytest.MonkeyPatch,
):
    # Linux binds two SO_REUSEADDR sockets to one port while neither listens, and refuses the second's listen():
    # the port in use is said there. Before: a traceback (OSError from listen, past the refusals' handler).
    real_socket = socket.socket

    class Refused(real_socket):
        def listen(self, *_: object) -> None:  # type: ignore[override]
            raise OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE))

    monkeypatch.setattr(socket, "socket", Refused)
    before = _open_sockets()
    with pytest.raises(ConfigError, match=r"cannot listen on 127.0.0.1:8765: Address already in use; choose another"):
        bind_listeners("127.0.0.1", 8765)
    assert _open_sockets() == before


# -- no socket left when the start fails after the bind ---------------------------------------------------------

#: main() run in a process of its own (it sets up the root logger), the sockets it leaves open counted after; one it
#: left unclosed is closed as main's frame goes, saying ResourceWarning (made an error, said on stderr)
_MAIN_COUNTING_FDS = """
import contextlib, gc, os, sys, warnings
warnings.simplefilter("error", ResourceWarning)
from magsag_mcp.mcp_server.__main__ import main
if sys.argv[1] == "lifespan":
    from mcp.server import streamable_http_manager

    @contextlib.asynccontextmanager
    async def run(self):
        raise RuntimeError("the session manager did not start")
        yield

    streamable_http_manager.StreamableHTTPSessionManager.run = run
before = set(os.listdir("/proc/self/fd"))
try:
    status = main(["--transport", "http", "--port", "0", "--catalog", sys.argv[2]])
except SystemExit as exc:
    status = exc.code
gc.collect()
def named(fd):
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except FileNotFoundError:  # closed since it was listed: a module file a worker thread imports from (the price
        return ""  # data's load, started by the service's open, can still run), not a socket left open
left = [named(fd) for fd in set(os.listdir("/proc/self/fd")) - before]
left = [name for name in left if name.startswith("socket:")]
print(f"status={status} left={left}", file=sys.stderr)
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc/self/fd")
@pytest.mark.parametrize(
    "failure, status",
    [("ledger", 2), ("lifespan", 3)],  # a service that cannot open (refused, 2); an app whose start fails (uvicorn's 3)
)
def test_a_start_that_fails_after_the_bind_leaves_no_socket_open(tmp_path: Path, failure: str, status: int):
    # The sockets are bound before the service opens and before uvicorn starts the app: each way the start then ends
    # closes them (main's finally), where uvicorn, binding after the app's start, had none open to close.
    (tmp_path / "dir.db").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAGSAG_", "OPENAI_", "ANTHROPIC_", "GEMINI_"))}
    env.update(MAGSAG_PROVIDER="fake", MAGSAG_DB=str(tmp_path / ("dir.db" if failure == "ledger" else "ledger.db")))
    run = subprocess.run(
        [sys.executable, "-c", _MAIN_COUNTING_FDS, failure, str(CATALOG)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,  # a hang guard
    )
    assert "magsag-mcp starting on http://127.0.0.1:" in run.stderr  # bound, then failed
    assert f"status={status} left=[]" in run.stderr, run.stderr
    assert "ResourceWarning" not in run.stderr


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6")
def test_a_link_local_ipv6_host_without_its_interface_is_refused_saying_to_give_it():
    # The system refuses a link-local address (fe80::/10) with no interface named, EINVAL. Before: "Invalid
    # argument; choose another --port (0: a free one the system chooses), or stop the process that listens there",
    # when no port would do and nothing listens.
    with pytest.raises(ConfigError) as caught:
        bind_listeners("fe80::1", 0)
    message = caught.value.message
    assert message.startswith("cannot listen on [fe80::1]:0: "), message
    assert "link-local" in message and "--host fe80::1%eth0" in message
    assert "choose another --port" not in message


@pytest.mark.parametrize("platform, reused", [("linux", 1), ("darwin", 1), ("win32", 0), ("cygwin", 0)])
def test_so_reuseaddr_is_set_where_asyncio_sets_it(monkeypatch: pytest.MonkeyPatch, platform: str, reused: int):
    # On POSIX, SO_REUSEADDR lets a restart bind a port whose connections are in TIME_WAIT. On Windows it lets a
    # second socket bind a port another listens on (the port shared, or taken over): asyncio's server (uvicorn's,
    # before) leaves it off there, and a second magsag-mcp on port 8765 is refused "in use", not started beside the
    # first. Before: set on every platform.
    monkeypatch.setattr(listeners.sys, "platform", platform)
    bound = bind_listeners("127.0.0.1", 0)
    try:
        assert bool(bound[0].getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)) == bool(reused)
    finally:
        _closed(bound)


def test_the_url_of_a_link_local_host_writes_its_interface_as_a_url_does():
    # RFC 6874: in a URL the zone's "%" is "%25". Before: http://[fe80::1%eth0]:8765/mcp, a "%" starting no
    # percent-escape, which a client parsing the URL strictly refuses.
    from magsag_mcp.mcp_server.http import served_url

    url = served_url("fe80::1%eth0", 8765)
    assert url == "http://[fe80::1%25eth0]:8765/mcp"
    assert served_url("[fe80::1%eth0]", 8765) == url
    assert served_url("::1", 8765) == "http://[::1]:8765/mcp"
    assert served_url("127.0.0.1", 8765, "") == "http://127.0.0.1:8765"
    import yarl  # aiohttp's URL: the zone read back as the address's

    assert yarl.URL(url).host == "fe80::1%eth0"
