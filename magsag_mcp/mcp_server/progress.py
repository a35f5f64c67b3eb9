"""What the client sees while a call runs: progress notifications and log messages.

The service reports ``await progress(event, data)`` for each attempt, fallback, retry, resend (a target sent
the call again without a setting it refused), wait for a slot under a request cap (``capped``), streamed delta and
restart (the text streamed was not the answer) and question to a local target's server before its attempt
(``asking``, after its ``fallback``) and target passed over once said (``skipped``);
:class:`ProgressBridge` turns each into ``notifications/progress`` (only when the client sent a progress token, or
an in-process client a progress callback: the service streams from providers when it is given a callback, so none is
given otherwise) and into a ``notifications/message`` at or above the level the client chose with
``logging/setLevel`` (a 2026-era request: its ``_meta`` log level). A client that asked for log messages and no
progress gets the messages alone (:func:`logs_requested`). A call reports ``starting`` as it starts, and one that
has reported nothing for :data:`HEARTBEAT_SECONDS` reports that it is still waiting, and on what (a local target's
attempt: that its server may be loading the model; or, while a slow stream comes in too little at a time to be
reported, how much of it has come).
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
from mcp.server.mcpserver import Context
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp_types import LOG_LEVEL_META_KEY
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from ..durations import seconds
from ..errors import redact, redacting_logger
from ..plurals import counted

logger = redacting_logger("magsag_mcp.mcp")

#: RFC 5424 severities, lowest first, as MCP names them
LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
#: streamed text is reported once per this many characters, not once per SSE chunk
DELTA_STEP = 512
#: a call silent this long reports that it is still waiting: a client that times requests out restarts the
#: clock on progress (the MCP Inspector's is 10 s), and a slow model (a reasoning model, a long prompt's first
#: token) or a vendor's Retry-After is silent far longer
HEARTBEAT_SECONDS = 5.0
#: what a call waiting on a local target's answer may be waiting for
LOADING = "a local server says nothing while it loads the model into memory, minutes for a large one"


def _attempt(d: Mapping[str, Any]) -> str:
    return f"calling {d.get('target')} (candidate {int(d.get('position', 0)) + 1}, try {d.get('try', 1)})"


def _fallback(d: Mapping[str, Any]) -> str:
    return f"falling back to {d.get('to')} (candidate {int(d.get('position', 0)) + 1} of {d.get('of', '?')})"


def _seconds(value: Any) -> str:
    """An event's ``wait_s`` as the warnings say a wait (:func:`~..durations.seconds`); what is no number, as sent."""
    return seconds(value) if isinstance(value, int | float) and not isinstance(value, bool) else f"{value}s"


def _retry(d: Mapping[str, Any]) -> str:
    if d.get("resting"):  # its first try, once the wait its server asked an earlier call for is over
        return (
            f"waiting {_seconds(d.get('wait_s'))} before calling {d.get('target')}, which its server asked to be left "
            "alone"
        )
    return f"retrying {d.get('target')} in {_seconds(d.get('wait_s'))}"


def _capped(d: Mapping[str, Any]) -> str:
    return (
        f"waiting up to {_seconds(d.get('wait_s'))} for a slot of {d.get('target')}, the last target left: "
        f"{d.get('cap')}"
    )


def _asking(d: Mapping[str, Any]) -> str:
    return f"asking {d.get('target')}'s server where it runs the model"


def _skipped(d: Mapping[str, Any]) -> str:
    return f"skipping {d.get('target')} ({d.get('reason')})"


def _resend(d: Mapping[str, Any]) -> str:
    return f"{d.get('target')} {d.get('reason')}"


def _delta(d: Mapping[str, Any]) -> str:
    return f"streaming: {counted(int(d.get('chars', 0)), 'character')} received"


def _restart(d: Mapping[str, Any]) -> str:
    chars = int(d.get("chars", 0))
    said = f"streaming: the {counted(chars, 'character')} received {'was' if chars == 1 else 'were'} not the answer"
    return f"{said} ({d.get('reason')}); it starts again"


