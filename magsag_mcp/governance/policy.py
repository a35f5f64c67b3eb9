"""Governance policies: ``catalog/policies/*.yaml``, in the shape the users' guide shows.

    policies:
      - name: production_models
        allowed_models: [gpt-4o, "claude-*", "local:*"]       # model names or provider:model, globs
      - name: cost_limits
        thresholds: {max_cost_per_call_usd: 0.5, max_cost_per_run_usd: 5.0, max_cost_per_agent_daily_usd: 100,
                     max_cost_per_day_usd: 500}                # the last: every call together
        timezone: Europe/Berlin                                # the days' window of this policy's day
                                                               # limits (default UTC; refused without any)
        allow_unpriced: false                                  # refuse models with unknown prices (and,
                                                               # in flow gate, any attempt of unknown cost);
                                                               # true is refused on a policy without thresholds
      - name: data_residency
        requirements: {pii_processing: ["local:llama3.1:70b"]} # data class -> the only models allowed

Every policy applies at once: a target must pass every ``allowed_models`` list and, for a call with
data classes, every requirement for each of its classes; every threshold is a limit of its own. A bare
model name or glob matches that model on any provider; ``provider:model`` also pins who serves it. In a
data class's requirements, a bare name with a tag (``llama3.1:70b``, an Ollama model's) is the local
server's: the class keeps its data there. An empty policy file, or one that holds no mapping, is a
problem, not a catalog without governance.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationInfo,
    field_validator,
)

from ..errors import CatalogError
from ..targets import misspelt_provider, provider_prefix, spaced_colon
from ..types import Target
from ..zones import zone_problem
from .data_classes import DataClassModels, requirements_place, unknown_data_class
from .model_patterns import (
    GLOB,
    admits_off_machine,
    matches,
    named_cloud_model,
    other_models_served,
    residency_pattern,
    runs_off_machine,
)

LimitKind = Literal["call", "run", "agent_day", "day"]


#: what a key of a policy would do written with nothing after it, and what to write there
_NULL_MEANS = {
    "allowed_models": ("allow every model", "list the models it allows"),
    "thresholds": ("set no limit", "write the limits (e.g. max_cost_per_run_usd: 5.0)"),
    "requirements": ("confine no data class", "write each class's models (e.g. pii_processing: [local:llama3.1:70b])"),
}


def _written_null(cls: Any, value: Any, info: Any) -> Any:
    """Refuses a key written with nothing after it (``allowed_models:``, its entries commented out), which YAML reads
    as null: the key left out, restricting nothing. (Run on what is written only: a key left out is not validated.)"""
    if value is None:
        what, fix = _NULL_MEANS.get(info.field_name, ("set no such limit", "write the amount in USD (e.g. 5.0)"))
        raise ValueError(
            f"{info.field_name} is written with nothing after it (YAML reads that as null), which would {what}; "
            f"{fix}, or remove the key"
        )
    return value


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_cost_per_call_usd: Decimal | None = Field(default=None, gt=0)
    max_cost_per_run_usd: Decimal | None = Field(default=None, gt=0)
    max_cost_per_agent_daily_usd: Decimal | None = Field(default=None, gt=0)
    #: every call together, whatever its agent or run (or none), per day in the policy's time zone
    max_cost_per_day_usd: Decimal | None = Field(default=None, gt=0)

    _no_amount = field_validator("*", mode="before")(_written_null)


def _provider_known(pattern: str) -> str:
    """A pattern whose ``provider:`` names no provider while its model is a cloud vendor's (``opnai:gpt-4o``): read
    as a bare model name it matched no call, and a data class's routing could not name the target (every call of
    the class failed on it). Refused with the providers there are."""
    head = misspelt_provider(pattern)
    if head is not None and not GLOB.search(head):
        from ..providers import provider_names
        from ..suggest import named

        model = pattern.partition(":")[2].strip()
        raise ValueError(
            f"{pattern!r} names provider {named([head], provider_names())}, which magsag does not know; write "
            f"'provider:{model}' with one of: {', '.join(provider_names())}, or {model!r} alone to match it on any "
            "provider"
        )
    return pattern


def _written_name(pattern: str) -> str:
    """A pattern as calls and routing read a model's name, without the spaces around it: ``' gpt-4o-mini'`` matched
    no call (each strips its model), so its model was refused and told "did you mean ' gpt-4o-mini'?". A blank one
    matches nothing and is refused: a refusal offering the policy's models listed it as ``()``. So are the spaces
    around a pin's colon (``openai: gpt-4o``), and a pin with no model (``openai:``) is refused as a target is."""
    name = pattern.strip()
    if not name:
        raise ValueError("an empty model name matches no model; write the model's name, or remove the entry")
    head, sep, model = name.partition(":")
    head, model = head.strip(), model.strip()
    if sep and not head:  # ':' was kept as the name ':', no call's model, as a target so written is refused
        raise ValueError(
            f"{pattern!r} has nothing before its colon; write 'provider:model' (e.g. 'openai:gpt-4o'), '*:MODEL' "
            "for any provider, or the model alone"
        )
    pinned = provider_prefix(f"{head}:{model or '*'}") if sep else None
    if pinned is None and not (sep and GLOB.search(head)):
        # a bare name or glob, a local model's tag (llama3.1:70b): its colon is its own; a misspelt provider's pin
        # ('opnai: gpt-4o') is _provider_known's to name
        return name if misspelt_provider(name) is not None else _unspaced(pattern, name)
    # a provider glob ('*: gpt-4o') is read against provider:model as a pin is (model_patterns), spaces and all
    named = f"provider {pinned[0]!r}" if pinned else f"the providers {head!r}"
    if not model:
        # matched as a bare name, 'openai:' matched no call: a target written so is refused, and so is this
        raise ValueError(f"{pattern!r} names {named} and no model; write '{head}:*' or '{head}:MODEL'")
    # the pin's spaces dropped as matching drops the provider's: 'openai: gpt-4o' kept ' gpt-4o', no call's model
    return f"{head}:{_unspaced(pattern, model)}"


