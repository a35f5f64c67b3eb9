"""Where each endpoint sends the call: Azure's URL and header, the local Responses -> chat downgrade,
base-URL resolution, and configuration errors that say what to set."""

from __future__ import annotations

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.anthropic import AnthropicProvider
from magsag_mcp.providers.gemini import GeminiProvider
from magsag_mcp.providers.local import LocalEndpoint, LocalProvider
from magsag_mcp.providers.openai import AzureProvider, CompatProvider, OpenAIProvider
from magsag_mcp.transport import Transport
from magsag_mcp.types import LLMRequest, Message, Target

from .fakes import FakeAnthropic, FakeGemini, FakeOpenAI

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"
CLAUDE = "claude-3-5-sonnet-20241022"
REQ = LLMRequest([Message("user", "hi")], max_tokens=20)


async def test_azure_url_version_and_header(serve, transport):
    fake = FakeOpenAI(KEY, azure=True).queue({"text": "a"}, {"text": "b"})
    url = await serve(fake)
    provider = AzureProvider({"AZURE_OPENAI_API_KEY": KEY, "AZURE_OPENAI_ENDPOINT": url + "/"}, transport)
    await provider.complete(REQ, Target("azure", "prod-gpt4o"))
    req = fake.requests[-1]
    assert req["path"] == "/openai/deployments/prod-gpt4o/chat/completions"
    assert req["query"] == {"api-version": "2024-10-21"}
    assert req["headers"]["api-key"] == KEY and "Authorization" not in req["headers"]
    provider = AzureProvider(
        {"AZURE_OPENAI_API_KEY": KEY, "AZURE_OPENAI_ENDPOINT": url, "AZURE_OPENAI_API_VERSION": "2025-01-01-preview"},
        transport,
    )
    await provider.complete(REQ, Target("azure", "prod-gpt4o"))
    assert fake.requests[-1]["query"] == {"api-version": "2025-01-01-preview"}
    assert fake.violations == []


async def test_azure_without_endpoint_says_what_to_set():
    provider = AzureProvider({"AZURE_OPENAI_API_KEY": KEY}, Transport())
    assert "AZURE_OPENAI_ENDPOINT" in provider.unavailable(Target("azure", "d"))
    provider = AzureProvider({"AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com"}, Transport())
    assert "AZURE_OPENAI_API_KEY" in provider.unavailable(Target("azure", "d"))


async def test_compat_without_base_url_says_what_to_set():
    provider = CompatProvider({}, Transport())
    assert "MAGSAG_COMPAT_BASE_URL" in provider.unavailable(Target("compat", "m"))


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (404, "404 page not found"),
        (405, "Method Not Allowed"),
        (501, "Not Implemented"),
        (400, '{"error": {"message": "unsupported endpoint: /v1/responses"}}'),
    ],
)
async def test_local_downgrades_to_chat_and_remembers(serve, transport, status, text):
    fake = FakeOpenAI(KEY).queue({"text": "from chat"}, {"text": "again"})
    fake.lacks_responses = (status, text)
    url = await serve(fake)
    provider = LocalProvider({"MAGSAG_LOCAL_LLM_API_KEY": KEY}, transport)
    target = Target("local", "llama3.1:70b", url)  # no path: /v1 is added, as for Ollama
    result = await provider.complete(REQ, target)
    assert result.text == "from chat"
    assert any("fell back to chat completions" in w for w in result.warnings)
    assert [r["path"] for r in fake.requests] == ["/v1/responses", "/v1/chat/completions"]
    result = await provider.complete(REQ, target)
    assert fake.requests[-1]["path"] == "/v1/chat/completions" and len(fake.requests) == 3  # remembered
    assert any("no Responses API" in w for w in result.warnings)
    assert fake.violations == []


