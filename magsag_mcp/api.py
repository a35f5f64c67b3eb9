"""The guide's Python API: ``skills.invoke``, ``runner.invoke_sag(Delegation(...))``, ``obs.log``.

Agent code in the guide is synchronous (``result = skills.invoke(...)``), while the service is
async. The bridge between them (:mod:`~magsag_mcp.bridge`): every sync method schedules its coroutine
on the service's home event loop (thread-safely, as a task of that loop) and blocks for the answer. :class:`Magsag`
gives plain scripts a home loop on a background thread; inside an async program use the ``a*``
methods (``await skills.ainvoke(...)``) and run sync agents with ``await runner.arun(...)``, which
puts them on a worker thread. An ``a*`` method awaited on another loop than the home loop (a
:class:`Magsag` used inside ``asyncio.run``) runs its coroutine on the home loop: the service's
HTTP sessions and ledger connection belong there.
"""

from __future__ import annotations

import builtins
import os
import threading
import time
import weakref
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel

from .agent_failures import FailedRun, agent_failure
from .agent_modules import Registry
from .api_ledger import LedgerReads
from .bridge import AgentRun, Bridge, CallingThread, ProcessBound, current_token, loop_thread_id, on_this_loop
from .call_ids import new_run_id
from .errors import InputError, MagsagError, redacting_logger
from .home_loop import EXITING, Closing, HomeLoop, note_exit, said_if_left_open
from .invoke_options import (
    Delegation,
    Progress,
    as_context,
    as_delegation,
    check_options,
    check_progress,
    merged_context,
    run_classes,
    unsaid,
)
from .invoke_result import InvokeResult
from .kept_records import closing_after
from .observer import Observer, UnknownCostWarning
from .redaction import call_keys_known, register_env_secrets
from .result_dicts import InvokeResultDict, RouteExplanationDict, SkillDict
from .service import Service
from .settings import given_env
from .text import NAME_MAX, check_name

T = TypeVar("T")

log = redacting_logger("magsag_mcp.api")

#: the longest Delegation.task_id: the SAG's run id is ``{task_id}-{16 hex digits}`` (see Runner.invoke_sag)
TASK_ID_MAX = NAME_MAX - 17

__all__ = ["Delegation", "Skills", "Runner", "Observer", "Registry", "Magsag", "UnknownCostWarning"]


