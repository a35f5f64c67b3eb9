"""An MCP client that is not the operator's friend (a prompt-injected agent steering its tool calls): what it may not
make the server do, driven through the SDK's in-memory client against a loopback OpenAI (checked against the spec) or a
loopback gateway that records the path and Authorization of each request that reached it. Each test is an attack that
once got through."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from mcp.client import Client

from magsag_mcp.mcp_server import build_server
from tests.fakes.openai_replies import model_not_found
from tests.fakes.openai_server import FakeOpenAI
from tests.mcp_tools_helpers import CATALOG, ENV, error_of

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restored_secrets")]

#: the operator's OpenAI key (letters and digits mixed, no word in it)
KEY = "sk-h62Qx7Lm3Zr9Kt4Wp8Vb5"
#: the operator's Gemini key
GEMINI_KEY = "AIzaQ7x9Lm2Zr4Kt8Wp5v"


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


#: a predicted output as long as a large file (280,000 bytes: some 60,000 tokens, bounded at 140,008), which the
#: answer need not use
PREDICTION = {"type": "content", "content": "revenue rose in the third quarter; " * 8000}


@pytest.mark.parametrize("where", ["model", "fallback"])
async def test_a_prediction_whose_unused_tokens_would_pass_the_call_limit_is_refused_before_anything_is_sent(
    client: Client, openai: FakeOpenAI, where: str
):
    # Chat Completions bills a predicted output's tokens the answer does not use (rejected_prediction_tokens) as
    # completion tokens, beyond max_tokens. The reservation counted max_tokens (16) alone: params.prediction passed
    # through, and a client could make each call bill tens of thousands of output tokens past max_cost_per_call_usd.
    # The worst case now counts the prediction's tokens as output: 140,024 at gpt-4o's $10/M is past the $1 limit.
    params = {"prediction": PREDICTION}
    if where == "model":
        model_config: dict[str, Any] = {"model": "openai:gpt-4o", "max_tokens": 16, "params": params}
    else:
        openai.queue(model_not_found("gpt-4o-mini"))  # (the first target fails: the fallback's turn comes)
        fallback = {"provider": "openai", "model": "gpt-4o", "params": params}
        model_config = {"model": "openai:gpt-4o-mini", "max_tokens": 16, "fallbacks": [fallback]}
    err = error_of(await _invoke(client, model_config))
    assert err["last_error_type"] == "budget_exceeded" and err["policy"] == "cost_limits", err
    assert "call limit $1.0 would be exceeded" in err["message"], err["message"]
    # the refusal says where the output tokens come from, and what to shorten
    assert "140008 of them for params.prediction" in err["message"], err["message"]
    assert "shorten params.prediction" in err["message"], err["message"]
    assert err["attempts"][-1]["outcome"] == "budget_exceeded"
    assert [r.body.get("prediction") for r in openai.requests] == ([] if where == "model" else [None])
    # and the refused call is in the ledger, as every failed call is
    runs = (await client.call_tool("query_runs", {})).structured_content["runs"]
    assert len(runs) == 1 and runs[0]["error"]["type"] in ("budget_exceeded", "all_targets_failed"), runs


class Gateway:
    """A gateway serving tenants under paths of one host: it records each request's path and Authorization (its
    tenants' answers are no concern here: every request gets a 404 in OpenAI's error shape)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.raw_path, request.headers.get("Authorization")))
        error = {"message": "no such route", "type": "invalid_request_error", "param": None, "code": None}
        return web.json_response({"error": error}, status=404)


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    gw = Gateway()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", gw.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    gw.url = str(server.make_url("")).rstrip("/")
    try:
        yield gw
    finally:
        await server.close()


@pytest.fixture
async def gateway_client(db: Path, gateway: Gateway) -> AsyncIterator[Client]:
    """OpenAI's key configured for one tenant's path of the gateway (``/v1/team-a``)."""
    env = {**ENV, "MAGSAG_PROVIDER": "openai", "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": gateway.url + "/v1/team-a"}
    async with Client(build_server(catalog=CATALOG, db=db, env=env)) as c:
        yield c


