"""The server's one :class:`~magsag_mcp.service.Service`, opened on first use and closed with the server.

The service is opened lazily rather than when the server starts: opening imports the HTTP client and the
ledger driver, reads the catalog and starts loading the price tables (in a thread of its own: see :mod:`..price_data`),
and a desktop client waits for the ``initialize`` answer while that happens. ``tools/list`` and ``resources/list``
need none of it.
(Over HTTP nothing waits on the start, and :func:`.http.serve_http` opens it before serving.)
"""

from __future__ import annotations

import asyncio
import contextvars
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio

from .. import price_data
from ..errors import CatalogError, ConfigError, redacting_logger
from .progress import ClientLog

if TYPE_CHECKING:
    from ..service import Service

logger = redacting_logger("magsag_mcp.mcp")

#: the agent the token of the HTTP request a tool call serves is pinned to (MAGSAG_MCP_TOKENS_FILE, see .bearer), set
#: for the call by MagsagServer.call_tool; None: no such token (the one token, stdio, in memory)
client_agent: contextvars.ContextVar[str | None] = contextvars.ContextVar("magsag_client_agent", default=None)


def read_again(catalog: Any, env: Mapping[str, str] | None) -> str:
    """What a catalog the service could not open is told: the next call reads it again (see ServerState.service),
    and the command that lists its problems, naming the folder."""
    import shlex

    from ..catalog import find_catalog

    try:
        folder = shlex.quote(str(find_catalog(catalog, env)))
    except (ConfigError, TypeError):  # (a catalog given as an object: no folder to name)
        folder = "DIR"
    return (
        "Fix the catalog and call again: this server reads it again at its next call, with no restart "
        f"(`magsag catalog validate --catalog {folder}` lists every problem)"
    )


