"""A key variable holding the key wrapped in what is not the key: its quotes, which a file of variables read as it is
keeps in the value (Docker's ``--env-file``: ``OPENAI_API_KEY="sk-..."``), or an Authorization header's ``Bearer ``
(copied from a curl command such as the guide's troubleshooting one). Sent as it is, every call was refused by the
vendor with a 401 while ``magsag doctor`` called the provider ready; now it is refused before anything is sent, as a
placeholder is, naming the variable and what to set it to, never the key, and the failed call is recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.anthropic import AnthropicProvider
from magsag_mcp.providers.gemini import GeminiProvider
from magsag_mcp.providers.openai import AzureProvider, OpenAIProvider
from magsag_mcp.service import Service
from magsag_mcp.transport import Transport
from magsag_mcp.types import Target

from .fakes import FakeAnthropic, FakeGemini, FakeOpenAI

KEY = "test-key-not-real-0123456789"
QUOTES = "holds the key inside quotes, as a file of variables read as it is keeps them"
BEARER = "holds the key after 'Bearer ', as an Authorization header writes it"
WRAPPED = [(f'"{KEY}"', QUOTES), (f"'{KEY}'", QUOTES), (f'{KEY}"', QUOTES), (f"Bearer {KEY}", BEARER)]
WRAPPED += [(f"bearer  {KEY}", BEARER)]


@pytest.mark.parametrize("value, how", WRAPPED)
@pytest.mark.parametrize(
    "make, name, model",
    [
        (OpenAIProvider, "OPENAI_API_KEY", "gpt-4o"),
        (AnthropicProvider, "ANTHROPIC_API_KEY", "claude-3-5-sonnet-20241022"),
        (GeminiProvider, "GEMINI_API_KEY", "gemini-1.5-pro"),
    ],
)
def test_a_wrapped_key_is_refused_before_it_is_sent_naming_the_variable(make, name, model, value, how):
    provider = make({name: value}, Transport())
    error = provider.unavailable_error(Target(provider.name, model))
    said = f"{provider.name}: {name} {how}: sent so, it would be refused as no key; set {name} to the key alone"
    assert error is not None and error.message == said
    assert error.kind == "authentication_error"  # the key is wrong, as a placeholder's is, not the server
    assert provider.setting_problems() == [said]  # magsag doctor's problem, not "ready"
    assert KEY not in said
    with pytest.raises(E.AuthenticationError, match=name):
        provider.endpoint.headers(model)


@pytest.mark.parametrize("value", [KEY, f"  {KEY}  ", "bearer-key-0123456789", "sk-test-it's-0123456789"])
def test_a_key_alone_is_not_refused(value):
    # whitespace around it the vendor's server drops (an HTTP header's value has none); a word glued to "bearer", or
    # a quote within the key, is no wrapping
    provider = OpenAIProvider({"OPENAI_API_KEY": value}, Transport())
    assert provider.unavailable_error(Target("openai", "gpt-4o")) is None
    assert provider.setting_problems() == []


def test_a_wrapped_key_does_not_hide_the_key_of_the_next_variable():
    # as a placeholder does not: Azure's key in quotes beside an Entra ID token, the token is sent
    token = "eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJ0ZXN0In0.bm90LWEtcmVhbC1zaWduYXR1cmU"
    env = {
        "AZURE_OPENAI_API_KEY": f'"{KEY}"',
        "AZURE_OPENAI_AD_TOKEN": token,
        "AZURE_OPENAI_ENDPOINT": "https://contoso.openai.azure.com/",
    }
    provider = AzureProvider(env, Transport())
    assert provider.unavailable_error(Target("azure", "my-deployment")) is None
    assert provider.endpoint.headers("my-deployment") == {"Authorization": f"Bearer {token}"}


@pytest.mark.anyio
@pytest.mark.parametrize(
    "fake, name, base_variable, path, model",
    [
        (FakeOpenAI, "OPENAI_API_KEY", "OPENAI_BASE_URL", "/v1", "gpt-4o"),
        (FakeAnthropic, "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "", "claude-3-5-sonnet-20241022"),
        (FakeGemini, "GEMINI_API_KEY", "GEMINI_BASE_URL", "", "gemini-1.5-pro"),
    ],
)
async def test_a_call_with_a_quoted_key_sends_nothing_and_is_recorded_failed(
    tmp_path: Path, serve, fake, name, base_variable, path, model
):
    vendor = fake(KEY).queue({"text": "answered"})
    env = {name: f'"{KEY}"', base_variable: await serve(vendor) + path}
    payload = {"data": "Q3 revenue 1.2M (+8%)", "model_config": {"model": model}}
    svc = await Service.open(db=tmp_path / "l.db", env=env)
    try:
        with pytest.raises(E.MagsagError) as failed:
            await svc.invoke_skill("skill.analysis", payload, run_id="r-quoted")
        assert f"{name} {QUOTES}" in str(failed.value) and KEY not in str(failed.value)
        assert vendor.requests == []
        [run] = await svc.query_runs({"run_id": "r-quoted"})
        assert run["status"] == "error" and KEY not in repr(run)
    finally:
        await svc.aclose()
    # the key alone, the same call is answered: the vendor takes it
    svc = await Service.open(db=tmp_path / "l.db", env={**env, name: KEY})
    try:
        answered = await svc.invoke_skill("skill.analysis", payload)
        assert answered.result.text == "answered" and len(vendor.requests) == 1
    finally:
        await svc.aclose()


def test_a_key_found_whole_is_not_judged_again_before_each_attempt_of_a_target_with_its_own_base_url(monkeypatch):
    # a target with a base URL of its own (a gateway's in routing, a call's) is asked whether it is callable before
    # every attempt, not remembered as ready: the key, found whole at the first, was matched again each time against
    # the placeholders' pattern and both wrappings' (a generator and three regular expressions an attempt)
    from magsag_mcp.providers import endpoint as endpoint_module

    judged: list[str] = []
    for name in ("not_a_whole_key", "key_wrapping"):
        judge = getattr(endpoint_module, name)
        monkeypatch.setattr(endpoint_module, name, lambda value, judge=judge: judged.append(value) or judge(value))
    provider = OpenAIProvider({"OPENAI_API_KEY": KEY}, Transport())
    target = Target("openai", "gpt-4o", "https://gateway.example.com/v1")
    for _ in range(3):
        assert provider.unavailable_error(target) is None
        assert provider.endpoint.headers("gpt-4o") == {"Authorization": f"Bearer {KEY}"}
    assert judged == [KEY, KEY]  # once each, when first found
    assert provider.setting_problems() == []


CURLED = "holds the key inside typographic quotes (\u201c \u201d \u2018 \u2019), as a document or a chat that curls "
CURLED += "quotes writes it"
HEADER = "holds the key after its header's name, as a curl command's header line writes it"


@pytest.mark.parametrize(
    "value, how",
    [
        # a key copied from a page or a chat that curls quotes (a wiki, a word processor, a messenger)
        (f"\u201c{KEY}\u201d", CURLED),
        (f"\u2018{KEY}\u2019", CURLED),
        (f"{KEY}\u201d", CURLED),
        # the whole header line copied from a curl command: Authorization's, and the vendors' own key headers
        (f"Authorization: Bearer {KEY}", BEARER),
        (f"x-api-key: {KEY}", HEADER),
        (f"X-Goog-Api-Key:{KEY}", HEADER),
        (f"api-key: {KEY}", HEADER),
    ],
)
def test_a_key_in_typographic_quotes_or_its_header_line_is_refused_before_it_is_sent(value, how):
    # sent as they were, each reached the vendor for its 401 (the typographic quotes, not even Latin-1, as UTF-8)
    for make, name, model in [
        (OpenAIProvider, "OPENAI_API_KEY", "gpt-4o"),
        (AnthropicProvider, "ANTHROPIC_API_KEY", "claude-3-5-sonnet-20241022"),
        (GeminiProvider, "GEMINI_API_KEY", "gemini-1.5-pro"),
    ]:
        provider = make({name: value}, Transport())
        error = provider.unavailable_error(Target(provider.name, model))
        said = f"{provider.name}: {name} {how}: sent so, it would be refused as no key; set {name} to the key alone"
        assert error is not None and error.message == said
        assert provider.setting_problems() == [said] and KEY not in said


@pytest.mark.parametrize("value", ["api-key-0123456789abcdef", "x-api-key-0123456789", "sk-authorization-0123456789"])
def test_a_key_that_only_holds_a_headers_name_is_not_refused(value):
    provider = OpenAIProvider({"OPENAI_API_KEY": value}, Transport())
    assert provider.unavailable_error(Target("openai", "gpt-4o")) is None and provider.setting_problems() == []


@pytest.mark.parametrize(
    "value, words",
    [
        (f"Authorization: Bearer {KEY}", "send it in an Authorization header"),
        (f"x-api-key: {KEY}", "Anthropic takes its key as x-api-key: the header"),
        (f'"{KEY}"', 'a value "in quotes"'),
    ],
)
def test_only_the_key_inside_a_wrapping_is_made_a_secret(value, words):
    # the wrapping is no secret: known as part of one, its start ("Authorization", "x-api-key") was taken out of every
    # later message as a key's start, the refusal's own "as an Authorization header writes it" among them
    from magsag_mcp.errors import redact

    provider = AnthropicProvider({"ANTHROPIC_API_KEY": value}, Transport())
    assert provider.setting_problems()  # (the key is read, and refused)
    assert redact(words) == words
    assert KEY not in redact(f"a server's echo of {KEY}") and KEY not in redact(f"echoed: {value}")
