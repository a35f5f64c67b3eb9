"""``skills``: :class:`Skills`, a skill's call from an agent's (or a script's) code, bound to a run, an agent and a
context, and :func:`gathered`, the credentials its calls gave themselves. Apart from :mod:`.api` (the
:class:`~magsag_mcp.api.Magsag` that makes one), which re-exports it."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from .bridge import Bridge, CallingThread, ProcessBound, on_this_loop
from .errors import MagsagError
from .invoke_options import Progress, check_options, check_progress, merged_context
from .invoke_result import InvokeResult
from .result_dicts import InvokeResultDict, RouteExplanationDict, SkillDict
from .service import Service


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

    def continue_paused(self, paused_id: str, *, continuations: int | None = None) -> InvokeResultDict:
        """Go on with the turn a call left paused (its result's ``paused_id``, ``finish_reason`` "other"), paying only
        for the rest: :meth:`Service.continue_paused <magsag_mcp.service.Service.continue_paused>`, a call of its own
        under the same run, to the same target, held to the same policies and budgets. The whole turn's answer as a
        dict, as :meth:`invoke` returns; ``continuations``: how many more requests may continue it should it pause
        again. Skills bound to an agent (a runner's) continue that agent's paused calls alone."""
        return self.bridge.run(self._continue_paused, paused_id, continuations)

    async def acontinue_paused(self, paused_id: str, *, continuations: int | None = None) -> InvokeResultDict:
        """The async form of :meth:`continue_paused`; may be awaited on any event loop (see :meth:`Bridge.call`)."""
        return await self.bridge.call(self._continue_paused, paused_id, continuations)

    async def _continue_paused(self, paused_id: str, continuations: int | None) -> InvokeResultDict:
        try:
            result = await self.service.continue_paused(paused_id, continuations=continuations, agent=self.agent)
        except MagsagError as exc:
            if isinstance(exc.result, InvokeResult):  # (as _invoke's: a dict)
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
