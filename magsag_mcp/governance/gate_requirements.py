"""``magsag flow gate``'s check of a policy's ``requirements`` (data class -> the only models its calls may use)
against where a summary says each class's calls went (``by_data_class``, and ``by_data_class_served`` for Azure
deployments).

Separate from :mod:`.gate`, which checks a summary's models and costs: residency reads other parts of a summary (its
calls by data class, and since when its ledger recorded their classes), judges by a class's own list of models rather
than ``allowed_models``, and says its own violations and notes. :mod:`.gate` calls :func:`check_requirements` once for
each policy that has requirements.
"""

from __future__ import annotations

from typing import Any

from ..plurals import counted
from ..types import Target
from .gate_notes import add_note
from .gate_summary import _Summary
from .model_patterns import admits_off_machine, matches, runs_in_ollamas_cloud, served_unallowed


def check_requirements(
    violations: list[str], notes: list[str], policy: Any, summary: dict[str, Any], parsed: _Summary
) -> None:
    """``policy``'s requirements against ``summary`` (``parsed``: its validated fields), with the note that the
    calls from before the ledger kept data classes went unchecked where the summary's period holds some."""
    _check_classes(
        violations,
        notes,
        policy,
        parsed.by_data_class,
        parsed.by_data_class_served,
        parsed.by_data_class_off_machine,
    )
    if parsed.by_data_class is not None and (begun := _before_classes(summary, parsed)) is not None:
        add_note(notes, _unclassed_note(policy.name, *begun))


def _check_classes(
    violations: list[str],
    notes: list[str],
    policy: Any,
    by_class: dict[str, dict[str, int]] | None,
    served_by_class: dict[str, dict[str, dict[str, int]]] | None = None,
    off_machine_by_class: dict[str, dict[str, int]] | None = None,
) -> None:
    """A policy's ``requirements`` (data class -> the only models its calls may use) against where each class's
    calls went (the summary's ``by_data_class``): a target a class's models do not allow is a violation, as the call
    would have been refused under this policy (sent under another policy file, or an older one). A summary without
    ``by_data_class`` (written before calls' data classes were recorded) gets the note that they were not checked:
    "gate: pass" beside the guide's data_residency read as residency audited. An Azure deployment its requirements
    allow by name is judged by the models its answers said served it (``by_data_class_served``), as each call was (see
    :meth:`~.policy.PolicySet.allowed`): the name is its operator's choice. A local target's attempts sent off this
    machine (``by_data_class_off_machine``: a local base URL on ollama.com, or a model the server made from a cloud
    one) pass only a class that names the target itself, as an Ollama cloud model's do: a glob was written for the
    operator's own machines."""
    if by_class is None:
        add_note(
            notes,
            f"{policy.name}: its requirements (data class -> models) were not checked: this summary has no "
            "by_data_class (written by a magsag that did not record calls' data classes); write it again with "
            "`magsag flow summarize` to check them",
        )
        return
    for cls, allowed in policy.requirements.items():
        for label, n in (by_class.get(cls) or {}).items():
            provider, _, model = label.partition(":")
            target = Target(provider, model)
            cloud = runs_in_ollamas_cloud(target)
            left = ((off_machine_by_class or {}).get(cls) or {}).get(label, 0) if provider == "local" else 0
            off_machine = (cloud or left > 0) and not admits_off_machine(allowed, target)
            if matches(allowed, target) and not off_machine:
                if provider == "azure":
                    answered = ((served_by_class or {}).get(cls) or {}).get(model) or {}
                    _check_served(violations, policy.name, cls, allowed, model, answered)
                continue
            violations.append(
                f"{policy.name}: {counted(n, 'attempt')} of data class {cls!r} went to {label}, which its "
                f"requirements do not allow ({cls}: {', '.join(allowed)}"
                f"{_off_machine_note(cloud, left, n) if off_machine else ''}"
                "): they were sent under other policies than "
                f"these; `magsag data query --provider {provider} --model {model} --format json` lists them with "
                "their data_classes"
            )


def _off_machine_note(cloud: bool, left: int, n: int) -> str:
    """Why a class's glob of local models did not admit a target: its calls went off this machine."""
    if cloud:
        return "; an Ollama cloud model, run on ollama.com, is admitted by its name alone"
    return (
        f"; {left} of the {counted(n, 'attempt')} went off this machine, to Ollama's cloud (a local base URL on "
        "ollama.com, or a model the server made from a cloud one), which only the target's own name admits"
    )


def _before_classes(summary: dict[str, Any], parsed: _Summary) -> tuple[str, str] | None:
    """(the period's start, when the ledger began to record data classes) where the first is earlier: the calls
    between were recorded without their classes, in no by_data_class. None otherwise, or where either is not said: a
    summary's ``data_classes_since`` is null where its ledger holds no call from before it kept them (one this version
    made, or one pruned of them), whose by_data_class places every call, whatever the period."""
    from datetime import datetime

    period = summary.get("period")
    start = period.get("from") if isinstance(period, dict) else None
    since = parsed.data_classes_since
    if not isinstance(start, str) or since is None:
        return None
    try:
        earlier = datetime.fromisoformat(start) < datetime.fromisoformat(since)
    except (TypeError, ValueError):  # (a summary written by hand: its times are not ISO 8601)
        return None
    return (start, since) if earlier else None


def _unclassed_note(policy: str, start: str, since: str) -> str:
    """The note that a summary's calls recorded before the ledger kept data classes went unchecked: a ledger upgraded
    to 0027 holds them as calls of no class, and "gate: pass" read their residency as audited."""
    return (
        f"{policy}: its requirements (data class -> models) were checked against the calls recorded with their data "
        f"classes alone: this summary's calls from {start} until {since} were recorded before the ledger kept them, "
        f"so where their classes went is not known; `magsag flow summarize --since {since}` checks every call it holds"
    )


def _check_served(
    violations: list[str], policy: str, cls: str, allowed: list[str], deployment: str, answered: dict[str, int]
) -> None:
    """A class's Azure ``deployment``, allowed by its name, against each model its answers named that is not the one
    the name reads as: one allowed by none of its names (as answered, undated, genai-prices' id) is a violation."""
    for name in served_unallowed(allowed, deployment, answered):
        violations.append(
            f"{policy}: {counted(answered[name], 'attempt')} of data class {cls!r} went to Azure deployment "
            f"{deployment!r}, which answered as {name}, a model its requirements do not allow ({cls}: "
            f"{', '.join(allowed)}): a deployment's name is its operator's choice, and this is the model that served "
            f"it; `magsag data query --provider azure --model {deployment} --format json` lists them with their "
            "data_classes"
        )
