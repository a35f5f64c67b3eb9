"""The errors a cascade ends a call with: every target failed or was skipped (:func:`all_failed`: what each one did,
why the last was not tried again, and the fix where routing's or a policy's choices explain it), and a bug of ours
during an attempt (:func:`internal_error`). What a cascade writes down on the way lives in :mod:`.cascade_report`."""

from __future__ import annotations

from typing import Any

from .cascade_report import CascadeState, labels, trace
from .cascade_waits import taken_for_a_quota
from .errors import (
    AllTargetsFailed,
    BudgetExceeded,
    InternalError,
    MagsagError,
    ModelNotFoundError,
    PolicyDenied,
    ProviderError,
    excerpt,
    redact,
    said_without_keys,
)
from .providers import hosts_other_models
from .providers.local_models import LISTED
from .records import AttemptRecord
from .routing import Plan
from .skipped_said import shared_refusals
from .types import Target


def internal_error(target: Target, bug: Exception, *, sent: bool = True) -> InternalError:
    """The error of an attempt that code of ours failed with ``bug``, an exception outside errors.py's tree. The bug
    may strike after the request was sent (the vendor answered): what it billed is not known (``maybe_billed``).
    ``sent`` False: the transport never sent the attempt's request (the bug came while it was built), so it is not
    billed (``reached`` false too)."""
    said_without_keys(bug)  # (the error is raised from it: its text is printed in every traceback of it)
    billed = (
        "this attempt may be billed"
        if sent
        else "nothing was sent to the provider (the bug came before the request went out), so it is not billed"
    )
    err = InternalError(
        f"{target.label}: a bug in magsag-mcp, not the provider's: {type(bug).__name__} "
        f"({excerpt(str(bug), 200)}) while the call was made or its answer read; no other target was tried, as it "
        f"would run the same code and be billed the same way, and {billed}. Please report it to "
        "magsag-mcp's maintainers with the traceback logged under magsag_mcp.cascade",
        provider=target.provider,
        model=target.model,
        maybe_billed=sent,
        exception=type(bug).__name__,
    )
    if not sent:
        err.reached = False  # (this one error's, over its class's)
    return err


def all_failed(plan: Plan, state: CascadeState, last: MagsagError | None) -> AllTargetsFailed:
    tried = [a for a in state.attempts if a.outcome == "error"]
    parts = _tries_said(tried, labels(plan))
    routed_tail = _routed_models_missing(plan, tried, last)
    # the last error's words, where they close the message: a skip repeating them says so, not them again
    last_said = (
        redact(last.message)
        if not routed_tail and tried and isinstance(last, ProviderError) and last.moves_on
        else None
    )
    skipped = [_said_once(s, last_said) for s in state.skipped]
    # a policy's refusal of several targets said once beneath them, a line each, rather than each target's in full
    lines = shared_refusals(skipped)
    if lines is None:
        parts += [f"{s['target']} skipped ({s['reason']})" for s in skipped]
    joined = ": "  # (what comes between the head and each target's tries)
    if isinstance(last, InternalError):
        head = f"{plan.skill_id}: stopped by {last.message}"
    elif isinstance(last, ProviderError) and not last.moves_on:
        # the provider's own words (its target and status first), then who judged what, and the fix. It read
        # "stopped at a request the provider rejected: <its words>: openai:gpt-4o bad_request": the target said
        # twice, its kind after the vendor's text, and no word of the fallbacks left untried or of what to change
        head = f"{plan.skill_id}: {redact(last.message)}; {_rejected(plan, last)}"
        parts, joined = (parts if len(tried) > 1 else []), "; tried: "  # (one try: the words above are all it did)
    elif not plan.candidates:
        head = f"{plan.skill_id}: no candidate targets"
    else:
        head = f"{plan.skill_id}: every target failed"
    tail = routed_tail
    if last_said is not None:
        # why the last target failed, and its fix (raise max_tokens; a base URL one /v1 short): the kinds alone
        # say neither ("model_not_found" twice), and this message is what a model reads first, what str(e) gives
        # a caller's fallback loop and what the ledger keeps; the others' most often repeat it
        tail = f"; last error: {last_said}"
    # why its target was not tried again (or, left alone, not sent), and the fix, which the attempt's warning alone
    # said: "every target failed: openai:gpt-4o rate_limited" read as if waiting or a retry setting could do nothing
    if state.gave_up is not None and state.gave_up[0] is last:
        why = state.gave_up[1]
        tail += f"; {why if isinstance(why, str) else why()}"
    elif (taken := taken_for_a_quota(last)) is not None:
        tail += f"; {taken}"
    tail += _mapped_models_missing(plan, tried) + _routed_models_forbidden(plan, state.attempts)
    if lines is None:
        said = head + (joined + "; ".join(parts) if parts else "") + tail
    else:
        tried_lines = [f"- {part}" for part in parts]
        said = "\n".join([f"{head}:", *tried_lines, *lines, *([tail.removeprefix("; ")] if tail else [])])
    if plan.classes_apart is not None and state.attempts and all(a.outcome == "policy_denied" for a in state.attempts):
        # two data classes sharing no target: one sentence naming them and the fix, not each target's refusal by
        # one class or the other (which the trace and the attempts still show)
        said = f"{plan.skill_id}: {plan.classes_apart}"
    err = AllTargetsFailed.build(
        said,
        attempts=state.attempts,
        last_error=last,
    )
    err.details["trace"] = trace(plan, state)
    if isinstance(last, PolicyDenied | BudgetExceeded):
        err.details["policy"] = last.policy
    return err


