"""An ``obs.log`` event's row in the ledger: checked, redacted, its data as JSON that strict parsers read."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from typing import Any

from ..errors import InputError, redact
from ..text import check_name, check_text

INSERT_EVENT = "INSERT INTO events (run_id, agent, at, event, data) VALUES (?,?,?,?,?)"


def event_row(run_id: str | None, agent: str | None, event: str, data: Mapping[str, Any]) -> tuple[Any, ...]:
    """An ``obs.log`` event's row for :data:`INSERT_EVENT`, as of now; what cannot be stored is refused
    (:class:`~magsag_mcp.errors.InputError`, naming it)."""
    if not isinstance(event, str) or not event:
        raise InputError("an event needs a non-empty name, e.g. obs.log('model_success', {...})")
    # the names first: the messages below quote the event's name
    check_name(run_id, "run_id")
    check_name(agent, "agent")
    check_name(event, "the event's name")
    if not isinstance(data, Mapping):
        raise InputError(
            f"event {event!r}: data must be a mapping such as {{'model': 'gpt-4o'}}, not {type(data).__name__}"
        )
    check_text(dict(data), f"event {event!r}: data")
    try:
        payload = redact(event_json(dict(data)))
    except (TypeError, ValueError) as exc:  # keys that are not strings, circular references
        raise InputError(f"event {event!r}: data must be a JSON-like mapping ({exc})") from None
    return (run_id, agent, time.time(), event, payload)


def event_json(data: dict[str, Any]) -> str:
    """An event's data as JSON. NaN and the infinities have no JSON form (Python's would write the bare
    words, which strict parsers such as jq refuse when `magsag data search` prints the event): they are
    kept as the strings "NaN", "Infinity" and "-Infinity"."""
    try:
        return json.dumps(data, default=str, ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        if not str(exc).startswith("Out of range float"):
            raise
    return json.dumps(_finite(data), default=str, ensure_ascii=False, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
