"""``magsag data prune``: delete what is older than a cutoff, some UTC days per transaction, then vacuum.

Every transaction holds the ledger's write lock, and every recorded call (in every process) waits
for it. Deleting half of a year-long, 1,000,000-attempt ledger in one transaction held it for 10 s
(each deleted row also leaves five indexes on attempts and five on runs); in steps of about
:data:`STEP_ATTEMPTS` attempts, each step holds it for a few hundred milliseconds and calls are
recorded between the steps. A step ends at a UTC midnight, so it takes a day's attempts with that
day's ``usage_rollup`` rows: after each step summaries still equal a scan of the attempts, and a
prune stopped half-way leaves the oldest days pruned and the rest whole.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import InputError, LedgerError
from .connection import truncate_log
from .migrations import ROLLUP_BUCKET_SECONDS, SPEND_BUCKET_SECONDS
from .rollup_reads import (
    ATTEMPT_BILLING_PARTS,
    ATTEMPT_CACHE_WRITES,
    ATTEMPT_CALL_MAX,
    ATTEMPT_CALLS,
    ATTEMPT_MONEY,
    ROLLUP_PART_COLUMNS,
)

if TYPE_CHECKING:
    from .reports import LedgerReports

BUCKET = ROLLUP_BUCKET_SECONDS
#: spend buckets a prune keeps before its cutoff: 33 days, more than the longest local month (31 days, and a day's
#: offset from UTC either way): a month limit counts every bucket of its month, and a prune with a retention of days
#: (``--older-than 7d``) that dropped the month's first weeks started the limit again from what was left
SPEND_KEEP_BUCKETS = 33 * 86400 // SPEND_BUCKET_SECONDS
#: how long a run's row outlives the run's last call, whatever the cutoff: its spend is what the run's limit
#: counts, and a run goes on after a pause (an MCP session's, an agent's between delegations), where a row
#: pruned by ``--older-than 1h`` started its limit again from $0
RUN_KEEP_SECONDS = 2 * 86400


#: attempts a prune step deletes, give or take a day's: a step's lock hold grows with it, the
#: number of commits (an fsync each) with its inverse. Pruning 509,000 of a year's 1,000,000 attempts:
#: one transaction held the lock 10.4 s (13 s in all); steps of 10,000 held it at most 0.5-0.6 s
#: (18 s in all); steps of one day (2,700) at most 0.3 s, but 26 s in all.
STEP_ATTEMPTS = 10_000

#: the event a prune leaves at its cutoff, the ledger's oldest event from then on: a summary of a window that begins
#: before it read $0 and ``cost_complete`` true for months whose calls the prune had deleted, with no word that any
#: were (:func:`pruned_note`). At the cutoff, not at the prune's own time, so that the next prune deletes it as it
#: writes its own; written with no run, as :func:`pruned_before` reads only run-less marks (down 0035's index).
PRUNED_EVENT = "ledger_pruned"
#: an event that is a prune's mark: 0035's index's condition, the name as a literal. :data:`_LATEST_MARK` names the
#: index, and SQLite plans a statement that names one before any value is bound: with the name bound it refuses it ("no
#: query solution"). (A statement naming no index, as a step's, is planned again with the values bound, and takes the
#: index either way.)
_IS_MARK = f"event = '{PRUNED_EVENT}'"


def _delete_before(
    conn: sqlite3.Connection, end: float, *, cutoff: bool, runs_before: float, pruned_at: float | None = None
) -> dict[str, int]:
    """Delete what started before ``end``: a UTC day's end, or (``cutoff``) the cutoff itself, which
    also rebuilds the cutoff's partial day in the rollup and trims the spend buckets; and the rows of
    runs idle since before ``runs_before`` (see :data:`RUN_KEEP_SECONDS`). Where it deleted some, it marks
    ``end`` (:func:`_mark`; ``pruned_at``: when the prune began, else now). Returns the counts."""
    counts = {
        "attempts": conn.execute("DELETE FROM attempts WHERE started_at < ?", (end,)).rowcount,
        # A run's row is its spend, which its run limit counts: it stays while the run has calls left, a call
        # in flight (a reservation: its attempt_run_id, and run_id for a run delegating to it), a call since
        # runs_before (its ended_at), or a delegated run that still has one (a delegating run's own calls may
        # all be old while its delegated runs go on spending its budget).
        "runs": conn.execute(
            "DELETE FROM runs WHERE started_at < :before AND coalesce(ended_at, started_at) < :before"
            " AND run_id NOT IN (SELECT run_id FROM attempts)"
            " AND run_id NOT IN (SELECT run_id FROM budget_reservations WHERE run_id IS NOT NULL)"
            " AND run_id NOT IN (SELECT attempt_run_id FROM budget_reservations WHERE attempt_run_id IS NOT NULL)"
            " AND NOT EXISTS (SELECT 1 FROM runs AS d WHERE d.parent_run_id = runs.run_id AND d.run_id != runs.run_id"
            " AND (coalesce(d.ended_at, d.started_at) >= :before OR d.run_id IN (SELECT run_id FROM attempts)))",
            {"before": min(end, runs_before)},
        ).rowcount,
        "events": conn.execute("DELETE FROM events WHERE at < ? AND event != ?", (end, PRUNED_EVENT)).rowcount,
        "answers": 0,  # the answer cache's, below
    }
    # the calls the answer cache answered go with their attempts (a summary's cache figures count what is left)
    conn.execute("DELETE FROM cache_hits WHERE started_at < ?", (end,))
    if counts["attempts"] or cutoff:
        # and so do the answers stored before ``end``, and those whose run has no attempt left: a hit's warning names
        # the run that paid for its answer, which query_runs no longer finds, and the answer is a record of that call
        # as much as its attempt was (a prune for retention keeps no prompt's answer past its cutoff). At the cutoff
        # whatever this step deleted: a ledger pruned before answers went with their runs holds such answers, and a
        # prune that finds no attempt to delete must still take them (one scan of at most MAX_ENTRIES rows a prune)
        # (counted, as `magsag cache clear` counts what it deletes: the prune's output said nothing of them)
        counts["answers"] = conn.execute(
            "DELETE FROM answer_cache WHERE created_at < ?"
            " OR NOT EXISTS (SELECT 1 FROM attempts WHERE attempts.run_id = answer_cache.run_id)",
            (end,),
        ).rowcount
    if any(counts.values()):
        _mark(conn, end, time.time() if pruned_at is None else pruned_at)
    if not cutoff:  # end is midnight UTC: the days before it are gone whole, and so are their rollups
        conn.execute("DELETE FROM usage_rollup WHERE bucket < ?", (int(end // BUCKET),))
        return counts
    # Spend buckets older than 33 days before the cutoff can no longer be part of any day's or month's limit: a
    # local day lasts up to 26 hours (a 2-hour DST shift, as in Antarctica/Troll; 25 in Europe), so
    # keeping only 24 hours dropped the start of a long day while it was still today; a month, 31 of them.
    keep_from = int(end // SPEND_BUCKET_SECONDS) - SPEND_KEEP_BUCKETS
    conn.execute("DELETE FROM agent_spend WHERE bucket < ?", (keep_from,))
    conn.execute("DELETE FROM day_spend WHERE bucket < ?", (keep_from,))
    # The rollup is by UTC day: the cutoff's own day loses only some of its attempts, so that day's
    # rows are rebuilt from the attempts that remain (summaries must equal a scan of attempts).
    day = int(end // BUCKET)
    conn.execute("DELETE FROM usage_rollup WHERE bucket <= ?", (day,))
    conn.execute(
        "INSERT INTO usage_rollup (bucket, model, provider, agent, skill, outcome, attempts, input_tokens,"
        " output_tokens, cached_tokens, reasoning_tokens, cost_pusd, unpriced, cost_bound_pusd, bounded, call_max_pusd,"
        f" call_max_run_id, call_max_at, calls, cache_write_tokens, cache_write_1h_tokens{_PARTS_REBUILT})"
        " SELECT ?, model, provider, coalesce(agent, ''), coalesce(skill, ''), outcome, COUNT(*),"
        " SUM(input_tokens), SUM(output_tokens), SUM(cached_tokens), SUM(reasoning_tokens),"
        f" {ATTEMPT_MONEY}, {ATTEMPT_CALL_MAX}, {ATTEMPT_CALLS}, {ATTEMPT_CACHE_WRITES}{_PARTS_SUMMED}"
        " FROM attempts WHERE started_at >= ? AND started_at < ?"
        " GROUP BY 2, 3, 4, 5, 6",
        (day, day * BUCKET, (day + 1) * BUCKET),
    )
    return counts


#: the parts of a bill (0031) a rebuilt rollup row holds, and their sums over its attempts (after a comma)
_PARTS_REBUILT = "".join(f", {column}" for column in ROLLUP_PART_COLUMNS)
_PARTS_SUMMED = f", {ATTEMPT_BILLING_PARTS}"


#: a mark at or after a step's end, and the marks before it, each read down 0035's index: by the time index, the look
#: for a later mark walked every event after the end (47 ms a step past a 90-day cutoff of a 1,000,000-event ledger,
#: the write lock held)
_MARK_FROM = f"SELECT 1 FROM events WHERE at >= ? AND {_IS_MARK} LIMIT 1"
_DELETE_MARKS_BEFORE = f"DELETE FROM events WHERE at < ? AND {_IS_MARK}"


def _mark(conn: sqlite3.Connection, end: float, pruned_at: float) -> None:
    """The :data:`PRUNED_EVENT` at ``end``, what a step deleted before, in place of an earlier step's or prune's
    (each step's, so that a prune stopped half-way is marked where it stopped); none where an earlier prune's mark
    stands later (a longer retention given after a shorter one)."""
    if conn.execute(_MARK_FROM, (end,)).fetchone():
        return
    conn.execute(_DELETE_MARKS_BEFORE, (end,))
    data = json.dumps({"before": _iso(end), "pruned_at": _iso(pruned_at)})
    conn.execute(
        "INSERT INTO events (run_id, agent, at, event, data) VALUES (NULL, NULL, ?, ?, ?)", (end, PRUNED_EVENT, data)
    )


#: 0035_events_prune_marks: the marks alone, by time
_MARKS_INDEX = "events_prune_marks"
#: how the latest prune mark is read: the latest by time among the marks written with no run (:func:`_mark`), wherever
#: it stands among the ledger's events (read among the oldest 256 events, a mark behind more events written with an
#: earlier time, a clock set back or a ledger's events copied in, was not found, and a summary over pruned months said
#: nothing of them). One step down 0035's index, named: without it SQLite took events_run for ``run_id IS NULL`` and
#: sorted every run-less event (0.29-0.36 s of a ledger of 1,000,000 events, 500,000 of them run-less)
_LATEST_MARK = (
    f"SELECT at, data FROM events INDEXED BY {_MARKS_INDEX} WHERE {_IS_MARK} AND run_id IS NULL"
    " ORDER BY at DESC LIMIT 1"
)
#: the same read of a ledger without 0035's index (one whose index a user dropped: 0035 is applied, so no open makes
#: it again; and the version before, as tests/older_version.py makes this code act): among the run-less events, by the
#: ``events_run`` index
_LATEST_MARK_UNINDEXED = f"SELECT at, data FROM events WHERE run_id IS NULL AND {_IS_MARK} ORDER BY at DESC LIMIT 1"


def pruned_before(conn: sqlite3.Connection) -> tuple[float, str] | None:
    """The cutoff of the latest prune, and when it ran, as its mark (:data:`PRUNED_EVENT`) says; None for a ledger
    never pruned. The latest mark is the one that matters to any window: a window that begins before an earlier
    prune's cutoff begins before it too, and the records before it are gone. (Read as the ledger's oldest event, a
    mark behind an event written with an earlier time was not found, and of several marks the oldest was named.)"""
    row = conn.execute(_LATEST_MARK if _has_marks_index(conn) else _LATEST_MARK_UNINDEXED).fetchone()
    if row is None:
        return None
    at, data = row
    try:
        pruned_at = str(json.loads(data)["pruned_at"])
    except (TypeError, ValueError, KeyError):
        pruned_at = "an unknown time"
    return float(at), pruned_at


def _has_marks_index(conn: sqlite3.Connection) -> bool:
    """Whether the ledger holds 0035's index of the prune marks (see :data:`_LATEST_MARK_UNINDEXED`). Read in the same
    snapshot as the read that names it (Ledger.read), so that an index dropped meanwhile is not named ("no such
    index")."""
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (_MARKS_INDEX,)).fetchone()
    return found is not None