class Skills(ProcessBound):
    """``skills.invoke(skill_id, payload)``; bound to a run, an agent and a context by the runner."""

    def __init__(
        self,
        service: Service,
        bridge: Bridge,
        *,
        run_id: str | None = None,
        agent: str | None = None,
        context: Mapping[str, Any] | None = None,
        parent_run_id: str | None = None,
        data_classes: tuple[str, ...] = (),
    ) -> None:
        self.service = service
        self.bridge = bridge
        self.run_id = run_id
        self.agent = agent
        self.context = dict(context or {})
        self.parent_run_id = parent_run_id
        #: the data classes of the agent's run these skills are bound to (see :class:`Runner`): each call is held to
        #: them beside its skill's class and its context's
        self.data_classes = data_classes
        #: where the credentials its calls gave themselves are gathered (see :attr:`Runner.call_keys`); None: not
        self.call_keys: set[str] | None = None

    if TYPE_CHECKING:  # the options by name, for a type checker, which refuses any other name

        def invoke(
            self,
            skill_id: str,
            payload: Mapping[str, Any],
            *,
            agent: str | None = None,
            run_id: str | None = None,
            context: Mapping[str, Any] | None = None,
            progress: Progress | None = None,
        ) -> InvokeResultDict: ...

        async def ainvoke(
            self,
            skill_id: str,
            payload: Mapping[str, Any],
            *,
            agent: str | None = None,
            run_id: str | None = None,
            context: Mapping[str, Any] | None = None,
            progress: Progress | None = None,
        ) -> InvokeResultDict: ...

    else:  # the same at run time (help(), a notebook's completion), and any other name taken, to be refused
        # naming the option (or the payload's key) it meant

        def invoke(self, skill_id, payload, *, agent=None, run_id=None, context=None, progress=None, **unknown):
            """Invoke a skill; the result as a dict (``output``, ``model``, ``cost_usd``, ...).

            ``context``: the call's routing context (``preferred_model``, ``llm_overrides``, ``tier``,
            ``data_class``), over the one these skills are bound to; ``agent`` and ``run_id`` left out (or None)
            are the ones these skills are bound to; ``progress(event, data)`` runs on this thread."""
            check_progress(progress)
            options = {"agent": agent, "run_id": run_id, "context": context, "progress": progress, **unknown}
            return self.bridge.run(self._invoke, skill_id, payload, options, caller=CallingThread.taking(options))

        async def ainvoke(self, skill_id, payload, *, agent=None, run_id=None, context=None, progress=None, **unknown):
            """The async form of :meth:`invoke`; may be awaited on any event loop (see :meth:`Bridge.call`).
            A ``progress`` callback runs on the loop awaiting here, as the caller's code expects."""
            check_progress(progress)
            progress = None if progress is None else on_this_loop(progress)
            options = {"agent": agent, "run_id": run_id, "context": context, "progress": progress, **unknown}
            return await self.bridge.call(self._invoke, skill_id, payload, options)

    async def _invoke(self, skill_id: str, payload: Mapping[str, Any], options: dict[str, Any]) -> InvokeResultDict:
        check_options(options)
        context = merged_context(self.context, options.pop("context", None), "invoke's context")
        # None is "not given", as a caller's helper passes its own defaults on (run_id=run_id): the call stays
        # in the run and under the agent these skills are bound to, whose limits count it ("" names no agent)
        agent, run_id = options.pop("agent", None), options.pop("run_id", None)
        try:
            result = await self.service.invoke_skill(
                skill_id,
                payload,
                agent=self.agent if agent is None else agent,
                run_id=self.run_id if run_id is None else run_id,
                parent_run_id=self.parent_run_id,
                context=context,
                progress=options.pop("progress", None),
                run_classes=self.data_classes,
            )
        except MagsagError as exc:
            if isinstance(exc.result, InvokeResult):  # the paid answer, as invoke returns answers: a dict
                self._gather(exc.result)
                exc.result = exc.result.to_dict()
            raise
        self._gather(result)
        return result.to_dict()

    def _gather(self, result: InvokeResult) -> None:
        """The credentials ``result``'s call gave itself, into :attr:`call_keys` when it gathers them (but the forms
        its answers keep: a base URL's path segment taken for a token by its length alone)."""
        if self.call_keys is not None and result.call_keys:
            left = getattr(result.call_keys, "left", ())
            self.call_keys.update(key for key in result.call_keys if key not in left)

    def explain(
        self,
        skill_id: str,
        payload: Mapping[str, Any],
        *,
        context: Mapping[str, Any] | None = None,
        agent: str | None = None,
    ) -> RouteExplanationDict:
        """The plan :meth:`invoke` would follow with the same arguments, and its worst-case cost; nothing is called.
        A local target's server is not asked where it runs the model (a warning says where that matters):
        :meth:`aexplain` asks it, as the call does."""
        return self.service.explain(skill_id, payload, **self._explaining(context, agent))

    async def aexplain(
        self,
        skill_id: str,
        payload: Mapping[str, Any],
        *,
        context: Mapping[str, Any] | None = None,
        agent: str | None = None,
    ) -> RouteExplanationDict:
        """The async form of :meth:`explain`; may be awaited on any event loop (see :meth:`Bridge.call`). It asks
        each local target's server where it runs the model first (``POST /api/show``, bounded as the call asks
        it), as the call, ``magsag explain`` and ``explain_route`` do: a model the server made from a cloud one is
        shown refused where the call would be; nothing is sent to a model."""
        explaining = partial(self.service.explain_asking, skill_id, payload, **self._explaining(context, agent))
        return await self.bridge.call(explaining)

    def _explaining(self, context: Mapping[str, Any] | None, agent: str | None) -> dict[str, Any]:
        """:meth:`explain`'s and :meth:`aexplain`'s options for the service: the call's context over the one these
        skills are bound to, the agent whose daily limit holds the call (None, left out, is the bound agent, as in
        invoke), and the data classes of the run."""
        context = merged_context(self.context, context, "explain's context")
        agent = self.agent if agent is None else agent
        return {"context": context, "agent": agent, "run_classes": self.data_classes}

    def list(self) -> builtins.list[SkillDict]:  # in this class, `list` is this method
        """Every skill: ``id``, ``description``, the ``payload_fields`` its prompt reads, ``input_schema``, ..."""
        return self.service.list_skills()


def gathered(keys: set[str] | None) -> tuple[str, ...]:
    """The credentials gathered from a run's calls (:attr:`Runner.call_keys`), longest first (a key holding another
    is looked for whole); none where they are not gathered."""
    return tuple(sorted(keys, key=len, reverse=True)) if keys else ()


