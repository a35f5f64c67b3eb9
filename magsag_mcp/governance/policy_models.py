"""A governance policy as its file writes it (``catalog/policies/*.yaml``, in the shape the users' guide shows): the
models a policy file is read into, and what each refuses with its fix. What the policies then judge is
:mod:`.policy`'s (:class:`~.policy.PolicySet`).

    policies:
      - name: production_models
        allowed_models: [gpt-4o, "claude-*", "local:*"]       # model names or provider:model, globs
      - name: cost_limits
        thresholds: {max_cost_per_call_usd: 0.5, max_cost_per_run_usd: 5.0, max_cost_per_agent_daily_usd: 100,
                     max_cost_per_day_usd: 500,                # every call together
                     max_cost_per_month_usd: 8000}             # every call together, per calendar month
                                                               # (max_cost_per_agent_monthly_usd: each agent's)
        timezone: Europe/Berlin                                # the days and months of this policy's day
                                                               # and month limits (default UTC; refused
                                                               # without any)
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

import re
from collections.abc import Mapping
from decimal import ROUND_DOWN, Decimal
from typing import Annotated, Any, ClassVar, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from ..ledger.money import MAX_PUSD
from ..targets import misspelt_provider, provider_prefix, spaced_colon
from ..zones import zone_problem
from .model_patterns import GLOB
from .policy_problems import built_in_python

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


#: the largest limit: the most the ledger holds as one amount (pico-USD in a 64-bit integer, about $9.2M)
LIMIT_MAX_USD = Decimal(MAX_PUSD).scaleb(-12)
_PICO_USD = Decimal("1e-12")
#: said to the cent, rounded down: an amount YAML reads unquoted (a float) keeps no more digits than that exactly
_LIMIT_MAX_SAID = f"{LIMIT_MAX_USD.quantize(Decimal('0.01'), rounding=ROUND_DOWN):,f}"


def _countable_limit(value: Decimal | None) -> Decimal | None:
    """A limit the ledger's pico-USD count: 1e400 (a finite Decimal, read from YAML as written) or 10**40 loaded and
    compared as if a limit, one no spend reaches; 5e-13 was rounded to a $0 limit, refusing every call. (A NaN and an
    infinity are refused before, by pydantic's finite numbers; an amount of 0 or below after, by Field's gt=0, which
    says so: -5e-13 was told of its decimal places.)"""
    if value is None or value <= 0:  # (0 or below: Field's gt=0 says so, after this)
        return value
    if value > LIMIT_MAX_USD:
        shown = _with_places(value, ",f") if value.adjusted() < 30 else _in_short(value)
        raise ValueError(
            f"${shown} is more than the ledger counts as one amount (${_LIMIT_MAX_SAID}, pico-USD in a 64-bit "
            "integer); write a lower amount, or remove the key for no such limit"
        )
    if value != value.quantize(_PICO_USD):  # (10.000000000000000's zeros round nothing away)
        shown = _with_places(value) if value.adjusted() >= -30 else _in_short(value)
        raise ValueError(
            f"${shown} has more decimal places than the ledger counts (12: pico-USD), and would be rounded; write at "
            "most 12 decimal places (the least limit is 0.000000000001)"
        )
    return value


def _named(model: type[BaseModel], data: Any) -> object:
    """The name a policy built in Python was given (None for thresholds, which have none, and for no mapping)."""
    return data.get("name") if "name" in model.model_fields and isinstance(data, Mapping) else None


class _BuiltInPython(BaseModel):
    """A model a user may build in Python (``Policy(name="cap", thresholds={"max_cost_per_run_usd": -5})``, or
    ``Policy.model_validate(a_dict)``, ``model_validate_json``, ``model_validate_strings``): refused with an
    :class:`~.policy_problems.InvalidPolicy` (a ConfigError, and a ValueError as pydantic's error was) saying each
    problem as a policy file's is said (where it is, what was written, the fix), not pydantic's own error. Built only
    by ``__init__``, ``model_validate`` said pydantic's raw error still. (A file's policies are read by
    :class:`PolicyFile`, which builds them without these, each problem said at its place in the file.)"""

    #: where the model stands in a policy file: a misspelt key is told the keys of its level there
    _AT: ClassVar[tuple[Any, ...]] = ()

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise built_in_python(type(self).__name__, _named(type(self), data), exc, self._AT) from None

    # (pydantic's own mark, as its RootModel's: validating a policy, or a file of them, builds these without calling
    # __init__, so that each problem is said at its place in the file, not raised from here)
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def model_validate(cls, obj: Any, **options: Any) -> Self:
        try:
            return super().model_validate(obj, **options)
        except ValidationError as exc:
            raise built_in_python(cls.__name__, _named(cls, obj), exc, cls._AT) from None

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **options: Any) -> Self:
        try:
            return super().model_validate_json(json_data, **options)
        except ValidationError as exc:
            raise built_in_python(cls.__name__, None, exc, cls._AT) from None

    @classmethod
    def model_validate_strings(cls, obj: Any, **options: Any) -> Self:
        try:
            return super().model_validate_strings(obj, **options)
        except ValidationError as exc:
            raise built_in_python(cls.__name__, _named(cls, obj), exc, cls._AT) from None

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy, ``update``'s keys validated with the rest as a policy built anew is (pydantic's own sets them
        unchecked, documented so: ``policy.model_copy(update={"thresholds": {"max_cost_per_run_usd": -5}})`` held a
        negative budget, and an unknown model's glob, that the YAML and ``Policy(...)`` refuse). A key updated to None
        is left out, as a policy without it (a limit removed). Without ``update``, pydantic's copy: nothing changed."""
        if not update:
            return super().model_copy(deep=deep)
        data = {**self.model_dump(exclude_unset=True), **update}
        left_out = [key for key, value in data.items() if value is None and key in type(self).model_fields]
        return self.model_validate({key: value for key, value in data.items() if key not in left_out})


