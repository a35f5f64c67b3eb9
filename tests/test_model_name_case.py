"""A vendor's model written in another case (``GPT-4o``, ``Claude-3-5-Sonnet-20241022``): the vendors' APIs take names
case by case, so such a call is told the name to write before anything is sent, not accepted (the price lookup matched
it in any case) and sent on to the vendor's 404; and a capitalised misspelling is told the model it nearly is."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp import Magsag
from magsag_mcp import errors as E
from magsag_mcp.env_routing import in_another_case
from magsag_mcp.governance.model_patterns import nearest_model, nearly_allowed

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
# keys of no repeated run, as tests/test_guide_multi_provider.py's (a known key's characters are redacted from then on)
ENV = {"OPENAI_API_KEY": "sk-case-test-6d2a8f4c1e9b7035", "ANTHROPIC_API_KEY": "sk-ant-case-test-3b7e1d9f5a2c8064"}


def test_a_misspelt_model_in_capitals_is_told_the_model_it_nearly_is():
    # "Claude-3-5-Sonet" was judged case by case, too unlike claude-3-5-sonnet-20241022 for either step: told nothing
    allowed = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet-20241022"]
    assert nearest_model("Claude-3-5-Sonet", allowed) == "claude-3-5-sonnet-20241022"
    assert nearest_model("GPT-4o-Mni", allowed) == "gpt-4o-mini"
    assert nearly_allowed(allowed, "Claude-3-5-Sonet") == " (did you mean 'claude-3-5-sonnet-20241022'?)"
    # another model of a family stays no misspelling in any case
    assert nearest_model("Claude-3-Opus", allowed) is None


@pytest.mark.parametrize(
    ("payload", "context", "said"),
    [
        ({}, {"preferred_model": "GPT-4o"}, "context.preferred_model: 'GPT-4o' is no openai model"),
        (
            {"model_config": {"model": "Claude-3-5-Sonnet-20241022"}},
            {},
            "model_config: 'Claude-3-5-Sonnet-20241022' is no anthropic model",
        ),
        (
            {"model_config": {"model": "gpt-4o", "fallbacks": ["GPT-4o-mini"]}},
            {},
            "model_config.fallbacks[0]: 'GPT-4o-mini' is no openai model",
        ),
        ({}, {"llm_overrides": {"model": "models/Gemini-1.5-pro"}}, "context.llm_overrides: 'models/Gemini-1.5-pro'"),
    ],
)
def test_a_vendors_model_in_another_case_is_told_the_name_to_write(tmp_path: Path, payload, context, said):
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=ENV) as mg:
        with pytest.raises(E.PayloadError) as refused:
            mg.skills.explain("skill.analysis", {"data": "x", **payload}, context=context)
    message = refused.value.message
    written = said.split("'")[1]
    assert message.startswith(said), message
    assert f"takes model names as written, case by case; did you mean {written.lower().removeprefix('models/')!r}?" in (
        message
    )


def test_a_name_in_the_vendors_case_or_not_a_vendors_model_is_left_alone(tmp_path: Path):
    assert in_another_case({}, "openai", "gpt-4o") is None
    assert in_another_case({}, "anthropic", "claude-3-5-sonnet-20241022") is None
    assert in_another_case({}, "openai", "My-Own-Model") is None  # no model genai-prices knows: the vendor's to say
    assert in_another_case({}, "openai", "ft:gpt-4o-mini:Acme:Support:abc123") is None  # a fine-tune's own parts
    # a hosting provider, or a gateway (its base_url, or the vendor's variable pointing at one), names its own way
    assert in_another_case({}, "compat", "GPT-4o") is None
    assert in_another_case({}, "openai", "GPT-4o", "https://gateway.corp.example/v1") is None
    assert in_another_case({"OPENAI_BASE_URL": "https://litellm.corp/v1"}, "openai", "GPT-4o") is None
    assert in_another_case({}, "openai", "GPT-4o", "https://api.openai.com/v1") == "gpt-4o"
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=ENV) as mg:
        plan = mg.skills.explain("skill.analysis", {"data": "x"}, context={"preferred_model": "gpt-4o"})
    assert plan["targets"][0]["label"] == "openai:gpt-4o"


@pytest.mark.parametrize(
    ("settings", "meant", "vendor"),
    [
        ({"MAGSAG_MODEL": "GPT-4o"}, "gpt-4o", "openai"),
        ({"MAGSAG_MODEL": "openai:GPT-4o-mini"}, "openai:gpt-4o-mini", "openai"),
        # the prefix in the case every provider is named in (OpenAI:gpt-4o works, but no page writes it so)
        ({"MAGSAG_MODEL": "OpenAI:GPT-4o"}, "openai:gpt-4o", "openai"),
        # the space after its colon left out: "set MAGSAG_MODEL=openai: gpt-4o" kept the space no one meant
        ({"MAGSAG_MODEL": "openai: GPT-4o"}, "openai:gpt-4o", "openai"),
        ({"MAGSAG_MODEL": "OpenAI : GPT-4o"}, "openai:gpt-4o", "openai"),
        ({"MAGSAG_MODEL": "Anthropic:Claude-3-5-Sonnet-20241022"}, "anthropic:claude-3-5-sonnet-20241022", "anthropic"),
        ({"MAGSAG_PROVIDER": "anthropic", "MAGSAG_MODEL": "Claude-3-5-Sonnet-20241022"}, None, "anthropic"),
    ],
)
def test_magsag_model_in_another_case_is_refused_naming_the_variable_and_the_name_to_write(
    tmp_path: Path, settings, meant, vendor
):
    # Before: a call naming GPT-4o was refused before it was sent, but MAGSAG_MODEL=GPT-4o went on to the vendor's
    # 404 ("The model `GPT-4o` does not exist") on every call, and `magsag doctor` saw nothing wrong.
    from magsag_mcp.settings import setting_problems

    meant = meant or settings["MAGSAG_MODEL"].lower()
    env = {**ENV, **settings}
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=env) as mg:
        with pytest.raises(E.ConfigError) as refused:
            mg.skills.explain("skill.analysis", {"data": "x"})
        # a call naming its own model is the call's choice, above the environment's
        explained = mg.skills.explain("skill.analysis", {"data": "x", "model_config": {"model": "gpt-4o"}})
    message = refused.value.message
    written = settings["MAGSAG_MODEL"]
    assert message.startswith(f"MAGSAG_MODEL={written!r} is no {vendor} model"), message
    assert f"{vendor}'s API takes model names as written, case by case; set MAGSAG_MODEL={meant}" in message
    assert explained["targets"][0]["label"] == "openai:gpt-4o"
    assert message in setting_problems(env)  # magsag doctor's problem, in the same words
    # at a gateway (its base URL variable pointing elsewhere) the name is the gateway's to judge
    assert not [p for p in setting_problems({**env, "OPENAI_BASE_URL": "https://litellm.corp/v1",
                                             "ANTHROPIC_BASE_URL": "https://litellm.corp"}) if "case by case" in p]


@pytest.mark.parametrize(
    ("written", "meant", "vendor"),
    [("Claude-3-5-Sonet", "claude-3-5-sonnet-20241022", "anthropic"), ("GPT-4o-Mni", "gpt-4o-mini", "openai")],
)
def test_a_capitalised_misspelling_under_a_permissive_policy_is_told_the_model_it_nearly_is(
    tmp_path: Path, catalog_copy: Path, written, meant, vendor
):
    # Before: with no allowed_models to compare it with, "Claude-3-5-Sonet" was told nothing (refused by a cost limit
    # as a model of no known price, "add its price to prices.yaml"; without one, sent on to the vendor's 404), while a
    # strict policy's refusal said "did you mean 'claude-3-5-sonnet-20241022'?". Now told the model the routing names
    # that it nearly is, before anything is sent.
    (catalog_copy / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: cost_limits\n    thresholds: {max_cost_per_call_usd: 1.0}\n"
    )
    with Magsag(catalog=catalog_copy, db=tmp_path / "l.db", env=ENV) as mg:
        with pytest.raises(E.PayloadError) as refused:
            mg.skills.explain("skill.analysis", {"data": "x", "model_config": {"model": written}})
        with pytest.raises(E.PayloadError) as in_fallbacks:
            fallbacks = {"model": "gpt-4o", "fallbacks": [written]}
            mg.skills.explain("skill.analysis", {"data": "x", "model_config": fallbacks})
        # a capitalised name near no model the catalog names is the vendor's to judge, as before (no price: refused by
        # the cost limit, saying so)
        other = mg.skills.explain("skill.analysis", {"data": "x", "model_config": {"model": "Claude-Unheard-Of"}})
    message = refused.value.message
    assert message.startswith(f"model_config: {written!r} is no {vendor} model"), message
    assert message.endswith(f"did you mean {meant!r}?"), message
    assert in_fallbacks.value.message.startswith(f"model_config.fallbacks[0]: {written!r} is no {vendor} model")
    assert other["targets"][0]["label"] == "anthropic:Claude-Unheard-Of"
    assert "has no known price" in other["targets"][0]["policy"]["reason"]


def test_the_documented_capitalised_misspelling_under_allowed_models_is_an_input_error_before_the_policy(
    tmp_path: Path,
):
    # docs/model-choice.md said a name in capitals "the policy refuses and nearly names" was told by the policy;
    # since the catalog's models are compared first, it is an input error before any policy is asked, allowed_models
    # or not, and the policy's refusal tells it only at a gateway
    import re

    text = re.sub(r"\s+", " ", (CATALOG.parent / "docs" / "model-choice.md").read_text())
    assert "an input error said before any policy is asked, whether or not the policy has `allowed_models`" in text
    said = r"\(`(anthropic:Claude-3-5-Sonet \(did you mean .*? is not in production_models\..*?)`"
    policy_said = re.search(said, text)
    assert policy_said is not None
    call = {"data": "x", "model_config": {"model": "Claude-3-5-Sonet"}}
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=ENV) as mg:  # production_models has allowed_models
        with pytest.raises(E.PayloadError) as refused:
            mg.skills.explain("skill.analysis", call)
    assert refused.value.message.startswith("model_config: 'Claude-3-5-Sonet' is no anthropic model: ")
    assert refused.value.message.endswith("did you mean 'claude-3-5-sonnet-20241022'?")
    gateway = {**ENV, "ANTHROPIC_BASE_URL": "https://litellm.corp"}
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=gateway) as mg:
        [first, *_] = mg.skills.explain("skill.analysis", call)["targets"]
    # (the docs write the catalog's folder as CATALOG)
    reason = first["policy"]["reason"].replace(str(CATALOG), "CATALOG")
    assert first["policy"]["allowed"] is False and reason == policy_said.group(1)


def test_a_capitalised_name_with_a_misspelt_date_is_told_the_real_snapshot_not_itself_lowered(tmp_path: Path):
    # Before: genai-prices matches claude-3-haiku by the name's beginning, so "Claude-3-Haiku-2024030" (its date a digit
    # short) was told "did you mean 'claude-3-haiku-2024030'?": the same misspelling, lowered, which Anthropic's API
    # has no more than the one written. Now told the snapshot the catalog names, or nothing.
    assert in_another_case({}, "anthropic", "Claude-3-Haiku-2024030") is None  # no catalog: nothing to tell
    assert in_another_case({}, "anthropic", "Claude-3-Haiku-20240307") == "claude-3-haiku-20240307"  # a date's shape
    assert nearest_model("claude-3-haiku-2024030", ["claude-3-haiku-20240307", "claude-3-opus-20240229"]) == (
        "claude-3-haiku-20240307"
    )
    assert nearest_model("claude-3-haiku-202403071", ["claude-3-haiku-20240307"]) == "claude-3-haiku-20240307"
    # a size or a version at the end is no date (llama3-8192, gemini-1.5-pro-002), and another model's date is no
    # misspelling of this one's
    assert nearest_model("claude-3-opus-2024030", ["claude-3-haiku-20240307"]) is None
    call = {"data": "x", "model_config": {"model": "Claude-3-Haiku-2024030"}}
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=ENV) as mg:  # the default routing names the snapshot
        with pytest.raises(E.PayloadError) as refused:
            mg.skills.explain("skill.analysis", call)
    message = refused.value.message
    assert message.startswith("model_config: 'Claude-3-Haiku-2024030' is no anthropic model: "), message
    assert message.endswith("did you mean 'claude-3-haiku-20240307'?"), message


@pytest.mark.parametrize(
    ("written", "meant"),
    [("Claude-3-5-Sonet", "claude-3-5-sonnet-20241022"), ("Claude-3-Haiku-2024030", "claude-3-haiku-20240307")],
)
def test_a_capitalised_misspelling_in_magsag_model_is_told_the_model_it_nearly_is(
    tmp_path: Path, cli_env, capsys, monkeypatch, written, meant
):
    # Before: MAGSAG_MODEL=Claude-3-5-Sonet was told nothing (the check of the variable had no catalog to compare it
    # with): every call went on to a policy's refusal or the vendor's 404, and `magsag doctor` listed no problem of it,
    # while model_config's {"model": "Claude-3-5-Sonet"} was told "did you mean 'claude-3-5-sonnet-20241022'?".
    import json

    from magsag_mcp.cli import main

    env = {**ENV, "MAGSAG_MODEL": written}
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=env) as mg:
        with pytest.raises(E.ConfigError) as refused:
            mg.skills.explain("skill.analysis", {"data": "x"})
    said = (
        f"MAGSAG_MODEL={written!r} is no anthropic model: anthropic's API takes model names as written, case by case; "
        f"set MAGSAG_MODEL={meant}"
    )
    assert refused.value.message == said
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["doctor", "--json"]) == 1
    assert said in json.loads(capsys.readouterr().out)["problems"]
