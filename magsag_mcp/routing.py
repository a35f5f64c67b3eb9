"""Which targets a call may go to, in what order: resolution, before anything is called.

Highest first:

1. explicit overrides in the call: ``payload["model_config"]`` (``model``, ``provider``,
   ``base_url``, ``fallbacks``), then ``context["llm_overrides"]``, then ``context["preferred_model"]``;
2. ``MAGSAG_PROVIDER`` / ``MAGSAG_MODEL`` (``MAGSAG_PROVIDER`` alone keeps the policy's models and
   swaps their provider);
3. the routing policy: a cost tier (``context["tier"]`` or the skill's ``tier``), else the first
   route matching the skill's ``task_type`` by priority;
4. the default chain.

Governance sits above all of them: it is checked per attempt by the cascade, and a data class with
required models (e.g. ``pii_processing: [llama3.1:70b]``) adds those models to the end of the plan so
that a call which policy keeps away from other models can still be served.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .call_urls import CallURLs
from .catalog import Catalog
from .errors import ConfigError, PayloadError
from .providers import canonical_provider
from .skills import Skill, schema_problem
from .targets import parse_target
from .types import LLMRequest, Message, Target, ToolCall, ToolSpec

Source = Literal["call", "env", "tier", "route", "default", "data_class"]

MODEL_CONFIG_KEYS = frozenset(
    {
        "provider",
        "model",
        "base_url",
        "params",
        "fallbacks",
        "tools",
        "tool_choice",
        "response_format",
        "max_tokens",
        "system",
        "temperature",
        "stop",
        "messages",
        "stream",
    }
)
#: target params that configure magsag itself rather than being sent to the vendor
RESERVED_PARAMS = frozenset({"api", "capabilities"})


@dataclass(slots=True)
class Candidate:
    target: Target
    source: Source
    #: chosen by the caller or the environment: a policy denial fails the call instead of skipping
    explicit: bool

    def to_dict(self) -> dict[str, Any]:
        return {**self.target.to_dict(), "source": self.source, "explicit": self.explicit}


@dataclass(slots=True)
class Plan:
    skill_id: str
    task_type: str
    rule: str
    candidates: list[Candidate]
    request: LLMRequest
    #: every data class that applies: the skill's, then the caller's if it declared another one
    data_classes: tuple[str, ...] = ()
    #: request fields the call set explicitly; they beat per-target params
    pinned: frozenset[str] = frozenset()
    warnings: list[str] = field(default_factory=list)

    @property
    def data_class(self) -> str | None:
        return self.data_classes[0] if self.data_classes else None

    def request_for(self, target: Target) -> LLMRequest:
        """The request as this target should receive it: target params fill what the call left open."""
        params = {k: v for k, v in target.params if k not in RESERVED_PARAMS}
        if not params:
            return self.request
        req = LLMRequest(
            messages=self.request.messages,
            system=self.request.system,
            tools=self.request.tools,
            tool_choice=self.request.tool_choice,
            json_output=self.request.json_output,
            json_schema=self.request.json_schema,
            json_schema_name=self.request.json_schema_name,
            json_validator=self.request.json_validator,
            max_tokens=self.request.max_tokens,
            temperature=self.request.temperature,
            stop=self.request.stop,
            stream=self.request.stream,
            extra=dict(self.request.extra),
        )
        for key, value in params.items():
            if key in ("max_tokens", "temperature", "stop"):
                if key not in self.pinned:
                    setattr(req, key, value)
            else:
                req.extra.setdefault(key, value)
        return req


def _get_str(source: Mapping[str, Any], key: str, where: str) -> str | None:
    value = source.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{where}.{key} must be a string, got {type(value).__name__}")
    return value


def _tools(raw: Any, where: str = "model_config") -> list[ToolSpec]:
    if not isinstance(raw, list):
        raise PayloadError(f"{where}.tools must be a list of tool definitions")
    tools = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise PayloadError(f"{where}.tools[{i}] must be an object like {{'type': 'function', 'function': {{...}}}}")
        fn = item.get("function", item) if item.get("type", "function") == "function" else item
        if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
            raise PayloadError(
                f"{where}.tools[{i}] needs a function name: {{'function': {{'name': ..., 'parameters': {{...}}}}}}"
            )
        params = fn.get("parameters") or fn.get("input_schema") or {"type": "object", "properties": {}}
        if not isinstance(params, Mapping):
            raise PayloadError(
                f"{where}.tools[{i}] ({fn['name']}): parameters must be a JSON Schema object, "
                f"e.g. {{'type': 'object', 'properties': {{...}}}}; got {type(params).__name__}"
            )
        tools.append(ToolSpec(name=fn["name"], description=str(fn.get("description") or ""), parameters=dict(params)))
    return tools


def _check_schema(schema: Mapping[str, Any], where: str) -> None:
    """A broken schema is the caller's error, found before any target is paid to answer against it:
    the check a skill's own schemas pass at catalog load, a $ref that points at nothing included."""
    problem = schema_problem(dict(schema))
    if problem is not None:
        raise PayloadError(f"{where}: {problem}")