@pytest.mark.parametrize(
    "path",
    [
        # a `..` with a path parameter: `..` to servers that take ;params off a segment before resolving it (Tomcat,
        # Jetty, Spring behind a gateway), so /v1/team-a/..;/team-b is /v1/team-b there
        "/v1/team-a/..;/team-b",
        "/v1/team-a/..;x=1/team-b",
        "/v1/team-a/.;/..;/team-b",
        # encoded twice: `..` to a server that decodes the path again (an IIS or a proxy before another decoder)
        "/v1/team-a/%252e%252e/team-b",
        "/v1/team-a/%25252E%25252E/team-b",
        "/v1/team-a/..%252fteam-b",
        # a NUL ends the segment to a server written in C: `..` there
        "/v1/team-a/..%00/team-b",
    ],
)
async def test_a_path_that_a_server_resolves_to_another_tenants_does_not_get_the_key(
    gateway_client: Client, gateway: Gateway, path: str
):
    # prefix() refused a segment of '.' or '..' (also once percent-decoded), and took these as segments of the
    # configured tenant's path: the call's base URL passed as below /v1/team-a, and the key went with the request
    result = await _invoke(gateway_client, {"model": "openai:gpt-4o", "base_url": gateway.url + path})
    err = error_of(result)
    assert err["type"] == "invalid_payload", err
    assert "model_config.base_url" in err["message"] and "API key" in err["message"], err["message"]
    assert gateway.requests == []


async def test_the_configured_tenants_own_path_and_a_path_below_it_still_get_the_key(
    gateway_client: Client, gateway: Gateway
):
    # what the refusal must leave alone: the tenant's base URL as configured, and a segment with a ; of its own (the
    # fake serves no tenant paths and answers 404: that the request reached it, with the key, is what is asked)
    for path in ("/v1/team-a", "/v1/team-a/x;y", "/v1/team-a/..x"):
        sent = len(gateway.requests)
        await _invoke(gateway_client, {"model": "openai:gpt-4o", "base_url": gateway.url + path})
        reached = gateway.requests[sent:]
        assert reached and all(at.startswith(path + "/") for at, _ in reached), (path, reached)
        assert all(auth == f"Bearer {KEY}" for _, auth in reached)


def _nested(levels: int, inner: Any) -> Any:
    for _ in range(levels):
        inner = {"type": "object", "properties": {"a": inner}}
    return inner


def _deep(levels: int) -> Any:
    inner: Any = 1
    for _ in range(levels):
        inner = {"a": inner}
    return inner


@pytest.mark.parametrize(
    ("model_config", "field"),
    [
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": _nested(150, {})}}},
            "model_config.response_format",
        ),
        (
            {"model": "google:gemini-1.5-pro", "response_format": {"type": "json_object"}, "params": _deep(400)},
            "model_config.params",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": _nested(400, {})}}]},
            "model_config.tools",
        ),
    ],
)
@pytest.mark.parametrize("tool", ["invoke_skill", "explain_route"])
async def test_settings_nested_past_any_schema_are_refused_as_the_callers_not_as_a_bug(
    client: Client, openai: FakeOpenAI, model_config: dict[str, Any], field: str, tool: str
):
    # A response_format schema 150 objects deep (300 levels of JSON), or params 400 levels deep, ran the checks that
    # walk them (jsonschema's check of the schema, the params shown in the trace) past Python's recursion limit: the
    # call failed as "unexpected RecursionError in magsag-mcp (a bug)", explain_route as an internal error, and what
    # was wrong, and how to fix it, went unsaid. A tool's schema 400 objects deep was sent to the vendor as it was.
    # Sent as text (as a client may send an object) to pass the client's own limit on the depth it serializes.
    args = {"skill_id": "skill.analysis", "payload": {"data": "Q3 revenue"}, "model_config": json.dumps(model_config)}
    err = error_of(await client.call_tool(tool, args))
    assert err["type"] == "invalid_payload", err
    assert field in err["message"] and "nested" in err["message"] and "at most" in err["message"], err["message"]
    assert openai.requests == []
    if tool == "invoke_skill":
        runs = (await client.call_tool("query_runs", {})).structured_content["runs"]
        assert [run["error"]["type"] for run in runs] == ["invalid_payload"]


@pytest.mark.parametrize(
    "params",
    [
        # OpenRouter's model routing: the models after the first are tried when it fails
        {"models": ["openai/gpt-4o", "openai/o1-pro"]},
        # a LiteLLM proxy's fallbacks, taken from the request's body
        {"fallbacks": ["o1-pro"]},
    ],
)
async def test_a_gateways_own_fallback_models_are_refused_before_anything_is_sent(
    gateway_client: Client, gateway: Gateway, params: dict[str, Any]
):
    # OPENAI_BASE_URL at a gateway (a LiteLLM proxy, OpenRouter) that answers from the models a request's body lists
    # when the one asked fails: params passed them through, and a client could have its call served by a model
    # production_models forbids, at a price the reservation (and the ledger, priced as gpt-4o) never saw
    result = await _invoke(gateway_client, {"model": "openai:gpt-4o", "params": params})
    err = error_of(result)
    assert err["type"] == "invalid_payload", err
    (key,) = params
    assert f"params.{key}" in err["message"] and "model_config.fallbacks" in err["message"], err["message"]
    assert gateway.requests == []


