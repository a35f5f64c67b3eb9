"""Opening and closing a :class:`~magsag_mcp.service.Service`: :class:`Lifecycle`, the mixin with ``open`` (the
catalog, policies, prices, transport and ledger, read with the one environment, no network I/O) and ``aclose`` (the
calls in flight cancelled and each recorded before the ledger closes). The flow of one call lives in :mod:`.service`."""

from __future__ import annotations

import asyncio
import os
import warnings
import weakref
from collections.abc import AsyncGenerator, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import anyio

from .breaker import BreakerPolicy, breaker_policy_from_env
from .catalog import Catalog, catalog_problems, load_catalog
from .errors import ConfigError, redacting_logger
from .kept_records import KeptRecords, closing_after
from .opening import Opening
from .price_data import start_loading
from .redaction import register_env_secrets
from .retry import RetryPolicy, retry_policy_from_env
from .settings import connect_timeout, given_env, only_configured, read_timeout
from .transport import Timeouts, Transport

log = redacting_logger("magsag_mcp.service")

#: the closes of services dropped unclosed, under way: an event loop holds its tasks only weakly, and one collected
#: mid-close was destroyed pending, its ledger's connections left open
_DROPPED_CLOSES: set[asyncio.Task[None]] = set()


async def _opened(ledger: Any, refusal_kept: bool) -> str | None:
    """Open ``ledger``; with ``refusal_kept``, why it cannot be opened (its refusal's message, with its fix) in place of
    the error, or None once it is open. An empty file at a path typed by hand (``NoLedger``) is refused all the same,
    as every reading command refuses it."""
    from .errors import LedgerError
    from .ledger.problems import NoLedger

    try:
        await ledger.open()
    except LedgerError as exc:
        if not refusal_kept or isinstance(exc, NoLedger):
            raise
        return exc.message
    return None


