"""The patterns a ledger search takes: RE2, linear in the text; one that is invalid, too long or too complex is
refused before any row is read."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from magsag_mcp.errors import InputError
from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord

pytestmark = pytest.mark.anyio


async def test_search_is_linear_time_and_validated(tmp_path: Path):
    async with Ledger(tmp_path / "l.db") as ledger:
        now = time.time()
        await ledger.record_call(
            RunRecord("r", "a", "s", now),
            [
                AttemptRecord(
                    "r",
                    now,
                    "anthropic",
                    "claude-3-5-sonnet-20241022",
                    "s",
                    "a",
                    "error",
                    0,
                    1,
                    error_class="overloaded",
                    error_message="anthropic: HTTP 529 overloaded_error",
                ),
            ],
        )
        await ledger.log_event("r", "a", "rate_limit", {"model": "gpt-4o"})
        hits = await ledger.search("claude.*overloaded", 10)
        assert len(hits) == 1 and hits[0]["kind"] == "attempt"
        assert (await ledger.search("RATE_LIMIT", 10))[0]["event"] == "rate_limit"
        # a classic catastrophic-backtracking pattern on a long subject returns at once under RE2
        await ledger.log_event("r", "a", "long", {"s": "x" * 50_000})
        assert await ledger.search("(x+x+)+y", 5) == []
        with pytest.raises(InputError, match="invalid regular expression"):
            await ledger.search("([unclosed", 5)
        with pytest.raises(InputError, match="backreferences|invalid"):
            await ledger.search(r"(a)\1", 5)


async def test_search_refuses_a_pattern_whose_matching_would_hold_the_reader_for_long(tmp_path: Path):
    # RE2 is linear in the text, but its cost per character grows with the compiled pattern: an 80,000
    # character pattern took 7 s on a 10-character row, and a 12-character one ('(.*a){1000}z') 3 s on a
    # 50,000-character event. SQLite can interrupt a search between rows only, never inside one match, so
    # the search deadline did not hold and every other read (budget checks) waited on the reader.
    async with Ledger(tmp_path / "l.db") as ledger:
        await ledger.log_event("r", "a", "long", {"s": "abcxyz .:" * 5_000})
        read, scans = ledger.read, []

        async def counted(fn, *args, **kwargs):  # which reads reach the reader: a search's scan is its `q`
            scans.extend([fn.__qualname__] if fn.__qualname__.startswith(("search.", "search_page.")) else [])
            return await read(fn, *args, **kwargs)

        ledger.read = counted  # type: ignore[method-assign]
        with pytest.raises(InputError, match="at most 1000 characters"):
            await ledger.search("(a|b|c)*" * 10_000 + "y", 5)
        with pytest.raises(InputError, match="too complex.*fewer repetitions"):
            await ledger.search("(.*a){1000}z", 5)
        assert scans == []  # refused before any row was matched: the reader was never held
        assert await ledger.search("(.*a){20}z", 5) == []  # a pattern of ordinary size still runs
        assert scans == ["search_page.<locals>.q"]
