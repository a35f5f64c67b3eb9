"""Streamable HTTP: the SDK's app behind DNS-rebinding protection and an optional bearer token.

- Host/Origin are checked by the SDK's transport security (``TransportSecuritySettings``): the
  allowed hosts are the bound ``host:port`` plus its loopback names, so a page on another site
  that rebinds its DNS name to 127.0.0.1 gets ``421`` (bad Host) or ``403`` (bad Origin), with a JSON-RPC
  error naming the ``--allow-host`` that admits it.
- ``MAGSAG_MCP_TOKEN``: when set, every request needs ``Authorization: Bearer <token>`` (compared
  in constant time), else ``401``. Binding to anything but loopback without a token is refused:
  the tools spend money on the operator's keys. ``MAGSAG_MCP_TOKENS_FILE`` gives each client a token of its own,
  pinned to an agent (:mod:`.client_tokens`, :mod:`.bearer`).
- A request body past 4 MiB (the SDK's limit) gets ``413`` with a JSON-RPC error that names the limit.
- ``/metrics`` is this process's calls in the Prometheus text format, behind a token of its own or the server's
  (:mod:`.metrics_endpoint`, which says who may read it).
- ``/healthz`` and ``/readyz`` are health probes for a container or a load balancer (:mod:`.health`, which says why
  they are answered without the token and whatever the Host).
- A request whose HTTP headers name a trace (W3C ``traceparent``, ``tracestate``) and whose ``_meta`` names none joins
  it (:mod:`.trace_headers`).
- A JSON-RPC batch (a JSON array body), which MCP no longer takes, gets ``400`` with an error for each of its requests,
  under its id, saying to send each on its own, as stdio answers it (:mod:`.batches`).
- A request to another path than the MCP one (``/mcp``), a probe's or ``/metrics`` gets ``404`` with a JSON-RPC error
  naming the URL to use. (These refusals' JSON-RPC errors, the 421/403/413's too, are :mod:`.refusals`'.)
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import signal
import socket
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp

from ..errors import ConfigError, redacting_logger, register_secret
from ..signals import server_stop_signals
from .batches import BatchRefusal
from .bearer import BearerTokenMiddleware as BearerTokenMiddleware  # (its home before bearer.py: tests import it here)
from .client_tokens import NEW_TOKEN as NEW_TOKEN  # (the command a refusal says makes a token)
from .client_tokens import ClientToken, check_client_tokens
from .health import QUIET_PROBES, HealthMiddleware
from .listeners import host_and_port
from .metrics_endpoint import MetricsMiddleware, MetricsSetting, check_metrics_token
from .refusals import MAX_REQUEST_BODY, RefusalHintMiddleware
from .server_settings import MCP_PATH, host_authority
from .token_reload import TokenFile, Tokens, reloaded_token_files
from .trace_headers import join_header_traces

logger = redacting_logger("magsag_mcp.mcp")
#: the logger uvicorn says its start in
uvicorn_logger = logging.getLogger("uvicorn.error")

TOKEN_ENV = "MAGSAG_MCP_TOKEN"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
#: the ports clients leave out of Host and Origin (http's and https's)
DEFAULT_PORTS = ("80", "443")
#: how long a stopping HTTP server waits for open connections once the calls in flight are recorded
GRACEFUL_SHUTDOWN_SECONDS = 5


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def security_settings(
    host: str,
    port: int,
    extra_hosts: Iterable[str] = (),
    *,
    host_option: str = "--host",
    allow_option: str = "--allow-host",
) -> TransportSecuritySettings:
    """Host/Origin allow-lists: the bound address, the loopback names, and the hosts the operator
    adds with ``--allow-host`` (a name without a port means that name on this port). ``host_option`` and
    ``allow_option``: what a refusal names as having given them (their variables, where they set them)."""
    hosts: list[str] = []
    loopback = [(name, "--allow-host") for name in LOOPBACK_NAMES]
    named = [(host, host_option), *loopback, *((name, allow_option) for name in extra_hosts)]
    for name, option in named:
        value = host_authority(name, port, option)
        if value not in hosts:
            hosts.append(value)
    # Clients leave the scheme's default port out of Host and Origin: `--allow-host mybox.lan:443` for a
    # TLS proxy in front is reached as Host `mybox.lan`, Origin `https://mybox.lan`.
    for h in list(hosts):
        name, _, p = h.rpartition(":")
        if p in DEFAULT_PORTS and name not in hosts:
            hosts.append(name)
    origins = [f"{scheme}://{h}" for h in hosts for scheme in ("http", "https")]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


def warn_if_unreachable(host: str, port: int, allow_hosts: Sequence[str]) -> None:
    """Bound to every address with no ``--allow-host``, only clients on this machine are answered: a client
    elsewhere reaches it by a name or address that is not on the Host allow-list, and gets 421."""
    if host.strip("[]") in ("0.0.0.0", "::") and not allow_hosts:
        logger.warning(
            "listening on every address of this machine (--host %s), but clients on other machines are refused "
            "(421 Invalid Host header) until the name or address they use is given with --allow-host, e.g. "
            "--allow-host mybox.lan or --allow-host 192.0.2.10:%d",
            host,
            port,
        )


def warn_if_callers_choose_servers(configured_only: bool) -> None:
    """The operator opted in to calls naming any server for a keyless provider: say what that opens, once,
    at the start (it is the setting a security review looks for)."""
    if not configured_only:
        logger.warning(
            "calls may name any base_url for a provider with no key (--call-base-urls any, or "
            "MAGSAG_CALL_BASE_URLS=any): whoever can call this server can make it send requests to any host it "
            "reaches (its loopback, its network, a cloud metadata address); leave the setting unset to allow only "
            "the endpoints configured"
        )


#: the shortest token accepted when the server listens beyond loopback
MIN_TOKEN_LENGTH = 16


def check_binding(host: str, token: str | None, setting: str = TOKEN_ENV) -> None:
    """Refuse to serve beyond loopback without a token: anyone who can reach the port could spend. ``setting``: where
    the token was set, as a refusal names it (:mod:`.token_setting`'s file, or the variable)."""
    if token is not None and (not token.strip() or token != token.strip()):
        # A client cannot send surrounding whitespace in a bearer token: every request would get 401.
        raise ConfigError(
            f"{setting} is blank or has spaces or line breaks around it; set it to a long random secret "
            f"such as the output of: {NEW_TOKEN}"
        )
    if token is not None and any(not " " <= c <= "~" for c in token):
        # HTTP headers carry ASCII: a client sends any other character as bytes that never match it.
        raise ConfigError(
            f"{setting} has characters other than printable ASCII, which no client can send in a header "
            f"(every request would get 401); set it to the output of {NEW_TOKEN}"
        )
    if not is_loopback(host) and token is not None and len(token) < MIN_TOKEN_LENGTH:
        # Beyond loopback the token is the only thing between the network and the budget: a short
        # one is guessed, and one under 6 characters is not even redacted (too common to remove).
        raise ConfigError(
            f"{setting} is {len(token)} characters; to listen on {host} it must be at least "
            f"{MIN_TOKEN_LENGTH}: set it to the output of {NEW_TOKEN}"
        )
    if not is_loopback(host) and not token:
        raise ConfigError(
            f"refusing to listen on {host}: that is reachable beyond this machine and {TOKEN_ENV} is not set. "
            f"Set {TOKEN_ENV} (or MAGSAG_MCP_TOKEN_FILE, a file holding it) to a long random secret (clients send "
            "'Authorization: Bearer <it>'), or MAGSAG_MCP_TOKENS_FILE to a file of AGENT TOKEN lines (a token per "
            "client), "
            "or bind to 127.0.0.1."
        )


def check_gate(
    host: str, token: str | None, clients: Sequence[ClientToken], pinned: str | None, setting: str = TOKEN_ENV
) -> None:
    """The one token (:func:`check_binding`), or a token per client each at least as long beyond loopback, and then
    neither a shared token nor ``--agent`` (``pinned``) beside them: either would let a client out of its agent (the
    shared token names any, ``--agent`` overrides the file's)."""
    if not clients:
        check_binding(host, token, setting)
        return
    if token or pinned:
        which = "a shared token" if token else f"one agent for every call (--agent {pinned!r}, or MAGSAG_MCP_AGENT)"
        raise ConfigError(
            f"a token per client (MAGSAG_MCP_TOKENS_FILE) and {which} were both given; the file's lines say each "
            "client's agent: leave the other out"
        )
    check_client_tokens(host, clients)


def served_url(host: str, port: int, path: str = MCP_PATH) -> str:
    """The URL a server bound to ``host`` on ``port`` serves MCP at, as the start-up line says it.

    An IPv6 address's interface (``fe80::1%eth0``) is written ``%25eth0`` in a URL (RFC 6874), as a ``%`` in a
    URL starts a percent-escape: the form curl and aiohttp (yarl) take; a bare ``%eth0`` is left to each
    client's leniency."""
    return f"http://{host_and_port(host.replace('%', '%25'), port)}{path}"


def said_at_start(log: logging.Logger, port_chosen: bool, message: str, *args: object) -> None:
    """A start-up line at INFO; with a port the system chose (``--port 0``) whatever the log level, as it is the one
    place that port is said: a server started with --port 0 and MAGSAG_MCP_LOG_LEVEL=WARNING served on a port no one
    could learn, and a script reading the URL from it (docs/mcp.md's way) waited for ever."""
    if log.isEnabledFor(logging.INFO) or not port_chosen:
        log.info(message, *args)
    else:  # past the level only: through the logger's filters (redaction) and handlers as any record
        log.handle(log.makeRecord(log.name, logging.INFO, __file__, 0, message, args, None))


def http_app(
    server: MCPServer[Any],
    *,
    host: str,
    port: int,
    token: str | None,
    allow_hosts: Sequence[str] = (),
    path: str = MCP_PATH,
    clients: Sequence[ClientToken] = (),
    metrics: MetricsSetting | None = None,
    token_file: TokenFile | None = None,
) -> ASGIApp:
    """The ASGI app: the SDK's streamable HTTP app, its Host/Origin checks, the token gate, and ahead of them the
    health probes and ``/metrics`` (its own gate: :mod:`.metrics_endpoint`; ``metrics``: its setting, by default on).
    The server's service is told its calls come over a network: their base URLs may name only the operator's
    endpoints. ``clients``: a token each, pinned to its agent, in place of the one ``token``. ``token_file``: the file
    they were read from, re-read as it changes (:mod:`.token_reload`), as the scrape token's file (``metrics``'); the
    health probes warn of either refused or gone."""
    from .. import metrics as process_metrics
    from .server import server_state

    metrics = metrics or MetricsSetting()
    pinned = server_state(server).agent
    check_gate(host, token, clients, pinned)
    check_metrics_token(host, metrics, token, [client.token for client in clients])
    tokens = Tokens(token, tuple(clients))
    reloaded, scrape_reloaded = reloaded_token_files(token_file, tokens, host, pinned, metrics)
    for secret in (token, metrics.token, *(client.token for client in clients)):
        register_secret(secret)
    server_state(server).network_callers = True
    # (before the tools are made: their agent argument then says each client is held to its token's agent)
    server_state(server).client_tokens = bool(clients)
    if clients and "_tools" in vars(server._tool_manager):  # made already (asked for before the app was built)
        from .tool_schemas import pin_agent_arguments

        pin_agent_arguments(None, server._tool_manager.list_tools(), per_client=True)
    security = security_settings(host, port, allow_hosts)
    join_header_traces(server)
    app: ASGIApp = server.streamable_http_app(
        streamable_http_path=path,
        transport_security=security,
        host=host,
        max_request_body_size=MAX_REQUEST_BODY,
    )
    app = RefusalHintMiddleware(BatchRefusal(app, path), path)
    if token or clients:
        app = BearerTokenMiddleware(app, token, clients, reloaded)
    else:
        from .unchecked_token import UncheckedTokenNote

        app = UncheckedTokenNote(app)  # (a token sent to a server that checks none: served, and said once)
    if metrics.enabled:
        process_metrics.METRICS.agent_labels = metrics.agent_labels
        process_metrics.METRICS.start()  # (a process counts only once its figures will be read: see metrics.py)
        app = MetricsMiddleware(
            app,
            metrics,
            token=token,
            per_client=bool(clients),
            security=security,
            reloaded=reloaded,
            scrape_reloaded=scrape_reloaded,
        )
    token_files = tuple(filter(None, (reloaded, scrape_reloaded)))
    return HealthMiddleware(app, server_state(server), token_files)


async def serve_http(
    server: MCPServer[Any],
    *,
    host: str,
    listeners: Sequence[socket.socket],
    token: str | None,
    allow_hosts: Sequence[str] = (),
    log_level: str = "info",
    clients: Sequence[ClientToken] = (),
    metrics: MetricsSetting | None = None,
    token_file: TokenFile | None = None,
) -> int | None:
    """Serve on ``listeners`` (:func:`.listeners.bind_listeners`'s, bound to ``host``; the caller closes them). The
    port is theirs: with ``--port 0`` the one the system chose, which the Host allow-list must hold. Returns the
    signal that stopped it (its calls in flight recorded by then), for the process to end by; None: none did."""
    import uvicorn
    import uvicorn.server

    from .server import server_state

    port = listeners[0].getsockname()[1]
    app = http_app(
        server,
        host=host,
        port=port,
        token=token,
        allow_hosts=allow_hosts,
        clients=clients,
        metrics=metrics,
        token_file=token_file,
    )
    warn_if_unreachable(host, port, allow_hosts)
    logging.getLogger("uvicorn.access").addFilter(QUIET_PROBES)
    state = server_state(server)
    # Nothing waits on an HTTP server's start (a desktop client waits on stdio's initialize): the service
    # opens now, so a bad catalog, ledger or setting stops the start with its message (the caller's
    # MagsagError) rather than a server that runs and fails every call with it.
    service = await state.service()
    warn_if_callers_choose_servers(service.call_urls.configured_only)
    stopped_by: list[int] = []

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started:
                # uvicorn says this only of sockets it binds itself: the line that says the server now answers
                uvicorn_logger.info("Uvicorn running on %s (Press CTRL+C to quit)", served_url(host, port, ""))

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn's own takes SIGINT and SIGTERM and, once the server has stopped, raises the signal again with
            # its previous handler: SIGTERM's default ended the process there, before the interpreter's exit work (an
            # OpenTelemetry provider's atexit export of the spans it still held). SIGHUP (a closed terminal, a
            # supervisor's reload) kept Python's default, which ended the server on the spot, its calls in flight
            # unrecorded and their reservations held. Here each stops the server as SIGTERM does (not SIGHUP where it
            # is ignored: nohup), and serve_http returns the one that stopped it, for the caller to end by.
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            taken = dict.fromkeys((*uvicorn.server.HANDLED_SIGNALS, *server_stop_signals()))
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in taken}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

        def handle_exit(self, sig: int, frame: Any) -> None:
            if not self.should_exit:  # (uvicorn says only "Shutting down": the operator is told why, and what of calls)
                logger.info("%s: stopping; calls in flight are cancelled and recorded", signal.Signals(sig).name)
                stopped_by.append(sig)
            super().handle_exit(sig, frame)

        async def shutdown(self, sockets: Any = None) -> None:
            # uvicorn waits for every open connection to end before the app's lifespan (which closes
            # the service) ends, and a call in flight keeps its connection open for as long as it runs:
            # a stopped server went on running, and the process manager's SIGKILL then lost the call
            # (perhaps billed) with its budget reservation still held. Closing the service first cancels
            # the calls in flight, each recording what it spent, as the stdio server does on a signal.
            with anyio.CancelScope(shield=True):
                await state.close()
            await super().shutdown(sockets)

    # log_config=None: uvicorn's records go through our stderr handler (its default sends access
    # logs to stdout). The graceful timeout bounds the wait for connections that stay open with
    # nothing in flight (a client's event stream): what they carry is recorded by then.
    config = uvicorn.Config(
        app,
        host=host.strip("[]"),
        port=port,
        log_level=log_level.lower(),
        log_config=None,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    try:
        await Server(config).serve(sockets=list(listeners))
    finally:  # closed already, unless uvicorn stopped before serving (its app's start failed)
        with anyio.CancelScope(shield=True):
            await state.close()
    return stopped_by[0] if stopped_by else None
