"""The ledger's store: one SQLite file, WAL, a group-commit writer and a separate reader.

Writes are queued and applied by one writer task in batches: each batch is one ``BEGIN IMMEDIATE``
transaction (atomic across processes) with a SAVEPOINT per operation, so that concurrent calls share
one fsync instead of paying one each, and one failing operation rolls back only itself. The calls'
records in a batch are written together, one statement per table (:class:`RecordWrite`). A write's
``await`` returns after its batch has committed: a call's attempts are durable before the call
returns. The whole batch runs as one function on aiosqlite's connection thread (one thread hop per
batch, not one per statement).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from ..errors import ConfigError, LedgerError, MagsagError, redact
from ..records import AttemptRecord, RunRecord
from .migrations import ROLLUP_BUCKET_SECONDS, SPEND_BUCKET_SECONDS, migrate

T = TypeVar("T")

PICO = Decimal("1e-12")
BUSY_TIMEOUT_MS = 30_000


def to_pusd(value: Decimal | None) -> int | None:
    """USD -> integer pico-USD (exact for prices quoted to six decimals per million tokens)."""
    if value is None:
        return None
    return int((value / PICO).to_integral_value(rounding=ROUND_HALF_EVEN))


def from_pusd(value: int | None) -> Decimal | None:
    if value is None:
        return None
    return (Decimal(value) * PICO).normalize() if value else Decimal(0)


def default_db_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("MAGSAG_DB"):
        return Path(env["MAGSAG_DB"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("magsag-mcp", appauthor=False)) / "ledger.db"


#: the synchronous mode each writer connection is in (sqlite3.Connection takes no attributes)
_SYNC_MODE: dict[int, str] = {}


def _configure(conn: sqlite3.Connection, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode.lower() != "wal":
        raise LedgerError(f"the ledger needs WAL journaling but SQLite chose {mode!r}; use a local file system")
    # FULL: a commit is on disk when it returns (group commit keeps this cheap).
    conn.execute("PRAGMA synchronous = FULL")
    _SYNC_MODE[id(conn)] = "FULL"
    conn.execute("PRAGMA foreign_keys = ON")


#: MAGSAG_LEDGER_SYNC -> SQLite's synchronous mode for the commits that make a call durable
SYNC_MODES = {"full": "FULL", "normal": "NORMAL"}


def ledger_sync_from_env(env: Mapping[str, str] | None = None) -> str:
    """``MAGSAG_LEDGER_SYNC``: ``full`` (the default) or ``normal``, checked.

    ``full``: a call returns once its record is on disk (an fsync per commit; concurrent calls share it):
    it survives a crash of the process, of the OS and a power cut. ``normal``: a call returns once its
    record is in the ledger's write-ahead log, without waiting for the disk: it survives the process
    being killed, but a power cut or OS crash may lose the last calls (SQLite's WAL ``synchronous=NORMAL``;
    the file itself is never corrupted). It saves one fsync per call, most of a sequential call's
    ledger cost on a slow disk.
    """
    env = os.environ if env is None else env
    value = (env.get("MAGSAG_LEDGER_SYNC") or "").strip().lower() or "full"
    if value not in SYNC_MODES:
        raise ConfigError(
            f"MAGSAG_LEDGER_SYNC={env.get('MAGSAG_LEDGER_SYNC')!r} is not a ledger sync mode; use 'full' (every "
            "call on disk before it returns, the default) or 'normal' (survives the process being killed, "
            "not a power cut)"
        )
    return value


# The rows of a run's scope: the run's own row by primary key, its children by the partial index
# runs_parent (``parent_run_id = ?`` implies the index's ``IS NOT NULL``); ``run_id != :run`` keeps a
# run that names itself its parent from counting twice. Budget checks embed it in their own statement.
RUN_SCOPE_ROWS = (
    "SELECT cost_pusd, unpriced_calls FROM runs WHERE run_id = :run"
    " UNION ALL SELECT cost_pusd, unpriced_calls FROM runs WHERE parent_run_id = :run AND run_id != :run"
)


def run_scope_totals(conn: sqlite3.Connection, run_id: str | None) -> tuple[int, int]:
    """(cost in pico-USD, attempts of unknown cost) recorded for a run and the runs delegated from it.

    The one definition of a run's scope (:data:`RUN_SCOPE_ROWS`): ``obs.get_current_cost()`` reports
    it and a run's budget limit is checked against it. Delegation counts one level deep.
    """
    row = conn.execute(
        f"SELECT COALESCE(SUM(cost_pusd), 0), COALESCE(SUM(unpriced_calls), 0) FROM ({RUN_SCOPE_ROWS})",
        {"run": run_id},
    ).fetchone()
    return int(row[0]), int(row[1])


class Ledger:
    def __init__(
        self, path: str | os.PathLike[str], *, busy_timeout_ms: int = BUSY_TIMEOUT_MS, sync: str = "full"
    ) -> None:
        if sync not in SYNC_MODES:
            raise ValueError(f"sync must be one of {sorted(SYNC_MODES)}, not {sync!r}")
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        #: the synchronous mode of durable commits (see ledger_sync_from_env)
        self.durable_mode = SYNC_MODES[sync]
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._inline: sqlite3.Connection | None = None
        self._pending: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any], bool]] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._batch_in_flight = False
        self._closing = False

    # --- lifecycle -------------------------------------------------------------------------------

    async def open(self) -> Ledger:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = await aiosqlite.connect(self.path, isolation_level=None, check_same_thread=False)
            await self._writer._execute(_configure, self._writer._conn, self.busy_timeout_ms)
            await self._writer._execute(migrate, self._writer._conn)
            self._reader = await aiosqlite.connect(self.path, isolation_level=None, check_same_thread=False)
            await self._reader._execute(_configure, self._reader._conn, self.busy_timeout_ms)
            self._inline = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            _configure(self._inline, 0)
        except (sqlite3.Error, OSError) as exc:
            await self._close_connections()
            if "locked" in str(exc) or "busy" in str(exc):
                raise _ledger_error(exc, self.path, self.busy_timeout_ms) from None
            raise LedgerError(
                f"cannot open the ledger at {self.path}: {exc}; check the path and its permissions, "
                "or choose another file with --db / MAGSAG_DB",
                db=str(self.path),
            ) from None
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._write_loop(), name="magsag-ledger-writer")
        return self

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            assert self._wake is not None
            self._wake.set()
            await self._task
            self._task = None
        await self._close_connections()

    async def _close_connections(self) -> None:
        for conn in (self._writer, self._reader):
            if conn is not None:
                try:
                    await conn.close()
                except Exception:
                    pass
        self._writer = self._reader = None
        if self._inline is not None:
            self._inline.close()
            self._inline = None

    async def __aenter__(self) -> Ledger:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- the group-commit writer -----------------------------------------------------------------

    async def submit(self, fn: Callable[[sqlite3.Connection], T], *, durable: bool = True) -> T:
        """Run ``fn(conn)`` inside the next group-commit transaction; return its result once committed.

        ``durable=False`` is for state that only has to be atomic and visible to other processes, not to
        survive a power cut (a budget reservation: a lost one frees budget, it never spends it). A batch
        made only of such operations commits without an fsync.
        """
        if self._task is None or self._closing:
            raise LedgerError(f"the ledger at {self.path} is not open")
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((fn, fut, durable))
        self._wake.set()  # type: ignore[union-attr]
        return await fut

    async def _write_loop(self) -> None:
        assert self._wake is not None and self._writer is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            if batch:
                durable = any(d for _, _, d in batch)
                self._batch_in_flight = True
                try:
                    results = await self._writer._execute(
                        _apply_batch,
                        self._writer._conn,
                        [fn for fn, _, _ in batch],
                        self.durable_mode if durable else "NORMAL",
                    )
                except BaseException as exc:  # the whole transaction failed (disk full, locked too long)
                    err = _ledger_error(exc, self.path, self.busy_timeout_ms)
                    for _, fut, _ in batch:
                        if not fut.done():
                            fut.set_exception(err)
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    continue
                finally:
                    self._batch_in_flight = False
                for (_, fut, _), (ok, value) in zip(batch, results, strict=True):
                    if fut.done():
                        continue
                    if ok:
                        fut.set_result(value)
                    else:
                        fut.set_exception(value)
            if self._closing and not self._pending:
                return

    def writer_idle(self) -> bool:
        """Nothing queued and no batch on the writer thread: an inline write cannot overtake another."""
        return not self._pending and not self._batch_in_flight

    def try_now(self, fn: Callable[[sqlite3.Connection], T], *, durable: bool = False) -> tuple[bool, T | None]:
        """Run ``fn`` right here on the event loop, if the write lock is free.

        A budget reservation is a few indexed reads and one insert (tens of microseconds); handing it to
        the writer thread and back costs more than doing it (here ~70 us of CPU per hop, most of it in
        the kernel waking threads). ``durable=True`` commits in :attr:`durable_mode` (by default
        ``synchronous=FULL``): the fsync then
        happens on the event loop, so callers use it only when nothing else is waiting (see
        :meth:`record_call`). The inline connection never waits for a lock (busy timeout 0): when
        another writer holds it, this returns ``(False, None)`` and the caller queues the operation with
        :meth:`submit` instead. Exceptions from ``fn`` propagate.
        """
        conn = self._inline
        if conn is None:
            return False, None
        _set_sync(conn, self.durable_mode if durable else "NORMAL")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return False, None  # locked: take the queue
        try:
            value = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.OperationalError:
            conn.execute("ROLLBACK")  # nothing happened: the caller queues the operation instead
            return False, None
        return True, value

    # --- reads -----------------------------------------------------------------------------------

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._reader is None:
            raise LedgerError(f"the ledger at {self.path} is not open")
        try:
            return await self._reader._execute(fn, self._reader._conn)
        except sqlite3.Error as exc:
            raise _ledger_error(exc, self.path, self.busy_timeout_ms) from None

    # --- records ---------------------------------------------------------------------------------

    async def record_call(
        self,
        run: RunRecord,
        attempts: list[AttemptRecord],
        *,
        error: MagsagError | None = None,
        alone: bool = False,
    ) -> None:
        """A call's run row (created or added to) and all its attempts, in one durable step.

        ``alone`` says no other call is in flight in this process. Then there is nothing to group this
        commit with, and it is made inline on the event loop (one fsync, no thread hop) when the writer
        is idle; with company it joins the group commit, so concurrent calls share one fsync and the
        loop never waits on the disk while other calls could run.
        """
        write = RecordWrite.of(run, attempts)
        if alone and self.writer_idle() and not self._closing:
            try:
                done, _ = self.try_now(write, durable=True)
            except sqlite3.Error:
                done = False  # rolled back; the queue retries it and reports a lasting failure properly
            if done:
                return
        await self.submit(write)

    async def log_event(self, run_id: str | None, agent: str | None, event: str, data: Mapping[str, Any]) -> None:
        if not isinstance(event, str) or not event:
            raise LedgerError("an event needs a non-empty name, e.g. obs.log('model_success', {...})")
        try:
            payload = redact(json.dumps(dict(data), default=str, ensure_ascii=False))
        except (TypeError, ValueError) as exc:
            raise LedgerError(f"event {event!r}: data must be a JSON-like mapping ({exc})") from None
        now = time.time()
        await self.submit(
            lambda conn: conn.execute(
                "INSERT INTO events (run_id, agent, at, event, data) VALUES (?,?,?,?,?)",
                (run_id, agent, now, event, payload),
            )
        )

    async def run_cost(self, run_id: str) -> tuple[Decimal, bool]:
        """Spend recorded for a run and its child runs (delegations), and whether any cost was unknown."""
        cost, unpriced = await self.read(lambda conn: run_scope_totals(conn, run_id))
        return from_pusd(cost) or Decimal(0), unpriced > 0

    # queries live in queries.py; bound here so callers see one object
    async def summarize(self, filters: Any = None) -> dict[str, Any]:
        from .queries import summarize

        return await summarize(self, filters)

    async def query_runs(self, filters: Any = None) -> list[dict[str, Any]]:
        from .queries import query_runs

        return await query_runs(self, filters)

    async def search(self, pattern: str, limit: int = 50, since: str | float | None = None) -> list[dict[str, Any]]:
        from .queries import search

        return await search(self, pattern, limit, since)

    async def prune(self, older_than_seconds: float) -> dict[str, int]:
        from .queries import prune

        return await prune(self, older_than_seconds)


_UPSERT_RUN = (
    "INSERT INTO runs (run_id, agent, skill, parent_run_id, started_at, ended_at, status, calls,"
    " input_tokens, output_tokens, cost_pusd, unpriced_calls) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT(run_id) DO UPDATE SET ended_at = excluded.ended_at,"
    " status = CASE WHEN runs.status IN ('ok', 'running') THEN excluded.status ELSE runs.status END,"
    " calls = runs.calls + excluded.calls, input_tokens = runs.input_tokens + excluded.input_tokens,"
    " output_tokens = runs.output_tokens + excluded.output_tokens,"
    " cost_pusd = runs.cost_pusd + excluded.cost_pusd,"
    " unpriced_calls = runs.unpriced_calls + excluded.unpriced_calls,"
    " skill = CASE WHEN runs.skill = excluded.skill THEN runs.skill ELSE NULL END,"
    " agent = COALESCE(runs.agent, excluded.agent)"
)

_UPSERT_SPEND = (
    "INSERT INTO agent_spend (agent, bucket, cost_pusd) VALUES (?, ?, ?) ON CONFLICT(agent, bucket)"
    " DO UPDATE SET cost_pusd = agent_spend.cost_pusd + excluded.cost_pusd"
)

_UPSERT_ROLLUP = (
    "INSERT INTO usage_rollup (bucket, model, provider, agent, skill, outcome, attempts, input_tokens, output_tokens,"
    " cached_tokens, reasoning_tokens, cost_pusd, unpriced) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT(bucket, model, provider, agent, skill, outcome) DO UPDATE SET"
    " attempts = attempts + excluded.attempts, input_tokens = input_tokens + excluded.input_tokens,"
    " output_tokens = output_tokens + excluded.output_tokens, cached_tokens = cached_tokens + excluded.cached_tokens,"
    " reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens, cost_pusd = cost_pusd + excluded.cost_pusd,"
    " unpriced = unpriced + excluded.unpriced"
)


def _rollup_rows(attempts: list[AttemptRecord]) -> list[tuple[Any, ...]]:
    """Attempts folded into daily usage buckets, so summaries never scan every attempt."""
    acc: dict[tuple[Any, ...], list[int]] = {}
    for a in attempts:
        key = (int(a.started_at // ROLLUP_BUCKET_SECONDS), a.model, a.provider, a.agent or "", a.skill or "", a.outcome)
        row = acc.setdefault(key, [0, 0, 0, 0, 0, 0, 0])
        row[0] += 1
        row[1] += a.input_tokens
        row[2] += a.output_tokens
        row[3] += a.cached_tokens
        row[4] += a.reasoning_tokens
        row[5] += to_pusd(a.cost_usd) or 0
        row[6] += 1 if a.cost_usd is None else 0
    return [(*k, *v) for k, v in acc.items()]


_INSERT_ATTEMPT = (
    "INSERT INTO attempts (run_id, started_at, provider, model, skill, agent, outcome, error_class, error_message,"
    " input_tokens, output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, total_tokens, cost_pusd,"
    " price_source, latency_ms, attempt_number, fallback_position, warnings, reservation_id)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


def _attempt_row(a: AttemptRecord) -> tuple[Any, ...]:
    return (
        a.run_id,
        a.started_at,
        a.provider,
        a.model,
        a.skill,
        a.agent,
        a.outcome,
        a.error_class,
        redact(a.error_message) if a.error_message else None,
        a.input_tokens,
        a.output_tokens,
        a.cached_tokens,
        a.cache_write_tokens,
        a.reasoning_tokens,
        a.input_tokens + a.output_tokens,
        to_pusd(a.cost_usd),
        a.price_source,
        a.latency_ms,
        a.attempt_number,
        a.fallback_position,
        json.dumps(a.warnings) if a.warnings else None,
        a.reservation_id,
    )


class RecordWrite:
    """One call's rows for the ledger: its run row, attempts, usage rollups, agent spend, and the
    budget reservations its attempts release.

    Called with a connection it writes them. :meth:`apply_all` writes the records of many calls with one
    statement per table (rollup and spend rows summed per key first): the group commit uses it, so a
    batch of 200 calls costs five statements, not a thousand.
    """

    __slots__ = ("run", "attempts", "rollup", "spend", "held")

    def __init__(
        self,
        run: tuple[Any, ...],
        attempts: list[tuple[Any, ...]],
        rollup: list[tuple[Any, ...]],
        spend: list[tuple[Any, ...]],
        held: list[int],
    ) -> None:
        self.run, self.attempts, self.rollup, self.spend, self.held = run, attempts, rollup, spend, held

    @classmethod
    def of(cls, run: RunRecord, attempts: list[AttemptRecord]) -> RecordWrite:
        # Unknown cost, whatever the outcome: an unpriced answer, or an attempt cut after it was sent.
        unpriced = sum(1 for a in attempts if a.cost_usd is None)
        cost = sum((to_pusd(a.cost_usd) or 0) for a in attempts)
        run_row = (
            run.run_id,
            run.agent,
            run.skill,
            run.parent_run_id,
            run.started_at,
            run.ended_at,
            run.status,
            1,
            run.input_tokens,
            run.output_tokens,
            cost,
            unpriced,
        )
        spend = [
            (a.agent, int(a.started_at // SPEND_BUCKET_SECONDS), to_pusd(a.cost_usd))
            for a in attempts
            if a.agent is not None and a.cost_usd
        ]
        held = [a.reservation_id for a in attempts if a.reservation_id is not None]
        return cls(run_row, [_attempt_row(a) for a in attempts], _rollup_rows(attempts), spend, held)

    #: see _apply_batch: records go before the batch's budget reservations
    merge_order = 0

    def __call__(self, conn: sqlite3.Connection) -> None:
        self.apply_all(conn, [self])

    @staticmethod
    def apply_all(conn: sqlite3.Connection, writes: list[RecordWrite]) -> list[tuple[bool, Any]]:
        conn.executemany(_UPSERT_RUN, [w.run for w in writes])
        attempts = [row for w in writes for row in w.attempts]
        if attempts:
            conn.executemany(_INSERT_ATTEMPT, attempts)
        # An upsert adds its row's numbers to the stored ones, so rows with one key are summed first.
        rollup: dict[tuple[Any, ...], list[int]] = {}
        for w in writes:
            for row in w.rollup:
                have = rollup.get(row[:6])
                if have is None:
                    rollup[row[:6]] = list(row[6:])
                else:
                    for i, v in enumerate(row[6:]):
                        have[i] += v
        if rollup:
            conn.executemany(_UPSERT_ROLLUP, [(*k, *v) for k, v in rollup.items()])
        spend: dict[tuple[Any, ...], int] = {}
        for w in writes:
            for agent, bucket, cost in w.spend:
                spend[(agent, bucket)] = spend.get((agent, bucket), 0) + cost
        if spend:
            conn.executemany(_UPSERT_SPEND, [(*k, v) for k, v in spend.items()])
        held = [(r,) for w in writes for r in w.held]
        if held:
            conn.executemany("DELETE FROM budget_reservations WHERE id = ?", held)
        return [(True, None)] * len(writes)


def _set_sync(conn: sqlite3.Connection, mode: str) -> None:
    if _SYNC_MODE.get(id(conn)) != mode:  # PRAGMA synchronous only changes outside a transaction
        conn.execute(f"PRAGMA synchronous = {mode}")
        _SYNC_MODE[id(conn)] = mode


def _apply_one(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], Any]) -> tuple[bool, Any]:
    """``fn`` inside a savepoint: its failure undoes only its own writes."""
    conn.execute("SAVEPOINT op")
    try:
        value = fn(conn)
    except Exception as exc:
        conn.execute("ROLLBACK TO op")
        conn.execute("RELEASE op")
        return False, exc
    conn.execute("RELEASE op")
    return True, value


def _apply_batch(
    conn: sqlite3.Connection, fns: list[Callable[[sqlite3.Connection], Any]], mode: str = "FULL"
) -> list[tuple[bool, Any]]:
    _set_sync(conn, mode)
    conn.execute("BEGIN IMMEDIATE")
    try:
        done: dict[int, tuple[bool, Any]] = {}
        # Operations of a kind that can share statements (calls' records, budget reservations: any with
        # apply_all and merge_order) run first, kind by kind in merge order, however many of each there
        # are: records settle reservations, so the reservations after them read the spend as it now
        # stands. Reordering them before the batch's other operations is a valid order: the calls were
        # concurrent. Should a merged group fail (a constraint, a value SQLite cannot bind), its
        # operations are tried one at a time in its place, so that only the bad one fails.
        kinds: dict[type, list[int]] = {}
        for i, fn in enumerate(fns):
            if hasattr(fn, "merge_order"):
                kinds.setdefault(type(fn), []).append(i)
        for kind, members in sorted(kinds.items(), key=lambda item: item[0].merge_order):
            if len(members) > 1:
                conn.execute("SAVEPOINT merged")
                try:
                    outcomes = kind.apply_all(conn, [fns[i] for i in members])
                except Exception:
                    conn.execute("ROLLBACK TO merged")
                    outcomes = None
                conn.execute("RELEASE merged")
                if outcomes is not None:
                    done.update(zip(members, outcomes, strict=True))
                    continue
            for i in members:
                done[i] = _apply_one(conn, fns[i])
        results = [done[i] if i in done else _apply_one(conn, fn) for i, fn in enumerate(fns)]
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return results


def _ledger_error(exc: BaseException, path: Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> LedgerError:
    if isinstance(exc, LedgerError):
        return exc
    text = str(exc)
    if "locked" in text or "busy" in text:
        return LedgerError(
            f"the ledger at {path} stayed locked for {busy_timeout_ms / 1000:g}s by another process; "
            "retry, or stop the process holding it",
            db=str(path),
        )
    return LedgerError(f"ledger error at {path}: {text}", db=str(path))
