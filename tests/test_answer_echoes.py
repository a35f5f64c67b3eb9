"""What an answer says of itself beside its text (the service tier and the model that served it, the content filters
that fired) reaches the ledger and the caller: a gateway that echoes the request's headers there must not bring the
key back with it, and a field that is no text must not cost the paid answer."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from magsag_mcp.service import Service
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import AZURE_KEY, DEFAULT_KEY, FakeOpenAI

pytestmark = pytest.mark.anyio

#: a local server's key (one behind a gateway): no prefix, so only the key known to the process says it is one
LOCAL_KEY = "Zq7WmN4pLx2Rt9Vb8Kc5Hd3Gf6Js1Ay0"


def _stored(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return json.dumps([conn.execute(f"SELECT * FROM {t}").fetchall() for t in ("runs", "attempts", "events")])
    finally:
        conn.close()


def _env(fake: FakeOpenAI, provider: str) -> dict[str, str]:
    if provider == "azure":
        return {"AZURE_OPENAI_API_KEY": AZURE_KEY, "AZURE_OPENAI_ENDPOINT": fake.url + "/"}
    if provider == "openai":
        return {"OPENAI_API_KEY": DEFAULT_KEY, "OPENAI_BASE_URL": fake.url + "/v1"}
    fake.key = LOCAL_KEY
    return {"MAGSAG_LOCAL_LLM_API_KEY": LOCAL_KEY, "MAGSAG_LOCAL_LLM_BASE_URL": fake.url + "/v1"}


async def _invoke(fake: FakeOpenAI, provider: str, db: Path, stream: bool = True) -> dict:
    async with Service.open(db=db, env=_env(fake, provider)) as svc:
        model = "llama3.1:70b" if provider == "local" else "gpt-4o"
        payload = {"data": "x", "model_config": {"model": f"{provider}:{model}", "stream": stream}}
        result = await svc.invoke_skill("skill.analysis", payload)
    return result.to_dict()


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
@pytest.mark.parametrize("provider", ["openai", "azure", "local"])
async def test_a_service_tier_and_model_echoing_the_key_never_reach_the_ledger_or_the_result(
    fake_openai: FakeOpenAI, tmp_path: Path, provider: str, stream: bool
):
    # A gateway that names what it was sent where the answer says its tier and model: the ledger kept the tier as
    # the vendor said it, with the key, and the result (and a warning naming the tier) handed it to the caller
    key = {"openai": DEFAULT_KEY, "azure": AZURE_KEY, "local": LOCAL_KEY}[provider]
    fake_openai.queue(R.reply("hi", service_tier=f"tier of api-key {key}", model=f"served for {key}"))
    shown = json.dumps(await _invoke(fake_openai, provider, tmp_path / "l.db", stream))
    stored = _stored(tmp_path / "l.db")
    assert key not in shown and key not in stored
    assert "served for [REDACTED]" in shown
    if provider != "azure":  # (the fake's Azure sends no tier, as Azure's API does not)
        assert "tier of api-key [REDACTED]" in stored


@pytest.mark.parametrize("tier", [{"name": "priority"}, ["default"], 7], ids=["object", "list", "number"])
@pytest.mark.parametrize("provider", ["openai", "azure", "local"])
async def test_a_service_tier_that_is_no_text_does_not_lose_the_paid_answer(
    fake_openai: FakeOpenAI, tmp_path: Path, provider: str, tier: object
):
    # A tier that is no string made the pricing raise TypeError (unhashable) or the ledger refuse the row (a dict
    # binds to no column): the answer, generated and billed, was lost
    fake_openai.queue(R.reply("hi there", service_tier=tier))  # type: ignore[arg-type]
    result = await _invoke(fake_openai, provider, tmp_path / "l.db")
    assert result["text"] == "hi there"
    assert '"ok"' in _stored(tmp_path / "l.db")


async def test_a_model_whose_name_holds_sk_as_a_word_is_named_as_the_answer_names_it(
    fake_openai: FakeOpenAI, tmp_path: Path
):
    fake_openai.queue(R.reply("hi", model="mistral-sk-7b-instruct-v1"))
    assert (await _invoke(fake_openai, "local", tmp_path / "l.db"))["model"] == "mistral-sk-7b-instruct-v1"


@pytest.mark.parametrize("provider", ["openai", "local"])
async def test_a_service_tier_with_half_a_character_is_recorded_with_its_answer(
    fake_openai: FakeOpenAI, tmp_path: Path, provider: str
):
    # half of a UTF-16 surrogate pair (a gateway in JavaScript cutting a string) cannot be encoded as UTF-8: the
    # ledger could not bind the attempt's row, and the paid answer was lost
    fake_openai.queue(R.reply("hi there", service_tier="flex\ud83d"))
    result = await _invoke(fake_openai, provider, tmp_path / "l.db")
    assert result["text"] == "hi there"
    assert "flex\\ufffd" in _stored(tmp_path / "l.db")
