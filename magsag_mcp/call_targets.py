"""What a call names as its own target, in ``payload["model_config"]``, ``context["llm_overrides"]`` and
``context["preferred_model"]``: merged level by level and checked (:func:`call_targeting`), the target it
makes (:func:`explicit_target`), and the key of the route it resolves to (:func:`named_route_key`).

Where the call then goes is :mod:`magsag_mcp.routing`'s to resolve.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .call_request import optional_str
from .errors import ConfigError, PayloadError
from .targets import parse_target
from .types import Target

#: the keys of ``model_config`` / ``context.llm_overrides`` that say where a call goes
TARGET_KEYS = ("model", "provider", "base_url", "params", "fallbacks")


def call_targeting(
    mc: Mapping[str, Any], lo: Mapping[str, Any], context: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The call's own target keys, and the field each came from.

    The model comes from the highest level that names one (``model_config``, ``context.llm_overrides``,
    ``context.preferred_model``); a level above it that names no model still sets the rest
    (``model_config: {provider: azure}`` with ``preferred_model: gpt-4o`` is ``azure:gpt-4o``), the
    higher level winning key by key. A lower level's keys belong to its own model, which was replaced:
    they do not apply (and a lower level that names no model may not set them, see below)."""
    levels: list[tuple[str, Mapping[str, Any]]] = [("model_config", mc), ("context.llm_overrides", lo)]
    named = next((i for i, (_, cfg) in enumerate(levels) if _names_model(cfg)), None)
    if named is None and context.get("preferred_model"):
        pm = context["preferred_model"]
        if not isinstance(pm, str):
            from .payload_warnings import one_of_many

            # a list is an ordered preference: the model and its fallbacks say it (see one_of_many)
            many = one_of_many("preferred_model", pm) if isinstance(pm, list) else None
            raise PayloadError(
                "context.preferred_model must be a model name such as 'claude-3-5-sonnet-20241022'"
                + (f"; {many}" if many else "")
            )
        levels.append(("context.preferred_model", {"model": pm}))
        named = len(levels) - 1
    applied = levels if named is None else levels[: named + 1]
    for where, cfg in levels[len(applied) :]:
        if not _names_model(cfg):
            _check_modelless(where, cfg)
    call: dict[str, Any] = {}
    wheres: dict[str, str] = {}
    for where, cfg in reversed(applied):  # the lowest first: a higher level overwrites it key by key
        for key in TARGET_KEYS:
            if cfg.get(key) is not None and cfg.get(key) != "":
                call[key], wheres[key] = cfg[key], where
    if named is None:
        _check_modelless("model_config", call, wheres)
    return call, wheres


def _names_model(cfg: Mapping[str, Any]) -> bool:
    """Whether a level names a model: ``""`` (what a form's empty field or an unset variable sends) names none, as
    everywhere a call's optional text is read (:func:`~.call_request.optional_str`): it leaves the model named
    below it, and the level's fallbacks and params need one as they do without a model."""
    model = cfg.get("model")
    return model is not None and model != ""


def _check_modelless(where: str, cfg: Mapping[str, Any], wheres: Mapping[str, str] | None = None) -> None:
    """Keys that need a model to go with, given where no model is: they would be dropped unsaid."""

    def at(key: str) -> str:
        return (wheres or {}).get(key, where)

    if cfg.get("fallbacks"):
        w = at("fallbacks")
        raise PayloadError(
            f"{w}.fallbacks needs {w}.model (the first target), e.g. "
            "{'model': 'gpt-4o', 'fallbacks': ['claude-3-5-sonnet-20241022']}"
        )
    if cfg.get("params"):
        w = at("params")
        raise PayloadError(
            f"{w}.params needs {w}.model (the target they are for), e.g. "
            "{'model': 'gpt-4o', 'params': {'seed': 7}}; a routed call's targets take theirs from routing"
        )
    if cfg.get("base_url") and not cfg.get("provider"):
        w = at("base_url")
        raise PayloadError(
            f"{w}.base_url needs {w}.model or {w}.provider to say which server it is, e.g. "
            "{'provider': 'local', 'base_url': 'http://localhost:11434'}"
        )


def explicit_target(source: Mapping[str, Any], wheres: Mapping[str, str]) -> Target | None:
    """The target the call names: ``source`` as :func:`call_targeting` merged it, ``wheres`` its fields."""

    def at(key: str) -> str:
        return wheres.get(key, "model_config")

    model = optional_str(source, "model", at("model"))
    if model is None:
        return None
    spec: dict[str, Any] = {"model": model}
    provider = optional_str(source, "provider", at("provider"))
    if provider:
        spec["provider"] = provider
    base_url = optional_str(source, "base_url", at("base_url"))
    if base_url:
        spec["base_url"] = base_url
    params = source.get("params")
    if params is not None:
        if not isinstance(params, Mapping):
            raise PayloadError(
                f"{at('params')}.params must be an object of vendor parameters, e.g. {{'seed': 7}}, "
                f"got {type(params).__name__}"
            )
        spec["params"] = params
    try:
        return parse_target(spec, by_call=True)
    except ConfigError as exc:
        raise PayloadError(f"{at('model')}: {exc.message}", **exc.details) from None  # (max_length, where said)


#: how many routes of calls that name their own a service keeps (see :func:`~.routing.plan_call`)
NAMED_ROUTES_KEPT = 1024


#: :func:`named_route_key`'s part for a level that names nothing
_NO_TARGET_KEYS = (None,) * len(TARGET_KEYS)


def named_route_key(
    skill_id: str, mc: Mapping[str, Any], lo: Mapping[str, Any], context: Mapping[str, Any]
) -> tuple[Any, ...] | None:
    """All that the route of a call naming its own depends on, besides what a service never changes: the
    skill, the :data:`TARGET_KEYS` of ``model_config`` and ``llm_overrides``, and the context's
    preferred_model, tier and data_class. None (routed afresh) when one is neither a string nor a list of
    strings: params, or a target written as an object (``1`` and ``True`` would make one key)."""
    key: list[Any] = [skill_id]
    for level in (mc, lo):
        if not level:  # (the usual llm_overrides: none) what its keys would be, without looking each up
            key += _NO_TARGET_KEYS
            continue
        for name in TARGET_KEYS:
            value = level.get(name)
            if value is None or type(value) is str:
                key.append(value)
            elif type(value) is list:  # of names alone (a loop, not all() over a generator: ~2,000 instructions)
                for item in value:
                    if type(item) is not str:
                        return None
                key.append(tuple(value))
            else:
                return None
    if not context:
        return (*key, None, None, None)
    for name in ("preferred_model", "tier", "data_class"):
        value = context.get(name)
        if value is not None and type(value) is not str:
            return None
        key.append(value)
    return tuple(key)
