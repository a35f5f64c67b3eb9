"""Anthropic's ``speed`` (fast mode) is a field of its beta Messages API alone, billed at premium rates no price here
knows: a target asking for it is refused before anything is sent, saying what to do instead."""

from __future__ import annotations

import pytest

from magsag_mcp.catalog import load_catalog
from magsag_mcp.errors import ConfigError, PayloadError
from magsag_mcp.routing import plan_call
from magsag_mcp.targets import parse_target


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


_SAID = (
    "params.speed 'fast': Anthropic takes speed only in its fast-mode beta (anthropic-beta: fast-mode-2026-02-01), "
    "which magsag does not send, and bills fast mode at premium rates that no price here knows, so budgets would count "
    "too little; leave speed out (calls run at the standard speed)"
)


@pytest.mark.parametrize(
    "spec",
    [
        {"provider": "anthropic", "model": "claude-opus-4-6", "params": {"speed": "fast"}},
        {"provider": "claude", "model": "claude-opus-4-6", "params": {"speed": "fast"}},  # an alias
        {"model": "anthropic:claude-opus-4-6", "params": {"speed": "fast"}},
        {"model": "claude-opus-4-6", "params": {"speed": "fast"}},  # the provider inferred
    ],
)
def test_an_anthropic_target_asking_for_fast_mode_is_refused_with_what_to_do(spec):
    # It was passed into the Messages body without the beta header: the API refused the field after the call was
    # sent (and fast mode, were it sent with the beta, is billed at premium rates budgets would count as standard).
    with pytest.raises(ConfigError) as info:
        parse_target(spec)
    assert info.value.message == _SAID


def test_speed_standard_is_refused_too_as_no_field_of_the_messages_api_without_the_beta():
    with pytest.raises(ConfigError, match=r"params.speed 'standard': Anthropic takes speed only in its fast-mode"):
        parse_target({"model": "claude-opus-4-6", "params": {"speed": "standard"}})


def test_another_providers_speed_param_passes_through_as_any_vendor_param():
    # a compatible server's own field of that name is its business (magsag passes params through)
    target = parse_target({"provider": "compat", "model": "m", "params": {"speed": "fast"}})
    assert dict(target.params) == {"speed": "fast"}


def test_a_calls_model_config_asking_for_fast_mode_is_refused_before_sending(catalog):
    mc = {"model": "claude-opus-4-6", "max_tokens": 16, "params": {"speed": "fast"}}
    with pytest.raises(PayloadError, match=r"params.speed 'fast': Anthropic takes speed only in its fast-mode beta"):
        plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env={})


def test_a_routing_files_target_asking_for_fast_mode_is_a_problem_of_catalog_validate(catalog_copy, capsys):
    from magsag_mcp.cli import main

    routing = catalog_copy / "routing" / "default.yaml"
    text = routing.read_text()
    assert "  - anthropic:claude-3-5-sonnet-20241022\n" in text
    routing.write_text(
        text.replace(
            "  - anthropic:claude-3-5-sonnet-20241022\n",
            '  - {model: "anthropic:claude-3-5-sonnet-20241022", params: {speed: fast}}\n',
            1,
        )
    )
    assert main(["catalog", "validate", "--catalog", str(catalog_copy)]) == 1
    out = capsys.readouterr().out
    assert f"  - {routing}: default.1: {_SAID}\n" in out


def test_a_long_speed_is_refused_saying_its_length_not_quoted_whole():
    # A 10 KB value was written whole into the refusal (and so into the server's log line and catalog validate's
    # problems); past 100 characters its length is said instead, as the model's and a name's refusals do.
    with pytest.raises(ConfigError) as info:
        parse_target({"model": "claude-opus-4-6", "params": {"speed": "f" * 10_000}})
    assert info.value.message == _SAID.replace("'fast'", "of 10,000 characters")
    with pytest.raises(ConfigError) as info:
        parse_target({"model": "claude-opus-4-6", "params": {"speed": ["fast"] * 2_000}})
    assert info.value.message == _SAID.replace("'fast'", "(a list of 16,000 characters as written)")


def test_a_speed_of_100_characters_is_still_quoted():
    value = "f" * 98  # its repr, with the quotes, is 100 characters
    with pytest.raises(ConfigError) as info:
        parse_target({"model": "claude-opus-4-6", "params": {"speed": value}})
    assert info.value.message == _SAID.replace("'fast'", repr(value))
