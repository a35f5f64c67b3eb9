"""``runner``: :class:`Runner`, which runs MAG and SAG agents (``run_agent``, ``invoke_sag``, ``arun``) and records
the run of one that raised. Apart from :mod:`.api` (the :class:`~magsag_mcp.api.Magsag` that makes one), which
re-exports it."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import anyio
import anyio.to_thread

from .agent_failures import FailedRun, agent_failure
from .agent_modules import Registry
from .api_skills import Skills, gathered
from .bridge import AgentRun, Bridge, ProcessBound
from .call_ids import new_run_id
from .errors import InputError, redacting_logger
from .invoke_options import Delegation, as_context, as_delegation, run_classes, unsaid
from .observer import Observer
from .redaction import call_keys_known
from .service import Service
from .text import NAME_MAX, check_name

#: (the logger's name is the one it had in api.py, where a user's logging settings may name it)
log = redacting_logger("magsag_mcp.api")

#: the longest Delegation.task_id: the SAG's run id is ``{task_id}-{16 hex digits}`` (see Runner.invoke_sag)
TASK_ID_MAX = NAME_MAX - 17


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
