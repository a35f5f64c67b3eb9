"""How an all-failed call's error says the targets a policy skipped: one line per target, the refusal they share said
once beneath them, at most :data:`LISTED` of them named before "and N more". Said as each target's own refusal, in one
line, nine targets a policy forbade ran to 3 KB, the same policy, file and key repeated nine times, which is what a
model reads first of the call. Every target and its whole refusal stay in the error's trace (``skipped``)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

#: the most targets named under one shared refusal; the others are counted ("and 3 more"), named in the trace
LISTED = 6


def shared_refusals(skipped: Sequence[Mapping[str, Any]]) -> list[str] | None:
    """The lines saying ``skipped`` (the cascade's skipped targets, each ``{"target", "reason", "policy"?}``), when a
    policy's refusal is shared by two targets or more (the same words but for the target's name); else None, and each
    target is said with its refusal, as ever."""
    groups: dict[str, list[str]] = {}
    alone: list[str] = []
    for s in skipped:
        target, reason = str(s["target"]), str(s["reason"])
        if s.get("policy") is None:
            alone.append(f"- {target} skipped ({reason})")
            continue
        groups.setdefault(_as_it(reason, target), []).append(target)
    if not any(len(targets) > 1 for targets in groups.values()):
        return None
    lines: list[str] = []
    for shared, targets in groups.items():
        if len(targets) == 1:
            lines.append(f"- {targets[0]} skipped ({shared.replace(_IT, targets[0])})")
            continue
        lines += [f"- {target} skipped" for target in targets[:LISTED]]
        if len(targets) > LISTED:
            lines.append(f"- and {len(targets) - LISTED} more skipped the same way (the error's trace names them)")
        lines.append(f"  each: {_said_of_each(shared)}")
    return lines + alone


#: where a refusal named its own target
_IT = "\x00"


def _said_of_each(shared: str) -> str:
    """A refusal shared by several targets, each target said as "it"; but where the refusal quotes its target as a
    value to write (a prices.yaml entry, ``"compat:gpt-4o": {input: ..., output: ...}``), "each target" in angle
    brackets: ``"it"`` there would be an entry for a model named it."""
    return shared.replace(f'"{_IT}"', '"<each target>"').replace(_IT, "it")


def _as_it(reason: str, target: str) -> str:
    """``reason`` with its target's name held as one place (``openai:gpt-4o``, not the start of
    ``openai:gpt-4o-mini``)."""
    return re.sub(re.escape(target) + r"(?![\w.:/-])", _IT, reason)