class Lifecycle:
    """Mixed into :class:`~magsag_mcp.service.Service`, which sets these in its ``__init__``."""

    transport: Transport
    ledger: Any
    governance: Any
    #: why the ledger could not be opened, where the service was opened without it (``ledger_refusal_kept``)
    unopened_ledger: str | None = None
    _kept: KeptRecords
    _calls: dict[asyncio.Task[Any], int]
    _drained: asyncio.Event | None
    _closing: bool
    _closed: asyncio.Event
    #: closes what the service holds if it is collected unclosed (see _close_when_dropped)
    _unclosed: weakref.finalize
    #: the service's own (bridge.LoopBound)
    _loop: asyncio.AbstractEventLoop
    _on_own_loop: Callable[[], None]

    if TYPE_CHECKING:  # Service's, which _open calls

        def __init__(
            self,
            *,
            catalog: Catalog,
            env: Mapping[str, str],
            transport: Transport,
            ledger: Any,
            pricer: Any,
            governance: Any,
            retry: RetryPolicy,
            configured_urls: bool = False,
            settings_home: str | None = None,
            breaker: BreakerPolicy | None = None,
        ) -> None: ...

    @classmethod
    def open(
        cls,
        *,
        catalog: str | os.PathLike[str] | Catalog | None = None,
        db: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        transport: Transport | None = None,
        retry: RetryPolicy | None = None,
        network_callers: bool = False,
        create_ledger: bool = True,
        empty_ledger_ok: bool = False,
        reading: bool = False,
        settings_home: str | None = None,
        ledger_refusal_kept: bool = False,
    ) -> Opening[Self]:
        """``svc = await Service.open(...)``, or ``async with Service.open(...) as svc:`` (closed on leaving).
        ``network_callers``: calls come from other machines (the MCP server over HTTP); see :mod:`.call_urls`.
        ``create_ledger=False``: what reading commands open (see :class:`~.ledger.Ledger`'s ``create``), and
        ``empty_ledger_ok`` what takes an empty file there for no ledger yet (its ``blank_is_absent``); ``reading``:
        what only reads the ledger (a report, doctor, a plan), which reads one on a full disk (its ``reading``);
        ``settings_home``: where a missing key is to be set, as its fix says it, when not "in the environment";
        ``ledger_refusal_kept``: a ledger that cannot be opened (no SQLite file, a newer magsag-mcp's) leaves the
        service open without it, its refusal in ``unopened_ledger``, for ``magsag doctor`` to check the catalog all
        the same (it makes no call; no other caller may use a service so opened)."""
        args = (catalog, db, env, transport, retry, network_callers, create_ledger, empty_ledger_ok, reading)
        return Opening(lambda: cls._open(*args, settings_home, ledger_refusal_kept))

    @classmethod
    async def _open(
        cls,
        catalog: str | os.PathLike[str] | Catalog | None,
        db: str | os.PathLike[str] | None,
        env: Mapping[str, str] | None,
        transport: Transport | None,
        retry: RetryPolicy | None,
        network_callers: bool,
        create_ledger: bool = True,
        empty_ledger_ok: bool = False,
        reading: bool = False,
        settings_home: str | None = None,
        ledger_refusal_kept: bool = False,
    ) -> Self:
        from .governance import Governance, load_policies
        from .ledger import Ledger, default_db_path
        from .ledger.connection import ledger_sync_from_env
        from .pricing import Pricer

        env = given_env(env)
        register_env_secrets(env)
        cat = catalog if isinstance(catalog, Catalog) else load_catalog(catalog, env)
        # the whole catalog is read with the one environment: policies and prices as skills and routing
        pricer = Pricer.from_catalog(cat.root, env)
        policies = load_policies(cat.root, env)
        problems = policies.data_class_problems(cat.skills, cat.skill_files)
        if problems:
            raise catalog_problems(cat.root, problems)
        retry = retry or retry_policy_from_env(env)
        breaker = breaker_policy_from_env(env)
        configured_urls = only_configured(env, network_callers)
        # read before the ledger opens, so that a bad value is reported with nothing to undo
        transport = transport or Transport(
            timeouts=Timeouts(connect=connect_timeout(env), read=read_timeout(env)), env=env
        )
        # "~" expanded as MAGSAG_DB's and every reading command's is: given unexpanded (an MCP client's JSON
        # args, --db=~/...), calls went to a folder named "~" in the working directory, reads to the home's
        path = Path(db).expanduser() if db else default_db_path(env)
        ledger = Ledger(
            path,
            sync=ledger_sync_from_env(env),
            create=create_ledger,
            blank_is_absent=empty_ledger_ok,
            reading=reading,
        )
        unopened = await _opened(ledger, ledger_refusal_kept)
        # Reservations must outlive the longest call, or a slow call's reservation could expire mid-call.
        governance = Governance(policies, ledger, pricer, call_deadline=retry.deadline, env=env, served=pricer.served)
        service = cls(
            catalog=cat,
            env=env,
            transport=transport,
            ledger=ledger,
            pricer=pricer,
            governance=governance,
            retry=retry,
            configured_urls=configured_urls,
            settings_home=settings_home,
            breaker=breaker,
        )
        service.unopened_ledger = unopened
        if not reading:
            # genai-prices' data, which the first call's price needs, loads in a thread of its own from here on: on the
            # loop, the first call held it some 100-200 ms (see .price_data). Started last, and not awaited: beside
            # the open it held the GIL the open needs (the ledger's threads lost 5 ms a turn to it: open took twice as
            # long). Not for what only reads the ledger (summarize, budget), which would not use it (`magsag explain`
            # prices, on a loop that serves no one else)
            start_loading()
        return service

    async def aclose(self, grace: float = 30.0) -> None:
        """Close the HTTP sessions and the ledger. Calls still in flight are cancelled first and each
        records what it spent (a cancelled attempt at its worst case) before the ledger closes, so
        closing mid-call (Ctrl-C in a script, SIGTERM on a server) never loses a paid request.
        ``grace`` bounds the wait for those records; a call still not done by then is left behind. Once
        the service's own loop has closed, it may be called on another to close what is left."""
        if not self._loop.is_closed():
            self._on_own_loop()
        if self._closing:  # closed, or closing in another task (its drain must not be disturbed): wait
            await self._closed.wait()
            return
        self._closing = True  # first: a call begun while closing waits would not be cancelled
        self._unclosed.detach()  # closed as asked: a collection has nothing more to close or say
        try:
            try:
                await self._drain(grace)
            finally:
                # Also when the drain is cut short (asyncio.timeout around aclose, a second Ctrl-C): it ends as its
                # grace would, and what the service holds is closed. Shielded: in a cancelled scope (a timeout
                # around `async with`) the kept records were lost.
                with anyio.CancelScope(shield=True):
                    await _close_parts(self.transport, self.ledger, self.governance, self._kept)
        finally:
            self._closed.set()

    def _close_when_dropped(self) -> None:
        """Close what this service holds if it is garbage-collected unclosed, saying so (see :func:`_dropped`).
        Its arguments are the parts alone: one holding the service would keep it alive for ever."""
        parts = (self.transport, self.ledger, self.governance, self._kept)
        self._unclosed = weakref.finalize(self, _dropped, self._loop, os.getpid(), parts)
        self._unclosed.atexit = False  # at exit the loop has closed, and aiohttp and aiosqlite say what was left

    async def _drain(self, grace: float) -> None:
        """Cancel the calls in flight and wait (``grace`` at most) while each records itself."""
        me = asyncio.current_task()
        if self._calls.keys() - {me}:
            self._drained = asyncio.Event()
            for task in self._calls.keys() - {me}:
                task.cancel()
            with anyio.CancelScope(shield=True), anyio.move_on_after(grace):
                while self._calls.keys() - {me}:
                    await self._drained.wait()
                    self._drained.clear()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        with closing_after(exc[1]):  # the block's own error goes on, with the close's in it
            await self.aclose()

    def _refuse_if_closing(self) -> None:
        if self._closing:
            raise ConfigError(
                "this service is closed (or closing): its ledger and HTTP sessions are gone, so the call was "
                "not sent; open a new service, and close one only once the calls using it are done"
            )

    def _call_done(self, task: asyncio.Task[Any]) -> None:
        left = self._calls.pop(task) - 1
        if left:
            self._calls[task] = left
        if self._drained is not None:
            self._drained.set()


