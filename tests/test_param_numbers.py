"""A target's numeric params at their edges (a call's model_config.params and a catalog target's alike): JSON and YAML
read an integer of any size, Python's json reads NaN and Infinity, and the Python API takes any float.
params.temperature of 10**5000 raised ValueError where its refusal quoted it (a bug's error, "unexpected ValueError
in magsag-mcp"), and top_p, top_k, seed and the penalties took NaN, an infinity or a 5,000-digit integer as given:
the body carried NaN or Infinity (no JSON) to the vendor, which refused the call after it was admitted, or writing it
raised. Each is refused where the target is read, saying what was given, the range and the fix."""

from __future__ import annotations

import pytest

from magsag_mcp import errors as E
from magsag_mcp.service import Service
from magsag_mcp.targets import parse_target
from tests.pricing_audit import catalog_without_policies

pytestmark = pytest.mark.anyio
HUGE = 10**5000
NAN, INF = float("nan"), float("inf")
BIG = "a number of more than 24 digits"


def _refusal(params: dict) -> str:
    with pytest.raises(E.ConfigError) as refused:
        parse_target({"provider": "openai", "model": "gpt-4o", "params": params})
    return str(refused.value)


@pytest.mark.parametrize(
    ("key", "value", "said"),
    [
        ("temperature", HUGE, f"params.temperature must be a number between 0 and 2, got {BIG}"),
        ("temperature", NAN, "params.temperature must be a number between 0 and 2, got nan"),
        (
            "top_p",
            HUGE,
            f"params.top_p must be a number between 0 and 1 (the probability mass sampled from), got {BIG}",
        ),
        ("top_p", NAN, "params.top_p must be a number between 0 and 1 (the probability mass sampled from), got nan"),
        ("topP", 1.5, "params.topP must be a number between 0 and 1 (the probability mass sampled from), got 1.5"),
        ("top_k", INF, "params.top_k must be a whole number of tokens, e.g. 40 (-1: none, as vLLM takes it), got inf"),
        ("topK", -1, "params.topK must be a whole number of tokens of 0 or more, e.g. 40, got -1"),
        ("seed", HUGE, f"params.seed must be a whole number of at most 64 bits, e.g. 7, got {BIG}"),
        ("seed", 2**63, "params.seed must be a whole number of at most 64 bits, e.g. 7, got 9223372036854775808"),
        ("seed", 7.5, "params.seed must be a whole number of at most 64 bits, e.g. 7, got 7.5"),
    ],
    ids=lambda v: "huge" if v is HUGE else None,  # (str() of it raises: pytest's own id)
)
def test_a_number_out_of_its_params_range_is_said_with_the_range(key, value, said):
    assert _refusal({key: value}) == said


@pytest.mark.parametrize("key", ["frequency_penalty", "presence_penalty", "presencePenalty", "top_logprobs"])
@pytest.mark.parametrize("value", [NAN, INF, -INF], ids=["nan", "inf", "-inf"])
def test_nan_or_an_infinity_in_any_param_is_refused(key, value):
    assert _refusal({key: value}) == (
        f"params.{key} is {value!r}: JSON has no number for NaN or an infinity, so no request can carry it; give a "
        "finite number"
    )


def test_a_number_deep_in_a_param_is_refused_where_it_is():
    assert _refusal({"logit_bias": {"50256": -HUGE}}) == (
        f"params.logit_bias.50256 is {BIG}, past what a 64-bit integer holds (9,223,372,036,854,775,807), the most "
        "any vendor reads; give a smaller number"
    )
    assert _refusal({"speechConfig": {"voices": [1, NAN]}}).startswith("params.speechConfig.voices[1] is nan: ")


def test_a_key_of_thousands_of_digits_is_refused_by_its_size_not_a_bugs_error():
    # a key is written as text (its path in a refusal, and the body's JSON): one of 5,000 digits raised ValueError
    # ("Exceeds the limit (4300 digits) for integer string conversion") out of the check of the numbers
    assert _refusal({"logit_bias": {HUGE: 1}}) == (
        f"params.logit_bias has a key of {BIG}, past what a 64-bit integer holds; give a smaller one"
    )
    # a capability's name the same, where it is no capability
    assert _refusal({"capabilities": {HUGE: True}}).startswith(
        f"params.capabilities.{BIG} is not a capability; known: ['gif_images',"
    )
    said = _refusal({"capabilities": {"k" * 10_000: True}})
    assert said.startswith("params.capabilities.(a key of 10,000 characters) is not a capability; known: "), said
    # a long key on the way to a refused number is said by its length, not written whole
    said = _refusal({"extra": {"k" * 10_000: NAN}})
    assert "k" * 200 not in said and said.startswith("params.extra.(a key of 10,000 characters) is nan: "), said


def test_a_refusal_quoting_a_value_holding_a_huge_number_says_it_by_its_size():
    # repr() of such a value raised ValueError where stop's, api's or capabilities' refusal quoted it
    assert _refusal({"stop": [HUGE]}).endswith("got (a list holding a number of thousands of digits)")
    assert _refusal({"api": HUGE}).endswith(f"got {BIG}")
    assert _refusal({"capabilities": {"tools": HUGE}}).endswith(f"must be true or false, got {BIG}")


@pytest.mark.parametrize(
    "params", [{"temperature": 0.7, "top_p": 1, "top_k": -1, "seed": -(2**63), "frequency_penalty": 1e300}]
)
def test_numbers_in_range_are_taken(params):
    assert dict(parse_target({"provider": "openai", "model": "gpt-4o", "params": params}).params) == params


async def test_a_calls_params_temperature_of_thousands_of_digits_is_a_payload_error_not_a_bug(tmp_path):
    async with await Service.open(catalog=catalog_without_policies(tmp_path), db=tmp_path / "l.db", env={}) as svc:
        config = {"provider": "fake", "model": "echo", "params": {"temperature": HUGE}}
        with pytest.raises(E.PayloadError) as refused:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config})
        assert f"params.temperature must be a number between 0 and 2, got {BIG}" in str(refused.value)
        for value in (NAN, INF):
            config = {"provider": "fake", "model": "echo", "params": {"frequency_penalty": value}}
            with pytest.raises(E.PayloadError, match="JSON has no number for NaN or an infinity"):
                await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config})
