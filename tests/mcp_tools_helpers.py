"""What the MCP tool tests share: the catalog, the fake provider's environment and a key it must never show,
a closed loopback port, the tools that only read the ledger, the check of a result against the output schema the
server published, and a tool error's checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
SECRET = "sk-test-secret-0123456789abcdef"
ENV = {"MAGSAG_PROVIDER": "fake", "MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_MAX_RETRIES": "1"}
CLOSED = "http://127.0.0.1:9/v1"
#: (tool, arguments) of each tool that only reads the ledger: the read-only and older-ledger tests call them all, the
#: search and budget with what their ledgers hold (an "overloaded upstream" event, agent ana's spend)
READ_TOOL_CALLS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("summarize_usage", {}),
    ("daily_usage", {}),
    ("query_runs", {}),
    ("search_usage", {"pattern": "overloaded"}),
    ("check_budget", {"agent": "ana"}),
)


class Schemas:
    """Checks every structured result against the output schema the server published."""

    def __init__(self, tools: Any) -> None:
        self.output = {t.name: t.output_schema for t in tools}

    def check(self, name: str, result: Any) -> dict[str, Any]:
        assert not result.is_error, result.content[0].text
        jsonschema.Draft202012Validator(self.output[name]).validate(result.structured_content)
        assert json.loads(result.content[0].text) == result.structured_content
        return result.structured_content


def error_of(result: Any) -> dict[str, Any]:
    assert result.is_error
    text = result.content[0].text
    err = result.structured_content["error"]
    assert text.startswith(f"{err['type']}: {err['message']}")
    assert "Traceback" not in text and SECRET not in text and SECRET not in json.dumps(err)
    return err
