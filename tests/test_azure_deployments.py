"""Azure deployments and compatible servers as endpoints of the OpenAI formats: which API a deployment's model
takes (chat completions or the Responses API), and what the model behind a deployment name refuses.

A deployment's name is the operator's choice ("prod-codex" may serve gpt-5-codex): the fake's ``deployments``
says which model each one serves, and it then refuses what that model refuses, as Azure does.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers import min_output_tokens
from magsag_mcp.providers.openai import AzureProvider, CompatProvider
from magsag_mcp.service import Service
from magsag_mcp.transport import Transport
from magsag_mcp.types import Target, ToolSpec
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import AZURE_KEY, DEFAULT_KEY, FakeOpenAI
from tests.llm_requests import ask

pytestmark = pytest.mark.anyio

RESPONSES = (("api", "responses"),)


def azure_env(fake: FakeOpenAI, **extra: str) -> dict[str, str]:
    return {"AZURE_OPENAI_API_KEY": AZURE_KEY, "AZURE_OPENAI_ENDPOINT": fake.url + "/", **extra}


@pytest.mark.parametrize(
    ("version", "path", "query"),
    [
        ("v1", "/openai/v1/responses", {}),
        ("preview", "/openai/v1/responses", {"api-version": "preview"}),
        ("2025-04-01-preview", "/openai/responses", {"api-version": "2025-04-01-preview"}),
    ],
)
async def test_a_target_asking_for_the_responses_api_gets_it_on_azure(
    fake_openai: FakeOpenAI, transport: Transport, version: str, path: str, query: dict[str, str]
):
    # params: {api: responses} used to be dropped on Azure without a word: the call went to chat completions,
    # which a deployment of gpt-5-codex or o3-pro answers 400 OperationNotSupported.
    fake_openai.deployments["prod-codex"] = "gpt-5-codex"
    fake_openai.queue(R.reply("from responses", usage=R.tokens(30, 6)), R.reply("streamed", usage=R.tokens(30, 4)))
    provider = AzureProvider(azure_env(fake_openai, AZURE_OPENAI_API_VERSION=version), transport)
    target = Target("azure", "prod-codex", params=RESPONSES)
    result = await provider.complete(ask(system="be brief", max_tokens=8), target)
    assert (result.text, result.usage.input_tokens, result.usage.output_tokens) == ("from responses", 30, 6)
    req = fake_openai.requests[0]
    assert (req.path, req.query) == (path, query)
    assert req.headers["api-key"] == AZURE_KEY and "Authorization" not in req.headers
    assert (req.body["model"], req.body["instructions"], req.body["max_output_tokens"]) == (
        "prod-codex",
        "be brief",
        16,
    )
    assert provider.capabilities(target).streaming is True
    streamed = await provider.complete(ask(stream=True), target)
    assert (streamed.text, streamed.usage.output_tokens) == ("streamed", 4)
    assert fake_openai.requests[1].path == path and fake_openai.requests[1].body["stream"] is True
    # budgets reserve the 16 output tokens the Responses API is sent at least
    assert min_output_tokens(target) == 16 and min_output_tokens(Target("azure", "prod-codex")) == 0


async def test_a_deployment_named_for_a_responses_only_model_gets_the_responses_api(
    fake_openai: FakeOpenAI, transport: Transport
):
    # The portal names a deployment for its model: "gpt-5-codex" is called as OpenAI's gpt-5-codex is, unless
    # the target says api: chat.
    fake_openai.deployments["gpt-5-codex"] = "gpt-5-codex"
    provider = AzureProvider(azure_env(fake_openai, AZURE_OPENAI_API_VERSION="v1"), transport)
    assert (await provider.complete(ask(), Target("azure", "gpt-5-codex"))).text == "ok"
    assert fake_openai.paths() == ["/openai/v1/responses"]
    # (a deployment of another model, named so by the operator)
    await provider.complete(ask(), Target("azure", "o3-pro", params=(("api", "chat"),)))
    assert fake_openai.paths()[-1] == "/openai/v1/chat/completions"


@pytest.mark.parametrize("version", ["2024-10-21", "2024-06-01", "2025-01-01-preview"])
async def test_an_api_version_without_the_responses_api_says_which_one_has_it(
    fake_openai: FakeOpenAI, transport: Transport, version: str
):
    provider = AzureProvider(azure_env(fake_openai, AZURE_OPENAI_API_VERSION=version), transport)
    with pytest.raises(E.UnsupportedFeatureError) as info:
        await provider.complete(ask(), Target("azure", "prod-codex", params=RESPONSES))
    assert f"api-version {version}" in info.value.message and "AZURE_OPENAI_API_VERSION=v1" in info.value.message
    assert info.value.moves_on and fake_openai.requests == []  # nothing sent, nothing billed


async def test_a_compatible_server_is_called_at_its_responses_api_when_the_target_asks(
    fake_openai: FakeOpenAI, transport: Transport
):
    # params: {api: responses} was dropped on compat too; a gateway's model names say nothing of its APIs, so
    # only the target's api chooses (openai/gpt-5-codex on a gateway goes to its chat completions).
    env = {"MAGSAG_COMPAT_BASE_URL": fake_openai.url + "/v1", "MAGSAG_COMPAT_API_KEY": DEFAULT_KEY}
    provider = CompatProvider(env, transport)
    fake_openai.queue(R.reply("compat responses", usage=R.tokens(9, 2)))
    target = Target("compat", "gpt-5-mini", params=RESPONSES)
    result = await provider.complete(ask(max_tokens=100), target)
    assert (result.text, result.usage.output_tokens) == ("compat responses", 2)
    req = fake_openai.requests[0]
    assert (req.path, req.body["max_output_tokens"]) == ("/v1/responses", 100)
    assert req.headers["Authorization"] == f"Bearer {DEFAULT_KEY}"
    assert min_output_tokens(target) == 16 and min_output_tokens(Target("compat", "openai/gpt-5-codex")) == 0
    await provider.complete(ask(), Target("compat", "gpt-4o-mini"))
    assert fake_openai.paths()[-1] == "/v1/chat/completions"


@pytest.mark.parametrize("served", ["gpt-5-codex", "text-embedding-3-large"])
async def test_a_deployment_whose_model_chat_completions_do_not_serve_moves_on_with_the_fix(
    fake_openai: FakeOpenAI, transport: Transport, served: str
):
    # Azure's 400 OperationNotSupported ("The chatCompletion operation does not work with the specified model")
    # is about the deployment, not the request: it stopped the whole cascade as a bad request, and said nothing
    # of the Responses API that serves gpt-5-codex.
    fake_openai.deployments["prod-x"] = served
    with pytest.raises(E.UnsupportedFeatureError) as info:
        await AzureProvider(azure_env(fake_openai), transport).complete(ask(), Target("azure", "prod-x"))
    assert info.value.moves_on and info.value.status == 400
    assert "params: {api: responses}" in info.value.message and info.value.details["code"] == "OperationNotSupported"


async def test_settings_the_deployments_model_refuses_are_sent_again_without_them_and_not_sent_after(
    fake_openai: FakeOpenAI, transport: Transport
):
    # "prod-chat" serves gpt-5, which takes no stop, no temperature but 1 and no top_p: the model rules go by
    # OpenAI's names, and cannot know. Each refusal was a 400 that lost the target to the call.
    fake_openai.deployments["prod-chat"] = "gpt-5"
    provider = AzureProvider(azure_env(fake_openai), transport)
    target = Target("azure", "prod-chat")
    fake_openai.queue(R.reply("first", usage=R.tokens(20, 5)))
    result = await provider.complete(ask(temperature=0.2, stop=["END"], extra={"top_p": 0.5}), target)
    assert (result.text, result.usage.output_tokens) == ("first", 5)
    bodies = [r.body for r in fake_openai.requests]
    assert [("stop" in b, "temperature" in b, "top_p" in b) for b in bodies] == [
        (True, True, True),
        (False, True, True),
        (False, False, True),
        (False, False, False),
    ]
    assert [w.split(" (")[0] for w in result.warnings] == [
        "azure:prod-chat refused 'stop'",
        "azure:prod-chat refused 'temperature'",
        "azure:prod-chat refused 'top_p'",
    ]
    assert "Only the default (1) value is supported" in result.warnings[1]
    # from now on, the deployment is sent neither, at once
    again = await provider.complete(ask(temperature=0.2, stop=["END"]), target)
    assert again.text == "ok" and len(fake_openai.requests) == 5
    assert not {"stop", "temperature"} & set(fake_openai.requests[-1].body)
    assert len(again.warnings) == 2 and all("on an earlier call" in w for w in again.warnings)


@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_a_setting_refused_at_one_reasoning_effort_is_still_sent_at_another_the_model_takes_it_at(
    fake_openai: FakeOpenAI, transport: Transport, api: str
):
    # gpt-5.1 takes top_p and a temperature only at reasoning effort "none" (OpenAI's gpt-5.1 guide; the spec's
    # ReasoningEffort: "Not all reasoning models support every value"). A deployment's refusal at effort low was
    # remembered for the deployment alone, and top_p left out of its every call after, at effort none too, where the
    # model takes it. The stop it refused is the model's at any effort, and stays left out.
    fake_openai.deployments["prod-51"] = "gpt-5.1"
    provider = AzureProvider(azure_env(fake_openai, AZURE_OPENAI_API_VERSION="2025-04-01-preview"), transport)
    target = Target("azure", "prod-51", params=(("api", api),))

    def at(effort: str):
        # (Chat Completions' spelling of the effort; the Responses API is sent it as reasoning.effort)
        return ask(temperature=0.2, stop=["END"], extra={"top_p": 0.5, "reasoning_effort": effort})

    # (the Responses API has no stop sequences: it is never sent there, and so never refused)
    refusable = ["stop", "temperature", "top_p"] if api == "chat" else ["temperature", "top_p"]
    first = await provider.complete(at("low"), target)
    assert [w.split(" (")[0] for w in first.warnings if "refused" in w] == [
        f"azure:prod-51 refused '{name}'" for name in refusable
    ]
    sent = len(fake_openai.requests)
    none = await provider.complete(at("none"), target)
    assert len(fake_openai.requests) == sent + 1  # taken at once: no refusal
    body = fake_openai.requests[-1].body
    assert (body["top_p"], body["temperature"], "stop" in body) == (0.5, 0.2, False)
    earlier = [w for w in none.warnings if "on an earlier call" in w]
    assert earlier == (["azure:prod-51 refused 'stop' on an earlier call; it was not sent"] if api == "chat" else [])
    # at effort low again, what it refused there is left out at once
    low = await provider.complete(at("low"), target)
    assert len(fake_openai.requests) == sent + 2
    assert not {"stop", "temperature", "top_p"} & set(fake_openai.requests[-1].body)
    assert len([w for w in low.warnings if "on an earlier call" in w]) == len(refusable)


async def test_a_refused_setting_on_the_responses_api_and_on_a_gateways_alias(
    fake_openai: FakeOpenAI, transport: Transport
):
    fake_openai.deployments.update({"prod-codex": "gpt-5-codex", "reasoning-large": "o3"})
    azure = AzureProvider(azure_env(fake_openai, AZURE_OPENAI_API_VERSION="v1"), transport)
    result = await azure.complete(ask(temperature=0.3), Target("azure", "prod-codex", params=RESPONSES))
    assert result.text == "ok" and [r.path for r in fake_openai.requests] == ["/openai/v1/responses"] * 2
    assert "temperature" not in fake_openai.requests[-1].body
    env = {"MAGSAG_COMPAT_BASE_URL": fake_openai.url + "/v1", "MAGSAG_COMPAT_API_KEY": DEFAULT_KEY}
    compat = await CompatProvider(env, transport).complete(ask(stop=["###"]), Target("compat", "reasoning-large"))
    assert compat.text == "ok" and "stop" not in fake_openai.requests[-1].body
    assert any("refused 'stop'" in w for w in compat.warnings)


async def test_a_deployments_refusal_of_parallel_tool_calls_or_logprobs_is_sent_again_without_it(
    fake_openai: FakeOpenAI, transport: Transport
):
    # "prod-reasoner" serves o3, which takes no parallel_tool_calls (the param magsag names for one tool call at a
    # time) and no logprobs: the name rules cannot tell, and each 400 (unsupported_parameter, not billed) lost the
    # target to every call of tools, where the same call without it is answered
    fake_openai.deployments["prod-reasoner"] = "o3"
    provider = AzureProvider(azure_env(fake_openai), transport)
    target = Target("azure", "prod-reasoner")
    fake_openai.queue(R.reply(tool_calls=[R.call("get_weather", {"city": "Oslo"})]))
    weather = ToolSpec("get_weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}}})
    request = ask(tools=[weather], extra={"parallel_tool_calls": False, "logprobs": True})
    result = await provider.complete(request, target)
    assert [c.name for c in result.tool_calls] == ["get_weather"]
    bodies = [r.body for r in fake_openai.requests]
    assert [("parallel_tool_calls" in b, "logprobs" in b) for b in bodies] == [
        (True, True),
        (False, True),
        (False, False),
    ]
    assert [w.split(" (")[0] for w in result.warnings] == [
        "azure:prod-reasoner refused 'parallel_tool_calls'",
        "azure:prod-reasoner refused 'logprobs'",
    ]
    # parallel_tool_calls false asked for one call at a time: the warning says the answer may hold several, as the
    # name rules' own warning for the o-series does (a caller reading 'sent again without it' alone cannot tell)
    assert result.warnings[0].endswith("its answer may hold several tool calls at once")
    # and from then on, neither is sent, at once
    again = await provider.complete(request, target)
    assert again.text == "ok" and len(fake_openai.requests) == 4
    assert not {"parallel_tool_calls", "logprobs"} & set(fake_openai.requests[-1].body)
    assert any(
        "'parallel_tool_calls' on an earlier call" in w and "several tool calls at once" in w for w in again.warnings
    )


async def test_a_deployments_refusal_of_logprobs_leaves_out_top_logprobs_with_it(
    fake_openai: FakeOpenAI, transport: Transport
):
    # "prod-reasoner" serves o3, which refuses logprobs (named first): sent again without it but with top_logprobs,
    # the call was one the spec forbids ("`logprobs` must be set to `true` if this parameter is used"), which OpenAI
    # answers 400 "The 'top_logprobs' parameter is only allowed when 'logprobs' is enabled." (no code: a bad
    # request), and which stopped the call, and, remembered, every later call of the target
    fake_openai.deployments["prod-reasoner"] = "o3"
    provider = AzureProvider(azure_env(fake_openai), transport)
    target = Target("azure", "prod-reasoner")
    request = ask(extra={"logprobs": True, "top_logprobs": 3})
    result = await provider.complete(request, target)
    assert result.text == "ok"
    bodies = [r.body for r in fake_openai.requests]
    assert [("logprobs" in b, "top_logprobs" in b) for b in bodies] == [(True, True), (False, False)]
    assert len(result.warnings) == 1 and "refused 'logprobs'" in result.warnings[0]
    assert "top_logprobs" in result.warnings[0]  # (the warning says the other was left out with it)
    again = await provider.complete(request, target)
    assert again.text == "ok" and len(fake_openai.requests) == 3
    assert not {"logprobs", "top_logprobs"} & set(fake_openai.requests[-1].body)
    assert len(again.warnings) == 1 and "top_logprobs" in again.warnings[0]


async def test_a_refusal_of_anything_but_a_sampling_setting_is_raised_as_before(
    fake_openai: FakeOpenAI, transport: Transport
):
    # o1-mini takes no system message: leaving it out would change the call, so the target is lost as before
    fake_openai.deployments["prod-mini"] = "o1-mini"
    with pytest.raises(E.UnsupportedFeatureError, match="messages\\[0\\].role"):
        await AzureProvider(azure_env(fake_openai), transport).complete(
            ask(system="be brief"), Target("azure", "prod-mini")
        )
    assert len(fake_openai.requests) == 1


async def test_a_responses_answer_the_filter_cut_short_says_so(fake_openai: FakeOpenAI, transport: Transport):
    # the Responses API's status incomplete, reason content_filter, after some text: content_filtered (it was
    # returned with a warning), as every vendor's filter is read (see tests/providers/test_answer_ends.py)
    fake_openai.queue(R.reply("The first half of", finish="content_filter"))
    provider = AzureProvider(azure_env(fake_openai, AZURE_OPENAI_API_VERSION="v1"), transport)
    with pytest.raises(E.ContentFilteredError, match="content filter; the part of the answer that came before it"):
        await provider.complete(ask(), Target("azure", "prod", params=RESPONSES))


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("stream", "Unsupported value: 'stream' does not support true with this model. Supported values are: false."),
        ("stream_options", "Unsupported parameter: 'stream_options' is not supported with this model."),
    ],
)
async def test_a_deployment_that_cannot_stream_answers_unstreamed(
    fake_openai: FakeOpenAI, transport: Transport, param: str, message: str
):
    # o1-preview and o1-mini deployments stream nothing; a streamed call lost the target
    code = "unsupported_value" if param == "stream" else "unsupported_parameter"
    fake_openai.queue(R.error(400, message, param=param, code=code), R.reply("whole", usage=R.tokens(12, 3)))
    provider = AzureProvider(azure_env(fake_openai, AZURE_OPENAI_API_VERSION="v1"), transport)
    result = await provider.complete(ask(stream=True), Target("azure", "prod-o1"))
    assert (result.text, result.usage.output_tokens) == ("whole", 3)
    assert [r.body.get("stream") for r in fake_openai.requests] == [True, None]
    assert any(f"refused '{param}'" in w and w.endswith("sent again unstreamed") for w in result.warnings)
    again = await provider.complete(ask(stream=True), Target("azure", "prod-o1"))
    assert "stream" not in fake_openai.requests[-1].body and len(fake_openai.requests) == 3
    assert again.warnings == [f"azure:prod-o1 refused '{param}' on an earlier call; the call was not streamed"]


async def test_through_the_service_a_deployment_is_governed_priced_and_fitted(
    fake_openai: FakeOpenAI, tmp_path: Path, catalog_copy: Path
):
    # End to end: the policy allows the deployments by name, prices.yaml prices them (a deployment's name says
    # no model genai-prices knows), the Responses API is called where the target asks, and the setting gpt-5
    # refuses is left out, each with its warning in the result and the ledger.
    policy = catalog_copy / "policies" / "model_governance.yaml"
    policy.write_text(policy.read_text().replace('      - "fake:*"\n', '      - "fake:*"\n      - "azure:prod-*"\n'))
    prices = catalog_copy / "prices.yaml"
    prices.write_text(prices.read_text() + '\n"azure:prod-*": {input: 1.25, output: 10}\n')
    fake_openai.deployments.update({"prod-chat": "gpt-5", "prod-codex": "gpt-5-codex"})
    fake_openai.queue(R.reply("chat says", usage=R.tokens(1000, 200)), R.reply("codex says", usage=R.tokens(2000, 100)))
    env = azure_env(fake_openai, AZURE_OPENAI_API_VERSION="v1")
    async with Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env=env) as svc:
        chat = await svc.invoke_skill(
            "skill.analysis", {"data": "x", "model_config": {"model": "azure:prod-chat", "temperature": 0.2}}
        )
        codex = await svc.invoke_skill(
            "skill.analysis",
            {
                "data": "y",
                "model_config": {"model": "azure:prod-codex", "params": {"api": "responses"}, "stream": True},
            },
        )
        with pytest.raises(E.MagsagError, match="production_models"):
            await svc.invoke_skill("skill.analysis", {"data": "z", "model_config": {"model": "azure:staging-chat"}})
        runs = await svc.query_runs()
    assert (chat.result.text, chat.cost_usd) == ("chat says", Decimal("0.00325"))
    assert any("refused 'temperature'" in w for w in chat.warnings)
    assert (codex.result.text, codex.cost_usd) == ("codex says", Decimal("0.0035"))
    assert fake_openai.paths() == ["/openai/v1/chat/completions"] * 2 + ["/openai/v1/responses"]
    attempts = {a["model"]: a for run in runs for a in run["attempts"]}
    assert attempts["prod-chat"]["price_source"] == "catalog:prices.yaml"
    assert any("refused 'temperature'" in w for w in attempts["prod-chat"]["warnings"])
    assert attempts["prod-codex"]["cost_usd"] == "0.0035"


async def test_a_proxied_reasoning_model_that_takes_only_max_completion_tokens_gets_its_limit_there(
    fake_openai: FakeOpenAI, transport: Transport
):
    # compat sends max_tokens, which most compatible servers know; OpenAI's reasoning models behind a proxy that
    # passes the request on answer 400 "Use 'max_completion_tokens' instead", which lost the target. The same
    # limit (what budgets reserved) goes under the other field, and does from then on.
    env = {"MAGSAG_COMPAT_BASE_URL": fake_openai.url + "/v1", "MAGSAG_COMPAT_API_KEY": DEFAULT_KEY}
    provider = CompatProvider(env, transport)
    result = await provider.complete(ask(max_tokens=300), Target("compat", "o3-mini"))
    assert result.text == "ok"
    bodies = [r.body for r in fake_openai.requests]
    assert [(b.get("max_tokens"), b.get("max_completion_tokens")) for b in bodies] == [(300, None), (None, 300)]
    (warning,) = result.warnings
    assert "refused 'max_tokens'" in warning and "sent as max_completion_tokens" in warning
    again = await provider.complete(ask(max_tokens=200), Target("compat", "o3-mini"))
    assert again.warnings == [] and fake_openai.requests[-1].body["max_completion_tokens"] == 200
    assert len(fake_openai.requests) == 3
    # Azure picks its field by api-version: a refusal there is raised as before
    fake_openai.deployments["prod-o3"] = "o3-mini"
    azure = AzureProvider(azure_env(fake_openai, AZURE_OPENAI_API_VERSION="2024-06-01"), transport)
    with pytest.raises(E.UnsupportedFeatureError, match="max_completion_tokens"):
        await azure.complete(ask(max_tokens=300), Target("azure", "prod-o3"))


@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_a_refusal_that_comes_after_the_answer_began_is_not_sent_again(
    fake_openai: FakeOpenAI, transport: Transport, api: str
):
    # A 400 naming a setting is unbilled only when it answers the request. One that comes as an error event in a
    # stream already answering (text delivered to the caller) may be billed, and a second send would deliver the
    # text twice and pay twice: the attempt fails as it is, of unknown cost, and the setting stays sent.
    refusal = "Unsupported parameter: 'temperature' is not supported with this model."
    fake_openai.queue(R.error(400, refusal, param="temperature", code="400", in_stream=True), R.reply("whole"))
    env = {"MAGSAG_COMPAT_BASE_URL": fake_openai.url + "/v1", "MAGSAG_COMPAT_API_KEY": DEFAULT_KEY}
    provider = CompatProvider(env, transport)
    target = Target("compat", "gw-model", params=RESPONSES if api == "responses" else None)
    deltas: list[str] = []

    async def progress(event: str, data: dict) -> None:
        if event == "delta":
            deltas.append(data["text"])

    with pytest.raises(E.UnsupportedFeatureError) as info:
        await provider.complete(ask(temperature=0.2, stream=True), target, progress=progress)
    assert info.value.maybe_billed and len(fake_openai.requests) == 1
    assert "".join(deltas) == "partial"
    fake_openai.queue(R.reply("next"))
    await provider.complete(ask(temperature=0.2), target)
    assert fake_openai.requests[-1].body["temperature"] == 0.2  # nothing was learnt from it


@pytest.mark.parametrize("stream", [False, True])
async def test_reasoning_another_endpoint_encrypted_is_not_sent_to_a_deployment_of_the_same_name(
    fake_openai: FakeOpenAI, transport: Transport, stream: bool
):
    # OpenAI's o3 answered a tool call with its encrypted reasoning; the next turn went to an Azure deployment also
    # named o3 (the failover pair OpenAI -> Azure, or MAGSAG_PROVIDER=azure). The reasoning went with it, as the
    # same model's, and Azure, which cannot decrypt OpenAI's, answered 400 invalid_encrypted_content: a bad
    # request, which stopped the cascade, where the deployment answers the same history without the reasoning.
    from magsag_mcp.providers.openai import OpenAIProvider
    from magsag_mcp.types import LLMRequest, Message, ToolSpec

    weather = ToolSpec("get_weather", "the weather", {"type": "object", "properties": {"city": {"type": "string"}}})
    fake_openai.queue(R.reply(tool_calls=[R.call("get_weather", {"city": "Paris"}, id="call_w")], reasoning="gAAA-oa"))
    openai_o3 = Target("openai", "o3", base_url=fake_openai.url + "/v1", params=RESPONSES)
    first = await OpenAIProvider({"OPENAI_API_KEY": DEFAULT_KEY}, transport).complete(
        ask("Weather in Paris?", tools=[weather], stream=stream), openai_o3
    )
    (tc,) = first.tool_calls
    followup = LLMRequest(
        [
            Message("user", "Weather in Paris?"),
            Message("assistant", tool_calls=[tc]),
            Message("tool", '{"temp": 21}', tool_call_id="call_w", name="get_weather"),
        ],
        tools=[weather],
        stream=stream,
    )
    fake_openai.queue(R.reply("21 degrees", reasoning="gAAA-az"))
    azure = AzureProvider(azure_env(fake_openai, AZURE_OPENAI_API_VERSION="v1"), transport)
    result = await azure.complete(followup, Target("azure", "o3", params=RESPONSES))
    assert result.text == "21 degrees"
    items = fake_openai.requests[-1].body["input"]
    assert [i.get("type") for i in items[1:]] == ["function_call", "function_call_output"]
    # another resource's deployment of that name cannot decrypt this one's either; the same endpoint still gets
    # its own reasoning back
    fake_openai.queue(R.reply(tool_calls=[R.call("get_weather", {"city": "Paris"}, id="call_w")], reasoning="gAAA-az"))
    (tc,) = (await azure.complete(ask("Weather?", tools=[weather]), Target("azure", "o3", params=RESPONSES))).tool_calls
    followup.messages[1] = Message("assistant", tool_calls=[tc])
    elsewhere = Target("azure", "o3", base_url=fake_openai.url.replace("127.0.0.1", "localhost"), params=RESPONSES)
    await azure.complete(followup, elsewhere)
    items = fake_openai.requests[-1].body["input"]
    assert [i.get("type") for i in items[1:]] == ["function_call", "function_call_output"]
    await azure.complete(followup, Target("azure", "o3", params=RESPONSES))
    items = fake_openai.requests[-1].body["input"]
    assert [i.get("type") for i in items[1:]] == ["reasoning", "function_call", "function_call_output"]
    assert items[1]["encrypted_content"] == "gAAA-az"
    # the signature names its endpoint by a digest: a base URL (a gateway's token in its path) is not in results
    assert "127.0.0.1" not in (tc.signature or "") and "openai" not in (tc.signature or "").split(":", 1)[1]