class ServerState:
    """What the tools and resources share: the service (once open) and the client's log level."""

    def __init__(
        self,
        *,
        catalog: str | os.PathLike[str] | Any | None = None,
        db: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        transport: Any | None = None,
        agent: str | None = None,
    ) -> None:
        self.catalog = catalog
        #: the agent every call is recorded under (``magsag-mcp --agent``): its limits then bind this server's
        #: client, which cannot leave them by naming no agent or another one
        self.agent = agent or None
        self.db = db
        self.env = None if env is None else dict(env)
        self.transport = transport
        #: set when served over HTTP (see .http.http_app): calls then come from other machines, and the
        #: service lets their base URLs name only the operator's endpoints (see magsag_mcp.call_urls)
        self.network_callers = False
        #: set when served over HTTP with a token per client (MAGSAG_MCP_TOKENS_FILE, see .http.http_app): every tool
        #: call then carries its client's agent, and one that does not is refused (see MagsagServer.call_tool)
        self.client_tokens = False
        #: set when served on stdio (see .stdio.serve_stdio): where a missing key is to be set, as its fix says it
        self.settings_home: str | None = None
        self.client_log = ClientLog()
        #: set by ``magsag-mcp`` once it has warned of the unread MAGSAG_* variables as it started: not again at open
        self.variables_said = False
        self._service: Service | None = None
        #: the open begun by :meth:`opening` (a readiness probe's), until it ends
        self._opening: asyncio.Task[Service] | None = None
        #: services a close has taken and not finished closing: a second close waits for them too
        self._closing: list[Service] = []
        self._lock = anyio.Lock()
        self._users = 0
        #: set by close (a signal, the last lifespan out), cleared when a lifespan begins again
        self._closed = False

    @property
    def call_agent(self) -> str | None:
        """The agent the call under way is held to: its client token's (see :data:`client_agent`), else the server's
        (``--agent``), else none."""
        return client_agent.get() or self.agent

    @property
    def reads_own_agent_only(self) -> bool:
        """The call under way came with a client's token: its ledger reads see its agent's records alone (one
        team's client does not read another's prompts, errors and spend; see docs/mcp.md)."""
        return client_agent.get() is not None

    async def service(self) -> Service:
        """The open service; the first caller opens it. A failure (say a bad catalog) is raised to
        each caller as the :class:`~magsag_mcp.errors.ConfigError` it is, and the next call tries again."""
        if self._service is not None:
            return self._service
        async with self._lock:
            if self._service is None:
                from ..service import Service

                # Not while closing: a call on a new service would be sent, then cut by the exit unrecorded.
                self._refuse_if_closed()
                try:
                    service = await Service.open(
                        catalog=self.catalog,
                        db=self.db,
                        env=self.env,
                        transport=self.transport,
                        network_callers=self.network_callers,
                        settings_home=self.settings_home,
                    )
                except CatalogError as exc:
                    # the user of a desktop client, told of a file to fix, did not know whether the server its client
                    # started had to be restarted (a client's own restart, or its whole app's) to see the fix. (Over
                    # HTTP the service opens as the server starts, and a bad catalog stops it: no call comes.)
                    if self.network_callers:
                        raise
                    said = f"{exc.message}\n{read_again(self.catalog, self.env)}"
                    raise CatalogError(said, problems=exc.problems, **exc.details) from None
                if self._closed:  # closed while it opened
                    with anyio.CancelScope(shield=True):
                        await service.aclose()
                    self._refuse_if_closed()
                self._service = service
                from ..ledger.connection import relative_ledger_note, where_ledger_is

                path = service.ledger.path
                logger.info("service open: catalog %s, ledger %s", service.catalog.root, where_ledger_is(path))
                relative = relative_ledger_note(path, service.env)
                if relative is not None:  # this server's folder is its client's choice
                    logger.warning("%s", relative)
                from ..settings import unread_variable_warnings

                # a client's configuration is where its env is written: a misspelt or unknown setting there changes
                # nothing (one the catalog's ${VAR} names is read)
                for unread in (
                    [] if self.variables_said else unread_variable_warnings(service.env, lambda: service.catalog.root)
                ):
                    logger.warning("%s", unread)
        return self._service

    @property
    def opened(self) -> Service | None:
        """The open service, or None while none is (not yet opened, opening, failed to open, closed)."""
        return self._service

    def opening(self) -> asyncio.Future[Service]:
        """The service's open (see :meth:`service`) as a task of its own, begun now unless one is under way, for a
        readiness probe to wait on for a bounded time: awaited in the probe itself, a probe arriving while the open
        waited (a hung volume, a first call's open holding the lock) waited with it without bound, holding its
        connection after the prober gave up, and cutting the probe short would have cut the open. A failure is the
        task's result, read here so that a task no probe waited for to the end does not log it as unretrieved."""
        if self._opening is None or self._opening.done():  # (a failed open's: its callback has yet to run)
            task = asyncio.ensure_future(self.service())
            self._opening = task

            def ended(done: asyncio.Task[Service]) -> None:
                if self._opening is done:
                    self._opening = None
                if not done.cancelled():
                    done.exception()

            task.add_done_callback(ended)
        return self._opening

    async def pricing_service(self) -> Service:
        """The open service (see :meth:`service`), for a request that prices (a route's explanation, the prices
        resource): once genai-prices' data, loading in a thread of its own from the open on, is loaded (see
        :mod:`..price_data`), the loop left to the other requests meanwhile. Looked up on the loop under way, it held
        the loop until the worker's load was done."""
        service = await self.service()
        if price_data.under_way:
            await price_data.loaded()
        return service

    @asynccontextmanager
    async def running(self) -> AsyncIterator[ServerState]:
        """Held by each lifespan (one per stdio connection, one per HTTP app); the last one out closes."""
        if self._users == 0:
            self._closed = False
        self._users += 1
        try:
            yield self
        finally:
            self._users -= 1
            if self._users == 0:
                await self.close()

    @property
    def closing(self) -> bool:
        """A close has begun (SIGTERM, the last lifespan out): no new call is taken (a readiness probe says so)."""
        return self._closed

    def _refuse_if_closed(self) -> None:
        if self._closed:
            raise ConfigError("the server is shutting down: the call was not sent; send it to a running server")

    async def close(self) -> None:
        """Close the service: its calls in flight are cancelled and recorded first. A close while another
        is under way (stdio: the client closed stdin, then sent SIGTERM, whose handler closes and exits)
        returns only once that one is done, or the process exited before the calls were recorded."""
        self._closed = True
        service, self._service = self._service, None
        if service is not None:
            self._closing.append(service)
        with anyio.CancelScope(shield=True):
            for closing in list(self._closing):
                await closing.aclose()  # a second aclose waits for the first's
                if closing in self._closing:
                    self._closing.remove(closing)