def _stop(raw: Any, where: str) -> list[str]:
    stop = [raw] if isinstance(raw, str) else raw
    if not isinstance(stop, list) or not all(isinstance(x, str) and x for x in stop):
        raise PayloadError(f"{where}.stop must be a string or a list of non-empty strings, e.g. ['\\n\\n']")
    return list(stop)


def _tool_choice(raw: Any, where: str = "model_config") -> Any:
    if raw is None or raw in ("auto", "none", "required"):
        return raw
    if raw == "any":
        return "required"
    if isinstance(raw, Mapping):
        name = raw.get("name") or (raw.get("function") or {}).get("name")
        if isinstance(name, str):
            return {"name": name}
    raise PayloadError(f"{where}.tool_choice must be 'auto', 'none', 'required' or {{'name': 'function_name'}}")


def _messages(raw: Any, where: str = "model_config") -> list[Message]:
    if not isinstance(raw, list):
        raise PayloadError(f"{where}.messages must be a list of {{role, content, ...}} objects")
    out = []
    for i, m in enumerate(raw):
        if not isinstance(m, Mapping) or m.get("role") not in ("user", "assistant", "tool"):
            raise PayloadError(f"{where}.messages[{i}].role must be 'user', 'assistant' or 'tool'")
        calls = []
        raw_calls = m.get("tool_calls") or []
        if not isinstance(raw_calls, list):
            raise PayloadError(f"{where}.messages[{i}].tool_calls must be a list")
        for j, tc in enumerate(raw_calls):
            fn = tc.get("function", tc) if isinstance(tc, Mapping) else None
            if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
                raise PayloadError(
                    f"{where}.messages[{i}].tool_calls[{j}] needs a function name: "
                    "{'id': ..., 'function': {'name': ..., 'arguments': '{...}'}}"
                )
            args = fn.get("arguments") or {}
            if isinstance(args, str):
                try:
                    args = json.loads(args)
                except ValueError:
                    raise PayloadError(f"{where}.messages[{i}]: tool call arguments are not JSON") from None
            if not isinstance(args, Mapping):
                raise PayloadError(f"{where}.messages[{i}].tool_calls[{j}].arguments must be a JSON object")
            calls.append(ToolCall(id=str(tc.get("id") or f"call_{len(calls)}"), name=fn["name"], arguments=args))
        content = m.get("content")
        if content is not None and not isinstance(content, str):
            content = json.dumps(content, ensure_ascii=False)
        out.append(
            Message(
                role=m["role"],
                content=content,
                tool_calls=calls,
                tool_call_id=m.get("tool_call_id"),
                name=m.get("name"),
            )
        )
    return out


