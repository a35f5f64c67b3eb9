"""The ledger's write path: a call's rows (:class:`RecordWrite`), its run row, attempts, usage rollups, agent and
day spend, and the statements that write them, for one call or a batch of them together.

:class:`~magsag_mcp.ledger.store.Ledger` queues them; :func:`~.group_commit.apply_batch` runs them with the batch's
other operations in one transaction.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from dataclasses import replace
from decimal import Decimal
from typing import Any

from ..errors import InputError, redact
from ..records import AttemptRecord, RunRecord
from .abandoned import unrecord_abandoned
from .cache_hits import INSERT_CACHE_HIT, cache_hit_row
from .migrations import SPEND_BUCKET_SECONDS
from .money import checked_add, to_pusd
from .rollup_rows import ROLLUP_PLAIN_WIDTH
from .rollup_rows import UPSERT_ROLLUP as _UPSERT_ROLLUP
from .rollup_rows import UPSERT_ROLLUP_PARTS as _UPSERT_ROLLUP_PARTS
from .rollup_rows import add_parts as _add_parts
from .rollup_rows import rollup_rows as _rollup_rows
from .run_scope import ADOPT_DELEGATED_HOLDS, delegated_in_flight, topped
from .sealed_spend import untouched

# Python 3.11's sqlite3 binds None through its adapter protocol: with no adapter registered it looks
# up ``PrepareProtocol.__adapt__``, and the miss builds and drops an AttributeError, about 2,100
# instructions per None bound (a recorded call binds 8 to 9: no error, no parent, no tier...). An
# adapter that returns None as it is binds the same NULL at about a third of that. A None adapter
# the process registered first is left as it is.
sqlite3.adapters.setdefault((type(None), sqlite3.PrepareProtocol), {}.get)

# Even so, a None bound costs some 1,100 instructions more than a float (the adapter's key tuple built, looked up and
# the adapter called), and a recorded call's rows hold 7 to 9 of them. SQLite stores a bound NaN as NULL (its
# sqlite3VdbeMemSetDouble, since its ticket #3060: "SQLite should always convert NaN into NULL"), and the sqlite3
# module binds a float as it is, with no adapter asked: so a record's rows bind NaN for the NULLs that no Python code
# reads back (a run's parent and an attempt's reservation id are read, and stay None). An adapter for float registered
# by the process would be handed the NaN and could write something else: the rows then bind None, as before.
_NAN = float("nan")
_FLOAT_ADAPTED = (float, sqlite3.PrepareProtocol)


def _null() -> float | None:
    """What a record's rows bind for NULL (see ``_NAN``)."""
    return None if _FLOAT_ADAPTED in sqlite3.adapters else _NAN


_UPSERT_RUN = (
    "INSERT INTO runs (run_id, agent, skill, parent_run_id, started_at, ended_at, status, calls,"
    " input_tokens, output_tokens, cost_pusd, unpriced_calls, cost_bound_pusd, error_class, error_message)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    # A run's calls made at once are recorded as they end, not as they began (a slow call begun first is recorded
    # after a quick one begun later; a record kept while the ledger refused it, another process's, comes later
    # still): the run began with the first of them and ended with the last, whichever was recorded first.
    " ON CONFLICT(run_id) DO UPDATE SET started_at = MIN(runs.started_at, excluded.started_at),"
    " ended_at = MAX(COALESCE(runs.ended_at, excluded.ended_at), COALESCE(excluded.ended_at, runs.ended_at)),"
    " error_class = COALESCE(excluded.error_class, runs.error_class),"
    " error_message = COALESCE(excluded.error_message, runs.error_message),"
    " status = CASE WHEN runs.status IN ('ok', 'running') THEN excluded.status ELSE runs.status END,"
    " calls = runs.calls + excluded.calls, input_tokens = runs.input_tokens + excluded.input_tokens,"
    " output_tokens = runs.output_tokens + excluded.output_tokens,"
    f" {checked_add('runs', 'cost_pusd')},"
    " unpriced_calls = runs.unpriced_calls + excluded.unpriced_calls,"
    f" {checked_add('runs', 'cost_bound_pusd')},"
    # (a record of no call, an agent run's end, leaves the run's skill as its calls made it)
    " skill = CASE WHEN runs.skill = excluded.skill OR excluded.calls = 0 THEN runs.skill ELSE NULL END,"
    " agent = COALESCE(runs.agent, excluded.agent)"
)

