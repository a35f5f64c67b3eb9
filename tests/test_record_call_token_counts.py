"""Ledger.record_call (the library's write of a call made outside the router) refuses a record whose token counts are
None or negative, naming the field and the fix, with nothing of the call written. Before, a None failed the write with
a TypeError that named nothing (``unsupported operand type(s) for +``), and a negative count was kept and summed into
every later summary, rollup and run as tokens the call never had."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp.errors import InputError
from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord

pytestmark = pytest.mark.anyio
AT = 20_400 * 86400.0 + 50


def _attempt(run_id: str, **counts: Any) -> AttemptRecord:
    counts = {"input_tokens": 100, "output_tokens": 10, **counts}
    return AttemptRecord(run_id, AT, "openai", "gpt-4o", "s", "ana", "ok", 0, 1, cost_usd=Decimal("0.01"), **counts)


def _run(run_id: str, **counts: Any) -> RunRecord:
    return RunRecord(run_id, "ana", "s", AT, ended_at=AT, status="ok", **counts)


_ATTEMPT_COUNT_FIELDS = (
    "input_tokens", "output_tokens", "cached_tokens", "cache_write_tokens", "reasoning_tokens",
    "cache_write_1h_tokens", "cache_write_ttl_unsaid_tokens", "input_audio_tokens", "output_audio_tokens",
    "output_image_tokens",
)  # fmt: skip

BAD_ATTEMPTS = [
    ("input_tokens", None),
    ("output_tokens", -1),
    ("cached_tokens", None),
    ("cache_write_tokens", -5),
    ("reasoning_tokens", None),
    ("cache_write_1h_tokens", -2),
    ("cache_write_ttl_unsaid_tokens", None),
    ("input_audio_tokens", -1),
    ("output_audio_tokens", None),
    ("output_image_tokens", -3),
    ("input_tokens", 2.5),
    ("output_tokens", "10"),
    # a bool is an int to Python: True was kept as 1 token; an unsaid image count is None alone, not any falsy value
    ("cached_tokens", True),
    ("output_image_tokens", False),
    ("output_image_tokens", ""),
    ("output_image_tokens", 0.0),
]


@pytest.mark.parametrize(("field", "value"), BAD_ATTEMPTS, ids=[f"{f}={v!r}" for f, v in BAD_ATTEMPTS])
@pytest.mark.parametrize("alone", [True, False], ids=["inline", "group-commit"])
async def test_an_attempt_of_no_token_count_is_refused_naming_it_and_nothing_is_written(
    tmp_path: Path, field: str, value: Any, alone: bool
):
    async with Ledger(tmp_path / "l.db") as ledger:
        good = _attempt("bad")  # the call's first attempt is fine: the second's count refuses the whole record
        with pytest.raises(InputError) as refused:
            await ledger.record_call(_run("bad"), [good, _attempt("bad", **{field: value})], alone=alone)
        message = str(refused.value)
        assert f"attempt 2 (openai:gpt-4o)'s {field} is {value!r}" in message, message
        assert "a count of tokens is a whole number, 0 or more" in message and f"fix its {field}" in message
        assert "nothing of the call was recorded" in message and refused.value.details["field"] == field
        assert await ledger.query_runs({"run_id": "bad"}) == []
        summary = await ledger.summarize()
        assert summary["totals"]["attempts"] == 0 and summary["totals"]["input_tokens"] == 0
        # the ledger goes on: a good record of the same call is written whole
        await ledger.record_call(_run("bad"), [good], alone=alone)
        assert (await ledger.summarize())["totals"]["input_tokens"] == 100


@pytest.mark.parametrize(("field", "value"), [("input_tokens", None), ("output_tokens", -7), ("output_tokens", True)])
async def test_a_run_of_no_token_count_is_refused_naming_it(tmp_path: Path, field: str, value: Any):
    async with Ledger(tmp_path / "l.db") as ledger:
        with pytest.raises(InputError, match=rf"run 'r'\'s {field} is {value!r}: a count of tokens"):
            await ledger.record_call(_run("r", **{field: value}), [_attempt("r")])
        assert await ledger.query_runs({"run_id": "r"}) == []


async def test_counts_of_zero_and_an_unsaid_image_count_are_kept(tmp_path: Path):
    async with Ledger(tmp_path / "l.db") as ledger:
        attempt = replace(_attempt("r"), input_tokens=0, output_tokens=0, output_image_tokens=None)
        await ledger.record_call(_run("r"), [attempt])
        [run] = await ledger.query_runs({"run_id": "r"})
    assert run["attempts"][0]["input_tokens"] == 0


@pytest.mark.parametrize("field", _ATTEMPT_COUNT_FIELDS)
async def test_a_bool_in_any_of_an_attempts_counts_is_refused(tmp_path: Path, field: str):
    # (_checked_counts names each count in its bool test, written out for speed: none may be left out of it)
    async with Ledger(tmp_path / "l.db") as ledger:
        with pytest.raises(InputError) as refused:
            await ledger.record_call(_run("b"), [_attempt("b", **{field: True})], alone=True)
        assert f"attempt 1 (openai:gpt-4o)'s {field} is True" in str(refused.value)
        assert await ledger.query_runs({"run_id": "b"}) == []