async def test_local_does_not_downgrade_on_an_ordinary_bad_request(serve, transport):
    body = {
        "error": {
            "message": "temperature must be <= 2",
            "type": "invalid_request_error",
            "param": "temperature",
            "code": None,
        }
    }
    fake = FakeOpenAI(KEY).queue({"error": 400, "body": body})
    url = await serve(fake)
    provider = LocalProvider({"MAGSAG_LOCAL_LLM_API_KEY": KEY}, transport)
    with pytest.raises(E.BadRequestError, match="temperature"):
        await provider.complete(REQ, Target("local", "llama3.1:70b", url + "/v1"))
    assert [r["path"] for r in fake.requests] == ["/v1/responses"]
    assert provider.chat_only == set()


async def test_local_does_not_downgrade_on_model_not_found(serve, transport):
    body = {
        "error": {
            "message": 'model "llama3.1:70b" not found, try pulling it first',
            "type": "not_found",
            "param": None,
            "code": None,
        }
    }
    fake = FakeOpenAI(KEY).queue({"error": 404, "body": body})
    url = await serve(fake)
    provider = LocalProvider({"MAGSAG_LOCAL_LLM_API_KEY": KEY}, transport)
    with pytest.raises(E.ModelNotFoundError):
        await provider.complete(REQ, Target("local", "llama3.1:70b", url + "/v1"))
    assert len(fake.requests) == 1 and provider.chat_only == set()


@pytest.mark.parametrize(
    ("env", "target_url", "expected"),
    [
        (
            {"MAGSAG_LOCAL_LLM_BASE_URL": "http://a:8000/v1/", "OLLAMA_BASE_URL": "http://b:11434"},
            None,
            "http://a:8000/v1",  # trailing slash normalised (one key for the chat-only memory)
        ),
        ({"OLLAMA_BASE_URL": "http://b:11434/"}, None, "http://b:11434/v1"),
        ({}, None, "http://localhost:11434/v1"),
        ({"MAGSAG_LOCAL_LLM_BASE_URL": "http://a:8000/v1"}, "http://c:1234", "http://c:1234/v1"),
        ({}, "http://c:1234/api/v1", "http://c:1234/api/v1"),
    ],
)
def test_local_base_url_resolution(env, target_url, expected):
    assert LocalEndpoint(env).base_url(Target("local", "m", target_url)) == expected


def test_local_constructor_does_no_io():
    # No server anywhere: building the provider must not try to connect.
    LocalProvider({"MAGSAG_LOCAL_LLM_BASE_URL": "http://127.0.0.1:9/v1"}, Transport())


def test_what_a_format_cannot_send_is_said_in_warnings():
    from magsag_mcp.providers.anthropic import AnthropicMessagesFormat
    from magsag_mcp.providers.gemini import GeminiFormat
    from magsag_mcp.types import LLMRequest, Message, ToolSpec

    ask = [Message("user", "x")]
    claude, gemini = AnthropicMessagesFormat(), GeminiFormat()
    body, notes = claude.build(LLMRequest(ask, temperature=1.6), "claude-3-5-sonnet-20241022", stream=False)
    assert body["temperature"] == 1.0 and any("sent as 1" in w for w in notes)
    unique = {"type": "array", "items": {"type": "string"}, "uniqueItems": True}
    schema = {"type": "object", "properties": {"a": unique}, "additionalProperties": False}
    both = LLMRequest(ask, json_schema=schema, tools=[ToolSpec("f", "", {"type": "object"})])
    assert any("could not be enforced" in w for w in claude.build(both, "claude-3-5-sonnet-20241022", stream=False)[1])
    notes = gemini.build(LLMRequest(ask, json_schema=schema), "gemini-1.5-pro", stream=False)[1]
    assert notes and "additionalProperties, uniqueItems" in notes[0]
    titled = LLMRequest(ask, json_schema={"type": "object", "title": "t"})
    assert gemini.build(titled, "gemini-1.5-pro", stream=False)[1] == []
    assert claude.build(LLMRequest(ask, temperature=0.3), "claude-3-5-sonnet-20241022", stream=False)[1] == []


