"""Counts and lists in messages agree with how many there are: "1 attempt of unknown cost is", "schema migration
0015", "unknown key 'x'"; never "attempt(s)", "migration(s)", "task(s)", "skill(s)", "key(s)" or "option(s)" (see
magsag_mcp/plurals.py; a payload's unknown keys and fields: test_payload_typos)."""

from __future__ import annotations

import json
import shutil
import warnings
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from magsag_mcp.cli import main
from magsag_mcp.errors import ConfigError, InputError
from magsag_mcp.invoke_options import check_options
from magsag_mcp.ledger.copies import copy_note
from magsag_mcp.ledger.problems import newer_error
from magsag_mcp.ledger.run_scope import RunSpend
from magsag_mcp.observer import Observer, UnknownCostWarning
from magsag_mcp.plurals import agreeing, be, listed
from magsag_mcp.targets import parse_target
from tests.conftest import drop_provider_defaults

CATALOG = Path(__file__).resolve().parent.parent / "catalog"


def test_a_noun_agrees_with_one_and_with_two():
    assert (agreeing(1, "key"), agreeing(2, "key"), agreeing(0, "key")) == ("key", "keys", "keys")
    assert listed("schema migration", ["0015"]) == "schema migration 0015"
    assert listed("schema migration", ["0015", "0016"]) == "schema migrations 0015, 0016"
    assert (be(1), be(2)) == ("is", "are")


@pytest.mark.parametrize(
    ("unknown", "said"),
    [(["0099"], "it has schema migration 0099 that"), (["0098", "0099"], "it has schema migrations 0098, 0099 that")],
)
def test_a_newer_ledgers_migrations_are_counted(tmp_path: Path, unknown: list[str], said: str):
    message = newer_error(tmp_path / "l.db", unknown).message
    assert said in message and "(s)" not in message


@pytest.mark.parametrize(
    ("behind", "said"),
    [(["0020"], "lacks schema migration 0020 of this"), (["0019", "0020"], "lacks schema migrations 0019, 0020 of")],
)
def test_the_note_of_a_migrated_copy_counts_its_migrations(tmp_path: Path, behind: list[str], said: str):
    note = copy_note(SimpleNamespace(copied_from=tmp_path / "l.db", copy_reason=None, copy_behind=behind))
    assert note is not None and said in note and "(s)" not in note


@pytest.mark.parametrize(
    ("bounded", "unbounded", "said"),
    [
        (1, 0, "run r: 1 attempt of unknown cost is counted at its worst case ($0.5)"),
        (2, 0, "run r: 2 attempts of unknown cost are counted at their worst case ($0.5)"),
        (0, 1, "run r: 1 attempt used a model with no known price and is not in this figure"),
        (0, 2, "run r: 2 attempts used a model with no known price and are not in this figure"),
    ],
)
def test_the_observers_warnings_count_the_attempts_of_unknown_cost(bounded: int, unbounded: int, said: str):
    obs = Observer(None, None, run_id="r")  # type: ignore[arg-type]
    spend = RunSpend(Decimal("0.25"), Decimal("0.5"), bounded + unbounded, unbounded)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        obs._warn_if_unknown(spend)
    [warning] = seen
    assert warning.category is UnknownCostWarning
    assert str(warning.message).startswith(said), str(warning.message)


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"agnet": "a"}, "unknown option for invoke: 'agnet' (did you mean 'agent'?);"),
        ({"agnet": "a", "run": "r"}, "unknown options for invoke: 'agnet' (did you mean 'agent'?), 'run'"),
    ],
)
def test_unknown_invoke_options_are_counted(options: dict, said: str):
    with pytest.raises(InputError) as refused:
        check_options(options)
    assert refused.value.message.startswith(said), refused.value.message


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ({"model": "m", "base_ur": "x"}, "; unknown key 'base_ur' (did you mean 'base_url'?)"),
        ({"model": "m", "base_ur": "x", "zzz": 1}, "; unknown keys 'base_ur' (did you mean 'base_url'?), 'zzz'"),
    ],
)
def test_a_targets_unknown_keys_are_counted(spec: dict, said: str):
    with pytest.raises(ConfigError) as refused:
        parse_target(spec)
    assert refused.value.message.endswith(said), refused.value.message


def _doctor_problems(tmp_path: Path, capsys, monkeypatch, skills: list[str], **env: str) -> list[str]:
    """``magsag doctor``'s problems, of the shipped catalog with only ``skills`` (and no agents, which name others)
    and a routing without provider_defaults (as in test_cli_core)."""
    for name in ("MAGSAG_PROVIDER", "MAGSAG_MODEL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog, ignore=shutil.ignore_patterns("__pycache__"))
    drop_provider_defaults(catalog)
    shutil.rmtree(catalog / "agents")
    for skill in (catalog / "skills").glob("*.yaml"):
        if skill.stem not in skills:
            skill.unlink()
    monkeypatch.setenv("MAGSAG_CATALOG", str(catalog))
    monkeypatch.setenv("MAGSAG_DB", str(tmp_path / "cli.db"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    main(["doctor", "--json"])
    return json.loads(capsys.readouterr().out)["problems"]


@pytest.mark.parametrize(
    ("skills", "said"),
    [
        (["analysis", "summarization"], "names no google model for task 'summarization', so its calls fail unless"),
        (["analysis", "coding", "summarization"], "model for tasks 'coding', 'summarization', so their calls fail"),
    ],
)
def test_doctor_counts_the_tasks_a_provider_has_no_model_for(tmp_path, capsys, monkeypatch, skills, said):
    problems = _doctor_problems(tmp_path, capsys, monkeypatch, skills, MAGSAG_PROVIDER="google")
    assert any(said in p for p in problems), problems
    assert not any("(s)" in p for p in problems), problems


@pytest.mark.parametrize(
    ("skills", "said"),
    [
        (["analysis", "pii-redaction"], "no target it leaves skill skill.analysis can be called"),
        (["analysis", "coding", "pii-redaction"], "no target it leaves skills skill.analysis, skill.coding can be"),
    ],
)
def test_doctor_counts_the_skills_an_unconfigured_provider_leaves(tmp_path, capsys, monkeypatch, skills, said):
    problems = _doctor_problems(tmp_path, capsys, monkeypatch, skills, MAGSAG_PROVIDER="anthropic")
    assert any(said in p for p in problems), problems
    assert not any("(s)" in p for p in problems), problems
