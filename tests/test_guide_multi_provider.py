"""The users' guide "Multi-Provider LLM Support" (guide-multi-provider), checked where the product's behaviour
was found to differ from what the guide says or its reader expects."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp import Magsag
from magsag_mcp import errors as E
from magsag_mcp.settings import setting_problems

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
# keys of no repeated run: a key is known to the whole process once a service holds it, and any run of a known key's
# characters is redacted from then on (a key of 40 x's made later tests' "x" * 4000 texts "[REDACTED]")
OPENAI_KEY = "sk-guide-test-4f1c9a7e2b8d6035"
ANTHROPIC_KEY = "sk-ant-guide-test-8e3b5d1f7a2c9046"


@pytest.mark.parametrize(
    ("provider", "model", "meant"),
    [
        ("openai", "claude-3-5-sonnet-20241022", "anthropic"),  # the guide's Production model, Development's provider
        ("anthropic", "gpt-4o-mini", "openai"),  # the guide's Development model left set under Production's provider
    ],
)
def test_a_vendor_given_another_vendors_model_by_the_environment_is_told_which_setting_to_change(
    tmp_path: Path, provider: str, model: str, meant: str
):
    """The guide's example configurations are blocks of exports; one run after another in a shell leaves
    MAGSAG_MODEL of the earlier block beside MAGSAG_PROVIDER of the later (or the reverse). Every call then went
    to a vendor that has no such model: under a cost limit it was refused as a budget matter (budget_exceeded,
    "has no known price ... add its price to catalog/prices.yaml"), a fix that would send it to the wrong vendor;
    without one the vendor's 404 came back. Refused now as the setting it is, naming the fix, before anything is
    sent; `magsag doctor` lists it as a problem in the same words."""
    env = {"MAGSAG_PROVIDER": provider, "MAGSAG_MODEL": model, "OPENAI_API_KEY": OPENAI_KEY}
    env["ANTHROPIC_API_KEY"] = ANTHROPIC_KEY
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=env) as mg:
        with pytest.raises(E.ConfigError) as raised:
            mg.skills.invoke("skill.analysis", {"data": "Q3 revenue 1.2M"})
        # a call naming its own model is the call's choice, above the environment's (the guide's priority order)
        explained = mg.skills.explain("skill.analysis", {"data": "x", "model_config": {"model": "gpt-4o"}})
        # a data class's own models serve its calls, as when MAGSAG_PROVIDER names no model for a task
        pii = mg.skills.explain("skill.pii-redaction", {"text": "John Smith"})
    message = raised.value.message
    assert f"MAGSAG_MODEL={model!r} names {meant}'s model" in message
    assert f"MAGSAG_PROVIDER={provider!r} cannot serve" in message
    assert f"set MAGSAG_PROVIDER={meant}" in message and "prices.yaml" not in message
    assert explained["targets"][0]["model"] == "gpt-4o"
    assert [t["label"] for t in pii["targets"]] == ["local:llama3.1:70b"]
    assert "so the data class's models serve it" in pii["rule"]
    assert any(message in p for p in setting_problems(env))


def test_a_vendor_pointed_at_a_gateway_may_be_given_another_vendors_model(tmp_path: Path):
    """OPENAI_BASE_URL at a gateway (LiteLLM, a corporate proxy) serves other vendors' models under their names:
    MAGSAG_PROVIDER=openai with a Claude model there is no mistake, and is not refused as one."""
    from magsag_mcp.env_routing import check_env_pair

    env = {"OPENAI_BASE_URL": "https://gateway.corp.example/v1"}
    check_env_pair(env, "openai", "claude-3-5-sonnet-20241022")  # no error
    check_env_pair({}, "openai", "gpt-4o-mini")  # its own model
    check_env_pair({}, "compat", "claude-3-5-sonnet-20241022")  # a hosting provider serves any name
    check_env_pair({}, "openai", "anthropic:claude-3-5-sonnet-20241022")  # a prefix says who serves it
    with pytest.raises(E.ConfigError):
        check_env_pair({"OPENAI_BASE_URL": ""}, "openai", "claude-3-5-sonnet-20241022")  # empty is unset
    with pytest.raises(E.ConfigError):  # the guide's own export: OpenAI's API is no gateway
        check_env_pair({"OPENAI_BASE_URL": "https://api.openai.com/v1"}, "openai", "claude-3-5-sonnet-20241022")
    with pytest.raises(E.ConfigError):
        check_env_pair({"ANTHROPIC_BASE_URL": "https://api.anthropic.com"}, "anthropic", "gpt-4o-mini")


def test_a_vendor_parameter_in_model_config_is_pointed_to_params_from_python_too(tmp_path: Path):
    """The guide's model_config holds a call's settings; a reader adds a sampling knob of their vendor's beside them
    (top_p, seed). From Python (and `magsag invoke`) that was answered "unknown key 'top_p' (did you mean 'stop'?)",
    which sends 0.9 as a stop sequence and is refused again; the MCP tools' schema already pointed it to params, which
    passes it through. Now every surface says the same. A misspelling of a key model_config takes is still one."""
    env = {"MAGSAG_PROVIDER": "fake"}
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=env) as mg:
        said = {}
        for key in ("top_p", "seed", "temprature"):
            for where in ("model_config", "llm_overrides"):
                payload = {"data": "x"}
                context = None
                if where == "model_config":
                    payload["model_config"] = {"model": "fake-model", key: 1}
                else:
                    context = {"llm_overrides": {"model": "fake-model", key: 1}}
                with pytest.raises(E.PayloadError) as raised:
                    mg.skills.invoke("skill.analysis", payload, context=context)
                said[key, where] = raised.value.message
        # what the hint says works
        result = mg.skills.invoke(
            "skill.analysis", {"data": "x", "model_config": {"model": "fake-model", "params": {"top_p": 0.9}}}
        )
    assert result["model"] == "fake-model"
    for where in ("model_config", "context.llm_overrides"):
        short = where.split(".")[-1]
        for key in ("top_p", "seed"):
            message = said[key, short]
            assert message.startswith(f"{where} has unknown key '{key}' (a vendor parameter goes in params: "), message
            assert f'{{"params": {{"{key}": ...}}}}' in message
            assert "did you mean 'stop'" not in message.split("; or ")[0]
        misspelt = said["temprature", short]
        assert misspelt.startswith(f"{where} has unknown key 'temprature' (did you mean 'temperature'?)")


@pytest.mark.parametrize("key", ["max_output_tokens", "max_completion_tokens"])
def test_a_token_limit_under_another_apis_name_is_told_max_tokens_not_params(tmp_path: Path, key: str):
    """The Responses API's max_output_tokens and Chat Completions' max_completion_tokens, written in model_config,
    were pointed to params ("a vendor parameter goes in params ...; or did you mean 'max_tokens'?"), which refuses
    both as fields magsag writes itself: a second refusal before the key meant. They are told max_tokens alone."""
    from magsag_mcp.targets import parse_target

    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"}) as mg:
        with pytest.raises(E.PayloadError) as raised:
            mg.skills.invoke("skill.analysis", {"data": "x", "model_config": {"model": "fake-model", key: 50}})
    message = raised.value.message
    assert message.startswith(f"model_config has unknown key '{key}' (did you mean 'max_tokens'?);"), message
    assert "params" not in message.split("allowed:")[0]
    with pytest.raises(E.ConfigError):  # where the old hint sent it
        parse_target({"provider": "openai", "model": "gpt-4o", "params": {key: 50}})


def test_the_guides_ollama_server_stays_configured_beside_a_vllm_base_url(tmp_path: Path):
    """The guide exports OLLAMA_BASE_URL="http://localhost:11434" (Environment Variables), then, for vLLM,
    MAGSAG_LOCAL_LLM_BASE_URL=http://localhost:8000/v1/ (Local/Offline); its Ollama example then names Ollama's server
    in the call for a privacy-sensitive task. A data class confines such a call to the servers the operator
    configured, and only the base URL local calls go to (MAGSAG_LOCAL_LLM_BASE_URL's) counted: the call was refused,
    "not an endpoint configured for local", though the operator had set it. Every local variable set counts now; a
    server none of them names is still refused."""
    from magsag_mcp.loopback import LoopbackUpstream

    upstream = LoopbackUpstream()
    with upstream.running():
        ollama = upstream.base_url  # Ollama's root, as the guide writes it
        env = {
            "OLLAMA_BASE_URL": ollama,
            "MAGSAG_LOCAL_LLM_BASE_URL": "http://127.0.0.1:9/v1/",  # vLLM's (nothing listens: it is never called)
        }
        with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=env) as mg:
            pii = {"text": "John Smith, 555-1234"}
            result = mg.skills.invoke(
                "skill.pii-redaction", {**pii, "model_config": {"model": "llama3.1:70b", "base_url": ollama}}
            )
            with pytest.raises(E.PolicyDenied) as refused:  # a policy refusal (data_residency.requirements)
                mg.skills.invoke(
                    "skill.pii-redaction",
                    {**pii, "model_config": {"model": "llama3.1:70b", "base_url": "http://gpu-box.example:11434"}},
                )
    assert (result["provider"], result["model"]) == ("local", "llama3.1:70b")
    assert upstream.calls["llama3.1:70b"] == 1
    assert "is not an endpoint configured for local" in refused.value.message


def test_a_call_naming_a_vendor_and_another_vendors_model_is_told_the_provider_meant(tmp_path: Path):
    """The guide's Option 1 names both, {"model": ..., "provider": ...}; a reader mixing two of its lines writes
    {"model": "claude-3-5-sonnet-20241022", "provider": "openai"}. At OpenAI's own API that call cannot succeed, and
    under a cost limit it was refused as a budget matter ("has no known price ... add its price to prices.yaml"), a
    fix that would send it on to OpenAI's 404. It is refused as the payload's mistake now, naming the provider meant,
    before anything is sent; a fallback so too. With a gateway's base_url the call is the caller's to make."""
    from magsag_mcp.env_routing import check_call_target
    from magsag_mcp.types import Target

    env = {"OPENAI_API_KEY": OPENAI_KEY, "ANTHROPIC_API_KEY": ANTHROPIC_KEY}
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=env) as mg:
        with pytest.raises(E.PayloadError) as named:
            mg.skills.invoke(
                "skill.analysis",
                {"data": "x", "model_config": {"model": "claude-3-5-sonnet-20241022", "provider": "openai"}},
            )
        with pytest.raises(E.PayloadError) as fallback:
            mg.skills.explain(
                "skill.analysis",
                {"data": "x", "model_config": {"model": "gpt-4o", "fallbacks": ["anthropic:gpt-4o-mini"]}},
            )
        with pytest.raises(E.PayloadError) as overrides:
            mg.skills.invoke(
                "skill.analysis", {"data": "x"}, context={"llm_overrides": {"provider": "google", "model": "gpt-4o"}}
            )
    assert named.value.message.startswith(
        "model_config: 'claude-3-5-sonnet-20241022' is anthropic's model, which provider 'openai' cannot serve"
    ), named.value.message
    assert "name provider 'anthropic'" in named.value.message and "prices.yaml" not in named.value.message
    assert fallback.value.message.startswith("model_config.fallbacks[0]: 'gpt-4o-mini' is openai's model")
    said = overrides.value.message
    assert said.startswith("context.llm_overrides: 'gpt-4o' is openai's model, which provider 'google'"), said
    # a gateway may serve it: its base_url, or the vendor's base URL variable pointing at one
    claude = "claude-3-5-sonnet-20241022"
    check_call_target({}, Target("openai", claude, "https://gateway.corp.example/v1"), "m")
    check_call_target({"OPENAI_BASE_URL": "https://litellm.corp/v1"}, Target("openai", claude), "m")


def test_a_payload_missing_several_fields_is_told_every_one(tmp_path: Path):
    """The guide's JSON mode example calls skill.extraction with the caller's own payload; one holding neither of its
    fields was told "payload is missing field 'text'" alone, and refused again for 'fields' once it was added."""
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"}) as mg:
        with pytest.raises(E.PayloadError) as both:
            mg.skills.invoke("skill.extraction", {"data": "Invoice 42 from ACME, due 2025-11-30, $1,200"})
        with pytest.raises(E.PayloadError) as one:
            mg.skills.invoke("skill.extraction", {"text": "Invoice 42 from ACME", "model_config": {"model": "fake-x"}})
    assert "payload is missing fields 'text', 'fields'" in both.value.message, both.value.message
    assert "payload is missing field 'fields' (" in one.value.message, one.value.message


def test_the_guides_placeholder_copied_as_written_is_told_it_is_a_placeholder(tmp_path: Path):
    """The guide's function calling example writes ``"function": {...}``; run as written, Python reads ``{...}`` as a
    set holding Ellipsis, and the call was refused "model_config.tools[0].function is of type set, which is no JSON
    value" (a set the reader never wrote), or, in a payload field, told to give the set as a list (sorted(value)),
    which fails on it too. Each is named as the example's placeholder now, with what to write in its place; nothing is
    sent, and the ledger records the refused call."""
    tool = {"type": "function", "function": {...}}
    calls = {
        "tools": {"data": "x", "model_config": {"model": "gpt-4o", "tools": [tool]}},
        "field": {"data": {...}},
        "nested": {"data": {"rows": [...]}},
        "ellipsis": {"data": "x", "model_config": {"model": "gpt-4o", "response_format": ...}},
        "message": {"data": "x", "model_config": {"model": "gpt-4o", "messages": [{"role": "user", "content": {...}}]}},
    }
    said = {}
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"}) as mg:
        for name, payload in calls.items():
            with pytest.raises(E.PayloadError) as raised:
                mg.skills.invoke("skill.analysis", payload)
            said[name] = raised.value.message
        runs = mg.query_runs(limit=10)["runs"]
    assert said["tools"] == (
        "model_config.tools[0].function is {...}, an example's placeholder rather than a value: replace it with the "
        "value it stands for, written out (a tool's function: its name, description and parameters)"
    )
    assert "payload field 'data' holds {...}, an example's placeholder rather than a value" in said["field"]
    assert "sorted(value)" not in said["field"] and "replace it with the value it stands for" in said["field"]
    # said as a placeholder, where it is, then the fix: not also as a value with "no text to write into the prompt
    # (the model would have read its Python repr)", nor with its place set after the placeholder's words
    assert said["nested"] == (
        "skill.analysis: payload field 'data' holds ... at data/rows/0, an example's placeholder rather than a value; "
        "replace it with the value it stands for, written out"
    ), said["nested"]
    assert "Python repr" not in said["field"], said["field"]
    assert said["ellipsis"].startswith("model_config.response_format is ..., an example's placeholder")
    assert said["message"].startswith("model_config.messages[0].content is {...}, an example's placeholder")
    assert all("type set" not in s and "ellipsis" not in s for s in said.values()), said
    assert [(r["status"], r["calls"]) for r in runs] == [("error", 5)]  # (one run: the Magsag's)
