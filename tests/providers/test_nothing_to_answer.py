"""A call whose every message is empty or blank (a skill's field given as blank text) leaves Claude's and Gemini's
bodies no turn: both APIs refuse such a request (400), which stopped the cascade as a bad request of ours. It is said
before anything is sent, and the next target is tried."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.service import Service
from magsag_mcp.types import LLMRequest, Message

from .anthropic_helpers import ANTHROPIC
from .fakes import FakeAnthropic, FakeOpenAI
from .test_wire import CASES, setup

pytestmark = pytest.mark.anyio

CATALOG = Path(__file__).resolve().parents[2] / "catalog"
OPENAI_KEY = "sk-test-key-123456"
ANTHROPIC_KEY = "sk-ant-test-0123456789abcdef"
CLAUDE = "anthropic:claude-sonnet-4-5"
GOOGLE = next(case for case in CASES if case.name == "google")


async def _service(tmp_path, serve):
    claude, openai = FakeAnthropic(ANTHROPIC_KEY), FakeOpenAI(OPENAI_KEY)
    env = {
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "ANTHROPIC_BASE_URL": await serve(claude),
        "OPENAI_API_KEY": OPENAI_KEY,
        "OPENAI_BASE_URL": await serve(openai) + "/v1",
    }
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    (catalog / "policies" / "model_governance.yaml").write_text("policies: []\n")
    return await Service.open(catalog=catalog, db=tmp_path / "l.db", env=env), claude, openai


async def test_a_call_of_only_blank_text_moves_on_from_claude_without_sending_it(tmp_path, serve):
    svc, claude, openai = await _service(tmp_path, serve)
    openai.queue({"text": "nothing was asked"})
    payload = {"message": " \n", "model_config": {"model": CLAUDE, "fallbacks": ["openai:gpt-4o-mini"]}}
    async with svc:
        result = await svc.invoke_skill("skill.assistant", payload, run_id="r-blank")
        [run] = await svc.query_runs({"run_id": "r-blank"})
    assert result.result.text == "nothing was asked"
    assert claude.requests == []  # nothing sent: the API would have refused it
    failed, answered = run["attempts"]
    assert failed["outcome"] == "error" and failed["cost_usd"] == "0" and failed["provider"] == "anthropic"
    assert "every message of this call is empty or blank" in failed["error_message"]
    assert answered["outcome"] == "ok" and answered["provider"] == "openai"


async def test_with_no_other_target_the_call_is_told_what_to_give(tmp_path, serve):
    svc, claude, _ = await _service(tmp_path, serve)
    async with svc:
        with pytest.raises(E.ProviderError) as caught:
            await svc.invoke_skill("skill.assistant", {"message": "  ", "model_config": {"model": CLAUDE}})
    assert "Claude's Messages API takes no call without a message that says something" in str(caught.value)
    assert "give the call the text to answer" in str(caught.value)
    assert claude.requests == []


@pytest.mark.parametrize("case", [ANTHROPIC, GOOGLE], ids=["anthropic", "google"])
async def test_a_conversation_of_empty_turns_is_not_sent(serve, transport, case):
    fake, provider, target = await setup(case, serve, transport)
    request = LLMRequest([Message("user", ""), Message("assistant", ""), Message("user", "")], system="be brief")
    with pytest.raises(E.UnsupportedFeatureError, match="every message of this call is empty or blank"):
        await provider.complete(request, target)
    assert fake.requests == []
    fake.queue({"text": "ok"})  # a turn that says something is sent as before
    await provider.complete(LLMRequest([Message("user", ""), Message("user", "hi")], system="be brief"), target)
    assert len(fake.requests) == 1 and fake.violations == []
