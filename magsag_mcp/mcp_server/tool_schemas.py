"""The tools' input and output schemas: generated from their models, and stored beside them.

Generating a model's JSON schema builds its pydantic core schema first: for the seven tools' fourteen
schemas that was 9.9% of the instructions ``magsag-mcp`` ran from its start to its answer to
``initialize`` (2,655 -> 2,391 million; sixteenth round, benchmarks/ROUNDS.md), spent before it could answer.
They are stored in ``tool_schemas.json``; a server reads them from there, and its models are built when
first used (a tool's arguments validated, its result shaped). A test fails when the file differs from
what the models generate, and says to write it again:

    python -m magsag_mcp.mcp_server.tool_schemas
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from . import models as M
from .schema_compaction import compact_schema

if TYPE_CHECKING:
    from mcp.server.mcpserver.tools import Tool

STORED = Path(__file__).with_name("tool_schemas.json")


def generated(args: type[BaseModel], result: type[BaseModel]) -> dict[str, Any]:
    """A tool's ``parameters`` and ``output_schema``, made from its argument and result models."""
    return {
        "parameters": compact_schema(args.model_json_schema(by_alias=True), optional_not_null=True),
        "output_schema": admit_tool_errors(
            compact_schema(result.model_json_schema(by_alias=True, mode="serialization"), optional_not_null=False)
        ),
    }


def pin_agent_arguments(pinned: str | None, tools: list[Tool], *, per_client: bool = False) -> list[Tool]:
    """The tools with an ``agent`` argument saying so when the server holds its clients to one (``pinned``, from
    ``magsag-mcp --agent``; ``per_client``: each to its token's, MAGSAG_MCP_TOKENS_FILE): a client's model reads the
    schema, and one told only "agent name" names one, which is refused."""
    if pinned is None and not per_client:
        return tools
    if pinned:
        said = f"this server records every call as agent {pinned!r}: leave agent out"
        said_of_budget = f"default {pinned!r}, the agent this server records every call as (leave agent out)"
    else:
        said = "this server records every call as the agent of your client's token: leave agent out"
        said_of_budget = "default the agent of your client's token, the only one it may read (leave agent out)"
    for tool in tools:
        if "agent" in tool.parameters.get("properties", {}):
            tool.parameters = copy.deepcopy(tool.parameters)  # not the stored schemas every server shares
            described = said_of_budget if tool.name == "check_budget" else said
            tool.parameters["properties"]["agent"]["description"] = described
    return tools


def stored() -> dict[str, dict[str, Any]]:
    """The stored schemas by tool name (a fresh copy: a server's are its own), or none if the file is gone or not
    JSON. An entry not of the shape written (``{"parameters": {...}, "output_schema": {...}}``) is left out, its tool's
    schemas generated: read as it was, it failed the making of every tool at the server's first tools/list."""
    try:
        read = json.loads(STORED.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(read, dict):
        return {}
    return {
        name: entry
        for name, entry in read.items()
        if isinstance(entry, dict)
        and isinstance(entry.get("parameters"), dict)
        and isinstance(entry.get("output_schema"), dict)
    }


def admit_tool_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema``, also admitting what a failed call carries (``tool_results.error_result``): ``{"error": {...}}``.

    A tool error's ``structuredContent`` is checked against the output schema by the TypeScript SDK's
    client even when ``isError`` is set (the python SDK's client skips it): had the schema not admitted
    it, such clients got a protocol error in place of the message. The result's required fields are
    required unless ``error`` is there (``if``/``else``: no branch to explore for a validator)."""
    out = {**schema, "properties": {**schema.get("properties", {}), "error": copy.deepcopy(_error_schema())}}
    required = out.pop("required", None)
    if required:
        out["if"] = {"required": ["error"]}
        out["else"] = {"required": required}
    return out


@functools.cache
def _error_schema() -> dict[str, Any]:
    """The schema of a failed call's ``error``, the same in every tool's output schema."""
    error = compact_schema(M.ErrorOut.model_json_schema(), optional_not_null=False)
    error["description"] = "only in a failed call (isError): what went wrong, and how to fix it"
    error.pop("additionalProperties", None)  # open anyway: details vary by error type
    return error


def write() -> Path:
    """Write ``tool_schemas.json`` from the models as they are now."""
    from .state import ServerState
    from .tools import MagsagTools

    tools = MagsagTools(ServerState(catalog=None, db=None, env=None, transport=None)).tools(fresh=True)
    schemas = {t.name: {"parameters": t.parameters, "output_schema": t.fn_metadata.output_schema} for t in tools}
    STORED.write_text(json.dumps(schemas, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")  # in field order
    return STORED


if __name__ == "__main__":
    print(f"wrote {write()}")
