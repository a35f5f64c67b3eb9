"""How each ledger here was recorded: by an earlier release's own code (run with PYTHONPATH at a checkout of it,
`git worktree add --detach /tmp/old COMMIT`), against that release's own loopback upstream, on a clock set to noon UTC
of 2025-11-20. It writes ``ledger.sql`` (the ledger's SQL dump), ``figures.json`` (what that release read from it:
summarize, query_runs, check_budget) and ``export.csv`` (its `magsag data query --format csv`) to the folder it is
given. test_ledgers_of_earlier_releases.py loads each dump and holds that release's figures.

The calls: three of skill.brief (the first two: gpt-4o fails with HTTP 500 and gpt-4o-mini answers), one of a model no
price list knows (its cost unknown), a MAG run with a SAG delegated from it and another from that SAG, one whose every
target fails, and one in flight when its process dies (its budget reservation left held).

    PYTHONPATH=/tmp/old python tests/ledgers_of_earlier_releases/record.py /tmp/out
"""

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

#: the recording's clock: noon UTC of 2025-11-20, ticking on from there
NOON = 20412 * 86400 + 43200.0

CATALOG = {
    "skills/brief.yaml": """\
id: skill.brief
description: Summarise a text in one sentence.
task_type: brief
prompt:
  system: You write one faithful sentence.
  user: "Summarise in one sentence: {text}"
input_schema:
  type: object
  required: [text]
  properties:
    text: {type: string, minLength: 1}
max_tokens: 200
""",
    "skills/odd.yaml": """\
id: skill.odd
description: A model no price list knows.
task_type: odd
prompt:
  user: "Answer: {text}"
input_schema:
  type: object
  required: [text]
  properties:
    text: {type: string}
max_tokens: 100
""",
    "skills/down.yaml": """\
id: skill.down
description: Every target fails.
task_type: down
prompt:
  user: "Answer: {text}"
input_schema:
  type: object
  required: [text]
  properties:
    text: {type: string}
max_tokens: 100
""",
    "skills/slow.yaml": """\
id: skill.slow
description: A call still in flight when its process dies.
task_type: slow
prompt:
  user: "Answer: {text}"
input_schema:
  type: object
  required: [text]
  properties:
    text: {type: string}
max_tokens: 300
""",
    "routing/default.yaml": """\
default: [openai:gpt-4o-mini]
routes:
  - match: brief
    chain: [openai:gpt-4o, openai:gpt-4o-mini]
  - match: odd
    chain: [openai:mystery-model-q7]
  - match: down
    chain: [anthropic:claude-3-5-haiku-20241022]
  - match: slow
    chain: [anthropic:claude-3-5-sonnet-20241022]
""",
    "policies/model_governance.yaml": """\
policies:
  - name: cost_limits
    description: Maximum cost per run, per agent per day
    allow_unpriced: true
    thresholds:
      max_cost_per_run_usd: 0.50
      max_cost_per_agent_daily_usd: 5.00
""",
}


async def main(out: Path) -> None:
    from magsag_mcp.loopback import LoopbackUpstream
    from magsag_mcp.service import Service

    db = out / "ledger.db"
    root = out / "catalog"
    for rel, text in CATALOG.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    fast = LoopbackUpstream(plans={"gpt-4o": [500, 500], "claude-3-5-haiku-20241022": [500] * 6})
    await fast.start()
    slow = LoopbackUpstream(latency_ms=600_000)
    await slow.start()
    env = dict(fast.env())
    env.update(
        OPENAI_API_KEY="sk-Qx7rMkZvLp3Tw8JnHbYc",
        ANTHROPIC_API_KEY="sk-ant-Wq4zNx8RkPv2Ls7MdJc",
        ANTHROPIC_BASE_URL=slow.base_url,
        MAGSAG_MAX_RETRIES="0",
        MAGSAG_RETRY_BASE_DELAY="0.01",
    )
    svc = await Service.open(catalog=root, db=db, env=env)
    text = {"text": "Revenue rose 8% while costs fell."}
    for i in range(3):
        await svc.invoke_skill("skill.brief", text, agent="ag1", run_id=f"brief-{i}")
    await svc.invoke_skill("skill.odd", text, agent="ag2", run_id="odd-0")
    # a MAG with a SAG delegated from it, and one delegated from that SAG
    await svc.invoke_skill("skill.brief", text, agent="mag", run_id="mag")
    await svc.invoke_skill("skill.brief", text, agent="sag", run_id="sag1", parent_run_id="mag")
    await svc.invoke_skill("skill.brief", text, agent="sag", run_id="sag2", parent_run_id="sag1")
    # every target fails (Anthropic's answers here come from the upstream that fails, not the slow one)
    down = await Service.open(catalog=root, db=db, env=dict(env, ANTHROPIC_BASE_URL=fast.base_url))
    try:
        await down.invoke_skill("skill.down", text, agent="ag1", run_id="down-0")
    except Exception as exc:
        print(f"down-0 failed, as planned: {exc}", file=sys.stderr)
    else:
        raise SystemExit("down-0 was answered")
    await down.aclose()
    figures = {
        "summarize": await svc.summarize(),
        "query_runs": await svc.query_runs(),
        "budget_ag1": await svc.check_budget(agent="ag1"),
        "budget_mag": await svc.check_budget(run_id="mag"),
    }
    (out / "figures.json").write_text(json.dumps(figures, indent=1, default=str, sort_keys=True))
    cli = "import sys; from magsag_mcp.cli import main; sys.exit(main(sys.argv[1:]))"
    query = [sys.executable, "-c", cli, "data", "query", "--format", "csv", "--db", str(db), "--catalog", str(root)]
    # (run in the output folder: "-c" puts the working folder first on sys.path, before the release at PYTHONPATH)
    (out / "export.csv").write_bytes(subprocess.run(query, check=True, capture_output=True, cwd=out).stdout)
    # a call in flight when its process dies: its reservation is left held
    task = asyncio.create_task(svc.invoke_skill("skill.slow", text, agent="ag2", run_id="slow-0"))
    for _ in range(500):
        await asyncio.sleep(0.02)
        conn = sqlite3.connect(db)
        held = conn.execute("SELECT COUNT(*) FROM budget_reservations WHERE state = 'held'").fetchone()[0]
        conn.close()
        if held:
            break
    else:
        raise SystemExit("no reservation was made")
    del task
    dump = sqlite3.connect(db)
    (out / "ledger.sql").write_text("\n".join(dump.iterdump()) + "\n")
    dump.close()
    os._exit(0)  # as a killed process: no close, the reservation left held


if __name__ == "__main__":
    where = Path(sys.argv[1])
    where.mkdir(parents=True, exist_ok=True)
    for old in where.glob("ledger.db*"):
        old.unlink()
    real = time.time
    started = real()
    time.time = lambda: NOON + (real() - started)
    asyncio.run(main(where))