async def _close_parts(transport: Transport, ledger: Any, governance: Any, kept: KeptRecords) -> None:
    """What closing a service closes once its calls are done: the HTTP sessions, the ledger's queue, the reservations
    left for callers gone, the records kept from the ledger, and then the ledger itself."""
    try:
        await transport.aclose()
        # a record still queued (its call cancelled while it waited for a locked ledger) ends first: refused, it is
        # kept, and written here with the others (or named as lost)
        await ledger.settled()
        if governance is not None:  # (a reservation made for a caller gone, its drop refused)
            await governance.drop_orphans()
        await kept.write_at_close()
    finally:
        await ledger.close()


def _dropped(loop: asyncio.AbstractEventLoop, pid: int, parts: tuple[Any, ...]) -> None:
    """A service garbage-collected unclosed: said with the fix (a ResourceWarning, as an unclosed file's), and its
    parts closed on its loop if that still runs. Before, its ledger writer was "destroyed but pending", aiosqlite
    warned of its connections with no word of the service, and the records kept for its close were lost."""
    if os.getpid() != pid:
        return  # a forked copy: the loop and connections are the parent's
    ledger = parts[1]

    def start() -> None:
        closing = _DroppedClose(parts)
        task = loop.create_task(closing.run(), name="magsag-close-dropped-service")
        _DROPPED_CLOSES.add(task)
        task.add_done_callback(_close_ended)

    try:
        loop.call_soon_threadsafe(start)  # (collected on any thread: the parts belong to their loop)
    except RuntimeError:
        pass  # its loop has closed: nothing can run there
    # Said once its close is under way: under `python -W error` the warning raises, and said first, it kept the close
    # from starting (the records kept for it lost, its connections left open)
    warnings.warn(
        f"a magsag Service (ledger {getattr(ledger, 'path', '?')}) was garbage-collected without being closed; "
        "use `async with Service.open() as service:`, or `await service.aclose()` when done with it",
        ResourceWarning,
        stacklevel=2,
    )


