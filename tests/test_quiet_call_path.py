"""What an ordinary call (answered, nothing to say of its price, no turn left paused) does not do: the work kept for
the calls that need it (a price's notes joined, a paused turn's call held) is not run for every call. The sixty-third
round cut both from the hot path (some 2,000 and 600 instructions a call, callgrind); these keep them off it, beside
the tests of the notes themselves (test_pricing_cache_split_past_total.py, test_pricing_unsaid_cache_ttl.py,
test_pricing_per_use_charges.py) and of paused turns held (test_paused_turn_continued_by_caller.py)."""

from __future__ import annotations

import shutil
from decimal import Decimal as D
from pathlib import Path

import pytest

from magsag_mcp import pricing, service
from magsag_mcp.pricing import Pricer
from magsag_mcp.service import Service
from magsag_mcp.token_usage import Usage
from tests.providers.fakes import FakeAnthropic

pytestmark = pytest.mark.anyio
KEY = "sk-qu1e7-c4ll-p4th"
CATALOG = Path(__file__).resolve().parent.parent / "catalog"


def _never(*_args: object) -> None:
    raise AssertionError("run on a call that did not need it")


def test_a_price_with_nothing_to_say_joins_no_notes(monkeypatch):
    monkeypatch.setattr(pricing, "split_past_written", _never)
    monkeypatch.setattr(pricing, "joined", _never)
    quote = Pricer.from_catalog(None).price("openai", "gpt-4o", Usage(input_tokens=1000, output_tokens=100))
    # gpt-4o: $2.50 in, $10 out a million tokens
    assert (quote.cost_usd, quote.source, quote.warning) == (D("0.0035"), "genai-prices", None)


def test_a_price_with_a_note_still_says_it(monkeypatch):
    # the guard's other side: a split past the cache writes (a note of its own) is still joined and said
    usage = Usage(
        input_tokens=31_000,
        output_tokens=500,
        cache_write_tokens=30_000,
        cache_write_1h_tokens=20_000,
        cache_write_split_past_tokens=20_000,
    )
    quote = Pricer.from_catalog(None).price("anthropic", "claude-sonnet-4-5", usage)
    assert quote.cost_usd is not None and quote.warning is not None
    assert "20000 more cache-write tokens than its cache_creation_input_tokens (10000)" in quote.warning


async def test_an_answer_not_left_paused_holds_no_call(tmp_path, serve, monkeypatch):
    monkeypatch.setattr(service, "held_turn", _never)
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    (catalog / "policies" / "model_governance.yaml").write_text("policies: []\n")
    fake = FakeAnthropic(KEY).queue({"text": "Done."})
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    config = {"provider": "anthropic", "model": "claude-opus-4-6", "max_tokens": 2000, "stream": False}
    async with await Service.open(catalog=catalog, db=tmp_path / "ledger.db", env=env) as svc:
        done = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config})
    assert done.result.text == "Done." and done.paused_call is None
    assert fake.violations == []