class Runner(ProcessBound):
    """Runs MAG and SAG agents: ``run(payload, *, registry, skills, runner, obs)``."""

    def __init__(
        self,
        service: Service,
        bridge: Bridge,
        *,
        run_id: str | None = None,
        agent: str | None = None,
        root_run_id: str | None = None,
        data_classes: tuple[str, ...] = (),
    ) -> None:
        self.service = service
        self.bridge = bridge
        self.registry = Registry(service)
        self.run_id = run_id
        self.agent = agent
        #: the run at the top of the delegation tree; None when this runner's run is the top
        self.root_run_id = root_run_id
        #: the data classes of this runner's run (its context's data_class, and those of the runs it was delegated
        #: from): they go with the data to the agents it runs, as to its own calls, beside any their context names
        self.data_classes = data_classes
        #: the runs of the agents this runner ran that raised, for the error of its own agent's run to name (see
        #: agent_failures); None for a Magsag's runner, which no agent's record reads
        self._failed: list[FailedRun] | None = None
        #: the credentials the calls of the agents it runs gave themselves (their targets' ``params.api_key``...),
        #: gathered when a set is put here, by ``magsag run``, to look for in what the run returns as it prints it: each
        #: call forgot its own as it ended. None (the default): not gathered, a Magsag's every call's kept for good
        self.call_keys: set[str] | None = None

    def _deps(
        self,
        agent_id: str,
        run_id: str,
        context: Mapping[str, Any],
        root: str | None,
        failed: list[FailedRun],
        classes: tuple[str, ...],
    ) -> dict[str, Any]:
        # A delegated run records the *root* run as its parent, at any depth: the root's run limit and
        # every agent's obs.get_current_cost() cover the whole tree (MAG -> SAG -> SAG cannot escape the
        # MAG's budget, and a MAG checking its budget sees what its SAGs spent).
        runner = Runner(
            self.service, self.bridge, run_id=run_id, agent=agent_id, root_run_id=root, data_classes=classes
        )
        runner._failed = failed  # (what the agents it runs raise)
        runner.call_keys = skills_keys = self.call_keys  # (the SAGs it delegates to gather into the same set)
        skills = Skills(
            self.service, self.bridge, run_id=run_id, agent=agent_id, context=context, parent_run_id=root,
            data_classes=classes,
        )  # fmt: skip
        skills.call_keys = skills_keys
        return {
            "registry": self.registry,
            "skills": skills,
            "runner": runner,
            "obs": Observer(self.service, self.bridge, run_id=run_id, agent=agent_id, budget_run_id=root),
        }

    def run_agent(
        self,
        agent_id: str,
        payload: Mapping[str, Any],
        *,
        context: Mapping[str, Any] | None = None,
        run_id: str | None = None,
    ) -> Any:
        """Run an agent synchronously in this thread (its skill calls go through the bridge).

        Its run is ``run_id``, as a call's is in :meth:`Skills.invoke`: given to a :class:`Magsag`'s runner,
        a run of its own (the top of the runs it delegates to, spending its own run limit: one agent run of
        a batch each); given inside an agent, or left out, a run delegated from this runner's run."""
        check_name(run_id, "run_id")  # refused before the agent's code runs, as Magsag(run_id=) and a task_id are
        root = self.root_run_id or self.run_id
        if run_id and self.root_run_id is None:
            root = run_id  # the Magsag's runner: the caller named the agent's run, as skills.invoke(run_id=)
        return self._run(
            agent_id, payload, context=as_context(context, "run_agent's context"), run_id=run_id, root=root
        )

    def _run(
        self, agent_id: str, payload: Mapping[str, Any], *, context: dict[str, Any], run_id: Any, root: Any
    ) -> Any:
        fn = self.registry.entrypoint(agent_id)
        spec = self.registry.agent(agent_id)
        spec.validate_payload(payload)
        # the data it hands on is of the classes it came with still, and of the one its context names beside them
        classes = run_classes(self.data_classes, context.get("data_class"), f"the context {agent_id!r} is run with")
        if self.data_classes and unsaid(context.get("data_class")):
            # (None or "", a helper's default, names no class of its own: its calls' None or "" keeps this one, as
            # merged_context keeps a bound value, where "" was refused as no class's name)
            context = {**context, "data_class": self.data_classes[-1]}
        run_id = run_id or new_run_id()
        delegated: list[FailedRun] = []
        deps = self._deps(agent_id, run_id, context, root, delegated, classes)
        started = time.time()
        try:
            return fn(dict(payload), **deps)
        except BaseException as exc:  # recorded failed (or cancelled), and raised as it was
            self._record_failure(spec.kind, agent_id, run_id, root, started, exc, delegated)
            raise
        finally:
            delegated.clear()  # (each holds an exception, whose traceback holds the runner holding the list)

    def _record_failure(
        self,
        kind: str,
        agent_id: str,
        run_id: str,
        root: Any,
        started: float,
        exc: BaseException,
        delegated: list[FailedRun],
    ) -> None:
        """The service records the run of an agent whose entrypoint raised ``exc`` as failed (or cancelled): its calls
        alone made it ``ok``. Detached from the agent's run, whose cancellation would refuse it. What the record meets
        (a closed Magsag, the ledger's refusal) is logged: the agent's own exception goes on to the caller."""
        error = None
        try:
            # said knowing the credentials its calls gave themselves, gathered for `magsag run` (each call forgot its
            # own as it ended): an exception quoting a call's answer that echoed one was recorded with it whole
            with call_keys_known(gathered(self.call_keys)):
                status, error = agent_failure(agent_id, exc, delegated)
            record = self.service.record_agent_failure
            self.bridge.run(record, run_id, agent_id, root, started, status, error, detached=True)
        except Exception as failure:
            log.warning("agent %s's run %s raised, and its record says nothing of it: %s", agent_id, run_id, failure)
        if self._failed is not None:  # for the error of the run of the agent that ran it to name
            self._failed.append(FailedRun(exc, agent_id, kind, run_id, error))

    def invoke_sag(self, delegation: Delegation | Mapping[str, Any]) -> Any:
        """Run the SAG ``delegation.sag_id`` with ``delegation.input`` as its payload and ``delegation.context`` as its
        calls' routing context (``preferred_model``, ``llm_overrides``, ``data_class``, ...), and return what it
        returns. Its run (``{task_id}-`` and 16 hex digits) is delegated from this runner's: in its tree, under its
        run limit. A mapping with the same keys is taken as a :class:`Delegation`; a MAG's id is an
        :class:`~magsag_mcp.InputError` (delegate to a SAG, or run it with :meth:`run_agent`)."""
        if not isinstance(delegation, Delegation):
            delegation = as_delegation(delegation)
        if not isinstance(delegation.task_id, str):  # (None made the SAG's run id "None-...", 42 "42-...")
            raise InputError(
                f"Delegation.task_id is {'None' if delegation.task_id is None else type(delegation.task_id).__name__}, "
                "not text: give the task a name, e.g. "
                "Delegation(task_id='analyze-1', ...); the SAG's run id is made of it"
            )
        if len(delegation.task_id) > TASK_ID_MAX:
            raise InputError(
                f"Delegation.task_id is {len(delegation.task_id):,} characters long, and at most {TASK_ID_MAX}: "
                f"the SAG's run id is the task id and 17 characters more, and a run id is at most {NAME_MAX}; "
                "give a shorter task_id"
            )
        check_name(delegation.task_id, "Delegation.task_id")  # the SAG's run id is made of it
        spec = self.registry.agent(delegation.sag_id)
        if spec.kind != "sag":
            raise InputError(f"{delegation.sag_id!r} is a {spec.kind.upper()}, not a SAG; delegate to a SAG")
        return self._run(  # delegated from this runner's run: the SAG's run is in its tree
            delegation.sag_id,
            delegation.input,
            context=as_context(delegation.context, "Delegation.context"),
            run_id=f"{delegation.task_id}-{new_run_id()[4:]}",  # 64 random bits, as any run id
            root=self.root_run_id or self.run_id,
        )

    async def arun(
        self,
        agent_id: str,
        payload: Mapping[str, Any],
        *,
        context: Mapping[str, Any] | None = None,
        run_id: str | None = None,
    ) -> Any:
        """Run a synchronous agent from async code, on a worker thread.

        Its skill calls go to this runner's home loop (not necessarily the loop awaiting here). Cancelled
        (a timeout around it), the agent's call in flight is cancelled (and recorded on the home loop,
        shielded: the record may land just after this returns), its next calls are refused, and this
        returns (raises) once the agent's thread has ended.
        """
        run = AgentRun()
        started = threading.Event()
        done = threading.Event()

        def work() -> Any:
            started.set()
            try:
                return run.run_here(lambda: self.run_agent(agent_id, payload, context=context, run_id=run_id))
            finally:
                done.set()

        try:
            return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
        except anyio.get_cancelled_exc_class():
            run.cancel()
            if started.is_set():  # the agent stops at its cancelled call, or at its next one (refused)
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(done.wait)
            raise


