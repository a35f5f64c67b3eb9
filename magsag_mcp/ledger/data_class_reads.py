"""What the calls of each data class were sent to (0027's ``data_classes`` on each attempt), for ``flow summarize``'s
``by_data_class``, which ``flow gate`` checks against each policy's ``requirements`` (data class -> the only models its
calls may use)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

#: by_data_class's counts (class -> provider:model -> attempts), what its classes' Azure deployments answered as
#: (class -> deployment -> served model -> attempts), and of its local attempts those sent off this machine (class ->
#: provider:model -> attempts: their endpoint, the host they went to, recorded); None each: a ledger without the column
ClassCounts = tuple[
    dict[str, dict[str, int]] | None, dict[str, dict[str, dict[str, int]]] | None, dict[str, dict[str, int]] | None
]


def by_data_class(conn: sqlite3.Connection, source: str, where: str, args: list[Any]) -> ClassCounts:
    """Of the attempts that reached a provider (outcome ok or error: one refused or skipped was sent nowhere) that
    ``FROM {source}{where}`` selects (see :func:`~.rollup_reads.attempts_where`), by data class: how many went to each
    target (``provider:model``). An attempt of several classes counts under each. Read on the partial index of the
    attempts that have classes, so a ledger of unclassed calls reads nothing. None for a ledger without the column (an
    older version's, read where it lies): what its calls' classes were is not known.

    Second, of the Azure attempts answered (outcome ok) among them, what each deployment's answers said served it
    (0026's ``served_model``; those recorded without it left out): a deployment's name is its operator's choice, and
    ``flow gate`` judges a class's deployment by the models that served it, as each call was judged (read in the same
    statement: no second pass over the attempts)."""
    if source == "attempts a":
        # on the partial index, named: the planner took a filter's own index (attempts_agent) and read every attempt of
        # the agent, where the classed ones are few or none (tests/test_summary_period.py counts the steps)
        source = "attempts a INDEXED BY attempts_data_classes"
    sql = (
        "SELECT a.data_classes, a.provider, a.model,"
        " CASE WHEN a.provider = 'azure' AND a.outcome = 'ok' THEN a.served_model END AS served,"
        " a.provider = 'local' AND a.endpoint IS NOT NULL AS off_machine, COUNT(*)"
        f" FROM {source}{where}"
        f"{' AND ' if where else ' WHERE '}a.data_classes IS NOT NULL AND a.outcome IN ('ok', 'error')"
        " GROUP BY a.data_classes, a.provider, a.model, served, off_machine"
    )
    try:
        rows = conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such column" in str(exc) or "no such index" in str(exc):
            return None, None, None
        raise
    out: dict[str, dict[str, int]] = {}
    served_as: dict[str, dict[str, dict[str, int]]] = {}
    off: dict[str, dict[str, int]] = {}
    for classes, provider, model, served, off_machine, n in rows:
        try:
            names = json.loads(classes)
        except ValueError:
            names = None
        if not isinstance(names, list):  # (written by hand: not this version's list) counted under its text
            names = [str(classes)]
        for name in names:
            targets = out.setdefault(str(name), {})
            label = f"{provider}:{model}"
            targets[label] = targets.get(label, 0) + int(n)
            if served is not None:
                answered = served_as.setdefault(str(name), {}).setdefault(str(model), {})
                answered[str(served)] = answered.get(str(served), 0) + int(n)
            if off_machine:
                left = off.setdefault(str(name), {})
                left[label] = left.get(label, 0) + int(n)
    counts = {name: dict(sorted(targets.items())) for name, targets in sorted(out.items())}
    served_by = {
        name: {d: dict(sorted(models.items())) for d, models in sorted(deployments.items())}
        for name, deployments in sorted(served_as.items())
    }
    off_by = {name: dict(sorted(targets.items())) for name, targets in sorted(off.items())}
    return counts, served_by, off_by


def classes_kept_since(conn: sqlite3.Connection) -> float | None:
    """When the ledger began to record calls' data classes (0027 applied), where it still holds an attempt begun
    before: a ledger upgraded to 0027 holds its earlier calls without them (NULL, as a call of none), which
    by_data_class cannot place, so ``flow gate`` names a summary reaching back before it unchecked rather than passing
    it. None where it holds none: a ledger this version made (0027 applied with the rest, before any call), or one
    whose earlier calls were pruned, holds every call with its classes, and a summary of any period is checked whole
    (the time alone read as "the calls before went unchecked", and made two ledgers' summaries differ by when each
    was made). An attempt begun before, whoever recorded it (the clock set back since), counts: the ledger keeps no
    time of recording to tell it from an older version's call, and a note too many is safer than one missing. An
    older version still running adds none after the upgrade: it refuses its next write (see
    opening.py's _migrated). Two rows by their keys (the migration's, then the first attempt on attempts_started,
    at most one entry read): a summary of 1,000,000 attempts reads no attempt more. None for a ledger without the
    migration (by_data_class is None then)."""
    try:
        row = conn.execute(
            "SELECT applied_at FROM schema_migrations WHERE name = '0027_attempt_data_classes'"
        ).fetchone()
    except sqlite3.OperationalError:  # (no table: not a ledger this version made or migrated)
        return None
    if row is None:
        return None
    applied = float(row[0])
    return applied if conn.execute(BEGUN_BEFORE, (applied,)).fetchone() is not None else None


#: an attempt begun before the given time, if any: one seek on attempts_started (its first entry, or none)
BEGUN_BEFORE = "SELECT 1 FROM attempts WHERE started_at < ? LIMIT 1"
