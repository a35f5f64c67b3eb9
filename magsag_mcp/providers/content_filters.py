"""Which of Azure's content filters fired: ``content_filter_results`` on a choice (a 200 whose finish_reason is
``content_filter``), ``innererror.content_filter_result`` on a 400 (``ResponsibleAIPolicyViolation``).

Azure's message says only that a filter fired; the categories say what to change in the prompt.
"""

from __future__ import annotations

from typing import Any


def fired_filters(results: Any) -> list[str]:
    """``violence (high)``, ``jailbreak (detected)``: each category marked ``filtered``, in Azure's order."""
    if not isinstance(results, dict):
        return []
    fired = []
    for name, result in results.items():
        if isinstance(result, dict) and result.get("filtered") is True:
            level = result.get("severity") or ("detected" if result.get("detected") else None)
            fired.append(f"{name} ({level})" if isinstance(level, str) and level else str(name))
    return fired


def filter_note(results: Any) -> str:
    """`` (filtered: violence (high))`` to end a message with, or "" when no category says it fired."""
    fired = fired_filters(results)
    return f" (filtered: {', '.join(fired)})" if fired else ""