#: the shortest last error a skip's reason is said to repeat: a few words ("timed out") may be a part of another's
_REPEATED_AT_LEAST = 40


def _said_once(skip: dict[str, Any], last_said: str | None) -> dict[str, Any]:
    """``skip`` (a cascade's skipped target) with the last error's words in its reason said as those, not again: with
    MAGSAG_PROVIDER=local and no server running, each of routing's models was skipped with 'could not reach ...;
    start the server (...)' in full, and the last error said it a third time. The trace keeps each in full."""
    reason = redact(str(skip["reason"]))
    if last_said is None or len(last_said) < _REPEATED_AT_LEAST or last_said not in reason:
        return skip
    return {**skip, "reason": reason.replace(last_said, "not reached, as the last error says (below)")}


def _rejected(plan: Plan, last: ProviderError) -> str:
    """What a provider's rejection of a request as wrong for any model (a 400's bad_request) means for the call,
    and its fix: the provider judged the request itself, so no fallback was tried for it."""
    param = last.details.get("param")
    what = f"the field it names ({param})" if isinstance(param, str) and param else "what it names"
    fallbacks = len(plan.candidates) - 1
    untried = (
        f"so {'its fallback was' if fallbacks == 1 else f'its {fallbacks} fallbacks were'} not tried, as "
        f"{'it' if fallbacks == 1 else 'each'} would reject it alike"
        if fallbacks > 0
        else "so another target would reject it alike"
    )
    return (
        f"{last.provider} rejected the request itself ({last.kind}), not this model, {untried}: fix {what} in the "
        "call's payload, model_config or context, and call again"
    )


def _tries_said(tried: list[AttemptRecord], names: list[str]) -> list[str]:
    """Each target's failed tries once, where it was first tried, its retries counted beside it: "local:llama3.1:70b
    connection_error (3 tries)". Each try was a part of its own, "every target failed: local:llama3.1:70b
    connection_error; local:llama3.1:70b connection_error; local:llama3.1:70b connection_error", which read as three
    targets where the call had one. A target come back to after others is counted in its one part (it was a part
    again, read as a second target), and its kinds are said in the order met, a repeat in a row once: "server_error,
    then rate_limited, then server_error", its last kind the one it ended with (a kind said once however often it
    came hid that: "server_error, then rate_limited" for a target whose last try was a server error).

    A target is its place in the plan, named as ``names`` (:func:`~.cascade_report.labels`) names it: two of one
    model on two servers by their endpoints; two still named alike (other params) by their place in the chain,
    "(primary)", "(fallback 1)". Keyed by the model alone, they were one part, their tries summed."""
    kinds: dict[int, list[str]] = {}
    for a in tried:
        kinds.setdefault(a.fallback_position, []).append(str(a.error_class))
    said = {
        position: names[position] if position < len(names) else f"{a.provider}:{a.model}"
        for a in tried
        for position in (a.fallback_position,)
    }
    shared = {name for name in said.values() if list(said.values()).count(name) > 1}
    return [
        (f"{said[position]} ({_place(position)})" if said[position] in shared else said[position])
        + f" {', then '.join(k for i, k in enumerate(met) if i == 0 or met[i - 1] != k)}"
        + (f" ({len(met)} tries)" if len(met) > 1 else "")
        for position, met in kinds.items()
    ]


def _place(position: int) -> str:
    """A target's place in a call's chain: the primary, or its fallback by number (as ``fallback_position``)."""
    return "primary" if position == 0 else f"fallback {position}"


