"""A broken server's token counts (2**62 input tokens) are no count: the answer is kept, at an unknown cost counted at
its bound, and its call recorded. Read as given, the answer's totals passed the ledger's 64-bit integers: the record
was refused ("a cost is above $9223372..."), and the paid call was kept nowhere."""

from __future__ import annotations

import shutil
from decimal import Decimal as D
from pathlib import Path

import pytest

from magsag_mcp.providers.anthropic_usage import usage as anthropic_usage
from magsag_mcp.providers.gemini_usage import gemini_usage
from magsag_mcp.providers.openai_responses import _usage as responses_usage
from magsag_mcp.providers.openai_usage import chat_usage
from magsag_mcp.providers.wire_format import MOST_TOKENS
from magsag_mcp.service import Service

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
