"""An agent that delegates to magsag over MCP (agent-to-agent), through the official MCP client.

The agent ("report-mag") starts ``magsag-mcp`` over stdio, discovers the skills from the catalog
resource, previews a route with ``explain_route``, runs an analysis and then a summary of it in one
run, recovers from a tool error by reading its structured details, and checks its budget.

    .venv/bin/python examples/mcp/agent_client.py          # offline: the fake provider, a throwaway ledger
    .venv/bin/python examples/mcp/agent_client.py --live   # the providers your API keys configure
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from typing import Any

try:
    import anyio
    from mcp.client import Client
    from mcp.client.stdio import StdioServerParameters
    from mcp.shared.exceptions import MCPError
except ModuleNotFoundError as missing:  # run by a Python magsag is not installed in, such as the system's python3
    sys.exit(
        f"agent_client.py: {missing.name!r} is not installed for {sys.executable}; run the example with the Python "
        "of the venv README.md's setup makes, from the clone: .venv/bin/python examples/mcp/agent_client.py"
    )

AGENT = "report-mag"
DATA = "Q3: revenue $4.2M (+8%), churn 2.1% (-0.4pt), support tickets +15% after the pricing change."


class ToolFailed(Exception):
    """A magsag tool error, with its structured details (``structuredContent.error``)."""

    def __init__(self, tool: str, error: dict[str, Any]) -> None:
        super().__init__(f"{error['type']}: {error['message']}")
        self.tool = tool
        self.type = error["type"]
        self.details = error


class Magsag:
    """The magsag tools as async methods; a tool error raises :class:`ToolFailed`."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        result = await self.client.call_tool(tool, arguments)
        if result.is_error:
            error = (result.structured_content or {}).get("error") or {"type": "error", "message": str(result.content)}
            raise ToolFailed(tool, error)
        return result.structured_content or {}

    async def resource(self, uri: str) -> Any:
        return json.loads((await self.client.read_resource(uri)).contents[0].text)  # type: ignore[union-attr]


async def agent(live: bool) -> None:
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        if not live:
            # none of your MAGSAG_* settings (a MAGSAG_MODEL=openai:gpt-4o would name a provider beside "fake"),
            # and the shipped catalog, whose skills this agent calls: not one of yours (MAGSAG_CATALOG, or a
            # ./catalog where you run it); the server started in an empty folder finds the bundled one
            env = {k: v for k, v in env.items() if not k.startswith("MAGSAG_")}
            env["MAGSAG_PROVIDER"] = "fake"  # every route's models, served offline by the fake provider
            env["MAGSAG_DB"] = os.path.join(tmp, "ledger.db")  # fake calls stay out of your real ledger
        server = StdioServerParameters(
            command=sys.executable,
            # -P: the folder it starts in is not put first on sys.path (a file of yours named mcp.py would be imported)
            args=["-P", "-m", "magsag_mcp", "--log-level", "WARNING"],
            env=env,
            cwd=None if live else tmp,
        )
        async with Client(server) as client:
            magsag = Magsag(client)

            skills = {s["id"]: s for s in await magsag.resource("magsag://catalog/skills")}
            print(f"== {AGENT} sees {len(skills)} skills: {', '.join(sorted(skills))}")

            plan = await magsag.call("explain_route", skill_id="skill.analysis", payload={"data": DATA})
            print(f"== route for skill.analysis ({plan['rule']}): {' -> '.join(t['label'] for t in plan['targets'])}")

            analysis = await magsag.call("invoke_skill", skill_id="skill.analysis", payload={"data": DATA}, agent=AGENT)
            run_id = analysis["run_id"]
            who = f"{analysis['provider']}:{analysis['model']}"
            print(f"== analysis by {who} (run {run_id}, cost ${analysis['cost_usd']})")
            print(f"   {str(analysis['output'])[:160]}")

            # A wrong field name: the tool error says which field the skill needs, so the agent fixes the call.
            findings = str(analysis["output"])
            try:
                summary = await magsag.call(
                    "invoke_skill",
                    skill_id="skill.summarization",
                    payload={"body": findings},
                    agent=AGENT,
                    run_id=run_id,
                )
            except ToolFailed as err:
                print(f"== tool error {err.type}: {err.details['message']}")
                required = skills["skill.summarization"]["input_schema"]["required"]
                summary = await magsag.call(
                    "invoke_skill",
                    skill_id="skill.summarization",
                    payload={required[0]: findings},
                    agent=AGENT,
                    run_id=run_id,
                    model_config={"max_tokens": 200},
                )
            print(f"== summary by {summary['provider']}:{summary['model']}: {str(summary['output'])[:160]}")

            runs = await magsag.call("query_runs", filters={"run_id": run_id})
            attempts = [a for run in runs["runs"] for a in run["attempts"]]
            print(f"== run {run_id}: {len(attempts)} attempt(s) in the ledger")
            budget = await magsag.call("check_budget", agent=AGENT, run_id=run_id)
            left = ", ".join(f"{lim['scope']}: ${lim['remaining_usd']} left" for lim in budget["limits"])
            print(f"== budget {budget['status']}: {left or 'no limits apply'}")


def the_error(exc: BaseException) -> BaseException:
    """What the agent raised, out of the one-error groups the MCP client's task groups wrap it in."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--live", action="store_true", help="use the providers your API keys configure")
    live = parser.parse_args().live
    try:
        anyio.run(agent, live)
    except Exception as group:
        # A failure the agent cannot work around ends it with what went wrong and the fix, not the client's
        # traceback, at whose bottom the message a user needs would be buried.
        error = the_error(group)
        if isinstance(error, ToolFailed):
            hint = "; `magsag doctor` shows which providers your keys configure" if live else ""
            print(f"{AGENT}: {error.tool} failed: {error}{hint}", file=sys.stderr)
        elif isinstance(error, MCPError):
            # the server stopped (a catalog, a setting it refused): it printed why on stderr, above this line
            print(f"{AGENT}: magsag-mcp stopped before it answered ({error}): its reason is above", file=sys.stderr)
        else:
            raise
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
