"""An MCP client that is not the operator's friend (a prompt-injected agent steering its tool calls): what it may not
make the server do, driven through the SDK's in-memory client against a loopback OpenAI that records what reached it.
Each test is an attack that once got through."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client

from magsag_mcp.mcp_server import build_server
from tests.fakes.openai_server import FakeOpenAI
from tests.mcp_tools_helpers import CATALOG, ENV, error_of

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restored_secrets")]

#: the operator's OpenAI key (letters and digits mixed, no word in it)
KEY = "sk-test-h62Qx7Lm3Zr9Kt4Wp8"


@pytest.fixture
async def openai() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(key=KEY).running() as fake:
        yield fake
    assert not fake.violations, fake.violations


@pytest.fixture
async def client(db: Path, openai: FakeOpenAI) -> AsyncIterator[Client]:
    env = {**ENV, "MAGSAG_PROVIDER": "openai", "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": openai.url + "/v1"}
    async with Client(build_server(catalog=CATALOG, db=db, env=env)) as c:
        yield c


async def _invoke(client: Client, model_config: dict[str, Any]) -> Any:
    args = {"skill_id": "skill.analysis", "payload": {"data": "Q3 revenue"}, "model_config": model_config}
    return await client.call_tool("invoke_skill", args)


#: a predicted output as long as a large file (some 60,000 tokens), which the answer need not use
PREDICTION = {"type": "content", "content": "revenue rose in the third quarter; " * 8000}


@pytest.mark.parametrize("where", ["model", "fallback"])
async def test_a_prediction_whose_unused_tokens_are_billed_as_output_is_refused_before_anything_is_sent(
    client: Client, openai: FakeOpenAI, where: str
):
    # Chat Completions bills a predicted output's tokens the answer does not use (rejected_prediction_tokens) as
    # completion tokens, beyond max_tokens. The reservation counted max_tokens (16) alone: params.prediction passed
    # through, and a client could make each call bill tens of thousands of output tokens past max_cost_per_call_usd.
    params = {"prediction": PREDICTION}
    if where == "model":
        model_config: dict[str, Any] = {"model": "openai:gpt-4o", "max_tokens": 16, "params": params}
    else:
        fallback = {"provider": "openai", "model": "gpt-4o-mini", "params": params}
        model_config = {"model": "openai:gpt-4o", "max_tokens": 16, "fallbacks": [fallback]}
    err = error_of(await _invoke(client, model_config))
    assert err["type"] == "invalid_payload", err
    assert "params.prediction" in err["message"] and "output" in err["message"], err["message"]
    assert openai.requests == []
    # and the refused call is in the ledger, as every failed call is
    runs = (await client.call_tool("query_runs", {})).structured_content["runs"]
    assert [run["error"]["type"] for run in runs] == ["invalid_payload"]
