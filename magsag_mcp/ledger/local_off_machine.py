"""Which local models' attempts went off this machine, and where, for ``flow summarize``'s ``model_stats[M]
["off_machine"]``, which ``flow gate`` checks against each policy's ``allowed_models``: a glob of local models
(``local:*``) was written for the operator's own machines, and a model the server made from a cloud one (``ollama
create mybot`` FROM ``gpt-oss:120b-cloud``) or a base URL on ollama.com sends the prompt to Ollama's cloud under a
local name. Each such attempt recorded the host it went to in its ``endpoint`` (0029's column; a local attempt on
the operator's own server records none), so this is one aggregate over the attempts a summary selects: no new
column. 0032_attempts_local_off_machine's partial index holds those attempts alone, with every column read here: a
summary with no filter walks it, not the table."""

from __future__ import annotations

import sqlite3
from typing import Any


def local_off_machine(conn: sqlite3.Connection, source: str, where: str, args: list[Any]) -> dict[str, dict[str, int]]:
    """Of the local attempts that reached a provider (outcome ok or error) that ``FROM {source}{where}`` selects (see
    :func:`~.rollup_reads.attempts_where`), those recorded with an off-machine host: model -> host -> attempts. Empty
    for a ledger without the column (an older version's, read where it lies): where its calls went is not known."""
    sql = (
        "SELECT a.model, a.endpoint, COUNT(*)"
        f" FROM {source}{where}"
        f"{' AND ' if where else ' WHERE '}a.provider = 'local' AND a.endpoint IS NOT NULL"
        " AND a.outcome IN ('ok', 'error')"
        # grouped by expressions (+), which no index orders: grouped by the columns, SQLite walked attempts_model, the
        # whole index, and sought each attempt's row from it (9-13 s over 1,000,000 attempts, where reading the table
        # in its own order takes 0.3 s); a filter's index (the period's, an agent's, a model's) is still used
        " GROUP BY +a.model, +a.endpoint"
    )
    try:
        rows = conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such column" in str(exc):
            return {}
        raise
    out: dict[str, dict[str, int]] = {}
    for model, host, n in rows:
        out.setdefault(str(model), {})[str(host)] = int(n)
    return {model: dict(sorted(hosts.items())) for model, hosts in sorted(out.items())}
