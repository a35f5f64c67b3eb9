"""A JSON answer that max_tokens cut short says so, whichever vendor cut it."""

from __future__ import annotations

import pytest

from magsag_mcp import errors as E
from magsag_mcp.types import LLMRequest, Message

from .test_wire import CASES, setup

pytestmark = pytest.mark.anyio
CUT = {"openai": "length", "anthropic": "max_tokens", "google": "MAX_TOKENS"}
VENDORS = [c for c in CASES if c.name in CUT]


@pytest.mark.parametrize("case", VENDORS, ids=[c.name for c in VENDORS])
async def test_json_cut_short_by_max_tokens_says_so(case, serve, transport):
    # It was "returned invalid JSON (Unterminated string ...)": true, but not why, nor what to change.
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": '{"city": "Os', "finish": CUT[case.name]})
    with pytest.raises(E.InvalidOutputError, match="cut short by max_tokens.*raise max_tokens") as info:
        await provider.complete(LLMRequest([Message("user", "JSON please")], json_output=True, max_tokens=5), target)
    assert info.value.usage is not None and info.value.usage.output_tokens > 0 and fake.violations == []
    assert info.value.moves_on
