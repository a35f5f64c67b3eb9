"""Extended thinking on the Messages API: what a request with thinking on can carry.

A target turns thinking on with a vendor parameter (``params: {thinking: {type: enabled, budget_tokens:
N}}``, or ``{type: adaptive}``), while the rest of the request comes from the skill and the call. The API
refuses (400 invalid_request_error, which would stop the whole cascade as a bad request) a request with
thinking on that has

- a temperature other than 1: it is left out, as for the models that take none;
- a forced tool (``tool_choice`` any or tool): a JSON schema is then asked for in the system prompt and
  checked, as with the caller's tools; a tool the *call* forces is the call's to decide, so the request
  goes without thinking;
- ``max_tokens`` not above ``budget_tokens``: the budget is lowered below ``max_tokens`` (which the
  skill set and budgets reserve), or, when that leaves less than the API's minimum, thinking is left out;
"""

from __future__ import annotations

from typing import Any

from ..types import LLMRequest

#: the API's least ``budget_tokens``
MIN_BUDGET = 1024


def thinking_setting(extra: dict[str, Any]) -> dict[str, Any] | None:
    """The request's thinking configuration when it turns thinking on, else None."""
    config = extra.get("thinking")
    return config if isinstance(config, dict) and config.get("type") in ("enabled", "adaptive") else None


def settle(request: LLMRequest, max_tokens: int, extra: dict[str, Any], notes: list[str]) -> bool:
    """Makes ``extra`` (the vendor params sent) fit a request with thinking on, noting each change.
    Returns whether thinking stays on; with it off, ``extra`` sends none."""
    config = thinking_setting(extra)
    if config is None:
        return False
    why = None
    if isinstance(request.tool_choice, dict) or request.tool_choice == "required":
        why = "the call forces a tool (tool_choice), which Anthropic does not take with thinking on"
    budget = config.get("budget_tokens")
    if why is None and isinstance(budget, int) and not isinstance(budget, bool) and budget >= max_tokens:
        if max_tokens - 1 < MIN_BUDGET:
            why = (
                f"its budget_tokens ({budget}) must be below max_tokens ({max_tokens}) and at least {MIN_BUDGET}; "
                f"raise max_tokens above {budget} to think"
            )
        else:
            extra["thinking"] = {**config, "budget_tokens": max_tokens - 1}
            notes.append(
                f"Anthropic takes a thinking budget_tokens only below max_tokens ({max_tokens}); {budget} was sent as "
                f"{max_tokens - 1}: raise max_tokens (the skill's, or model_config.max_tokens) to think more"
            )
    if why is not None:
        extra.pop("thinking")
        notes.append(f"extended thinking was not sent: {why}")
        return False
    return True
