"""What the governance policies judge, together: :class:`PolicySet` (which models a call may use, for its data
classes, and the cost limits, :class:`Limit`, every reservation is held to). A policy as its file writes it, and
what a file is refused for, is :mod:`.policy_models`'s (re-exported here: ``Policy``, ``PolicyFile``).

Every policy applies at once: a target must pass every ``allowed_models`` list and, for a call with
data classes, every requirement for each of its classes; every threshold is a limit of its own.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal

from ..errors import CatalogError
from ..providers.local_reach import Unreached
from ..types import Target
from .data_classes import DataClassModels, requirements_place, unknown_data_class
from .model_patterns import (
    admits_off_machine,
    matches,
    named_cloud_model,
    nearly_allowed,
    other_models_served,
    residency_pattern,
    runs_off_machine,
)
from .policy_models import Policy, PolicyFile, Thresholds

__all__ = [
    "BY_AGENT", "MONTHLY", "THRESHOLD_OF", "WINDOWED", "Limit", "LimitKind", "Policy", "PolicyFile", "PolicySet",
    "Thresholds", "window_word",
]  # fmt: skip

LimitKind = Literal["call", "run", "agent_day", "day", "agent_month", "month"]

#: the limits counted in a window of the policy's time zone (its days, its calendar months), and those of them that
#: are an agent's (a call without an agent meets none of those)
WINDOWED = frozenset(("day", "agent_day", "month", "agent_month"))
MONTHLY = frozenset(("month", "agent_month"))
BY_AGENT = frozenset(("agent_day", "agent_month"))


def window_word(kind: str) -> str:
    """``month`` for a month limit, ``day`` for a day limit: the window a refusal says ends, and when."""
    return "month" if kind in MONTHLY else "day"


#: the threshold that sets a limit of each kind (Limit.kind), as a refusal names it for the fix
THRESHOLD_OF = {
    "call": "max_cost_per_call_usd",
    "run": "max_cost_per_run_usd",
    "agent_day": "max_cost_per_agent_daily_usd",
    "day": "max_cost_per_day_usd",
    "agent_month": "max_cost_per_agent_monthly_usd",
    "month": "max_cost_per_month_usd",
}


@dataclass(slots=True, frozen=True)
class Limit:
    kind: LimitKind
    amount: Decimal
    policy: str
    allow_unpriced: bool
    zone: str = "UTC"
    #: where the policy setting it is written (``FILE: policies.N``), "" for one made in code: a refusal names the
    #: threshold to raise in that file, not by the policy's name alone (which of the catalog's files holds it?)
    place: str = field(default="", compare=False)
    #: ``amount`` in pico-USD, worked out once: every reservation compares it with each limit's sums
    amount_pusd: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount_pusd", _pusd(self.amount))  # frozen: set the one time it is made


@lru_cache(maxsize=64)
def _pusd(amount: Decimal) -> int:
    from ..ledger.money import to_pusd

    return to_pusd(amount) or 0


def limit_key(limit: Limit) -> str:
    """``THRESHOLD on policy 'NAME'``, with where it is written (`` (FILE: policies.N.thresholds.THRESHOLD)``) for a
    policy read from a file: the threshold a refusal tells its reader to raise, and the file to raise it in."""
    threshold = THRESHOLD_OF[limit.kind]
    return f"{threshold} on policy {limit.policy!r}{written_at(limit, 'thresholds.' + threshold)}"


def written_at(limit: Limit, key: str) -> str:
    """`` (FILE: policies.N.KEY)``, where ``limit``'s policy sets ``key``; "" for a policy made in code."""
    return f" ({limit.place}.{key})" if limit.place else ""


#: how many of allowed()'s verdicts a PolicySet keeps (see PolicySet._verdicts)
VERDICTS_KEPT = 1024
#: a served-model verdict not worked out yet (None is one: the deployment serves nothing the policies forbid)
_NOT_KEPT = object()


