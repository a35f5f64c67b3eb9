"""A call's earlier attempts' reservations, as its next attempt is admitted: those settled below their worst case
are shrunk to what they cost (in the next reservation's own transaction), and one that cost nothing and still holds
enough is carried over by the next attempt instead of a reservation of its own (see ``Governance.admit``)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..ledger.money import to_pusd

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .attempts import Admission

_ZERO = Decimal(0)


def unshrink(prior: Sequence[Admission], shrink: tuple[tuple[int, int], ...]) -> None:
    """Mark the admissions ``shrink`` named not shrunk again: the reservation that was to shrink them was
    refused, and its transaction (a batch of its own) rolled the shrink back with it. Should it have been
    kept (a merged batch), the next reservation sets the same amount again."""
    ids = {rid for _, rid in shrink}
    for a in prior:
        if a.reservation_id in ids:
            a.shrunk = False


def shrinkable(prior: Sequence[Admission]) -> tuple[tuple[int, int], ...]:
    """``(amount in pico-USD, reservation id)`` of the earlier attempts settled below their worst case whose
    reservation is not yet shrunk, and of those of unknown cost whose bound is above what they hold (see
    ``Governance.settle``: a cut stream's counted prompt), held at that bound from the next reservation on, which would
    read them too low; and of the placeholders (no worst case known to a limit) settled at a known cost, held at it.
    They are marked shrunk (a refused reservation sets them too). A shrink's amount is a bound: it clears the row's
    ``unbounded`` mark (see :data:`~.budget.SHRINK`)."""
    out = []
    for a in prior:
        rid, reserved, actual = a.reservation_id, a.reserved_usd, a.actual_usd
        if rid is None or a.shrunk:
            continue
        if reserved is None:
            # A delegated call's placeholder that no limit counts (see Governance._placing), of a model of unknown
            # price most often: held 0 and marked no bound, it kept the mark once its attempt was settled at a known
            # cost (a 429: $0), and a sweep recorded that attempt with no bound. Held at that cost, it is a bound.
            if actual is None:
                continue
            out.append((to_pusd(actual) or 0, rid))
        elif actual is not None and actual < reserved:
            out.append((to_pusd(actual) or 0, rid))
        elif actual is None and a.bound_usd is not None:
            out.append((to_pusd(a.bound_usd) or 0, rid))
        else:
            continue
        a.shrunk = True
        a.whole = False  # for good: a shrink rolled back (see unshrink) may have freed budget meanwhile
    return tuple(out)


def carriable(prior: Sequence[Admission], worst: Decimal, scoped: Any) -> Admission | None:
    """The call's latest earlier attempt that cost nothing and whose reservation, counted in the same limits, still
    holds a worst case at least ``worst`` (see :meth:`Governance.admit`). Not one that cost something (a billed 429,
    a partial stream) or whose cost is unknown: its hold stands for that until the call is recorded."""
    for a in reversed(prior):
        held = a.reserved_usd  # (a whole reservation holds a worst case: one of no price is never whole, see admit)
        if a.whole and a.actual_usd == _ZERO and not a.running and a.scoped is scoped:
            if held is not None and worst <= held:
                return a
    return None
