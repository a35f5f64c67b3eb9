"""What each Azure deployment was last seen serving (migration 0025): a deployment is named by its operator
(``gpt-4o-mini``) and may serve another model (``gpt-4o``), which only its answers say. Kept here, a deployment seen
serving a model the policies forbid is refused by every process before anything is sent (see
:class:`~magsag_mcp.governance.served_memory.ServedMemory`), not by each new one after paying for a first call.

A row is (the endpoint's host and a gateway's path, the deployment's name, the model its last answer named, when):
never a key. Reads tolerate a ledger without the table (an older version's, read where it lies)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Collection
from typing import Any

#: a sighting made before the deployment's last forget (of its endpoint's, or of every endpoint's: endpoint '') is not
#: written: queued before the forget and committed after it, or written again after a lost write, it brought back
#: the row the operator dropped
_UPSERT = (
    "INSERT INTO azure_served (endpoint, deployment, model, seen_at) SELECT ?, ?, ?, ?"
    " WHERE NOT EXISTS (SELECT 1 FROM azure_forgotten f"
    " WHERE f.deployment = ? AND f.endpoint IN (?, '') AND f.forgotten_at > ?)"
    " ON CONFLICT (endpoint, deployment) DO UPDATE SET model = excluded.model, seen_at = excluded.seen_at"
    " WHERE excluded.seen_at >= azure_served.seen_at"
)
_FORGOTTEN = (
    "INSERT INTO azure_forgotten (endpoint, deployment, forgotten_at) VALUES (?, ?, ?)"
    " ON CONFLICT (endpoint, deployment) DO UPDATE SET forgotten_at = max(forgotten_at, excluded.forgotten_at)"
)


def _no_table(exc: sqlite3.OperationalError) -> bool:
    return "no such table" in str(exc)


def read_served(conn: sqlite3.Connection, endpoint: str, deployment: str) -> tuple[str, float] | None:
    """(the model deployment ``deployment`` of ``endpoint`` was last seen serving, when), or None."""
    try:
        row = conn.execute(
            "SELECT model, seen_at FROM azure_served WHERE endpoint = ? AND deployment = ?", (endpoint, deployment)
        ).fetchone()
    except sqlite3.OperationalError as exc:
        if _no_table(exc):  # a ledger an older version made, read without migrating it
            return None
        raise
    return None if row is None else (str(row[0]), float(row[1]))


def read_forgotten(conn: sqlite3.Connection, endpoint: str, deployment: str) -> float | None:
    """When ``magsag azure forget`` last dropped what ``deployment`` of ``endpoint`` (or of every endpoint) was seen
    serving, or None (never, or a ledger older than 0028's, read where it lies)."""
    try:
        row = conn.execute(
            "SELECT MAX(forgotten_at) FROM azure_forgotten WHERE deployment = ? AND endpoint IN (?, '')",
            (deployment, endpoint),
        ).fetchone()
    except sqlite3.OperationalError as exc:
        if _no_table(exc):
            return None
        raise
    return None if row is None or row[0] is None else float(row[0])


def write_served(conn: sqlite3.Connection, endpoint: str, deployment: str, model: str, seen_at: float) -> None:
    """Note that ``deployment`` of ``endpoint`` answered as ``model`` at ``seen_at``; a later sighting already
    written (another process's) is kept, and one made before the deployment's last forget is not written."""
    conn.execute(_UPSERT, (endpoint, deployment, model, seen_at, deployment, endpoint, seen_at))


def list_served(conn: sqlite3.Connection) -> list[tuple[str, str, str, float]]:
    """Every row, as (endpoint, deployment, model, seen_at), by endpoint and deployment."""
    try:
        rows = conn.execute(
            "SELECT endpoint, deployment, model, seen_at FROM azure_served ORDER BY endpoint, deployment"
        ).fetchall()
    except sqlite3.OperationalError as exc:
        if _no_table(exc):
            return []
        raise
    return [(str(e), str(d), str(m), float(t)) for e, d, m, t in rows]


def forget_served(
    conn: sqlite3.Connection, deployment: str, endpoint: str | None = None, *, at: float | None = None
) -> int:
    """Drop what ``deployment`` (of ``endpoint``, else of every endpoint) was seen serving; how many rows went. When
    (``at``, now if not given) is kept, rows or none: a sighting made before it is not written after it, and a
    process that saw one and failed to write it forgets it too at its next read."""
    conn.execute(_FORGOTTEN, ("" if endpoint is None else endpoint, deployment, time.time() if at is None else at))
    if endpoint is None:
        cur = conn.execute("DELETE FROM azure_served WHERE deployment = ?", (deployment,))
    else:
        cur = conn.execute("DELETE FROM azure_served WHERE endpoint = ? AND deployment = ?", (endpoint, deployment))
    return int(cur.rowcount)


def served_as(
    conn: sqlite3.Connection, source: str, where: str, args: list[object], deployments: Collection[str]
) -> dict[str, dict[str, int]]:
    """Of the Azure attempts answered (outcome ok) of ``deployments`` that ``FROM {source}{where}`` selects (see
    :func:`~.rollup_reads.attempts_where`), by deployment: how many each model their answers said they came from
    (0026's ``served_model``) served. Those recorded without it (an older version's, or before 0026) are not here, and
    a ledger without the column (an older version's, read where it lies) gives none.

    The deployments are named (those the summary's rollup rows show answering): attempts_model then reads their
    attempts alone, where a filter on the provider alone read every attempt of the period (0.1-0.2 s of a
    year's 200,000). Named a variable each, they are read as many at a time as SQLite takes variables beside
    ``args`` (999 in builds before 3.32, 32766 since): past that, one read failed with "too many SQL variables"."""
    rows = _by_deployment(conn, "a.model, a.served_model", "", source, where, args, deployments)
    if rows is None:
        return {}
    out: dict[str, dict[str, int]] = {}
    for deployment, model, n in rows:
        out.setdefault(str(deployment), {})[str(model)] = int(n)
    return out


def served_at_endpoints(
    conn: sqlite3.Connection, source: str, where: str, args: list[object], deployments: Collection[str]
) -> dict[str, dict[str, dict[str, int]]]:
    """As :func:`served_as`, by deployment and then by the endpoint each attempt went to (0029's ``endpoint``, as
    ``azure_served`` keys it): two resources may have deployments of one name serving different models, which
    ``served_as`` counts together. Attempts recorded without an endpoint (before 0029, or by an older version still
    running) are not here; a ledger without the column (an older version's, read where it lies) gives none."""
    rows = _by_deployment(
        conn, "a.model, a.endpoint, a.served_model", " AND a.endpoint IS NOT NULL", source, where, args, deployments
    )
    if rows is None:
        return {}
    out: dict[str, dict[str, dict[str, int]]] = {}
    for deployment, endpoint, model, n in rows:
        out.setdefault(str(deployment), {}).setdefault(str(endpoint), {})[str(model)] = int(n)
    return out


def _by_deployment(
    conn: sqlite3.Connection,
    keys: str,
    also: str,
    source: str,
    where: str,
    args: list[object],
    deployments: Collection[str],
) -> list[tuple[Any, ...]] | None:
    """The answered Azure attempts of ``deployments`` that ``FROM {source}{where}`` selects and that name the model
    they came from, counted by ``keys`` (``also``: a further condition); None from a ledger without the columns (an
    older version's, read where it lies). The deployments are named a variable each, as many a read as SQLite takes
    variables beside ``args`` (999 in builds before 3.32, 32766 since): past that, one read failed with "too many SQL
    variables"."""
    named = list(deployments)
    each = max(conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) - len(args), 1)
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(named), each):
        part = named[start : start + each]
        sql = (
            f"SELECT {keys}, COUNT(*) FROM {source}{where}{' AND ' if where else ' WHERE '}"
            f"a.model IN ({', '.join('?' * len(part))}) AND a.provider = 'azure' AND a.outcome = 'ok'"
            f" AND a.served_model IS NOT NULL{also} GROUP BY {keys}"
        )
        try:
            rows += conn.execute(sql, [*args, *part]).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such column" in str(exc):
                return None
            raise
    return rows
