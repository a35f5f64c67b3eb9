"""``magsag demo``: an MCP client drives the real ``magsag-mcp`` server over stdio, offline.

It writes a small catalog to a temporary directory whose one skill routes to the ``fake`` provider:
the primary target always fails (overloaded) and the fallback answers. The server runs as a
subprocess with a throwaway ledger; the official MCP client calls ``invoke_skill`` (printing the
progress the server reports and the routing trace), then ``summarize_usage``, ``query_runs`` and
``check_budget``. Everything goes through the real transport, router, governance and ledger.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from . import CommandGroups

DEMO_SKILL = "skill.brief"
PRIMARY = "fake:fail-overloaded"
FALLBACK = "fake:backup-model"
AGENT = "demo-agent"

DEMO_FILES = {
    "skills/brief.yaml": f"""\
id: {DEMO_SKILL}
description: Summarise a text in one sentence.
task_type: brief
prompt:
  system: You write one faithful sentence.
  user: "Summarise in one sentence: {{text}}"
input_schema:
  type: object
  required: [text]
  properties:
    text: {{type: string, minLength: 1}}
max_tokens: 200
""",
    "routing/default.yaml": f"""\
# The demo's routing: the primary always fails (overloaded), the fallback answers.
default: [{FALLBACK}]
routes:
  - match: brief
    chain: [{PRIMARY}, {FALLBACK}]
""",
    "policies/model_governance.yaml": """\
policies:
  - name: demo_models
    description: Only the demo's fake models
    allowed_models: [fail-overloaded, backup-model]
  - name: cost_limits
    description: Maximum cost per run, per agent per day, and of all calls per day
    thresholds:
      max_cost_per_run_usd: 0.50
      max_cost_per_agent_daily_usd: 5.00
      max_cost_per_day_usd: 20.00
""",
    "prices.yaml": """\
