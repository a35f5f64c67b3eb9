"""What a tool answers: a result (its model as JSON, in the text and as ``structuredContent``), or an error shaped as
every failure is (``structuredContent.error``: its type, message and details), every string redacted and the user's
home folder written ``~`` (:mod:`.home_folder`).

Failures the caller can act on (a :class:`~magsag_mcp.errors.MagsagError`) are :func:`error_result`; arguments that fail
the tool's input schema :func:`invalid_arguments`; a bug :func:`internal_error` (its traceback in the server's log,
never the client's)."""

from __future__ import annotations

import json
from typing import Any

from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel

from ..errors import MagsagError, redact
from ..invoke_result import shown_answer
from ..redaction import redact_values
from ..text import has_surrogate, whole_characters
from .home_folder import holds_home, home_as_tilde

#: invoke_skill's keys that hold the vendor's answer, returned as it was paid for (see home_folder); ``text``: the
#: Python API's result (InvokeResult.to_dict), which an error carrying the paid answer sends as its ``result``
_ANSWER_KEYS = ("output", "text", "tool_calls")


def _compact(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)


def error_result(exc: MagsagError) -> CallToolResult:
    # every string redacted (errors are redacted when built; this is the backstop, and the paid answer an error may
    # carry is the vendor's, judged with its call's own credentials, which the call forgot as it ended): the CLI's
    # print_error says it so too
    data = redact_values(exc.to_dict(), getattr(exc.result, "call_keys", ()))
    if holds_home(_compact(data)):  # (a policy's refusal names its file: see home_folder)
        # the paid answer an error carries (its result) is the vendor's, left as it came, as ok_result leaves it
        paid = data.get("result")
        data = home_as_tilde(data, kept=("result",))
        if isinstance(paid, dict):
            data["result"] = home_as_tilde(paid, kept=_ANSWER_KEYS)
    details = {k: v for k, v in data.items() if k not in ("type", "message")}
    text = f"{data['type']}: {data['message']}"
    if details:
        text += "\n" + _compact(details)
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content={"error": data}, is_error=True
    )


def _error_without_details(kind: str, message: str) -> CallToolResult:
    """An error that is no :class:`MagsagError`, shaped as :func:`error_result` shapes one that has no details."""
    message = home_as_tilde(message)
    return CallToolResult(
        content=[TextContent(type="text", text=f"{kind}: {message}")],
        structured_content={"error": {"type": kind, "message": message}},
        is_error=True,
    )


def invalid_arguments(message: str) -> CallToolResult:
    """Arguments that fail the tool's input schema (see :mod:`.arguments`), as :func:`error_result` shapes errors."""
    return _error_without_details("invalid_arguments", redact(message))


def internal_error(tool: str) -> CallToolResult:
    message = f"internal error in magsag-mcp while running {tool}; the details are in the server's log"
    return _error_without_details("internal_error", message)


def ok_result(model: BaseModel, *, answer: bool = False) -> CallToolResult:
    """``model`` as a tool's result; ``answer``: it carries a vendor's answer (invoke_skill's), looked at for keys."""
    data = model.model_dump(mode="json", by_alias=True)
    text = _compact(data)
    # Half of a UTF-16 surrogate pair in an answer (an emoji a vendor cut in two) cannot be written as UTF-8: the
    # whole result failed to serialize, and the client, its call paid for, got no answer at all. Looked for in
    # the text the result is sent as (one pass in C; a walk of the result cost 3.5% of an MCP call).
    if not text.isascii() and has_surrogate(text):
        data = whole_characters(data)
        text = _compact(data)
    # the answer less the keys this process sends, should the vendor quote one (see shown_answer; the CLI prints it so)
    if answer and (shown := shown_answer(data)) is not data:
        data = shown
        text = _compact(data)
    if holds_home(text):  # (a policy's refusal names its file, in a plan, a trace, the ledger: see home_folder)
        data = home_as_tilde(data, kept=_ANSWER_KEYS if answer else ())
        text = _compact(data)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)
