"""Health probes for a deployed HTTP server: ``/healthz`` (liveness) and ``/readyz`` (readiness).

A Docker ``HEALTHCHECK``, a Kubernetes probe or a load balancer's health check had nothing to ask but the MCP
endpoint, which needs a POST with a JSON-RPC body, the token and a session: every other path got 404.

- ``GET /healthz``: ``200 {"status": "ok"}`` while the process serves requests. It does no ledger work and opens
  nothing: a liveness probe that fails gets the process restarted, which a slow disk must not cause (readiness says
  that). It stays 200 while the server shuts down, so a probe does not kill a process recording its calls.
- ``GET /readyz``: ``200 {"status": "ready"}`` when the service is open, its ledger can be written and answers a
  trivial read within :data:`READY_READ_SECONDS`; else ``503 {"status": "not ready", "reason": ...}``: shutting down
  (from SIGTERM until the listener closes, while the calls in flight are cancelled and recorded, so a balancer
  drains the server), the service could not open, the ledger is read-only (every call would be refused) or did not
  answer. An app served without :func:`.http.serve_http` (which opens the service before it listens) opens its
  service on the first readiness probe, as on the first call; a probe that finds it still opening once
  :data:`READY_READ_SECONDS` have passed says so (503) and leaves the open to go on, rather than wait for it. An
  answer stands for :data:`READY_ANSWER_SECONDS` (monotonic), and probes arriving while one is worked out share it:
  a probe storm is one ledger read a second. Shutting down is said at once, whatever answer stands.
- Both add ``"warnings"``, a list of what an operator should fix though the server serves, when there is any: a token
  file (``MAGSAG_MCP_TOKENS_FILE``, ``MAGSAG_MCP_TOKEN_FILE``, ``MAGSAG_MCP_METRICS_TOKEN_FILE``) whose new version was
  refused, or that cannot be found (:mod:`.token_reload`). The server keeps the tokens it had, so ``/readyz`` stays
  200: the old tokens still work. Both say what the last look at the files found. A readiness probe starts a look
  too, as a request does (at most once a second; not while shutting down, said at once), which it waits for at most
  :data:`PROBE_LOOK_SECONDS` (a healthy disk's look ends within it: the probe says what it found): on a slow mount a
  look took ~10 s (a stat and a read, each bounded), past the probe's timeout; the next probe says what it found. A
  liveness probe does not look.
- Both answer ``GET`` and ``HEAD`` (the headers alone); another method gets ``405`` with ``Allow: GET, HEAD``.
  ``Cache-Control: no-store``: a proxy between the balancer and the server must not answer for it.

They are open without the bearer token, and answered whatever the ``Host`` and ``Origin``. A probe carries no
secret (kubelet's ``httpGet`` would need the token written in the pod spec; Docker's ``HEALTHCHECK`` command is
shown by ``docker inspect``), and kubelet sends ``Host: <pod IP>:<port>``, which the DNS-rebinding check refuses
(``421``) unless the pod's address is given with ``--allow-host``, which it cannot know in advance. What the answers
say is harmless to anyone: a fixed status and reason, with no catalog path, key, token, model, agent or spend (the
details of a failure go to the server's log). A page that rebinds its name to the server learns whether it is up,
which reaching it at all told it. The MCP path keeps every check (token, Host, Origin) as it was.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Sequence
from time import monotonic
from typing import TYPE_CHECKING, Any

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import MagsagError, redacting_logger

if TYPE_CHECKING:
    from .state import ServerState
    from .token_reload import ReloadedTokens

logger = redacting_logger("magsag_mcp.mcp")

LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"
PROBE_PATHS = (LIVENESS_PATH, READINESS_PATH)
#: the paths whose 2xx answers the access log leaves out: the probes', and a scraper's every 15 s or so
QUIET_PATHS = (*PROBE_PATHS, "/metrics")
#: the longest a readiness probe waits for the service to open (see the module's docstring) and the ledger's trivial
#: read together: under kubelet's default probe timeout (1 s) the probe would time out first and see no reason, so
#: docs/mcp.md's example gives the probe 3 s
READY_READ_SECONDS = 2.0
#: how long a readiness answer stands for the probes after it: a probe storm (a dozen balancers, each probing every
#: replica every second, a monitor besides) was a ledger read per probe, load on the ledger the calls write to; it is
#: one read a second now, and the probes arriving while it is made wait for it rather than make their own
READY_ANSWER_SECONDS = 1.0
#: how long a readiness probe waits for the look at the token files it began before it says what the last look found:
#: a healthy disk's stat and read end within it, so the probe says what its own look found (a file refused or gone an
#: hour ago, in a quiet hour, was said by the probe after, a probe period late); a slow mount's (~10 s) do not
PROBE_LOOK_SECONDS = 0.5
#: distinct failure messages logged (each probe repeats its failure every few seconds: the log says each once)
_FAILURES_LOGGED_MAX = 20

SHUTTING_DOWN = "shutting down: the server is stopping and takes no new calls"
NOT_OPEN = "the service could not open (a catalog, ledger or setting problem): the server's log says which"
READ_ONLY = (
    "the ledger cannot be written (a read-only file, folder or volume, or a full disk), so every call would be "
    "refused: the server's log says where"
)
UNREADABLE = "the ledger did not answer a read: the server's log says why"
OPENING = (
    "the service is still opening (reading its catalog, opening its ledger): probe again shortly; should it stay so, "
    "the server's log says what it waits on"
)


class QuietProbes(logging.Filter):
    """Leaves out of uvicorn's access log the probes answered 2xx: kubelet's two probes every 10 s wrote some 17,000
    lines a day that said nothing, around the requests that did. A probe refused (503, 405) is still logged. So too
    a scrape of /metrics answered 2xx."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn's access record: (client, method, path with its query, HTTP version, status)
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str) and isinstance(args[4], int):
            return not (args[2].partition("?")[0] in QUIET_PATHS and 200 <= args[4] < 300)
        return True