# USD per million tokens.
"fake:backup-model": {input: 0.15, output: 0.60}
"fake:fail-overloaded": {input: 2.50, output: 10.00}
""",
}

TEXT = (
    "Quarterly revenue rose 8% to $4.2M while costs fell 3%; the board approved hiring "
    "two engineers and postponed the office move to next year."
)


def write_demo_catalog(root: Path) -> Path:
    for rel, text in DEMO_FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def demo_env(tmp: Path) -> dict[str, str]:
    """The server's environment: no vendor keys or magsag overrides from the caller, quick retries."""
    drop = ("MAGSAG_", "OPENAI_", "ANTHROPIC_", "AZURE_OPENAI_", "GEMINI_", "GOOGLE_API", "OLLAMA_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(
        MAGSAG_MAX_RETRIES="1",
        MAGSAG_RETRY_BASE_DELAY="0.05",
        MAGSAG_MCP_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


def _usd(value: Any) -> str:
    return "unknown" if value is None else f"${value}"


def _table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(
            "  "
            + "  ".join(
                str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def _print_from_callback(line: str) -> None:
    """A line printed by the MCP client's callbacks, which log what a callback raises with its traceback and go on:
    a reader that left (`magsag demo | head -4`) is met by the demo's own next print instead, which ends it quietly
    (the CLI takes a BrokenPipeError for the reader leaving)."""
    with contextlib.suppress(BrokenPipeError):
        print(line)


async def run_demo(out: Any = None) -> int:
    from mcp.client import Client
    from mcp.client.stdio import StdioServerParameters, stdio_client

    with tempfile.TemporaryDirectory(prefix="magsag-demo-") as tmpdir:
        tmp = Path(tmpdir)
        catalog = write_demo_catalog(tmp / "catalog")
        params = StdioServerParameters(
            command=sys.executable,
            # -P: the folder the demo is run in is not put first on the server's sys.path, where a file of the
            # user's (mcp.py, yaml.py, a folder named pydantic) took the place of a package the server imports
            args=["-P", "-m", "magsag_mcp", "--catalog", str(catalog), "--db", str(tmp / "ledger.db")],
            env=demo_env(tmp),
        )
        errlog = out or sys.stderr

        async def on_log(params: Any) -> None:  # (the SDK's LoggingFnT: its parameter's name too)
            _print_from_callback(f"    log[{params.level}] {params.data}")

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            _print_from_callback(f"    progress {int(progress)}: {message}")

        async with Client(stdio_client(params, errlog=errlog), logging_callback=on_log, log_level="notice") as client:
            info = client.server_info
            tools = await client.list_tools()
            print("== magsag demo: the official MCP client drives magsag-mcp over stdio (offline, fake provider)")
            name = f"{info.name} {info.version}" if info else "?"
            print(f"server  : {name} (protocol {client.protocol_version})")
            print(f"tools   : {', '.join(t.name for t in tools.tools)}")

            print(f"\n== invoke_skill {DEMO_SKILL}: the primary {PRIMARY} fails, the fallback {FALLBACK} answers")
            result = await client.call_tool(
                "invoke_skill",
                {"skill_id": DEMO_SKILL, "payload": {"text": TEXT}, "agent": AGENT},
                progress_callback=on_progress,
            )
            if result.is_error:
                print(f"invoke_skill failed: {result.content[0].text}")  # type: ignore[union-attr]
                return 1
            r = result.structured_content or {}
            usage = r["usage"]
            print(f"  answer      : {textwrap.shorten(str(r['output']), 110)}")
            print(f"  answered by : {r['provider']}:{r['model']}   run {r['run_id']}")
            tokens = f"{usage['input_tokens']} in + {usage['output_tokens']} out tokens"
            print(f"  usage       : {tokens}, cost {_usd(r['cost_usd'])}")
            print(f"  trace       : rule {r['trace']['rule']}")
            for i, a in enumerate(r["trace"]["attempts"], 1):
                print(f"    {i}. {a['target']:<24} try {a['try']}  {a['outcome']:<6} {a['error_class'] or ''}")
            for w in r["warnings"]:
                print(f"  warning     : {w}")

            print("\n== summarize_usage (the guide's model_stats)")
            summary = (
                await client.call_tool("summarize_usage", {"filters": {"agent": AGENT}})
            ).structured_content or {}
            rows = [
                [
                    m,
                    s["calls"],
                    s["errors"],
                    s["attempts"],
                    s["attempt_errors"],
                    s["input_tokens"],
                    s["output_tokens"],
                    s["total_tokens"],
                    _usd(s["cost_usd_exact"]),
                ]
                for m, s in summary.get("model_stats", {}).items()
            ]
            t = summary.get("totals") or {}
            if t:
                rows.append(
                    [
                        "(total)",
                        t["calls"],
                        t["errors"],
                        t["attempts"],
                        t["attempt_errors"],
                        t["input_tokens"],
                        t["output_tokens"],
                        t["total_tokens"],
                        _usd(t["cost_usd_exact"]),
                    ]
                )
            # a call counts under the model that ended it; the model it fell back from shows its failed attempt
            _table(rows, ["model", "calls", "errors", "attempts", "failed", "input", "output", "total", "cost"])

            print("\n== query_runs")
            runs = (
                await client.call_tool("query_runs", {"filters": {"agent": AGENT}, "limit": 5})
            ).structured_content or {}
            for run in runs.get("runs", []):
                print(f"  {run['run_id']}  {run['skill']}  {run['status']}  cost {_usd(run['cost_usd'])}")
                for a in run.get("attempts", []):
                    print(f"    - {a['provider']}:{a['model']:<18} {a['outcome']:<6} {a.get('error_class') or ''}")

            print("\n== check_budget")
            budget = (
                await client.call_tool("check_budget", {"agent": AGENT, "run_id": r["run_id"]})
            ).structured_content or {}
            print(f"  status : {budget.get('status')}")
            for lim in budget.get("limits", []):
                print(
                    f"  {lim['limit']:<9} {lim['scope']:<34} limit ${lim['limit_usd']:<6} spent ${lim['spent_usd']:<8}"
                    f" reserved ${lim['reserved_usd']:<6} remaining ${lim['remaining_usd']:<8} {lim['status']}"
                )
        return 0


def _demo(args: argparse.Namespace) -> int:
    import anyio

    return anyio.run(run_demo)


def register(groups: CommandGroups) -> None:
    p = groups.top.add_parser(
        "demo",
        help="run an offline demo: an MCP client drives magsag-mcp over stdio (fallback, usage, budget)",
        description="Run an offline demo: the official MCP client starts magsag-mcp over stdio with a catalog of "
        "its own (the fake provider: a primary that fails, a fallback that answers) and a throwaway ledger, then "
        "calls invoke_skill, summarize_usage, query_runs and check_budget and prints what each answers. It needs "
        "no key and no network, and leaves nothing behind; it takes no options.",
    )
    p.set_defaults(func=_demo)