#: event -> (client log level, message); an event not listed is reported generically
EVENTS: dict[str, tuple[str, Callable[[Mapping[str, Any]], str]]] = {
    "attempt": ("info", _attempt),
    "fallback": ("warning", _fallback),
    "retry": ("notice", _retry),
    "resend": ("notice", _resend),
    "capped": ("notice", _capped),
    "asking": ("info", _asking),
    "skipped": ("info", _skipped),
    "delta": ("debug", _delta),
    "restart": ("debug", _restart),
}


class ClientLog:
    """The threshold each client session set with ``logging/setLevel`` (handshake-era clients), and
    sending at or above it. One server may serve several sessions (streamable HTTP): one client's
    ``debug`` must not flood another, so levels are kept per session (weakly: a closed session's goes).

    2026-era clients opt in per request instead (``_meta``'s log level) and the SDK filters at the
    level the request asked for; the threshold does not apply to them, or a request that asked for
    ``debug`` would get nothing below the default.
    """

    def __init__(self, level: str = "info") -> None:
        self.default = level
        self._levels: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()

    def set_level(self, level: str, session: Any = None) -> None:
        if level not in LEVELS:
            raise ValueError(f"unknown log level {level!r}; use one of {', '.join(LEVELS)}")
        key = _connection_of(session)
        if key is None:
            self.default = level
        else:
            self._levels[key] = level

    def was_set(self, session: Any) -> bool:
        """Whether this client session chose its level with ``logging/setLevel`` (the server's default is not a
        client's request for log messages)."""
        key = _connection_of(session)
        return key is not None and key in self._levels

    def level_for(self, session: Any = None) -> str:
        key = _connection_of(session)
        return self.default if key is None else self._levels.get(key, self.default)

    def enabled(self, level: str, session: Any = None) -> bool:
        return LEVELS.index(level) >= LEVELS.index(self.level_for(session))

    async def send(self, ctx: Context, level: str, message: str) -> None:
        request = ctx.request_context
        per_request = request.protocol_version in MODERN_PROTOCOL_VERSIONS  # the SDK filters by the request's level
        if not per_request and not self.enabled(level, request.session):
            return
        # Logging is deprecated by the 2026-07-28 revision but is how handshake-era clients see it.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await ctx.log(level, redact(message), logger_name="magsag")  # type: ignore[arg-type]


def _connection_of(session: Any) -> Any:
    """The client connection a request's session belongs to. The SDK builds a ``ServerSession`` per
    request around one connection object that it keeps private; without it (another SDK version)
    levels fall back to one server-wide threshold, the behaviour before levels were per client."""
    return getattr(session, "_connection", None) if session is not None else None


def progress_requested(ctx: Context) -> bool:
    """Did the client ask for progress with this request: a progress token, or (in process) a callback?"""
    request = ctx.request_context
    meta = request.meta
    if meta and meta.get("progress_token", meta.get("progressToken")) is not None:  # type: ignore[union-attr]
        return True
    return _in_process_callback(request.session)


def logs_requested(ctx: Context, log: ClientLog) -> bool:
    """Did the client ask for log messages of this request, progress or not: a 2026-era request by its ``_meta`` log
    level, a handshake-era client by choosing a level with ``logging/setLevel`` (one that chose none gets its calls'
    messages beside the progress it asks for, as ever)."""
    request = ctx.request_context
    if request.protocol_version in MODERN_PROTOCOL_VERSIONS:
        level: Any = (request.meta or {}).get(LOG_LEVEL_META_KEY)
        return level in LEVELS
    return log.was_set(request.session)


def _in_process_callback(session: Any) -> bool:
    """Whether the SDK hands this request's progress straight to a caller's callback. Its in-process client
    (``Client(server)``, 2026-era by default) sends no progress token: the callback rides the request's
    dispatch context (under the 2026 era's wrapper that refuses server requests), which the SDK keeps
    private. Another SDK version without it: no progress for such clients, as before."""
    outbound = getattr(session, "_request_outbound", None) if session is not None else None
    for _ in range(3):  # the context itself, or the one a wrapper delegates to
        if outbound is None:
            return False
        if getattr(outbound, "_on_progress", None) is not None:
            return True
        outbound = getattr(outbound, "_inner", None)
    return False


