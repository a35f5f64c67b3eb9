"""The routing catalog's files as read: a route, a routing file, and all of them merged into the policy routing
consults (:class:`RoutingPolicy`). Loaded and located by :mod:`catalog`, which re-exports them.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from .cache_setting import CacheSetting
from .errors import ConfigError
from .skills import not_a_bool
from .targets import TargetLike
from .types import Target

__all__ = ["Route", "RoutingFile", "RoutingPolicy"]


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid")
    match: str = Field(description="task_type, exact or glob")
    priority: int = 0
    chain: list[TargetLike] | None = None
    tier: str | None = None
    #: the answer cache for the calls of the task types it matches: ``{ttl: 1h}`` (see answer_cache.py), None: off
    cache: CacheSetting | None = None
    #: where it is written (``routing/x.yaml: routes.2``), for the problems ``catalog validate`` finds in it
    _where: str = PrivateAttr(default="")

    _priority = field_validator("priority", mode="before")(lambda cls, value: not_a_bool(value))

    @field_validator("match")
    @classmethod
    def _matches_something(cls, value: str) -> str:
        if not value.strip():
            raise ValueError(
                "match is empty, so the route matches no task type; write the task_type it routes (e.g. analysis), "
                "a glob (e.g. document-*), or '*' for every one"
            )
        return value

    @model_validator(mode="after")
    def _one_of(self) -> Route:
        if self.chain is None and self.tier is None:
            # told "not both" of a route that gives neither, its author looked for a second target list
            raise ValueError(
                f"route {self.match!r} gives neither 'chain' (a list of targets) nor 'tier' (a tier name), so it "
                f"routes nowhere; add one, e.g. chain: [openai:gpt-4o-mini] or tier: economy"
            )
        if self.chain is not None and self.tier is not None:
            raise ValueError("a route gives either 'chain' (a list of targets) or 'tier' (a tier name), not both")
        if self.chain is not None:
            if not self.chain:
                raise ValueError("route chain is empty")
        return self


#: what a key of a routing file, each read by a module of its own, would do written with nothing after it, and what to
#: write there
_NULL_MEANS = {
    "provider_defaults": (
        "would name no model for any provider",
        "write each vendor's model (e.g. google: gemini-1.5-pro)",
    ),
    "request_caps": ("caps no target", "write each target's caps (e.g. 'local:*': {max_concurrent: 4})"),
}


class RoutingFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    default: list[TargetLike] | None = None
    tiers: dict[str, list[TargetLike]] = Field(default_factory=dict)
    routes: list[Route] = Field(default_factory=list)
    #: provider -> its model(s), read by :func:`~.provider_defaults.read_provider_defaults` (which names the key path)
    provider_defaults: Any = None
    #: ``provider:model`` -> its caps, read by :func:`~.request_caps.read_request_caps` (which names the key path)
    request_caps: Any = None

    @field_validator("default")
    @classmethod
    def _default_targets(cls, value: list[TargetLike] | None) -> list[TargetLike] | None:
        if value is not None:
            if not value:
                raise ValueError("default chain is empty")
        return value

    @field_validator(*_NULL_MEANS)
    @classmethod
    def _written_null(cls, value: Any, info: ValidationInfo) -> Any:
        """Refuses a key written with nothing after it, which YAML reads as null: the key left out. (Run on what is
        written only: a key left out is not validated.)"""
        if value is None:
            what, fix = _NULL_MEANS[info.field_name]  # type: ignore[index]  # (a field validator: its field has a name)
            raise ValueError(
                f"{info.field_name} is written with nothing after it (YAML reads that as null), which {what}; {fix}, "
                "or remove the key"
            )
        return value

    @field_validator("tiers")
    @classmethod
    def _tier_targets(cls, value: dict[str, list[TargetLike]]) -> dict[str, list[TargetLike]]:
        for name, chain in value.items():
            if not chain:
                raise ValueError(f"tier {name!r} is empty")
        return value


class RoutingPolicy(BaseModel):
    """All routing files merged: routes sorted by priority (highest first, then file order)."""

    default: list[Target]
    tiers: dict[str, list[Target]]
    routes: list[tuple[Route, list[Target]]]
    #: a vendor provider's own model(s), for MAGSAG_PROVIDER (or a call naming only a provider) where neither the
    #: route nor the default chain names one of its models (see :mod:`.provider_defaults`)
    provider_defaults: dict[str, list[Target]] = Field(default_factory=dict)

    def cache_ttl(self, task_type: str) -> float | None:
        """The answer cache's ttl that the route routing chooses for calls of ``task_type`` sets (the first matching,
        by priority), whatever tier or model a call names (the setting is the task's): 0 where it turns the cache off
        (over its skills' own), None where it sets none (its skills' own then apply: see :meth:`cache_choice`)."""
        for route, _ in self.routes:
            if route.match == task_type or fnmatch.fnmatchcase(task_type, route.match):
                return None if route.cache is None else route.cache.ttl
        return None

    def cache_choice(
        self, task_type: str, skill_cache: CacheSetting | None = None
    ) -> tuple[float | None, str | None]:
        """The answer cache's ttl for the calls of a skill of ``task_type`` whose own ``cache`` is ``skill_cache``,
        and where it was set: its route's (:meth:`cache_ttl`), else its skill's; (None, where) where the one that
        applies is 0 (off), (None, None) where neither sets one."""
        ttl = self.cache_ttl(task_type)
        if ttl is not None:
            return ttl or None, "route"
        if skill_cache is not None:
            return skill_cache.ttl or None, "skill"
        return None, None

    def chain_for(self, task_type: str, *, tier: str | None = None) -> tuple[list[Target], str]:
        """The chain for a task type (and optional cost tier), and which rule chose it."""
        if tier is not None:
            if tier not in self.tiers:
                listed = ", ".join(sorted(self.tiers)) or "none"
                raise ConfigError(f"unknown cost tier {tier!r}; the catalog defines: {listed}")
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
        for chain in self.provider_defaults.values():
            out.extend(chain)
        return out
