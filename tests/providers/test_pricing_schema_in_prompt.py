"""What a JSON call's prompt holds beyond its messages, which a budget's worst case must count: the schema's
``description`` (which every provider now carries to the model) and, where the schema goes in the prompt (a
Claude that refuses a forced tool, thinking, tools beside it, Gemini beside tools), the instruction that frames
it. Neither was counted: a call whose description outweighed its messages was reserved for a fraction of the
prompt it sent, and a call limit let through a call that could cost more than it."""

from __future__ import annotations

import shutil
from decimal import Decimal as D
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.service import Service

from .fakes import FakeAnthropic

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"
CATALOG = Path(__file__).resolve().parents[2] / "catalog"
SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
#: what the answer is for, at length (a registrar's rules): about 1,000 tokens the model reads
RULES = "The person's name as the registrar writes it: family name first, in capitals, then given names. " * 40


def _payload(description: str | None) -> dict:
    js: dict = {"name": "person", "schema": SCHEMA}
    if description is not None:
        js["description"] = description
    rf = {"type": "json_schema", "json_schema": js}
    model = {"provider": "anthropic", "model": "claude-sonnet-4-5", "max_tokens": 50, "response_format": rf}
    return {"data": "Name?", "model_config": model}


async def test_a_json_schemas_description_is_counted_in_the_prompt_a_budget_reserves_for(tmp_path, serve):
    fake = FakeAnthropic(KEY)
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    async with await Service.open(db=tmp_path / "probe.db", env=env) as svc:
        bare = svc.explain("skill.analysis", _payload(None))
        described = svc.explain("skill.analysis", _payload(RULES))
    # the description's bytes, at the estimate's own rule (half the bytes, a safe over-estimate)
    grown = described["estimated_input_tokens"] - bare["estimated_input_tokens"]
    assert grown >= len(RULES.encode()) // 2, (bare["estimated_input_tokens"], described["estimated_input_tokens"])
    # a call limit between the two worst cases lets the short call through and refuses the long one unsent
    low = D(bare["targets"][0]["estimated_max_cost_usd"])
    high = D(described["targets"][0]["estimated_max_cost_usd"])
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    (catalog / "policies" / "model_governance.yaml").write_text(
        f"policies:\n  - name: per_call\n    thresholds: {{max_cost_per_call_usd: {(low + high) / 2}}}\n"
    )
    fake.queue({"tool_calls": [{"id": "t1", "name": "json_output", "arguments": {"name": "DOE Jane"}}]})
    async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env=env) as svc:
        result = await svc.invoke_skill("skill.analysis", _payload(None))
        assert result.output == {"name": "DOE Jane"}
        with pytest.raises(E.BudgetExceeded, match="call limit"):
            await svc.invoke_skill("skill.analysis", _payload(RULES))
    assert len(fake.requests) == 1 and fake.violations == []


async def test_the_instruction_a_schema_in_the_prompt_comes_with_is_counted(tmp_path, serve):
    # Claude Fable 5.1 refuses a forced tool: the call is sent again with the schema in the system prompt, framed by
    # an instruction of about 140 bytes, which the estimate of a short call did not count
    from magsag_mcp.call_request import estimate_input_tokens
    from magsag_mcp.providers.json_output import with_json_instruction
    from magsag_mcp.types import LLMRequest, Message

    for description in (None, "A person."):
        request = LLMRequest([Message("user", "Name?")], json_schema=SCHEMA, json_schema_description=description)
        prompt = with_json_instruction(None, SCHEMA, description)
        # the system prompt the resent call carries, at the estimate's own rule, beside the message it answers
        assert estimate_input_tokens(request) >= len(prompt.encode()) // 2 + len(b"Name?") // 2


#: a small tool, in the OpenAI shape model_config takes
LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look a name up in the register.",
        "parameters": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    },
}


@pytest.mark.parametrize("how", ["tools", "json_schema"])
async def test_the_tool_use_system_prompt_claude_is_billed_for_is_reserved(tmp_path, serve, how):
    # A request with tools (the caller's, or the forced tool a JSON schema goes through) is billed for a system
    # prompt Anthropic adds, 313 to 346 tokens on the models since Claude 3.5 ("Tool use system prompt token count"),
    # which the request does not hold: a short call was reserved for a third of the prompt it is billed, and a call
    # limit let it through to cost more than the limit.
    fake = FakeAnthropic(KEY)
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    payload = _payload(None)
    if how == "tools":
        del payload["model_config"]["response_format"]
        payload["model_config"]["tools"] = [LOOKUP]
    async with await Service.open(db=tmp_path / "probe.db", env=env) as svc:
        plan = svc.explain("skill.analysis", payload)
    sent, worst = plan["estimated_input_tokens"], D(plan["targets"][0]["estimated_max_cost_usd"])
    assert worst == ((sent + 346) * 3 + 50 * 15) / D(1_000_000), (sent, worst)
    # what Anthropic bills the call: its prompt, and the tool-use system prompt beside it
    billed = (sent + 346) * 3 + 50 * 15
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    (catalog / "policies" / "model_governance.yaml").write_text(
        f"policies:\n  - name: per_call\n    thresholds: {{max_cost_per_call_usd: {D(billed - 1) / D(1_000_000)}}}\n"
    )
    async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env=env) as svc:
        with pytest.raises(E.BudgetExceeded, match="call limit"):
            await svc.invoke_skill("skill.analysis", payload)
    assert fake.requests == []