class _DroppedClose:
    """The close of a service dropped unclosed, on its loop: a task, and, should that task be cancelled before it
    begins, an async generator of the loop's. ``asyncio.run`` cancels every task left once its main coroutine returns,
    and a service dropped as that coroutine ended (``svc = await Service.open()`` in ``main()``, never closed) had its
    close task cancelled before its first step: none of it ran, aiohttp warned of its sessions left unclosed, and its
    ledger's connections stayed open (their threads printing "Event loop is closed" once the loop had closed). The
    loop's async generators are closed after its tasks (``shutdown_asyncgens``), each awaited to its end: there the
    close runs, if the task did not, or runs again if the task was cancelled part way (a service dropped a few steps
    before main() returned: its close under way was cut, and the fallback, seeing it begun, did nothing), or waits for
    the task's close under way. It relies on asyncio's documented hooks alone (``sys.set_asyncgen_hooks``, which
    asyncio's loops and uvloop install while they run, and ``shutdown_asyncgens``); nothing of it runs per call."""

    def __init__(self, parts: tuple[Any, ...]) -> None:
        self.parts = parts
        self.ended = False  # the close has run to its end (or failed for good): not run again
        self.one_at_a_time = asyncio.Lock()  # the task's and the fallback's, when both run at once
        self.fallback_closing = False  # the loop's shutdown is closing the fallback (aclose'd twice, it raises)
        self.fallback = self._at_loop_shutdown()
        try:  # its first step, here on the loop's thread: the loop's hooks take the generator up as it is begun
            self.fallback.asend(None).send(None)
        except StopIteration:
            _DROPPED_FALLBACKS.add(self)  # (the loop holds its generators weakly)
        except Exception:  # (a loop past its shutdown of generators warns of a new one, raised under -W error)
            pass  # the task alone closes the service, as it can (not kept: its body never runs to let it go)

    async def run(self) -> None:
        try:
            await self._close()
        finally:
            # Closed here, not by its finaliser once the loop may have closed; and its close runs the service's again
            # if the task was cancelled part way (asyncio.run cancels the tasks left as main() returns, once: its
            # gather awaits this to the end). Unless the loop's shutdown is closing it already, awaiting this close.
            if not self.fallback_closing:
                await self.fallback.aclose()
            _DROPPED_FALLBACKS.discard(self)

    async def _close(self) -> None:
        async with self.one_at_a_time:  # the fallback, as the loop shuts down, waits for a close under way
            if self.ended:
                return
            try:
                await _close_parts(*self.parts)
            except asyncio.CancelledError:
                raise  # cut short: run again by the fallback (each part closes what it has left open)
            except BaseException:
                self.ended = True
                raise
            self.ended = True

    async def _at_loop_shutdown(self) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            self.fallback_closing = True
            try:
                await self._close()
            finally:
                _DROPPED_FALLBACKS.discard(self)


#: the dropped services' closes that wait for their loop's shutdown should their task not run (see _DroppedClose)
_DROPPED_FALLBACKS: set[_DroppedClose] = set()


def _close_ended(task: asyncio.Task[None]) -> None:
    _DROPPED_CLOSES.discard(task)
    error = None if task.cancelled() else task.exception()
    if error is not None:  # no caller to raise it to: logged, not left "never retrieved"
        log.warning("closing a service dropped unclosed failed: %s", getattr(error, "message", error))
