"""A prompt's pictures reach each reservation of a fallback cascade once, through the service: cascade_guard asks each
target's estimate apart (its vendor's picture tokens, counted at the most it bills one as) and hands them to admit
beside the text's (AttemptContext.picture_tokens), whose 2x bound of the estimate (worst_cases.PROMPT_PER_ESTIMATE_AT_
MOST) takes the text alone. Gemini 2.5 Pro's pictures doubled with the text reached past its 200,000-token tier; the
fallback, Claude Sonnet 4, is reserved with its own vendor's count of the same pictures, once."""

from __future__ import annotations

import base64
from decimal import Decimal as D

import pytest

from magsag_mcp.service import Service
from tests.pricing_audit import M, catalog_without_policies, list_rates
from tests.providers.fakes import FakeAnthropic, FakeGemini
from tests.test_picture_reach import png_header

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"
CAPS = "policies:\n  - name: caps\n    thresholds: {max_cost_per_run_usd: 5}\n"
#: a 7,680 x 7,680 picture: 100 tiles of 768 at Gemini, 258 tokens each (25,800); at Claude, counted from its size as
#: sent up to 4,800 (images.py: past the most of the models that read larger pictures)
PICTURE = base64.b64encode(png_header(7680, 7680)).decode()


async def test_each_targets_reservation_counts_the_pictures_once(tmp_path, serve):
    gemini, claude = FakeGemini(KEY), FakeAnthropic(KEY)
    gemini.queue({"error": 503})  # not answered: the cascade falls back
    claude.queue({"text": "ok", "usage": {"input_tokens": 1_000, "output_tokens": 10}})
    env = {
        "GEMINI_API_KEY": KEY,
        "GEMINI_BASE_URL": await serve(gemini),
        "ANTHROPIC_API_KEY": KEY,
        "ANTHROPIC_BASE_URL": await serve(claude),
        "MAGSAG_MAX_RETRIES": "0",
    }
    catalog = catalog_without_policies(tmp_path)
    (catalog / "policies").mkdir()
    (catalog / "policies" / "caps.yaml").write_text(CAPS)
    parts = [{"type": "text", "text": "a" * 119_000}]
    parts += [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PICTURE}"}}] * 3
    config = {
        "model": "google:gemini-2.5-pro",
        "fallbacks": ["anthropic:claude-sonnet-4-0"],
        "max_tokens": 1_000,
        "messages": [{"role": "user", "content": parts}],
    }
    async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env=env) as svc:
        admitted: list[tuple] = []
        real = svc.governance.admit

        async def admit(ctx):
            admission = await real(ctx)
            admitted.append((ctx.target.label, ctx.estimated_input_tokens, ctx.picture_tokens, admission.reserved_usd))
            return admission

        svc.governance.admit = admit  # type: ignore[method-assign]
        result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config}, run_id="r")
    assert gemini.violations == [] and claude.violations == []
    assert result.provider == "anthropic"
    (g_label, g_in, g_pictures, g_held), (c_label, c_in, c_pictures, c_held) = admitted
    assert (g_label, c_label) == ("google:gemini-2.5-pro", "anthropic:claude-sonnet-4-0")
    # each vendor's count of the same three pictures, once in each estimate
    assert g_pictures == 3 * 25_800
    assert c_pictures == 3 * 4_800
    # Gemini: the text's reach (twice its estimate) and the pictures stay under 200,000: the flat rates
    g_text = g_in - g_pictures
    assert 2 * g_text + g_pictures <= 200_000 < 2 * g_in
    flat = list_rates("google", "gemini-2.5-pro", 0)
    assert g_held == (g_in * flat["input"] + 1_000 * flat["output"]) / M
    # Claude Sonnet 4: inside its 200,000-token window, at its flat $3 / $15 (its 1M beta's $6 / $22.50 past it)
    c_text = c_in - c_pictures
    assert 2 * c_text + c_pictures <= 200_000
    assert c_held == (c_in * 3 + 1_000 * 15) / M
    # in dollars: the skill's prompt and the 119,000 bytes of text estimated at 59,586 tokens for both vendors
    assert g_text == c_text == 59_586
    assert (g_held, c_held) == (D("0.1812325"), D("0.236958"))
    # (with the pictures doubled, Gemini's was reserved past its tier, at $2.50 / $15: $0.357465)
    past = list_rates("google", "gemini-2.5-pro", 250_000)
    assert (g_in * past["input"] + 1_000 * past["output"]) / M == D("0.357465")
