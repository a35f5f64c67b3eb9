"""A strict reader of the Prometheus text exposition format (0.0.4), written from the format's rules and apart from
the writer under test (magsag_mcp.metrics_text), so that a scrape's text is checked, not trusted: every line is a
``# HELP``, a ``# TYPE`` or a sample of the family last typed, a label value's only escapes are ``\\\\``, ``\\"``
and ``\\n``, a value is a Go float, and a histogram's buckets are cumulative and end in ``+Inf`` equal to ``_count``."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
_SAMPLE = re.compile(rf"({_NAME})(?:\{{(.*)\}})? (\S+)")
_TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


@dataclass
class Family:
    name: str
    kind: str
    help: str
    #: (sample name, labels) -> value, the value as written (a Decimal: exact where the text is)
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], Decimal] = field(default_factory=dict)

    def value(self, suffix: str = "", **labels: str) -> Decimal:
        """The sample of ``labels`` (all of them); 0 where the family has none such (a counter not yet counted)."""
        key = (self.name + suffix, tuple(sorted(labels.items())))
        return self.samples.get(key, Decimal(0))

    def total(self, suffix: str = "", **labels: str) -> Decimal:
        """The sum over the samples whose labels include ``labels``."""
        want = set(labels.items())
        return sum(
            (v for (name, ls), v in self.samples.items() if name == self.name + suffix and want <= set(ls)),
            Decimal(0),
        )

    def label_values(self, label: str) -> set[str]:
        return {dict(ls)[label] for _, ls in self.samples if label in dict(ls)}


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"\\": "\\", '"': '"', "n": "\n"}[m[1]], value)


def _value(text: str) -> Decimal:
    if text in ("+Inf", "-Inf", "NaN"):
        raise AssertionError(f"no sample here may be {text}")
    float(text)  # Go's ParseFloat takes what Python's float takes, for what a writer writes
    return Decimal(text)


def parse(text: str) -> dict[str, Family]:
    assert text.endswith("\n"), "the exposition ends with a line break"
    families: dict[str, Family] = {}
    helps: dict[str, str] = {}
    current: Family | None = None
    for line in text[:-1].split("\n"):
        if line.startswith("# HELP "):
            name, _, said = line[7:].partition(" ")
            assert re.fullmatch(_NAME, name), line
            helps[name] = re.sub(r"\\(.)", lambda m: {"\\": "\\", "n": "\n"}[m[1]], said)
            continue
        if line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert kind in _TYPES and name not in families, line
            current = families[name] = Family(name, kind, helps.get(name, ""))
            continue
        assert line and not line.startswith("#"), f"a line that is no sample: {line!r}"
        match = _SAMPLE.fullmatch(line)
        assert match, f"not a sample line: {line!r}"
        name, label_text, value = match.groups()
        assert current is not None, f"a sample before any TYPE: {line!r}"
        suffixes = ("_bucket", "_sum", "_count") if current.kind == "histogram" else ("",)
        assert any(name == current.name + s for s in suffixes), f"{name} is not of the family {current.name}"
        labels: list[tuple[str, str]] = []
        if label_text:
            end = 0
            for i, label in enumerate(_LABEL.finditer(label_text)):
                assert label.start() == end + (1 if i else 0), f"bad label text in {line!r}"
                if i:
                    assert label_text[end] == ",", line
                labels.append((label[1], _unescape(label[2])))
                end = label.end()
            assert end == len(label_text), f"bad label text in {line!r}"
        key = (name, tuple(sorted(labels)))
        assert key not in current.samples, f"a sample twice: {line!r}"
        current.samples[key] = _value(value)
    for family in families.values():
        if family.kind == "histogram":
            _check_histogram(family)
    return families


def _check_histogram(family: Family) -> None:
    series: dict[tuple[tuple[str, str], ...], list[tuple[float, Decimal]]] = {}
    for (name, labels), value in family.samples.items():
        if name.endswith("_bucket"):
            rest = tuple(kv for kv in labels if kv[0] != "le")
            le = dict(labels)["le"]
            series.setdefault(rest, []).append((math.inf if le == "+Inf" else float(le), value))
    for rest, buckets in series.items():
        buckets.sort()
        counts = [count for _, count in buckets]
        assert counts == sorted(counts), f"{family.name}{rest}: buckets not cumulative"
        assert buckets[-1][0] == math.inf, f"{family.name}{rest}: no +Inf bucket"
        assert buckets[-1][1] == family.samples[(family.name + "_count", rest)], f"{family.name}{rest}: +Inf != count"
