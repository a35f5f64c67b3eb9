"""What a read of the ledger says beside what it found (:class:`ReadNotes`, which
:class:`~.reports.LedgerReports` is): a filter that names what the ledger never recorded, and the name it nearly is;
calls in flight not recorded yet; calls of dead processes a read-only ledger cannot record; records a prune deleted;
calls that sent no request; a ``since`` in the future or written as seconds.

Separate from :mod:`.reports`, whose reads find the records: these only explain an answer (most of all an empty one,
which read as "nothing was called" and passed `flow gate`), each read run after the answer and only where it may be
needed.
"""

from __future__ import annotations

import difflib
import sqlite3
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from ..redaction import redact
from ..text import NAME_MAX, of_length, shown_name

if TYPE_CHECKING:
    from .times import Since

T = TypeVar("T")

#: the latest runs :meth:`ReadNotes.run_meant` looks for a mistyped run id among
RECENT_RUNS = 5000
_RECENT_RUN_IDS = "SELECT run_id FROM runs INDEXED BY runs_started ORDER BY started_at DESC LIMIT ?"


class ReadNotes:
    if TYPE_CHECKING:  # what the store provides

        async def read(self, fn: Callable[[sqlite3.Connection], T], *, snapshot: bool = True) -> T: ...

        read_only: bool

    async def run_recorded(self, run_id: str) -> bool:
        """Whether the ledger holds a run of this id, or one delegated from it (the runs a run filter selects)."""
        sql = "SELECT 1 FROM runs WHERE run_id = ? UNION ALL SELECT 1 FROM runs WHERE parent_run_id = ? LIMIT 1"
        return await self.read(lambda conn: conn.execute(sql, (run_id, run_id)).fetchone() is not None)

    async def _held(self, kind: str, name: str | None = None) -> tuple[int, int]:
        """(calls in flight holding a reservation for this run (its own, or as the parent of the run it delegated),
        agent, or (``kind`` "ledger") any, the reservations they hold): none recorded yet (a first call under way, a
        stopped process's hold until it expires) is no misspelt name, which a filter's note would otherwise call it.
        A call is counted by the call its reservations name (a row without one, an older version's, is a call of its
        own)."""
        where = {"agent": " AND agent = ?", "run": " AND (run_id = ? OR attempt_run_id = ?)", "ledger": ""}[kind]
        sql = (
            "SELECT COUNT(DISTINCT coalesce(call_id, id)), COUNT(*) FROM budget_reservations"
            f" WHERE state = 'held'{where}"
        )
        args = {"agent": (name,), "run": (name, name), "ledger": ()}[kind]
        return await self.read(lambda conn: tuple(conn.execute(sql, args).fetchone()))

    async def in_flight_note(self, kind: str, name: str) -> str | None:
        """The note for a run (``kind`` "run") or agent ("agent") none of whose calls is recorded yet while calls
        of it in flight hold reservations; None if none does (a misspelt id or name, which the caller says)."""
        calls, held = await self._held(kind, name)
        return _not_recorded_yet(f"of {kind} {shown_name(name)}", calls, held) if calls else None

    async def ledger_in_flight_note(self) -> str | None:
        """The note for a ledger that holds no recorded call while calls in flight hold reservations (a long first
        call under way): a read of it shows nothing, which reads as "nothing was called". None otherwise."""
        sql = "SELECT 1 FROM runs LIMIT 1"
        if await self.read(lambda conn: conn.execute(sql).fetchone() is not None):
            return None
        calls, held = await self._held("ledger")
        return _not_recorded_yet("in this ledger", calls, held) if calls else None

    async def recorded_names(self, column: str) -> list[str]:
        """The models (``column`` "model"), providers ("provider") or skills ("skill") the ledger's calls were
        recorded for, in order: what a filter that matched nothing may have meant. Read from the daily usage
        rollup (every attempt's, a few thousand rows), not the attempts."""
        if column not in ("model", "provider", "skill"):
            raise ValueError(f"no recorded names of {column!r}")
        sql = f"SELECT DISTINCT {column} FROM usage_rollup WHERE {column} != '' ORDER BY 1"
        return await self.read(lambda conn: [row[0] for row in conn.execute(sql)])

    async def _model_read_as_google(self, filters: Any) -> str | None:
        """The note for a model filter that, given no provider, was read as Google's model (``models/gemini-1.5-pro``
        as ``gemini-1.5-pro``, as a call naming it would go to Google) where another provider recorded calls under
        the name as written (a gateway's ``models/...``): the read left those out; ``--provider`` reads them."""
        written = getattr(filters, "model_read_as_google", None)
        if written is None:
            return None
        sql = "SELECT DISTINCT provider FROM usage_rollup WHERE model = ? AND provider != 'google' ORDER BY 1"
        others = await self.read(lambda conn: [row[0] for row in conn.execute(sql, (written,))])
        if not others:
            return None
        return (
            f"model {written!r} is read as {filters.model!r}, the model Google's resource name names (a call naming "
            "it goes to Google); "
            f"{_listed(others)} recorded calls under {written!r} as written, which are not counted: add --provider "
            f"{others[0]} (an MCP tool's filters.provider) to read {'those' if len(others) == 1 else 'each'}"
        )

    async def run_meant(self, run_id: str) -> str | None:
        """The run id of the ledger that ``run_id``, which no run has, nearly is, or None: one that is it in another
        case or with other spaces around it (any run: one read of the run ids' index), else a slip of the keys (a
        letter added, dropped, changed or two swapped) or one 85% alike, among the :data:`RECENT_RUNS` latest runs
        (a mistyped id is most often a recent one's: no read of every run's id)."""
        from ..suggest import one_edit

        if len(run_id) > NAME_MAX:
            return None

        def read(conn: sqlite3.Connection) -> str | None:
            same = conn.execute(
                "SELECT run_id FROM runs WHERE lower(trim(run_id)) = lower(trim(?)) AND run_id != ? LIMIT 1",
                (run_id, run_id),
            ).fetchone()
            if same is not None:
                return same[0]
            recent = [r[0] for r in conn.execute(_RECENT_RUN_IDS, (RECENT_RUNS,)) if r[0] != run_id]
            for other in recent if len(run_id) > 1 else ():  # (one letter is one edit from any other)
                if one_edit(run_id, other):
                    return other
            close = difflib.get_close_matches(run_id, recent, n=1, cutoff=0.85)
            return close[0] if close else None

        return await self.read(read)

    async def agent_names(self) -> list[str]:
        """The agents the ledger's runs were recorded for, in order: what an agent filter that matched
        nothing may have meant."""
        sql = "SELECT DISTINCT agent FROM runs WHERE agent IS NOT NULL AND agent != '' ORDER BY agent"
        return await self.read(lambda conn: [row[0] for row in conn.execute(sql)])

    async def filter_notes(self, filters: Any, *, agent: bool, run: bool, names: bool) -> list[str]:
        """What a read's filters may have meant, for each that names what the ledger never recorded: its agent,
        run id, model, provider or skill (a misspelling reads as a summary of nothing, which `flow gate` passes,
        or an empty page). ``agent``, ``run`` and ``names`` say whether the read matched anything for those
        filters: then nothing is looked up. The names are as recorded (callers chose them): a terminal must
        escape them."""
        notes: list[str] = []
        pruned = await self.pruned_note(None if filters is None else filters.since)
        if pruned is not None:
            notes.append(pruned)
        if (expired := await self.expired_unrecorded_note()) is not None:
            notes.append(expired)
        if filters is None:
            return await self._ledger_in_flight(notes, said=agent or run or names)
        for note in (future_since(filters.since), since_as_seconds_span(filters.since)):
            if note is not None:
                notes.append(note)
        in_flight_said = False  # a run's or an agent's calls in flight: the ledger's are not said again
        if filters.agent is not None and not agent:
            known = await self.agent_names()
            if filters.agent not in known and (in_flight := await self.in_flight_note("agent", filters.agent)):
                notes.append(in_flight)
                in_flight_said = True
            elif filters.agent not in known:
                notes.append(
                    f"no run in this ledger was recorded for agent {_filter_named(filters.agent, known)}; "
                    f"its agents: {_listed(known)}"
                )
        if filters.run_id is not None and not run and not await self.run_recorded(filters.run_id):
            if in_flight := await self.in_flight_note("run", filters.run_id):
                notes.append(in_flight)
                in_flight_said = True
            else:
                meant = await self.run_meant(filters.run_id)
                check = f"did you mean {meant!r}? Otherwise check the id" if meant is not None else "check the id"
                notes.append(
                    # named by its length when it is longer than any run id (as the other filters' notes are): quoted,
                    # a 100,000-character run id came back whole, in summarize_usage's and query_runs' notes
                    f"no run in this ledger has the id {shown_name(filters.run_id)}, nor was delegated from it; "
                    f"{check} (the run_id a call returned, or `magsag run` printed)"
                )
        # a model filter written as Gemini's resource name, with no provider, is read as Google's: another
        # provider's calls recorded under that name as written were left out, with no word
        as_google = await self._model_read_as_google(filters)
        if as_google is not None:
            notes.append(as_google)
        # a provider this process does not know is kept as written (another process may have recorded it): a
        # misspelt one (opnai) selected nothing, as a misspelt model does
        for column in ("model", "provider", "skill"):
            value = getattr(filters, column)
            if value is None or names or (column == "model" and as_google is not None):
                continue
            known = await self.recorded_names(column)
            if value not in known:
                # a model is told the one it nearly is by the rule every refusal of one uses (another case, a dated
                # snapshot, 85% alike): 60% alike, gpt-4o-mini was asked "did you mean 'gpt-4o'?", another model
                shown = _model_named(value, known) if column == "model" else _filter_named(value, known)
                notes.append(
                    f"no call in this ledger was recorded for {column} {shown}; its {column}s: {_listed(known)}"
                )
        # each quotes a filter as given: a key pasted as --run-id (a variable read under the wrong name) is not
        # printed back, to a CI log or an MCP client
        notes = [redact(note) for note in notes]
        return await self._ledger_in_flight(notes, said=agent or run or names or in_flight_said)

    async def expired_unrecorded_note(self) -> str | None:
        """The note for a ledger opened for reading only that holds expired reservations: calls whose process ended with
        the request in flight (killed, or hung past the call's deadline), or whose process of this machine is seen gone
        before its reservation expired, as the sweep sees it (see reservation_owners). A read of a writable ledger
        records them first, as the abandoned attempts they stood for, and counts them at their bound; read only, they
        stay reservations: a summary counts them as those attempts (see unrecorded.py, dead_runs.py), and a list of runs
        shows a run recorded before them as it would be recorded with them; what no read can show without recording
        them, the note says: the runs of them alone, a run's place by the start they move back, and a search of their
        error, and how to record them. None where there are none, and for a writable ledger (its read just recorded
        them)."""
        if not self.read_only:
            return None
        from ..plurals import agreeing, counted
        from .abandoned import DEAD_CALL, DEAD_CALLS, ENDED_CALL, ENDED_CALLS, ended_totals
        from .money import from_pusd

        now = time.time()
        calls, held, unbounded, some_gone = await self.read(lambda conn: ended_totals(conn, now))
        if not calls:
            return None
        dead = (ENDED_CALL if calls == 1 else ENDED_CALLS) if some_gone else (DEAD_CALL if calls == 1 else DEAD_CALLS)
        it, them = ("it", "it") if calls == 1 else ("they", "them")
        bound = f"up to ${from_pusd(held):f}" + (" and one of no known price, with no bound" if unbounded else "")
        return (
            f"{counted(calls, 'call')} {dead} cannot be recorded: the ledger is "
            f"open for reading only; a summary counts {them} as the abandoned {agreeing(calls, 'attempt')} {it} would "
            f"be recorded as, of unknown cost {bound}, which the provider may bill, in all it counts (largest_run and "
            f"largest_call too, a status filter reading a run {it} would turn to error as one), and a list of runs "
            f"shows a run recorded before {them} as {it} would leave it (in the place of its recorded start, which "
            f"{it} may move back), but lists no run of {them} alone, and a search does not find {them}; `magsag "
            f"budget` (check_budget) counts {them} as reserved_by.expired. To record {them}, run any read (`magsag "
            f"flow summarize`, say) as a user who can write the ledger, or on a copy of it in a folder you can write "
            f"(--db)"
        )

    async def pruned_note(self, since: Since) -> str | None:
        """Where ``magsag data prune`` deleted records that a read from ``since`` would count, that it did: its
        summary read $0 for a pruned month, as complete, with no word of the prune."""
        from .filters import parse_since
        from .prune import pruned_before, pruned_note

        pruned = await self.read(pruned_before)
        return None if pruned is None else pruned_note(parse_since(since), pruned)

    async def unsent_note(self, filters: Any, summary: Mapping[str, Any]) -> str | None:
        """The note for a summary's calls that sent no request (``totals.unsent_calls``): they spent nothing and
        count in no ``calls``, so a summary of them alone read as "nothing happened"; it says the commonest reason
        (its message carries the fix: the key to set, the policy that refused). None where there are none."""
        from ..plurals import agreeing, counted
        from .filters import UsageFilters, parse_since
        from .unsent import unsent_reason

        unsent = summary["totals"].get("unsent_calls") or 0
        if not unsent:
            return None
        f = UsageFilters.build(filters if isinstance(filters, dict | UsageFilters) else None)
        fixed = f.model_copy(update={"since": parse_since(f.since), "until": parse_since(f.until, field="until")})
        reason = await self.read(lambda conn: unsent_reason(conn, fixed))
        each = "of each" if unsent != 1 else "of it"
        note = (
            f"{counted(unsent, 'call')} sent no request: every target {each} was refused or skipped before one was "
            f"sent, so {'they spent' if unsent != 1 else 'it spent'} nothing and {agreeing(unsent, 'counts', 'count')}"
            " in no calls, tokens or cost"
        )
        if reason is not None:
            message, n = reason
            note += f"; the commonest reason (the first target's, of {counted(n, 'call')}): {message}"
        return redact(note)

    async def _ledger_in_flight(self, notes: list[str], *, said: bool) -> list[str]:
        """``notes`` and, unless ``said`` (the read matched something, or a run's or an agent's note told its calls
        in flight), what the calls in flight of a ledger with no call recorded yet hold: an unfiltered read of it
        said nothing while a long first call was under way, which reads as "nothing was called"."""
        if said:
            return notes
        in_flight = await self.ledger_in_flight_note()
        return notes if in_flight is None else [*notes, in_flight]


