"""Whose run a run id is: a client held to its own agent (a client token's, ``magsag-mcp --agent``) may not file its
calls in, or read the spend of, a run whose calls are another agent's (see ``Service.invoke_skill``'s ``own_run``).

A run's record keeps the first agent its calls were recorded under (``runs.agent``, written ``COALESCE(runs.agent,
excluded.agent)``): one read by primary key. A run not recorded yet may have its first call in flight, whose budget
reservation names its agent (``attempt_run_id``; the table holds only the calls in flight, a handful).

Read once, before the call, outside its transactions: a run's owner is read in no transaction the call already makes
before it spends (its record is written after the vendor is paid, too late to refuse; its reservations are made only
under a budget limit). So two clients' first calls of one new run id at the same moment may both pass, and that run
then holds both agents' calls; every later call of the one whose calls are not the run's first agent's is refused.
A run id is the client's own choice, so that takes another client knowing (or guessing) a run id not yet used; a
refusal in each reservation's transaction, as ``governance.delegation.placed_elsewhere`` does, would close it for
calls under a budget.
"""

from __future__ import annotations

import sqlite3

__all__ = ["OTHER_AGENTS_RUN", "others_run"]

#: 1 when ``:run``'s recorded calls (or, before its first record, its calls in flight under a budget) are not
#: ``:agent``'s. A recorded run of no agent is another's too (the calls of an unpinned client that named none); a run
#: recorded with no call (an agent run's end, of no agent) is nobody's yet.
OTHER_AGENTS_RUN = (
    "SELECT EXISTS (SELECT 1 FROM runs WHERE run_id = :run AND agent IS NOT :agent"
    " AND (agent IS NOT NULL OR calls > 0))"
    " OR EXISTS (SELECT 1 FROM budget_reservations WHERE attempt_run_id = :run AND agent IS NOT :agent)"
)


def others_run(conn: sqlite3.Connection | sqlite3.Cursor, run_id: str, agent: str) -> bool:
    """Whether run ``run_id`` holds calls of an agent other than ``agent`` (see :data:`OTHER_AGENTS_RUN`)."""
    return bool(conn.execute(OTHER_AGENTS_RUN, {"run": run_id, "agent": agent}).fetchone()[0])