def build_request(
    skill: Skill,
    payload: Mapping[str, Any],
    model_config: Mapping[str, Any],
    llm_overrides: Mapping[str, Any] | None = None,
) -> tuple[LLMRequest, set[str]]:
    """The skill's prompt filled from the payload, with the call's settings applied.

    ``context.llm_overrides`` takes the same keys as ``model_config`` and is applied first, so that
    ``model_config`` (the payload's own setting) wins key by key. Both are checked the same way.
    """
    for where, cfg in (("context.llm_overrides", llm_overrides or {}), ("model_config", model_config)):
        unknown = set(cfg) - MODEL_CONFIG_KEYS
        if unknown:
            raise PayloadError(f"{where} has unknown key(s) {sorted(unknown)}; allowed: {sorted(MODEL_CONFIG_KEYS)}")
    user = skill.render(payload)
    req = LLMRequest(
        messages=[Message("user", user)],
        system=skill.prompt.system,
        max_tokens=skill.max_tokens,
        temperature=skill.temperature,
        json_output=skill.output.type == "json",
        json_schema=skill.output.schema_,
        json_schema_name=skill.id.removeprefix("skill.").replace(".", "_").replace("-", "_"),
        json_validator=skill.output_validator,
    )
    pinned: set[str] = set()
    lo = dict(llm_overrides or {})
    if model_config.get("messages") is not None:
        lo.pop("messages", None)  # key by key: model_config's history replaces, never doubles, the other
    _apply(req, pinned, lo, "context.llm_overrides")
    _apply(req, pinned, model_config, "model_config")
    return req, pinned


def _apply(req: LLMRequest, pinned: set[str], cfg: Mapping[str, Any], where: str) -> None:
    if "system" in cfg:
        req.system = _get_str(cfg, "system", where)
    if cfg.get("max_tokens") is not None:
        value = cfg["max_tokens"]
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise PayloadError(f"{where}.max_tokens must be a positive integer")
        req.max_tokens = value
        pinned.add("max_tokens")
    if cfg.get("temperature") is not None:
        value = cfg["temperature"]
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 2:
            raise PayloadError(f"{where}.temperature must be a number between 0 and 2")
        req.temperature = float(value)
        pinned.add("temperature")
    if cfg.get("stop") is not None:
        req.stop = _stop(cfg["stop"], where)
        pinned.add("stop")
    if cfg.get("tools") is not None:
        req.tools = _tools(cfg["tools"], where)
    if "tool_choice" in cfg:
        req.tool_choice = _tool_choice(cfg["tool_choice"], where)
    if cfg.get("response_format") is not None:
        rf = cfg["response_format"]
        kind = rf.get("type") if isinstance(rf, Mapping) else None
        if kind == "json_object":
            req.json_output, req.json_schema, req.json_validator = True, None, None
        elif kind == "json_schema":
            js = rf.get("json_schema") or {}
            if not isinstance(js, Mapping) or not isinstance(js.get("schema") or {}, Mapping):
                raise PayloadError(f"{where}.response_format.json_schema must be {{'name': ..., 'schema': {{...}}}}")
            _check_schema(js.get("schema") or {}, f"{where}.response_format.json_schema.schema")
            req.json_output = True
            req.json_schema = js.get("schema") or {"type": "object"}
            req.json_validator = None  # the skill's validator checks the skill's schema, not this one
            req.json_schema_name = js.get("name") or req.json_schema_name
        elif kind == "text":
            req.json_output, req.json_schema, req.json_validator = False, None, None
        else:
            raise PayloadError(f"{where}.response_format.type must be 'text', 'json_object' or 'json_schema'")
    if cfg.get("messages") is not None:
        req.messages.extend(_messages(cfg["messages"], where))
    if cfg.get("stream") is not None:
        if not isinstance(cfg["stream"], bool):
            raise PayloadError(f"{where}.stream must be true or false")
        req.stream = cfg["stream"]


def _env_override(env: Mapping[str, str]) -> tuple[str | None, str | None]:
    provider = env.get("MAGSAG_PROVIDER") or None
    model = env.get("MAGSAG_MODEL") or None
    if provider:
        try:
            provider = canonical_provider(provider)
        except ConfigError as exc:
            raise ConfigError(f"MAGSAG_PROVIDER={env['MAGSAG_PROVIDER']!r}: {exc.message}") from None
    return provider, model


def _explicit_target(source: Mapping[str, Any], where: str) -> Target | None:
    model = _get_str(source, "model", where)
    if model is None:
        return None
    spec: dict[str, Any] = {"model": model}
    provider = _get_str(source, "provider", where)
    if provider:
        spec["provider"] = provider
    base_url = _get_str(source, "base_url", where)
    if base_url:
        spec["base_url"] = base_url
    if isinstance(source.get("params"), Mapping):
        spec["params"] = source["params"]
    try:
        return parse_target(spec)
    except ConfigError as exc:
        raise PayloadError(f"{where}: {exc.message}") from None


