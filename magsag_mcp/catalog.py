"""The catalog: skills, routing, agents (YAML, validated with pydantic).

Layout of a catalog directory::

    skills/*.yaml      one skill per file
    routing/*.yaml     routes, tiers, the default chain, provider_defaults and request_caps (merged across files)
    agents/*.yaml      MAG and SAG agents with an ``entrypoint: module:function``
    policies/*.yaml    governance (loaded by :mod:`magsag_mcp.governance`)
    prices.yaml        price overrides (loaded by :mod:`magsag_mcp.pricing`)

``${VAR}`` and ``${VAR:-default}`` in any string are expanded from the environment. Every problem is
reported with its file, and :func:`validate_catalog` lists them all rather than stopping at the first.

A skill's model lives in :mod:`magsag_mcp.skills`, the routing files' in :mod:`magsag_mcp.routing_files`, and target
parsing in :mod:`magsag_mcp.targets`: calls use them without reading any YAML.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from shlex import quote
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .catalog_edits import installed_catalog_note as installed_catalog_note
from .catalog_location import _CATALOG_DIRS, _bundled
from .catalog_location import find_catalog as find_catalog
from .catalog_yaml import catalog_file_to_read, read_yaml, variables_named, yaml_kind
from .errors import CatalogError, ConfigError, UnknownSkillError
from .plurals import counted
from .provider_defaults import read_provider_defaults
from .redaction import redact, register_env_secrets
from .request_caps import RequestCap, read_request_caps
from .result_dicts import SkillDict
from .routing_files import Route, RoutingFile, RoutingPolicy
from .skill_schemas import checked_schema, compile_validator
from .skills import Skill, check_payload
from .suggest import meant_id
from .targets import to_target
from .text import NAME_MAX
from .types import Target

__all__ = [
    "Catalog",
    "RoutingPolicy",
    "Route",
    "AgentSpec",
    "find_catalog",
    "installed_catalog_note",
    "load_catalog",
    "validate_catalog",
    "read_yaml",
]


# --- agents --------------------------------------------------------------------------------------


class AgentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=NAME_MAX)  # the agent its calls record
    kind: Literal["mag", "sag"]
    description: str = ""
    entrypoint: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    skills: list[str] = Field(default_factory=list)
    #: what the agent's ``run`` reads from its payload: checked before the agent runs, so that a
    #: missing field is a clear error rather than a KeyError inside the agent's code
    input_schema: dict[str, Any] | None = None

    @field_validator("input_schema")
    @classmethod
    def _schema_valid(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return checked_schema(value, "each run's payload is checked against this schema")

    @cached_property
    def payload_validator(self) -> Any:
        return compile_validator(self.input_schema or {})

    def validate_payload(self, payload: Any) -> None:
        if self.input_schema is not None:
            check_payload(f"agent {self.id}", self.input_schema, self.payload_validator, payload, agent=self.id)


# --- the catalog ---------------------------------------------------------------------------------


class Catalog:
    def __init__(
        self, root: Path, skills: dict[str, Skill], routing: RoutingPolicy, agents: dict[str, AgentSpec]
    ) -> None:
        self.root = root
        self.skills = skills
        self.routing = routing
        self.agents = agents
        #: where each skill and agent was defined, for messages that name the file
        self.skill_files: dict[str, Path] = {}
        self.agent_files: dict[str, Path] = {}
        #: where the default chain, each tier and each provider's default model are written: "default", "tiers.NAME"
        #: and "provider_defaults.PROVIDER" (by its canonical name) -> "FILE: KEY" (the key as written)
        self.routing_where: dict[str, str] = {}
        #: routing's ``request_caps``, in file order (see :mod:`.request_caps`); empty: no target is capped
        self.request_caps: tuple[RequestCap, ...] = ()

    def routing_place(self, key: str) -> str:
        """``FILE: KEY`` of the default chain (``default``), a tier (``tiers.NAME``) or a provider's default model
        (``provider_defaults.PROVIDER``), else the routing folder."""
        return self.routing_where.get(key) or str(self.root / "routing")

    def skill_list(self) -> list[SkillDict]:
        """Every skill by id: what it does and what its payload takes (:meth:`Skill.summary`)."""
        return [self.skills[skill_id].summary() for skill_id in sorted(self.skills)]

    def skill(self, skill_id: str) -> Skill:
        if not isinstance(skill_id, str):
            raise UnknownSkillError(
                f"a skill id is a string such as 'skill.analysis', got {type(skill_id).__name__}; "
                f"known skills: {', '.join(sorted(self.skills))}"
            )
        try:
            return self.skills[skill_id]
        except KeyError:
            if len(skill_id) > NAME_MAX:  # no skill's id is so long (skills.py): not quoted, nor matched
                raise UnknownSkillError(
                    f"unknown skill: the skill id given is {len(skill_id):,} characters long, and a skill id is at "
                    f"most {NAME_MAX}; known skills: {', '.join(sorted(self.skills))}"
                ) from None
            from .suggest import meant_id  # only once a call names a skill that is not there

            close = meant_id(skill_id, self.skills)
            hint = f" (did you mean {close!r}?)" if close else ""
            raise UnknownSkillError(
                f"unknown skill {skill_id!r}{hint}; known skills: {', '.join(sorted(self.skills))}", skill=skill_id
            ) from None


_M = TypeVar("_M", bound=BaseModel)


def _entry(path: Path, model: type[_M], env: Mapping[str, str], problems: list[str], needs: str) -> _M | None:
    """The catalog entry in ``path`` (a skill, a routing file, an agent) as ``model``; None, with what is
    wrong added to ``problems``, when it cannot be read or is not a valid entry. An empty (or
    comments-only) file is a problem too: its entry would vanish without a word, and calls to it fail
    later as unknown."""
    before = len(problems)
    data = read_yaml(path, env, problems)
    if data is None:
        if len(problems) == before:
            problems.append(f"{path}: the file is empty; {needs} (or delete the file)")
        return None
    if not isinstance(data, dict):  # pydantic said "(file): Input should be a valid dictionary or instance of Skill"
        problems.append(f"{path}: the file holds {yaml_kind(data)}, not a mapping; {needs}")
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(path, exc, model))
    except ConfigError as exc:
        problems.append(f"{path}: {exc.message}")
    return None


def _pydantic_problems(path: Path, exc: ValidationError, model: type[BaseModel]) -> list[str]:
    from .suggest import id_fix, unknown_field, value_fix, wrong_shape

    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(file)"
        msg = wrong_shape(err["loc"], err["type"], err["msg"].removeprefix("Value error, ")) + value_fix(err)
        if err["type"] == "extra_forbidden":  # a misspelt key: the one meant, and the ones there are
            msg += unknown_field(model, err["loc"])
        if err["type"] == "string_pattern_mismatch" and err["loc"] == ("id",) and model in (Skill, AgentSpec):
            msg += id_fix(err["input"], skill=model is Skill)
        out.append(f"{path}: {loc}: {msg}")
    return out


def _yaml_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if catalog_file_to_read(p))


def _folders_linked_to_nothing(root: Path) -> list[Path]:
    """skills/, routing/ and agents/ where each is a link to nothing (a folder kept elsewhere, not mounted): their
    files were passed over unsaid, the agents gone, routing said to have no default chain, skills to be no catalog."""
    return [
        folder
        for folder in (root / name for name in ("skills", "routing", "agents"))
        if folder.is_symlink() and not folder.exists()
    ]


def catalog_variables(root: Path) -> frozenset[str]:
    """The environment variables the catalog at ``root`` reads: those its files' ``${VAR}`` name (a routing file's
    ``base_url``, a skill's description), which a variable nothing else reads may be (``magsag doctor``)."""
    from .price_files import price_files

    files = [path for folder in ("skills", *_CATALOG_DIRS) for path in _yaml_files(root / folder)]
    return variables_named(files + price_files(root))


