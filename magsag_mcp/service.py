"""The service layer: owns the flow of one call (plan, policy, reserve budget, call, price, record).

The MCP server, the CLI and the Python API only parse input and format output around a
:class:`Service`; none holds logic of its own. Its opening and closing (``open``, ``aclose``, the calls in flight
cancelled and recorded) live in :mod:`.service_lifecycle`; how a call's end is recorded in :mod:`.service_records`;
what it reads of the ledger in :mod:`.ledger_reads`; what a call would do, with nothing called, in
:mod:`.route_explanation`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

import anyio

from . import price_data
from .answer_cache import AnswerCache, ttl_of_context
from .breaker import BreakerPolicy
from .bridge import LoopBound
from .call_entry import service_call
from .call_ids import new_call_id, new_run_id
from .call_urls import CallURLs
from .caller_progress import raised_by_caller
from .cascade import Cascade
from .cascade_caps import request_caps
from .cascade_paused import CONTINUATIONS_KEY, answer_cost, continuations_of_context
from .cascade_report import result_warnings
from .catalog import Catalog, validate_catalog
from .env_routing import override_providers
from .errors import (
    InputError,
    LedgerError,
    MagsagError,
    redacting_logger,
    said_without_keys,
)
from .invoke_result import (
    InvokeResult,
    answer_not_recorded,
    answer_not_written,
    call_cost,
    call_failed,
    callback_error,
    refused_unplanned,
    run_status,
)
from .kept_records import KeptRecords
from .ledger_reads import LedgerReads
from .metrics import METRICS
from .paused_calls import HeldPaused, PausedCall, PausedContinuation, held_turn, resumed_plan
from .providers import ProviderSet
from .providers.base import ProgressCallback
from .records import AttemptRecord, RunRecord
from .redaction import SECRET_ENV as SECRET_ENV  # where it was read from before
from .redaction import call_keys
from .result_dicts import SkillDict
from .retry import RetryPolicy
from .route_explanation import RouteExplanation
from .routing import Plan, Resolution, plan_call
from .service_lifecycle import Lifecycle
from .service_records import CallRecords
from .text import check_name
from .transport import Transport

log = redacting_logger("magsag_mcp.service")


def _sent_or_held(attempts: list[AttemptRecord]) -> bool:
    """Whether any of a call's attempts so far was sent (its cost must be recorded) or holds a reservation its record
    is to drop: a call refused with neither, its targets at most skipped unsent, records nothing."""
    for a in attempts:
        if a.outcome == "ok" or a.outcome == "error" or a.reservation_id is not None:
            return True
    return False


class Service(Lifecycle, CallRecords, RouteExplanation, LedgerReads, PausedContinuation, LoopBound):
    """One configured magsag: catalog, providers, pricing, governance and ledger.

    Build it with :meth:`open` (no network I/O) and close it with :meth:`aclose` (both in
    :mod:`.service_lifecycle`).
    """

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
    ) -> None:
        self.catalog = catalog
        self.env = env
        self.transport = transport
        # the ledger's folder keeps what the providers learn for the next processes (local servers without the
        # Responses API); an in-memory ledger's keeps nothing
        path = getattr(ledger, "path", None)
        folder = path.parent if path is not None and str(path) != ":memory:" else None
        self.providers = ProviderSet(env, transport, settings_home=settings_home, state_folder=folder)
        self.ledger = ledger
        self.pricer = pricer
        self.governance = governance
        self.retry = retry
        self.cascade = Cascade(self.providers, pricer, governance, retry, breaker=breaker, served=pricer.served)
        self.cascade.caps = request_caps(catalog.request_caps)
        #: the answer cache, used by the calls a route or their context turns it on for (see answer_cache.py)
        self.answers = self.cascade.answers = AnswerCache(ledger)
        self.call_urls = CallURLs(env, catalog.routing.all_targets, self.providers, configured_only=configured_urls)
        #: calls' routes (see plan_call): by skill for calls that name none, by what they name for the others
        self._routes: dict[str, Resolution] = {}
        #: skill -> its answer-cache ttl from its route or itself (None: off), worked out at its first call (a skill's
        #: task type is its own): kept here, in a plain dict, not on the routing policy nor read from the skill's
        #: pydantic model each call, whose private attributes pydantic's __getattr__ reads at some 24,000
        #: instructions a call, 1.8% of a full call that caches nothing (ROUNDS.md's forty-ninth round)
        self._cache_ttls: dict[str, float | None] = {}
        self._named_routes: dict[tuple[Any, ...], Resolution] = {}
        self._data_class_models = governance.data_class_models() if governance else None
        #: calls inside invoke_skill right now; a lone call records without waiting for a group commit
        self._in_flight = 0
        #: the tasks of those calls (task -> calls it is inside), so that closing can cancel them
        self._calls: dict[asyncio.Task[Any], int] = {}
        #: set by aclose while it waits for cancelled calls to record themselves
        self._drained: asyncio.Event | None = None
        #: records the ledger refused (locked past its timeout, disk full) or a bug of ours kept out of it: written
        #: before the next record and at close, so that a paid call's spend is not lost with the error
        self._kept = KeptRecords(ledger)
        #: results left paused, by their paused id, for continue_paused by id (see PausedContinuation.hold_paused)
        self._held_paused = HeldPaused()
        #: set when aclose begins: a call started from then on is refused before anything is sent
        self._closing = False
        self._closed = asyncio.Event()
        METRICS.serve(self)  # its calls in flight, reservations and ledger queue, read when /metrics is scraped
        self._bind_loop()  # the ledger's writer runs on the loop that opened the service, and so must its calls
        self._close_when_dropped()

    # --- calls -----------------------------------------------------------------------------------

    def plan(
        self,
        skill_id: str,
        payload: Mapping[str, Any],
        context: Mapping[str, Any] | None = None,
        *,
        explaining: bool = False,
        run_classes: tuple[str, ...] = (),
    ) -> Plan:
        """Where a call of ``skill_id`` with ``payload`` and ``context`` would go: its targets in order, each with
        its source, and the rule that chose them; nothing is called nor checked against the limits
        (:meth:`explain` says what the policies and limits make of each target, as a dict). ``explaining``: for
        :meth:`explain`, which sends nothing: a refusal of the payload or context says so, not that a call was not
        sent."""
        plan = plan_call(
            self.catalog,
            skill_id,
            payload,
            context=context,
            env=self.env,
            data_class_models=self._data_class_models,
            call_urls=self.call_urls,
            route_cache=self._routes,
            named_routes=self._named_routes,
            explaining=explaining,
            run_classes=run_classes,
        )
        # the call's cache_ttl (0: the cache left alone), else its route's, else its skill's (see answer_cache.py)
        ttl = ttl_of_context(context) if context else None
        if ttl is None:
            try:
                ttl = self._cache_ttls[plan.skill_id]
            except KeyError:
                skill_cache = self.catalog.skills[plan.skill_id].cache
                ttl = self.catalog.routing.cache_choice(plan.task_type, skill_cache)[0]
                self._cache_ttls[plan.skill_id] = ttl
        if ttl:
            plan.cache_ttl = ttl
        if context and CONTINUATIONS_KEY in context:  # (see cascade_paused.py)
            plan.continuations = continuations_of_context(context)
        return plan

    async def _top_run(self, run_id: str, parent_run_id: str) -> str:
        """The top run of ``parent_run_id``'s tree, which a call of ``run_id`` delegated from it spends; a run
        placed elsewhere is refused (see :func:`.governance.delegation.top_run`)."""
        from .governance.delegation import top_run

        return await self.ledger.read(lambda conn: top_run(conn, run_id, parent_run_id))

    @service_call  # in exact money; the call's own credentials kept out of its messages, and forgotten after it
    async def invoke_skill(
        self,
        skill_id: str,
        payload: Mapping[str, Any],
        *,
        agent: str | None = None,
        run_id: str | None = None,
        parent_run_id: str | None = None,
        context: Mapping[str, Any] | None = None,
        progress: ProgressCallback | None = None,
        own_run: bool = False,
        run_classes: tuple[str, ...] = (),
        under_way: Callable[[str], None] | None = None,
        recorded_ok: Callable[[InvokeResult], None] | None = None,
        continuing: PausedCall | None = None,
        attempts: list[AttemptRecord] | None = None,
    ) -> InvokeResult:
        """Call the skill ``skill_id`` with ``payload`` (its input fields, and its ``model_config``): routed, held to
        the policies and limits before anything is sent, tried down its fallbacks, recorded in the ledger. Returns an
        :class:`~magsag_mcp.InvokeResult` (``output``, ``provider``, ``model``, ``usage``, ``cost_usd``, a ``Decimal``
        or None, ``run_id``, ``warnings``); raises a :class:`~magsag_mcp.MagsagError` saying what failed and the fix
        (``PayloadError``, ``PolicyDenied``, ``BudgetExceeded``, ``AllTargetsFailed``, ...), the failed call recorded
        all the same (but for a name it cannot be recorded under, an ``InputError`` before any record). ``agent``,
        ``run_id``, ``context`` (``preferred_model``, ``tier``, ``data_class``, ``cache_ttl``, ``llm_overrides``) and
        ``progress(event, data)`` as :meth:`Skills.invoke <.api.Skills.invoke>` takes them; ``parent_run_id``: the
        run a new ``run_id`` is delegated from (under its run limit).

        ``own_run``: the caller is held to ``agent`` (an MCP client pinned to it), and may not file its call in a
        ``run_id`` whose calls are another agent's (see :meth:`refuse_others_run`); refused with nothing recorded.
        ``run_classes``: the data classes of the agent's run the call is made in, which apply beside the skill's and
        the context's (see :class:`~.api.Runner`). ``under_way(run_id)``: told once the call is under way, from when it
        is recorded however it ends (cancelled too); a call that ends before (refused, cancelled) has no record.
        ``recorded_ok(result)``: told once its answer's record is handed to the ledger as ok, which a cancel from then
        on (a group commit's wait, the answer cache's write, the caller's own unwinding) leaves written as ok: its
        caller says the call answered, as the ledger will, not that it was cancelled. ``continuing``: the call whose
        paused turn this one sends back (:meth:`continue_paused`'s); ``attempts``: an empty list its attempts are put in
        as they end (one not empty is refused before any record), read by its caller however the call ended (a
        continuation that failed numbers the next on past its)."""
        self._on_own_loop()
        if not isinstance(skill_id, str):
            self.catalog.skill(skill_id)  # refused with the fix, before a run is recorded under it
        # what names the call's record: text that cannot be stored is refused before anything is recorded
        # (each asked in turn: a dict of the four and a loop over it cost more, on every call)
        check_name(skill_id, "skill_id")
        if agent is not None:
            check_name(agent, "agent")
        if run_id is not None:
            check_name(run_id, "run_id")
        if parent_run_id is not None:
            check_name(parent_run_id, "parent_run_id")
        if attempts is not None and (type(attempts) is not list or attempts):
            # the list this call's attempts are put in: one holding another call's was recorded as this one's too
            raise InputError(
                "attempts must be an empty list (invoke_skill fills it with this call's attempts as they end), got "
                f"{type(attempts).__name__} of {len(attempts) if isinstance(attempts, list) else '?'} item(s): pass a "
                "new [] for each call, or leave it out"
            )
        self._refuse_if_closing()
        if self.ledger.read_only:  # refused before a target is paid for an answer that could not be recorded
            raise self.ledger.read_only_error()
        if own_run and run_id and agent:  # (one read by the runs' primary key, only for a pinned caller's own run id)
            await self.refuse_others_run(run_id, agent, "join")
            self._refuse_if_closing()
        run_id = run_id or new_run_id()
        # "" (what MCP clients and forms send for an optional name) is no name: recorded as NULL, where the
        # agent filter and the "(none)" group find it, and where governance already read it as no agent
        agent = agent or None
        parent_run_id = parent_run_id or None
        delegated_from = None
        if parent_run_id is not None and parent_run_id != run_id:
            # A delegated run records the top run as its parent, at any depth: the top run's limit covers
            # the whole tree, and a run delegated from a delegated run must not escape it. Each reservation
            # checks again, in its transaction, that the run was not placed elsewhere since this read.
            delegated_from = parent_run_id
            parent_run_id = await self._top_run(run_id, parent_run_id)
            # a close begun during that read neither cancels nor waits for a call not yet in flight (below)
            self._refuse_if_closing()
        if parent_run_id == run_id:  # no parent: the one it was recorded with (if any) applies, as to any call
            parent_run_id = None
        run = RunRecord(run_id, agent, skill_id, time.time(), parent_run_id)  # positional: no dict of keywords
        if continuing is not None:
            run.continues_paused_id = continuing.id
        if under_way is not None:  # (no await from here to the try below: a cancel now finds the call recorded)
            under_way(run_id)
        self._in_flight += 1
        task = asyncio.current_task()
        if task is not None:
            self._calls[task] = self._calls.get(task, 0) + 1
        so_far: list[AttemptRecord] = [] if attempts is None else attempts
        plan: Plan | None = None
        stored = False  # (its answer kept in the cache: the calls waiting for it look it up, rather than one send)
        try:
            try:
                if price_data.under_way:
                    # the first call of the process: genai-prices' data, loading in a thread of its own (see
                    # .price_data), is awaited with the loop left to the other calls, and in flight: cancelled
                    # meanwhile (by its caller, or by a close, which cancels the calls in flight), it is recorded as
                    # any call cancelled is (waited for before it was counted, it left no record)
                    await price_data.loaded()
                plan = self.plan(skill_id, payload, context, run_classes=run_classes)
                if continuing is not None:
                    plan = resumed_plan(plan, continuing)
                outcome = await self.cascade.run(
                    plan,
                    run_id=run_id,
                    agent=agent,
                    progress=progress,
                    attempts=so_far,
                    parent_run_id=parent_run_id,
                    delegated_from=delegated_from,
                    call_id=new_call_id(),
                )
            except MagsagError as exc:
                if isinstance(exc, InputError) and exc.placed_elsewhere and not _sent_or_held(so_far):
                    # its run placed elsewhere since the read above, by a call of another parent: nothing was sent,
                    # and a record under this parent would have placed the run here, the other call's spend with it
                    # (so too after targets skipped unsent: a call limit's refusal, a policy's, a server's wait)
                    raise
                # so_far is the cascade's own list: every attempt, whichever way the call ended
                if plan is None and (refused := refused_unplanned(exc, run_id, skill_id, agent)) is not None:
                    so_far.append(refused)
                call_failed(exc, run_id, so_far)
                await self._record_failed(run, so_far, run_status(exc), exc)
                raise
            except Exception as bug:
                # Not one of ours: the caller's progress callback's, recorded as such and raised as it was; else a
                # bug, which goes into the ledger as failed with what was raised and what it spent, and reaches the
                # caller as an error of the tree naming the run (see bug_error)
                if raised_by_caller(bug):
                    await self._record_failed(run, so_far, "error", callback_error(bug))
                    raise
                raise await self._bug(run, so_far, bug) from said_without_keys(bug)
            except BaseException as exc:
                if isinstance(exc, (anyio.get_cancelled_exc_class(), KeyboardInterrupt, SystemExit)):
                    # Cancelled (a client timeout, a closed session) or interrupted (an interpreter exit raised through
                    # the call): what was spent is still recorded.
                    with anyio.CancelScope(shield=True):
                        await self._record_failed(run, so_far, "cancelled")
                raise
            try:
                result = self._result(run_id, skill_id, plan, outcome)
                if outcome.result.paused is not None:  # (kept only where a turn was left paused: see paused_calls.py)
                    result.paused_call = held_turn(
                        skill_id, payload, context, agent, result, outcome.target, delegated_from, run_classes
                    )
            except Exception as bug:  # built before the record says 'ok': a bug here fails the call, recorded so
                raise await self._bug(run, outcome.attempts, bug) from said_without_keys(bug)
            except BaseException:
                # An interpreter exit (Ctrl-C raised on the loop's thread) with the paid answer in hand: recorded at its
                # cost, as an exit during the attempt is. Unrecorded, its reservation was swept once it expired, as an
                # abandoned attempt at its worst case, cost unknown.
                with anyio.CancelScope(shield=True):
                    await self._record_failed(run, outcome.attempts, "cancelled")
                raise
            if result.paused_call is not None:
                # held once its record is handed on (written, or kept to be written with the next): the answer, paid
                # for, goes on with its paused_id even where the ledger refuses the write (see answer_not_recorded)
                self.hold_paused(result)
            if recorded_ok is not None:  # (no await until the write is queued: a cancel then leaves it written ok)
                recorded_ok(result)
            try:
                unsynced = await self._record(run, outcome.attempts, "ok")
                if unsynced is not None:  # recorded, its sync failed: the caller is told (see log_sync.py)
                    result.warnings.append(unsynced)
            except LedgerError as exc:
                raise answer_not_recorded(exc, result) from None
            except Exception as bug:  # ours, writing the record: the answer and what it cost go on, the record is kept
                log.error("run %s: a bug in magsag-mcp kept the call's record out of the ledger", run_id, exc_info=bug)
                raise answer_not_written(bug, result) from said_without_keys(bug)
            if outcome.to_cache is not None:  # stored once its call is recorded: a hit names a run the ledger holds
                stored = await self.answers.store(outcome.to_cache, run_id, answer_cost(outcome.attempts))
        finally:
            self._in_flight -= 1
            if task is not None:
                self._call_done(task)
            if plan is not None and plan.flight is not None:  # (its answer stored, or none: a waiter leads next)
                self.answers.flights.land(plan.flight, answered=stored)
        return result

    def _result(self, run_id: str, skill_id: str, plan: Plan, outcome: Any) -> InvokeResult:
        result = outcome.result
        if plan.answer_text is not None:
            result.text = plan.answer_text(result.text)  # the caller's text as written, where the prompt escaped it
        warnings = result_warnings(plan, outcome.attempts, result.warnings)
        for skipped in outcome.trace["skipped"]:
            # a target left alone for its server's wait said so in its own warning (result_warnings), and may have
            # been sent after it and answered: not said again as a skip
            if skipped["reason"] not in warnings:
                warnings.append(f"skipped {skipped['target']}: {skipped['reason']}")
        # positional, in the field order: a class called with keywords builds and unpacks a dict of them
        return InvokeResult(
            run_id,
            skill_id,
            result,
            outcome.attempts,
            outcome.trace,
            call_cost(outcome.attempts),
            warnings,
            call_keys(),  # (the call's own credentials, for the answer shown after the call forgot them)
        )

    def list_skills(self) -> list[SkillDict]:
        """Every skill of the catalog, by id: what it does and what its payload takes."""
        return self.catalog.skill_list()

    async def log_event(self, run_id: str | None, agent: str | None, event: str, data: Mapping[str, Any]) -> None:
        """Record the event ``event`` with ``data`` (its values as JSON, a key in them redacted) under ``run_id`` and
        ``agent`` (None or ``""``: none), as ``obs.log`` does; :meth:`search_page` finds it."""
        self._on_own_loop()
        await self.ledger.log_event(run_id or None, agent or None, event, data)

    async def probe(self) -> dict[str, str]:
        """Try each configured provider's cheapest endpoint; unconfigured ones are reported as such."""
        from .doctor import probe_providers

        self._on_own_loop()  # the HTTP sessions are per loop: one made on another would be closed by nobody
        self._refuse_if_closing()  # (closed, its sessions are gone: a probe made a new one, which nothing closed)
        return await probe_providers(self.providers)

    def probe_failures(self, reachable: Mapping[str, str]) -> list[str]:
        """The providers of a :meth:`probe` that are configured and yet did not answer: local at its default
        URL too when ``MAGSAG_PROVIDER`` / ``MAGSAG_MODEL`` send calls to it."""
        return self.providers.probe_failures(reachable, override_providers(self.env))

    def doctor(self) -> dict[str, Any]:
        """Which providers are configured (never a key), where the catalog and ledger live, the network settings
        (proxies, CA bundles) and the settings calls would refuse (``problems``): see :mod:`.doctor`."""
        from .catalog_cap_checks import unreached_request_caps
        from .catalog_price_checks import price_file_notes
        from .catalog_route_checks import near_routes
        from .doctor import report_of

        # what `magsag catalog validate` lists too: each call of a skill it names may fail on it
        problems = self.override_problems() + validate_catalog(self.catalog.root, self.env)
        notes = near_routes(self.catalog) + unreached_request_caps(self.catalog)
        notes += price_file_notes(self.catalog.root, self.pricer) + self.unserved_skills()
        targets = self.named_targets()  # where a key goes: one its vendor refuses, sent there by none, is a note
        root = self.catalog.root
        return report_of(self.env, self.providers, self.transport, self.ledger, root, problems, notes, targets)
