"""A helper of the tests of a ledger that must refuse every write (one replaced under it, one on a full disk)."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from magsag_mcp.errors import LedgerError
from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord


async def every_write_refused(ledger: Ledger) -> list[str]:
    """The messages of the LedgerErrors that a call's record (inline, on the event loop, and by the group commit)
    and an event meet on ``ledger``: each must be refused."""
    now = time.time()
    run = RunRecord("r", "a", "s", now, ended_at=now, status="ok")
    attempt = AttemptRecord("r", now, "openai", "gpt-4o", "s", "a", "ok", 0, 1, cost_usd=Decimal("0.5"))
    messages = []
    for write in (
        lambda: ledger.record_call(run, [attempt], alone=True),  # inline, on the event loop
        lambda: ledger.record_call(run, [attempt]),  # the group commit
        lambda: ledger.log_event(None, None, "after", {}),
    ):
        with pytest.raises(LedgerError) as info:
            await write()
        messages.append(info.value.message)
    return messages