def _load(root: Path, env: Mapping[str, str]) -> tuple[Catalog | None, list[str]]:
    problems: list[str] = []
    skills: dict[str, Skill] = {}
    skill_files: dict[str, Path] = {}
    unmounted = _folders_linked_to_nothing(root)
    problems.extend(
        f"{folder}: {folder.name}/ is a link to nothing ({os.readlink(folder)}), so none of its files is read; "
        "mount or restore the folder it points to, or remove the link"
        for folder in unmounted
    )
    if not (root / "skills").is_dir() and root / "skills" not in unmounted:
        # the guide's catalog/policies/model_governance.yaml, written in a new project, given as --catalog or
        # MAGSAG_CATALOG: its calls are to skills, and routing, that only the bundled catalog holds
        bundled = _bundled()
        fix = f"cp -rn {quote(str(bundled))}/. {quote(str(root))}/" if bundled is not None else ""
        problems.append(
            f"{root}: no skills/ folder, so this is no whole catalog (a skill per file in skills/, routing/, "
            "policies/); "
            + (f"copy the bundled catalog into it, keeping your files ({fix})" if fix else "add its skills")
        )
    # skill files that failed, each with the id it declares if it can be read: an agent's unknown skill may be theirs
    unloaded_skills: dict[Path, str | None] = {}
    for path in _yaml_files(root / "skills"):
        skill = _entry(path, Skill, env, problems, "a skill needs id, description, task_type and prompt")
        if skill is None:
            unloaded_skills[path] = _declared_id(path, env)
            continue
        if skill.id in skills:
            problems.append(f"{path}: skill id {skill.id!r} is also defined in {skill_files[skill.id]}")
            continue
        skills[skill.id], skill_files[skill.id] = skill, path

    default: list[Target] | None = None
    tiers: dict[str, list[Target]] = {}
    routes: list[tuple[Route, list[Target]]] = []
    provider_defaults: dict[str, list[Target]] = {}
    request_caps: dict[str, RequestCap] = {}  # by key, in file order
    #: every route in file order, a route naming a tier among them: its chain is known once every file is read
    written: list[Route] = []
    where: dict[str, str] = {}  # Catalog.routing_where
    unreadable = 0  # routing files that failed: one of them may be the one with the default chain
    for path in _yaml_files(root / "routing"):
        rf = _entry(
            path,
            RoutingFile,
            env,
            problems,
            "a routing file holds default, tiers, routes, provider_defaults and/or request_caps",
        )
        if rf is None:
            unreadable += 1
            continue
        if rf.default is not None:
            if default is not None:
                problems.append(
                    f"{path}: default: a default chain is already defined in {where['default'].partition(': ')[0]}; "
                    "keep one of the two"
                )
            default = [to_target(t) for t in rf.default]
            where["default"] = f"{path}: default"
        for name, tier_chain in rf.tiers.items():
            if name in tiers:
                problems.append(
                    f"{path}: tiers.{name}: tier {name!r} is also defined in "
                    f"{where[f'tiers.{name}'].partition(': ')[0]}; keep one of the two"
                )
            tiers[name] = [to_target(t) for t in tier_chain]
            where[f"tiers.{name}"] = f"{path}: tiers.{name}"
        for i, route in enumerate(rf.routes):
            route._where = f"{path}: routes.{i}"
            written.append(route)
        for provider, (key, chain) in read_provider_defaults(
            rf.provider_defaults, f"{path}: provider_defaults", problems
        ).items():
            if provider in provider_defaults:
                problems.append(
                    f"{path}: provider_defaults.{key}: a default model of {provider} is already named in "
                    f"{where[f'provider_defaults.{provider}'].partition(': ')[0]}; keep one of the two"
                )
            provider_defaults[provider] = chain
            where[f"provider_defaults.{provider}"] = f"{path}: provider_defaults.{key}"
        for cap in read_request_caps(rf.request_caps, f"{path}: request_caps", problems):
            if cap.key in request_caps:
                problems.append(
                    f"{cap.where}: {cap.key} is also capped in {request_caps[cap.key].where.partition(': ')[0]}; "
                    "keep one of the two"
                )
                continue
            request_caps[cap.key] = cap
    for route in written:
        if route.chain is not None:
            routes.append((route, [to_target(t) for t in route.chain]))
        elif route.tier not in tiers:
            problems.append(
                f"{route._where}.tier: route {route.match!r} names tier {route.tier!r}, which no routing file defines"
                + _tier_hint(route.tier, tiers)  # type: ignore[arg-type]
            )
        else:
            # in its place: a route naming a tier went after every route with a chain, whatever the file order
            routes.append((route, tiers[route.tier]))  # type: ignore[index]
    routes.sort(key=lambda rc: -rc[0].priority)  # stable: file order breaks ties
    if default is None and not unreadable and root / "routing" not in unmounted:
        problems.append(
            f"{root / 'routing'}: no routing file defines a 'default' chain, where a task no route matches goes; add "
            "one to a routing file (routing/default.yaml), e.g. default: [openai:gpt-4o-mini]"
        )

    agents: dict[str, AgentSpec] = {}
    agent_files: dict[str, Path] = {}
    for path in _yaml_files(root / "agents"):
        agent = _entry(path, AgentSpec, env, problems, "an agent needs id, kind and entrypoint")
        if agent is None:
            continue
        if agent.id in agents:
            problems.append(
                f"{path}: agent id {agent.id!r} is also defined in {agent_files[agent.id]}; give each agent an id "
                "of its own"
            )
        agent_files[agent.id] = path
        for sid in agent.skills:
            if sid in skills:
                continue
            if (unloaded := _file_named_for(sid, unloaded_skills)) is not None:
                # not "did you mean" another skill, nor "add it": the skill is there, in a file to fix
                problems.append(
                    f"{path}: agent {agent.id!r} uses skill {sid!r}, which no skill file that loaded defines: it is "
                    f"most likely the one in {unloaded}, which could not be loaded (its problem is listed): fix that "
                    "file"
                )
                continue
            fix = _unknown_skill_fix(sid, skills)
            problems.append(f"{path}: agent {agent.id!r} uses unknown skill {sid!r}{fix}")
        agents[agent.id] = agent

    for skill in skills.values():
        if skill.tier is not None and skill.tier not in tiers:
            problems.append(
                f"{skill_files[skill.id]}: tier {skill.tier!r} is not defined in routing"
                + _tier_hint(skill.tier, tiers)
            )

    if default is None:
        return None, problems
    # built even with problems, for validate to check what did load; load_catalog refuses it then
    routing = RoutingPolicy(default=default, tiers=tiers, routes=routes, provider_defaults=provider_defaults)
    catalog = Catalog(root, skills, routing, agents)
    catalog.skill_files = skill_files
    catalog.agent_files = agent_files
    catalog.routing_where = where
    catalog.request_caps = tuple(request_caps.values())
    return catalog, problems


