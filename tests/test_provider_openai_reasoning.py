"""The OpenAI provider and the reasoning models, against the spec-checking loopback server: what each takes
(the first ones no system message, later ones no temperature or stop), the models only the Responses API
serves, and the reasoning that goes back with a tool call."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.openai import OpenAIProvider
from magsag_mcp.transport import Transport
from magsag_mcp.types import LLMRequest, Message, Target, ToolSpec
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import FakeOpenAI
from tests.llm_requests import ask
from tests.provider_openai_helpers import APIS, ENV, WEATHER, sent, target

pytestmark = pytest.mark.anyio


@pytest.fixture
def provider(transport: Transport) -> OpenAIProvider:
    return OpenAIProvider(ENV, transport)


# --- the first reasoning models (o1-preview, o1-mini) ----------------------------------------------------


@pytest.mark.parametrize("model", ["o1-preview", "o1-mini", "o1-preview-2024-09-12"])
@pytest.mark.parametrize("stream", [False, True])
async def test_legacy_reasoning_models_take_the_system_prompt_as_a_user_turn(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, model: str, stream: bool
):
    # The fake answers these models as OpenAI does: 400 unsupported_value for a system message,
    # a temperature other than 1, or stop sequences.
    fake_openai.queue(R.reply("x = 4"))
    request = ask("Solve 2x = 8.", system="Reason step by step.", temperature=0.2, stop=["END"], max_tokens=900)
    request.stream = stream
    result = await provider.complete(request, target(fake_openai, "chat", model))

    assert result.text == "x = 4"
    body = sent(fake_openai)
    assert body["messages"] == [
        {"role": "user", "content": "Reason step by step."},
        {"role": "user", "content": "Solve 2x = 8."},
    ]
    assert "temperature" not in body and "stop" not in body and body["max_completion_tokens"] == 900
    assert len(result.warnings) == 3
    system, temperature, stop = result.warnings
    assert model in system and "system prompt" in system and "first user message" in system
    assert "temperature 0.2" in temperature and "'stop'" in stop


async def test_legacy_reasoning_model_without_system_or_sampling_has_nothing_to_say(
    fake_openai: FakeOpenAI, provider: OpenAIProvider
):
    result = await provider.complete(ask("hi", temperature=1), target(fake_openai, "chat", "o1-mini"))
    assert result.warnings == [] and sent(fake_openai)["messages"] == [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("model", ["o1-preview", "o1-mini-2024-09-12"])
@pytest.mark.parametrize("stream", [False, True])
async def test_legacy_reasoning_system_prompt_alone_is_folded_and_said(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, model: str, stream: bool
):
    request = ask("Solve 2x = 8.", system="Reason step by step.", stream=stream)
    result = await provider.complete(request, target(fake_openai, "chat", model))

    body = sent(fake_openai)
    assert body["messages"] == [
        {"role": "user", "content": "Reason step by step."},
        {"role": "user", "content": "Solve 2x = 8."},
    ]
    assert "stop" not in body and "temperature" not in body
    assert result.warnings == [f"{model} takes no system prompt; it was sent as the first user message"]


@pytest.mark.parametrize("model", ["o1-preview", "o1-mini-2024-09-12"])
@pytest.mark.parametrize("stream", [False, True])
async def test_legacy_reasoning_stop_alone_is_dropped_and_said(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, model: str, stream: bool
):
    request = ask("Count to 3.", stop=["\n\n", "END"], stream=stream)
    result = await provider.complete(request, target(fake_openai, "chat", model))

    body = sent(fake_openai)
    assert "stop" not in body
    assert body["messages"] == [{"role": "user", "content": "Count to 3."}]
    assert result.warnings == [f"{model} has no stop sequences; 'stop' was not sent"]


async def test_legacy_reasoning_notes_are_said_in_the_order_the_body_is_built(
    fake_openai: FakeOpenAI, provider: OpenAIProvider
):
    request = ask("Solve 2x = 8.", system="Reason step by step.", temperature=0, stop=["END"])
    result = await provider.complete(request, target(fake_openai, "chat", "o1-mini"))

    body = sent(fake_openai)
    assert [m["role"] for m in body["messages"]] == ["user", "user"]
    assert not {"temperature", "stop"} & set(body)
    assert result.warnings == [
        "o1-mini takes no system prompt; it was sent as the first user message",
        "o1-mini supports only the default temperature; temperature 0 was not sent",
        "o1-mini has no stop sequences; 'stop' was not sent",
    ]


@pytest.mark.parametrize("model", ["o3", "o3-2025-04-16", "o4-mini", "o4-mini-2025-04-16"])
@pytest.mark.parametrize("stream", [False, True])
async def test_o3_and_o4_mini_get_no_stop_and_say_so(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, model: str, stream: bool
):
    # openai.yaml, StopConfiguration: "Not supported with latest reasoning models `o3` and `o4-mini`";
    # sent anyway, the API answers 400 and the target is lost to the call. They do take a system message.
    request = ask("Count to 3.", system="Be terse.", stop=["END"], stream=stream)
    result = await provider.complete(request, target(fake_openai, "chat", model))
    body = sent(fake_openai)
    assert "stop" not in body and body["messages"][0] == {"role": "system", "content": "Be terse."}
    assert result.warnings == [f"{model} has no stop sequences; 'stop' was not sent"]


@pytest.mark.parametrize("model", ["o1", "o3-mini", "gpt-4o"])
async def test_later_models_keep_their_system_message(fake_openai: FakeOpenAI, provider: OpenAIProvider, model: str):
    result = await provider.complete(ask("hi", system="Be terse.", stop=["END"]), target(fake_openai, "chat", model))
    body = sent(fake_openai)
    assert body["messages"][0] == {"role": "system", "content": "Be terse."} and body["stop"] == ["END"]
    assert result.warnings == []


@pytest.mark.parametrize("param", ["tools", "response_format"])
async def test_a_feature_the_model_lacks_moves_on(fake_openai: FakeOpenAI, provider: OpenAIProvider, param: str):
    if param == "tools":
        request = ask("hi", tools=[ToolSpec("f", "a tool", {"type": "object", "properties": {}})])
    else:
        request = ask("hi", json_output=True)
    with pytest.raises(E.UnsupportedFeatureError) as info:
        await provider.complete(request, target(fake_openai, "chat", "o1-mini"))
    err = info.value
    assert (err.status, err.retryable, err.moves_on) == (400, False, True)
    assert f"'{param}'" in err.message and "with this model" in err.message


# --- the sampling settings of the later models (o-series, gpt-5, search, fine-tunes) --------------------


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("model", ["o1", "o3-mini", "o4-mini"])
async def test_reasoning_models_get_no_temperature_and_say_so(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str, model: str
):
    # o-series models answer 400 to any temperature but the default; a skill's temperature 0 must not
    # make them fail. gpt-4o keeps it.
    result = await provider.complete(ask("hi", temperature=0.2), target(fake_openai, api, model))
    assert "temperature" not in sent(fake_openai)
    assert result.warnings == [f"{model} supports only the default temperature; temperature 0.2 was not sent"]
    result = await provider.complete(ask("hi", temperature=0.2), target(fake_openai, api, "gpt-4o"))
    assert sent(fake_openai)["temperature"] == 0.2 and result.warnings == []


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    ("model", "extra"),
    [
        ("gpt-5", {}),
        ("gpt-5-mini", {}),
        ("gpt-5-nano-2025-08-07", {}),
        ("gpt-5-pro", {}),
        ("gpt-5.2-pro", {}),
        ("gpt-5.5", {}),
        # gpt-5.1 and gpt-5.2 reason only when the call asks them to
        ("gpt-5.1", {"reasoning_effort": "high"}),
        ("gpt-5.2-2025-12-11", {"reasoning_effort": "low"}),
    ],
)
async def test_gpt5_models_that_reason_get_no_temperature_and_say_so(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str, model: str, extra: dict[str, Any]
):
    # gpt-5 answers any temperature but 1 with 400 unsupported_value, which lost the target to every skill
    # that sets one (extraction's 0, coding's 0.2)
    if api == "responses" and extra:
        extra = {"reasoning": {"effort": extra["reasoning_effort"]}}
    request = ask("hi", temperature=0)
    request.extra.update(extra)
    result = await provider.complete(request, target(fake_openai, api, model))
    assert "temperature" not in sent(fake_openai)
    assert result.warnings == [f"{model} supports only the default temperature; temperature 0 was not sent"]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    ("model", "extra"),
    [
        ("gpt-5-chat-latest", {}),  # the chat variant does not reason
        ("gpt-5.1", {}),  # reasoning effort "none" by default
        ("gpt-5.2", {"reasoning_effort": "none"}),
        ("gpt-5-mini", {"reasoning_effort": "none"}),
    ],
)
async def test_gpt5_models_that_do_not_reason_keep_their_temperature(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str, model: str, extra: dict[str, Any]
):
    if api == "responses" and extra:
        extra = {"reasoning": {"effort": extra["reasoning_effort"]}}
    request = ask("hi", temperature=0.3)
    request.extra.update(extra)
    result = await provider.complete(request, target(fake_openai, api, model))
    assert sent(fake_openai)["temperature"] == 0.3 and result.warnings == []


@pytest.mark.parametrize("model", ["gpt-5", "gpt-5-mini-2025-08-07", "gpt-5.1", "gpt-5.2"])
async def test_gpt5_models_get_no_stop_and_say_so(fake_openai: FakeOpenAI, provider: OpenAIProvider, model: str):
    # sent, "Unsupported parameter: 'stop' is not supported with this model." lost the target to the call
    result = await provider.complete(ask("Count to 3.", stop=["END"]), target(fake_openai, "chat", model))
    assert "stop" not in sent(fake_openai)
    assert result.warnings == [f"{model} has no stop sequences; 'stop' was not sent"]
    await provider.complete(ask("Count to 3.", stop=["END"]), target(fake_openai, "chat", "gpt-5-chat-latest"))
    assert sent(fake_openai)["stop"] == ["END"]


@pytest.mark.parametrize("model", ["gpt-4o-search-preview", "gpt-4o-mini-search-preview-2025-03-11"])
async def test_search_models_get_no_temperature_and_say_so(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, model: str
):
    # "Model incompatible request argument supplied: temperature" (no code, no param) was a bad request that
    # stopped the cascade, for every skill with a temperature
    result = await provider.complete(ask("News today?", temperature=0.2), target(fake_openai, "chat", model))
    assert "temperature" not in sent(fake_openai)
    assert result.warnings == [f"{model} supports only the default temperature; temperature 0.2 was not sent"]


#: a target's sampling and log-probability params, written once for whichever model serves it (chat, and what the
#: Responses API has of them)
_SAMPLERS = {
    "chat": {"top_p": 0.5, "presence_penalty": 0.4, "frequency_penalty": 0.2, "logprobs": True, "top_logprobs": 3},
    "responses": {"top_p": 0.5, "top_logprobs": 3},
}


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    ("model", "effort"),
    [("o3", None), ("o4-mini-2025-04-16", None), ("gpt-5", None), ("gpt-5-mini", "low"), ("gpt-5.2", "high")],
)
async def test_models_that_reason_get_no_top_p_penalties_or_logprobs_and_say_so(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str, model: str, effort: str | None
):
    # each answered 400 "Unsupported parameter: 'top_p' is not supported with this model.": logprobs and
    # top_logprobs stopped the cascade as a bad request, and top_p and the penalties were sent again without them,
    # a round trip more and a warning that the model "refused" what its name already said it takes none of
    extra: dict[str, Any] = dict(_SAMPLERS[api])
    if effort is not None:
        extra |= {"reasoning": {"effort": effort}} if api == "responses" else {"reasoning_effort": effort}
    result = await provider.complete(ask("hi", extra=extra), target(fake_openai, api, model))
    assert result.text == "ok" and len(fake_openai.requests) == 1
    assert not set(_SAMPLERS[api]) & set(sent(fake_openai))
    assert result.warnings == [
        f"{model} takes no {name} while it reasons; {name} {value!r} was not sent"
        for name, value in _SAMPLERS[api].items()
    ]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(("model", "effort"), [("gpt-4o", None), ("gpt-5.1", None), ("gpt-5.2", "none")])
async def test_models_that_do_not_reason_keep_their_top_p_penalties_and_logprobs(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str, model: str, effort: str | None
):
    extra: dict[str, Any] = dict(_SAMPLERS[api])
    if effort is not None:
        extra |= {"reasoning": {"effort": effort}} if api == "responses" else {"reasoning_effort": effort}
    result = await provider.complete(ask("hi", extra=extra), target(fake_openai, api, model))
    assert {k: sent(fake_openai)[k] for k in _SAMPLERS[api]} == _SAMPLERS[api] and result.warnings == []


@pytest.mark.parametrize("api", APIS)
async def test_a_reasoning_models_default_top_p_is_left_out_without_a_word(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str
):
    # the default changes nothing: no warning, as a temperature of 1 is left out
    result = await provider.complete(ask("hi", extra={"top_p": 1}), target(fake_openai, api, "o3"))
    assert "top_p" not in sent(fake_openai) and result.warnings == []


async def test_search_models_get_no_penalties_and_say_so(fake_openai: FakeOpenAI, provider: OpenAIProvider):
    # "Model incompatible request arguments supplied: frequency_penalty, top_p" (see below), which the web-search
    # models answer to any sampling setting
    model = "gpt-4o-search-preview"
    result = await provider.complete(ask("News?", extra={"frequency_penalty": 0.5}), target(fake_openai, "chat", model))
    assert "frequency_penalty" not in sent(fake_openai)
    assert result.warnings == [
        f"{model} takes no frequency_penalty (a web-search model takes no sampling setting); frequency_penalty 0.5 "
        "was not sent"
    ]


@pytest.mark.parametrize("model", ["o1", "o3-mini-2025-01-31", "o3", "o4-mini"])
@pytest.mark.parametrize("parallel", [False, True])
async def test_o_series_chat_gets_no_parallel_tool_calls(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, model: str, parallel: bool
):
    # 400 "Unsupported parameter: 'parallel_tool_calls' is not supported with this model." (unsupported_parameter):
    # the target was lost to every call of tools, where magsag's refusal of Anthropic's disable_parallel_tool_use
    # names params: {parallel_tool_calls: false} as the way to ask it
    fake_openai.queue(R.reply(tool_calls=[R.call("get_weather", {"city": "Oslo"})]))
    request = ask("Weather in Oslo?", tools=[WEATHER], extra={"parallel_tool_calls": parallel})
    result = await provider.complete(request, target(fake_openai, "chat", model))
    assert [c.name for c in result.tool_calls] == ["get_weather"] and len(fake_openai.requests) == 1
    assert "parallel_tool_calls" not in sent(fake_openai)
    said = (
        f"{model} takes no parallel_tool_calls; parallel_tool_calls false was not sent, and its answer may hold "
        "several tool calls at once"
    )
    assert result.warnings == ([] if parallel else [said])


@pytest.mark.parametrize(("api", "model"), [("chat", "gpt-4o"), ("chat", "gpt-5"), ("responses", "o3")])
async def test_parallel_tool_calls_false_goes_to_the_models_that_take_it(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str, model: str
):
    request = ask("Weather in Oslo?", tools=[WEATHER], extra={"parallel_tool_calls": False})
    result = await provider.complete(request, target(fake_openai, api, model))
    assert sent(fake_openai)["parallel_tool_calls"] is False and result.warnings == []


async def test_an_argument_the_model_is_incompatible_with_moves_on(fake_openai: FakeOpenAI, provider: OpenAIProvider):
    fake_openai.queue(R.error(400, "Model incompatible request arguments supplied: frequency_penalty, top_p"))
    with pytest.raises(E.UnsupportedFeatureError) as info:
        await provider.complete(ask("News today?"), target(fake_openai, "chat", "gpt-4o-search-preview"))
    assert info.value.moves_on and "frequency_penalty" in info.value.message


@pytest.mark.parametrize("api", APIS)
async def test_a_fine_tune_of_a_reasoning_model_gets_what_its_base_model_takes(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str
):
    # a reinforcement fine-tune of o4-mini refuses a temperature and stop sequences as o4-mini does: its name
    # (ft:o4-mini-...:org:name:id) was not read as o4-mini's, so the skill's temperature 0 was sent, answered 400,
    # and the fine-tune was lost to every call that sets one
    model = "ft:o4-mini-2025-04-16:acme:grader:AbC123"
    request = ask("hi", temperature=0, stop=["END"] if api == "chat" else None)
    result = await provider.complete(request, target(fake_openai, api, model))
    assert not {"temperature", "stop"} & set(sent(fake_openai))
    assert f"{model} supports only the default temperature; temperature 0 was not sent" in result.warnings
    # a fine-tune of a model that does not reason keeps both
    result = await provider.complete(request, target(fake_openai, api, "ft:gpt-4o-mini-2024-07-18:acme::XyZ789"))
    assert sent(fake_openai)["temperature"] == 0 and not result.warnings


@pytest.mark.parametrize("api", APIS)
async def test_a_sampling_setting_a_model_the_rules_do_not_know_refuses_is_sent_again_without_it(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str
):
    # a model newer than the rules (named here gpt-6, reasoning as gpt-5 does) answers the skill's temperature 400
    # "Unsupported value: 'temperature' does not support 0 with this model": the 400 is not billed, and the target
    # was lost to the call, as Azure's deployments and compat's aliases (and Claude's models) no longer are
    fake_openai.deployments["gpt-6"] = "gpt-5"
    result = await provider.complete(ask("hi", temperature=0), target(fake_openai, api, "gpt-6"))
    assert result.text == "ok" and len(fake_openai.requests) == 2
    assert sent(fake_openai, 0)["temperature"] == 0 and "temperature" not in sent(fake_openai)
    (warning,) = result.warnings
    assert warning.startswith("openai:gpt-6 refused 'temperature' (Unsupported value:")
    assert warning.endswith("it was sent again without it")
    # and it is sent none from then on, saying so
    result = await provider.complete(ask("hi", temperature=0), target(fake_openai, api, "gpt-6"))
    assert len(fake_openai.requests) == 3 and "temperature" not in sent(fake_openai)
    assert result.warnings == ["openai:gpt-6 refused 'temperature' on an earlier call; it was not sent"]


@pytest.mark.parametrize("stream", [False, True])
async def test_chat_spellings_of_reasoning_effort_and_verbosity_reach_the_responses_api(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, stream: bool
):
    # a target's params are written once, and gpt-5-pro (like o3-pro and gpt-5-codex) is called on the Responses
    # API unasked: its reasoning_effort and verbosity were sent as they are, and OpenAI answered 400 "Unsupported
    # parameter: 'reasoning_effort'. In the Responses API, this parameter has moved to 'reasoning.effort'.", a bad
    # request that stopped the call
    fake_openai.queue(R.json_reply({"answer": 42}))
    request = ask("Answer in JSON.", temperature=0, json_output=True, stream=stream)
    request.extra.update({"reasoning_effort": "high", "verbosity": "low"})
    result = await provider.complete(request, Target("openai", "gpt-5-pro", base_url=fake_openai.url + "/v1"))
    assert result.parsed == {"answer": 42}
    body = sent(fake_openai)
    assert fake_openai.paths() == ["/v1/responses"]
    assert body["reasoning"] == {"effort": "high"} and "reasoning_effort" not in body
    assert body["text"] == {"format": {"type": "json_object"}, "verbosity": "low"} and "verbosity" not in body
    assert "temperature" not in body
    # a reasoning of the Responses API's own keeps its other settings, and says the effort it asks for itself
    request = ask("hi", temperature=0.5)
    request.extra.update({"reasoning_effort": "none", "reasoning": {"summary": "auto"}})
    await provider.complete(request, target(fake_openai, "responses", "gpt-5.1"))
    assert sent(fake_openai)["reasoning"] == {"effort": "none", "summary": "auto"}
    assert sent(fake_openai)["temperature"] == 0.5  # effort none: gpt-5.1 does not reason, and takes it


# --- the Responses API's own models, and the reasoning that goes back with a tool call ------------------


@pytest.mark.parametrize(
    "model", ["o3-pro", "o1-pro-2025-03-19", "gpt-5-pro", "gpt-5.1-codex-mini", "codex-mini-latest"]
)
async def test_a_model_only_the_responses_api_serves_is_called_there(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, model: str
):
    # on Chat Completions OpenAI answers 404 "only supported in v1/responses", which was taken for an unknown model
    result = await provider.complete(ask("hi", max_tokens=8), target(fake_openai, "chat", model))
    assert fake_openai.paths() == ["/v1/responses"] and result.text == "ok"
    assert sent(fake_openai)["max_output_tokens"] == 16  # the Responses API's minimum, which budgets reserve
    assert OpenAIProvider.min_output_tokens(Target("openai", model)) == 16


async def test_chat_asked_of_a_model_only_the_responses_api_serves_says_to_use_it(
    fake_openai: FakeOpenAI, provider: OpenAIProvider
):
    chat = Target("openai", "o3-pro", base_url=fake_openai.url + "/v1", params=(("api", "chat"),))
    with pytest.raises(E.UnsupportedFeatureError) as info:
        await provider.complete(ask("hi"), chat)
    assert info.value.moves_on and "params: {api: responses}" in info.value.message
    assert "check the model name" not in info.value.message  # not a wrong name or base URL


@pytest.mark.parametrize("stream", [False, True])
async def test_the_reasoning_before_a_tool_call_goes_back_with_it(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, stream: bool
):
    # a reasoning model's tool calls must go back with the reasoning items before them (with store false, their
    # encrypted content): they were dropped, and o3 / gpt-5 reasoned again from scratch after every tool result
    fake_openai.queue(R.reply(tool_calls=[R.call("get_weather", {"city": "Paris"}, id="call_w")], reasoning="gAAA-enc"))
    first = await provider.complete(
        ask("Weather in Paris?", tools=[WEATHER], stream=stream), target(fake_openai, "responses", "o3")
    )
    (tc,) = first.tool_calls
    assert tc.signature  # rides on the call, to come back with it (as Gemini's signature and Claude's thinking do)
    followup = LLMRequest(
        [
            Message("user", "Weather in Paris?"),
            Message("assistant", tool_calls=[tc]),
            Message("tool", '{"temp": 21}', tool_call_id="call_w", name="get_weather"),
        ],
        tools=[WEATHER],
        stream=stream,
    )
    await provider.complete(followup, target(fake_openai, "responses", "o3"))
    items = sent(fake_openai)["input"]
    assert [i.get("type") for i in items[1:]] == ["reasoning", "function_call", "function_call_output"]
    assert items[1]["encrypted_content"] == "gAAA-enc" and items[1]["summary"] == []
    # Chat Completions has no place for it: the same history goes there without it
    await provider.complete(followup, target(fake_openai, "chat", "o3"))
    assert "gAAA" not in json.dumps(sent(fake_openai))
    # nor does another model take o3's encrypted reasoning (a fallback, a local server's Responses API)
    await provider.complete(followup, target(fake_openai, "responses", "gpt-4.1"))
    assert "gAAA" not in json.dumps(sent(fake_openai))


def test_openai_reasoning_on_a_call_is_no_gemini_signature():
    from magsag_mcp.providers.gemini import UNSIGNED, GeminiFormat
    from magsag_mcp.providers.openai_responses import ResponsesFormat

    data = {
        "status": "completed",
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAA-enc"},
            {"type": "function_call", "call_id": "call_w", "name": "get_weather", "arguments": "{}"},
        ],
    }
    (tc,) = ResponsesFormat().parse_response(data, provider="openai", model="o3").tool_calls
    history = [
        Message("user", "hi"),
        Message("assistant", tool_calls=[tc]),
        Message("tool", "{}", tool_call_id="call_w"),
    ]
    body, _ = GeminiFormat().build(LLMRequest(history), "gemini-3-pro-preview", stream=False)
    assert body["contents"][1]["parts"][0]["thoughtSignature"] == UNSIGNED


async def test_reasoning_goes_back_before_the_text_that_came_with_the_calls(
    fake_openai: FakeOpenAI, provider: OpenAIProvider
):
    # output [reasoning, message, function_call] goes back in that order, not with the text ahead of the reasoning
    fake_openai.queue(
        R.reply("Checking.", tool_calls=[R.call("get_weather", {"city": "Oslo"}, id="call_o")], reasoning="e")
    )
    first = await provider.complete(ask("Weather in Oslo?", tools=[WEATHER]), target(fake_openai, "responses", "o3"))
    history = [
        Message("user", "Weather in Oslo?"),
        Message("assistant", first.text, tool_calls=first.tool_calls),
        Message("tool", '{"temp": 3}', tool_call_id="call_o", name="get_weather"),
    ]
    await provider.complete(LLMRequest(history, tools=[WEATHER]), target(fake_openai, "responses", "o3"))
    kinds = [i.get("type") or i["role"] for i in sent(fake_openai)["input"]]
    assert kinds == ["user", "reasoning", "assistant", "function_call", "function_call_output"]


@pytest.mark.parametrize("stream", [False, True])
async def test_reasoning_the_endpoint_cannot_verify_is_left_out_and_the_turn_sent_again(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, stream: bool
):
    # The same base URL may no longer decrypt the reasoning it handed out (OPENAI_API_KEY now another
    # organization's, OpenAI's own "could not be verified" incidents): its 400 invalid_encrypted_content is not
    # billed, and was a bad request that stopped the cascade, where the same turn without the reasoning is answered.
    fake_openai.queue(R.reply(tool_calls=[R.call("get_weather", {"city": "Paris"}, id="call_w")], reasoning="gAAA-enc"))
    o3 = target(fake_openai, "responses", "o3")
    (tc,) = (await provider.complete(ask("Weather in Paris?", tools=[WEATHER], stream=stream), o3)).tool_calls
    fake_openai.issued_reasoning["gAAA-enc"] = "azure"  # this organization can no longer decrypt it
    followup = LLMRequest(
        [
            Message("user", "Weather in Paris?"),
            Message("assistant", tool_calls=[tc]),
            Message("tool", '{"temp": 21}', tool_call_id="call_w", name="get_weather"),
        ],
        tools=[WEATHER],
        stream=stream,
    )
    fake_openai.queue(R.reply("21 degrees"))
    result = await provider.complete(followup, o3)
    assert result.text == "21 degrees"
    assert [i.get("type") for i in sent(fake_openai, -2)["input"][1:]] == [
        "reasoning",
        "function_call",
        "function_call_output",
    ]
    assert [i.get("type") for i in sent(fake_openai)["input"][1:]] == ["function_call", "function_call_output"]
    (warning,) = result.warnings
    assert "could not be verified" in warning and "without it" in warning


@pytest.mark.parametrize("suffix", [":online", ":nitro", ":floor", ":free", ":thinking"])
async def test_an_openrouter_variant_of_a_reasoning_model_gets_what_the_model_takes(
    fake_openai: FakeOpenAI, transport: Transport, suffix: str
):
    # OpenRouter's variants (openai/gpt-5:online searches the web, :nitro and :floor choose the provider by speed or
    # price, :free is the free tier, :thinking reasons) are the model itself: the rules read "gpt-5:online" as no
    # gpt-5, so the skill's temperature and stop went out, and each came back a 400 and a round trip to leave out
    from magsag_mcp.pricing import Pricer, UnitPrices
    from magsag_mcp.providers.openai import CompatProvider

    model = f"openai/gpt-5{suffix}"
    fake_openai.deployments[model] = "gpt-5"  # (OpenRouter serves it as gpt-5, and refuses what gpt-5 refuses)
    provider = CompatProvider({"MAGSAG_COMPAT_API_KEY": ENV["OPENAI_API_KEY"]}, transport)
    target = Target("compat", model, base_url=fake_openai.url + "/v1")
    result = await provider.complete(ask("hi", temperature=0.2, stop=["END"], extra={"top_p": 0.5}), target)
    assert result.text == "ok" and len(fake_openai.requests) == 1
    body = sent(fake_openai)
    assert not {"temperature", "stop", "top_p"} & set(body)
    assert f"{model} supports only the default temperature; temperature 0.2 was not sent" in result.warnings
    # the name is the caller's, as sent and as priced: the variant's price (the :online web search's fee, :free's
    # nothing) is that name's, in prices.yaml as in the ledger
    assert body["model"] == model
    pricer = Pricer([(f"compat:{model}", UnitPrices(Decimal(1), Decimal(2)))])
    assert pricer.price("compat", model, result.usage).cost_usd is not None
    assert pricer.price("compat", "openai/gpt-5", result.usage).cost_usd is None