def summary_matched(summary: Mapping[str, Any]) -> dict[str, bool]:
    """For :meth:`ReadNotes.filter_notes`: what a summary matched of its agent, run and model/skill filters."""
    calls = bool(summary["totals"]["attempts"])  # (a model a call left for another was called too)
    return {
        "agent": calls or bool(summary["by_agent"]),
        "run": summary["largest_run"] is not None,
        "names": calls or bool(summary["model_stats"]),
    }


def page_matched(page: Mapping[str, Any]) -> dict[str, bool]:
    """For :meth:`ReadNotes.filter_notes`: whether a page of runs matched its filters."""
    matched = bool(page["runs"])
    return {"agent": matched, "run": matched, "names": matched}


def _not_recorded_yet(where: str, calls: int, held: int) -> str:
    """``where``: "of run 'r'", "of agent 'a'" (whose calls in flight are "of it"), or "in this ledger"."""
    of_it = " of it" if where.startswith("of ") else ""
    # a call holds a reservation for each attempt not yet recorded (a cut attempt held at its bound beside its retry's)
    if calls > 1:
        holding = f"{calls} calls{of_it} in flight hold reservations (check_budget counts them)"
    elif held > 1:
        holding = (
            f"1 call{of_it} in flight holds {held} reservations (one for each attempt not yet recorded: a retried call "
            "holds its earlier attempt's beside its retry's; check_budget counts it)"
        )
    else:
        holding = f"1 call{of_it} in flight holds a reservation (check_budget counts it)"
    return (
        f"no call {where} is recorded yet: {holding}; a call is read once recorded: as it ends, or, its process "
        "stopped, once its reservation expires, as abandoned"
    )


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:20]) + (f", and {len(names) - 20} more" if len(names) > 20 else "")
    return shown or "none"


