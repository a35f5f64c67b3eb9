"""docs/mcp.md's "invoke_skill": a call that asks for JSON gets the parsed value as its ``output`` (the tool's result
has no ``text``: the Python API's does); an answer that is no JSON the schema takes fails as ``invalid_output``,
billed."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from mcp.client import Client

from magsag_mcp.mcp_server import build_server
from tests.docs_helpers import doc, subsection
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI
from tests.mcp_tools_helpers import CATALOG, Schemas, error_of

pytestmark = pytest.mark.anyio


def _documented() -> tuple[dict, dict]:
    arguments, result = re.findall(r"```json\n(.*?)```", subsection(doc("mcp.md"), "invoke_skill"), re.S)
    return json.loads(arguments), json.loads(result)


async def test_the_documented_json_call_gets_the_documented_output_and_no_text(fake_openai: FakeOpenAI, db: Path):
    arguments, documented = _documented()
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    fake_openai.queue(R.json_reply(documented["output"]))
    async with Client(build_server(catalog=CATALOG, db=db, env=env)) as client:
        schemas = Schemas((await client.list_tools()).tools)
        out = schemas.check("invoke_skill", await client.call_tool("invoke_skill", arguments))
    assert {key: out[key] for key in documented} == documented
    assert "text" not in out  # (as mcp.md says: its output is the JSON; the Python API alone adds text)
    sent = fake_openai.requests[-1].body["response_format"]
    assert sent["json_schema"]["schema"] == arguments["model_config"]["response_format"]["json_schema"]["schema"]


async def test_a_json_answer_the_schema_refuses_is_an_invalid_output_error_with_its_cost(
    fake_openai: FakeOpenAI, db: Path
):
    arguments, _ = _documented()
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    fake_openai.queue(R.json_reply({"trend": "up"}, usage=R.tokens(40, 9)))  # no "risks": the schema requires it
    async with Client(build_server(catalog=CATALOG, db=db, env=env)) as client:
        err = error_of(await client.call_tool("invoke_skill", arguments))
    assert (err["type"], err["last_error_type"]) == ("all_targets_failed", "invalid_output")
    assert (
        "openai:gpt-4o returned JSON that does not match the requested schema: at $: 'risks' is a required property"
        in err["message"]
    )
    (attempt,) = err["attempts"]  # billed: its tokens and their cost, as the ledger recorded them
    assert (attempt["error_class"], attempt["input_tokens"], attempt["output_tokens"]) == ("invalid_output", 40, 9)
    assert Decimal(attempt["cost_usd"]) > 0 and err["cost_usd"] == attempt["cost_usd"]
