"""The catalog: skills, routing, agents (YAML, validated with pydantic).

Layout of a catalog directory::

    skills/*.yaml      one skill per file
    routing/*.yaml     routes, tiers and the default chain (merged across files)
    agents/*.yaml      MAG and SAG agents with an ``entrypoint: module:function``
    policies/*.yaml    governance (loaded by :mod:`magsag_mcp.governance`)
    prices.yaml        price overrides (loaded by :mod:`magsag_mcp.pricing`)

``${VAR}`` and ``${VAR:-default}`` in any string are expanded from the environment. Every problem is
reported with its file, and :func:`validate_catalog` lists them all rather than stopping at the first.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import string
from collections.abc import Mapping
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import CatalogError, ConfigError, PayloadError
from .types import Target

__all__ = [
    "Catalog",
    "Skill",
    "RoutingPolicy",
    "Route",
    "AgentSpec",
    "TargetSpec",
    "find_catalog",
    "load_catalog",
    "validate_catalog",
    "parse_target",
    "infer_provider",
]

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


# --- targets -------------------------------------------------------------------------------------


def _vendor_of(model: str) -> str | None:
    m = model.lower()
    if m.startswith(("gpt-", "gpt4", "o1", "o3", "o4", "chatgpt-", "text-", "davinci", "babbage")):
        return "openai"
    if m.startswith("claude"):
        return "anthropic"
    if m.startswith(("gemini", "gemma", "learnlm")):
        return "google"
    return None


def infer_provider(model: str) -> str:
    """The provider a bare model name belongs to; an explicit provider always wins over this."""
    vendor = _vendor_of(model)
    if vendor:
        return vendor
    if ":" in model:
        return "local"  # Ollama tags: llama3.1:70b, qwen2.5:7b
    raise ConfigError(
        f"cannot tell which provider serves model {model!r}; name it explicitly "
        f"(e.g. 'local:{model}' or model_config {{'provider': ..., 'model': {model!r}}})",
        model=model,
    )


@lru_cache(maxsize=1024)
def _parse_target_text(text: str) -> Target:
    """``provider:model`` or a bare model: cached, as calls name the same few targets again and again
    (a Target is immutable; a failed parse raises and is not cached)."""
    from .providers import canonical_provider, provider_names

    if not text:
        raise ConfigError("empty target: write 'provider:model', e.g. 'openai:gpt-4o'")
    head, sep, rest = text.partition(":")
    known = set(provider_names()) | {"gemini", "ollama", "claude", "azure_openai", "vllm", "lmstudio"}
    if sep and head.lower() in known and rest:
        return Target(canonical_provider(head), rest)
    if sep and rest and _vendor_of(rest):
        # "opnai:gpt-4o" is a misspelt provider, not an Ollama tag.
        canonical_provider(head)  # raises: unknown provider, with the list of known ones
    return Target(infer_provider(text), text)


def forget_parsed_targets() -> None:
    """Drop the parsed-target cache (a provider was registered: names may parse differently)."""
    _parse_target_text.cache_clear()


def parse_target(spec: str | Mapping[str, Any]) -> Target:
    """``provider:model``, a bare model (provider inferred), or ``{provider?, model, base_url?, params?}``."""
    from .providers import canonical_provider

    if isinstance(spec, str):
        return _parse_target_text(spec.strip())
    if not isinstance(spec, Mapping) or not spec.get("model"):
        raise ConfigError(f"a target needs a model: got {spec!r}")
    model = str(spec["model"])
    provider = spec.get("provider")
    if provider:
        provider = canonical_provider(str(provider))
    else:
        provider = parse_target(model).provider if ":" in model else infer_provider(model)
        if ":" in model and parse_target(model).model != model:
            model = parse_target(model).model
    params = spec.get("params") or {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"target params must be a mapping, got {type(params).__name__}")
    _check_params(params)
    base_url = spec.get("base_url") or None
    if base_url is not None and not isinstance(base_url, str):
        raise ConfigError(f"base_url must be a URL string such as http://localhost:11434, got {base_url!r}")
    return Target(provider, model, base_url, tuple(sorted(params.items())))


#: request fields the router writes itself. Params pass extra vendor fields (top_p, seed, ...) through;
#: they must not replace these, or the vendor would get a model, an output limit or a fan-out (n) that
#: governance and the budget reservation never saw.
ROUTER_FIELDS = frozenset(
    {
        "model", "messages", "input", "instructions", "contents", "system", "systemInstruction",
        "system_instruction", "max_completion_tokens", "max_output_tokens", "maxOutputTokens", "stream",
        "stream_options", "tools", "tool_choice", "toolConfig", "tool_config", "functions", "function_call",
        "response_format", "text", "generationConfig", "generation_config", "n", "best_of", "candidateCount",
        "candidate_count",
    }
)  # fmt: skip


def _check_params(params: Mapping[str, Any]) -> None:
    for key, value in params.items():
        if key in ROUTER_FIELDS:
            raise ConfigError(
                f"params.{key} would replace a field magsag sets itself (and that governance and budgets "
                "check); set the model, max_tokens, tools, response_format or stream through the target "
                "or the call's model_config instead"
            )
        if key == "max_tokens" and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            raise ConfigError(f"params.max_tokens must be a positive integer, got {value!r}")
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if key == "temperature" and (not is_number or not 0 <= value <= 2):
            raise ConfigError(f"params.temperature must be a number between 0 and 2, got {value!r}")


class TargetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider: str | None = None
    model: str
    base_url: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)


TargetLike = str | TargetSpec


def _to_target(item: TargetLike) -> Target:
    if isinstance(item, TargetSpec):
        return parse_target(item.model_dump())
    return parse_target(item)


def _check_targets(items: list[TargetLike]) -> list[TargetLike]:
    for item in items:
        _to_target(item)  # raises ConfigError with the reason
    return items


# --- skills --------------------------------------------------------------------------------------


class PromptSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    system: str | None = None
    user: str

    @field_validator("user")
    @classmethod
    def _template_parses(cls, value: str) -> str:
        try:
            list(string.Formatter().parse(value))
        except ValueError as exc:
            raise ValueError(f"user template does not parse ({exc}); write literal braces as {{{{ and }}}}") from None
        return value


class OutputSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text", "json"] = "text"
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")


class Skill(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    id: str = Field(pattern=r"^skill\.[a-z0-9][a-z0-9._-]*$")
    description: str
    task_type: str
    prompt: PromptSpec
    input_schema: dict[str, Any] | None = None
    output: OutputSpec = Field(default_factory=OutputSpec)
    max_tokens: int = Field(default=1024, gt=0)
    temperature: float | None = Field(default=None, ge=0, le=2)
    data_class: str | None = None
    tier: str | None = None

    @field_validator("output", mode="before")
    @classmethod
    def _output_shorthand(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value

    @field_validator("input_schema")
    @classmethod
    def _schema_valid(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            import jsonschema

            try:
                jsonschema.Draft202012Validator.check_schema(value)
            except jsonschema.SchemaError as exc:
                raise ValueError(f"input_schema is not a valid JSON Schema: {exc.message}") from None
        return value

    # Built once per skill and read on every call, so cached properties (a plain attribute read
    # after the first) rather than pydantic private attributes (a __getattr__ round trip each read).
    @cached_property
    def payload_validator(self) -> Any:
        """The input schema, compiled: once per skill, not once per call."""
        import jsonschema

        return jsonschema.Draft202012Validator(self.input_schema or {})

    @cached_property
    def field_names(self) -> tuple[str, ...]:
        """The payload fields the user template reads."""
        names = []
        for _, field_name, _, _ in string.Formatter().parse(self.prompt.user):
            if field_name:
                names.append(field_name.split(".")[0].split("[")[0])
        return tuple(names)

    def render(self, payload: Mapping[str, Any]) -> str:
        """Fill the user template from the payload; a missing field names itself and the skill."""
        if self.input_schema is not None:
            self.validate_payload(payload)
        values: dict[str, str] = {}
        for name in self.field_names:
            if name not in payload:
                raise PayloadError(
                    f"{self.id}: payload is missing field {name!r} (the prompt template uses it); "
                    f"payload has: {sorted(k for k in payload if k != 'model_config') or 'no fields'}",
                    skill=self.id,
                    field=name,
                )
            value = payload[name]
            values[name] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        return self.prompt.user.format_map(values)

    def validate_payload(self, payload: Mapping[str, Any]) -> None:
        data = payload
        if "model_config" in payload or not isinstance(payload, dict):
            data = {k: v for k, v in payload.items() if k != "model_config"}
        validator = self.payload_validator
        if validator.is_valid(data):  # the common case: one pass, no error objects
            return
        errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
        if errors:
            first = errors[0]
            where = "/".join(str(p) for p in first.path) or "(payload)"
            if first.validator == "required" and not first.path:
                missing = [r for r in first.validator_value if r not in data]
                props = (self.input_schema or {}).get("properties", {})
                hint = props.get(missing[0], {}).get("description") if missing else None
                detail = f" ({hint})" if hint else ""
                required = list(first.validator_value)
                text = f"{self.id}: payload is missing field {missing[0]!r}{detail}; required: {required}"
            else:
                text = f"{self.id}: payload field {where}: {first.message}"
            raise PayloadError(
                text,
                skill=self.id,
                errors=[f"{'/'.join(str(p) for p in e.path) or '(payload)'}: {e.message}" for e in errors[:10]],
            )


# --- routing -------------------------------------------------------------------------------------


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid")
    match: str = Field(description="task_type, exact or glob")
    priority: int = 0
    chain: list[TargetLike] | None = None
    tier: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Route:
        if (self.chain is None) == (self.tier is None):
            raise ValueError("a route gives either 'chain' (a list of targets) or 'tier' (a tier name), not both")
        if self.chain is not None:
            if not self.chain:
                raise ValueError("route chain is empty")
            _check_targets(self.chain)
        return self


class RoutingFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    default: list[TargetLike] | None = None
    tiers: dict[str, list[TargetLike]] = Field(default_factory=dict)
    routes: list[Route] = Field(default_factory=list)

    @field_validator("default")
    @classmethod
    def _default_targets(cls, value: list[TargetLike] | None) -> list[TargetLike] | None:
        if value is not None:
            if not value:
                raise ValueError("default chain is empty")
            _check_targets(value)
        return value

    @field_validator("tiers")
    @classmethod
    def _tier_targets(cls, value: dict[str, list[TargetLike]]) -> dict[str, list[TargetLike]]:
        for name, chain in value.items():
            if not chain:
                raise ValueError(f"tier {name!r} is empty")
            _check_targets(chain)
        return value


class RoutingPolicy(BaseModel):
    """All routing files merged: routes sorted by priority (highest first, then file order)."""

    default: list[Target]
    tiers: dict[str, list[Target]]
    routes: list[tuple[Route, list[Target]]]

    def chain_for(self, task_type: str, *, tier: str | None = None) -> tuple[list[Target], str]:
        """The chain for a task type (and optional cost tier), and which rule chose it."""
        if tier is not None:
            if tier not in self.tiers:
                raise ConfigError(f"unknown cost tier {tier!r}; the catalog defines: {sorted(self.tiers) or 'none'}")
            return self.tiers[tier], f"tier:{tier}"
        for route, chain in self.routes:
            if route.match == task_type or fnmatch.fnmatchcase(task_type, route.match):
                return chain, f"route:{route.match}"
        return self.default, "default"

    def all_targets(self) -> list[Target]:
        """Every target the operator named anywhere in the routing catalog."""
        out = list(self.default)
        for chain in self.tiers.values():
            out.extend(chain)
        for _, chain in self.routes:
            out.extend(chain)
        return out


# --- agents --------------------------------------------------------------------------------------


class AgentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    kind: Literal["mag", "sag"]
    description: str = ""
    entrypoint: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    skills: list[str] = Field(default_factory=list)


# --- the catalog ---------------------------------------------------------------------------------


class Catalog:
    def __init__(
        self, root: Path, skills: dict[str, Skill], routing: RoutingPolicy, agents: dict[str, AgentSpec]
    ) -> None:
        self.root = root
        self.skills = skills
        self.routing = routing
        self.agents = agents

    def skill(self, skill_id: str) -> Skill:
        try:
            return self.skills[skill_id]
        except KeyError:
            from .errors import UnknownSkillError

            close = [s for s in self.skills if skill_id.split(".")[-1] in s]
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UnknownSkillError(
                f"unknown skill {skill_id!r}{hint} Known skills: {', '.join(sorted(self.skills))}", skill=skill_id
            ) from None


def find_catalog(explicit: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Path:
    """``--catalog`` > ``MAGSAG_CATALOG`` > ``./catalog`` > the copy shipped in the package."""
    env = os.environ if env is None else env
    chosen = explicit or env.get("MAGSAG_CATALOG")
    if chosen:
        path = Path(chosen).expanduser()
        if not path.is_dir():
            origin = "--catalog" if explicit else "MAGSAG_CATALOG"
            raise ConfigError(f"{origin} points at {str(path)!r}, which is not a directory; give a catalog directory")
        return path
    local = Path.cwd() / "catalog"
    if (local / "skills").is_dir():
        return local
    for candidate in (Path(__file__).parent / "_catalog", Path(__file__).parent.parent / "catalog"):
        if (candidate / "skills").is_dir():
            return candidate
    raise ConfigError("no catalog found: pass --catalog DIR or set MAGSAG_CATALOG")


def _expand(value: Any, env: Mapping[str, str], where: str, problems: list[str]) -> Any:
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env and env[name] != "":
                return env[name]
            if default is not None:
                return default
            problems.append(f"{where}: ${{{name}}} is not set; export {name} or write ${{{name}:-default}}")
            return m.group(0)

        return _VAR.sub(sub, value)
    if isinstance(value, list):
        return [_expand(v, env, where, problems) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v, env, where, problems) for k, v in value.items()}
    return value


def read_yaml(path: Path, env: Mapping[str, str], problems: list[str]) -> Any:
    """Parse one YAML file with env expansion; problems are appended, never raised."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        problems.append(f"{path}: cannot read: {exc.strerror}")
        return None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problems.append(f"{path}: malformed YAML{where}: {getattr(exc, 'problem', None) or exc}")
        return None
    return _expand(data, env, str(path), problems)