@pytest.mark.parametrize(
    ("provider_cls", "env", "fix"),
    [
        (
            # its host alone: the URL meant, with no /v1 after it
            "anthropic",
            {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": "api.anthropic.com"},
            "did you mean https://api.anthropic.com?",
        ),
        (
            "anthropic",
            {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": "ftp://api.anthropic.com"},
            "e.g. https://api.anthropic.com",
        ),
        (
            "google",
            {"GEMINI_API_KEY": KEY, "GEMINI_BASE_URL": "generativelanguage.googleapis.com/v1beta?key=x"},
            "e.g. https://generativelanguage.googleapis.com",
        ),
    ],
)
def test_an_unusable_anthropic_or_gemini_base_url_names_a_fix_that_works(provider_cls: str, env, fix: str):
    # Their base URL is the server's root, without /v1 or /v1beta: the fix said "e.g. https://host/v1", which
    # sends the call to /v1/v1/messages or /v1/v1beta/models/..., a 404 that reads as an unknown model.

    cls = AnthropicProvider if provider_cls == "anthropic" else GeminiProvider
    model = "claude-sonnet-4-5" if provider_cls == "anthropic" else "gemini-2.5-flash"
    reason = cls(env, Transport()).unavailable(Target(provider_cls, model)) or ""
    assert next(iter(k for k in env if k.endswith("_BASE_URL"))) in reason
    assert fix in reason and "host/v1" not in reason


async def test_a_gemini_probe_with_a_key_it_refuses_says_so(serve, transport):
    # Gemini answers a wrong key 400 (INVALID_ARGUMENT, ErrorInfo API_KEY_INVALID), where other vendors answer 401:
    # `magsag doctor --probe` said "answered HTTP 400", which reads as a request magsag got wrong, not as the key
    url = await serve(FakeGemini(KEY))
    right = GeminiProvider({"GEMINI_API_KEY": KEY, "GEMINI_BASE_URL": url}, transport)
    assert await right.probe() == "reachable"
    wrong = GeminiProvider({"GOOGLE_API_KEY": "AIza-stale-0123456789", "GEMINI_BASE_URL": url}, transport)
    said = await wrong.probe()
    assert said == "answered HTTP 400: the API key was refused; check GOOGLE_API_KEY, whose key was sent", said


CHAT, RESPONSES = "/v1/chat/completions", "/v1/responses"


@pytest.mark.parametrize("tail", ["\r", "/\r", " ", "\n"])
@pytest.mark.parametrize(
    ("provider_class", "fake_class", "variable", "keys", "model", "below", "path"),
    [
        (OpenAIProvider, FakeOpenAI, "OPENAI_BASE_URL", "OPENAI_API_KEY", "gpt-4o", "/v1", CHAT),
        (CompatProvider, FakeOpenAI, "MAGSAG_COMPAT_BASE_URL", "MAGSAG_COMPAT_API_KEY", "m", "/v1", CHAT),
        (AnthropicProvider, FakeAnthropic, "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY", CLAUDE, "", "/v1/messages"),
        (
            GeminiProvider,
            FakeGemini,
            "GEMINI_BASE_URL",
            "GEMINI_API_KEY",
            "gemini-1.5-pro",
            "",
            "/v1beta/models/gemini-1.5-pro:generateContent",
        ),
        (LocalProvider, FakeOpenAI, "MAGSAG_LOCAL_LLM_BASE_URL", "MAGSAG_LOCAL_LLM_API_KEY", "m", "/v1", RESPONSES),
        (LocalProvider, FakeOpenAI, "OLLAMA_BASE_URL", "MAGSAG_LOCAL_LLM_API_KEY", "m", "", RESPONSES),
    ],
    ids=["openai", "compat", "anthropic", "gemini", "local", "ollama"],
)
async def test_whitespace_around_a_base_url_variable_is_not_part_of_it(
    serve, transport, provider_class, fake_class, variable, keys, model, below, path, tail
):
    # A .env file of Windows lines sourced by a shell keeps the carriage return in the value (a space or a newline
    # is as easily pasted): kept, it went into every URL ("http://host/v1\r/chat/completions", or ".../\r/..."),
    # which a server answers 404, said as a model that does not exist. Azure's endpoint was read trimmed; now all are.
    fake = fake_class(KEY).queue({"text": "ok"})
    url = await serve(fake)
    provider = provider_class({keys: KEY, variable: " " + url + below + tail}, transport)
    target = Target(provider.name, model)
    assert provider.unavailable(target) is None and provider.setting_problem() is None
    assert provider.endpoint.base_url_source(target) == variable
    assert (await provider.complete(REQ, target)).text == "ok"
    assert fake.requests[-1]["path"] == path and fake.violations == []


_GOOGLE_KEY = "AIzaSyA-real0123456789abcdefghijklmnopq"
_ENTRA_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJjb2duaXRpdmUifQ.c2lnbmF0dXJlLXJlYWw"


@pytest.mark.parametrize(
    ("make", "env", "model", "sent"),
    [
        (
            GeminiProvider,
            {"GEMINI_API_KEY": "your-gemini-key", "GOOGLE_API_KEY": _GOOGLE_KEY},
            "gemini-2.0-flash",
            {"x-goog-api-key": _GOOGLE_KEY},
        ),
        (
            AzureProvider,
            {
                "AZURE_OPENAI_API_KEY": "...",  # as the guide's setup writes it
                "AZURE_OPENAI_AD_TOKEN": _ENTRA_TOKEN,
                "AZURE_OPENAI_ENDPOINT": "https://contoso.openai.azure.com/",
            },
            "my-deployment",
            {"Authorization": f"Bearer {_ENTRA_TOKEN}"},
        ),
    ],
)
async def test_a_placeholder_in_a_key_variable_does_not_hide_the_key_of_the_next(transport, make, env, model, sent):
    # docs/configuration.md: a key variable holding a placeholder is no key, as one of whitespace is, which hides
    # nothing (the next variable's key is sent); the placeholder hid it, and the provider was skipped for a key it had
    provider = make(env, transport)
    target = Target(provider.name, model)
    assert provider.unavailable(target) is None
    assert provider.endpoint.headers(model) == sent
    assert provider.setting_problem() is None
    [name] = [n for n in provider.endpoint.key_env if env.get(n) in (_GOOGLE_KEY, _ENTRA_TOKEN)]
    assert name in provider.endpoint.auth_hint()


async def test_placeholders_in_every_key_variable_are_still_refused_naming_the_first(transport):
    provider = GeminiProvider({"GEMINI_API_KEY": "YOUR_API_KEY", "GOOGLE_API_KEY": "AIza..."}, transport)
    said = provider.unavailable(Target("google", "gemini-2.0-flash"))
    assert said is not None and said.startswith("google: GEMINI_API_KEY holds a placeholder")


class _CountedEnv(dict):
    """An environment that counts the reads of each variable."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reads: dict[str, int] = {}

    def get(self, name, default=None):
        self.reads[name] = self.reads.get(name, 0) + 1
        return super().get(name, default)


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda env: OpenAIProvider(env, Transport()).endpoint, "OPENAI_API_KEY"),
        (lambda env: AnthropicProvider(env, Transport()).endpoint, "ANTHROPIC_API_KEY"),
        (lambda env: GeminiProvider(env, Transport()).endpoint, "GEMINI_API_KEY"),
    ],
)
def test_the_headers_of_an_attempt_read_the_key_once(make, name):
    # built before every attempt: the key was read, then read again to ask whether it was a placeholder
    env = _CountedEnv({name: KEY})
    headers = make(env).headers("m")
    assert KEY in " ".join(headers.values())
    assert env.reads[name] == 1


def test_a_placeholder_key_is_still_refused_when_the_headers_are_built():
    env = {"OPENAI_API_KEY": "sk-your-openai-key"}
    with pytest.raises(E.AuthenticationError, match="OPENAI_API_KEY holds a placeholder"):
        OpenAIProvider(env, Transport()).endpoint.headers("gpt-4o")
    assert OpenAIProvider(env, Transport()).endpoint.placeholder_key() is not None
    assert OpenAIProvider({"OPENAI_API_KEY": KEY}, Transport()).endpoint.placeholder_key() is None


def test_a_key_found_whole_is_not_judged_again_before_each_request(monkeypatch):
    # headers are built before every request (a fallback call sends two): the key was matched against the
    # placeholders' pattern twice each time, though the same value was found whole before
    from magsag_mcp.providers import endpoint as endpoint_module

    judged: list[str] = []
    judge = endpoint_module.not_a_whole_key

    def counted(value: str) -> bool:
        judged.append(value)
        return judge(value)

    monkeypatch.setattr(endpoint_module, "not_a_whole_key", counted)
    env = {"OPENAI_API_KEY": KEY}
    endpoint = OpenAIProvider(env, Transport()).endpoint
    for _ in range(3):
        assert endpoint.headers("gpt-4o") == {"Authorization": f"Bearer {KEY}"}
    assert judged == [KEY]
    # a value that changed is judged as any is: a placeholder is refused, a new key sent, the old one again
    env["OPENAI_API_KEY"] = "sk-your-openai-key"
    with pytest.raises(E.AuthenticationError, match="OPENAI_API_KEY holds a placeholder"):
        endpoint.headers("gpt-4o")
    assert endpoint.placeholder_key() is not None
    env["OPENAI_API_KEY"] = KEY + "-2"
    assert endpoint.headers("gpt-4o") == {"Authorization": f"Bearer {KEY}-2"}
    assert endpoint.placeholder_key() is None
    env["OPENAI_API_KEY"] = KEY
    assert endpoint.headers("gpt-4o") == {"Authorization": f"Bearer {KEY}"}
    assert judged.count(KEY) == 2  # its first request, then again once another value had been sent meanwhile


def test_a_key_found_whole_behind_a_placeholder_is_still_sent_and_the_placeholder_still_judged():
    # Azure's guide writes AZURE_OPENAI_API_KEY="..." beside a token: the token is sent, call after call
    env = {
        "AZURE_OPENAI_API_KEY": "...",
        "AZURE_OPENAI_AD_TOKEN": _ENTRA_TOKEN,
        "AZURE_OPENAI_ENDPOINT": "https://contoso.openai.azure.com/",
    }
    endpoint = AzureProvider(env, Transport()).endpoint
    for _ in range(2):
        assert endpoint.headers("my-deployment") == {"Authorization": f"Bearer {_ENTRA_TOKEN}"}
    env["AZURE_OPENAI_AD_TOKEN"] = "..."
    with pytest.raises(E.AuthenticationError, match="AZURE_OPENAI_API_KEY holds a placeholder"):
        endpoint.headers("my-deployment")


def test_an_endpoint_of_the_users_own_that_sets_its_env_alone_still_sends_its_key():
    # the key found whole is remembered on the endpoint: one whose __init__ does not call Endpoint's has it too
    from magsag_mcp.providers.openai import OpenAIEndpoint

    class Own(OpenAIEndpoint):
        def __init__(self, env):
            self.env = env

    endpoint = Own({"OPENAI_API_KEY": KEY})
    for _ in range(2):
        assert endpoint.headers("gpt-4o") == {"Authorization": f"Bearer {KEY}"}


def test_an_endpoint_of_the_users_own_that_takes_no_attribute_still_sends_its_key():
    # a frozen dataclass (an immutable endpoint of the user's own) refuses the key found whole being remembered on it:
    # its headers raised FrozenInstanceError before every request (745e708); the key is then judged each time, as
    # before, and a placeholder still refused
    from dataclasses import dataclass, field

    from magsag_mcp.providers.openai import OpenAIEndpoint

    @dataclass(frozen=True)
    class Frozen(OpenAIEndpoint):
        env: dict[str, str] = field(default_factory=dict)

    env = {"OPENAI_API_KEY": KEY}
    endpoint = Frozen(env)
    for _ in range(2):
        assert endpoint.headers("gpt-4o") == {"Authorization": f"Bearer {KEY}"}
    env["OPENAI_API_KEY"] = "sk-your-openai-key"
    with pytest.raises(E.AuthenticationError, match="OPENAI_API_KEY holds a placeholder"):
        endpoint.headers("gpt-4o")
