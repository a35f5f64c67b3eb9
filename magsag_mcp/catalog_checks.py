"""The catalog checks only ``magsag catalog validate`` runs, beyond what loading a catalog checks.

They read further than loading needs: agents' source files (parsed, never run), every routing
target's base URL, the routing's targets against the policies. Each returns problems, one line each,
naming the file and the fix. The checks of prices are in :mod:`catalog_price_checks`, those of routes against the
skills' task types in :mod:`catalog_route_checks`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .catalog import Catalog
from .catalog_route_checks import route_at
from .types import Target
from .yaml_lines import YamlLines, placed_on_its_line


def agent_entrypoint_problems(catalog: Catalog) -> list[str]:
    """Each agent's entrypoint, checked without running it: the module is found and parses, and
    defines the function at its top level. (Running an agent would import, and so execute, it.)"""
    import ast
    import importlib.util

    from .agent_modules import module_fix
    from .suggest import nearest

    problems = []
    for agent_id, spec in sorted(catalog.agents.items()):
        where = catalog.agent_files.get(agent_id, catalog.root / "agents")
        module, _, attr = spec.entrypoint.partition(":")
        # found as running it finds it: the catalog's agents/ folder first, then importable modules
        source = catalog.root / "agents" / (module.replace(".", os.sep) + ".py")
        try:
            found = importlib.util.find_spec(module) if "." not in module and not source.is_file() else None
        except (ImportError, ValueError):
            found = None
        if found is not None:
            if not found.origin or not found.origin.endswith(".py"):
                continue  # a package or a compiled module: checked when it runs
            source = Path(found.origin)
        elif not source.is_file():
            if "." not in module:  # a submodule of a package is checked when it runs
                fix = module_fix(module, catalog.root / "agents")
                problems.append(f"{where}: entrypoint module {module!r} is neither importable nor at {source}{fix}")
            continue
        try:
            tree = ast.parse(source.read_bytes(), filename=str(source))
        except SyntaxError as exc:
            problems.append(f"{where}: entrypoint module {source} has a syntax error at line {exc.lineno}: {exc.msg}")
            continue
        except OSError as exc:
            problems.append(f"{where}: cannot read entrypoint module {source}: {exc.strerror}")
            continue
        if attr not in (names := _top_level_names(tree)):
            close = nearest(attr, sorted(names))
            hint = f" (did you mean {module}:{close}?)" if close else ""
            problems.append(f"{where}: entrypoint {spec.entrypoint!r}: {source.name} defines no {attr!r}{hint}")
        elif any(isinstance(node, ast.AsyncFunctionDef) and node.name == attr for node in tree.body):
            problems.append(
                f"{where}: entrypoint {spec.entrypoint!r} is an async function; an agent is a plain function "
                "(def run(payload, *, registry, skills, runner, obs)) that calls skills.invoke(...)"
            )
    return problems


def _top_level_names(tree: Any) -> set[str]:
    import ast

    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign | ast.AugAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _chains(catalog: Catalog) -> list[list[Target]]:
    """Every chain of targets the routing names: the default chain, the tiers, the routes', provider_defaults'."""
    routing = catalog.routing
    return [
        routing.default,
        *routing.tiers.values(),
        *(c for _, c in routing.routes),
        *routing.provider_defaults.values(),
    ]


def placed_targets(catalog: Catalog) -> list[tuple[str, Target]]:
    """Every target of :func:`_chains`, in its order, with ``FILE: KEY`` where it is written
    (``routing/default.yaml: routes.0.chain.1``; a route naming a tier, the tier's entry); the routing folder for
    what was made in code."""
    routing, placed = catalog.routing, catalog.routing_where
    folder = str(catalog.root / "routing")
    out: list[tuple[str, Target]] = []

    def add(where: str | None, chain: list[Target], one: bool = False) -> None:
        for i, target in enumerate(chain):
            out.append((folder if where is None else where if one and len(chain) == 1 else f"{where}.{i}", target))

    add(placed.get("default"), routing.default)
    for tier, chain in routing.tiers.items():
        add(placed.get(f"tiers.{tier}"), chain)
    for route, chain in routing.routes:
        if route.chain is not None:
            where = f"{route._where}.chain" if route._where else None
        else:  # a route naming a tier: its targets are written in the tier
            where = placed.get(f"tiers.{route.tier}")
        add(where, chain)
    for provider, chain in routing.provider_defaults.items():
        add(placed.get(f"provider_defaults.{provider}"), chain, one=True)  # a model, or a list of them
    return out


def base_url_problems(catalog: Catalog, env: Mapping[str, str] | None = None) -> list[str]:
    """Routing targets whose ``base_url`` could never carry a request (calls would skip them): judged by the target's
    provider as a call's is (:meth:`~.providers.base.HTTPProvider.base_url_problem`), so that an Anthropic gateway's
    URL written with the /v1 its requests' paths begin with, which every call refused, is not validated "ok"."""
    from .errors import MagsagError
    from .providers import ProviderSet
    from .providers.azure_versions import azure_root
    from .providers.base import HTTPProvider
    from .providers.base_urls import _base_url_problem
    from .transport import Transport

    env = os.environ if env is None else env
    providers: ProviderSet | None = None  # made for the first target with a base URL: most routing names none
    seen: set[Target] = set()
    chains = _chains(catalog)
    problems = []
    for target in (t for chain in chains for t in chain):
        if target.base_url and target not in seen:
            seen.add(target)
            # Azure's: what is sent below, a deployment's Target URI (its ?api-version too) cut to the resource's root
            sent = azure_root(target.base_url) if target.provider == "azure" else target.base_url
            providers = providers or ProviderSet(env, Transport(env=env))
            try:
                provider = providers.get(target.provider)
            except MagsagError:  # a provider that cannot be made: its base URL judged as any server's
                provider = None
            if isinstance(provider, HTTPProvider):
                problem = provider.base_url_problem(sent, "the target's base_url", target.model)
            else:
                problem = _base_url_problem(sent)
            if problem:
                problems.append(f"{catalog.root / 'routing'}: target {target.label}: {problem}")
    return problems


def refused_by_allowed_models(catalog: Catalog, policies: Any) -> list[str]:
    """What a policy's ``allowed_models`` refuses on every call: a data class whose models it all refuses
    (every call of that class fails) and a chain whose targets it all refuses (its calls fail unless they
    name a model themselves). Both validated "ok" before, as the users' guide's own policy does with the
    shipped routing."""
    from .errors import ConfigError
    from .governance.model_patterns import may_be_of
    from .targets import parse_target

    problems = []
    for cls, models in policies.data_class_models().items():
        if not models or any(fnmatch_special(m) for m in models):
            continue  # a pattern allows models it does not name: which ones pass is not told here
        try:
            verdicts = [policies.allowed(parse_target(m), None) for m in models]
        except ConfigError:
            continue  # a model no provider serves: the policy's own check names it
        if all(not ok for ok, *_ in verdicts):
            name = verdicts[0][1]
            # the class as the first policy naming it writes it (data_class_models() lists them in that order)
            owner = next(p.name for p in policies.policies if cls in (p.requirements or {}))
            where = policies.place(owner, f"requirements.{cls}", catalog.root / "policies")
            problems.append(
                f"{where}: data class {cls!r} may only use {', '.join(models)}, which policy {name!r} "
                f"refuses {_unlisted(policies, name)}: every call of that class fails; add them to "
                f"{name}.allowed_models, or name in the class a model that {name} allows"
            )
    chains = [
        (catalog.routing_place("default"), "the default chain", catalog.routing.default),
        *(
            (catalog.routing_place(f"tiers.{tier}"), f"tier {tier!r}", chain)
            for tier, chain in catalog.routing.tiers.items()
        ),
        *((route_at(catalog, route), f"route {route.match!r}", chain) for route, chain in catalog.routing.routes),
    ]
    for where, what, chain in chains:
        verdicts = [policies.allowed(target, None) for target in chain]
        if verdicts and all(not ok for ok, *_ in verdicts):
            name = verdicts[0][1]
            labels = ", ".join(dict.fromkeys(_told(policies, t, v[1]) for t, v in zip(chain, verdicts, strict=True)))
            problems.append(
                f"{where}: every target of {what} ({labels}) is refused by policy {name!r} "
                f"{_unlisted(policies, name)}, so its calls fail unless they name a model themselves; add one to "
                f"{name}.allowed_models, or route to a model it allows"
            )
    for provider, chain in catalog.routing.provider_defaults.items():
        # each model refused, not only all of them: the model is the environment's (or the call's) choice, whose
        # refusal fails the call where it is reached rather than moving on to the models after it
        refused = [(t, policy) for t in chain for ok, policy, *_ in [policies.allowed(t, None)] if not ok]
        if not refused:
            continue
        name = refused[0][1]
        labels = ", ".join(dict.fromkeys(t.label for t, _ in refused))
        told = ", ".join(dict.fromkeys(_told(policies, t, policy) for t, policy in refused))
        where = catalog.routing_place(f"provider_defaults.{provider}")
        calls = (
            f"a call under MAGSAG_PROVIDER={provider} (or naming only provider {provider}) whose route and default "
            f"chain name no {provider} model"
        )
        if len(refused) == len(chain):
            allowed = next((p.allowed_models for p in policies.policies if p.name == name), None) or []
            own = [p for p in allowed if may_be_of(provider, p)]  # another vendor's model cannot be named there
            fix = (
                f"name one of its {provider} models there ({', '.join(own)}), "
                if own
                else f"it allows no {provider} model: "
            )
            problems.append(
                f"{where}: {told} is refused by policy {name!r} {_unlisted(policies, name)}, so {calls} fails; "
                f"{fix}add {labels} to {name}.allowed_models, or remove the entry"
            )
        else:
            first = chain.index(refused[0][0])
            problems.append(
                f"{where}: {told} is refused by policy {name!r} {_unlisted(policies, name)}, so {calls} fails at "
                f"it{' if the models before it fail' if first else ''}, the models after it untried (a refused model "
                f"taken from here is not replaced); remove {labels} from the list, or add {labels} to "
                f"{name}.allowed_models"
            )
    return problems


def _told(policies: Any, target: Target, policy: str | None) -> str:
    """``openai:gpt-4o-mnii (did you mean 'gpt-4o-mini'?)``: a target ``policy`` refuses, with the model of its
    allowed_models it nearly is, as the call's refusal tells it (:func:`~.governance.model_patterns.nearly_allowed`)."""
    from .governance.model_patterns import nearly_allowed

    allowed = next((p.allowed_models for p in policies.policies if p.name == policy), None) or []
    return f"{target.label}{nearly_allowed(allowed, target.model)}"


def _unlisted(policies: Any, name: str | None) -> str:
    """Why policy ``name`` refuses a model, with where its fix is made: ``(not in its allowed_models, FILE:
    policies.N.allowed_models)``; the file left out for a policy made in code."""
    at = f", {policies.place(name, 'allowed_models')}" if name in getattr(policies, "places", {}) else ""
    return f"(not in its allowed_models{at})"


def policy_problems(catalog: Catalog, policies: Any) -> list[str]:
    """What the policies make of the catalog: skills' unknown data classes, what they refuse on every call,
    and allowed models that nearly name a routed one."""
    return [
        *policies.data_class_problems(catalog.skills, catalog.skill_files),
        *refused_by_allowed_models(catalog, policies),
        *refused_by_data_classes(catalog, policies),
        *misspelt_allowed_models(catalog, policies),
    ]


def misspelt_allowed_models(catalog: Catalog, policies: Any) -> list[str]:
    """``allowed_models`` entries that allow no routing target but nearly name one the policy refuses
    (``gtp-4o-mini``, ``GPT-4o-mini``): that target is then skipped on every call as the policy's choice, a
    fallback serves instead, and validate said ok. An entry that resembles no routed model may be for calls
    that name their own, and is left alone."""
    from .governance.model_patterns import matches, nearest_model

    targets = list(dict.fromkeys(catalog.routing.all_targets()))
    problems = []
    lines: dict[Path, YamlLines] = {}  # (each policy file a problem names, composed once)
    for p in policies.policies:
        refused = [t for t in targets if not matches(p.allowed_models or ["*"], t)]
        names = sorted({t.model for t in refused} | {t.label for t in refused})  # as written: bare, or pinned
        for j, pattern in enumerate(p.allowed_models or ()):
            if fnmatch_special(pattern) or any(matches([pattern], t) for t in targets):
                continue
            # in another case (GPT-4o) too: names are matched case by case, and difflib finds it too far
            near = nearest_model(pattern, names)
            typo = _routed_typo(refused, near, pattern) if near else None
            if typo is not None:  # the allowed model is a real one, and routing's the misspelling of it
                where = next((at for at, t in placed_targets(catalog) if t == typo), catalog.routing_place("default"))
                problems.append(
                    f"{where}: routing's {typo.label} is refused by policy {p.name!r} {_unlisted(policies, p.name)} "
                    f"and skipped on every call: did you mean {pattern!r}? (genai-prices knows no {typo.model}); "
                    "correct the model's name in routing"
                )
            elif near:
                where = placed_on_its_line(
                    policies.place(p.name, f"allowed_models.{j}", catalog.root / "policies"), lines
                )
                problems.append(
                    f"{where}: policy {p.name!r} allows {pattern!r}, which no routing target is; "
                    f"did you mean {near!r}? (routing's {near} is refused by it, and skipped on every call)"
                )
    return problems


def _routed_typo(refused: list[Target], near: str, pattern: str) -> Target | None:
    """The routed target named ``near`` when it, not the allowed ``pattern``, is the misspelling: genai-prices knows
    the model ``pattern`` names (on the target's provider) and not the target's (``gpt-4o-mnii`` for ``gpt-4o-mini``).
    None when that cannot be told (a local model, both known or neither): the entry is then told to the policy."""
    from .genai_rates import genai_model
    from .targets import provider_prefix

    target = next((t for t in refused if near in (t.model, t.label)), None)
    if target is None:
        return None
    pinned = provider_prefix(pattern)
    if pinned is not None and pinned[0] != target.provider:
        return None
    allowed = pinned[1] if pinned else pattern
    known = genai_model(target.provider, allowed) is not None
    return target if known and genai_model(target.provider, target.model) is None else None


def refused_by_data_classes(catalog: Catalog, policies: Any) -> list[str]:
    """Skills of a data class whose every target the policies refuse for that class: the route's own, and the
    models the class names (routing adds them; a pattern such as ``local:*`` names none). Every call of such a
    skill fails unless it names a model, and validate said ok. (A chain ``allowed_models`` refuses whole is
    :func:`refused_by_allowed_models`'s to report.)"""
    from .errors import ConfigError
    from .routing import route

    classes = policies.data_class_models()
    problems = []
    for skill_id, skill in sorted(catalog.skills.items()):
        if not skill.data_class or skill.data_class not in classes:
            continue  # no class, or one no policy names (data_class_problems says so)
        try:
            chosen = route(catalog, skill_id, env={}, data_class_models=classes)
        except ConfigError:
            continue  # a model no provider serves: the policy's own check names it
        verdicts = [policies.allowed(c.target, chosen.data_classes) for c in chosen.candidates]
        if not verdicts or any(ok for ok, *_ in verdicts):
            continue
        if all(not policies.allowed(c.target, None)[0] for c in chosen.candidates):
            continue  # allowed_models refuses them whatever the class
        name = next(policy for ok, policy, _, rule in verdicts if rule == "data_class")
        where = catalog.skill_files.get(skill_id, catalog.root / "skills")
        labels = ", ".join(c.target.label for c in chosen.candidates)
        # each policy's own models for the class: the union of them all is no list any one of them allows
        own = {
            p.name: p.requirements[skill.data_class]
            for p in policies.policies
            if skill.data_class in (p.requirements or {})
        }
        each = ""
        if len(own) > 1:
            said = [
                f"{policy} {'allows ' if i == 0 else ''}({', '.join(models)})"
                for i, (policy, models) in enumerate(own.items())
            ]
            each = (
                f"; every policy naming the class must allow the target: {', '.join(said[:-1])} and {said[-1]}, so "
                f"route to a model {'both' if len(own) == 2 else 'all'} allow, or make them agree"
            )
        problems.append(
            f"{where}: every target of {skill_id} ({labels}) is refused by policy {name!r} for its data class "
            f"{skill.data_class!r} ({', '.join(own.get(name, classes[skill.data_class]))}), so its calls fail unless "
            f"they name a model; route its task to a model the class allows, or name one in the class{each}"
        )
    return problems


def fnmatch_special(pattern: str) -> bool:
    """Whether a policy entry is a pattern (``local:*``, ``claude-?-haiku``), not one model."""
    return any(c in pattern for c in "*?[")