@pytest.fixture
async def gemini_client(db: Path, gateway: Gateway) -> AsyncIterator[Client]:
    """Gemini's key configured, its base URL the recording gateway."""
    env = {**ENV, "MAGSAG_PROVIDER": "google", "GEMINI_API_KEY": GEMINI_KEY, "GEMINI_BASE_URL": gateway.url}
    async with Client(build_server(catalog=CATALOG, db=db, env=env)) as c:
        yield c


@pytest.mark.parametrize(
    "params",
    [
        # proto3's JSON takes an enum's number for its name: 3 is priority in the order the discovery document lists
        # (unspecified, standard, flex, priority)
        {"serviceTier": 3},
        {"service_tier": 3},
        # and AUDIO among the modalities (MODALITY_UNSPECIFIED, TEXT, IMAGE, AUDIO): an audio answer
        {"responseModalities": [1, 3]},
        {"response_modalities": [3]},
    ],
)
async def test_a_premium_tier_or_an_audio_answer_asked_for_by_its_enum_number_is_refused(
    gemini_client: Client, gateway: Gateway, params: dict[str, Any]
):
    # params refused serviceTier 'priority' and a responseModalities naming AUDIO by their names alone: given as the
    # enum's number, which Gemini's JSON takes as well, each passed, and the call was sent to be billed above the
    # rates its reservation and its price were worked out at
    result = await _invoke(gemini_client, {"model": "google:gemini-1.5-pro", "params": params})
    err = error_of(result)
    assert err["type"] == "invalid_payload", err
    (key,) = params
    assert f"params.{key}" in err["message"] and "name" in err["message"], err["message"]
    assert gateway.requests == []


def _tree(levels: int) -> Any:
    """A document as a tool returns one (a page's elements, a folder's files): each level a node with its children."""
    inner: Any = {"name": "leaf"}
    for _ in range(levels):
        inner = {"name": "node", "children": [inner]}
    return inner


def _answered_history(result: Any) -> dict[str, Any]:
    call = {"id": "call_t1", "type": "function", "function": {"name": "tree", "arguments": "{}"}}
    return {
        "tools": [
            {"type": "function", "function": {"name": "tree", "parameters": {"type": "object", "properties": {}}}}
        ],
        "messages": [
            {"role": "user", "content": "What is in the page?"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_t1", "content": result},
        ],
    }


@pytest.mark.parametrize("levels", [40, 100])
async def test_a_tool_result_of_a_deep_document_is_still_sent_as_its_json(
    client: Client, openai: FakeOpenAI, levels: int
):
    # A tool result's content goes to the vendor as its JSON text, whatever its depth; a page's elements or a folder's
    # files 40 levels deep (80 of JSON) were sent before the nesting limit of d1287cb3, which refused them as settings
    # "no vendor takes" (its 64 levels counted the messages around them too)
    mc = {"model": "openai:gpt-4o", **_answered_history(_tree(levels))}
    args = {"skill_id": "skill.analysis", "payload": {"data": "Q3 revenue"}, "model_config": json.dumps(mc)}
    result = await client.call_tool("invoke_skill", args)
    assert not result.is_error and "error" not in (result.structured_content or {}), result.structured_content
    sent = openai.requests[-1].body["messages"][-1]
    assert sent["role"] == "tool" and json.loads(sent["content"]) == _tree(levels)


async def test_a_tool_result_nested_past_the_messages_limit_is_refused_as_the_callers(
    client: Client, openai: FakeOpenAI
):
    # the limit that keeps the checks from Python's recursion limit still holds for a history, far past any document
    mc = {"model": "openai:gpt-4o", **_answered_history(_tree(400))}
    args = {"skill_id": "skill.analysis", "payload": {"data": "Q3 revenue"}, "model_config": json.dumps(mc)}
    err = error_of(await client.call_tool("invoke_skill", args))
    assert err["type"] == "invalid_payload" and "model_config.messages" in err["message"], err
    assert "nested" in err["message"] and "at most" in err["message"] and openai.requests == []