def _routed_models_missing(plan: Plan, tried: list[AttemptRecord], last: MagsagError | None = None) -> str:
    """The fix when a hosting provider was asked for routing's models by their names (``MAGSAG_PROVIDER=local``
    alone, or a call naming only a provider) and has none of them: a model it has must be named, from those its
    server's list names (``last``'s, a local server's model not found), which the call's error said none of."""
    if not tried:
        return ""
    served = []
    for a in tried:
        if a.error_class != "model_not_found" or a.fallback_position >= len(plan.candidates):
            return ""
        served.append(plan.candidates[a.fallback_position])
    provider = served[0].target.provider
    if any(c.routed is None for c in served) or not hosts_other_models(provider):
        return ""  # a vendor (openai, ...) keeps routing's own models of its own: they are its to know
    asked = (
        f"; {provider} was asked for the routing policy's models by their names (MAGSAG_PROVIDER, or a call naming "
        "only a provider) and has none of them"
    )
    found = last if isinstance(last, ModelNotFoundError) else None
    has, at = (found.served_models, found.served_at) if found is not None else (None, None)
    if found is not None and found.none_loaded:
        # LM Studio with no model loaded: its fix (load one) was the target's error's and was dropped for "has none
        # of them: name a model it has", as if the names were wrong where the server had nothing loaded to answer
        return redact(
            f"; {provider} was asked for the routing policy's models by their names (MAGSAG_PROVIDER, or a call "
            f"naming only a provider), and the server at {at} has no model loaded (LM Studio answers only the "
            "models loaded): load the model you mean to use with `lms load MODEL` or in LM Studio's Developer tab "
            "(or turn on Just-in-Time Model Loading in its Developer settings), then name it in MAGSAG_MODEL or the "
            "call's model_config.model"
        )
    asked_for = {c.target.model for c in served}
    listed_missing = [m for m in dict.fromkeys(c.target.model for c in served) if has and m in has]
    if listed_missing:
        # the server's list names a model it then answered "not found" for (a gateway's alias to a model it no
        # longer has, a model still being pulled): "has none of them; ... serves gpt-4o" contradicted itself
        names = ", ".join(listed_missing)
        others = [m for m in (has or []) if m not in asked_for]
        rest = ", ".join(others[:LISTED]) + (f" and {len(others) - LISTED} more" if len(others) > LISTED else "")
        them = "it" if len(listed_missing) == 1 else "them"
        pick = f"name another it lists ({rest})" if rest else "name a model it can answer"
        return redact(
            f"; {provider} was asked for the routing policy's models by their names (MAGSAG_PROVIDER, or a call "
            f"naming only a provider); the server at {at} lists {names} but answered {them} not found when asked (its "
            f"list and what it can load differ: a model still being fetched, an alias to one it no longer has): "
            f"check that model on the server, or {pick} in MAGSAG_MODEL or the call's model_config.model"
        )
    if has:
        listed = ", ".join(has[:LISTED]) + (f" and {len(has) - LISTED} more" if len(has) > LISTED else "")
        return redact(
            f"{asked}; the server at {at} serves {listed}: name one of them in MAGSAG_MODEL or the call's "
            "model_config.model"
        )
    if has == []:
        return redact(
            f"{asked}; the server at {at} serves no model yet: fetch one (Ollama: `ollama pull MODEL`), then name it "
            "in MAGSAG_MODEL or the call's model_config.model"
        )
    return f"{asked}: name a model it has in MAGSAG_MODEL or the call's model_config.model"


def _routed_models_forbidden(plan: Plan, attempts: list[AttemptRecord]) -> str:
    """The fix when a policy refused every target the routing policy gave the call (the guide's policy file beside
    the shipped routing: production_models does not allow the pii class's llama3.1:70b). A routed target's refusal
    says no fix, as another target may serve the call; where none is left, the call's error said none at all."""
    if not attempts or any(a.outcome != "policy_denied" for a in attempts):
        return ""
    for a in attempts:
        if a.fallback_position >= len(plan.candidates) or plan.candidates[a.fallback_position].source not in _ROUTED:
            return ""  # a model the call or the environment chose: its refusal names its own fix
    return (
        f"; the policies forbid every target routing gives {plan.skill_id}: add one of them to the allowed_models (or "
        "the data class's models under requirements) of the policy that forbids it, or route the task to a model the "
        "policies allow (`magsag catalog validate` lists such routes)"
    )


#: where a target the routing policy chose comes from (Candidate.source), as opposed to the call's or the environment's
_ROUTED = frozenset({"tier", "route", "default", "data_class"})


def _mapped_models_missing(plan: Plan, tried: list[AttemptRecord]) -> str:
    """Where a model the vendor does not have came from, when routing's ``provider_defaults`` named it (a model
    retired since, a name mistyped): the caller named only a provider, so the vendor's "check the model name"
    points at a name they never wrote where they would look for it."""
    missing = [
        plan.candidates[a.fallback_position]
        for a in tried
        if a.error_class == "model_not_found"
        and a.fallback_position < len(plan.candidates)
        and plan.candidates[a.fallback_position].source == "provider_default"
    ]
    if not missing:
        return ""
    provider = missing[0].target.provider
    names = ", ".join(dict.fromkeys(c.target.label for c in missing))
    fix = (
        f"or set MAGSAG_MODEL to a {provider} model"
        if missing[0].by_env
        else f"or name a {provider} model in the call's model_config.model"
    )
    return (
        f"; {names} came from routing's provider_defaults.{provider} (the route and the default chain name no "
        f"{provider} model): name a model {provider} serves there, {fix}"
    )