def _unspaced(pattern: str, name: str) -> str:
    """``name`` (a pattern's model, its outer spaces dropped), refused when a space is left inside it: no vendor names
    a model with one, so ``gemini-1.5 -*`` matched no model, and every call it was written to allow was refused (or,
    in a data class's requirements, every call of the class) with no word of why. The fix offered is the pattern with
    each space dropped beside a separator (``-``, ``.``, ``:``, ...) and made a dash between two words
    (``gpt-4o mini``)."""
    if not any(c.isspace() for c in name):
        return name
    fixed = _INNER_SPACE.sub(lambda m: m.group(1) or "-", pattern.strip())
    raise ValueError(
        f"{pattern!r} holds a space inside a model's name, which no model's name has, so it would match no model; "
        f"write {fixed!r}"
    )


#: a space inside a pattern, with the separator beside it if any (see _unspaced)
_INNER_SPACE = re.compile(r"\s*([-_.:/])\s*|\s+")


#: a model name or pattern, refused with the text to write when YAML read ``- local: llama3.1`` as a mapping, when
#: it is blank, or when its ``provider:`` names none
ModelPattern = Annotated[
    str, BeforeValidator(spaced_colon), AfterValidator(_written_name), AfterValidator(_provider_known)
]


def _true_or_false(value: Any) -> Any:
    """The text ``true`` or ``false`` (any case) as that boolean; anything else as it is, for StrictBool to judge."""
    if isinstance(value, str) and value.strip().casefold() in ("true", "false"):
        return value.strip().casefold() == "true"
    return value


