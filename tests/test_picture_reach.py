"""A reservation's 2x bound of the prompt's estimate (worst_cases.PROMPT_PER_ESTIMATE_AT_MOST: the text estimated at
half its bytes may be counted at up to all of them) reaches the pictures once: each is already counted at the most its
vendor bills one as (images.image_tokens_at_most). Doubled with the text, a Gemini 2.5 Pro prompt of 60,000 text
tokens and 77,400 picture tokens, which can reach 197,400 tokens at most, was reserved at the rates past 200,000
(input $2.50 and output $15 a million, not $1.25 and $10): twice what it can cost."""

from __future__ import annotations

import base64
import struct
import zlib
from dataclasses import replace
from decimal import Decimal as D

import pytest

from magsag_mcp.attempt_cost import cost_bound, input_tokens_reserved, input_tokens_reserved_parts
from magsag_mcp.call_request import _messages, estimate_input_parts, estimate_input_tokens
from magsag_mcp.governance import Governance
from magsag_mcp.ledger import Ledger
from magsag_mcp.pricing import Pricer
from magsag_mcp.types import LLMRequest, Target
from tests.governance_helpers import attempt_ctx, limits
from tests.pricing_audit import M, list_rates

pytestmark = pytest.mark.anyio

PRO = Target("google", "gemini-2.5-pro")
SONNET_4 = Target("anthropic", "claude-sonnet-4-0")


def png_header(width: int, height: int) -> bytes:
    """A PNG's signature, IHDR of ``width`` x ``height`` and IEND (no pixels: the header is what bounds its tokens)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def _asking(text_bytes: int, pictures: int) -> LLMRequest:
    # a 7,680 x 7,680 picture: 100 tiles of 768, 258 tokens each at Gemini (25,800)
    picture = base64.b64encode(png_header(7680, 7680)).decode()
    parts = [{"type": "text", "text": "a" * text_bytes}]
    parts += [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{picture}"}}] * pictures
    return LLMRequest(_messages([{"role": "user", "content": parts}]), max_tokens=1_000)


def test_the_pricer_adds_picture_tokens_once_to_the_reach():
    flat, past = list_rates("google", "gemini-2.5-pro", 0), list_rates("google", "gemini-2.5-pro", 250_000)
    pricer = Pricer()
    # 60,000 text tokens (up to 120,000 counted) and 80,000 picture tokens: 200,000 at most, not past the tier
    held = pricer.reserved_worst_case(PRO, 140_000, 1_000, picture_tokens=80_000)
    assert held == (140_000 * flat["input"] + 1_000 * flat["output"]) / M == D("0.185")
    # the same 140,000 tokens all text may be counted at 280,000: past it, every token at the dearer rates
    assert pricer.reserved_worst_case(PRO, 140_000, 1_000) == (140_000 * past["input"] + 1_000 * past["output"]) / M
    assert pricer.reserved_worst_case(PRO, 140_000, 1_000) == D("0.365")
    # one more text token's reach passes it
    over = pricer.reserved_worst_case(PRO, 140_001, 1_000, picture_tokens=79_999)
    assert over == (140_001 * past["input"] + 1_000 * past["output"]) / M


def test_a_request_with_pictures_is_reserved_at_the_rates_its_prompt_can_reach():
    request = _asking(119_968, 3)
    text, pictures = estimate_input_parts(request, PRO)
    assert pictures == 3 * 25_800
    assert text == 60_000  # ((119,968 + 16) // 2 + 8: tokens_at_most's half the bytes)
    assert estimate_input_tokens(request, PRO) == text + pictures == input_tokens_reserved(request, PRO)
    assert input_tokens_reserved_parts(request, PRO) == (137_400, 77_400)
    assert 2 * text + pictures <= 200_000 < 2 * (text + pictures)
    flat = list_rates("google", "gemini-2.5-pro", 0)
    # what an answer that reports no usage is counted at (price_unreported's bound, no limit reserving it)
    bound = cost_bound(Pricer(), None, PRO, request)
    assert bound == (137_400 * flat["input"] + 1_000 * flat["output"]) / M == D("0.18175")


def test_a_claude_prompt_with_pictures_inside_the_window_is_reserved_at_its_flat_rates():
    # Claude Sonnet 4, served past its 200,000-token window by the 1M-context beta at its long-context rates ($6 and
    # $22.50 a million, not $3 and $15): 80,000 text tokens and 30,000 picture tokens reach 190,000 at most
    pricer = Pricer()
    assert pricer.reserved_worst_case(SONNET_4, 110_000, 1_000, picture_tokens=30_000) == D("0.345")
    assert (110_000 * 3 + 1_000 * 15) / M == D("0.345")
    # all text, 110,000 tokens may reach 220,000: the long-context rates
    assert pricer.reserved_worst_case(SONNET_4, 110_000, 1_000) == (110_000 * 6 + 1_000 * D("22.5")) / M


async def test_a_limits_reservation_adds_the_pictures_once(tmp_path):
    # the cascade's AttemptContext carries the request's picture tokens (cascade_guard.attempt_context) to admit
    request = _asking(119_968, 3)
    tokens_in, pictures = input_tokens_reserved_parts(request, PRO)
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(limits(max_cost_per_run_usd="1"), ledger, Pricer())
        ctx = replace(attempt_ctx("r-pictures"), target=PRO, estimated_input_tokens=tokens_in, max_output_tokens=1_000)
        admitted = await gov.admit(replace(ctx, picture_tokens=pictures))
        assert admitted.reserved_usd == D("0.18175")
        await gov.release(admitted)
        # a limit under what the doubled pictures reserved ($0.3435) and over what the prompt can cost admits it
        strict = Governance(limits(max_cost_per_run_usd="0.2"), ledger, Pricer())
        held = await strict.admit(replace(ctx, run_id="r-strict", picture_tokens=pictures))
        assert held.reserved_usd == D("0.18175")
        await strict.release(held)


class Asked(Pricer):
    """A Pricer that keeps the keywords each worst case was asked with."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[dict] = []

    def reserved_worst_case(self, target, input_tokens, output_tokens, cache_ttls=None, **keywords):  # type: ignore[override]
        self.asked.append(keywords)
        return super().reserved_worst_case(target, input_tokens, output_tokens, cache_ttls, **keywords)


async def test_the_pricer_is_asked_in_the_protocols_own_words_pictures_or_none(tmp_path):
    # The Pricing protocol (attempt_cost.Pricing, no documented extension point) takes picture_tokens: admission and
    # the bound of an unknown cost give it always, 0 for a prompt of none, with no wrapper between them that left it
    # out for a pricer written before it took them (a frame and a branch on every admission under limits)
    pricer = Asked()
    text_only = LLMRequest(_messages([{"role": "user", "content": "hello"}]), max_tokens=100)
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(limits(max_cost_per_run_usd="1"), ledger, pricer)
        ctx = replace(attempt_ctx("r-text"), target=PRO, estimated_input_tokens=10, max_output_tokens=100)
        await gov.release(await gov.admit(ctx))
    cost_bound(pricer, None, PRO, text_only)
    assert [asked.get("picture_tokens") for asked in pricer.asked] == [0, 0]
