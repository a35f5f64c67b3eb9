"""What a key that a policy file may not hold asked for, where the nearest valid key would put another rule in force.

A misspelt key is told the nearest valid key and the keys allowed there (:func:`~..suggest.unknown_field`). Some
keys are not misspellings: they ask for a rule magsag does not have, and the nearest valid key is a different rule.
Renaming the key as the hint says would then put that rule in force. ``denied_models`` is nearest to
``allowed_models``, so the models meant to be forbidden would become the only models allowed. A day's budget
(``max_daily_cost_usd``) or a month's (``monthly_budget_usd``) is nearest to ``max_cost_per_run_usd``, and would
become the limit of each run: each is told the limit its words name (``max_cost_per_month_usd``). A week's budget is
told that magsag keeps none, and what it keeps. One skill's daily budget (``max_cost_per_skill_daily_usd``) would
become the limit of every call of the day. ``max_tokens_per_call: 4000`` would become a limit of $4000 a call. Each
such key is told that magsag has no such rule, and what it has instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

#: the limits a policy's thresholds hold, as the messages list them
LIMITS = (
    "max_cost_per_call_usd", "max_cost_per_run_usd", "max_cost_per_agent_daily_usd", "max_cost_per_day_usd",
    "max_cost_per_agent_monthly_usd", "max_cost_per_month_usd",
)  # fmt: skip
_HAS = (
    "its limits are per call, per run, per agent per day or month and for every call per day or month: "
    f"{', '.join(LIMITS)}, in USD"
)

#: the periods a threshold's name may ask for that magsag keeps no limit of (a monthly budget, a weekly one, ...)
_PERIODS = {
    "week": "weekly",
    "weekly": "weekly",
    "year": "yearly",
    "yearly": "yearly",
    "annual": "yearly",
    "quarter": "quarterly",
    "quarterly": "quarterly",
    "hour": "hourly",
    "hourly": "hourly",
    "minute": "per-minute",
}
#: scopes a threshold's name may ask for that magsag keeps no limit of, and the word for them
_PEOPLE = {"user", "tenant", "project", "team", "org", "organization", "organisation", "customer", "workspace"}
_THINGS = {"skill", "model", "provider"}
#: what a threshold's name says it limits, among the limits magsag keeps
_KEPT = {
    "call": "call", "request": "call", "run": "run", "day": "day", "daily": "day", "month": "month",
    "monthly": "month",
}  # fmt: skip
#: words of a policy key asking to forbid what it lists
_DENY = {
    "deny", "denied", "denylist", "block", "blocked", "blocklist", "blacklist", "forbid", "forbidden",
    "disallow", "disallowed", "exclude", "excluded", "ban", "banned", "reject", "rejected",
}  # fmt: skip
_REGION = {"region", "residency", "geo", "location", "country", "jurisdiction"}
#: the words a limit's name is made of, beside those naming its kind (``_KEPT``, ``agent``): a key of these alone is
#: read by its words; one with another word (``agnet``, a misspelling) by its nearest spelling
_PLAIN = {"max", "maximum", "cost", "spend", "budget", "limit", "per", "each", "a", "the", "of", "in", "usd", "total"}
#: the keys of a policy (policy_models.Policy's fields): one written under thresholds is indented a level too deep
POLICY_KEYS = ("name", "description", "allowed_models", "thresholds", "requirements", "timezone", "allow_unpriced")
#: words of a key written on a policy itself that ask for a limit, which goes under its thresholds
_LIMIT_WORDS = {"cost", "spend", "budget", "usd", "limit", "token"}


def _words(key: str) -> list[str]:
    """The words of a key (``maxCostPerMonthUSD`` and ``max-cost-per-month-usd`` as ``max_cost_per_month_usd``),
    each in the singular (``models``, ``days``)."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).lower()
    words = [w for w in re.split(r"[^a-z0-9]+", spaced) if w]
    return [w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words]


def _threshold(key: str) -> str | None:
    """Why ``thresholds.KEY`` asks for a limit magsag does not keep (a period, a scope, tokens), or None."""
    words = _words(key)
    period = next((_PERIODS[w] for w in words if w in _PERIODS), None)
    if period is not None:
        agent = "agent" in words
        day = "max_cost_per_agent_daily_usd" if agent else "max_cost_per_day_usd"
        month = "max_cost_per_agent_monthly_usd" if agent else "max_cost_per_month_usd"
        return (
            f"magsag keeps no {period} limit ({_HAS}); hold the budget as a day or month limit ({day} or {month}, "
            "counted in the policy's timezone), or watch it with `magsag flow summarize --since` the period's first "
            "day"
        )
    if "token" in words:
        return (
            f"magsag keeps no token limit in a policy ({_HAS}: written here, a number of tokens would be read as "
            "dollars); a call's output is bounded by max_tokens (the skill's, a routing target's params.max_tokens or "
            "the call's model_config.max_tokens), which budgets reserve at the model's price"
        )
    scope = next((w for w in words if w in _PEOPLE or w in _THINGS), None)
    if scope is None:
        return None
    if scope in _PEOPLE:
        fix = (
            f"give each {scope} an agent name of its own (the agent its calls are made as) and hold it with "
            "max_cost_per_agent_daily_usd"
        )
    else:
        fix = (
            "bound each call with max_cost_per_call_usd, keep costly models out with allowed_models, and watch "
            f"the spend of each {scope} with `magsag flow summarize`"
        )
    return f"magsag keeps no per-{scope} limit ({_HAS}); {fix}"


