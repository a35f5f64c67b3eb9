"""One rule for a vendor's 400 across vendors: a refusal that says the request asks what THIS target does not do (a
parameter, a feature, an output modality it lacks) moves on to the next target, which may do it; a request wrong for
anyone (malformed, a field missing, a value out of its range, the caller's own file) stops the call. Each vendor's
refusal is served by its loopback fake in the vendor's own error shape."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.openai import AzureProvider, OpenAIProvider
from magsag_mcp.transport import Transport
from magsag_mcp.types import LLMRequest, Message, Target
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import AZURE_KEY, DEFAULT_KEY, FakeOpenAI
from tests.providers.test_cascades import open_service
from tests.providers.test_error_paths import anthropic, ask, gemini

from .fakes import FakeAnthropic, FakeGemini
from .fakes import FakeOpenAI as FakeOpenAIVendor

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"


def gemini_refusal(message: str) -> dict[str, Any]:
    return {"error": 400, "body": {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}}


@pytest.mark.parametrize(
    "message",
    [
        # responseModalities with IMAGE (a target's params) on a model that makes no pictures
        "Model does not support the requested response modalities: image,text",
        # Gemini 2's refusal of a JSON response type beside function declarations, which Gemini 3 takes
        "Function calling with a response mime type: 'application/json' is unsupported",
        "Multi-modal output is not supported.",
    ],
    ids=["response-modalities", "json-mime-with-tools", "multimodal-output"],
)
async def test_a_gemini_400_about_what_this_model_does_not_do_moves_on(serve, transport: Transport, message: str):
    # INVALID_ARGUMENT naming no model ("models/x", "this model") was read as a bad request, which stopped the whole
    # chain, where OpenAI's "... is not supported with this model" moved on: the next target may do it
    _, provider, target = await gemini(serve, transport, gemini_refusal(message))
    with pytest.raises(E.ProviderError) as info:
        await provider.complete(ask(), target)
    assert type(info.value) is E.UnsupportedFeatureError, type(info.value)
    assert info.value.moves_on and not info.value.retryable and info.value.status == 400
    assert message in info.value.message


@pytest.mark.parametrize(
    "message",
    [
        "* GenerateContentRequest.contents: contents is not specified",
        "Please ensure that multiturn requests alternate between user and model.",
        "Unable to submit request because it has a mimeType parameter with value application/x-msdownload, which is "
        "not supported. Update the mimeType and try again.",
    ],
    ids=["missing-field", "turn-order", "attachment-mime-type"],
)
async def test_a_gemini_400_about_a_request_wrong_for_anyone_still_stops(serve, transport: Transport, message: str):
    _, provider, target = await gemini(serve, transport, gemini_refusal(message))
    with pytest.raises(E.ProviderError) as info:
        await provider.complete(ask(), target)
    assert type(info.value) is E.BadRequestError, type(info.value)
    assert not info.value.moves_on


@pytest.mark.parametrize(
    ("message", "cls"),
    [
        # a model's name written short ("claude-3-haiku" for claude-3-haiku-20240307): no "this model", no full id
        ("thinking: Extended thinking is not supported by claude-3-haiku.", E.UnsupportedFeatureError),
        ("messages: text content blocks must be non-empty", E.BadRequestError),
    ],
    ids=["feature-this-model-lacks", "wrong-for-anyone"],
)
async def test_an_anthropic_400_follows_the_same_rule(serve, transport: Transport, message: str, cls: type):
    body = {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
    _, provider, target = await anthropic(serve, transport, {"error": 400, "body": body})
    with pytest.raises(E.ProviderError) as info:
        await provider.complete(ask(), Target("anthropic", "claude-3-haiku-20240307", target.base_url))
    assert type(info.value) is cls, type(info.value)
    assert info.value.moves_on == (cls is E.UnsupportedFeatureError) and info.value.status == 400


@pytest.mark.parametrize("azure", [False, True], ids=["openai", "azure"])
async def test_an_unsupported_parameter_code_moves_on_whatever_its_words(
    fake_openai: FakeOpenAI, transport: Transport, azure: bool
):
    # OpenAI's (and Azure's) code says the model does not take the parameter; a message that does not add "with this
    # model" (a gateway's rewording, a message cut short) was read as a bad request and stopped the chain
    message = "Unsupported parameter: 'top_logprobs'."
    fake_openai.queue(R.error(400, message, param="top_logprobs", code="unsupported_parameter"))
    if azure:
        env = {"AZURE_OPENAI_API_KEY": AZURE_KEY, "AZURE_OPENAI_ENDPOINT": fake_openai.url + "/"}
        provider: Any = AzureProvider(env, transport)
        target = Target("azure", "prod-gpt")
    else:
        provider = OpenAIProvider(
            {"OPENAI_API_KEY": DEFAULT_KEY, "OPENAI_BASE_URL": fake_openai.url + "/v1"}, transport
        )
        target = Target("openai", "gpt-4o")
    with pytest.raises(E.ProviderError) as info:
        await provider.complete(ask(), target)
    assert type(info.value) is E.UnsupportedFeatureError, type(info.value)
    assert info.value.moves_on and info.value.details["param"] == "top_logprobs"
    # the control: an invalid value (code invalid_value) is the request's, for any target
    fake_openai.queue(R.error(400, "Invalid value for 'temperature': must be between 0 and 2.", code="invalid_value"))
    with pytest.raises(E.BadRequestError):
        await provider.complete(ask(), target)


async def test_a_cascade_moves_past_a_gemini_model_that_lacks_a_feature_and_records_its_400(tmp_path: Path, serve):
    refused = "Model does not support the requested response modalities: image,text"
    gemini_fake = FakeGemini(KEY).queue(gemini_refusal(refused))
    anthropic_fake = FakeAnthropic(KEY).queue({"text": "from claude"})
    svc = await open_service(tmp_path, serve, FakeOpenAIVendor(KEY), anthropic_fake, gemini_fake)
    mc = {"model": "gemini-1.5-pro", "fallbacks": ["claude-3-5-sonnet-20241022"]}
    try:
        result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc}, run_id="refusal-1")
    finally:
        await svc.aclose()
    assert result.result.text == "from claude"
    with closing(sqlite3.connect(tmp_path / "l.db")) as db:
        kept = db.execute(
            "SELECT provider, outcome, error_class, error_message FROM attempts WHERE run_id = ? ORDER BY id",
            ("refusal-1",),
        ).fetchall()
    assert [row[:3] for row in kept] == [("google", "error", "unsupported_feature"), ("anthropic", "ok", None)]
    assert "HTTP 400" in kept[0][3] and refused in kept[0][3]  # the failed attempt, with its status
    assert gemini_fake.violations == anthropic_fake.violations == []


@pytest.mark.parametrize("stream", [False, True])
async def test_a_field_geminis_api_does_not_have_is_this_targets_as_an_unrecognized_argument_is(
    serve, transport: Transport, stream: bool
):
    # A target's param written for another vendor's API ("metadata", OpenAI's and Anthropic's): Gemini answers 400
    # 'Invalid JSON payload received. Unknown name "metadata": Cannot find field.', which stopped the chain as a bad
    # request, where OpenAI's own "Unrecognized request argument supplied: x" moves on. The fake refuses it itself,
    # from the Discovery document's fields.
    fake, provider, target = await gemini(serve, transport)
    request = LLMRequest([Message("user", "x")], max_tokens=50, stream=stream, extra={"metadata": {"team": "qa"}})
    with pytest.raises(E.ProviderError) as info:
        await provider.complete(request, target)
    err = info.value
    assert type(err) is E.UnsupportedFeatureError, type(err)
    assert err.moves_on and not err.retryable and err.status == 400 and err.details["param"] == "metadata"
    assert 'Unknown name "metadata"' in err.message and "take it out of the target's params" in err.message
    assert fake.violations == []


@pytest.mark.parametrize(
    ("said", "field"),
    [
        ("store: Extra inputs are not permitted", "store"),
        ("tools.0.custom.strict: Extra inputs are not permitted", "tools.0.custom.strict"),
    ],
    ids=["top-level", "nested"],
)
async def test_a_field_the_messages_api_does_not_have_is_this_targets_too(
    serve, transport: Transport, said: str, field: str
):
    # Anthropic's words for a field its API lacks (pydantic's): the same refusal as Gemini's "Unknown name" and
    # OpenAI's "Unrecognized request argument", which move on; read as a bad request, it stopped the chain
    body = {"type": "error", "error": {"type": "invalid_request_error", "message": said}}
    fake, provider, target = await anthropic(serve, transport, {"error": 400, "body": body})
    with pytest.raises(E.ProviderError) as info:
        await provider.complete(ask(), target)
    err = info.value
    assert type(err) is E.UnsupportedFeatureError, type(err)
    assert err.moves_on and err.status == 400 and err.details["param"] == field
    assert said in err.message and "take it out of the target's params" in err.message
    assert fake.violations == []


@pytest.mark.parametrize("part", ["image_url", "input_audio"])
async def test_a_content_part_only_certain_models_take_moves_on(fake_openai: FakeOpenAI, transport: Transport, part):
    # OpenAI's refusal of a picture or a sound sent to a model that reads text alone (gpt-3.5-turbo, o3-mini): its
    # "content type" is the part's, a modality this model lacks, not the caller's data's type (a file's, a MIME type),
    # and the next target (gpt-4o, a Claude) reads it; read as the caller's data, it stopped the whole chain
    message = f"Invalid content type. {part} is only supported by certain models."
    fake_openai.queue(R.error(400, message, param="messages.[0].content.[1].type"))
    provider = OpenAIProvider({"OPENAI_API_KEY": DEFAULT_KEY, "OPENAI_BASE_URL": fake_openai.url + "/v1"}, transport)
    with pytest.raises(E.ProviderError) as info:
        await provider.complete(ask(), Target("openai", "gpt-3.5-turbo"))
    assert type(info.value) is E.UnsupportedFeatureError, type(info.value)
    assert info.value.moves_on and info.value.status == 400 and message in info.value.message
    # the control: a content type of the caller's own data, refused alike by every target, still stops the call
    fake_openai.queue(R.error(400, "Unsupported content type: application/xml is not supported."))
    with pytest.raises(E.BadRequestError):
        await provider.complete(ask(), Target("openai", "gpt-3.5-turbo"))


@pytest.mark.parametrize("stream", [False, True])
async def test_the_responses_apis_unknown_parameter_is_read_as_chat_completions_unrecognized_argument_is(
    serve, transport: Transport, stream: bool
):
    # The Responses API refuses a field it lacks in words of its own, "Unknown parameter: 'logprobs'." (param logprobs,
    # code unknown_parameter), not Chat Completions' "Unrecognized request argument supplied: logprobs": read as a bad
    # request, a setting magsag leaves out and sends again when Chat Completions refuses it stopped the whole call
    fake = FakeOpenAIVendor(KEY)
    url = await serve(fake)
    provider = OpenAIProvider({"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": url + "/v1"}, transport)
    target = Target("openai", "gpt-4.1", params=(("api", "responses"),))
    fake.queue({"text": "hi"})
    request = LLMRequest([Message("user", "x")], max_tokens=50, stream=stream, extra={"logprobs": True})
    result = await provider.complete(request, target)
    assert result.text == "hi"
    assert any("refused 'logprobs'" in w and "Unknown parameter: 'logprobs'." in w for w in result.warnings)
    assert [("logprobs" in r["body"]) for r in fake.requests] == [True, False]
    assert fake.violations == ["/v1/responses: Unknown parameter: 'logprobs'."]  # (the refused request, on purpose)
    # a field the API lacks that cannot be left out (a Chat Completions seed) is this target's: the next one may take it
    fake.violations.clear()
    with pytest.raises(E.UnsupportedFeatureError) as info:
        await provider.complete(LLMRequest([Message("user", "x")], max_tokens=50, extra={"seed": 7}), target)
    assert info.value.moves_on and info.value.status == 400 and info.value.details["param"] == "seed"
    assert "Unknown parameter: 'seed'." in info.value.message
    assert fake.violations == ["/v1/responses: Unknown parameter: 'seed'."]


async def test_an_unknown_parameter_the_api_places_inside_the_request_is_no_field_at_its_root(
    fake_openai: FakeOpenAI, transport: Transport
):
    # "Unknown parameter: 'format'." after the place the API names (its param, tools[0].parameters): a key inside the
    # caller's tool, not a setting of the target's at the request's root. Read as the root's, it said "this server does
    # not take format", and the call went on to the next target with the same tool, where the call's fault stops it
    said = "Invalid 'tools[0].parameters': Unknown parameter: 'format'."
    fake_openai.queue(R.error(400, said, type="invalid_request_error", param="tools[0].parameters"))
    provider = OpenAIProvider({"OPENAI_API_KEY": DEFAULT_KEY, "OPENAI_BASE_URL": fake_openai.url + "/v1"}, transport)
    with pytest.raises(E.BadRequestError) as info:
        await provider.complete(ask(), Target("openai", "gpt-4.1", params=(("api", "responses"),)))
    assert info.value.details["param"] == "tools[0].parameters" and "does not take" not in info.value.message
    # the API naming the same field as its param is the root's
    fake_openai.queue(R.error(400, "Unknown parameter: 'seed'.", param="seed", code="unknown_parameter"))
    with pytest.raises(E.UnsupportedFeatureError) as refused:
        await provider.complete(ask(), Target("openai", "gpt-4.1", params=(("api", "responses"),)))
    assert refused.value.details["param"] == "seed" and refused.value.message.endswith("this server does not take seed")
