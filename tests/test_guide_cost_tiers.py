"""The users' guide's Strategy 2 (cost-based selection): a call's cost tier (``context["tier"]``) beside a model
chosen above it, by the call itself or by ``MAGSAG_MODEL`` (the guide's priority order puts both above the
routing policy, whose tiers these are)."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp import Magsag
from magsag_mcp import errors as E

CATALOG = Path(__file__).resolve().parent.parent / "catalog"


@pytest.mark.parametrize(
    ("env", "context"),
    [
        ({}, {"tier": "gold", "preferred_model": "fake:echo"}),  # the call's own model
        ({"MAGSAG_PROVIDER": "fake", "MAGSAG_MODEL": "echo"}, {"tier": "gold"}),  # the environment's
    ],
)
def test_an_unknown_tier_is_refused_whichever_level_names_the_model(tmp_path: Path, env: dict, context: dict):
    """A tier the catalog does not define was refused only where the tier would choose the model: beside a model
    named above it the call went through, saying nothing of the misspelt tier (`gold`, `Economy`), so the caller
    never learnt that the tier it counted on for its costs is none. Refused now, as without the model."""
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=env) as mg:
        with pytest.raises(E.PayloadError) as called:
            mg.skills.invoke("skill.analysis", {"data": "Q3 revenue 1.2M"}, context=context)
        with pytest.raises(E.PayloadError) as explained:
            mg.skills.explain("skill.analysis", {"data": "Q3 revenue 1.2M"}, context=context)
    for refused in (called.value, explained.value):
        assert "unknown cost tier 'gold'" in refused.message, refused.message
        # the tiers there are, as words (they were a Python list's repr, "['economy', 'premium', 'standard']")
        assert "the catalog defines: economy, premium, standard" in refused.message and "[" not in refused.message


def test_a_tier_a_model_named_above_it_leaves_unused_is_said(tmp_path: Path):
    """The guide's Strategy 2 picks a model by cost tier, and its priority order puts the call's own model and
    MAGSAG_MODEL above the routing policy's tiers. A call asking for tier 'economy' beside either was sent to that
    model, the tier dropped without a word: the caller asked for the economy tier's cost and paid another model's.
    The call's warnings (and explain's) now say the tier was not used, which level chose the model, and the fix."""
    payload = {"data": "Q3 revenue 1.2M"}
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env={}) as mg:
        own = mg.skills.invoke("skill.analysis", payload, context={"tier": "economy", "preferred_model": "fake:echo"})
        configured = mg.skills.invoke(
            "skill.analysis", {**payload, "model_config": {"model": "fake:echo"}}, context={"tier": "economy"}
        )
        explained = mg.skills.explain(
            "skill.analysis", payload, context={"tier": "economy", "preferred_model": "fake:x"}
        )
    env = {"MAGSAG_PROVIDER": "fake", "MAGSAG_MODEL": "echo"}
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=env) as mg:
        by_env = mg.skills.invoke("skill.analysis", payload, context={"tier": "economy"})
    assert (own["provider"], own["model"]) == ("fake", "echo")
    said = "context.tier 'economy' was not used: the call's own model (context.preferred_model) goes above a cost tier"
    assert any(w.startswith(said) for w in own["warnings"]), own["warnings"]
    assert any(w.startswith(said) for w in explained["warnings"]), explained["warnings"]
    assert any("the call's own model (model_config.model)" in w for w in configured["warnings"]), configured["warnings"]
    assert (by_env["provider"], by_env["model"]) == ("fake", "echo")
    env_said = "context.tier 'economy' was not used: MAGSAG_MODEL='echo' in the environment goes above a cost tier"
    assert any(w.startswith(env_said) and "unset MAGSAG_MODEL" in w for w in by_env["warnings"]), by_env["warnings"]


def test_a_tier_that_chooses_the_model_says_nothing_of_it(tmp_path: Path):
    """The tier's own route: no warning about the tier (the warning is for a tier left unused only)."""
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"}) as mg:
        result = mg.skills.invoke("skill.analysis", {"data": "Q3"}, context={"tier": "economy"})
        explained = mg.skills.explain("skill.analysis", {"data": "Q3"}, context={"tier": "economy"})
    assert explained["rule"].startswith("tier:economy"), explained["rule"]
    assert result["provider"] == "fake"
    assert not any("context.tier" in w for w in [*result["warnings"], *explained["warnings"]])


@pytest.mark.parametrize("key", ["tier", "preferred_model", "data_class"])
@pytest.mark.parametrize("level", ["model_config", "context.llm_overrides"])
def test_a_context_key_among_the_models_settings_is_pointed_to_the_context_not_params(
    tmp_path: Path, key: str, level: str
):
    """The guide's Strategy 2 writes a tier, its Option 2 a preferred_model, beside the model's settings. In
    model_config (or llm_overrides) from Python or the CLI they were answered 'a vendor parameter goes in params:
    {"params": {"tier": ...}}', a fix that sends the word to the vendor (OpenAI refuses an argument it does not know;
    a local server drops it silently, a data_class with it: the class the caller meant to declare never applied).
    The MCP tools already point such a key to the context; Python and the CLI say the same now."""
    value = {"tier": "economy", "preferred_model": "gpt-4o-mini", "data_class": "pii_processing"}[key]
    if level == "model_config":
        payload, context = {"data": "Q3", "model_config": {"model": "fake:echo", key: value}}, None
    else:
        payload, context = {"data": "Q3"}, {"llm_overrides": {"model": "fake:echo", key: value}}
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env={}) as mg:
        with pytest.raises(E.PayloadError) as refused:
            mg.skills.invoke("skill.analysis", payload, context=context)
    message = refused.value.message
    assert f"{level} has unknown key {key!r} (it goes in the call's context: {{{key!r}: ...}}" in message, message
    assert "params" not in message.split("allowed:")[0], message
