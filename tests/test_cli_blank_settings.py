"""A setting of spaces alone (an env file's `MAGSAG_MODEL= `) is said to be blank, with what to set it to or to unset
it, as MAGSAG_DB's is: MAGSAG_PROVIDER=" " was "unknown provider ' '", MAGSAG_MODEL=" " "empty target: write
'provider:model'", and MAGSAG_CATALOG=" " "remove the spaces around it:  is the catalog directory" (the folder left
when they are removed being '', which is '.')."""

from __future__ import annotations

import json

import pytest

from magsag_mcp.cli import main


@pytest.mark.parametrize(
    ("name", "said"),
    [
        (
            "MAGSAG_PROVIDER",
            "MAGSAG_PROVIDER='  ' is blank; set it to a provider's name (e.g. openai), or unset it to route as the "
            "catalog's routing says",
        ),
        (
            "MAGSAG_MODEL",
            "MAGSAG_MODEL='  ' is blank; set it to a model (e.g. openai:gpt-4o), or unset it to route as the "
            "catalog's routing says",
        ),
        (
            "MAGSAG_CATALOG",
            "MAGSAG_CATALOG='  ' is blank; set it to a catalog directory, or unset it for ./catalog or the bundled "
            "catalog",
        ),
    ],
)
def test_a_setting_of_spaces_alone_is_said_to_be_blank(cli_env, capsys, monkeypatch, name: str, said: str):
    monkeypatch.setenv(name, "  ")
    assert main(["explain", "skill.coding", "--payload", '{"task": "x"}']) == 2
    assert json.loads(capsys.readouterr().err)["error"]["message"] == said


@pytest.mark.parametrize("name", ["MAGSAG_PROVIDER", "MAGSAG_MODEL"])
def test_doctor_says_a_blank_routing_setting_is_blank(cli_env, capsys, monkeypatch, name: str):
    monkeypatch.setenv(name, " ")
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert f"{name}=' ' is blank; set it to " in out, out


def test_an_empty_routing_setting_is_unset_as_ever(cli_env, capsys, monkeypatch):
    monkeypatch.setenv("MAGSAG_PROVIDER", "")
    monkeypatch.setenv("MAGSAG_MODEL", "")
    assert main(["explain", "skill.coding", "--payload", '{"task": "x"}']) == 0
    assert json.loads(capsys.readouterr().out)["skill"] == "skill.coding"


@pytest.mark.parametrize(
    ("name", "said"),
    [
        (
            "MAGSAG_CALL_DEADLINE",
            "MAGSAG_CALL_DEADLINE='  ' is blank; set it to e.g. 300.0 (from 0.001 to 21600), or unset it for its "
            "default, 300.0",
        ),
        (
            "MAGSAG_MAX_RETRIES",
            "MAGSAG_MAX_RETRIES='  ' is blank; set it to e.g. 2 (from 0 to 10), or unset it for its default, 2",
        ),
    ],
)
def test_a_number_setting_of_spaces_alone_is_said_to_be_blank(cli_env, capsys, monkeypatch, name: str, said: str):
    # it was "MAGSAG_CALL_DEADLINE='  ' is not a number; set it to e.g. 300.0 ...", as if a value had been meant
    monkeypatch.setenv(name, "  ")
    assert main(["explain", "skill.coding", "--payload", '{"task": "x"}']) == 2
    assert json.loads(capsys.readouterr().err)["error"]["message"] == said


def test_a_blank_model_setting_leaves_a_call_naming_its_own_model_as_it_was(cli_env, capsys, monkeypatch):
    # a call naming its model never reads MAGSAG_MODEL: one of spaces alone was refused before it, though it was
    # taken before the blank setting was said so (refused only where the model is read from it)
    monkeypatch.setenv("MAGSAG_MODEL", "  ")
    payload = {"task": "x", "model_config": {"model": "openai:gpt-4o"}}
    assert main(["explain", "skill.coding", "--payload", json.dumps(payload)]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["skill"] == "skill.coding"