def _pydantic_problems(path: Path, exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(file)"
        msg = err["msg"].removeprefix("Value error, ")
        out.append(f"{path}: {loc}: {msg}")
    return out


def _yaml_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def _load(root: Path, env: Mapping[str, str]) -> tuple[Catalog | None, list[str]]:
    problems: list[str] = []
    skills: dict[str, Skill] = {}
    skill_files: dict[str, Path] = {}
    for path in _yaml_files(root / "skills"):
        data = read_yaml(path, env, problems)
        if data is None:
            continue
        try:
            skill = Skill.model_validate(data)
        except ValidationError as exc:
            problems.extend(_pydantic_problems(path, exc))
            continue
        except ConfigError as exc:
            problems.append(f"{path}: {exc.message}")
            continue
        if skill.id in skills:
            problems.append(f"{path}: skill id {skill.id!r} is also defined in {skill_files[skill.id]}")
            continue
        skills[skill.id], skill_files[skill.id] = skill, path

    default: list[Target] | None = None
    tiers: dict[str, list[Target]] = {}
    routes: list[tuple[Route, list[Target]]] = []
    pending_tier_routes: list[tuple[Path, Route]] = []
    for path in _yaml_files(root / "routing"):
        data = read_yaml(path, env, problems)
        if data is None:
            continue
        try:
            rf = RoutingFile.model_validate(data)
        except ValidationError as exc:
            problems.extend(_pydantic_problems(path, exc))
            continue
        except ConfigError as exc:
            problems.append(f"{path}: {exc.message}")
            continue
        if rf.default is not None:
            if default is not None:
                problems.append(f"{path}: a default chain is already defined in another routing file")
            default = [_to_target(t) for t in rf.default]
        for name, chain in rf.tiers.items():
            if name in tiers:
                problems.append(f"{path}: tier {name!r} is defined twice")
            tiers[name] = [_to_target(t) for t in chain]
        for route in rf.routes:
            if route.chain is not None:
                routes.append((route, [_to_target(t) for t in route.chain]))
            else:
                pending_tier_routes.append((path, route))
    for path, route in pending_tier_routes:
        if route.tier not in tiers:
            problems.append(f"{path}: route {route.match!r} names tier {route.tier!r}, which no routing file defines")
        else:
            routes.append((route, tiers[route.tier]))  # type: ignore[index]
    routes.sort(key=lambda rc: -rc[0].priority)  # stable: file order breaks ties
    if default is None:
        problems.append(f"{root / 'routing'}: no routing file defines a 'default' chain")

    agents: dict[str, AgentSpec] = {}
    for path in _yaml_files(root / "agents"):
        data = read_yaml(path, env, problems)
        if data is None:
            continue
        try:
            agent = AgentSpec.model_validate(data)
        except ValidationError as exc:
            problems.extend(_pydantic_problems(path, exc))
            continue
        if agent.id in agents:
            problems.append(f"{path}: agent id {agent.id!r} is defined twice")
        for sid in agent.skills:
            if sid not in skills:
                problems.append(f"{path}: agent {agent.id!r} uses unknown skill {sid!r}")
        agents[agent.id] = agent

    for skill in skills.values():
        if skill.tier is not None and skill.tier not in tiers:
            problems.append(f"{skill_files[skill.id]}: tier {skill.tier!r} is not defined in routing")

    if problems or default is None:
        return None, problems
    return Catalog(root, skills, RoutingPolicy(default=default, tiers=tiers, routes=routes), agents), problems


def load_catalog(root: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Catalog:
    env = os.environ if env is None else env
    path = find_catalog(root, env)
    catalog, problems = _load(path, env)
    if catalog is None:
        raise CatalogError(
            f"the catalog at {path} has {len(problems)} problem(s); run 'magsag catalog validate':\n  "
            + "\n  ".join(problems),
            problems=problems,
        )
    return catalog


def validate_catalog(root: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> list[str]:
    """Every problem in the catalog (skills, routing, agents, policies, prices), each with its file."""
    env = os.environ if env is None else env
    path = find_catalog(root, env)
    _, problems = _load(path, env)
    try:
        from .governance import validate_policies

        problems.extend(validate_policies(path))
    except ImportError:
        pass
    try:
        from .pricing import validate_prices

        problems.extend(validate_prices(path))
    except ImportError:
        pass
    return problems
