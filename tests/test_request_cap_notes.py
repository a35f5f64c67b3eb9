"""A ``request_caps`` entry that matches no target routing names: `magsag catalog validate` and `magsag doctor` give
a note naming the entry, its file and the routed target nearest it. Before, a misspelt model (or a glob reaching none
of the models meant) was read, kept and enforced on nothing, and the account's limit met by 429s as before, silently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magsag_mcp.catalog import load_catalog
from magsag_mcp.catalog_cap_checks import request_cap_notes, unreached_request_caps
from magsag_mcp.cli import main
from tests.catalog_helpers import write

SKILL = "id: skill.echo\ndescription: d\ntask_type: echo\nprompt:\n  user: '{text}'\nmax_tokens: 16\n"
ROUTING = """\
default: [openai:gpt-4o-mini]
tiers:
  economy: [anthropic:claude-3-haiku-20240307]
routes:
  - match: echo
    chain: [local:Llama-3.1-8B-Instruct, openai:gpt-4o-mini]
provider_defaults:
  google: gemini-1.5-pro
"""


def catalog(root: Path, caps: str) -> Path:
    write(root, "skills/echo.yaml", SKILL)
    write(root, "routing/default.yaml", ROUTING)
    write(root, "routing/caps.yaml", f"request_caps:\n{caps}")
    return root


def test_an_entry_of_a_routed_target_exact_or_glob_gets_no_note(tmp_path: Path):
    caps = (
        "  openai:gpt-4o-mini: {max_concurrent: 4}\n"  # the default chain's, a route's
        "  'anthropic:claude-3-haiku*': {requests_per_minute: 50}\n"  # a tier's, by a glob
        "  'local:*': {max_concurrent: 2}\n"  # a route's
        "  google:gemini-1.5-pro: {requests_per_minute: 60}\n"  # provider_defaults'
    )
    assert unreached_request_caps(load_catalog(catalog(tmp_path, caps), env={})) == []


@pytest.mark.parametrize(
    ("entry", "said"),
    [
        (  # a slip of the keys in the model: the target it nearly names
            "openai:gpt-4o-mni",
            "request_caps.openai:gpt-4o-mni: 'openai:gpt-4o-mni' matches no target of routing (its default chain, "
            "tiers, routes or provider_defaults), so it caps only calls that name such a model themselves; did you "
            "mean 'openai:gpt-4o-mini'?",
        ),
        (  # a glob reaching none of the models meant (matched case by case)
            "'local:llama*'",
            "request_caps.local:llama*: 'local:llama*' matches no target of routing (its default chain, tiers, "
            "routes or provider_defaults), so it caps only calls that name such a model themselves; did you mean "
            "'local:Llama-3.1-8B-Instruct'?",
        ),
        (  # not a slip, yet the nearest of its provider's targets is named
            "anthropic:claude-3-5-sonnet-20241022",
            "did you mean 'anthropic:claude-3-haiku-20240307'?",
        ),
        (  # a deployment's name under another provider: the target of that name
            "azure:gpt-4o-mini",
            "'azure:gpt-4o-mini' matches no target of routing (its default chain, tiers, routes or provider_defaults)"
            ", so it caps only calls that name such a model themselves; did you mean 'openai:gpt-4o-mini'?",
        ),
        ("'compat:*'", "so it caps only calls that name such a model themselves; routing names no compat target"),
    ],
)
def test_an_entry_matching_no_routed_target_is_a_note_naming_it_its_file_and_the_nearest(
    tmp_path: Path, entry: str, said: str
):
    root = catalog(tmp_path, f"  {entry}: {{max_concurrent: 4}}\n  openai:gpt-4o-mini: {{max_concurrent: 8}}\n")
    [note] = unreached_request_caps(load_catalog(root, env={}))
    assert note.startswith(f"{root / 'routing' / 'caps.yaml'}: request_caps.") and said in note, note


def test_catalog_validate_says_it_as_a_note_and_passes(tmp_path: Path, capsys):
    root = catalog(tmp_path, "  openai:gpt-4o-mni: {requests_per_minute: 500}\n")
    assert main(["catalog", "validate", "--catalog", str(root)]) == 0
    out = capsys.readouterr().out
    assert f"{root}: ok" in out
    assert f"note: {root / 'routing' / 'caps.yaml'}: request_caps.openai:gpt-4o-mni: 'openai:gpt-4o-mni' " in out
    assert "did you mean 'openai:gpt-4o-mini'?" in out


def test_a_catalog_that_cannot_be_loaded_gives_its_problems_not_this_note(tmp_path: Path):
    root = catalog(tmp_path, "  openai:gpt-4o-mni: {tpm: 500}\n")
    assert request_cap_notes(root, env={}) == []


def test_doctor_says_it_as_a_note(tmp_path: Path, capsys, cli_env, monkeypatch):
    root = catalog(tmp_path / "c", "  openai:gpt-4o-mni: {requests_per_minute: 500}\n")
    monkeypatch.setenv("MAGSAG_CATALOG", str(root))
    main(["doctor", "--json"])
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert any("request_caps.openai:gpt-4o-mni" in n and "did you mean 'openai:gpt-4o-mini'?" in n for n in notes)
