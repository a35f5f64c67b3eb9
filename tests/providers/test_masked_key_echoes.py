"""A vendor's 401 for a refused key, against the loopback fakes: OpenAI's names the key it was sent, masked but for
its first and last characters ("Incorrect API key provided: sk-abc****wxyz"), and no character of it (masked or not)
reaches the call's error, its ledger row or an MCP tool's result; Anthropic's ("invalid x-api-key") and Gemini's ("API
key not valid"), which echo no key, are kept as they are."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client

from magsag_mcp import errors as E
from magsag_mcp.mcp_server import build_server
from magsag_mcp.providers.anthropic import AnthropicProvider
from magsag_mcp.providers.gemini import GeminiProvider
from magsag_mcp.providers.openai import OpenAIProvider
from magsag_mcp.redaction import redact
from magsag_mcp.service import Service
from magsag_mcp.types import LLMRequest, Message, Target
from tests.mcp_tools_helpers import CATALOG

from .fakes import FakeAnthropic, FakeGemini, FakeOpenAI

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restored_secrets")]
KEY = "sk-test-key-123456"
#: the key the caller configured, which the server refuses. Every run of 4 of its characters past "sk-" mixes letters
#: and digits and spells no word: a run of digits alone ("7654") turned up in a stored timestamp now and then
#: (1796413994.5127654), and a word's piece ("ller") would turn up in any message saying "caller"
WRONG = "sk-proj-Wq0xZk7JvPd9Rm2Tf5Lb8Hs1Nc4Yg6zyxw"
OPENAI_SAYS = "Incorrect API key provided: [REDACTED]. You can find your API key at"


class MaskingOpenAI(FakeOpenAI):
    """OpenAI's 401 with the key's first ``shown`` characters before the mask (the fake's own shows 3; OpenAI has shown
    "sk-proj-" and "sk-abc12"), its last 4 after it, and the mask written ``mask`` times a ``*`` or as ``mask``."""

    def __init__(self, shown: int, mask: str) -> None:
        super().__init__(KEY)
        self.shown, self.mask = shown, mask

    def bad_key(self) -> tuple[int, Any]:
        status, body = super().bad_key()
        sent = self.requests[-1]["headers"]["Authorization"].removeprefix("Bearer ")
        body["error"]["message"] = (
            f"Incorrect API key provided: {sent[: self.shown]}{self.mask}{sent[-4:]}. You can find your API key at "
            "https://platform.openai.com/account/api-keys."
        )
        return status, body


def _kept_of(text: str) -> list[str]:
    """What ``text`` shows of :data:`WRONG` past its ``sk-``: its last 4, any 4 of it after ``sk-``, or a mask."""
    return [WRONG[i : i + 4] for i in range(3, len(WRONG) - 3) if WRONG[i : i + 4] in text] + (
        ["*"] if "*" in text else []
    )


@pytest.mark.parametrize(
    ("shown", "mask"),
    [(3, "*" * 20), (8, "*" * 20), (7, "*" * 20), (6, "***...***"), (8, "..."), (3, "\u2026"), (8, "\u2022" * 8)],
    ids=["sk-", "sk-proj-", "sk-proj", "stars-ellipsis", "ellipsis", "ellipsis-character", "bullets"],
)
async def test_openais_masked_echo_of_a_refused_key_leaves_nothing_of_it(serve, transport, shown: int, mask: str):
    # the key's first characters before the mask went as "sk-" (or the key pattern's 8) and its last 4 stayed:
    # "Incorrect API key provided: sk-********zyxw"
    fake = MaskingOpenAI(shown, mask)
    url = await serve(fake)
    provider = OpenAIProvider({"OPENAI_API_KEY": WRONG}, transport)
    with pytest.raises(E.AuthenticationError) as info:
        await provider.complete(
            LLMRequest([Message("user", "hi")], max_tokens=5), Target("openai", "gpt-4o", url + "/v1")
        )
    assert OPENAI_SAYS in info.value.message
    assert _kept_of(info.value.message) == [] and _kept_of(json.dumps(info.value.to_dict())) == []


@pytest.mark.parametrize(
    ("said", "kept"),
    [
        ("Incorrect API key provided: sk-abc***...wxyz.", "Incorrect API key provided: [REDACTED]."),
        # a gateway's key, no sk-: OpenAI masks it so too
        ("Incorrect API key provided: gw-**********7890. You", "Incorrect API key provided: [REDACTED]. You"),
        ("Incorrect API key provided: abcdefgh****wxyz. You", "Incorrect API key provided: [REDACTED]. You"),
        ("the key sk-proj-abc...wxyz was refused", "the key [REDACTED] was refused"),
        ("key AIzaSyA1************wxyz refused", "key [REDACTED] refused"),
        ('"api_key": "sk-a****wxyz"', '"api_key": "[REDACTED]"'),
    ],
)
def test_a_masked_key_is_removed_whole(said: str, kept: str):
    assert redact(said) == kept


@pytest.mark.parametrize(
    "text",
    [
        "export OPENAI_API_KEY=sk-... as the guide writes it",  # the guide's placeholder: nothing of a key after it
        "keys start sk-... and go on",
        "risk-***abc",  # no key starts after a letter
        "a footnote*** and more...",
        "Incorrect API key provided: [REDACTED]. You can find your API key at https://platform.openai.com/account/api-keys.",
    ],
)
def test_text_holding_no_masked_key_is_kept(text: str):
    assert redact(text) == text


@pytest.mark.parametrize("vendor", ["anthropic", "gemini"])
async def test_anthropics_and_geminis_invalid_key_bodies_are_kept_as_the_vendor_wrote_them(serve, transport, vendor):
    # neither echoes the key: its words reach the error whole, and nothing of the key does
    if vendor == "anthropic":
        url = await serve(FakeAnthropic(KEY))
        provider: Any = AnthropicProvider({"ANTHROPIC_API_KEY": WRONG, "ANTHROPIC_BASE_URL": url}, transport)
        target, said = Target("anthropic", "claude-3-5-sonnet-20241022"), "invalid x-api-key"
    else:
        url = await serve(FakeGemini(KEY))
        provider = GeminiProvider({"GEMINI_API_KEY": WRONG, "GEMINI_BASE_URL": url}, transport)
        target, said = Target("google", "gemini-2.5-flash"), "API key not valid. Please pass a valid API key."
    with pytest.raises(E.AuthenticationError) as info:
        await provider.complete(LLMRequest([Message("user", "hi")], max_tokens=5), target)
    assert said in info.value.message and "[REDACTED]" not in info.value.message
    assert _kept_of(json.dumps(info.value.to_dict())) == []


async def test_a_masked_key_reaches_neither_the_ledger_nor_an_mcp_tools_result(serve, tmp_path: Path):
    url = await serve(MaskingOpenAI(8, "*" * 30))
    env = {"OPENAI_BASE_URL": url + "/v1", "OPENAI_API_KEY": WRONG, "MAGSAG_RETRY_BASE_DELAY": "0.001"}
    call = {"data": "x", "model_config": {"model": "openai:gpt-4o"}}
    svc = await Service.open(db=tmp_path / "l.db", env=env)
    try:
        with pytest.raises(E.MagsagError) as info:
            await svc.invoke_skill("skill.analysis", call)
    finally:
        await svc.aclose()
    assert "Incorrect API key provided: [REDACTED]." in info.value.message
    assert _kept_of(json.dumps(info.value.to_dict())) == []
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "l.db", env=env)) as client:
        result = await client.call_tool("invoke_skill", {"skill_id": "skill.analysis", "payload": call})
    assert result.is_error and "Incorrect API key provided: [REDACTED]." in result.content[0].text
    assert _kept_of(result.content[0].text) == [] and _kept_of(json.dumps(result.structured_content)) == []
    conn = sqlite3.connect(tmp_path / "l.db")
    try:
        stored = json.dumps([conn.execute(f"SELECT * FROM {t}").fetchall() for t in ("runs", "attempts", "events")])
    finally:
        conn.close()
    assert stored.count("Incorrect API key provided: [REDACTED].") >= 2 and _kept_of(stored) == []
