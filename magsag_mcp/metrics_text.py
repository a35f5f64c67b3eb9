"""The Prometheus text exposition format (version 0.0.4), written by hand: :class:`Exposition` and :class:`Histogram`.

Written here rather than with ``prometheus-client``: what :mod:`.metrics` exposes is a dozen families of counters,
gauges and histograms, whose format is a few lines of rules (the ``# HELP`` and ``# TYPE`` lines, label values with
``\\``, ``"`` and a line break escaped, histograms as cumulative ``_bucket{le=...}`` lines, ``_sum`` and ``_count``);
the library would add a dependency every user installs (the CLI and the Python API count calls too) and a global
registry of its own beside ours, and its counters hold floats, where a cost summed here stays an exact Decimal
until it is written.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from decimal import Decimal

#: what the format's content type says (a scraper that asks for OpenMetrics gets this, which it reads too)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = tuple[tuple[str, str], ...]


def escape_label_value(value: str) -> str:
    """A label value as the format writes it between double quotes: ``\\`` as ``\\\\``, ``"`` as ``\\"`` and a line
    break as ``\\n`` (a model named with any of them must not end the value, or the line, early)."""
    if "\\" in value or '"' in value or "\n" in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def escape_help(text: str) -> str:
    """A ``# HELP`` line's text: ``\\`` and line breaks escaped (its quotes are left as they are)."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def number(value: int | float | Decimal) -> str:
    """A sample's value: an int as it is, a Decimal in plain notation (exact: the cost as the ledger has it), a float
    by ``repr`` (``+Inf`` for infinity)."""
    if isinstance(value, Decimal):
        return format(value.normalize() if value else Decimal(0), "f")
    if isinstance(value, float):
        if value == float("inf"):
            return "+Inf"
        return repr(value)
    return str(value)


class Histogram:
    """One histogram's counts for one set of labels: ``bounds`` the buckets' upper bounds (``le``, inclusive),
    ascending."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = bounds
        #: per bucket, not cumulative (one increment an observation), the last past every bound: summed when written
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # the first bound >= value: the buckets are "less or equal"
        self.sum += value

    def add(self, counts: Sequence[int], total: float) -> None:
        """Another series' counts (of the same bounds) and sum, added to these."""
        self.counts = [a + b for a, b in zip(self.counts, counts, strict=True)]
        self.sum += total

    @property
    def count(self) -> int:
        return sum(self.counts)


class Exposition:
    """The text of one scrape, family by family (each family's samples are written together, after its HELP and
    TYPE, as the format asks)."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self._lines.append(f"# HELP {name} {escape_help(help_text)}")
        self._lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, labels: Labels, value: int | float | Decimal) -> None:
        self._lines.append(f"{name}{_label_text(labels)} {number(value)}")

    def samples(
        self, name: str, kind: str, help_text: str, rows: Iterable[tuple[Labels, int | float | Decimal]]
    ) -> None:
        """A family and its samples, sorted by their labels (a stable text, scrape after scrape)."""
        self.family(name, kind, help_text)
        for labels, value in sorted(rows, key=lambda row: row[0]):
            self.sample(name, labels, value)

    def histograms(self, name: str, help_text: str, rows: Iterable[tuple[Labels, Histogram]]) -> None:
        self.family(name, "histogram", help_text)
        for labels, hist in sorted(rows, key=lambda row: row[0]):
            running = 0
            for bound, count in zip(hist.bounds, hist.counts[:-1], strict=True):
                running += count
                self.sample(f"{name}_bucket", (*labels, ("le", number(float(bound)))), running)
            self.sample(f"{name}_bucket", (*labels, ("le", "+Inf")), hist.count)
            self.sample(f"{name}_sum", labels, hist.sum)
            self.sample(f"{name}_count", labels, hist.count)

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"


def _label_text(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{escape_label_value(value)}"' for key, value in labels) + "}"