_UPSERT_SPEND = (
    "INSERT INTO agent_spend (agent, bucket, cost_pusd, cost_bound_pusd) VALUES (?, ?, ?, ?)"
    f" ON CONFLICT(agent, bucket) DO UPDATE SET {checked_add('agent_spend', 'cost_pusd')},"
    f" {checked_add('agent_spend', 'cost_bound_pusd')}"
)

_UPSERT_DAY = (
    "INSERT INTO day_spend (bucket, cost_pusd, cost_bound_pusd) VALUES (?, ?, ?)"
    f" ON CONFLICT(bucket) DO UPDATE SET {checked_add('day_spend', 'cost_pusd')},"
    f" {checked_add('day_spend', 'cost_bound_pusd')}"
)

_INSERT_ATTEMPT = (
    "INSERT INTO attempts (run_id, started_at, provider, model, skill, agent, outcome, error_class, error_message,"
    " input_tokens, output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, total_tokens, cost_pusd,"
    " price_source, latency_ms, attempt_number, fallback_position, warnings, reservation_id, cost_bound_pusd,"
    " service_tier, cache_write_1h_tokens, input_audio_tokens, output_audio_tokens, served_model, data_classes,"
    " endpoint, output_image_tokens, inference_geo, server_tool_uses, cache_write_ttl_unsaid_tokens,"
    " cache_write_split_past_tokens, paused_id, continues_paused_id,"
    " call_cost_pusd) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


#: the outcomes of an attempt never sent (refused before any request left: no key or endpoint, a policy, a limit)
NEVER_SENT = frozenset(("skipped", "policy_denied", "budget_exceeded"))
_ZERO = Decimal(0)

#: where :func:`_attempt_row` puts the attempt's reservation id
_RESERVATION_ID = 21


def _attempt_row(a: AttemptRecord, cost: int | None, bound: int | None) -> tuple[Any, ...]:
    """``cost`` and ``bound``: the attempt's cost_usd and cost_bound_usd in pico-USD. The row's last value, the
    call's cost, is NULL: :meth:`RecordWrite.of` sets it on the call's last attempt that reached a provider. Its
    NULLs are bound as NaN (see ``_NAN``), but for the reservation id, which the record's statements read."""
    null = _null()
    return (
        a.run_id,
        a.started_at,
        a.provider,
        a.model,
        null if (skill := a.skill) is None else skill,
        null if (agent := a.agent) is None else agent,
        a.outcome,
        null if (error_class := a.error_class) is None else error_class,
        redact(a.error_message) if a.error_message else null,
        a.input_tokens,
        a.output_tokens,
        a.cached_tokens,
        a.cache_write_tokens,
        a.reasoning_tokens,
        a.input_tokens + a.output_tokens,
        null if cost is None else cost,
        null if (source := a.price_source) is None else source,
        a.latency_ms,
        a.attempt_number,
        a.fallback_position,
        json.dumps(a.warnings) if a.warnings else null,
        a.reservation_id,
        null if bound is None else bound,
        null if (tier := a.service_tier) is None else tier,
        a.cache_write_1h_tokens,
        a.input_audio_tokens,
        a.output_audio_tokens,
        null if (served := a.served_model) is None else served,
        classes_text(classes) if (classes := a.data_classes) else null,
        null if (endpoint := a.endpoint) is None else endpoint,
        null if (images := a.output_image_tokens) is None else images,
        null if (geo := a.inference_geo) is None else geo,
        null if (uses := a.server_tool_uses) is None else _tool_uses_column(uses),
        a.cache_write_ttl_unsaid_tokens,
        a.cache_write_split_past_tokens,
        null if (paused := a.paused_id) is None else paused,
        null if (continues := a.continues_paused_id) is None else continues,
        null,
    )


@functools.lru_cache(maxsize=64)
def classes_text(classes: tuple[str, ...]) -> str:
    """An attempt's data classes as the ledger keeps them (0027): a JSON list, in the order they applied. Kept per
    tuple: a service's calls hold a few such tuples, each made once."""
    return json.dumps(list(classes), ensure_ascii=False)


def tool_uses_text(uses: dict[str, int]) -> str:
    """An attempt's per-use server tool calls as the ledger keeps them (0030) and the CSV writes them: a JSON object of
    counts by kind, its keys sorted (``{"file_search": 1, "web_search": 2}``), so that the same calls are the same
    text whatever order the answer listed them in; ``{}`` for none.

    Written out where every key is an ASCII identifier and every count an ``int`` (every kind a provider here
    reports: ``web_search``, ...), which ``json.dumps`` writes without an escape, as ``"key": count`` joined by
    ``", "``: the same bytes, at a third of its cost or less (json.dumps with sort_keys makes an encoder at every
    call: 6-8 us of a recorded call's write, where this is 2-4 us; 0.05 us for none; medians of timeit). Any other
    dict (a key to escape, a bool, a float, an int subclass a caller of Ledger.record_call gave) is json.dumps' to
    write, as before."""
    if not uses:
        return "{}"
    parts = []
    for key, count in sorted(uses.items()):
        if type(key) is not str or type(count) is not int or not key.isascii() or not key.isidentifier():
            return json.dumps(uses, sort_keys=True)
        parts.append(f'"{key}": {count}')
    return "{" + ", ".join(parts) + "}"


def _tool_uses_column(uses: dict[str, int]) -> str:
    """:func:`tool_uses_text` of an attempt being recorded, its counts checked: each a whole number of calls, 0 or
    more, under a name. A caller of Ledger.record_call may give any dict, and a summary sums every kind from the
    attempts (rollup_reads.other_tool_uses): a NaN kept (json.dumps writes it, SQLite reads no such JSON) failed every
    later summary, and a float, bool or negative count was summed as a number of calls it is not."""
    for kind, count in uses.items():
        if not isinstance(count, int) or isinstance(count, bool) or count < 0 or type(kind) is not str or not kind:
            raise InputError(
                f"server_tool_uses {{{kind!r}: {count!r}}}: a count of server tool calls is a whole number, 0 or more,"
                " under the tool's API name (e.g. {'web_search': 2}); fix the attempt's server_tool_uses (nothing of"
                " the call was recorded)"
            )
    return tool_uses_text(uses)


#: an attempt's token counts, each a whole number, 0 or more (output_image_tokens may be None: not said)
_ATTEMPT_COUNTS = (
    "input_tokens", "output_tokens", "cached_tokens", "cache_write_tokens", "reasoning_tokens",
    "cache_write_1h_tokens", "cache_write_ttl_unsaid_tokens", "cache_write_split_past_tokens", "input_audio_tokens",
    "output_audio_tokens", "output_image_tokens",
)  # fmt: skip


def _counts_refused(record: Any, names: tuple[str, ...], which: str) -> InputError:
    """The refusal of a record whose token counts :func:`_checked_counts` found wrong: the first that is no whole
    number of 0 or more, named with the fix."""
    for name in names:
        value = getattr(record, name)
        if value is None and name == "output_image_tokens":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return InputError(
                f"{which}'s {name} is {value!r}: a count of tokens is a whole number, 0 or more (0 where the answer "
                f"counted none); fix its {name} (nothing of the call was recorded)",
                field=name,
            )
    return InputError(f"{which}'s token counts are no whole numbers; fix them (nothing of the call was recorded)")


def _checked_counts(run: RunRecord, attempts: list[AttemptRecord]) -> None:
    """Refuse a record (a caller of Ledger.record_call's: the router fills them from its own counts) whose token counts
    are None, negative or no whole number, before anything is written. A None failed the record with a TypeError that
    named nothing; a negative count was kept, and summed into every later summary, rollup and run as tokens the call
    never had. One test of them all: ``|`` of ints is negative where any is, and raises for None, a float or text; a
    bool, an int to ``|``, is told by its type."""
    try:
        # (a bool is an int to ``|``: True would be kept as 1 token, False as none, where the slow path refuses them)
        bad = (run.input_tokens | run.output_tokens) < 0 or bool in (type(run.input_tokens), type(run.output_tokens))
    except TypeError:
        bad = True
    if bad:
        raise _counts_refused(run, ("input_tokens", "output_tokens"), f"run {run.run_id!r}")
    for i, a in enumerate(attempts):
        inp, out, cached, write, reasoning, write_1h, unsaid, past, audio_in, audio_out, image = (
            a.input_tokens, a.output_tokens, a.cached_tokens, a.cache_write_tokens, a.reasoning_tokens,
            a.cache_write_1h_tokens, a.cache_write_ttl_unsaid_tokens, a.cache_write_split_past_tokens,
            a.input_audio_tokens, a.output_audio_tokens,
            # (None alone is "not said": ``or 0`` let False, "" and 0.0 through as one)
            0 if a.output_image_tokens is None else a.output_image_tokens,
        )  # fmt: skip
        try:
            # Written out, not as reduce(or_, counts) and ``bool in set(map(type, counts))``: those cost some 6,800
            # instructions an attempt (callgrind, 20,000 checks), this some 2,700 (the sixty-second round).
            bad = (
                inp | out | cached | write | reasoning | write_1h | unsaid | past | audio_in | audio_out | image
            ) < 0 or (
                type(inp) is bool or type(out) is bool or type(cached) is bool or type(write) is bool
                or type(reasoning) is bool or type(write_1h) is bool or type(unsaid) is bool or type(past) is bool
                or type(audio_in) is bool or type(audio_out) is bool or type(image) is bool
            )  # fmt: skip
        except TypeError:
            bad = True
        if bad:
            raise _counts_refused(a, _ATTEMPT_COUNTS, f"attempt {i + 1} ({a.provider}:{a.model})")


class RecordWrite:
    """One call's rows for the ledger: its run row, attempts, usage rollups, agent and day spend, and the
    budget reservations its attempts release.

    Called with a connection it writes them. :meth:`apply_all` writes the records of many calls with one
    statement per table (rollup and spend rows summed per key first): the group commit uses it, so a
    batch of 200 calls costs five statements, not a thousand.
    """

    __slots__ = ("run", "attempts", "rollup", "spend", "day", "held", "hits")

    def __init__(
        self,
        run: tuple[Any, ...],
        attempts: list[tuple[Any, ...]],
        rollup: list[tuple[Any, ...]],
        spend: list[tuple[Any, ...]],
        day: list[tuple[Any, ...]],
        held: list[int],
        hits: list[tuple[Any, ...]] | tuple[()] = (),
    ) -> None:
        #: ``rollup``, ``spend`` (agent, bucket, cost, bound) and ``day`` (bucket, cost, bound): one row per key,
        #: each ready for its statement
        self.run, self.attempts, self.rollup, self.spend, self.day, self.held = run, attempts, rollup, spend, day, held
        #: its attempts answered from the answer cache, as cache_hits rows (see answer_cache.py)
        self.hits = hits

    @classmethod
    def of(cls, run: RunRecord, attempts: list[AttemptRecord], error: Any = None) -> RecordWrite:
        """``error``: the MagsagError the call ended with, if any (its kind and message are kept)."""
        # One pass over the attempts (most calls have one): a comprehension or generator per figure made
        # ten function frames a record. Each attempt's cost and bound in pico-USD, converted once: a
        # Decimal's conversion takes about 4,000 instructions, and every row below reads them.
        money: list[tuple[int | None, int | None]] = []
        rows: list[tuple[Any, ...]] = []
        spend: list[tuple[Any, ...]] = []  # (agent, bucket, cost, bound) of the attempts with an agent
        day: list[tuple[Any, ...]] = []  # (bucket, cost, bound): the day's spend of every attempt
        held: list[int] = []
        hits: list[tuple[Any, ...]] | tuple[()] = ()
        _checked_counts(run, attempts)
        unpriced = cost = bound = 0
        last = -1  # the call's last attempt that reached a provider: the call counts under it
        given = attempts
        for i, a in enumerate(given):
            if a.cost_usd is None and a.cost_bound_usd is None and a.outcome in NEVER_SENT:
                # Never sent, it cost exactly $0: with no cost given it was written NULL, an unknown cost, counted
                # among the unpriced. Written at $0 (the caller's record and list left as they were)
                if attempts is given:
                    attempts = list(given)
                a = attempts[i] = replace(a, cost_usd=_ZERO)
            c, b = to_pusd(a.cost_usd), to_pusd(a.cost_bound_usd)
            money.append((c, b))
            rows.append(_attempt_row(a, c, b))
            cost += c or 0
            if a.cost_usd is None:
                # Unknown cost, whatever the outcome: an unpriced answer, or an attempt cut after it was
                # sent. Its estimated worst case (the bound) is what budget limits count.
                unpriced += 1
                bound += b or 0
            if a.cost_usd or (a.cost_usd is None and a.cost_bound_usd):
                bucket = int(a.started_at // SPEND_BUCKET_SECONDS)
                paid, unknown = c or 0, 0 if a.cost_usd is not None else b or 0
                if a.agent is not None:
                    spend.append((a.agent, bucket, paid, unknown))
                day.append((bucket, paid, unknown))
            if a.reservation_id is not None and a.reservation_id not in held:  # (a hop may take an attempt's over)
                held.append(a.reservation_id)
            if a.outcome == "ok" or a.outcome == "error":
                last = i
                if a.price_source == "cache":
                    hits = [cache_hit_row(a)]  # (a call's last attempt: its answer, found in the cache)
        if last >= 0:  # what the call limit counts: its attempts together, an unknown cost at its bound
            rows[last] = (*rows[last][:-1], cost + bound)
        if len(day) > 1:  # (rare: several attempts of a call spent) one row per key, as apply_all writes them
            spend, day = _summed(spend, 2), _summed(day, 1)
        null = _null()  # (the run's parent stays None: the record's statements read it)
        run_row = (
            run.run_id,
            null if (agent := run.agent) is None else agent,
            null if (skill := run.skill) is None else skill,
            run.parent_run_id,
            run.started_at,
            null if (ended := run.ended_at) is None else ended,
            run.status,
            run.calls,
            run.input_tokens,
            run.output_tokens,
            cost,
            unpriced,
            bound,
            null if error is None else error.kind,
            null if error is None else redact(error.message)[:1000],
        )
        return cls(run_row, rows, _rollup_rows(attempts, money, last, cost + bound), spend, day, held, hits)

    #: see group_commit.apply_batch: records go before the batch's budget reservations
    merge_order = 0

    def __call__(self, conn: sqlite3.Connection) -> None:
        self.apply_all(conn, [self])

    @staticmethod
    def apply_all(conn: sqlite3.Connection, writes: list[RecordWrite]) -> list[tuple[bool, Any]]:
        # One cursor for the statements below: conn.execute and conn.executemany each make (and drop) a
        # cursor of their own, a few thousand instructions each, and a record is six statements.
        cur = conn.cursor()
        if len(writes) == 1:  # a lone call's record (most): its rows are one per key already, nothing to sum
            w = writes[0]
            held = []
            for r in w.held:  # (a loop: a comprehension is a frame of its own)
                held.append((r,))
            _write(conn, cur, writes, held, [w.run], w.attempts, w.rollup, w.spend, w.day)
            return [(True, None)]
        # The statements' rows, in one pass over the writes (no comprehension per statement: a frame each).
        # An upsert adds its row's numbers to the stored ones, so rollup and spend rows with one key are
        # summed first; each is kept as its whole row (key and numbers), which the statement takes as it is.
        held = []
        runs: list[tuple[Any, ...]] = []
        attempts: list[tuple[Any, ...]] = []
        rollup: dict[tuple[Any, ...], list[Any]] = {}
        #: agent_spend: (agent, bucket) -> [agent, bucket, cost, bound]
        spend: dict[tuple[Any, ...], list[Any]] = {}
        #: day_spend, the day's spend of every call together: bucket -> [bucket, cost, bound]
        day: dict[int, list[Any]] = {}
        for w in writes:
            for r in w.held:
                held.append((r,))
            runs.append(w.run)
            attempts += w.attempts
            for row in w.rollup:
                have = rollup.get(row[:6])
                if have is None:
                    rollup[row[:6]] = list(row)
                else:
                    for i in range(6, 15):
                        have[i] += row[i]
                    if row[15] > have[15]:  # the costlier call (see _rollup_rows), the first of equal ones
                        have[15], have[16], have[17] = row[15], row[16], row[17]
                    for i in range(18, min(len(row), ROLLUP_PLAIN_WIDTH)):  # calls, cache writes, their 1-hour part
                        have[i] += row[i]
                    _add_parts(have, row[ROLLUP_PLAIN_WIDTH:])
            for agent, bucket, cost, bound in w.spend:
                have = spend.get((agent, bucket))
                if have is None:
                    spend[(agent, bucket)] = [agent, bucket, cost, bound]
                else:
                    have[2] += cost
                    have[3] += bound
            for bucket, cost, bound in w.day:
                have = day.get(bucket)
                if have is None:
                    day[bucket] = [bucket, cost, bound]
                else:
                    have[1] += cost
                    have[2] += bound
        _write(conn, cur, writes, held, runs, attempts, rollup.values(), spend.values(), day.values())
        return [(True, None)] * len(writes)


def _summed(rows: list[tuple[Any, ...]], width: int) -> list[tuple[Any, ...]]:
    """``rows`` with those of one key (their first ``width`` columns) summed into one, in the order keys first come."""
    out: dict[tuple[Any, ...], list[Any]] = {}
    for row in rows:
        have = out.get(row[:width])
        if have is None:
            out[row[:width]] = list(row)
        else:
            for i in range(width, len(row)):
                have[i] += row[i]
    return list(map(tuple, out.values()))


def _write(
    conn: sqlite3.Connection,
    cur: sqlite3.Cursor,
    writes: list[RecordWrite],
    held: list[tuple[int]],
    runs: list[tuple[Any, ...]],
    attempts: list[tuple[Any, ...]],
    rollup: Any,
    spend: Any,
    day: Any,
) -> None:
    """The records' statements, a table at a time (see :meth:`RecordWrite.apply_all`)."""
    # A call that names no parent, of a run whose first call (delegated) is still in flight and so not recorded yet: the
    # run is delegated from the run that call reserved against, as its own reservation was (see
    # governance.budget.Reservation). Recorded first with no parent, the run stayed a top run for good (a record keeps
    # the parent it was first written with), and the delegated call's spend left its parent's tree and limit.
    # Looked up once for the batch (the delegated runs in flight are few): a lookup per run read every call in flight.
    # Read before the batch's own reservations go: a delegated call recorded in the same batch (or the one recorded,
    # whose reservation names the run it was made against) is in flight until then.
    delegated = delegated_in_flight(cur)
    since = conn.total_changes  # (the month's kept sums stand after these writes where no spend lands among them)
    if held and cur.executemany("DELETE FROM budget_reservations WHERE id = ?", held).rowcount < len(held):
        # A reservation already gone: it expired and another process recorded it as an abandoned
        # attempt. This record is that attempt's real outcome, so the stand-in goes first (before the
        # run's row is added to, so that a run row made only for the stand-in is made afresh).
        for w in writes:
            for row in w.attempts:
                if row[_RESERVATION_ID] is not None:
                    unrecord_abandoned(conn, row[0], row[_RESERVATION_ID])
        since = -1  # (its spend went from a bucket of its own: the kept sums are read again)
    if delegated:
        runs = [r if r[3] is not None or r[0] not in delegated else (*r[:3], delegated[r[0]], *r[4:]) for r in runs]
    runs = topped(cur, runs, delegated)  # (a parent placed under another run since its call read it: see topped)
    for run in runs:  # (a loop: a comprehension is a frame of its own)
        if run[3] is not None and run[3] != run[0]:
            # placed under its parent (by a call refused before it reserved, whose reservation would have done it): the
            # holds of runs delegated from it, their calls in flight, count against that parent's limit from now on
            cur.execute(ADOPT_DELEGATED_HOLDS, (run[3], run[0]))
    cur.executemany(_UPSERT_RUN, runs)
    if attempts:
        cur.executemany(_INSERT_ATTEMPT, attempts)
    if rollup:
        # a row holding parts of a bill binds them (see _UPSERT_ROLLUP_PARTS); the rest bind what they did before 0031.
        # Most batches hold none: their rows go whole, not sorted into two new lists (a loop of our opcodes a row)
        if max(map(len, rollup)) <= ROLLUP_PLAIN_WIDTH:
            cur.executemany(_UPSERT_ROLLUP, rollup)
        else:
            plain: list[Any] = []
            parted: list[Any] = []
            for row in rollup:
                (parted if len(row) > ROLLUP_PLAIN_WIDTH else plain).append(row)
            if plain:
                cur.executemany(_UPSERT_ROLLUP, plain)
            if parted:
                cur.executemany(_UPSERT_ROLLUP_PARTS, parted)
    if spend:
        cur.executemany(_UPSERT_SPEND, spend)
    if day:
        cur.executemany(_UPSERT_DAY, day)
    for w in writes:
        if w.hits:
            cur.executemany(INSERT_CACHE_HIT, w.hits)
    if since >= 0:
        untouched(conn, since, spend, day)
