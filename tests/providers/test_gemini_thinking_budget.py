"""A Gemini target's ``params.thinkingConfig.thinkingBudget``: thoughts are billed as output (thoughtsTokenCount,
beside candidatesTokenCount), and the guide writes the budget apart from maxOutputTokens, which a model may
overflow; the wire has been seen counting thoughts against maxOutputTokens. Its reservation held max_tokens alone, as
if the thoughts fitted in it, and the budget went to the wire unchecked (-5, 1.5, "high", 10**30, or past what its
model thinks). Now a reservation holds max_tokens and the budget asked on top (the larger reading), and a budget that
cannot be sent is refused where the target is read, saying what was wrong and the fix."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.service import Service
from magsag_mcp.targets import parse_target
from tests.pricing_audit import catalog_without_policies

from .fakes import FakeGemini

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"
FIX = "give a whole number of tokens (e.g. 1024), 0 for no thinking or -1 to let the model choose"


def _target(budget, model: str = "gemini-2.5-flash", config: str = "thinkingConfig", name: str = "thinkingBudget"):
    return parse_target({"provider": "google", "model": model, "params": {config: {name: budget}}})


@pytest.mark.parametrize(
    ("budget", "said"),
    [
        (-5, "params.thinkingConfig.thinkingBudget is -5: a budget is no fewer than 0 tokens (-1 alone is dynamic)"),
        (1.5, "params.thinkingConfig.thinkingBudget must be a whole number of thinking tokens, not 1.5"),
        (float("nan"), "params.thinkingConfig.thinkingBudget must be a whole number of thinking tokens, not nan"),
        ("high", "params.thinkingConfig.thinkingBudget must be a whole number of thinking tokens, not a str"),
        (True, "params.thinkingConfig.thinkingBudget must be a whole number of thinking tokens, not a bool"),
        (
            2**31,
            "params.thinkingConfig.thinkingBudget is 2147483648, past 2,147,483,647 (the spec's 32-bit integer), and "
            "it is reserved as output tokens",
        ),
        (10**5000, "params.thinkingConfig.thinkingBudget is a number of more than 24 digits, past 2,147,483,647"),
    ],
    ids=["negative", "fraction", "nan", "text", "boolean", "past-int32", "thousands-of-digits"],
)
def test_a_budget_that_cannot_be_sent_is_refused_with_the_fix(budget, said):
    for model in ("gemini-2.5-flash", "gemini-3-pro-preview"):
        with pytest.raises(E.ConfigError) as refused:
            _target(budget, model)
        assert said in str(refused.value) and FIX in str(refused.value), str(refused.value)


def test_a_budget_past_what_its_model_thinks_is_refused_naming_the_most():
    # the thinking guide's table: 24,576 for 2.5 Flash and Flash-Lite, 32,768 for 2.5 Pro
    for model, most in (("gemini-2.5-flash", 24576), ("gemini-2.5-flash-lite", 24576), ("gemini-2.5-pro", 32768)):
        with pytest.raises(E.ConfigError) as refused:
            _target(most + 1, model)
        assert str(refused.value) == (
            f"params.thinkingConfig.thinkingBudget is {most + 1}, past {most:,}, the most {model} thinks (Gemini's "
            f"thinking guide); give at most {most:,}, or -1 to let the model choose"
        )
        assert _target(most, model).param("thinkingConfig") == {"thinkingBudget": most}
    # the proto names, which Google's parser reads too, are checked the same
    with pytest.raises(E.ConfigError, match=r"params\.thinking_config\.thinking_budget is 24577, past 24,576"):
        _target(24577, config="thinking_config", name="thinking_budget")
    # a model the table does not name: the spec's bound alone
    assert _target(100_000, "gemini-3-pro-preview").param("thinkingConfig") == {"thinkingBudget": 100_000}


def test_a_thinking_config_that_is_no_mapping_is_refused():
    with pytest.raises(
        E.ConfigError, match=r"params.thinkingConfig must be a mapping such as \{thinkingBudget: 1024\}"
    ):
        parse_target({"provider": "google", "model": "gemini-2.5-flash", "params": {"thinkingConfig": 1024}})


@pytest.mark.parametrize("budget", [-1, 0, 512])
def test_the_budgets_gemini_takes_are_taken(budget):
    assert _target(budget).param("thinkingConfig") == {"thinkingBudget": budget}


async def _reservation(svc: Service, params: dict | None) -> D:
    config = {"provider": "google", "model": "gemini-2.5-flash", "max_tokens": 1000, **({"params": params} or {})}
    status = await svc.check_budget(skill="skill.analysis", model_config=config)
    return D(status["call"]["reservation_usd"])


async def test_the_budget_is_reserved_as_output_on_top_of_max_tokens(tmp_path: Path):
    async with await Service.open(catalog=catalog_without_policies(tmp_path), db=tmp_path / "l.db", env={}) as svc:
        plain = await _reservation(svc, None)
        # gemini-2.5-flash: $2.50 a million output tokens (thoughts included): 2,048 more of them is $0.00512
        thinking = await _reservation(svc, {"thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": False}})
        assert thinking - plain == 2048 * D("2.50") / 1_000_000 == D("0.00512")
        # the proto names reserve the same
        assert await _reservation(svc, {"thinking_config": {"thinking_budget": 2048}}) == thinking
        # no thinking, and dynamic thinking (no number asked: maxOutputTokens bounds it on the wire), add none
        assert await _reservation(svc, {"thinkingConfig": {"thinkingBudget": 0}}) == plain
        assert await _reservation(svc, {"thinkingConfig": {"thinkingBudget": -1}}) == plain


async def test_a_call_limit_the_thoughts_pass_refuses_before_the_wire_and_one_they_fit_is_priced_exactly(
    tmp_path: Path, serve
):
    fake = FakeGemini(KEY)
    url = await serve(fake)
    env = {"GEMINI_API_KEY": KEY, "GEMINI_BASE_URL": url}
    catalog = catalog_without_policies(tmp_path)
    params = {"thinkingConfig": {"thinkingBudget": 8192}}
    config = {"provider": "google", "model": "gemini-2.5-flash", "max_tokens": 1000, "params": params}
    async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env=env) as svc:
        plain = await _reservation(svc, None)
        held = await _reservation(svc, params)
        assert held - plain == D("0.02048")  # 8,192 thoughts at $2.50 a million
    # a call limit between the two: max_tokens alone fits it, the thoughts asked for do not
    (catalog / "policies").mkdir()
    limit = (plain + held) / 2
    (catalog / "policies" / "model_governance.yaml").write_text(
        f"policies:\n  - name: cap\n    thresholds:\n      max_cost_per_call_usd: {limit}\n"
    )
    async with await Service.open(catalog=catalog, db=tmp_path / "l2.db", env=env) as svc:
        with pytest.raises(E.AllTargetsFailed) as refused:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config})
        said = str(refused.value)
        assert (
            "9192 output tokens allowed, 8192 of them for the thoughts of params.thinkingConfig.thinkingBudget" in said
        )
        assert "lower max_tokens, lower params.thinkingConfig.thinkingBudget or choose a cheaper model" in said
        assert fake.requests == []  # refused before anything was sent
    # under a limit they fit, the answer's thoughts are billed as output: (12 prompt tokens x $0.30 + (20 + 6,000)
    # output tokens x $2.50) a million = $0.0000036 + $0.01505 = $0.0150536
    (catalog / "policies" / "model_governance.yaml").write_text(
        f"policies:\n  - name: cap\n    thresholds:\n      max_cost_per_call_usd: {held + D('0.001')}\n"
    )
    fake.queue(
        {"text": "ok", "usage": {"promptTokenCount": 12, "candidatesTokenCount": 20, "thoughtsTokenCount": 6000}}
    )
    async with await Service.open(catalog=catalog, db=tmp_path / "l3.db", env=env) as svc:
        result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config}, run_id="r-think")
        [run] = await svc.query_runs({"run_id": "r-think"})
    assert fake.violations == []
    assert fake.requests[-1]["body"]["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 8192}
    [row] = run["attempts"]
    assert (row["input_tokens"], row["output_tokens"], row["reasoning_tokens"]) == (12, 6020, 6000)
    assert D(row["cost_usd"]) == D("0.0150536") and result.cost_usd == D("0.0150536")


@pytest.mark.parametrize(
    ("params", "said"),
    [
        (
            {"thinkingConfig": {"thinkingBudget": 0}, "thinking_config": {"thinking_budget": 20000}},
            "params gives both thinkingConfig and thinking_config, two names of one field (Gemini's JSON and proto "
            "names), and only one of them would be sent; give thinkingConfig alone",
        ),
        (
            {"thinkingConfig": {"thinkingBudget": 0, "thinking_budget": 2**40}},
            "params.thinkingConfig gives both thinkingBudget and thinking_budget, two names of one field (Gemini's "
            "JSON and proto names), and only one of them would be sent; give thinkingBudget alone",
        ),
    ],
    ids=["config-by-both-names", "budget-by-both-names"],
)
def test_a_budget_given_by_both_its_names_is_refused_not_reserved_by_one_and_sent_by_the_other(params, said):
    # the body carries one (the provider writes the last of thinkingConfig's spellings), while the reservation read
    # the first: a budget of 0 reserved nothing and 20,000 thoughts went to the wire; within one config the second
    # name went to the wire unchecked (2**40)
    for model in ("gemini-2.5-flash", "gemini-3-pro-preview"):
        with pytest.raises(E.ConfigError) as refused:
            parse_target({"provider": "google", "model": model, "params": params})
        assert str(refused.value) == said