#: the one filter serve_http puts on uvicorn's access logger (adding the same one again adds nothing)
QUIET_PROBES = QuietProbes()


def not_answering(seconds: float) -> str:
    return f"the ledger did not answer a read within {seconds:g} s (a locked, slow or unmounted disk)"


class HealthMiddleware:
    """Answers the probe paths itself, ahead of the token gate and the SDK's Host/Origin checks (see the module's
    docstring for why that is safe); every other request goes to ``app`` as it came. ``token_files``: the token files
    re-read as they change, whose refusals the answers warn of."""

    def __init__(self, app: ASGIApp, state: ServerState, token_files: Sequence[ReloadedTokens] = ()) -> None:
        self.app = app
        self.state = state
        self.token_files = tuple(token_files)
        self._logged: set[str] = set()
        #: the last readiness answer and when (monotonic) it was worked out
        self._answered: tuple[float, str | None] | None = None
        #: the readiness answer being worked out, which the probes arriving meanwhile wait on
        self._answering: asyncio.Task[str | None] | None = None
        #: the looks at the token files under way (by id), each in a task no probe waits for, held here till it ends
        self._looks: dict[int, asyncio.Future[Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") not in PROBE_PATHS:
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET")
        if method not in ("GET", "HEAD"):
            body = {"status": "error", "reason": f"{method} is not allowed here: probe it with GET or HEAD"}
            await _answer(send, 405, body, head=False, extra=[(b"allow", b"GET, HEAD")])
            return
        if scope["path"] == LIVENESS_PATH:
            await _answer(send, 200, {"status": "ok", **self._warnings()}, head=method == "HEAD")
            return
        looks = [] if self.state.closing else self._look_at_token_files()  # (shutting down is said at once: no look)
        reason = await self.not_ready()
        if looks:  # (asyncio.wait cancels no look, nor does the probe's cancel: it ends by itself)
            await asyncio.wait(looks, timeout=PROBE_LOOK_SECONDS)
        if reason is None:
            await _answer(send, 200, {"status": "ready", **self._warnings()}, head=method == "HEAD")
        else:
            answer: dict[str, Any] = {"status": "not ready", "reason": reason, **self._warnings()}
            await _answer(send, 503, answer, head=method == "HEAD")

    def _look_at_token_files(self) -> list[asyncio.Future[Any]]:
        """Each token file looked at (as a request does: at most once a second) in a task of its own, which the probe
        waits for at most PROBE_LOOK_SECONDS: a look waits up to LOOK_SECONDS for the file's stat and as long again
        for its read, ~10 s on a slow mount, past any probe's timeout, and the probe said nothing. The answer says
        what the last look found; a later probe, what a look still under way finds. One look per file at a time.
        Returns the looks under way, this probe's and those it found."""
        for token_file in self.token_files:
            if id(token_file) in self._looks:
                continue
            look = asyncio.ensure_future(token_file.fresh())
            self._looks[id(token_file)] = look
            look.add_done_callback(functools.partial(self._looked, id(token_file)))
        return [look for look in self._looks.values() if not look.done()]

    def _looked(self, key: int, look: asyncio.Future[Any]) -> None:
        self._looks.pop(key, None)
        if not look.cancelled() and (exc := look.exception()) is not None:  # (the look says its own refusals)
            logger.warning("a readiness probe's look at a token file failed: %s", type(exc).__name__, exc_info=exc)

    def _warnings(self) -> dict[str, list[str]]:
        """``{"warnings": [...]}`` when there is any, else nothing (the answer as it was)."""
        said = [warning for token_file in self.token_files if (warning := token_file.warning)]
        return {"warnings": said} if said else {}

    async def not_ready(self) -> str | None:
        """Why the server cannot take a call now, said without a detail of its setup; None when it can. The answer
        worked out within :data:`READY_ANSWER_SECONDS` stands, and one being worked out is waited on (see the module's
        docstring): a probe's own end (its client gone) does not cut it for the others."""
        if self.state.closing:
            return SHUTTING_DOWN
        answered = self._answered
        if answered is not None and monotonic() - answered[0] < READY_ANSWER_SECONDS:
            return answered[1]
        if self._answering is None:
            task = self._answering = asyncio.ensure_future(self._answer())
            task.add_done_callback(self._answer_done)
        reason = await asyncio.shield(self._answering)
        return SHUTTING_DOWN if self.state.closing else reason

    def _answer_done(self, task: asyncio.Task[str | None]) -> None:
        if self._answering is task:
            self._answering = None
        if not task.cancelled() and task.exception() is None:  # (an exception is the probes' that awaited it)
            self._answered = (monotonic(), task.result())

    async def _answer(self) -> str | None:
        """The readiness answer, within :data:`READY_READ_SECONDS`: a probe has its own timeout, past which its answer
        says nothing and a probe left waiting holds a connection."""
        with anyio.move_on_after(READY_READ_SECONDS):
            return await self._not_ready()
        if self.state.closing:
            return SHUTTING_DOWN
        return OPENING if self.state.opened is None else not_answering(READY_READ_SECONDS)

    async def _not_ready(self) -> str | None:
        service = self.state.opened
        if service is None:
            try:
                # the open goes on when the probe's wait ends (shielded): the next probe or call finds it done
                service = await asyncio.shield(self.state.opening())  # as a first call would open it
            except MagsagError as exc:
                if self.state.closing:  # (the close began while it waited for the lock)
                    return SHUTTING_DOWN
                self._log_once("the service could not open: %s", exc.message)
                return NOT_OPEN
        ledger = service.ledger
        if ledger.read_only:
            self._log_once("%s", ledger.read_only_error().message)
            return READ_ONLY
        try:
            await ledger.read(_trivial_read, snapshot=False)
        except MagsagError as exc:
            self._log_once("the ledger did not answer a readiness probe's read: %s", exc.message)
            return UNREADABLE
        return SHUTTING_DOWN if self.state.closing else None

    def _log_once(self, message: str, detail: str) -> None:
        if detail not in self._logged and len(self._logged) < _FAILURES_LOGGED_MAX:
            self._logged.add(detail)
            logger.warning(f"readiness probe answered 503: {message}", detail)


def _trivial_read(conn: Any) -> object:
    """A read that reaches the ledger file (its schema page), not SQLite alone as ``SELECT 1`` would."""
    return conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()


async def _answer(
    send: Send, status: int, body: dict[str, Any], *, head: bool, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    data = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
        (b"cache-control", b"no-store"),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else data})
