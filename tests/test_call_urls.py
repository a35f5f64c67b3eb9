"""A call's base URLs inside a Service: the operator's configuration is gathered once per service, not per call."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp import call_urls
from magsag_mcp.errors import ConfigError, PayloadError, PolicyDenied
from magsag_mcp.service import Service

pytestmark = pytest.mark.anyio

KEYED = {"OPENAI_API_KEY": "sk-test-0123456789", "ANTHROPIC_API_KEY": "sk-ant-test-0123456789"}
PROXY = "https://proxy.corp:8443/v1"


def _call(base_url: str) -> dict:
    return {"data": "x", "model_config": {"model": "openai:gpt-4o", "base_url": base_url}}


async def test_the_allow_list_is_read_once_per_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    reads: list[object] = []
    real = call_urls.allowed_origins

    def counting(env):
        reads.append(env)
        return real(env)

    monkeypatch.setattr(call_urls, "allowed_origins", counting)
    env = {**KEYED, call_urls.ALLOWED_ENV: f"openai={PROXY}"}
    async with await Service.open(db=tmp_path / "l.db", env=env) as svc:
        svc.plan("skill.analysis", {"data": "x"})
        assert reads == []  # a call without a base URL needs no allow-list
        for _ in range(3):
            assert svc.plan("skill.analysis", _call(PROXY)).candidates[0].target.base_url == PROXY
        with pytest.raises(PayloadError, match="not an endpoint configured for openai"):
            svc.plan("skill.analysis", _call("https://collector.example.net/v1"))
        assert len(reads) == 1


async def test_the_environment_is_the_one_the_service_opened_with(tmp_path: Path):
    # Service.open copies its env, as for every MAGSAG_* variable: a later change to the caller's
    # mapping neither opens nor closes an origin.
    env = {**KEYED, call_urls.ALLOWED_ENV: f"openai={PROXY}"}
    async with await Service.open(db=tmp_path / "l.db", env=env) as svc:
        svc.plan("skill.analysis", _call(PROXY))
        env[call_urls.ALLOWED_ENV] = "openai=https://collector.example.net"
        svc.plan("skill.analysis", _call(PROXY))
        with pytest.raises(PayloadError, match="collector.example.net:443 is not an endpoint configured"):
            svc.plan("skill.analysis", _call("https://collector.example.net/v1"))


async def test_a_bad_allow_list_fails_only_calls_that_name_a_base_url(tmp_path: Path):
    env = {**KEYED, call_urls.ALLOWED_ENV: "openai=ftp://nope"}
    async with await Service.open(db=tmp_path / "l.db", env=env) as svc:
        assert svc.doctor()["providers"]["openai"]["unavailable"] is None
        svc.plan("skill.analysis", {"data": "x"})
        for _ in range(2):  # reported on every such call, not only the first
            with pytest.raises(ConfigError, match=r"MAGSAG_ALLOWED_BASE_URLS: entry 1 \('openai=ftp://nope'\)"):
                svc.plan("skill.analysis", _call(PROXY))


async def test_a_catalog_base_url_is_allowed_through_the_service(tmp_path: Path, catalog_copy: Path):
    routing = catalog_copy / "routing" / "default.yaml"
    text = routing.read_text(encoding="utf-8")
    proxied = "tiers:\n  proxied: [{provider: openai, model: gpt-4o, base_url: 'https://proxy.corp:8443'}]\n"
    routing.write_text(text.replace("tiers:\n", proxied, 1), encoding="utf-8")
    async with await Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env=KEYED) as svc:
        assert svc.plan("skill.analysis", _call(PROXY)).candidates[0].target.base_url == PROXY
        with pytest.raises(PayloadError, match="not an endpoint configured for anthropic"):
            mc = {"provider": "anthropic", "model": "claude-3-5-sonnet-20241022", "base_url": PROXY}
            svc.plan("skill.analysis", {"data": "x", "model_config": mc})


async def test_a_confined_data_class_goes_only_to_servers_the_operator_configured(tmp_path: Path):
    # pii_processing: ["llama3.1:70b"]  # Local only. A keyless local server may be named by any call
    # (no key can leak), but for this data class the server is the point: before, a caller sent PII to
    # "local:llama3.1:70b" on a host of its choosing and every policy check passed.
    pii = "skill.pii-redaction"
    elsewhere = {"model": "llama3.1:70b", "provider": "local", "base_url": "http://collector.example.net:11434"}
    async with await Service.open(db=tmp_path / "l.db", env={}) as svc:
        for where, payload, context in (
            ("model_config", {"text": "x", "model_config": elsewhere}, None),
            ("context.llm_overrides", {"text": "x"}, {"llm_overrides": elsewhere}),
            (
                "model_config",
                {"text": "x", "model_config": {"provider": "local", "base_url": elsewhere["base_url"]}},
                None,
            ),
        ):
            with pytest.raises(
                PolicyDenied,
                # naming the rule that refused it, as a policy's refusal of a model does: an audit of the ledger's
                # errors read "confined by policy" and could not tell which
                match=rf"^{where}.base_url: http://collector.example.net:11434 .*"
                r"data class \('pii_processing'\) is confined by data_residency.requirements to the models it names",
            ):
                svc.plan(pii, payload, context)
        # a caller who declares the class for another skill is held to it the same way
        with pytest.raises(PolicyDenied, match="confined"):
            svc.plan("skill.analysis", {"data": "x", "model_config": elsewhere}, {"data_class": "pii_processing"})
        # the local server the operator runs (the default, or its LOCAL_BASE_URL) stays open to such calls
        local = {**elsewhere, "base_url": "http://localhost:11434"}
        plan = svc.plan(pii, {"text": "x", "model_config": local})
        assert plan.candidates[0].target.base_url == "http://localhost:11434"
        # and a call of no confined class may still name any keyless server
        plan = svc.plan("skill.analysis", {"data": "x", "model_config": elsewhere})
        assert plan.candidates[0].target.base_url == elsewhere["base_url"]
    env = {call_urls.ALLOWED_ENV: "local=http://collector.example.net:11434"}
    async with await Service.open(db=tmp_path / "l.db", env=env) as svc:  # the operator allows that server
        assert svc.plan(pii, {"text": "x", "model_config": elsewhere}).candidates[0].target.base_url


async def test_a_confined_data_class_refused_its_server_is_a_policy_refusal_recorded_as_one(tmp_path: Path):
    # Typed invalid_payload, a PayloadError, it was recorded as a run in error with no attempt: `data query
    # --status policy_denied` and the summary's policy_denied_attempts left it out, and `except PolicyDenied` (what
    # docs/python.md says a policy's refusal of a call's data class raises) did not catch it; MCP said invalid_payload
    from magsag_mcp.ledger import UsageFilters

    elsewhere = {"model": "llama3.1:70b", "provider": "local", "base_url": "http://collector.example.net:11434"}
    async with await Service.open(db=tmp_path / "l.db", env={}) as svc:
        with pytest.raises(PolicyDenied, match="confined by data_residency.requirements") as info:
            await svc.invoke_skill("skill.pii-redaction", {"text": "x", "model_config": elsewhere})
        said = info.value.to_dict()
        assert not isinstance(info.value, PayloadError)
        assert (said["type"], said["policy"], said["rule"]) == ("policy_denied", "data_residency", "requirements")
        assert said["target"] == "local:llama3.1:70b" and said["cost_usd"] == "0"
        [run] = await svc.query_runs(UsageFilters(status="policy_denied"))
        assert run["run_id"] == info.value.run_id and run["error"]["type"] == "policy_denied"
        [attempt] = run["attempts"]
        assert (attempt["provider"], attempt["model"], attempt["outcome"]) == ("local", "llama3.1:70b", "policy_denied")
        assert attempt["cost_usd"] == "0" and "collector.example.net" in attempt["error_message"]
        totals = (await svc.summarize(UsageFilters()))["totals"]
        assert totals["policy_denied_attempts"] == 1 and totals["unsent_calls"] == 1 and totals["cost_usd"] == 0


@pytest.mark.parametrize(
    "entry", ["opnai=https://proxyuser:hunter2hunter2@proxy.corp", "openai=proxyuser:hunter2hunter2@proxy.corp"]
)
async def test_a_bad_allow_list_entry_is_quoted_without_its_password(tmp_path: Path, entry: str):
    # The entry is quoted in the error every call naming a base URL gets (an MCP tool's result): a proxy's
    # user:password@ in it went to the caller with it.
    env = {**KEYED, call_urls.ALLOWED_ENV: f"local=http://gpu-box:11434,{entry}"}
    async with await Service.open(db=tmp_path / "l.db", env=env) as svc:
        with pytest.raises(ConfigError, match=r"MAGSAG_ALLOWED_BASE_URLS: entry 2 \(") as info:
            svc.plan("skill.analysis", _call(PROXY))
    assert "hunter2hunter2" not in info.value.message and "proxyuser" not in info.value.message


@pytest.mark.parametrize(
    ("entry", "shown"),
    [
        # a ':' typed for '=': the whole entry is the URL, and its scheme came after the provider's name
        ("openai:https://proxyuser:hunter2hunter2@proxy.corp", "openai:https://[REDACTED]@proxy.corp"),
        # spaces around '=', with a provider's name misspelt
        ("opnai = https://proxyuser:hunter2hunter2@proxy.corp", "opnai = https://[REDACTED]@proxy.corp"),
        # a password with an unencoded '/' or '#' (the URL is then malformed, and so quoted)
        ("openai=https://proxyuser:hunter2/hunter2@proxy.corp", "openai=https://[REDACTED]@proxy.corp"),
        ("openai=https://proxyuser:hunter2#hunter2@proxy.corp", "openai=https://[REDACTED]@proxy.corp"),
        # a key in the query, shaped like no known key, as a Target's URL never shows it
        ("opnai=https://proxy.corp/v1?key=hunter2hunter2", "opnai=https://proxy.corp/v1?[REDACTED]"),
    ],
)
async def test_a_malformed_allow_list_entry_never_shows_its_credentials(tmp_path: Path, entry: str, shown: str) -> None:
    # doctor lists the problem, and every call naming a base URL fails with it (an MCP client gets the message):
    # only a well-formed scheme://user:password@ was taken out, so these typos showed the proxy's password
    env = {**KEYED, call_urls.ALLOWED_ENV: f"local=http://gpu-box:11434,{entry}"}
    async with await Service.open(db=tmp_path / "l.db", env=env) as svc:
        problems = svc.doctor()["problems"]
        with pytest.raises(ConfigError, match=r"MAGSAG_ALLOWED_BASE_URLS: entry 2 \(") as info:
            svc.plan("skill.analysis", _call(PROXY))
    for said in (info.value.message, *problems):
        assert "hunter2" not in said and "proxyuser" not in said, said
    assert f"({shown!r})" in info.value.message


@pytest.mark.parametrize(
    ("entry", "shown"),
    [
        # a ':' typed for '=', at a gateway that takes its token in the path (Cloudflare's /v1/<account>/<gateway>)
        ("openai:https://gw.corp/v1/Tk9QmT3vXw7LpR2nHs5d/openai", "openai:https://gw.corp/v1/[REDACTED]/openai"),
        # a misspelt provider; the host keeps its name, digits and all
        (
            "opnai=https://gateway01.corp.example.com/Tk9QmT3vXw7LpR2nHs5d",
            "opnai=https://gateway01.corp.example.com/[REDACTED]",
        ),
    ],
)
async def test_a_malformed_allow_list_entry_never_shows_a_token_in_its_path(
    tmp_path: Path, entry: str, shown: str
) -> None:
    # Traces and messages show a base URL with each path segment shaped like a token as [REDACTED]
    # (docs/configuration.md), and so does a call's own refused base URL; the quoted allow-list entry showed its path
    # whole, to every call naming a base URL (an MCP client over HTTP) and in doctor.
    env = {**KEYED, call_urls.ALLOWED_ENV: f"local=http://gpu-box:11434,{entry}"}
    async with await Service.open(db=tmp_path / "l.db", env=env) as svc:
        problems = svc.doctor()["problems"]
        with pytest.raises(ConfigError, match=r"MAGSAG_ALLOWED_BASE_URLS: entry 2 \(") as info:
            svc.plan("skill.analysis", _call(PROXY))
    for said in (info.value.message, *problems):
        assert "Tk9QmT3vXw7LpR2nHs5d" not in said, said
    assert f"({shown!r})" in info.value.message


async def test_a_service_for_network_callers_takes_only_configured_base_urls(tmp_path: Path):
    # The MCP server over HTTP opens its service with network_callers: a keyless provider's base URL from a
    # call is no longer taken as it is (the server would POST wherever a remote caller says).
    lan = {"provider": "local", "model": "llama3.1:70b", "base_url": "http://192.168.1.20:8080"}
    call = {"data": "x", "model_config": lan}
    async with await Service.open(db=tmp_path / "l.db", env={}, network_callers=True) as svc:
        refused = r"^model_config.base_url: http://192.168.1.20:8080 .*--call-base-urls any"
        with pytest.raises(PayloadError, match=refused):
            svc.plan("skill.analysis", call)
        mine = {**lan, "base_url": "http://localhost:11434"}  # the local server it calls anyway
        assert svc.plan("skill.analysis", {"data": "x", "model_config": mine}).candidates[0].target.base_url
    allowed = {call_urls.ALLOWED_ENV: f"local={lan['base_url']}"}
    for env in ({call_urls.MODE_ENV: "any"}, {call_urls.MODE_ENV: " Any "}, allowed):
        async with await Service.open(db=tmp_path / "l.db", env=env, network_callers=True) as svc:
            assert svc.plan("skill.analysis", call).candidates[0].target.base_url == lan["base_url"], env
    async with await Service.open(db=tmp_path / "l.db", env={call_urls.MODE_ENV: ""}) as svc:  # empty is unset
        assert svc.plan("skill.analysis", call).candidates[0].target.base_url == lan["base_url"]


async def test_a_bad_call_base_urls_mode_stops_the_service_from_opening(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"^MAGSAG_CALL_BASE_URLS='open' is not a mode; set it to 'configured'"):
        await Service.open(db=tmp_path / "l.db", env={call_urls.MODE_ENV: "open"}, network_callers=True)
    assert not (tmp_path / "l.db").exists()  # refused before the ledger was opened


@pytest.mark.parametrize(
    ("env", "called"),
    [
        (
            {"OLLAMA_HOST": "0.0.0.0:11434"},
            "http://localhost:11434",
        ),  # the guide's call, Ollama set to listen everywhere
        ({"OLLAMA_HOST": "0.0.0.0"}, "http://[::1]:11434/v1"),
        ({}, "http://127.0.0.1:11434/v1"),  # the local default is http://localhost:11434/v1
        ({"MAGSAG_ALLOWED_BASE_URLS": "local=http://127.0.0.1:8000/v1"}, "http://localhost:8000/v1"),
    ],
)
def test_a_configured_loopback_server_is_the_same_server_by_any_loopback_name(env, called):
    # Served over HTTP, a call's base URL must be one the operator configured. A loopback server configured as
    # 127.0.0.1 (OLLAMA_HOST=0.0.0.0 is reached there) refused the guide's "base_url": "http://localhost:11434",
    # the same server on the same port, as an endpoint nobody configured.
    from magsag_mcp.types import Target

    urls = call_urls.CallURLs(env, lambda: [], configured_only=True)
    urls.check([(Target("local", "llama3.1:70b", base_url=called), "model_config")])


@pytest.mark.parametrize(
    "called",
    ["http://localhost:11435/v1", "https://localhost:11434/v1", "http://127.0.0.2:11434/v1", "http://[::2]:11434"],
)
def test_another_port_scheme_or_address_of_a_loopback_server_is_still_refused(called):
    from magsag_mcp.types import Target

    urls = call_urls.CallURLs({"OLLAMA_HOST": "0.0.0.0:11434"}, lambda: [], configured_only=True)
    with pytest.raises(PayloadError, match="is not an endpoint configured for local"):
        urls.check([(Target("local", "llama3.1:70b", base_url=called), "model_config")])


def test_a_key_goes_only_to_the_loopback_address_configured_for_it():
    # another user of the machine may listen on the same port of the other address family: no alias for a key
    from magsag_mcp.types import Target

    env = {"MAGSAG_LOCAL_LLM_API_KEY": "local-key-0123456789", "MAGSAG_LOCAL_LLM_BASE_URL": "http://127.0.0.1:8000/v1"}
    urls = call_urls.CallURLs(env, lambda: [], configured_only=True)
    urls.check([(Target("local", "m", base_url="http://127.0.0.1:8000/v1"), "model_config")])
    with pytest.raises(PayloadError, match="only sends local's API key to configured endpoints"):
        urls.check([(Target("local", "m", base_url="http://[::1]:8000/v1"), "model_config")])
