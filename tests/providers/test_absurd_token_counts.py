"""A broken server's token counts (2**62 input tokens) are no count: the answer is kept, at an unknown cost counted at
its bound, and its call recorded. Read as given, the answer's totals passed the ledger's 64-bit integers: the record
was refused ("a cost is above $9223372..."), and the paid call was kept nowhere."""

from __future__ import annotations

import dataclasses
import random
import shutil
from decimal import Decimal as D
from pathlib import Path

import pytest

from magsag_mcp.providers.anthropic_usage import usage as anthropic_usage
from magsag_mcp.providers.gemini_usage import gemini_usage
from magsag_mcp.providers.openai_responses import _usage as responses_usage
from magsag_mcp.providers.openai_usage import chat_usage
from magsag_mcp.providers.wire_format import MOST_TOKENS, _past_counting
from magsag_mcp.service import Service
from magsag_mcp.types import Usage

from .fakes import FakeOpenAI

KEY = "sk-test-key-123456"
CATALOG = Path(__file__).resolve().parents[2] / "catalog"
HUGE = 2**62


@pytest.mark.anyio
async def test_a_call_whose_answer_counts_past_any_answer_is_kept_and_recorded_at_an_unknown_cost(tmp_path, serve):
    fake = FakeOpenAI(KEY)
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": await serve(fake) + "/v1"}
    payload = {"data": "x", "model_config": {"provider": "openai", "model": "gpt-4o", "max_tokens": 100}}
    fake.queue({"text": "paid for", "usage": {"prompt_tokens": HUGE, "completion_tokens": HUGE}})
    fake.queue({"text": "next", "usage": {"prompt_tokens": 10, "completion_tokens": 5}})
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    (catalog / "policies" / "model_governance.yaml").write_text("policies: []\n")
    async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env=env) as svc:
        result = await svc.invoke_skill("skill.analysis", payload, run_id="r-huge")
        after = await svc.invoke_skill("skill.analysis", payload, run_id="r-next")
        [run] = await svc.query_runs({"run_id": "r-huge"})
        summary = await svc.summarize()
    assert result.result.text == "paid for" and result.cost_usd is None
    assert any("without reporting its token usage" in w for w in result.result.warnings)
    [attempt] = run["attempts"]
    assert attempt["outcome"] == "ok" and attempt["cost_usd"] is None and D(attempt["cost_bound_usd"]) > 0
    assert attempt["input_tokens"] == 0 and attempt["output_tokens"] == 0
    assert run["cost_complete"] is False and run["unpriced_calls"] == 1
    # the ledger goes on: the next call is priced and recorded, and the summary adds both up
    assert after.cost_usd is not None and after.cost_usd > 0
    assert summary["totals"]["calls"] == 2 and summary["totals"]["input_tokens"] == 10
    assert fake.violations == []


def test_each_vendors_usage_past_any_answer_is_no_count():
    over = MOST_TOKENS + 1
    readers = {
        "chat": lambda n: chat_usage({"prompt_tokens": 10, "completion_tokens": n}, {}),
        "chat cached": lambda n: chat_usage(
            {"prompt_tokens": 10, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": n}}, {}
        ),
        "responses": lambda n: responses_usage({"input_tokens": n, "output_tokens": 1, "total_tokens": n + 1}, {}),
        "anthropic": lambda n: anthropic_usage({"input_tokens": 10, "output_tokens": 1, "cache_read_input_tokens": n}),
        "gemini": lambda n: gemini_usage({"promptTokenCount": 10, "candidatesTokenCount": 1, "thoughtsTokenCount": n}),
    }
    for name, read in readers.items():
        assert read(over).reported is False, name
        assert read(MOST_TOKENS // 2).reported is True, name  # a large count that is one is read as given


def _int_fields() -> list[str]:
    return [f.name for f in dataclasses.fields(Usage) if f.type in ("int", int) and f.name != "reported"]


def test_every_count_is_checked_against_both_bounds():
    # _past_counting reads the counts one by one (not through counts()): a count added to Usage must be read there too
    names = _int_fields()
    assert len(names) == len(Usage().counts())
    for name in names:
        for value, past in ((-1, True), (MOST_TOKENS + 1, True), (MOST_TOKENS, False), (0, False)):
            usage = Usage()
            setattr(usage, name, value)
            assert _past_counting(usage) is past, (name, value)


def test_counts_each_within_the_bound_are_counts_whatever_their_bits_together():
    # the bitwise or of counts within the bound can pass it (10**10 | 1 is 10**10 + 1): that is no count past it
    assert _past_counting(Usage(MOST_TOKENS, 1, 1, 0, 0)) is False
    assert _past_counting(Usage(MOST_TOKENS, MOST_TOKENS - 1, 2**33, 2**32, 7)) is False
    assert chat_usage({"prompt_tokens": MOST_TOKENS, "completion_tokens": 1}, {}).reported is True
    # and one count past it beside them is still found
    assert _past_counting(Usage(MOST_TOKENS, 1, MOST_TOKENS + 1, 0, 0)) is True


def test_the_bounds_agree_with_the_smallest_and_largest_count():
    rng = random.Random(64)
    edges = (-(2**70), -2, -1, 0, 1, 2**32, MOST_TOKENS - 1, MOST_TOKENS, MOST_TOKENS + 1, 2**62, 2**70)
    names = _int_fields()
    for _ in range(3000):
        usage = Usage()
        for name in names:
            setattr(usage, name, rng.choice(edges) if rng.random() < 0.3 else rng.randrange(0, MOST_TOKENS + 1))
        counts = usage.counts()
        assert _past_counting(usage) is (max(counts) > MOST_TOKENS or min(counts) < 0), counts