#: providers that host other vendors' models under the same names (deployments, local servers)
HOSTING_PROVIDERS = frozenset({"azure", "compat", "local", "fake"})


def _swap_provider(chain: Sequence[Target], default: Sequence[Target], provider: str, task_type: str) -> list[Target]:
    """``MAGSAG_PROVIDER`` alone: keep the policy's models, served by that provider.

    A hosting provider (azure, compat, local) serves the chain's model names as they are. A vendor
    (openai, anthropic, google) can only serve its own models, so the chain keeps those (from the
    route, else from the default chain): ``anthropic:gpt-4o`` would be a call that cannot succeed.
    """
    if provider in HOSTING_PROVIDERS:
        out: list[Target] = []
        for t in chain:
            swapped = t if t.provider == provider else Target(provider, t.model, None, t.params)
            if swapped not in out:
                out.append(swapped)
        return out
    for candidates in (chain, default):
        own = [t for t in candidates if t.provider == provider]
        if own:
            return own
    raise ConfigError(
        f"provider override {provider!r} (MAGSAG_PROVIDER or model_config.provider): the routing policy names no "
        f"{provider} model for task {task_type!r}; also set MAGSAG_MODEL (or model_config.model) to one of its models"
    )


@dataclass(slots=True)
class Route:
    """Where a call goes, before any payload is seen: the targets in order, the rule that chose them,
    and the data classes whose requirements apply."""

    candidates: list[Candidate]
    rule: str
    data_classes: tuple[str, ...]


def plan_call(
    catalog: Catalog,
    skill_id: str,
    payload: Mapping[str, Any],
    *,
    context: Mapping[str, Any] | None,
    env: Mapping[str, str],
    data_class_models: Mapping[str, Sequence[str]] | None = None,
    call_urls: CallURLs | None = None,
) -> Plan:
    """``call_urls``: where this configuration lets a call's base URLs go; a :class:`Service` passes the
    one it built when it opened, and without it ``env`` and ``catalog`` are read for this call."""
    skill = catalog.skill(skill_id)
    if not isinstance(payload, Mapping):
        raise PayloadError(f"{skill_id}: payload must be a JSON object, got {type(payload).__name__}")
    context = context or {}
    mc = payload.get("model_config") or {}
    if not isinstance(mc, Mapping):
        raise PayloadError("payload.model_config must be an object, e.g. {'model': 'gpt-4o'}")
    lo = context.get("llm_overrides") or {}
    if not isinstance(lo, Mapping):
        raise PayloadError("context.llm_overrides must be an object, e.g. {'model': 'gpt-4o-mini'}")
    request, pinned = build_request(skill, payload, mc, lo)
    chosen = _route(catalog, skill, mc, lo, context, env, data_class_models, call_urls)
    return Plan(
        skill_id=skill.id,
        task_type=skill.task_type,
        rule=chosen.rule,
        candidates=chosen.candidates,
        request=request,
        data_classes=chosen.data_classes,
        pinned=frozenset(pinned),
    )


def route(
    catalog: Catalog,
    skill_id: str,
    *,
    env: Mapping[str, str],
    data_class_models: Mapping[str, Sequence[str]] | None = None,
) -> Route:
    """The route a call to ``skill_id`` takes when neither its payload nor its context names a model:
    the same resolution :func:`plan_call` makes (``MAGSAG_PROVIDER`` / ``MAGSAG_MODEL``, the skill's
    tier, routes, data-class models), for showing it without a payload to check."""
    return _route(catalog, catalog.skill(skill_id), {}, {}, {}, env, data_class_models, None)


