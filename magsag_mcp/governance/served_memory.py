"""What each Azure deployment was seen serving, kept across processes in the ledger (:mod:`..ledger.azure_served`).

A deployment's name is its operator's choice: ``azure:gpt-4o-mini`` may serve gpt-4o, which only its answers say. The
pricer learns it from each answer into the process's one memory of it (:class:`~..served_models.ServedModels`, by
endpoint and name), and the policies then refuse the deployment when that model is forbidden; but a process's memory
dies with it, and each new one (each ``magsag invoke``, a restarted server) paid for the deployment's first call again.
Here, before a process's first call to a deployment, the ledger's row for it is read into that memory: a model it was
seen serving within the trusted time (``MAGSAG_AZURE_SERVED_TRUST``, a day) counts as one it serves, so the policies
refuse it before anything is sent. After that time the row is not trusted, and one call is sent to learn again (the
operator may have re-pointed the deployment); ``magsag azure forget`` drops a row at once.

A long-running process reads the row again before a call to the deployment once :data:`REREAD_AFTER` seconds have
passed since its last read (never more than one read a deployment in that time, not a statement a call): another
process's later row, or a ``magsag azure forget``, is seen within that bound."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from ..errors import LedgerError
from ..ledger.azure_served import read_forgotten, read_served, write_served
from ..served_models import TRUSTED_FOR as TRUSTED_FOR
from ..served_models import ServedModels
from ..served_models import endpoint_host as endpoint_host
from ..served_models import when as when
from ..types import Target

#: a deployment's row is read again before a call once this many seconds have passed since it was last read: the
#: bound within which a running process sees another's sighting or a ``magsag azure forget``
REREAD_AFTER = 60.0


class ServedMemory:
    """The ledger's rows of the deployments this process calls, read into the process's memory of them
    (``models``, shared with its pricer) before its first call to each and every :data:`REREAD_AFTER` seconds after
    (:meth:`look`), and written as answers name what a deployment serves (:meth:`answered`)."""

    def __init__(self, models: ServedModels) -> None:
        self.memory = models
        self._clock = models._clock
        #: (endpoint, deployment) -> when its row was last read (or found unreadable)
        self._read_at: dict[tuple[str, str], float] = {}
        #: (endpoint, deployment) -> (model, when) of the row this process last wrote, to write only news (or an
        #: old row again)
        self._written: dict[tuple[str, str], tuple[str, float]] = {}
        #: (endpoint, deployment) -> the process's first read of its row, in flight: the calls that arrive meanwhile
        #: wait for it (one read, not one each), since they hold nothing of the row yet to be refused by
        self._first_reads: dict[tuple[str, str], asyncio.Future[bool]] = {}
        #: (endpoint, deployment) -> (model, when) this process saw it serve, whose row's write failed: a read that
        #: finds no row then finds that lost write, not a ``magsag azure forget`` (see :meth:`look`)
        self._unwritten: dict[tuple[str, str], tuple[str, float]] = {}

    @property
    def trusted_for(self) -> float:
        return self.memory.trusted_for

    def endpoint(self, target: Target) -> str:
        return self.memory.endpoint(target)

    def models(self, target: Target) -> frozenset[str]:
        """The models ``target``'s deployment (of its endpoint) is trusted to serve, other than its own name."""
        return self.memory.models(self.memory.key(target))

    def seen(self, target: Target, model: str) -> tuple[str, float] | None:
        """(the endpoint, when) of the ledger's row, another process's sighting, that says ``target``'s deployment
        serves ``model``, or None (none, or this process saw it itself)."""
        key = self.memory.key(target)
        sighting = self.memory.sighting(key, model)
        return None if sighting is None or sighting[1] else (key[0], sighting[0])

    async def look(self, ledger: Any, target: Target) -> None:
        """Read the ledger's row of ``target``'s deployment before the process's first call to it, and again once
        :data:`REREAD_AFTER` seconds have passed since the last read.

        The calls that arrive while the first read is in flight wait for it: sent meanwhile, a call to a deployment
        the row says serves a forbidden model went out unrefused (200 at once: 199 of them). A first read cut off (its
        call cancelled: a client's cancel, a timeout) is made again by one of them, the others waiting for it; one the
        ledger could not make sends them as a process without the row is sent (see below), and the next call reads
        again. Either way no read time is kept: a first read that did not happen held no call back for REREAD_AFTER.
        A re-read in flight is not waited for: what was read stands."""
        key = self.memory.key(target)
        if not key[0]:
            return
        while (first := self._first_reads.get(key)) is not None:
            if await asyncio.shield(first):
                return  # read: the row (or none) is in the memory
            # its call stopped before it read (the read was cancelled with it): read here, as the next call would
        now = self._clock()
        last = self._read_at.get(key)
        if last is not None and now - last < REREAD_AFTER:
            return
        if last is None:
            self._first_reads[key] = first = asyncio.get_running_loop().create_future()
        else:
            self._read_at[key] = now  # (a re-read: the calls meanwhile go on with what was read)
        read = False
        try:
            row, forgotten = await ledger.read(lambda conn: (read_served(conn, *key), read_forgotten(conn, *key)))
            read = True
        except LedgerError:
            # advice, not a record: a ledger that cannot read it (locked past its busy timeout, a disk error) sends the
            # call, as a process without the row does, and learns from its answer (a first read's waiters, which would
            # each fail likewise, too). A first read is made again by the next call (the row may refuse it); a re-read
            # only after REREAD_AFTER (what was read stands, and each call would wait the busy timeout out again)
            if first is not None:
                first.set_result(True)
            return
        finally:
            if first is not None:
                del self._first_reads[key]
                if read:
                    self._read_at[key] = now
                    first.set_result(True)
                elif not first.done():  # (cancelled, or a bug of ours raised: the waiters read themselves)
                    first.set_result(False)
        lost = self._unwritten.pop(key, None)
        if forgotten is not None:
            # `magsag azure forget` at that time: what was seen before it is forgotten, by this process too, and a
            # sighting of this process's whose write failed is not written again (it would undo the forget, here and,
            # by its row, in every process); a sighting since stands
            self.memory.forget(key, forgotten)
            if lost is not None and lost[1] < forgotten:
                lost = None
            if (written := self._written.get(key)) is not None and written[1] < forgotten:
                del self._written[key]
        if lost is not None and (row is None or row[1] < lost[1]):
            # this process's sighting whose row's write failed: no row is that lost write, not a forget. Taken for one,
            # the sighting was dropped and the next call sent to a deployment seen serving a forbidden model (one
            # call a re-read while writes failed); it is written again instead
            self._write(ledger, key, *lost)
        if row is not None:
            self.memory.saw(key, row[0], row[1], here=False)
            if (written := self._written.get(key)) is None or written[1] < row[1]:
                self._written[key] = row  # (the ledger holds it: an answer saying the same writes nothing new)
        elif last is not None and lost is None and not getattr(ledger, "read_only", False):
            # no row, where one was written or read before the last read: a forget dropped it (an older version's,
            # which keeps no time of it; a write of this process's that failed is written again above, not taken for
            # one, unless the forget's time says it came after). What was seen before that read is
            # forgotten here too, so the next call is sent and learns what the deployment serves now; a sighting since
            # may not be committed yet
            self.memory.forget(key, last)
            self._written.pop(key, None)

    def look_read_only(self, ledger: Any, target: Target) -> None:
        """:meth:`look` for what only shows a plan (``explain_route``, ``magsag explain``), which is not async: the row
        read here and now on a read-only connection of its own, never written, and only where no read was made yet
        (a call's reads keep their own times). A ledger that cannot be read so (none yet, locked) gives none."""
        key = self.memory.key(target)
        path = getattr(ledger, "path", None)
        if not key[0] or key in self._read_at or path is None or not Path(path).is_file():
            return
        try:
            conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=0.2)
            try:
                row = read_served(conn, *key)
            finally:
                conn.close()
        except sqlite3.Error:
            return
        if row is not None:
            self.memory.saw(key, row[0], row[1], here=False)

    def answered(self, ledger: Any, target: Target, model: str) -> None:
        """``target``'s deployment answered as ``model``: kept in the process's memory, and written to the ledger when
        that is news, or the row is old, so that the next process knows it before its first call. Queued, not waited
        for: it is asked between an answer and its attempt's record, and a wait there was a point where a call stopped
        (a client's cancel, a timeout) lost the record of the attempt it had paid for. Queued before that record, it
        commits with it or before it, so a process started once the call returns reads it; most answers are no news,
        and write nothing."""
        key = self.memory.key(target)
        if not key[0]:
            return
        now = self._clock()
        self.memory.saw(key, model, now)
        if getattr(ledger, "read_only", False):
            return
        row = self._written.get(key)
        if row is not None and row[0] == model and now - row[1] < self.memory.trusted_for / 4:
            # (rewritten once a quarter of the trusted time old, so the rows of deployments in use stay trusted)
            return
        self._write(ledger, key, model, now)

    def _write(self, ledger: Any, key: tuple[str, str], model: str, at: float) -> None:
        """Queue the row saying deployment ``key`` served ``model`` at ``at``. Not durable: a row lost to a power cut
        costs the next process one call to learn it again (this one is gone with it). A failure is no one's to report
        (the call's own record, written next, says what is wrong with the ledger), but this process keeps it, so that
        its next read, finding no row, writes it again rather than forget what it saw."""
        self._written[key] = (model, at)

        def lost(_: BaseException | None = None) -> None:
            if self._written.get(key) == (model, at):
                del self._written[key]
            if (unwritten := self._unwritten.get(key)) is None or unwritten[1] < at:
                self._unwritten[key] = (model, at)

        try:
            ledger.enqueue(lambda conn: write_served(conn, *key, model, at), durable=False, failed=lost)
        except LedgerError:
            lost()