class Magsag(LedgerReads, ProcessBound):
    """A ready-to-use magsag for synchronous code: a service on a private event-loop thread.

    Every option is optional, and given by name: ``catalog`` (a catalog directory; default ``MAGSAG_CATALOG``,
    ``./catalog`` or the bundled one), ``db`` (the ledger's file; default ``MAGSAG_DB`` or the user's data folder),
    ``env`` (the environment read in place of ``os.environ``: strings only, ``None`` for a variable left unset),
    ``run_id`` (the run its calls are recorded under; a new one by default) and ``agent`` (the agent they are
    recorded as, whose daily limit they spend); one given wrong is refused (a :class:`~magsag_mcp.ConfigError`, an
    :class:`~magsag_mcp.InputError` for a name) saying what was wrong and the fix. Close it when done (``with``,
    ``close()``, ``async with``).

    >>> with Magsag() as mg:                                     # doctest: +SKIP
    ...     result = mg.skills.invoke("skill.analysis", {"data": "..."})
    """

    def __init__(
        self,
        *,
        catalog: str | os.PathLike[str] | None = None,
        db: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        run_id: str | None = None,
        agent: str | None = None,
    ) -> None:
        # the names every call records: refused here, naming the option, before anything is opened or made
        environment = given_env(env)  # (a value that is not text refused before anything reads it)
        register_env_secrets(environment)  # (the service does it once open: too late)
        check_name(run_id, "run_id")
        check_name(agent, "agent")
        self._home = HomeLoop()
        try:
            opening = Service.open(catalog=catalog, db=db, env=environment)
            self.service: Service = self._home.portal.call(lambda: opening)
            token = self._home.portal.call(current_token)
        except BaseException:
            self._home.stop(cancel_remaining=True)
            raise
        self.bridge = Bridge(token)
        self.bridge.loop_thread = self._home.portal.call(loop_thread_id)
        self.run_id = run_id or new_run_id()
        self.agent = agent
        self.skills = Skills(self.service, self.bridge, run_id=self.run_id, agent=agent)
        self.runner = Runner(self.service, self.bridge, run_id=self.run_id, agent=agent)
        self.registry = self.runner.registry
        self.obs = Observer(self.service, self.bridge, run_id=self.run_id, agent=agent)
        # Closed at the latest when the interpreter exits, or once neither this Magsag nor its skills,
        # runner or observer is left (they share the bridge): a script that never closed it hung at exit
        # for ever (the portal's generator, finalised after the loop's thread had stopped, waited for it),
        # and its calls in flight went unrecorded.
        self._closing = Closing(self.bridge, self._home, self.service)
        self._closed = self._closing.done
        self._finalizer = weakref.finalize(self.bridge, self._closing)
        if EXITING.is_set():  # opened in an exit hook run after magsag's, which weakref's may no longer close
            said_if_left_open(self.bridge, self._closing)
        note_exit()

    def close(self) -> None:
        """Cancel the calls in flight (each is recorded), close the HTTP sessions and the ledger, and stop
        the event loop's thread. A second call waits for the first to finish (on the loop's own thread,
        which the first needs, it returns at once); a call in a forked copy does nothing."""
        self._closing.asked.set()
        # Called here rather than through the finaliser (detached, as it has run): once weakref's exit hook has run,
        # a finaliser called does nothing, and a Magsag opened after it (in a user's exit hook run after magsag's own)
        # waited at its close for ever
        self._finalizer.detach()
        self._closing()
        # The close runs once: a close while another is under way (another thread, a second task's
        # aclose) returned at once, with the calls in flight not yet recorded nor the ledger closed.
        if os.getpid() == self.bridge.pid and threading.get_ident() != self.bridge.loop_thread:
            self._closed.wait()

    async def aclose(self) -> None:
        """:meth:`close` from async code: done in a worker thread, so that the caller's loop runs on while
        the calls in flight are cancelled and recorded."""
        await anyio.to_thread.run_sync(self.close)

    def __enter__(self) -> Magsag:
        return self

    def __exit__(self, *exc: Any) -> None:
        with closing_after(exc[1]):  # the block's own error goes on (a paid answer in it), with the close's
            self.close()

    async def __aenter__(self) -> Magsag:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        with closing_after(exc[1]):
            await self.aclose()