def future_since(since: Since) -> str | None:
    """A note for a ``since`` that lies ahead of now (a year mistyped: 2062-11-01), which selects nothing: a
    summary of it reads as "spent nothing" and `flow gate` passes it."""
    import time

    from .filters import parse_since
    from .times import iso_time as _iso

    now = time.time()
    start = parse_since(since, now=now)
    if start is None or start <= now:
        return None
    return (
        f"since {since!r} ({_iso(start)}) is in the future, so nothing recorded can match; check the date, or give a"
        " past one (e.g. 2025-11-01) or a span back from now (24h, 7d)"
    )


#: unix seconds before 2000 (2000-01-01T00:00:00Z): no ledger holds a call that old, and a number written there is
#: most often a span back in seconds (86400 for a day, -3600 for an hour ago), which selected the whole ledger unsaid
_EARLIEST_LEDGER_SECONDS = 946_684_800


def since_as_seconds_span(since: Since) -> str | None:
    """A note for a ``since`` given as unix seconds (a number, or digits as text) before any ledger began: read as a
    time it selects everything, where its writer most likely meant that many seconds back."""
    import re

    from ..errors import InputError
    from .filters import parse_since
    from .times import iso_time as _iso

    if isinstance(since, bool) or not (
        isinstance(since, int | float) or (isinstance(since, str) and re.fullmatch(r"\s*[-+]?\d+(\.\d+)?\s*", since))
    ):
        return None
    try:
        start = parse_since(since)
    except InputError:
        return None
    if start is None or start >= _EARLIEST_LEDGER_SECONDS:
        return None
    if isinstance(since, float) and since.is_integer():  # a JSON schema's number arrives as a float: quoted as sent
        since = int(since)
    return (
        f"since {since!r} reads as unix seconds, {_iso(start)}, before any call recorded, so it selects the whole "
        "ledger; for a span back from now give it with its unit (86400 seconds is 24h or 1d; 7d, 30m), or a date"
    )


def _filter_named(value: str, known: list[str]) -> str:
    """``'ana' (did you mean 'anna'?)``: a filter with the recorded name it nearly is; one longer than any name by its
    length (:func:`~..text.shown_name`), as the model's is: "recorded for agent of 1,000 characters", not "agent a key
    of ..." beside "model a name of ..."."""
    from ..suggest import named

    return shown_name(value) if len(value) > NAME_MAX else named([value], known)


def _model_named(value: str, known: list[str]) -> str:
    """``'GPT-4o' (did you mean 'gpt-4o'?)``: a model filter with the recorded model it nearly is, if one is. One
    longer than any model name is named by its length (:func:`~..text.of_length`), as the other filters are: a
    document or a key pasted as the model is not quoted back whole."""
    from ..governance.model_patterns import nearest_model
    from ..rates import bare_model
    from ..text import MODEL_MAX

    if len(value) > MODEL_MAX:
        return of_length(value)
    # Gemini's resource name (models/gemini-1.5-pro) is recorded as the model it names
    bare = bare_model("google", value)
    close = bare if bare != value and bare in known else nearest_model(value, known)
    return f"{value!r} (did you mean {close!r}?)" if close else repr(value)
