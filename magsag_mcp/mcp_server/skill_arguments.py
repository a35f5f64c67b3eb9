"""invoke_skill's and explain_route's arguments as the service reads them: ``model_config`` merged into the
payload, where the guide puts it, and ``context``."""

from __future__ import annotations

from typing import Any

from . import models as M


def with_model_config(payload: dict[str, Any], model_config: M.ModelConfigArg | None) -> dict[str, Any]:
    """``model_config`` goes where the guide puts it, ``payload["model_config"]``; the argument wins, key by key,
    and a model it names replaces the payload's with its target keys (provider, base_url, params, fallbacks: they
    were that model's, as between model_config and ``llm_overrides``)."""
    own = payload.get("model_config")
    if model_config is None or (own and not isinstance(own, dict)):
        return payload  # one that is no object is refused by the service, as it is without the argument
    # a key left empty (a form's field, an unset variable: "model": "") says nothing, as everywhere a call's text is
    # read: the payload's stays (merged, the argument's "" replaced the payload's model, and its fallbacks were refused)
    given = {key: value for key, value in model_config.as_payload().items() if value != ""}
    merged = dict(own or {})
    if given.get("model") and merged:
        from ..call_targets import TARGET_KEYS

        merged = {key: value for key, value in merged.items() if key not in TARGET_KEYS}
    merged.update(given)
    return {**payload, "model_config": merged}


def call_context(context: M.ContextArg | None) -> dict[str, Any] | None:
    """The call's context as the service reads it: only what was given (``{}``, no context, is cached)."""
    return context.model_dump(exclude_none=True) if context is not None else None