def _meant_limit(key: str) -> str | None:
    """The limit magsag keeps that ``thresholds.KEY`` names by its words (``max_daily_cost_usd``: the day's, which
    the nearest spelling, ``max_cost_per_run_usd``, is not), or None where they name none, or several."""
    words = _words(key)
    if any(w not in _PLAIN and w not in _KEPT and w != "agent" for w in words):
        return None
    kinds = {_KEPT[w] for w in words if w in _KEPT}
    if "agent" in words:  # (an agent's limit without a period is its day's, as before month limits were kept)
        return "max_cost_per_agent_monthly_usd" if kinds == {"month"} else "max_cost_per_agent_daily_usd"
    if len(kinds) != 1:
        return None
    return {
        "call": "max_cost_per_call_usd", "run": "max_cost_per_run_usd", "day": "max_cost_per_day_usd",
        "month": "max_cost_per_month_usd",
    }[kinds.pop()]  # fmt: skip


def _policy_key(key: str) -> str | None:
    """Why a policy's key asks for a rule magsag has in another form (a list of forbidden models, of providers, of
    regions), or None."""
    words = set(_words(key))
    if words & _DENY:
        return (
            "magsag has no list of forbidden models: a policy's allowed_models lists the only models it allows, and "
            "refuses every other (renamed allowed_models, this list would allow only the models it names); list "
            "the models to allow under allowed_models (a name, a glob such as 'claude-*', or 'provider:*' for every "
            "model of a provider), leaving out those to forbid"
        )
    if "provider" in words:
        return (
            "allowed_models takes providers as patterns: write 'openai:*' to allow every model a provider serves "
            "('local:*' for your own server); a bare model name such as 'gpt-4o' allows that model from any provider"
        )
    if words & _REGION:
        return (
            "magsag keeps no region rule: data residency is held by data class, with requirements (a class's data "
            "goes only to the models listed for it, e.g. requirements: {pii_processing: ['local:*']}; "
            "'provider:model' pins who serves a model), and a skill's or a call's data_class"
        )
    return None


def unknown_key(loc: Sequence[Any], said: str, nearest: Callable[[Sequence[Any]], str]) -> str:
    """The message for pydantic's ``extra_forbidden`` at ``loc`` in a policy file: what magsag has instead of the rule
    the key asks for; else what pydantic ``said``, with the limit the key names by its words or ``nearest(loc)``, the
    nearest spelling and the keys accepted there (:func:`~..suggest.unknown_field`)."""
    key = str(loc[-1]) if loc else ""
    in_thresholds = len(loc) >= 2 and loc[-2] == "thresholds"
    in_policy = len(loc) == 3 and loc[0] == "policies" and isinstance(loc[1], int)
    # a key written a level off: a policy's key under its thresholds (read by its words, allowed_models was told
    # magsag keeps no per-model limit), a limit on the policy itself (told only the policy's keys)
    if in_thresholds and key in POLICY_KEYS:
        return (
            f"{key} is a key of the policy, not of its thresholds: write it level with thresholds (indented as "
            "thresholds is), not under it"
        )
    if in_policy and key in LIMITS:
        return f"{key} is a threshold: write it under the policy's thresholds (thresholds: {{{key}: 5.0}})"
    # a limit asked for on the policy itself (max_cost_per_provider_usd is a limit, not a list of providers)
    words = set(_words(key))
    limit_asked = in_policy and bool(words & _LIMIT_WORDS) and not words & _DENY
    instead = _threshold(key) if in_thresholds or limit_asked else _policy_key(key) if in_policy else None
    if instead is not None:
        return instead
    meant = _meant_limit(key) if in_thresholds or limit_asked else None
    if meant is not None and limit_asked:
        return f"{said}; a limit is written under the policy's thresholds (did you mean thresholds.{meant}?)"
    if meant is not None:
        return f"{said} (did you mean {meant!r}?); accepted here: {', '.join(LIMITS)}"
    return said + nearest(loc)