#: what begins each line a local target's refusal adds for another policy refusing it too
ALSO_REFUSED_BY = "\n- also policy "


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
                ("agent_month", t.max_cost_per_agent_monthly_usd),
                ("month", t.max_cost_per_month_usd),
            ):
                if value is not None:
                    at = self.places.get(p.name, "")
                    self.limits.append(Limit(kind, value, p.name, p.allow_unpriced, zone, at))  # type: ignore[arg-type]
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
            # (no "did you mean": the served model's name is the deployment's answer, not a caller's spelling)
            ok, policy, reason, _rule = self._allowed(Target("azure", name), data_class, hint=False)
            if ok or any(self._allowed(Target("azure", other), data_class, hint=False)[0] for other in names[1:]):
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

    def unreached_refusal(self, target: Target, data_class: str | Sequence[str] | None) -> Unreached | None:
        """Why ``target``'s server could not be reached (:class:`~..providers.local_reach.Unreached`: most often not
        started), where the policies refuse it for want of that server's answer alone: the call skips such a target as
        the connection error it is, not as a refusal whose fixes would not help. None where they allow it, or refuse
        it for another reason too (a data class naming other models): the first refusal said may be the unanswered
        question's while another policy's stands whatever the server says, and that one is the call's."""
        why = self.off_machine(target) if target.provider == "local" else None
        if not isinstance(why, Unreached):  # (the usual case: nothing to ask the policies)
            return None
        ok, _, reason, _ = self.allowed(target, data_class)
        if ok or reason is None or why not in reason:
            return None
        return why if self._allowed(target, data_class, hint=False, judged=False)[0] else None

    def _allowed(
        self, target: Target, data_class: str | Sequence[str] | None, hint: bool = True, judged: bool = True
    ) -> tuple[bool, str | None, str | None, str | None]:
        """The first policy's refusal of ``target`` (its name, reason and rule), or allowed. A local target's refusal
        says each other refusal too, one line each (``- also policy 'NAME': ...``): a local model is most often
        refused for where it runs, by the models' glob and a data class's alike, and the first alone, fixed, met the
        next one at the next call."""
        denials = self._denials(target, data_class, hint, judged)
        first = next(denials, None)
        if first is None:
            return True, None, None, None
        if target.provider != "local":
            return first
        # (each other refusal, the first policy's own for another of its rules or classes too: its allowed_models and
        # its data class's alike refuse a model run off this machine, and fixing the one met the other)
        others = dict.fromkeys((name, reason) for _, name, reason, _ in denials if (name, reason) != first[1:3])
        if not others:
            return first
        also = "".join(f"{ALSO_REFUSED_BY}{name!r}: {reason}" for name, reason in others)
        return (False, first[1], f"{first[2]}{also}", first[3])

    def _denials(
        self, target: Target, data_class: str | Sequence[str] | None, hint: bool, judged: bool
    ) -> Iterator[tuple[bool, str | None, str | None, str | None]]:
        """Each policy's refusal of ``target``, in the policies' order: its models, then each data class's."""
        # (judged=False: as if the local server were known to run the model itself, see unreached_refusal)
        off_machine = self.off_machine(target) if judged and target.provider == "local" else None
        for name, models in self._allowed_models:
            if not matches(models, target):
                yield (
                    False,
                    name,
                    # the model a misspelt one nearly is, next to it (after the file's path it read as the path's)
                    f"{target.label}{nearly_allowed(models, target.model) if hint else ''} is not in "
                    f"{self._written(name, 'allowed_models')}",
                    "allowed_models",
                )
                continue
            if off_machine is not None and not admits_off_machine(models, target):
                # a glob of local models (local:*) admits the operator's own machines: one run elsewhere is named
                yield (
                    False,
                    name,
                    f"{target.label} {runs_off_machine(target, off_machine)}: a glob of "
                    f"{self._written(name, 'allowed_models')} does not admit a local model run off this machine; add "
                    f"{target.label} itself to allow it",
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
                written = self._written(name, "requirements", f"requirements.{cls}")
                if not matches(required, target):
                    yield (
                        False,
                        name,
                        f"data class {cls!r} may only use {', '.join(required)} ({written}): name one of them for the "
                        f"call, or add {target.label} there",
                        "data_class",
                    )
                    continue
                if off_machine is not None and not admits_off_machine(required, target):
                    yield (
                        False,
                        name,
                        f"data class {cls!r} may only use {', '.join(required)} ({written}), and {target.label} "
                        f"{runs_off_machine(target, off_machine)}: a glob does not send the class's data off this "
                        f"machine; name {target.label} there to allow it",
                        "data_class",
                    )

    def _written(self, policy: str, key: str, file_key: str | None = None) -> str:
        """``POLICY.KEY``, with where it is written (``, at FILE: policies.N.FILE_KEY``) for a policy read from a file:
        what a refusal names, and the file to change (which of the catalog's policy files holds it?)."""
        at = self.places.get(policy)
        return f"{policy}.{key}, at {at}.{file_key or key}" if at else f"{policy}.{key}"

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
