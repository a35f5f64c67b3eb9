"""The answer cache's key (answer_cache.request_key) and the headers sent: a header that changes the vendor's answer
(Anthropic's anthropic-version) is in the key, so that a request under another version is another request; a key,
an organization or a project is not: another API key asks the same, and nothing of a key is stored in the ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from magsag_mcp.answer_cache import request_key
from magsag_mcp.providers import ProviderSet
from magsag_mcp.providers.anthropic import AnthropicProvider
from magsag_mcp.providers.openai_reasoning import signature_for, with_origin
from magsag_mcp.types import LLMRequest, Message, Target, ToolCall, ToolSpec
from tests.fakes.openai_server import FakeOpenAI
from tests.llm_requests import ask

pytestmark = pytest.mark.anyio

#: the headers that say who asks (a key) or who pays (an organization, a project), never in the key
ACCOUNT_HEADERS = {"authorization", "x-api-key", "api-key", "x-goog-api-key", "openai-organization", "openai-project"}


def _anthropic_key(transport: Any, **env: str) -> str | None:
    settings = {"ANTHROPIC_API_KEY": "fake-anthropic-key-one", **env}
    provider = AnthropicProvider(settings, transport)
    return request_key(provider, ask(), Target("anthropic", "claude-sonnet-4-5"), "ana")


async def test_the_anthropic_version_is_in_the_key(transport: Any):
    default = _anthropic_key(transport)
    dated = _anthropic_key(transport, ANTHROPIC_VERSION="2023-06-01")
    other = _anthropic_key(transport, ANTHROPIC_VERSION="2023-01-01")
    assert default is not None and other is not None
    assert default == dated  # (unset, the version sent is 2023-06-01: the same request)
    assert other != default  # another version of the Messages API may answer otherwise


async def test_another_api_key_or_account_gives_the_same_key(transport: Any):
    one = _anthropic_key(transport)
    assert _anthropic_key(transport, ANTHROPIC_API_KEY="fake-anthropic-key-two") == one
    target = Target("openai", "gpt-4o")
    keys = {
        request_key(ProviderSet(env, transport).get("openai"), ask(), target, "ana")
        for env in (
            {"OPENAI_API_KEY": "fake-openai-key-one"},
            {"OPENAI_API_KEY": "fake-openai-key-two", "OPENAI_ORG_ID": "org-fake1", "OPENAI_PROJECT_ID": "proj_fake1"},
        )
    }
    assert len(keys) == 1 and None not in keys


@pytest.mark.parametrize("name", ["openai", "anthropic", "gemini", "azure", "local", "compat"])
async def test_every_header_sent_is_a_key_an_account_or_in_the_cache_key(transport: Any, name: str):
    # a header a provider sends that is neither a credential nor an account's id changes what the vendor answers,
    # and must be in answer_headers (what the key holds): this fails for a header added to headers() alone
    env = {
        "OPENAI_API_KEY": "fake-openai-key",
        "OPENAI_ORG_ID": "org-fake1",
        "OPENAI_PROJECT_ID": "proj_fake1",
        "ANTHROPIC_API_KEY": "fake-anthropic-key",
        "ANTHROPIC_VERSION": "2023-06-01",
        "GEMINI_API_KEY": "fake-gemini-key",
        "AZURE_OPENAI_API_KEY": "fake-azure-key",
        "AZURE_OPENAI_ENDPOINT": "https://cache-test.openai.azure.com/",
        "MAGSAG_LOCAL_API_KEY": "fake-local-key",
        "MAGSAG_COMPAT_BASE_URL": "https://compat.invalid/v1",
        "MAGSAG_COMPAT_API_KEY": "fake-compat-key",
    }
    endpoint = ProviderSet(env, transport).get(name).endpoint
    sent = {h.lower() for h in endpoint.headers("some-model")}
    answer = {h.lower() for h in endpoint.answer_headers()}
    assert sent - ACCOUNT_HEADERS == answer
    assert not answer & ACCOUNT_HEADERS


async def test_two_api_keys_share_the_cache_and_neither_is_stored(
    fake_openai: FakeOpenAI, tmp_path: Path, clock_at_noon: float
):
    from magsag_mcp.service import Service
    from magsag_mcp.transport import Transport

    fake_openai.key = None  # (takes any key)
    keys = ["fake-cache-key-first-0123456789", "fake-cache-key-second-9876543210"]
    payload = {"data": "numbers", "model_config": {"provider": "openai", "model": "gpt-4o"}}
    results = []
    for key in keys:
        env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": key}
        svc = await Service.open(db=tmp_path / "keys.db", env=env, transport=Transport())
        try:
            results.append(await svc.invoke_skill("skill.analysis", payload, agent="ana", context={"cache_ttl": 600}))
        finally:
            await svc.aclose()
    assert len(fake_openai.requests) == 1  # the second key's call was answered by the first's answer
    assert any("answered from the cache" in w for w in results[1].warnings)
    assert [r.headers["Authorization"] for r in fake_openai.requests] == [f"Bearer {keys[0]}"]
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("keys.db"))
    for key in keys:
        assert key.encode() not in stored and key[-10:].encode() not in stored


def _reasoned_turn(signature: str | None) -> LLMRequest:
    """A Responses API turn after a tool call that carried ``signature`` (its reasoning items), and its result."""
    tool = ToolSpec("lookup", "looks a thing up", {"type": "object", "properties": {}})
    call = ToolCall("call_1", "lookup", {}, signature)
    result = Message("tool", "42", tool_call_id="call_1", name="lookup")
    history = [Message("user", "hi"), Message("assistant", "", tool_calls=[call]), result]
    return LLMRequest(messages=history, tools=[tool])


async def test_reasoning_another_endpoint_encrypted_is_keyed_as_it_is_sent_without_it(transport: Any):
    """The Responses API sends a tool call's reasoning only to the endpoint that encrypted it (for_endpoint); the key
    was built from the request before that, so a turn whose reasoning was left out shared the key of the same turn
    sent with it, and was answered by an answer to another request. It is keyed as sent: as the same turn with no
    reasoning, and apart from the one sent with it."""
    provider = ProviderSet({"OPENAI_API_KEY": "fake-openai-key"}, transport).get("openai")
    target = Target("openai", "o3-pro")  # (served by the Responses API only)
    assert provider.uses_responses(target)
    items = [{"type": "reasoning", "id": "rs_fake1", "summary": [], "encrypted_content": "fake-encrypted-reasoning"}]
    reasoning = signature_for(items, "o3-pro")
    here = with_origin(reasoning, provider.endpoint.origin(target))
    elsewhere = with_origin(reasoning, "https://another-resource.invalid")
    sent_with, sent_without, none = (
        request_key(provider, _reasoned_turn(s), target, "ana") for s in (here, elsewhere, None)
    )
    assert sent_with is not None and sent_without is not None
    assert sent_with != sent_without  # one sends the reasoning, the other does not
    assert sent_without == none  # the same body on the wire


@pytest.mark.parametrize(("provider", "model"), [("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4-5")])
async def test_tool_names_sent_alike_are_keyed_as_the_caller_wrote_them(transport: Any, provider: str, model: str):
    """"fs/read_file" is sent as "fs_read_file" (tool_names.fitted), as "fs_read_file" itself is: the same body on
    the wire, but not the same request: the answer's calls come back under the caller's own name, and a hit gives the
    stored result as it was, so an answer stored by one may not answer the other. Both are cached (a key each)."""
    env = {"OPENAI_API_KEY": "fake-openai-key", "ANTHROPIC_API_KEY": "fake-anthropic-key"}
    sender = ProviderSet(env, transport).get(provider)

    def asking(name: str) -> LLMRequest:
        return ask(tools=[ToolSpec(name, "reads a file", {"type": "object", "properties": {}})])

    namespaced = request_key(sender, asking("fs/read_file"), Target(provider, model), "ana")
    plain = request_key(sender, asking("fs_read_file"), Target(provider, model), "ana")
    assert namespaced is not None and plain is not None and namespaced != plain
    assert request_key(sender, asking("fs/read_file"), Target(provider, model), "ana") == namespaced