def _day_limits(t: Thresholds | None) -> bool:
    return t is not None and (t.max_cost_per_day_usd is not None or t.max_cost_per_agent_daily_usd is not None)


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    description: str = ""
    allowed_models: list[ModelPattern] | None = None
    thresholds: Thresholds | None = None
    requirements: dict[str, list[ModelPattern]] | None = None
    timezone: str | None = None
    #: strict: pydantic's lax bool read the text "yes", "off" and the number 1 as true (YAML's own yes/no, unquoted,
    #: is read by YAML as a boolean before this): a typo of a rule that lets spend past its limits must be refused.
    #: The text true or false is taken: ``${VAR}`` is expanded after YAML has read the file, so its value is text
    allow_unpriced: Annotated[StrictBool, BeforeValidator(_true_or_false)] = False

    _no_rule = field_validator(*_NULL_MEANS, mode="before")(_written_null)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            if problem := zone_problem(value):
                raise ValueError(problem)
            # a setting for this policy's own day limits, on a policy without them, would change nothing (checked
            # here, not on the whole policy, so that the problem names the key: policies.N.timezone)
            if "thresholds" in info.data and not _day_limits(info.data["thresholds"]):
                raise ValueError(
                    f"timezone {value!r} sets the days of this policy's own day limits "
                    "(thresholds max_cost_per_day_usd, max_cost_per_agent_daily_usd) and it has none; "
                    "move it to the policy whose day limits it is for"
                )
        return value

    @field_validator("allow_unpriced")
    @classmethod
    def _unpriced_applies(cls, value: bool, info: ValidationInfo) -> bool:
        """``allow_unpriced: true`` on a policy without thresholds would admit nothing (see :meth:`_zone`)."""
        t = info.data.get("thresholds")
        if value and "thresholds" in info.data and (t is None or not t.model_dump(exclude_none=True)):
            raise ValueError(
                "allow_unpriced applies to this policy's own thresholds, and it has none; "
                "set it on the policy whose cost limits should admit models of unknown price"
            )
        return value

    @field_validator("allowed_models")
    @classmethod
    def _non_empty(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("allowed_models is empty, which would forbid every model; remove it or list models")
        return value

    @field_validator("thresholds")
    @classmethod
    def _sets_a_limit(cls, value: Thresholds | None) -> Thresholds | None:
        """``thresholds: {}`` sets no limit, as ``thresholds:`` with nothing after it (see :func:`_written_null`)."""
        if value is not None and not value.model_dump(exclude_none=True):
            what, fix = _NULL_MEANS["thresholds"]
            raise ValueError(f"thresholds lists no limit, which would {what}; {fix}, or remove the key")
        return value

    @field_validator("requirements")
    @classmethod
    def _classes_name_models(cls, value: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        if value is not None and not value:  # as requirements: with nothing after it (see _written_null)
            what, fix = _NULL_MEANS["requirements"]
            raise ValueError(f"requirements lists no data class, which would {what}; {fix}, or remove the key")
        for name in value or {}:  # matched as written, a skill's data_class and a call's: not stripped
            if name != name.strip() or not name:
                fix = f"no call of class {name.strip()!r}; write that" if name.strip() else "no call; write its name"
                raise ValueError(f"data class {name!r} confines {fix}")
        empty = sorted(name for name, models in (value or {}).items() if not models)
        if empty:
            raise ValueError(
                f"data class(es) {', '.join(map(repr, empty))} list no model, which would refuse every call of the "
                "class; list the models its data may go to"
            )
        return value


class PolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policies: list[Policy]


#: the threshold that sets a limit of each kind (Limit.kind), as a refusal names it for the fix
THRESHOLD_OF = {
    "call": "max_cost_per_call_usd",
    "run": "max_cost_per_run_usd",
    "agent_day": "max_cost_per_agent_daily_usd",
    "day": "max_cost_per_day_usd",
}


@dataclass(slots=True, frozen=True)
class Limit:
    kind: LimitKind
    amount: Decimal
    policy: str
    allow_unpriced: bool
    zone: str = "UTC"
    #: ``amount`` in pico-USD, worked out once: every reservation compares it with each limit's sums
    amount_pusd: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount_pusd", _pusd(self.amount))  # frozen: set the one time it is made


@lru_cache(maxsize=64)
def _pusd(amount: Decimal) -> int:
    from ..ledger.money import to_pusd

    return to_pusd(amount) or 0


#: how many of allowed()'s verdicts a PolicySet keeps (see PolicySet._verdicts)
VERDICTS_KEPT = 1024
#: a served-model verdict not worked out yet (None is one: the deployment serves nothing the policies forbid)
_NOT_KEPT = object()


class PolicySet:
    def __init__(
        self, policies: list[Policy], sources: list[str] | None = None, places: Mapping[str, str] | None = None
    ) -> None:
        self.policies = policies
        self.sources = sources or []
        #: policy name -> ``FILE: policies.N``, where it is written (see :meth:`place`)
        self.places = dict(places or {})
        names = [p.name for p in policies]
        self.limits: list[Limit] = []
        for p in policies:
            t = p.thresholds
            if t is None:
                continue
            zone = p.timezone or "UTC"
            for kind, value in (
                ("call", t.max_cost_per_call_usd),
                ("run", t.max_cost_per_run_usd),
                ("agent_day", t.max_cost_per_agent_daily_usd),
                ("day", t.max_cost_per_day_usd),
            ):
                if value is not None:
                    self.limits.append(Limit(kind, value, p.name, p.allow_unpriced, zone))  # type: ignore[arg-type]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise CatalogError(f"policy names must be unique; repeated: {sorted(dup)}")
        # what allowed() reads on every attempt, as plain tuples: a pydantic model's attribute costs
        # several times as much to read
        self._allowed_models = [(p.name, p.allowed_models) for p in policies if p.allowed_models is not None]
        self._requirements = [
            (p.name, {cls: [residency_pattern(m) for m in models] for cls, models in p.requirements.items()})
            for p in policies
            if p.requirements
        ]
        #: an Azure target -> the models its deployment's answers named (the pricer's azure_answered, by the
        #: deployment's name, and the ledger's trusted row of its endpoint's deployment; set by the Governance that
        #: reads these policies): what the deployment is known to serve must pass them too
        self.answered_as: Callable[[Target], Iterable[str]] | None = None
        #: a local target -> the host off this machine its prompt goes to (Ollama's cloud), or None (set by the
        #: Governance that reads these policies, from its environment and what the local servers said; without one,
        #: a model named as Ollama's cloud ones are): a data class's glob of local models does not admit it
        self.off_machine: Callable[[Target], str | None] = named_cloud_model
        #: allowed()'s verdicts by (target, data classes): every attempt asks, and the answer depends on
        #: nothing else (matching a target against each pattern is several function calls a pattern)
        self._verdicts: dict[tuple[Any, ...], tuple[bool, str | None, str | None, str | None]] = {}
        #: _served's verdicts by (allowed()'s key, the models the deployment answered as)
        self._served_verdicts: dict[tuple[Any, ...], tuple[bool, str | None, str | None, str | None] | None] = {}

    def place(self, policy: str | None, key: str = "", folder: str | os.PathLike[str] = "policies") -> str:
        """``FILE: policies.N`` where policy ``policy`` is written, with ``key`` under it
        (``policies/model_governance.yaml: policies.2.requirements.pii_processing``), as a routing problem names its
        place (``Catalog.routing_place``); ``folder`` for a policy not read from a file."""
        at = self.places.get(policy or "")
        if at is None:
            return str(folder)
        return f"{at}.{key}" if key else at

    def allowed(
        self, target: Target, data_class: str | Sequence[str] | None
    ) -> tuple[bool, str | None, str | None, str | None]:
        """(allowed, policy name, reason, rule) for a target and the call's data classes. Pure, no I/O.

        Every data class of the call must allow the target (the skill's and the caller's: a caller
        cannot relax a skill's class by declaring another one); the first denial is returned.
        """
        # where a local target's prompt goes is learnt as its server answers (a model made from a cloud one): part of
        # the key, so a verdict given before is not kept for it
        key = (target, data_class) if target.provider != "local" else (target, data_class, self.off_machine(target))
        try:
            verdict = self._verdicts.get(key)
        except TypeError:  # data classes given as a list: worked out each time
            verdict = self._allowed(target, data_class)
        else:
            if verdict is None:
                verdict = self._allowed(target, data_class)
                if len(self._verdicts) >= VERDICTS_KEPT:  # targets a caller names: any number of them
                    self._verdicts.clear()
                self._verdicts[key] = verdict
        if verdict[0] and target.provider == "azure" and self.answered_as is not None:
            answered = frozenset(self.answered_as(target))
            if not answered:
                return verdict
            # kept by what the deployment is known to serve, which grows as it answers: worked out on each call, it
            # read genai-prices' ids of every model answered on every attempt of an Azure target
            served_key = (key, answered)
            try:
                served = self._served_verdicts.get(served_key, _NOT_KEPT)
            except TypeError:  # data classes given as a list
                return self._served(target, data_class, answered) or verdict
            if served is _NOT_KEPT:
                served = self._served(target, data_class, answered)
                if len(self._served_verdicts) >= VERDICTS_KEPT:
                    self._served_verdicts.clear()
                self._served_verdicts[served_key] = served
            return served or verdict  # type: ignore[return-value]
        return verdict

    def _served(
        self, target: Target, data_class: str | Sequence[str] | None, answered: frozenset[str]
    ) -> tuple[bool, str | None, str | None, str | None] | None:
        """The refusal of an Azure deployment the policies allow by its name (``azure:gpt-4o-mini``) whose answers
        named a model they forbid (``gpt-4o-2024-08-06``), or None: the name is the operator's choice, and checked
        alone, the deployment went on serving the forbidden model on every call."""
        for name, names in other_models_served(target.model, answered):
            ok, policy, reason, _rule = self._allowed(Target("azure", name), data_class)
            if ok or any(self._allowed(Target("azure", other), data_class)[0] for other in names[1:]):
                continue
            return (
                False,
                policy,
                f"{target.label} answered as {name}, the model the deployment serves, and {reason}; the deployment's "
                "name is its operator's choice: point the deployment at a model the policy allows, or name one that "
                "serves such a model",
                "served_model",
            )
        return None

    def _allowed(
        self, target: Target, data_class: str | Sequence[str] | None
    ) -> tuple[bool, str | None, str | None, str | None]:
        off_machine = self.off_machine(target) if target.provider == "local" else None
        for name, models in self._allowed_models:
            if not matches(models, target):
                return False, name, f"{target.label} is not in {name}.allowed_models", "allowed_models"
            if off_machine is not None and not admits_off_machine(models, target):
                # a glob of local models (local:*) admits the operator's own machines: one run elsewhere is named
                return (
                    False,
                    name,
                    f"{target.label} {runs_off_machine(target, off_machine)}: a glob of {name}.allowed_models does "
                    f"not admit a local model run off this machine; add {target.label} itself to allow it",
                    "allowed_models",
                )
        classes: Sequence[str | None] = (
            (data_class,) if data_class is None or isinstance(data_class, str) else data_class
        )
        for cls in classes:
            if not cls:
                continue
            for name, requirements in self._requirements:
                required = requirements.get(cls)
                if required is None:
                    continue
                if not matches(required, target):
                    return (
                        False,
                        name,
                        f"data class {cls!r} may only use {required} ({name}.requirements)",
                        "data_class",
                    )
                if off_machine is not None and not admits_off_machine(required, target):
                    return (
                        False,
                        name,
                        f"data class {cls!r} may only use {required} ({name}.requirements), and {target.label} "
                        f"{runs_off_machine(target, off_machine)}: a glob does not send the class's data off this "
                        f"machine; name {target.label} there to allow it",
                        "data_class",
                    )
        return True, None, None, None

    def admitted_by_glob(self, target: Target, data_class: str | Sequence[str] | None) -> str | None:
        """Where a local ``target`` the policies allow is admitted by a glob alone
        (``production_models.allowed_models``, ``data_residency.requirements.pii``), which would refuse it run off this
        machine; None: each names it itself. What ``explain`` warns of when it has not asked where the model runs."""
        for name, models in self._allowed_models:
            if matches(models, target) and not admits_off_machine(models, target):
                return f"{name}.allowed_models"
        classes = (data_class,) if data_class is None or isinstance(data_class, str) else data_class
        for cls in classes:
            for name, requirements in self._requirements:
                required = requirements.get(cls) if cls else None
                if required is not None and matches(required, target) and not admits_off_machine(required, target):
                    return f"{name}.requirements.{cls}"
        return None

    def data_class_problems(self, skills: Mapping[str, Any], files: Mapping[str, Any] | None = None) -> list[str]:
        """A skill whose data class no policy's ``requirements`` name, when some policy names data
        classes: a misspelt class would leave the skill's data free to go to any model, the very thing
        the class was declared to prevent. (With no data-class requirements at all, classes are labels.)"""
        known = self.data_class_models()
        if not known:
            return []
        problems = []
        for skill in skills.values():
            cls = getattr(skill, "data_class", None)
            if cls and cls not in known:
                where = f"{files[skill.id]}: " if files and skill.id in files else ""
                problems.append(f"{where}{skill.id}: {unknown_data_class(cls, known)}")
        return problems

    def data_class_models(self) -> DataClassModels:
        """Each data class's models, with where the classes are declared (:class:`~.data_classes.DataClassModels`)."""
        out: dict[str, list[str]] = {}
        declared_in: dict[str, list[str]] = {}
        confined_by: dict[str, list[str]] = {}
        for p in self.policies:
            for cls, models in (p.requirements or {}).items():
                out.setdefault(cls, [])
                out[cls].extend(m for m in models if m not in out[cls])
                confined_by.setdefault(cls, []).append(p.name)
            if p.requirements and p.name in self.places:
                declared_in[requirements_place(self.places[p.name])] = list(p.requirements)
        return DataClassModels(out, declared_in, confined_by)
