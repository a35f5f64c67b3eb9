"""The catalog as MCP resources (skills, routing, governance, prices) and completion of skill ids.

Resources are JSON documents read from the open service's catalog, so what a client reads is what
the router uses. ``magsag://skills/{skill_id}`` is a template whose ``skill_id`` the client can
complete (``completion/complete``), which is how a user picks a skill without knowing the ids.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp_types import Completion, CompletionArgument, CompletionContext, PromptReference, ResourceTemplateReference

from ..errors import MagsagError, UnknownSkillError
from .home_folder import home_as_tilde

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..service import Service
    from ..skills import Skill
    from .state import ServerState

SKILL_TEMPLATE = "magsag://skills/{skill_id}"
#: the spec caps one completion answer at 100 values
MAX_COMPLETIONS = 100
JSON = "application/json"


def _json(data: Any) -> str:
    """A document as a client reads it, the user's home folder written ``~`` (:mod:`.home_folder`): governance names
    each policy's file."""
    return json.dumps(home_as_tilde(data), indent=2, ensure_ascii=False, default=str)


def _refused(exc: MagsagError) -> str:
    return home_as_tilde(f"{exc.kind}: {exc.message}")  # (a catalog's error names its file)


def skill_detail(service: Service, skill: Skill) -> dict[str, Any]:
    data = skill.model_dump(mode="json", by_alias=True, exclude_none=True)
    # The route the router would take (MAGSAG_PROVIDER / MAGSAG_MODEL and data-class models included),
    # not only the routing file's chain for the skill's task type.
    data["route"] = service.route(skill.id)
    return data


def routing_document(catalog: Catalog) -> dict[str, Any]:
    routing = catalog.routing
    return {
        "default": [t.label for t in routing.default],
        "tiers": {name: [t.label for t in chain] for name, chain in routing.tiers.items()},
        "routes": [
            {"match": route.match, "priority": route.priority, "tier": route.tier, "chain": [t.label for t in chain]}
            for route, chain in routing.routes
        ],
        "provider_defaults": {name: [t.label for t in chain] for name, chain in routing.provider_defaults.items()},
        "resolution": [
            "payload.model_config / context overrides",
            "MAGSAG_PROVIDER / MAGSAG_MODEL (MAGSAG_PROVIDER alone: a vendor serves the route's models of its own, "
            "else the default chain's, else its provider_defaults model; a hosting provider serves the route's names)",
            "cost tier (context.tier or the skill's tier)",
            "first matching route by priority",
            "default chain",
        ],
    }


def register_resources(server: MCPServer, state: ServerState) -> None:
    def reader(build: Callable[[Service], Any], prices: bool = False) -> Callable[[], Awaitable[str]]:
        async def read() -> str:
            try:
                return _json(build(await (state.pricing_service() if prices else state.service())))
            except MagsagError as exc:
                raise ResourceError(_refused(exc)) from None

        return read

    documents: list[tuple[str, str, str, Callable[[Service], Any]]] = [
        (
            "magsag://catalog/skills",
            "skills",
            "Skills: ids, descriptions, input schemas",
            lambda svc: svc.list_skills(),
        ),
        ("magsag://catalog/routing", "routing", "Routing policy: default chain, tiers, routes", _routing),
        ("magsag://catalog/governance", "governance", "Governance: allowed models, residency, budgets", _governance),
        ("magsag://catalog/prices", "prices", "Prices per model (USD per million tokens)", _prices),
    ]
    for uri, name, description, build in documents:
        reading = reader(build, prices=build is _prices)
        server.resource(uri, name=name, description=description, mime_type=JSON)(reading)

    @server.resource(SKILL_TEMPLATE, name="skill", description="One skill: prompt, input schema, route", mime_type=JSON)
    async def read_skill(skill_id: str) -> str:
        try:
            service = await state.pricing_service()  # (its route is priced: see skill_detail)
            return _json(skill_detail(service, service.catalog.skill(skill_id)))
        except UnknownSkillError as exc:
            raise ResourceNotFoundError(home_as_tilde(exc.message)) from None
        except MagsagError as exc:
            raise ResourceError(_refused(exc)) from None

    @server.completion()
    async def complete(
        ref: PromptReference | ResourceTemplateReference,
        argument: CompletionArgument,
        context: CompletionContext | None,
    ) -> Completion | None:
        # only the skill template has a skill_id: a prompt (there are none) or another URI has nothing to offer
        skill_template = isinstance(ref, ResourceTemplateReference) and ref.uri == SKILL_TEMPLATE
        if argument.name != "skill_id" or not skill_template:
            return None
        try:
            service = await state.service()
        except MagsagError:
            return Completion(values=[], total=0, has_more=False)
        matches = complete_skill_id(service.catalog.skills, argument.value)
        return Completion(values=matches[:MAX_COMPLETIONS], total=len(matches), has_more=len(matches) > MAX_COMPLETIONS)


def complete_skill_id(skills: dict[str, Any], typed: str) -> list[str]:
    """Ids starting with what was typed (``analysis`` also finds ``skill.analysis``), then ids containing it."""
    typed = typed.strip().lower()
    ids = sorted(skills)
    starts = [s for s in ids if s.startswith(typed) or s.removeprefix("skill.").startswith(typed)]
    contains = [s for s in ids if typed in s and s not in starts]
    return starts + contains


def _routing(svc: Service) -> Any:
    return routing_document(svc.catalog)


def _governance(svc: Service) -> Any:
    policies = svc.governance.policies
    return {
        "files": policies.sources,
        "policies": [p.model_dump(mode="json", exclude_none=True) for p in policies.policies],
        "checked": "before every attempt, fallbacks included: allowed models, data-class requirements, "
        "then a worst-case budget reservation against every limit",
    }


def _prices(svc: Service) -> Any:
    """The catalog's price overrides, and the unit prices of every target the routing policy names."""
    targets = {t.label: t for t in svc.catalog.routing.all_targets()}

    def units(u: Any) -> dict[str, Any] | None:
        if u is None:
            return None
        shown: dict[str, Any] = {
            k: None if v is None else format(v, "f")
            for k, v in (
                ("input", u.input),
                ("output", u.output),
                ("cache_read", u.cache_read),
                ("cache_write", u.cache_write),
            )
        }
        # the rates only some models have (1-hour cache writes, audio, images), where they have them
        for k in ("cache_write_1h", "input_audio", "output_audio", "output_image"):
            if getattr(u, k) is not None:
                shown[k] = format(getattr(u, k), "f")
        if u.service_tiers:  # a prices.yaml entry's rates for the service tiers it names, beside the standard one's
            shown["service_tiers"] = {tier: units(rates) for tier, rates in u.service_tiers}
        return shown

    def target(t: Any) -> dict[str, Any] | None:
        shown = units(svc.pricer.unit_prices(t.provider, t.model))
        tiers = svc.pricer.rate_tiers(t.provider, t.model)
        if shown is not None and tiers:  # a long prompt bills every token at its tier's rates
            shown["above_input_tokens"] = {
                str(start): {k: v for k, v in (units(u) or {}).items() if v is not None} for start, u in tiers
            }
        return shown

    return {
        "unit": "USD per million tokens",
        "overrides": {pattern: units(u) for pattern, u in svc.pricer.overrides},
        "targets": {label: target(t) for label, t in sorted(targets.items())},
    }
