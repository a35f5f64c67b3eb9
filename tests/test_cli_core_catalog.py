"""`magsag catalog skills` / `validate`, and `magsag doctor` of a catalog with problems or that cannot load."""

from __future__ import annotations

import json

import pytest

from magsag_mcp.cli import main
from tests.conftest import CATALOG


def test_catalog_skills_lists_each_skill_with_its_payload_fields(capsys):
    assert main(["catalog", "skills", "--catalog", str(CATALOG)]) == 0
    out = capsys.readouterr().out
    assert "skill.analysis  payload: data  (text)" in out
    assert main(["catalog", "skills", "--catalog", str(CATALOG), "--json"]) == 0
    skills = json.loads(capsys.readouterr().out)
    assert [s["id"] for s in skills] == sorted(s["id"] for s in skills)
    assert next(s for s in skills if s["id"] == "skill.analysis")["input_schema"]["required"] == ["data"]


def test_catalog_validate(cli_env, capsys, tmp_path):
    assert main(["catalog", "validate", "--catalog", str(CATALOG)]) == 0
    bad = tmp_path / "bad"
    (bad / "skills").mkdir(parents=True)
    (bad / "skills" / "x.yaml").write_text("id: skill.x\nprompt: [\n")
    assert main(["catalog", "validate", "--catalog", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "x.yaml: malformed YAML" in out and "no routing file defines a 'default' chain" in out
    assert f"{bad}: 2 problems\n" in out
    (bad / "routing").mkdir()
    (bad / "routing" / "default.yaml").write_text("default: ['fake:echo']\n")
    assert main(["catalog", "validate", "--catalog", str(bad)]) == 1
    assert f"{bad}: 1 problem\n" in capsys.readouterr().out  # "1 problem(s)"
    assert main(["catalog", "skills", "--catalog", str(bad)]) == 2  # a command that needs the catalog says it too
    assert f"the catalog at {bad} has 1 problem; run 'magsag catalog validate'" in capsys.readouterr().err


def test_doctor_lists_the_catalogs_problems(cli_env, capsys, monkeypatch, tmp_path):
    # Before: with the guide's policy in a copy of the catalog (pii_processing may use only llama3.1:70b, which
    # its allowed_models refuse: every such call fails), `magsag catalog validate` exited 1 and `magsag doctor`
    # exited 0 without a word of it.
    import shutil

    cat = tmp_path / "catalog"
    shutil.copytree(CATALOG, cat, ignore=shutil.ignore_patterns("__pycache__"))
    (cat / "policies" / "model_governance.yaml").write_text(
        "policies:\n"
        "  - name: production_models\n"
        "    allowed_models: [gpt-4o, gpt-4o-mini, claude-3-5-sonnet-20241022]\n"
        "  - name: data_residency\n"
        "    requirements:\n"
        "      pii_processing: ['llama3.1:70b']\n"
    )
    assert main(["catalog", "validate", "--catalog", str(cat)]) == 1
    validated = [line.strip()[2:] for line in capsys.readouterr().out.splitlines()[1:]]
    assert main(["doctor", "--catalog", str(cat), "--json"]) == 1
    problems = json.loads(capsys.readouterr().out)["problems"]
    assert validated and all(p in problems for p in validated)
    assert main(["doctor", "--catalog", str(cat)]) == 1
    assert "data class 'pii_processing' may only use llama3.1:70b" in capsys.readouterr().out
    assert main(["doctor", "--catalog", str(CATALOG), "--json"]) == 0  # the shipped catalog has none


@pytest.mark.parametrize(
    ("path", "old", "new", "said"),
    [
        ("routing/default.yaml", "default:\n", "default: [openai:gpt-4o\n", "malformed YAML"),
        ("agents/data-analysis-sag.yaml", "skills: [skill.analysis]", "skills: [skill.nosuch]", "unknown skill"),
    ],
    ids=["bad-yaml", "agent-names-an-unknown-skill"],
)
def test_doctor_reports_a_catalog_that_cannot_be_loaded_as_problems_and_exits_1(
    cli_env, capsys, monkeypatch, catalog_copy, path, old, new, said
):
    # Before: exit 2 (bad input, argparse's code) with a JSON error on stderr and no report at all: the providers,
    # the ledger and the network went undiagnosed by the command run to diagnose, until the catalog was fixed.
    file = catalog_copy / path
    assert old in file.read_text()
    file.write_text(file.read_text().replace(old, new, 1))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789")
    assert main(["catalog", "validate", "--catalog", str(catalog_copy)]) == 1
    validated = [line.strip()[2:] for line in capsys.readouterr().out.splitlines()[1:]]
    assert len(validated) == 1 and said in validated[0] and validated[0].startswith(str(file))
    assert main(["doctor", "--catalog", str(catalog_copy), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["problems"] == validated  # each with its file and what to fix, as `catalog validate` lists them
    assert report["providers"]["openai"]["unavailable"] is None and report["providers"]["anthropic"]["unavailable"]
    assert any("cannot be loaded" in note for note in report["notes"])
    assert main(["doctor", "--catalog", str(catalog_copy)]) == 1
    out, err = capsys.readouterr()
    assert f"problem: {validated[0]}" in out and "  openai " in out and err == ""


def test_validate_and_doctor_list_what_a_catalog_folder_here_without_skills_lacks(cli_env, capsys, monkeypatch):
    # The guide's first step in a new project, catalog/policies/model_governance.yaml alone: every command refuses such
    # a ./catalog (exit 2), rightly, but `catalog validate` and `doctor` did too, with the JSON error of bad input,
    # where docs/cli.md says they list a catalog that cannot be loaded as a problem, exit 1, doctor beside the
    # providers, the ledger and the network. Now they check it as they check one named with --catalog
    work = cli_env / "work"
    (work / "catalog" / "policies").mkdir(parents=True)
    (work / "catalog" / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: production_models\n    allowed_models: [gpt-4o-mini]\n"
    )
    monkeypatch.chdir(work)
    monkeypatch.delenv("MAGSAG_CATALOG")
    assert main(["catalog", "validate"]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{work / 'catalog'}: ") and "no skills/ folder" in out and "cp -rn " in out
    assert main(["doctor", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["catalog"] == str(work / "catalog")
    assert any("no skills/ folder" in p and "cp -rn " in p for p in report["problems"])
    assert "openai" in report["providers"]  # the rest of the report is made all the same
    assert any("cannot be loaded" in n for n in report["notes"])
    # every other command still refuses it, as bad input, naming the fix
    assert main(["invoke", "skill.analysis", "--payload", '{"data": "x"}']) == 2
    assert "no skills/ folder" in capsys.readouterr().err