def _route(
    catalog: Catalog,
    skill: Skill,
    mc: Mapping[str, Any],
    lo: Mapping[str, Any],
    context: Mapping[str, Any],
    env: Mapping[str, str],
    data_class_models: Mapping[str, Sequence[str]] | None,
    call_urls: CallURLs | None,
) -> Route:
    candidates: list[Candidate] = []
    #: targets the call itself named, with the field they came from (their base URLs are checked)
    from_call: list[tuple[Target, str]] = []
    rule = ""
    explicit = _explicit_target(mc, "model_config")
    explicit_where = "model_config"
    if explicit is None:
        explicit = _explicit_target(lo, "context.llm_overrides")
        explicit_where = "context.llm_overrides"
    for where, cfg in (("model_config", mc), ("context.llm_overrides", lo)):
        if cfg.get("model") is None:
            if cfg.get("fallbacks"):
                raise PayloadError(
                    f"{where}.fallbacks needs {where}.model (the first target), e.g. "
                    "{'model': 'gpt-4o', 'fallbacks': ['claude-3-5-sonnet-20241022']}"
                )
            if cfg.get("base_url") and not cfg.get("provider"):
                raise PayloadError(
                    f"{where}.base_url needs {where}.model or {where}.provider to say which server it is, e.g. "
                    "{'provider': 'local', 'base_url': 'http://localhost:11434'}"
                )
    if explicit is None and context.get("preferred_model"):
        pm = context["preferred_model"]
        if not isinstance(pm, str):
            raise PayloadError("context.preferred_model must be a model name such as 'claude-3-5-sonnet-20241022'")
        try:
            explicit = parse_target(pm)
        except ConfigError as exc:
            raise PayloadError(f"context.preferred_model: {exc.message}") from None
        explicit_where = "context.preferred_model"
    call_provider = _get_str(mc, "provider", "model_config") or _get_str(lo, "provider", "context.llm_overrides")
    env_provider, env_model = _env_override(env)

    if explicit is not None:
        rule = "override:call"
        candidates.append(Candidate(explicit, "call", True))
        from_call.append((explicit, explicit_where))
        fallbacks = {"model_config": mc, "context.llm_overrides": lo}.get(explicit_where, {}).get("fallbacks") or []
        if not isinstance(fallbacks, list):
            raise PayloadError(
                f"{explicit_where}.fallbacks must be a list of targets, e.g. ['claude-3-5-sonnet-20241022'], "
                f"got {type(fallbacks).__name__}"
            )
        for i, fb in enumerate(fallbacks):
            try:
                target = parse_target(fb)
            except ConfigError as exc:
                raise PayloadError(f"{explicit_where}.fallbacks[{i}]: {exc.message}") from None
            candidates.append(Candidate(target, "call", True))
            from_call.append((target, f"{explicit_where}.fallbacks[{i}]"))
    elif env_model and not call_provider:
        rule = "override:env"
        try:
            target = Target(env_provider, env_model) if env_provider else parse_target(env_model)
        except ConfigError as exc:
            raise ConfigError(f"MAGSAG_MODEL={env_model!r}: {exc.message}") from None
        candidates.append(Candidate(target, "env", True))
    else:
        tier = context.get("tier") or skill.tier
        chain, rule = catalog.routing.chain_for(skill.task_type, tier=tier)
        source: Source = "tier" if rule.startswith("tier:") else "route" if rule.startswith("route:") else "default"
        provider = call_provider or env_provider
        if provider:
            provider = canonical_provider(provider)
            chain = _swap_provider(chain, catalog.routing.default, provider, skill.task_type)
            rule += f" (provider:{provider} from {'call' if call_provider else 'MAGSAG_PROVIDER'})"
        call_base = _get_str(mc, "base_url", "model_config") or _get_str(lo, "base_url", "context.llm_overrides")
        if call_provider and call_base:
            # {"provider": "local", "base_url": ...}: the policy's models, on the server the call names.
            chain = [Target(t.provider, t.model, call_base, t.params) for t in chain]
            from_call.extend((t, "model_config" if mc.get("base_url") else "context.llm_overrides") for t in chain)
        candidates.extend(Candidate(t, source, bool(call_provider or env_provider)) for t in chain)
    (call_urls or CallURLs(env, catalog.routing.all_targets)).check(from_call)

    declared = context.get("data_class")
    if declared is not None and (not isinstance(declared, str) or not declared):
        raise PayloadError("context.data_class must be a data class name such as 'pii_processing'")
    # Both apply: a caller may add a stricter class, never relax the skill's own.
    data_classes = tuple(dict.fromkeys(c for c in (skill.data_class, declared) if c))
    for data_class in data_classes:
        if data_class_models and data_class in data_class_models:
            have = {c.target for c in candidates}
            for model in data_class_models[data_class]:
                target = parse_target(model)
                if target not in have:
                    candidates.append(Candidate(target, "data_class", False))
    return Route(candidates, rule, data_classes)
