"""A base URL that is a request's whole URL, pasted from a vendor's curl example (the guide's ``OPENAI_BASE_URL`` set to
``https://api.openai.com/v1/chat/completions``): every request went to its path twice over
(``/v1/chat/completions/chat/completions``), a 404 said as ``model_not_found`` ("check the model name"), while
``magsag doctor`` called the provider ready. Now it is refused before anything is sent, naming the variable, the path
it ends with and what to set instead, for a call's own ``base_url`` too; the failed call is recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.anthropic import AnthropicProvider
from magsag_mcp.providers.gemini import GeminiProvider
from magsag_mcp.providers.local import LocalProvider
from magsag_mcp.providers.openai import CompatProvider, OpenAIProvider
from magsag_mcp.redaction import call_scoped
from magsag_mcp.service import Service
from magsag_mcp.transport import Transport
from magsag_mcp.types import Target

from .fakes import FakeOpenAI

KEY = "test-key-not-real-0123456789"
SERVER = "http://127.0.0.1:8000"
GOOGLE = "https://generativelanguage.googleapis.com"
PROXY = "https://proxy.example.com"


@pytest.mark.parametrize(
    "make, variable, model, pasted, ending, example",
    [
        (OpenAIProvider, "OPENAI_BASE_URL", "gpt-4o", "/v1/chat/completions", "/chat/completions", "https://host/v1"),
        (OpenAIProvider, "OPENAI_BASE_URL", "gpt-4o", "/v1/chat/completions/", "/chat/completions", "https://host/v1"),
        (OpenAIProvider, "OPENAI_BASE_URL", "gpt-4o", "/v1/responses", "/responses", "https://host/v1"),
        (CompatProvider, "MAGSAG_COMPAT_BASE_URL", "m", "/v1/chat/completions", "/chat/completions", "https://host/v1"),
        (LocalProvider, "MAGSAG_LOCAL_LLM_BASE_URL", "m", "/v1/Chat/Completions", "/chat/completions", ""),
        (AnthropicProvider, "ANTHROPIC_BASE_URL", "claude-3-5-sonnet-20241022", "/v1/messages", "/v1/messages", ""),
        (
            GeminiProvider,
            "GEMINI_BASE_URL",
            "gemini-1.5-pro",
            "/v1beta/models/gemini-1.5-pro:generateContent",
            "/v1beta/...:generateContent",  # (from its version on: the part before it is the server's root)
            "",
        ),
    ],
)
def test_a_request_url_for_a_base_url_is_refused_naming_the_variable_and_the_path(
    make, variable, model, pasted, ending, example
):
    keys = {"MAGSAG_COMPAT_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"}
    provider = make({**dict.fromkeys(keys, KEY), variable: SERVER + pasted}, Transport())
    reason = provider.unavailable(Target(provider.name, model)) or ""
    assert f"the base URL ends with {ending}, a request's own path" in reason
    assert f"set its base URL ({variable}) to e.g. {example or provider.endpoint.base_url_example}" in reason
    assert provider.setting_problem() and f"ends with {ending}" in provider.setting_problem()  # magsag doctor's


@pytest.mark.parametrize("below", ["/v1", "/v1/", "/completions-proxy/v1", "/openai/v1", "/api/messages-gateway/v1"])
def test_a_base_url_that_only_holds_such_a_word_is_taken(below):
    provider = OpenAIProvider({"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": SERVER + below}, Transport())
    assert provider.unavailable(Target("openai", "gpt-4o")) is None and provider.setting_problem() is None


@pytest.mark.anyio
async def test_a_call_sends_nothing_to_a_pasted_request_url_and_is_recorded_failed(tmp_path: Path, serve):
    vendor = FakeOpenAI(KEY).queue({"text": "answered"})
    base = await serve(vendor) + "/v1"
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": base + "/chat/completions"}
    async with await Service.open(db=tmp_path / "l.db", env=env) as svc:
        with pytest.raises(E.MagsagError, match=r"ends with /chat/completions, a request's own path") as failed:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "gpt-4o"}}, run_id="r-1")
        assert "OPENAI_BASE_URL" in str(failed.value) and "model_not_found" not in str(failed.value)
        assert vendor.requests == []
        [run] = await svc.query_runs({"run_id": "r-1"})
        assert run["status"] == "error"
    # the part before the path, the call is answered; a call's own base_url pasted so (below the configured one, where
    # the key may go) is refused the same
    async with await Service.open(db=tmp_path / "l.db", env={**env, "OPENAI_BASE_URL": base}) as svc:
        own = {"model": "gpt-4o", "base_url": base + "/chat/completions"}
        with pytest.raises(E.MagsagError, match=r"ends with /chat/completions, a request's own path"):
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": own})
        assert vendor.requests == []
        answered = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "gpt-4o"}})
    assert answered.result.text == "answered" and vendor.requests[-1]["path"] == "/v1/chat/completions"


def test_catalog_validate_names_a_routing_targets_pasted_request_url(tmp_path: Path, capsys):
    import shutil

    from magsag_mcp.cli import main

    catalog = tmp_path / "catalog"
    shutil.copytree(Path(__file__).resolve().parents[2] / "catalog", catalog)
    (catalog / "routing" / "gateway.yaml").write_text(
        "routes:\n  - match: coding\n    priority: 10\n    chain:\n"
        '      - {provider: openai, model: gpt-4o, base_url: "https://gateway.example.com/v1/chat/completions"}\n'
    )
    (catalog / "routing" / "default.yaml").write_text(
        (catalog / "routing" / "default.yaml").read_text().replace("match: coding", "match: coding-default")
    )
    assert main(["catalog", "validate", "--catalog", str(catalog)]) == 1
    out = capsys.readouterr().out
    assert "target openai:gpt-4o: the base URL ends with /chat/completions, a request's own path" in out
    assert "set its base URL (the target's base_url) to e.g. https://host/v1, the part before that path" in out


@pytest.mark.parametrize(
    "make, variable, model, written, version",
    [
        (AnthropicProvider, "ANTHROPIC_BASE_URL", "claude-3-5-sonnet-20241022", "https://api.anthropic.com/v1", "/v1"),
        (AnthropicProvider, "ANTHROPIC_BASE_URL", "claude-3-5-sonnet-20241022", "https://proxy.example.com/V1/", "/v1"),
        (
            GeminiProvider,
            "GEMINI_BASE_URL",
            "gemini-1.5-pro",
            "https://generativelanguage.googleapis.com/v1beta",
            "/v1beta",
        ),
    ],
)
def test_a_version_the_request_path_begins_with_is_refused_in_the_base_url(make, variable, model, written, version):
    # Anthropic's and Gemini's base URL is the server's root: written as OpenAI's is, with its version, every request
    # went to /v1/v1/messages (or /v1beta/v1beta/models/...), a 404 said as model_not_found, and doctor said "ready"
    keys = {"ANTHROPIC_API_KEY": KEY, "GEMINI_API_KEY": KEY}
    provider = make({**keys, variable: written}, Transport())
    reason = provider.unavailable(Target(provider.name, model)) or ""
    assert f"the base URL ends with {version}, which magsag adds itself to each request's path" in reason
    assert f"({variable}) to e.g. {provider.endpoint.base_url_example}" in reason
    assert provider.setting_problem() == f"{provider.name}: {reason.split(': ', 1)[1]}"


@pytest.mark.parametrize(
    "make, variable, model, written, version, own",
    [
        (GeminiProvider, "GEMINI_BASE_URL", "gemini-1.5-pro", f"{GOOGLE}/v1", "/v1", "/v1beta"),
        (GeminiProvider, "GEMINI_BASE_URL", "gemini-1.5-pro", f"{GOOGLE}/v1alpha/", "/v1alpha", "/v1beta"),
        (AnthropicProvider, "ANTHROPIC_BASE_URL", "claude-3-5-sonnet-20241022", f"{PROXY}/v2", "/v2", "/v1"),
    ],
)
def test_another_api_version_at_the_end_of_the_base_url_is_refused_naming_the_one_magsag_adds(
    make, variable, model, written, version, own
):
    # GEMINI_BASE_URL=https://generativelanguage.googleapis.com/v1 (Gemini's stable API, as some of Google's pages
    # write it) was taken: every request went to /v1/v1beta/models/..., a 404 said as model_not_found, and doctor said
    # "ready". magsag calls v1beta and adds it itself, as it adds the version it refused written twice
    keys = {"ANTHROPIC_API_KEY": KEY, "GEMINI_API_KEY": KEY}
    provider = make({**keys, variable: written}, Transport())
    reason = provider.unavailable(Target(provider.name, model)) or ""
    assert (
        f"the base URL ends with {version}, an API version, and magsag adds the one it calls ({own}) to each "
        f"request's path itself (it would go to ...{version}{own}/...); set its base URL ({variable}) to e.g. "
        f"{provider.endpoint.base_url_example}"
    ) in reason, reason
    assert provider.setting_problem() == f"{provider.name}: {reason.split(': ', 1)[1]}"  # magsag doctor's


@pytest.mark.parametrize(
    "make, variable, model, written",
    [
        (AnthropicProvider, "ANTHROPIC_BASE_URL", "claude-3-5-sonnet-20241022", "https://api.anthropic.com"),
        (
            AnthropicProvider,
            "ANTHROPIC_BASE_URL",
            "claude-3-5-sonnet-20241022",
            "https://gw.example.com/v1/acct/anthropic",
        ),
        (GeminiProvider, "GEMINI_BASE_URL", "gemini-1.5-pro", "https://generativelanguage.googleapis.com/"),
        (OpenAIProvider, "OPENAI_BASE_URL", "gpt-4o", "https://api.openai.com/v1"),  # its requests' paths hold none
    ],
)
def test_a_base_url_without_the_version_twice_is_taken(make, variable, model, written):
    keys = {"ANTHROPIC_API_KEY": KEY, "GEMINI_API_KEY": KEY, "OPENAI_API_KEY": KEY}
    provider = make({**keys, variable: written}, Transport())
    assert provider.unavailable(Target(provider.name, model)) is None and provider.setting_problem() is None


@pytest.mark.parametrize(
    "target, said",
    [
        (
            '{provider: anthropic, model: claude-3-5-sonnet-20241022, base_url: "https://gateway.example.com/v1"}',
            "target anthropic:claude-3-5-sonnet-20241022: the base URL ends with /v1, which magsag adds itself",
        ),
        (
            '{provider: google, model: gemini-1.5-pro, base_url: "https://gateway.example.com/google/v1beta/"}',
            "target google:gemini-1.5-pro: the base URL ends with /v1beta, which magsag adds itself",
        ),
        (  # the part before /messages is .../v1, which is refused in turn: the fix names the server's root
            '{provider: anthropic, model: claude-3-5-sonnet-20241022, base_url: "https://gateway.example.com/v1/messages"}',
            "set its base URL (the target's base_url) to e.g. https://api.anthropic.com (the server's root, "
            "without /v1)",
        ),
    ],
)
def test_catalog_validate_names_a_routing_targets_version_written_twice(tmp_path: Path, capsys, target, said):
    # a call refuses such a target (above): catalog validate, which said "ok", names it as the call would
    import shutil

    from magsag_mcp.cli import main

    catalog = tmp_path / "catalog"
    shutil.copytree(Path(__file__).resolve().parents[2] / "catalog", catalog)
    (catalog / "routing" / "gateway.yaml").write_text(
        f"routes:\n  - match: coding\n    priority: 10\n    chain:\n      - {target}\n"
    )
    (catalog / "routing" / "default.yaml").write_text(
        (catalog / "routing" / "default.yaml").read_text().replace("match: coding", "match: coding-default")
    )
    assert main(["catalog", "validate", "--catalog", str(catalog)]) == 1
    assert said in capsys.readouterr().out


@pytest.mark.parametrize(
    "make, model",
    [(AnthropicProvider, "claude-3-5-sonnet-20241022"), (GeminiProvider, "gemini-1.5-pro"), (OpenAIProvider, "gpt-4o")],
)
def test_a_targets_own_base_url_is_not_judged_again_before_each_attempt(monkeypatch, make, model):
    # a target with a base URL of its own (a gateway's in routing, a call's) is asked whether it is callable before
    # every attempt, not remembered as ready: the version check parsed its URL again each time, where the rest of the
    # base URL's checks were answered from a cache
    from magsag_mcp.providers import base_urls

    judged: list[str] = []
    judge = base_urls._version_twice
    monkeypatch.setattr(base_urls, "_version_twice", lambda base, *rest: judged.append(base) or judge(base, *rest))
    keys = {"ANTHROPIC_API_KEY": KEY, "GEMINI_API_KEY": KEY, "OPENAI_API_KEY": KEY}
    provider = make(keys, Transport())
    base = f"https://{provider.name}.not-judged-again.example.com/gateway"  # (no other test's: cached answers stay)
    for _ in range(3):
        assert provider.unavailable_error(Target(provider.name, model, base)) is None
    assert judged == [base]


@pytest.mark.parametrize(
    "make, variable, model, pasted, said",
    [
        (AnthropicProvider, "ANTHROPIC_BASE_URL", "claude-3-5-sonnet-20241022", "/v1/messages", "/v1/messages"),
        (
            AnthropicProvider,
            "ANTHROPIC_BASE_URL",
            "claude-3-5-sonnet-20241022",
            "/v1/acct/gw/anthropic/v1/messages/",
            "/v1/messages",
        ),
        (
            GeminiProvider,
            "GEMINI_BASE_URL",
            "gemini-1.5-pro",
            "/v1beta/models/gemini-1.5-pro:generateContent",
            "/v1beta/...:generateContent",
        ),
    ],
)
def test_the_part_to_keep_is_before_the_version_a_request_path_begins_with(make, variable, model, pasted, said):
    # "the part before /messages" was .../v1, which is refused in turn (the version written twice): the path named is
    # the request's from its version on, so that the part before it is the server's root, as the example says
    provider = make({"ANTHROPIC_API_KEY": KEY, "GEMINI_API_KEY": KEY, variable: SERVER + pasted}, Transport())
    reason = provider.unavailable(Target(provider.name, model)) or ""
    assert f"the base URL ends with {said}, a request's own path" in reason
    assert reason.endswith(f"e.g. {provider.endpoint.base_url_example}, the part before that path")
    assert provider.setting_problem() == f"{provider.name}: {reason.split(': ', 1)[1]}"


@pytest.mark.parametrize(
    "make, variable, pasted, ending, fix",
    [  # (Ollama's variables and a local target's base_url name the server's root; /v1 is added to it)
        (LocalProvider, "OLLAMA_BASE_URL", "/api/chat", "/api/chat", "the part before /api/chat, e.g. http://localhost:11434"),
        (LocalProvider, "OLLAMA_HOST", "/api/generate", "/api/generate", "e.g. http://localhost:11434"),
        (LocalProvider, "MAGSAG_LOCAL_LLM_BASE_URL", "/api/Embeddings/", "/api/embeddings", "followed by /v1"),
        (CompatProvider, "MAGSAG_COMPAT_BASE_URL", "/api/embed", "/api/embed", "e.g. http://localhost:11434/v1"),
    ],
)
def test_a_request_url_of_ollamas_own_api_is_refused_naming_the_root_to_set(make, variable, pasted, ending, fix):
    # Ollama's curl examples (http://localhost:11434/api/chat) pasted as the base URL: every request went to
    # /api/chat/responses (or /api/chat/v1/...), a 404 said as model_not_found, while doctor said ready
    provider = make({variable: SERVER + pasted}, Transport())
    reason = provider.unavailable(Target(provider.name, "llama3.1")) or ""
    assert f"the base URL ends with {ending}, a request's path of Ollama's own API" in reason
    assert f"set its base URL ({variable}) to" in reason and fix in reason
    assert provider.setting_problem() == f"{provider.name}: {reason.split(': ', 1)[1]}"  # magsag doctor's


@pytest.mark.parametrize("variable", ["OLLAMA_BASE_URL", "OLLAMA_HOST"])
@pytest.mark.parametrize(
    ("pasted", "ending"), [("/v1/chat/completions", "/chat/completions"), ("/v1/responses/", "/responses")]
)
def test_an_openai_request_url_in_ollamas_variables_is_refused_too(variable, pasted, ending):
    # Ollama's variables name the server's root, to which /v1 is added: OLLAMA_BASE_URL=http://localhost:11434/v1/chat/
    # completions, pasted from Ollama's OpenAI-compatibility docs, became .../v1/chat/completions/v1, which the check
    # of a request's path did not see (it ended with /v1): every call went to .../chat/completions/v1/responses and
    # .../v1/chat/completions, and failed as a server at ".../v1/chat/completions/v1" (a URL never written) with neither
    # API, while doctor said ready
    provider = LocalProvider({variable: SERVER + pasted}, Transport())
    reason = provider.unavailable(Target("local", "llama3.2:3b")) or ""
    assert f"the base URL ends with {ending}, a request's own path" in reason, reason
    assert f"set its base URL ({variable}) to e.g. http://localhost:11434/v1, the part before that path" in reason
    assert provider.setting_problem() == f"local: {reason.split(': ', 1)[1]}"  # magsag doctor's


@pytest.mark.parametrize("below", ["", "/v1", "/api", "/api/chatbot/v1", "/ollama/v1"])
def test_a_local_base_url_that_is_no_ollama_request_path_is_taken(below):
    provider = LocalProvider({"OLLAMA_BASE_URL": SERVER + below}, Transport())
    assert provider.unavailable(Target("local", "llama3.1")) is None and provider.setting_problem() is None


@pytest.mark.anyio
async def test_a_call_naming_ollamas_chat_url_sends_nothing_and_is_recorded_failed(tmp_path: Path, serve):
    vendor = FakeOpenAI(KEY).queue({"text": "answered"})
    root = await serve(vendor)
    env = {"MAGSAG_LOCAL_LLM_API_KEY": KEY, "MAGSAG_ALLOWED_BASE_URLS": f"local={root}"}  # (its key may go there)
    async with await Service.open(db=tmp_path / "l.db", env=env) as svc:
        pasted = {"provider": "local", "model": "llama3.1:70b", "base_url": root + "/api/chat"}
        with pytest.raises(E.MagsagError, match=r"ends with /api/chat, a request's path of Ollama's own API") as failed:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": pasted}, run_id="r-1")
        assert "the target's base_url) to the server's root" in str(failed.value)
        assert vendor.requests == []
        [run] = await svc.query_runs({"run_id": "r-1"})
        assert run["status"] == "error"
        answered = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {**pasted, "base_url": root}})
    assert answered.result.text == "answered" and vendor.requests[-1]["path"].startswith("/v1/")


@pytest.mark.parametrize(
    ("pasted", "ending", "root"),
    [
        # Azure AI Foundry's model inference URL, as its portal shows it
        (
            "https://res.services.ai.azure.com/models/chat/completions?api-version=2024-05-01-preview",
            "/models/chat/completions",
            "https://res.services.ai.azure.com/",
        ),
        ("https://res.openai.azure.com/chat/completions", "/chat/completions", "https://res.openai.azure.com/"),
        # a gateway's own path before it is not shown (it may hold a token)
        ("https://apim.example.com/Qz4Wn8Rt2Yp6Kx3Vb7Hm/models/chat/completions", "/models/chat/completions", None),
    ],
)
def test_a_whole_azure_request_url_as_the_endpoint_is_told_the_resource_root_to_set(pasted, ending, root):
    # Before: "set its base URL (AZURE_OPENAI_ENDPOINT) to e.g. https://RESOURCE.openai.azure.com/, the resource's
    # root: the deployment is the target's model and the api-version AZURE_OPENAI_API_VERSION, the part before that
    # path" (or, with Foundry's ?api-version, a "?query or #fragment" problem): an example's clauses, then a fix for
    # them, and not the root the pasted URL holds.
    from magsag_mcp.providers.azure import AzureProvider

    provider = AzureProvider({"AZURE_OPENAI_API_KEY": KEY, "AZURE_OPENAI_ENDPOINT": pasted}, Transport())
    reason = provider.unavailable(Target("azure", "gpt-4o")) or ""
    to = root or f"the part before {ending}"
    assert reason == (
        f"azure: AZURE_OPENAI_ENDPOINT is a whole request URL (it ends with {ending}, as Azure AI Foundry shows one), "
        f"not the resource's root; set AZURE_OPENAI_ENDPOINT to {to}: magsag adds each request's path itself, taking "
        "the deployment from the target's model and the api-version from AZURE_OPENAI_API_VERSION"
    )
    assert provider.setting_problems() == [reason]  # magsag doctor's, in the same words
    assert "Qz4Wn8Rt2Yp6Kx3Vb7Hm" not in reason
    # a call's own base_url is told alike, naming it (judged as a call judges it: the gateway's token-like path is
    # registered as that call's secret, which outside a call's scope stayed known to every later test in this thread)
    called = call_scoped(provider.unavailable)(Target("azure", "gpt-4o", pasted)) or ""
    assert called.startswith("azure: the target's base_url is a whole request URL"), called


@pytest.mark.parametrize(
    "pasted",
    [
        "https://gw.example.com/v1/completions",
        "https://res.services.ai.azure.com/models/chat/completions",  # even an Azure host's: compat calls it as given
        "https://gw.example.com/openai/deployments/gpt4/completions",
    ],
)
def test_a_compat_endpoint_ending_with_a_request_path_is_never_told_azures_fix(pasted):
    # The check of a whole Azure request URL (azure_checks.pasted_request_url: /completions, /models/chat/completions)
    # is Azure's endpoint's alone: a compat gateway's URL ending with /completions is told the generic fix, never to
    # set AZURE_OPENAI_ENDPOINT or an api-version, whether the URL is its variable's or a call's
    env = {"MAGSAG_COMPAT_API_KEY": KEY, "MAGSAG_COMPAT_BASE_URL": pasted}
    provider = CompatProvider(env, Transport())
    reasons = [
        provider.unavailable(Target("compat", "m")) or "",
        provider.setting_problem() or "",
        call_scoped(provider.unavailable)(Target("compat", "m", pasted)) or "",
    ]
    for reason in reasons:
        assert "a request's own path" in reason and "to e.g. https://host/v1, the part before that path" in reason
        assert "azure" not in reason.lower().replace(".azure.com", "") and "api-version" not in reason, reason


@pytest.mark.parametrize(
    "make, variable, model, written, version",
    [
        (GeminiProvider, "GEMINI_BASE_URL", "gemini-1.5-pro", "https://proxy.example.com/gemini/v1", "/v1"),
        (GeminiProvider, "GEMINI_BASE_URL", "gemini-1.5-pro", "https://proxy.example.com/gemini/V1BETA/", "/v1beta"),
        (AnthropicProvider, "ANTHROPIC_BASE_URL", "claude-3-5-sonnet-20241022", f"{PROXY}/anthropic/v1", "/v1"),
    ],
)
def test_a_gateway_s_base_url_ending_with_a_version_is_told_its_own_fix_not_only_the_vendor_s_root(
    make, variable, model, written, version
):
    # GEMINI_BASE_URL=https://proxy.example.com/gemini/v1 was told to set GEMINI_BASE_URL to Google's own root, which
    # goes round the proxy the user set (its auth, its egress); its own fix is its URL without the version
    keys = {"ANTHROPIC_API_KEY": KEY, "GEMINI_API_KEY": KEY}
    provider = make({**keys, variable: written}, Transport())
    reason = provider.unavailable(Target(provider.name, model)) or ""
    assert reason.endswith(
        f"({variable}) to e.g. {provider.endpoint.base_url_example}, or for this host, the part before {version}"
    ), reason
    assert "proxy.example.com" not in reason  # said, not quoted: a gateway's path may hold its token
    assert provider.setting_problem() == f"{provider.name}: {reason.split(': ', 1)[1]}"  # magsag doctor's
    # the vendor's own host is told its root alone
    own = make({**keys, variable: f"{provider.endpoint.base_url_example}{version}"}, Transport())
    assert "for this host" not in (own.unavailable(Target(own.name, model)) or "")


@pytest.mark.parametrize(
    "make, variable, model, pasted, said",
    [
        # Gemini's docs give https://generativelanguage.googleapis.com/v1beta/models/...: pasted up to /models, every
        # request went to .../v1beta/models/v1beta/models/..., a 404 said as model_not_found, while doctor said ready
        (GeminiProvider, "GEMINI_BASE_URL", "gemini-1.5-pro", "/v1beta/models", "/v1beta/models"),
        (GeminiProvider, "GEMINI_BASE_URL", "gemini-1.5-pro", "/v1beta/models/", "/v1beta/models"),
        (GeminiProvider, "GEMINI_BASE_URL", "gemini-1.5-pro", "/v1beta/models/gemini-1.5-pro", "/v1beta/models/..."),
        (GeminiProvider, "GEMINI_BASE_URL", "gemini-1.5-pro", "/V1/Models", "/v1/models"),
        (AnthropicProvider, "ANTHROPIC_BASE_URL", "claude-3-5-sonnet-20241022", "/v1/models", "/v1/models"),
        # the model list's URL: OpenAI's base URL holds its version, so the part to drop is /models alone
        (OpenAIProvider, "OPENAI_BASE_URL", "gpt-4o", "/v1/models", "/models"),
        (OpenAIProvider, "OPENAI_BASE_URL", "gpt-4o", "/v1/models/gpt-4o", "/models/..."),
        (CompatProvider, "MAGSAG_COMPAT_BASE_URL", "m", "/api/v1/models", "/models"),
    ],
)
def test_a_model_list_or_model_url_for_a_base_url_is_refused_naming_the_base_to_set(
    make, variable, model, pasted, said
):
    keys = {"MAGSAG_COMPAT_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"}
    provider = make({**dict.fromkeys(keys, KEY), variable: SERVER + pasted}, Transport())
    reason = provider.unavailable(Target(provider.name, model)) or ""
    sent = {GeminiProvider: "/v1beta/models/...", AnthropicProvider: "/v1/messages"}.get(make, "/chat/completions")
    assert f"the base URL ends with {said}, a path of the API's models" in reason, reason
    assert f"(it would go to ...{said}{sent})" in reason, reason
    assert reason.endswith(
        f"({variable}) to e.g. {provider.endpoint.base_url_example}, or for this host, the part before {said}"
    ), reason
    assert "127.0.0.1" not in reason  # said, not quoted: a gateway's path may hold its token
    assert provider.setting_problem() == f"{provider.name}: {reason.split(': ', 1)[1]}"  # magsag doctor's
    # the vendor's own host is told its root alone
    root = "/".join(provider.endpoint.base_url_example.split(" ")[0].split("/")[:3])
    own = make({**dict.fromkeys(keys, KEY), variable: f"{root}{pasted}"}, Transport())
    told = own.unavailable(Target(own.name, model)) or ""
    assert f"ends with {said}" in told and "for this host" not in told, told


@pytest.mark.parametrize("below", ["/models", "/v1/models-proxy", "/models/v1", "/v1/models/a/b/v1"])
def test_a_base_url_that_only_holds_models_is_taken(below):
    provider = OpenAIProvider({"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": SERVER + below}, Transport())
    assert provider.unavailable(Target("openai", "gpt-4o")) is None and provider.setting_problem() is None


@pytest.mark.anyio
async def test_a_call_sends_nothing_to_a_model_list_url_and_is_recorded_failed(tmp_path: Path, serve):
    vendor = FakeOpenAI(KEY).queue({"text": "answered"})
    base = await serve(vendor) + "/v1"
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": base + "/models"}
    async with await Service.open(db=tmp_path / "l.db", env=env) as svc:
        with pytest.raises(E.MagsagError, match=r"ends with /models, a path of the API's models") as failed:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "gpt-4o"}}, run_id="r-1")
        assert "OPENAI_BASE_URL" in str(failed.value) and "model_not_found" not in str(failed.value)
        assert vendor.requests == []
        [run] = await svc.query_runs({"run_id": "r-1"})
        assert run["status"] == "error"


@pytest.mark.parametrize("written", [f"{GOOGLE}/v1", f"{GOOGLE}/v1beta", f"{GOOGLE}/v1beta/models"])
def test_google_s_own_url_is_told_google_s_root_not_a_gateway_s_fix(written):
    # Gemini's example base URL is followed by words ("(the server's root, without /v1beta)"): read whole as a URL, its
    # host was no host, and Google's own URL was told "or for this host, the part before /v1" as a gateway's is
    provider = GeminiProvider({"GEMINI_API_KEY": KEY, "GEMINI_BASE_URL": written}, Transport())
    reason = provider.unavailable(Target(provider.name, "gemini-1.5-pro")) or ""
    assert reason.endswith(f"to e.g. {provider.endpoint.base_url_example}") and "for this host" not in reason, reason