def _tier_hint(name: str, tiers: Mapping[str, Any]) -> str:
    """What to write instead of an undefined tier: the nearest defined one, and every one."""
    if not tiers:
        return "; the routing defines no tiers: add it under 'tiers:' in a routing file, or remove the tier"
    from .suggest import nearest

    close = nearest(name, tiers)
    hint = f" (did you mean {close!r}?)" if close else ""
    return f"{hint}; the tiers defined in routing: {', '.join(sorted(tiers))}"


def _file_named_for(skill_id: str, files: Mapping[Path, str | None]) -> Path | None:
    """The one of ``files`` (each with the id it declares) that holds skill ``skill_id``: the one declaring it (a
    file of any name, ``skills/summaries.yaml``), else one named for it (``skills/analysis.yaml`` or
    ``skills/skill.analysis.yaml`` for ``skill.analysis``: malformed YAML declares nothing), if one is."""
    names = {skill_id.lower(), skill_id.lower().removeprefix("skill.")}
    declaring = (f for f, declared in files.items() if declared == skill_id)
    return next(declaring, None) or next((f for f in files if f.stem.lower() in names), None)


def _declared_id(path: Path, env: Mapping[str, str]) -> str | None:
    """The ``id`` a skill file that could not be loaded declares, if it is YAML with one (its problems are listed
    where it was loaded)."""
    data = read_yaml(path, env, [])
    declared = data.get("id") if isinstance(data, dict) else None
    return declared if isinstance(declared, str) else None


