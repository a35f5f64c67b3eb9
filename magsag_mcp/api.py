"""The guide's Python API: ``skills.invoke``, ``runner.invoke_sag(Delegation(...))``, ``obs.log``.

Agent code in the guide is synchronous (``result = skills.invoke(...)``), while the service is
async. The bridge between them (:mod:`~magsag_mcp.bridge`): every sync method schedules its coroutine
on the service's home event loop (thread-safely, as a task of that loop) and blocks for the answer. :class:`Magsag`
gives plain scripts a home loop on a background thread; inside an async program use the ``a*``
methods (``await skills.ainvoke(...)``) and run sync agents with ``await runner.arun(...)``, which
puts them on a worker thread. An ``a*`` method awaited on another loop than the home loop (a
:class:`Magsag` used inside ``asyncio.run``) runs its coroutine on the home loop: the service's
HTTP sessions and ledger connection belong there.

:class:`Skills` is in :mod:`.api_skills`, :class:`Runner` in :mod:`.api_runner`, the ledger's reads in
:mod:`.api_ledger`; all are imported from here.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Mapping
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel

from .agent_modules import Registry
from .api_ledger import LedgerReads
from .api_runner import TASK_ID_MAX as TASK_ID_MAX  # (imported from here before Runner had a module of its own)
from .api_runner import Runner
from .api_skills import Skills
from .api_skills import gathered as gathered  # (as TASK_ID_MAX)
from .bridge import Bridge, ProcessBound, current_token, loop_thread_id
from .call_ids import new_run_id
from .home_loop import EXITING, Closing, HomeLoop, note_exit, said_if_left_open
from .invoke_options import Delegation
from .kept_records import closing_after
from .observer import Observer, UnknownCostWarning
from .redaction import register_env_secrets
from .service import Service
from .settings import given_env
from .text import check_name

__all__ = ["Delegation", "Skills", "Runner", "Observer", "Registry", "Magsag", "UnknownCostWarning"]


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
