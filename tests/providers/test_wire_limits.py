"""Limits a vendor's API puts on a request that the others do not: what is over them is left out and said
to be, rather than answered 400 (a bad request that stops the cascade at the first vendor with the limit)."""

from __future__ import annotations

import pytest

from magsag_mcp.types import LLMRequest, Message

from .test_wire import CASES, last_body, setup

pytestmark = pytest.mark.anyio
#: how many stop sequences each API takes (OpenAI's StopConfiguration maxItems 4; Gemini's "up to 5")
LIMITS = {"openai": 4, "azure": 4, "google": 5}
LIMITED = [c for c in CASES if c.name in LIMITS]


@pytest.mark.parametrize("case", LIMITED, ids=[c.name for c in LIMITED])
async def test_stop_sequences_beyond_the_apis_limit_are_left_out_and_said_to_be(case, serve, transport):
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": "ok"})
    stop = ["A1", "B2", "C3", "D4", "E5", "F6"]
    result = await provider.complete(LLMRequest([Message("user", "Hi")], max_tokens=50, stop=stop), target)
    assert result.text == "ok" and fake.violations == []
    body = last_body(fake)
    sent = body["generationConfig"]["stopSequences"] if case.name == "google" else body["stop"]
    limit = LIMITS[case.name]
    assert sent == stop[:limit]
    assert any(f"at most {limit} stop sequences" in w and repr(stop[-1]) in w for w in result.warnings)


def test_a_compatible_or_local_server_gets_every_stop_sequence():
    # vLLM, Ollama and the like take more than OpenAI's 4: they are not cut to OpenAI's limit (the
    # spec-checking fake holds OpenAI's, so the body is checked as built)
    from magsag_mcp.providers.local import LocalProvider
    from magsag_mcp.providers.openai import CompatProvider

    stop = ["A1", "B2", "C3", "D4", "E5"]
    request = LLMRequest([Message("user", "Hi")], max_tokens=50, stop=stop)
    for wire in (CompatProvider({}, None).wire, LocalProvider({}, None).chat):  # type: ignore[arg-type]
        body, notes = wire.build(request, "my-model", stream=False)
        assert body["stop"] == stop and notes == []
