"""`magsag flow summarize --top N`: the summarize_usage tool's and ``mg.summarize(top=)``'s cut of each per-key map
to its costliest N entries, said the same way (the notes naming the command's options); and `flow gate` refusing a
summary so cut, whose left-out models its allowed_models never saw."""

from __future__ import annotations

import json
import time
from pathlib import Path

import anyio
import pytest

from magsag_mcp.cli import main
from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord
from tests.conftest import CATALOG


def _fill(db: Path, agents: int) -> None:
    """A call by each of ``agents`` agents, on a model of its own (fake:m-0, ...), at a cost of none known."""
    now = time.time()

    async def fill() -> None:
        async with Ledger(db) as ledger:
            for i in range(agents):
                run = RunRecord(f"run-{i}", f"agent-{i}", "skill.analysis", now)
                attempt = AttemptRecord(f"run-{i}", now, "fake", f"m-{i}", "skill.analysis", f"agent-{i}", "ok", 0, 1)
                await ledger.record_call(run, [attempt])

    anyio.run(fill)


def test_flow_summarize_takes_top_as_the_tool_and_the_api_do(tmp_path: Path, monkeypatch, capsys):
    # the MCP tool and mg.summarize(top=) took top; `flow summarize --top 2` was refused as an unknown option
    from magsag_mcp import Magsag

    db = tmp_path / "top.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))
    _fill(db, 3)
    assert main(["flow", "summarize", "--top", "2"]) == 0
    said = capsys.readouterr()
    cut = json.loads(said.out)

    async def api() -> dict:
        async with Magsag(catalog=CATALOG, db=db, env={}) as mg:
            return dict(await mg.asummarize(top=2))

    same = anyio.run(api)
    assert list(cut["by_agent"]) == list(same["by_agent"]) == ["agent-0", "agent-1"]
    assert cut["omitted"] == same["omitted"] == {"model_stats": 1, "by_agent": 1}
    assert cut["totals"]["calls"] == 3  # the totals count every call, those left out too
    assert (
        "note: by_agent lists the 2 costliest agents (known cost plus the bound on unknown costs, then calls) of the "
        "3 agents the filters matched; the other 1 (omitted.by_agent) are counted in totals: name one with --agent, "
        "or raise --top (at most 10000), to see them"
    ) in said.err
    assert "note: model_stats lists the 2 costliest models" in said.err and "name one with --model" in said.err

    assert main(["flow", "summarize"]) == 0  # left out: the whole summary, as before
    whole = json.loads(capsys.readouterr().out)
    assert len(whole["by_agent"]) == 3 and "omitted" not in whole
    for wrong in ("0", "many"):
        with pytest.raises(SystemExit) as refused:  # (the parser's refusal, naming the option and its range)
            main(["flow", "summarize", "--top", wrong])
        assert refused.value.code == 2
        assert "--top" in (err := capsys.readouterr().err) and "give 1 to 10000" in err


def test_flow_gate_refuses_a_summary_cut_by_top(tmp_path: Path, monkeypatch, capsys):
    # a summary cut to its costliest models lists none of the others: gated, a model allowed_models forbids passed
    # when it was not among the top, and the gate said the summary was within policy
    db = tmp_path / "gate.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))
    _fill(db, 3)
    policy = tmp_path / "policy.yaml"
    policy.write_text("policies:\n  - name: prod\n    allowed_models: [m-0, m-1]\n")
    cut, whole = tmp_path / "cut.json", tmp_path / "whole.json"
    assert main(["flow", "summarize", "--top", "2", "--output", str(cut)]) == 0
    assert main(["flow", "summarize", "--output", str(whole)]) == 0
    capsys.readouterr()
    assert main(["flow", "gate", str(cut), "--policy", str(policy)]) == 2
    err = capsys.readouterr().err
    assert "the summary lists only the costliest entries of its maps (omitted: model_stats left out 1" in err
    assert "write it again without --top" in err
    assert main(["flow", "gate", str(whole), "--policy", str(policy)]) == 1  # m-2 is not allowed
    assert "m-2" in capsys.readouterr().out + capsys.readouterr().err


@pytest.mark.parametrize("omitted", [{}, {"model_stats": 0}])
def test_flow_gate_takes_a_summary_top_left_whole(tmp_path: Path, capsys, omitted: dict):
    # summarize_usage's answer always carries omitted, empty when top cut nothing: that summary is whole
    policy = tmp_path / "policy.yaml"
    policy.write_text("policies:\n  - name: prod\n    allowed_models: [gpt-4o]\n")
    stats = {"calls": 1, "errors": 0, "input_tokens": 1, "output_tokens": 1, "total_tokens": 2, "cost_usd": 0.01}
    summary = tmp_path / "s.json"
    summary.write_text(json.dumps({"model_stats": {"gpt-4o": stats}, "omitted": omitted}))
    assert main(["flow", "gate", str(summary), "--policy", str(policy)]) == 0