def pruned_note(start: float | None, pruned: tuple[float, str] | None) -> str | None:
    """What a read of a window from ``start`` (None: from the first record) says when a prune deleted part of it."""
    if pruned is None or (start is not None and start >= pruned[0]):
        return None
    return (
        f"`magsag data prune` (at {pruned[1]}) deleted the records before {_iso(pruned[0])}: "
        f"{'this window' if start is not None else 'the ledger'} begins before that, and its figures count only "
        "what was recorded since, not what was spent then"
    )


def _iso(ts: float) -> str:
    from .times import iso_time as iso

    return str(iso(ts))


def _step(conn: sqlite3.Connection, cutoff: float, runs_before: float, now: float) -> tuple[dict[str, int], bool]:
    """One transaction's part of a prune (begun at ``now``): up to the midnight after the :data:`STEP_ATTEMPTS`-th
    oldest attempt, or the cutoff if that comes first. Returns its counts and whether it was the last."""
    last_day = int(cutoff // BUCKET)
    row = conn.execute("SELECT started_at FROM attempts ORDER BY started_at LIMIT 1 OFFSET ?", (STEP_ATTEMPTS,))
    nth = row.fetchone()
    day = last_day if nth is None else min(int(nth[0] // BUCKET) + 1, last_day)
    if day < last_day:
        return _delete_before(conn, day * BUCKET, cutoff=False, runs_before=runs_before, pruned_at=now), False
    return _delete_before(conn, cutoff, cutoff=True, runs_before=runs_before, pruned_at=now), True


def retention_seconds(older_than: str) -> float:
    """How long a prune keeps records, given as text ("90d", "12w", "48h"): hours, days or weeks, in seconds
    (for :func:`prune`). Seconds and minutes are refused: no retention is counted in them, and "3m" meant as three
    months deleted all but the last three minutes of the audit trail."""
    from .filters import parse_duration_seconds

    bare = older_than.strip()
    if bare[:1] == "-" and len(bare) > 1:  # `--older-than=-5d`: how old a record is, back from now, is positive
        try:
            parse_duration_seconds(bare[1:])
        except InputError:
            pass
        else:
            raise InputError(
                f"--older-than {older_than} is negative: it is how old a record must be to be deleted, a positive "
                f"duration: give --older-than {bare[1:]}"
            )
    # (it was "'5' is not a duration: use e.g. 90d, 12h, 2w", of no option; a 0 is no time in any unit, said below:
    # "give 0d for 0 days" named a value refused in its turn)
    if re.fullmatch(r"\d+(?:\.\d+)?", bare) and float(bare) > 0:
        raise InputError(f"--older-than {bare} has no unit: give hours, days or weeks, e.g. {bare}d for {bare} days")
    try:
        seconds = 0.0 if re.fullmatch(r"0+(?:\.0+)?", bare) else parse_duration_seconds(older_than)
    except InputError as exc:  # (said of the option it was given to: `magsag data prune` takes no other value)
        raise InputError(f"--older-than: {exc.message}") from None
    unit = older_than.strip()[-1]
    if unit in "sm":
        what = "minutes (m is minutes, not months)" if unit == "m" else "seconds"
        raise InputError(
            f"--older-than {older_than} counts in {what}, which no retention is counted in; give hours, days "
            "or weeks, e.g. 90d for about three months"
        )
    if seconds <= 0:  # (said with the value given: prune() itself sees seconds, and said no word of `0d`)
        raise InputError(
            f"--older-than {older_than} is no time at all: it is how old a record must be to be deleted, a positive "
            "duration; give hours, days or weeks, e.g. 90d for about three months"
        )
    return seconds


@dataclass
class PruneProgress:
    """How far a prune got, kept by its caller: a prune stopped once its records were deleted (a Ctrl-C in its
    vacuum, its log's truncation, or the ledger's close after it) must still report them. ``deleted``: the counts
    :func:`prune` returns, set once every step has committed (None before: stopped in its steps, the prune was
    stopped part way); ``vacuum_ended``: its vacuum ended (or none was asked for)."""

    deleted: dict[str, int] | None = None
    vacuum_ended: bool = False

    def report(self) -> dict[str, int] | None:
        """What a prune stopped after its steps deleted: their counts, ``vacuum`` 0 where the vacuum had not ended
        (stopped, the file was not shrunk); None where its steps had not all committed."""
        if self.deleted is None:
            return None
        return self.deleted if self.vacuum_ended else {**self.deleted, "vacuum": 0}


async def prune(
    ledger: LedgerReports, older_than_seconds: float, *, vacuum: bool = True, progress: PruneProgress | None = None
) -> dict[str, int]:
    """Delete runs, attempts and events older than the cutoff, and the answer cache's answers that go with them
    (:func:`_delete_before`), counted under those four names, then reclaim the space (unless not ``vacuum``: the
    vacuum rewrites the whole file holding the write lock, which every call's record waits for, where the steps
    before it hold it a few hundred milliseconds each; the space freed is then reused by new records).
    ``progress``: kept up to date as the prune goes (see :class:`PruneProgress`)."""
    if older_than_seconds <= 0:
        raise InputError("--older-than must be a positive duration such as 90d")
    progress = PruneProgress() if progress is None else progress
    # none asked for, none is left to end: a --no-vacuum prune stopped as its last step committed said "vacuum": 0
    progress.vacuum_ended = not vacuum
    now = time.time()
    cutoff = now - older_than_seconds
    runs_before = min(cutoff, now - RUN_KEEP_SECONDS)
    counts = {"attempts": 0, "runs": 0, "events": 0, "answers": 0}

    def committed(stepped: tuple[dict[str, int], bool]) -> None:
        step, last = stepped
        for key, n in step.items():
            counts[key] += n
        if last:
            progress.deleted = counts

    try:
        while progress.deleted is None:
            # a step its caller stopped waiting for (a Ctrl-C as it committed) is written all the same: counted as it
            # commits (``orphaned``), so that a prune whose last step committed so still reports what it deleted
            committed(await ledger.submit(lambda conn: _step(conn, cutoff, runs_before, now), orphaned=committed))
    except LedgerError:  # a full disk, say: what the failed step wrote into the log is given back
        await _shrink_log(ledger)
        raise
    if vacuum:

        def vacuumed(conn: sqlite3.Connection) -> None:
            _vacuum(conn)
            # said where it ended, in the reader's thread: a Ctrl-C that reached the prune once the statement had
            # ended, before its end did, reported a vacuum that had shrunk the file as one stopped ("vacuum": 0)
            progress.vacuum_ended = True

        try:
            await ledger.read(vacuumed, snapshot=False)
        except LedgerError:
            # another process held the file, or the disk has no room for a copy of the ledger: the rows are
            # gone and their space is reused, but the file is not shrunk
            counts["vacuum"] = 0
            progress.vacuum_ended = True
    await _shrink_log(ledger)
    return counts


def _vacuum(conn: sqlite3.Connection) -> None:
    """VACUUM, its copy of the whole ledger made in a temporary file even where the connection's sorts are kept in
    memory (see :func:`~.connection.sort_in_memory_if_size_limited`): in memory it would take as much as the ledger."""
    kept = conn.execute("PRAGMA temp_store").fetchone()[0]
    if kept:
        conn.execute("PRAGMA temp_store = DEFAULT")
    try:
        conn.execute("VACUUM")
    finally:
        if kept:
            conn.execute(f"PRAGMA temp_store = {int(kept)}")


async def _shrink_log(ledger: LedgerReports) -> None:
    """The write-ahead log checkpointed and truncated (:func:`~.connection.truncate_log`), if it can be. VACUUM
    wrote the whole ledger into it (or as much as the disk held, when it failed on a full one)."""
    if ledger.read_only:
        return
    with contextlib.suppress(LedgerError):
        await ledger.read(truncate_log, snapshot=False)