class ProgressBridge:
    """The ``progress`` callback handed to ``Service.invoke_skill`` for one tool call. ``progress``: the client asked
    for progress notifications (else it asked for log messages alone: no progress, no heartbeat)."""

    def __init__(self, ctx: Context, log: ClientLog, *, progress: bool = True) -> None:
        self.ctx = ctx
        self.log = log
        self.progress = progress
        self.step = 0
        self._chars_reported = -1
        self._started = self._last = anyio.current_time()
        #: what the call is doing (the last attempt, retry, fallback, resend or wait for a slot reported), for the
        #: heartbeat
        self._doing = "starting"
        #: the characters a stream has delivered when fewer than DELTA_STEP came since the last report: the
        #: heartbeat reports them, not "still waiting" while the answer is coming in
        self._unreported: int | None = None

    async def __call__(self, event: str, data: dict[str, Any]) -> None:
        if event == "delta":
            chars = int(data.get("chars", 0))
            if chars < self._chars_reported:  # a new stream (the next attempt) started
                self._chars_reported = -1
            if self._chars_reported >= 0 and chars - self._chars_reported < DELTA_STEP:
                self._unreported = chars
                return
            self._chars_reported, self._unreported = chars, None
        else:  # the stream ended, its attempt failed: nothing of it is to be reported any more
            self._unreported = None
            if event in ("attempt", "fallback", "resend", "restart"):
                self._chars_reported = -1
        level, describe = EVENTS.get(event, ("info", lambda d: f"{event}: {dict(d)}"))
        message = redact(describe(data))
        if event in ("attempt", "retry", "fallback", "resend", "capped", "asking", "skipped"):
            self._doing = message
            # a local server says nothing while it loads the model into memory (its first call, or after idling):
            # minutes for a large one, which the heartbeat then says, not a bare "calling"; not of a model that runs
            # off this machine (``runs_at``: Ollama's cloud), which nothing here loads
            loads_here = not data.get("runs_at")
            if event == "attempt" and str(data.get("target", "")).startswith("local:") and loads_here:
                self._doing += f"; {LOADING}"
        await self._report(message, level)

    async def _report(self, message: str, level: str | None) -> None:
        self.step += 1
        self._last = anyio.current_time()
        try:
            if self.progress:
                await self.ctx.report_progress(self.step, None, message)
            if level is not None:
                await self.log.send(self.ctx, level, message)
        except Exception:  # a client gone away must not fail the call that is being paid for
            logger.debug("could not deliver progress %r", message, exc_info=True)

    @asynccontextmanager
    async def beating(self) -> AsyncIterator[None]:
        """While the body runs, a progress notification whenever the call has reported nothing for
        :data:`HEARTBEAT_SECONDS` (with no progress asked for, none). What the body raises comes out as it is, not in
        an exception group."""
        if not self.progress:
            yield
            return
        # said at once: the service may open (its catalog, the ledger's migrations), a local target's server be asked
        # where it runs the model, before the first attempt is reported, and a client that restarts its clock on
        # progress heard nothing for a heartbeat's length, then "still waiting: starting"
        if self.step == 0:
            await self._report("starting", None)
        failure: Exception | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._heartbeat)
            try:
                yield
            except Exception as exc:
                failure = exc
            finally:
                tg.cancel_scope.cancel()
        if failure is not None:
            raise failure

    async def _heartbeat(self) -> None:
        while True:
            # never below 0 (anyio refuses it, and the task group would cancel the call): the last report may be
            # over a heartbeat ago already, when the service took that long to open or a report to be sent
            await anyio.sleep(max(0.0, self._last + HEARTBEAT_SECONDS - anyio.current_time()))
            now = anyio.current_time()
            if now - self._last < HEARTBEAT_SECONDS:
                continue
            # progress only: the log has the events themselves
            if self._unreported is not None:  # a slow stream: what has come, not that the call is waiting
                self._chars_reported, self._unreported = self._unreported, None
                await self._report(_delta({"chars": self._chars_reported}), None)
            else:
                await self._report(f"still waiting after {seconds(now - self._started)}: {self._doing}", None)