def _unknown_skill_fix(skill_id: str, skills: Mapping[str, Skill]) -> str:
    """What an agent that names a skill there is not should name instead: the skill it nearly names, and the
    catalog's skills (none when no skill file loaded: their own problems are listed too)."""
    close = meant_id(skill_id, skills)
    hint = f" (did you mean {close!r}?)" if close else ""
    if not skills:
        return f"{hint}; the catalog has no skill that loaded: fix the skills/ files, or add the skill there"
    named = ", ".join(sorted(skills))
    return f"{hint}; name a skill of the catalog's ({named}) in its skills, or add the skill under skills/"


def load_catalog(root: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Catalog:
    env = os.environ if env is None else env
    path = find_catalog(root, env)
    catalog, problems = _load(path, env)
    if catalog is None or problems:
        raise catalog_problems(path, problems)
    return catalog


def catalog_problems(path: Path, problems: list[str]) -> CatalogError:
    """The error for a catalog that cannot be used, each problem on its own line."""
    return CatalogError(
        f"the catalog at {path} has {counted(len(problems), 'problem')}; run 'magsag catalog validate':\n  "
        + "\n  ".join(problems),
        problems=problems,
    )


def validate_catalog(root: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> list[str]:
    """Every problem in the catalog (skills, routing, agents, policies, prices), each with its file; redacted, as every
    other message is: a problem quotes the value it refused, and a key pasted into the wrong field (a price, a limit)
    was printed by ``magsag catalog validate`` whole, into a terminal's scrollback or a CI log."""
    env = os.environ if env is None else env
    register_env_secrets(env)  # (env's keys pasted there are known: Service.open, doctor and the CLI do as much)
    path = find_catalog(root, env)
    from .governance import load_policies, validate_policies
    from .pricing import Pricer, validate_prices

    catalog, problems = _load(path, env)
    policy_problems = validate_policies(path, env)
    problems.extend(policy_problems)
    if catalog is not None and not policy_problems:
        from .catalog_checks import policy_problems as checked

        problems.extend(checked(catalog, load_policies(path, env)))
    if catalog is not None:
        from .catalog_checks import agent_entrypoint_problems, base_url_problems
        from .catalog_route_checks import misspelt_routes, misspelt_task_types, shadowed_routes

        problems.extend(agent_entrypoint_problems(catalog))
        problems.extend(base_url_problems(catalog, env))
        problems.extend(misspelt_routes(catalog) + misspelt_task_types(catalog) + shadowed_routes(catalog))
    price_problems = validate_prices(path, env)
    problems.extend(price_problems)
    if catalog is not None and not price_problems and not policy_problems:
        from .catalog_price_checks import misread_price_units, unaffordable_routed_targets, unpriced_routed_targets

        policies = load_policies(path, env)
        pricer = Pricer.from_catalog(path, env)
        problems.extend(misread_price_units(catalog, pricer))
        problems.extend(unpriced_routed_targets(catalog, policies.limits, pricer, policies))
        classes = policies.data_class_models()
        problems.extend(unaffordable_routed_targets(catalog, policies.limits, pricer, classes, policies))
    return [redact(problem) for problem in problems]
