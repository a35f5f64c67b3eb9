"""invoke_skill's ``context`` given several models for the key that takes one (``preferred_models: [a, b]``): the
fix it is told quotes the caller's own models, in the words Python's ``context=`` refusal has
(:func:`magsag_mcp.payload_warnings.one_of_many`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client

from magsag_mcp.mcp_server import build_server
from magsag_mcp.payload_warnings import one_of_many

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]
CATALOG = Path(__file__).resolve().parent.parent / "catalog"
ENV = {"MAGSAG_PROVIDER": "fake", "MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_MAX_RETRIES": "1"}
CALL = {"skill_id": "skill.analysis", "payload": {"data": "sales up 8%"}}


@pytest.fixture
async def client(tmp_path: Path):
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env=ENV)) as c:
        yield c


def message_of(result: Any) -> str:
    assert result.is_error, result.content[0].text
    err = result.structured_content["error"]
    assert err["type"] == "invalid_arguments", err
    return err["message"]


@pytest.mark.parametrize("key", ["preferred_models", "preferredModels", "prefered_model"])
async def test_several_preferred_models_are_told_as_a_model_config_of_the_callers_own_models(client: Client, key):
    # Before: 'the model_config argument {"model": "gpt-4o", "fallbacks": ["claude-3-5-sonnet-20241022"]}' whatever
    # was sent (and prefered_model with a list only "did you mean 'preferred_model'?"); Python's refusal of the same
    # context quoted the caller's models
    models = ["fake:first-choice", "fake:second-choice", "fake:third-choice"]
    for tool in ("invoke_skill", "explain_route"):
        said = message_of(await client.call_tool(tool, {**CALL, "context": {key: models}}))
        assert (
            'the model_config argument {"model": "fake:first-choice", "fallbacks": ["fake:second-choice", '
            '"fake:third-choice"]}: each is tried if the ones before it fail' in said
        ), said
        assert "claude-3-5-sonnet-20241022" not in said
        assert one_of_many("preferred_model", models, mcp=True) in said  # the wording is Python's, shared
    runs = await client.call_tool("query_runs", {})
    assert runs.structured_content["runs"] == []


async def test_the_model_config_it_suggests_is_taken_and_tries_the_models_in_that_order(client: Client):
    models = ["fake:first-choice", "fake:second-choice"]
    said = message_of(await client.call_tool("invoke_skill", {**CALL, "context": {"preferred_models": models}}))
    suggested = json.loads(said.split("the model_config argument ", 1)[1].split("}", 1)[0] + "}")
    result = await client.call_tool("invoke_skill", {**CALL, "model_config": suggested})
    assert not result.is_error, result.content[0].text
    assert result.structured_content["model"] == "first-choice"


async def test_one_preferred_model_in_a_list_is_told_to_write_it_as_json(client: Client):
    said = message_of(await client.call_tool("invoke_skill", {**CALL, "context": {"preferred_models": ["fake:only"]}}))
    assert 'preferred_model names one model: write "preferred_model": "fake:only"' in said, said


async def test_a_key_in_the_list_it_quotes_is_redacted(client: Client):
    key = "sk-proj-" + "Q7r9Tz2Lm4Vx8Nb1Kc6Hd3Jf"
    said = message_of(
        await client.call_tool("invoke_skill", {**CALL, "context": {"preferred_models": ["fake:a", key]}})
    )
    assert key not in said and "Q7r9Tz2Lm4Vx8Nb1Kc6Hd3Jf" not in said
    assert '"model": "fake:a"' in said


async def test_preferred_model_given_a_list_is_told_the_same_as_the_docs_say(client: Client):
    # Before: "context.preferred_model: expected a string, got an array" alone; docs/model-choice.md (and Python's
    # refusal) tell a list there that models tried in order are a model and its fallbacks
    models = ["fake:first-choice", "fake:second-choice"]
    said = message_of(await client.call_tool("invoke_skill", {**CALL, "context": {"preferred_model": models}}))
    assert "context.preferred_model: expected a string, got an array: " in said, said
    assert 'the model_config argument {"model": "fake:first-choice", "fallbacks": ["fake:second-choice"]}' in said
