"""The data classes the policies declare (each policy's ``requirements``: a class -> the only models its calls may
use), with where each is declared, and the error for a class none declares: a skill's (a catalog problem) or a call's
``context.data_class``. Either names the file and key to fix, as a price refusal names the prices file to edit: the
policies/ folder left its reader to find which of its files lists the classes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..types import Target


class DataClassModels(dict[str, list[str]]):
    """Each data class's models, over every policy (in the order the policies name them); ``declared_in``: where
    the classes are declared, each policy's ``FILE: policies.N.requirements`` (FILE absolute: an MCP client's user
    reads a call's error without knowing the folder the server runs in) -> the classes it declares. Empty for
    policies read from no file (a Python caller's, a test's)."""

    def __init__(
        self,
        models: Mapping[str, list[str]],
        declared_in: Mapping[str, list[str]],
        policies: Mapping[str, list[str]] | None = None,
    ) -> None:
        super().__init__(models)
        self.declared_in = dict(declared_in)
        #: each class -> the names of the policies whose requirements confine it, which a refusal names (as a
        #: policy's refusal of a model does: the ledger keeps what it says, and an audit asks which rule refused)
        self.policies = dict(policies or {})


def requirements_place(place: str) -> str:
    """A policy's place (``FILE: policies.N``, as policy_files writes it) as the place of its requirements, FILE
    made absolute."""
    file, _, key = place.rpartition(": ")
    return f"{Path(file).absolute()}: {key}.requirements" if file else f"{place}.requirements"


def unknown_data_class(cls: str, known: Mapping[str, Any]) -> str:
    """Why data class ``cls`` restricts nothing, and how to fix it: where the known classes are declared
    (``known``'s ``declared_in``, a :class:`DataClassModels`), naming each place with the classes it declares; the
    policies/ folder of the catalog where no file is known."""
    from ..catalog_edits import UNKNOWN_POLICIES

    said = _restricts_nothing(cls, known)
    declared_in: dict[str, list[str]] = getattr(known, "declared_in", {})
    if len(declared_in) == 1:
        [(place, classes)] = declared_in.items()
        return (
            f"{said}known data classes: {', '.join(sorted(classes))}, all declared in {place}. Correct the name, or "
            "list the models it may use there"
        )
    if declared_in:
        each = "; ".join(f"{place} ({', '.join(sorted(classes))})" for place, classes in declared_in.items())
        return (
            f"{said}known data classes: {', '.join(sorted(known))}, declared in {each}. Correct the name, or list the "
            "models it may use in one of those"
        )
    return (
        f"{said}known data classes: {', '.join(sorted(known)) or 'none'}. Correct the name, or list the models it "
        f"may use under a policy's requirements in {UNKNOWN_POLICIES}"
    )


def unknown_call_data_class(cls: str, known: Mapping[str, Any]) -> str:
    """Why a call's ``context.data_class`` ``cls`` restricts nothing, and the caller's fix: the known classes, and
    that a new one is the operator's to declare. No file is named: the caller may be an MCP client, and the server's
    paths are not its to see (nor to edit); the error goes into the ledger, which query_runs reads back to clients.
    A skill's unknown class is a catalog problem, named with its files (:func:`unknown_data_class`)."""
    return (
        f"{_restricts_nothing(cls, known)}known data classes: {', '.join(sorted(known)) or 'none'}. Name one of "
        "them, or leave context.data_class out to declare none; a new class is declared by the server's operator, "
        "with the models it may use, under a policy's requirements (magsag doctor names the catalog in use)"
    )


def _restricts_nothing(cls: str, known: Mapping[str, Any]) -> str:
    """What an unknown data class makes of the call, with the known class it is close to; ``cls`` said by its length
    where longer than any name."""
    from ..suggest import nearest
    from ..text import NAME_MAX, shown_name

    close = nearest(cls, known) if len(cls) <= NAME_MAX else None
    hint = f" (did you mean {close!r}?)" if close else ""
    return f"data class {shown_name(cls)} is named in no policy's requirements, so it would restrict nothing{hint}; "


def classes_apart(
    targets: Sequence[Target], origins: Mapping[str, str], models: Mapping[str, Sequence[str]]
) -> str | None:
    """Why every target of a call is refused, in one sentence, where two or more of its data classes (``origins``:
    each class -> whose it is: "the skill's", "the agent run's", "the call's context.data_class") each allow some
    target of its route but none allows a target every other allows: the run of a pii_processing agent making a call
    that declares financial_data. Its refusal listed each target with the class refusing it, five clauses from which
    the reader had to work out that the two classes share no model. None where a target passes every class, or a class
    allows none of them alone (each target's own refusal then says why). ``models``: each class's models (a
    :class:`DataClassModels`, whose ``policies`` name the policies confining it)."""
    from .model_patterns import matches

    allows = {c: list(models[c]) for c in origins if c in models}
    confined = list(allows)
    if len(confined) < 2:
        return None
    if any(all(matches(allows[c], t) for c in confined) for t in targets):
        return None
    if not all(any(matches(allows[c], t) for t in targets) for c in confined):
        return None
    named = [f"{c!r} ({origins[c]}: {', '.join(models[c])} only)" for c in confined]
    classes = f"{', '.join(named[:-1])} and {named[-1]}"
    confining: Mapping[str, list[str]] = getattr(models, "policies", {})
    policies = sorted({p for c in confined for p in confining.get(c, ())})
    under = f" under {', '.join(f'{p}.requirements' for p in policies)}" if policies else ""
    fixes = []
    if any(origins[c] == "the call's context.data_class" for c in confined):
        fixes.append("leave context.data_class out")
    if runs := [repr(c) for c in confined if origins[c] == "the agent run's"]:
        fixes.append(f"make the call outside the agent run given {' and '.join(runs)}")
    every = "both" if len(confined) == 2 else "all of them"
    fixes.append(f"have the policies' owner add a model {every} allow to each class's requirements")
    return (
        f"data classes {classes} allow no model in common{under}, so every target is refused: "
        f"{', '.join(fixes[:-1])}{', or ' if len(fixes) > 1 else ''}{fixes[-1]}"
    )