def _in_short(value: Decimal) -> str:
    """An amount of more digits than a refusal writes out (``1E-999999``, written out a million characters; 10**400,
    401 digits), as its digits and exponent (``1E-999999``, ``1E+400``), or where they are many, its first four:
    ``1.235E+400``."""
    digits = "".join(map(str, value.as_tuple().digits)).rstrip("0") or "0"
    if len(digits) > 12:  # (normalize() would round them to its context's 28 without saying so)
        return f"{value:.3E}"
    return f"{digits[0]}{'.' + digits[1:] if len(digits) > 1 else ''}E{value.adjusted():+d}"


#: the most decimal places a refusal writes out of an amount: past them, it says how many there are
_PLACES_SAID = 30


def _with_places(value: Decimal, spec: str = "f") -> str:
    """An amount a refusal names, written out by ``spec`` (``0.0000000000005``, ``10,000,000``), or where its decimal
    places are many, its first 25 and how many there are: ``0.1111111111111111111111111... (5,000 decimal places)``
    (text of 5,000 places was written out whole in the refusal)."""
    whole, dot, places = format(value, spec).partition(".")
    if len(places) <= _PLACES_SAID:
        return f"{whole}{dot}{places}"
    return f"{whole}.{places[:25]}... ({len(places):,} decimal places)"


def _int_as_decimal(value: Any) -> Any:
    """An int as the Decimal it is, exactly: pydantic's Decimal wrote an int to text first, and one of more than
    4,300 digits (a YAML amount of 5,000 digits) raised a bare ValueError out of the policy's load, no refusal of it."""
    return Decimal(value) if isinstance(value, int) and not isinstance(value, bool) else value


#: a limit's amount in USD: above 0 (Field), finite (pydantic), and one the ledger counts (_countable_limit)
LimitUSD = Annotated[Decimal, BeforeValidator(_int_as_decimal), AfterValidator(_countable_limit)]


class Thresholds(_BuiltInPython):
    model_config = ConfigDict(extra="forbid")
    max_cost_per_call_usd: LimitUSD | None = Field(default=None, gt=0)
    max_cost_per_run_usd: LimitUSD | None = Field(default=None, gt=0)
    max_cost_per_agent_daily_usd: LimitUSD | None = Field(default=None, gt=0)
    #: every call together, whatever its agent or run (or none), per day in the policy's time zone
    max_cost_per_day_usd: LimitUSD | None = Field(default=None, gt=0)
    #: every call together per calendar month, and each agent's, in the policy's time zone (as its days): teams
    #: budget by the month
    max_cost_per_month_usd: LimitUSD | None = Field(default=None, gt=0)
    max_cost_per_agent_monthly_usd: LimitUSD | None = Field(default=None, gt=0)

    _no_amount = field_validator("*", mode="before")(_written_null)

    _AT = ("policies", 0, "thresholds")


def _provider_known(pattern: str) -> str:
    """A pattern whose ``provider:`` names no provider while its model is a cloud vendor's (``opnai:gpt-4o``): read
    as a bare model name it matched no call, and a data class's routing could not name the target (every call of
    the class failed on it). Refused with the providers there are."""
    head = misspelt_provider(pattern)
    if head is not None and not GLOB.search(head):
        from ..providers import meant_provider, offered_provider_names
        from ..suggest import named

        model = pattern.partition(":")[2].strip()
        meant = meant_provider(head)
        if meant is not None:  # the pattern to write, whole (as MAGSAG_MODEL's misspelt provider is told it)
            raise ValueError(
                f"{pattern!r} names provider {head!r} (did you mean {meant!r}?), which magsag does not know; write "
                f"'{meant}:{model}', or {model!r} alone to match it on any provider"
            )
        raise ValueError(
            f"{pattern!r} names provider {named([head], ())}, which magsag does not know; write "
            f"'provider:{model}' with one of: {', '.join(offered_provider_names())}, or {model!r} alone to match it on "
            "any provider"
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


#: the thresholds counted in a window of the policy's time zone (a day, a month)
WINDOW_THRESHOLDS = (
    "max_cost_per_day_usd", "max_cost_per_agent_daily_usd", "max_cost_per_month_usd", "max_cost_per_agent_monthly_usd"
)  # fmt: skip


def _window_limits(t: Thresholds | None) -> bool:
    return t is not None and any(getattr(t, name) is not None for name in WINDOW_THRESHOLDS)


class Policy(_BuiltInPython):
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

    _AT = ("policies", 0)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            if problem := zone_problem(value):
                raise ValueError(problem)
            # a setting for this policy's own day limits, on a policy without them, would change nothing (checked
            # here, not on the whole policy, so that the problem names the key: policies.N.timezone)
            if "thresholds" in info.data and not _window_limits(info.data["thresholds"]):
                raise ValueError(
                    f"timezone {value!r} sets the days and months of this policy's own day and month limits "
                    f"(thresholds {', '.join(WINDOW_THRESHOLDS)}) and it has none; "
                    "move it to the policy whose day or month limits it is for"
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
