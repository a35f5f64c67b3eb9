"""`magsag doctor`'s provider lines: keys, base URLs, proxies, what each provider lacks; never a secret."""

from __future__ import annotations

import json

import pytest

from magsag_mcp.cli import main


def test_doctor_never_prints_a_key(cli_env, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-supersecret-1234567890")
    assert main(["doctor", "--json"]) == 0
    out = capsys.readouterr().out
    assert "supersecret" not in out
    report = json.loads(out)
    assert report["providers"]["openai"]["key_set"] is True
    assert report["providers"]["anthropic"]["key_set"] is False


def test_doctor_says_what_each_provider_lacks(cli_env, capsys, monkeypatch):
    for name in ("AZURE_OPENAI_ENDPOINT", "MAGSAG_COMPAT_BASE_URL", "MAGSAG_LOCAL_LLM_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-test-key-0123456789")
    assert main(["doctor"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")}
    assert "AZURE_OPENAI_ENDPOINT" in lines["azure"]  # a key but no endpoint is not ready
    assert "MAGSAG_COMPAT_BASE_URL" in lines["compat"]
    # its key is optional; at its default URL, which nothing set, no server may be there: doctor said "ready", which a
    # newcomer with no Ollama read as a model to call
    assert lines["local"].partition(" http://localhost:11434/v1 ")[2].strip() == (
        "ready if a local server (Ollama, vLLM, LM Studio) listens at its default URL; --probe tries it"
    )
    assert "ANTHROPIC_API_KEY" in lines["anthropic"]
    assert lines["fake"].endswith("ready")


def test_doctor_shows_the_proxies_and_ca_bundle_in_use_never_their_credentials(cli_env, capsys, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://corp-user:pr0xy-pw@proxy.corp.example:3128")
    monkeypatch.setenv("http_proxy", "socks5://127.0.0.1:1080")
    monkeypatch.setenv("NO_PROXY", "internal.example, 10.0.0.0/8")
    monkeypatch.setenv("SSL_CERT_FILE", "/etc/ssl/corp-ca.pem")
    assert main(["doctor"]) == 1  # the socks5:// http_proxy, which every http request would fail on, is a problem
    out = capsys.readouterr().out
    assert "proxy   : https: http://proxy.corp.example:3128 (from HTTPS_PROXY)" in out
    assert "proxy   : http: http_proxy names a socks5:// proxy, which magsag cannot use" in out
    assert "proxy   : no_proxy: internal.example,10.0.0.0/8" in out
    assert "ca      : SSL_CERT_FILE=/etc/ssl/corp-ca.pem" in out
    assert "pr0xy-pw" not in out and "corp-user" not in out
    assert main(["doctor", "--json"]) == 1
    network = json.loads(capsys.readouterr().out)["network"]
    assert network["proxies"]["https"] == "http://proxy.corp.example:3128 (from HTTPS_PROXY)"


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("socks5://proxy.corp.example:1080", "HTTPS_PROXY names a socks5:// proxy, which magsag cannot use"),
        ("http://proxy.corp.example:99999", "HTTPS_PROXY is not a usable proxy URL"),
        ("http://", "HTTPS_PROXY names no proxy host"),
    ],
)
def test_doctor_reports_a_proxy_it_cannot_use_as_a_problem(cli_env, capsys, monkeypatch, value, said):
    # every request to an https provider fails on such a proxy (ProxySettings.for_url refuses it, naming it), while
    # doctor showed it on its "proxy" line alone and exited 0
    monkeypatch.setenv("HTTPS_PROXY", value)
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert f"problem: {said}" in out and "so every request it would carry fails; set HTTPS_PROXY to" in out
    assert main(["doctor", "--json"]) == 1
    assert any(p.startswith(said) for p in json.loads(capsys.readouterr().out)["problems"])
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    assert main(["doctor"]) == 0


def test_doctor_a_blank_key_is_no_key_and_does_not_hide_the_next_one(cli_env, capsys, monkeypatch):
    """A key of only spaces (``export OPENAI_API_KEY=" "``, a template's placeholder) was "ready" and sent,
    to fail with a 401; a blank GEMINI_API_KEY hid the GOOGLE_API_KEY that was set."""
    monkeypatch.setenv("OPENAI_API_KEY", "  ")
    monkeypatch.setenv("GEMINI_API_KEY", " ")
    monkeypatch.setenv("GOOGLE_API_KEY", "google-test-key-0123456789")
    assert main(["doctor"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")}
    assert "not configured" in lines["openai"] and "OPENAI_API_KEY is blank" in lines["openai"]
    assert lines["google"].endswith("ready")


NO_HOST, PORT = "not an http(s) URL with a host", "port is not a number from 1 to 65535"


@pytest.mark.parametrize(
    ("env", "provider", "name", "problem"),
    [
        (
            {"OPENAI_API_KEY": "sk-test-0123456789", "OPENAI_BASE_URL": "openai"},
            "openai",
            "OPENAI_BASE_URL",
            NO_HOST,
        ),
        (
            {"ANTHROPIC_API_KEY": "sk-ant-test-0123", "ANTHROPIC_BASE_URL": "http://"},
            "anthropic",
            "ANTHROPIC_BASE_URL",
            NO_HOST,
        ),
        ({"GEMINI_API_KEY": "gem-test-0123456789", "GEMINI_BASE_URL": "x"}, "google", "GEMINI_BASE_URL", NO_HOST),
        (
            {"AZURE_OPENAI_API_KEY": "az-test-0123", "AZURE_OPENAI_ENDPOINT": "myres"},
            "azure",
            "AZURE_OPENAI_ENDPOINT",
            NO_HOST,
        ),
        ({"MAGSAG_COMPAT_BASE_URL": "host/v1"}, "compat", "MAGSAG_COMPAT_BASE_URL", NO_HOST),
        ({"MAGSAG_LOCAL_LLM_BASE_URL": "ollama"}, "local", "MAGSAG_LOCAL_LLM_BASE_URL", NO_HOST),
        ({"OLLAMA_BASE_URL": "ftp://box"}, "local", "OLLAMA_BASE_URL", NO_HOST),
        ({"OLLAMA_HOST": "box:port"}, "local", "OLLAMA_HOST", PORT),
        # a port that is no number, or past 65535, failed only on the first call, as a connection error
        ({"MAGSAG_COMPAT_BASE_URL": "http://box:80800/v1"}, "compat", "MAGSAG_COMPAT_BASE_URL", PORT),
    ],
)
def test_doctor_names_the_variable_whose_url_is_malformed(cli_env, capsys, monkeypatch, env, provider, name, problem):
    # it said "set its base URL (the provider's *_BASE_URL variable, ...)": which one, for local (two
    # variables) or azure (an _ENDPOINT), the user had to guess
    for var in ("OPENAI_BASE_URL", "AZURE_OPENAI_ENDPOINT", "MAGSAG_COMPAT_BASE_URL", "MAGSAG_LOCAL_LLM_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("OLLAMA_BASE_URL", raising=False)
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert main(["doctor"]) == 1  # a setting made wrong is a problem, not a provider left unconfigured
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert f"{problem}; set its base URL ({name}) to e.g." in lines[provider]
    assert f"problem: {provider}: " in out


@pytest.mark.parametrize(
    ("env", "provider", "name", "meant"),
    [
        # the vendor's own host alone: its path added (OpenAI's /v1; Anthropic's and Gemini's roots have none)
        ({"OPENAI_API_KEY": "sk-test-0123456789", "OPENAI_BASE_URL": "api.openai.com"}, "openai", "OPENAI_BASE_URL",
         "https://api.openai.com/v1"),
        ({"OPENAI_API_KEY": "sk-test-0123456789", "OPENAI_BASE_URL": "api.openai.com/v1"}, "openai", "OPENAI_BASE_URL",
         "https://api.openai.com/v1"),
        ({"ANTHROPIC_API_KEY": "sk-ant-test-0123", "ANTHROPIC_BASE_URL": "api.anthropic.com"}, "anthropic",
         "ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
        ({"GEMINI_API_KEY": "gem-test-0123456789", "GEMINI_BASE_URL": "generativelanguage.googleapis.com"}, "google",
         "GEMINI_BASE_URL", "https://generativelanguage.googleapis.com"),
        ({"AZURE_OPENAI_API_KEY": "az-test-0123", "AZURE_OPENAI_ENDPOINT": "myres.openai.azure.com"}, "azure",
         "AZURE_OPENAI_ENDPOINT", "https://myres.openai.azure.com"),
        ({"MAGSAG_COMPAT_BASE_URL": "gw.example.com/v1"}, "compat", "MAGSAG_COMPAT_BASE_URL", "https://gw.example.com/v1"),
        # a local server's loopback address: plain http, as local servers listen
        ({"MAGSAG_LOCAL_LLM_BASE_URL": "localhost:8000"}, "local", "MAGSAG_LOCAL_LLM_BASE_URL",
         "http://localhost:8000"),
        ({"MAGSAG_COMPAT_BASE_URL": "127.0.0.1:8000/v1"}, "compat", "MAGSAG_COMPAT_BASE_URL",
         "http://127.0.0.1:8000/v1"),
        ({"MAGSAG_COMPAT_BASE_URL": "[::1]:8000/v1"}, "compat", "MAGSAG_COMPAT_BASE_URL", "http://[::1]:8000/v1"),
        # as OLLAMA_HOST is written, in the wrong variable: the server's root, to which local adds /v1 itself, over
        # http as Ollama serves it (its port said so)
        ({"OLLAMA_BASE_URL": "gpu-box:11434"}, "local", "OLLAMA_BASE_URL", "http://gpu-box:11434"),
    ],
)  # fmt: skip
def test_doctor_tells_a_base_url_without_its_scheme_the_url_meant(cli_env, capsys, monkeypatch, env, provider, name,
                                                                  meant):  # fmt: skip
    # OPENAI_BASE_URL=api.openai.com was told "set its base URL (OPENAI_BASE_URL) to e.g. https://host/v1", an
    # example of the shape only, where the fix is the value with its scheme (and the vendor's path) written out
    for var in ("OPENAI_BASE_URL", "AZURE_OPENAI_ENDPOINT", "MAGSAG_COMPAT_BASE_URL", "MAGSAG_LOCAL_LLM_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("OLLAMA_BASE_URL", raising=False)
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert main(["doctor"]) == 1
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")}
    assert f"the base URL has no scheme (http or https); did you mean {meant}? Set its base URL ({name}) to " \
        "that" in lines[provider]  # fmt: skip


@pytest.mark.parametrize(
    "given",
    [
        "gw.example.com/v1?key=secret-value",  # a query, which may hold a key
        "gw.example.com/abcdef0123456789abcdef0123456789/v1",  # a path segment shaped like a gateway's token
        "not-a-url",  # a word alone: no host anyone meant
    ],
)
def test_a_base_url_without_its_scheme_is_told_no_url_that_would_show_a_secret(given):
    from magsag_mcp.providers.base_urls import _base_url_problem

    problem = _base_url_problem(given, "MAGSAG_COMPAT_BASE_URL")
    assert problem == (
        "the base URL is not an http(s) URL with a host; set its base URL (MAGSAG_COMPAT_BASE_URL) to e.g. "
        "https://host/v1"
    )


@pytest.mark.parametrize(
    ("given", "what_to_write"),
    [
        ("me:s3cret-pw@gw.example.com/v1", "did you mean https://gw.example.com/v1? Set its base URL "
         "(MAGSAG_COMPAT_BASE_URL) to that"),
        ("me:s3cret-pw@localhost:8000/v1", "did you mean http://localhost:8000/v1? Set its base URL "
         "(MAGSAG_COMPAT_BASE_URL) to that"),
        # the rest would show a query: its shape, not the URL
        ("me:s3cret-pw@gw.example.com/v1?key=s3cret-key", "set its base URL (MAGSAG_COMPAT_BASE_URL) to https:// "
         "(http:// for a local server) followed by the host and path, with no user:password@"),
    ],
)  # fmt: skip
def test_a_base_url_with_a_user_password_and_no_scheme_is_told_what_to_write_without_it(given, what_to_write):
    # me:pw@gw.example.com/v1 (urlsplit reads "me" as its scheme) was told "not an http(s) URL with a host ... e.g.
    # https://host/v1", though it has a host: the fix is its scheme, and the user:password@ left out
    from magsag_mcp.providers.base_urls import _base_url_problem

    problem = _base_url_problem(given, "MAGSAG_COMPAT_BASE_URL")
    assert problem == (
        "the base URL has no scheme (http or https), and a user:password@ before its host (not shown here: it may "
        f"be a secret), which a request would send beside the key; {what_to_write}"
    )
    assert "s3cret" not in problem and "me:" not in problem


def test_blank_optional_provider_settings_are_unset_and_spaces_around_them_dropped():
    # OPENAI_ORG_ID=" " went out as an empty OpenAI-Organization header, AZURE_OPENAI_API_VERSION=" " as
    # ?api-version=%20, ANTHROPIC_VERSION=" " as an empty anthropic-version: each refused by the vendor
    from magsag_mcp.providers.anthropic import DEFAULT_VERSION, AnthropicEndpoint
    from magsag_mcp.providers.openai import DEFAULT_AZURE_API_VERSION, AzureEndpoint, OpenAIEndpoint

    key = "sk-test-0123456789"
    openai = OpenAIEndpoint({"OPENAI_API_KEY": key, "OPENAI_ORG_ID": " ", "OPENAI_PROJECT_ID": " proj_1 "})
    assert openai.headers("gpt-4o") == {"Authorization": f"Bearer {key}", "OpenAI-Project": "proj_1"}
    assert AzureEndpoint({"AZURE_OPENAI_API_VERSION": "  "}).api_version() == DEFAULT_AZURE_API_VERSION
    assert AzureEndpoint({"AZURE_OPENAI_API_VERSION": "v1\n"}).api_version() == "v1"
    anthropic = AnthropicEndpoint({"ANTHROPIC_API_KEY": key, "ANTHROPIC_VERSION": " "})
    assert anthropic.headers("claude")["anthropic-version"] == DEFAULT_VERSION


def test_doctor_never_shows_a_token_given_as_the_proxy_user(cli_env, capsys, monkeypatch):
    """``http://TOKEN@proxy``: the token is the whole credential, with no password."""
    monkeypatch.setenv("HTTPS_PROXY", "http://ghp_DoctorUserTok3n@proxy.corp.example:3128")
    monkeypatch.setenv("http_proxy", "socks5://ghp_DoctorSocksTok3n@127.0.0.1:1080")
    for args in (["doctor"], ["doctor", "--json"]):
        assert main(args) == 1  # the socks5:// one is a problem too, named without its token
        out = capsys.readouterr().out
        assert "proxy.corp.example:3128" in out and "ghp_" not in out


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OPENAI_BASE_URL", "htp://api.openai.com/v1"),
        ("GEMINI_BASE_URL", "https://generativelanguage.googleapis.com:99999"),
        ("MAGSAG_COMPAT_BASE_URL", "https://host/v1?key=x"),
    ],
)
def test_doctor_calls_a_base_url_variable_that_cannot_carry_a_request_a_problem(
    cli_env, capsys, monkeypatch, variable, value
):
    # Before: a malformed base URL in the environment was listed as "not configured" and doctor exited 0, so a
    # CI check passed while every call skipped that provider's targets.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789")
    monkeypatch.setenv("GEMINI_API_KEY", "gm-test-0123456789")
    monkeypatch.setenv(variable, value)
    assert main(["doctor", "--json"]) == 1
    problems = json.loads(capsys.readouterr().out)["problems"]
    assert len(problems) == 1 and variable in problems[0] and value not in problems[0]
    assert main(["doctor"]) == 1
    assert "problem: " in capsys.readouterr().out


def test_doctor_does_not_call_a_provider_left_unset_a_problem(cli_env, capsys, monkeypatch):
    for name in ("OPENAI_BASE_URL", "OLLAMA_BASE_URL", "MAGSAG_LOCAL_LLM_BASE_URL", "AZURE_OPENAI_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OLLAMA_HOST", "localhost:11434")  # Ollama's own spelling, host:port, is read as it means
    assert main(["doctor", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["problems"] == []


def test_doctor_notes_the_skills_no_configured_provider_can_serve(cli_env, capsys, monkeypatch):
    # Before: with only OPENAI_API_KEY set, doctor said "openai ready" and nothing else, although every call of
    # skill.document-analysis (routed to anthropic, then google) failed, skipping both: "not configured".
    for name in ("GOOGLE_API_KEY", "AZURE_OPENAI_ENDPOINT", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789")
    assert main(["doctor", "--json"]) == 0  # a note, not a problem: the skill may never be called
    report = json.loads(capsys.readouterr().out)
    assert report["problems"] == []
    (note,) = report["notes"]
    assert note.startswith("skill.document-analysis: ") and "ANTHROPIC_API_KEY" in note and "GEMINI_API_KEY" in note
    assert "skill.analysis" not in note
    assert main(["doctor"]) == 0
    assert "note    : skill.document-analysis: " in capsys.readouterr().out
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0123456789")
    assert main(["doctor", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["notes"] == []


def test_doctors_provider_lines_line_up(cli_env, capsys):
    # google's wire, gemini-generate-content, was wider than its column and pushed its status out of line
    assert main(["doctor"]) in (0, 1)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")]
    statuses = [" not configured: ", " ready", " configured, but "]
    columns = {min(i for s in statuses if (i := line.find(s)) >= 0) for line in lines}
    assert len(lines) >= 7 and len(columns) == 1


def test_doctor_shows_where_each_providers_calls_go_never_a_urls_credentials(cli_env, capsys, monkeypatch):
    # The guide sets OLLAMA_BASE_URL / OPENAI_BASE_URL, magsag reads OLLAMA_HOST when neither is
    # (docs/configuration.md): doctor said "local ... ready" and never which server that was (the default
    # localhost:11434, or the gpu-box meant), so a variable set in the wrong shell, or shadowed by another, showed only
    # on the first call's connection error
    for name in ("MAGSAG_LOCAL_LLM_BASE_URL", "OLLAMA_BASE_URL", "AZURE_OPENAI_ENDPOINT", "MAGSAG_COMPAT_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OLLAMA_HOST", "gpu-box")
    # a gateway's token in the path (user:password@ or a ?query in a base URL is a problem of its own)
    monkeypatch.setenv("OPENAI_BASE_URL", "https://gw.corp:8443/Qz4Wn8Rt2Yp6Kx3Vb7Hm/v1")
    assert main(["doctor", "--json"]) == 0
    out = capsys.readouterr().out
    providers = json.loads(out)["providers"]
    assert providers["local"]["base_url"] == "http://gpu-box:11434/v1"
    assert providers["anthropic"]["base_url"] == "https://api.anthropic.com"  # the vendor's own, where none is set
    assert providers["openai"]["base_url"] == "https://gw.corp:8443/[REDACTED]/v1"  # as a trace shows it
    assert providers["azure"]["base_url"] is None and providers["compat"]["base_url"] is None  # `unavailable` says why
    assert "Qz4Wn8Rt2Yp6Kx3Vb7Hm" not in out
    assert main(["doctor"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")}
    assert " http://gpu-box:11434/v1 " in lines["local"] and lines["local"].endswith("ready")
    assert " https://gw.corp:8443/[REDACTED]/v1 " in lines["openai"]
    from magsag_mcp.cli import build_parser

    doctor = build_parser()._subparsers._group_actions[0].choices["doctor"]
    assert "the base URL each one's calls go to" in " ".join(doctor.description.split())


_OPENROUTER_ROUTING = """\
default:
  - {provider: openai, model: openai/gpt-4o, base_url: "https://openrouter.ai/api/v1"}
  - anthropic:claude-3-5-sonnet-20241022
routes:
  - match: pii-*
    priority: 100
    chain: [local:llama3.1:70b]
"""

_PII_ONLY = 'policies:\n  - name: data_residency\n    requirements:\n      pii_processing: ["local:llama3.1:70b"]\n'


@pytest.mark.parametrize("routed_to_openai", [False, True])
def test_doctor_calls_an_openrouter_key_in_openai_api_key_a_problem_only_where_a_call_sends_it_to_openai(
    cli_env, capsys, monkeypatch, catalog_copy, routed_to_openai
):
    # Before: a problem whatever the routes, even where every openai target has OpenRouter's base_url of its own, so
    # no call the catalog routes reaches api.openai.com with it (and `doctor` exited 1 for a working setup).
    routing = _OPENROUTER_ROUTING + ("  - match: coding\n    chain: [openai:gpt-4o]\n" if routed_to_openai else "")
    (catalog_copy / "routing" / "default.yaml").write_text(routing)
    # no data class of the policies' names an openai model (the shipped financial_data: ["gpt-4o"] sends a call
    # declaring it to openai:gpt-4o at OpenAI's own API: see the test below)
    (catalog_copy / "policies" / "model_governance.yaml").write_text(_PII_ONLY)
    with (catalog_copy / "prices.yaml").open("a") as prices:
        prices.write('"openai:openai/gpt-4o": {input: 2.5, output: 10}\n')
    monkeypatch.setenv("MAGSAG_CATALOG", str(catalog_copy))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-or-v1-not-a-real-key")
    code = main(["doctor", "--json"])
    report = json.loads(capsys.readouterr().out)
    said = [p for p in report["problems"] + report["notes"] if p.startswith("openai: OPENAI_API_KEY holds")]
    assert len(said) == 1, said
    if routed_to_openai:
        assert said[0] in report["problems"] and code == 1
        assert said[0].startswith("openai: OPENAI_API_KEY holds an OpenRouter key (it begins sk-or-)")
    else:
        assert said[0] in report["notes"] and not report["problems"] and code == 0, report["problems"]
        assert "no target the catalog names sends it there (each of openai's has a base_url of its own)" in said[0]
        assert "only a call naming openai:MODEL with no base_url of its own (refused before it is sent)" in said[0]
        # the problem's fix (move the key to MAGSAG_COMPAT_API_KEY) is for a setup that fails, not this one
        assert "MAGSAG_COMPAT_API_KEY" not in said[0] and "set OPENAI_API_KEY" not in said[0], said[0]
    assert "not-a-real-key" not in json.dumps(report)


def test_doctor_counts_a_data_classs_models_among_the_targets_an_openrouter_key_would_be_sent_to(
    cli_env, capsys, monkeypatch, catalog_copy
):
    # Before: every routed openai target had OpenRouter's base_url, so the key was a note ("routed calls are not refused
    # for it"), exit 0; but the policy's requirements name gpt-4o for financial_data, and a call declaring that class
    # (naming no model of its own) goes to openai:gpt-4o at api.openai.com with the OpenRouter key, refused every time.
    (catalog_copy / "routing" / "default.yaml").write_text(_OPENROUTER_ROUTING)
    with (catalog_copy / "prices.yaml").open("a") as prices:
        prices.write('"openai:openai/gpt-4o": {input: 2.5, output: 10}\n')
    (catalog_copy / "policies" / "model_governance.yaml").write_text(_PII_ONLY + '      financial_data: ["gpt-4o"]\n')
    monkeypatch.setenv("MAGSAG_CATALOG", str(catalog_copy))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-or-v1-not-a-real-key")
    code = main(["doctor", "--json"])
    report = json.loads(capsys.readouterr().out)
    said = [p for p in report["problems"] + report["notes"] if p.startswith("openai: OPENAI_API_KEY holds")]
    assert len(said) == 1 and said[0] in report["problems"] and code == 1, (code, said)
    # which is what such a call meets: its one sendable target is openai:gpt-4o, which the key cannot reach
    main(["explain", "skill.analysis", "--payload", '{"data": "x"}', "--context", '{"data_class": "financial_data"}'])
    explained = json.loads(capsys.readouterr().out)
    by_class = [t for t in explained["targets"] if t["source"] == "data_class"]
    assert [t["label"] for t in by_class] == ["openai:gpt-4o"]
    assert by_class[0]["unavailable"].startswith("openai: OPENAI_API_KEY holds an OpenRouter key")
    assert "not-a-real-key" not in json.dumps(report)


@pytest.mark.parametrize("model", ["gpt-4o", "GPT-4o"])
def test_doctor_counts_magsag_models_target_among_where_an_openrouter_key_goes_whatever_its_case(
    cli_env, capsys, monkeypatch, catalog_copy, model
):
    # Before: MAGSAG_MODEL=GPT-4o failed every route (its case is refused), so the routes' targets were all doctor's key
    # check saw, each with OpenRouter's base_url: the key was a note, "routed calls are not refused for it". Fixed to
    # gpt-4o, as doctor's other problem tells, every call goes to api.openai.com with the OpenRouter key, refused.
    (catalog_copy / "routing" / "default.yaml").write_text(_OPENROUTER_ROUTING)
    (catalog_copy / "policies" / "model_governance.yaml").write_text(_PII_ONLY)
    with (catalog_copy / "prices.yaml").open("a") as prices:
        prices.write('"openai:openai/gpt-4o": {input: 2.5, output: 10}\n')
    monkeypatch.setenv("MAGSAG_CATALOG", str(catalog_copy))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-or-v1-not-a-real-key")
    monkeypatch.setenv("MAGSAG_MODEL", model)
    assert main(["doctor", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    said = [p for p in report["problems"] + report["notes"] if p.startswith("openai: OPENAI_API_KEY holds")]
    assert len(said) == 1 and said[0] in report["problems"], said
    assert "not-a-real-key" not in json.dumps(report)


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("me:s3cret-pw@gw.example.com/v1", "[REDACTED]@gw.example.com/v1"),
        ("https://me:s3cret-pw@gw.example.com/v1", "https://[REDACTED]@gw.example.com/v1"),
        ("me:s3cret-pw@gw.example.com/v1?key=s3cret-key", "[REDACTED]@gw.example.com/v1?[REDACTED]"),
    ],
)
def test_doctor_shows_a_base_url_s_user_password_masked_where_it_stood(cli_env, capsys, monkeypatch, given, shown):
    # me:pw@gw.example.com/v1 (no scheme) was shown as //[REDACTED]@/gw.example.com/v1: urlsplit took its host for a
    # path, and urlunsplit wrote a "//" before the masked userinfo and a "/" before the host
    monkeypatch.setenv("MAGSAG_COMPAT_BASE_URL", given)
    assert main(["doctor", "--json"]) == 1  # (a problem: the user:password@ would be sent beside the key)
    out = capsys.readouterr().out
    compat = json.loads(out)["providers"]["compat"]
    assert compat["base_url"] == shown
    assert "user:password@" in compat["unavailable"]  # the advice as it was
    assert "s3cret" not in out and "me:" not in out
    assert main(["doctor"]) == 1
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("  compat "))
    assert f" {shown} " in line
