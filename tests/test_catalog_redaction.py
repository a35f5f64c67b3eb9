"""A key pasted into the wrong field of a catalog file (a limit, a price, an agent's skills): the problem that names
the field quotes the value it refused, and ``magsag catalog validate`` printed it whole, into a terminal's scrollback
or a CI log, where every other message is redacted."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp.catalog import validate_catalog
from magsag_mcp.cli import main
from magsag_mcp.doctor import diagnose

#: the environment's Azure key (32 hex digits: nothing shaped like a key, known only as the environment's)
ENV_KEY = "7d2a9c4e1b8f5a0d3e6c9b2f7a4d1e8c"
#: a key of no variable's, known by its shape only
SHAPED_KEY = "sk-proj-Zq8Wm2Xc4Vb6Nq1Lp3Kr5Ts7Yd9Hf0Ga2Jc4Be6"


def _pasted(catalog: Path) -> Path:
    """``catalog`` with the keys pasted where a value of another kind goes."""
    (catalog / "policies" / "model_governance.yaml").write_text(
        f"policies:\n  - name: caps\n    thresholds: {{max_cost_per_call_usd: '{ENV_KEY}'}}\n"
    )
    (catalog / "prices.yaml").write_text(f'"compat:my-model": {{input: "Bearer {SHAPED_KEY}", output: 1.5}}\n')
    return catalog


def test_catalog_validate_prints_no_key_pasted_into_a_field(catalog_copy: Path, monkeypatch, capsys):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", ENV_KEY)
    assert main(["catalog", "validate", "--catalog", str(_pasted(catalog_copy))]) == 1
    out = capsys.readouterr().out
    assert ENV_KEY[:12] not in out and SHAPED_KEY[8:20] not in out, out
    # the problem still names the field and the fix
    assert "max_cost_per_call_usd: '[REDACTED]' is not a number; write the amount as a plain number" in out
    assert "compat:my-model.input: '[REDACTED]' is not a number" in out


def test_validate_catalog_knows_the_keys_of_the_env_it_is_given(catalog_copy: Path):
    problems = validate_catalog(_pasted(catalog_copy), env={"AZURE_OPENAI_API_KEY": ENV_KEY})
    said = "\n".join(problems)
    assert ENV_KEY[:12] not in said and SHAPED_KEY[8:20] not in said, said
    assert sum("[REDACTED]" in p for p in problems) == 2, problems


@pytest.mark.anyio
async def test_doctor_lists_a_problem_quoting_a_key_once(catalog_copy: Path, tmp_path: Path):
    # a catalog that cannot be loaded: doctor lists validate_catalog's problems and what refused the catalog, each
    # once. The latter came unredacted, and the one quoting a key was listed twice (each redacted on its own)
    agent = catalog_copy / "agents" / "my-mag.yaml"
    agent.write_text(
        agent.read_text().replace("skills: [skill.summarization]", f"skills: [skill.summarization, {ENV_KEY}]")
    )
    report = await diagnose(catalog_copy, tmp_path / "l.db", env={"AZURE_OPENAI_API_KEY": ENV_KEY})
    quoting = [p for p in report["problems"] if "uses unknown skill" in p]
    assert len(quoting) == 1 and "'[REDACTED]'" in quoting[0], report["problems"]
