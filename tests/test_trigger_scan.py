"""key_shapes.holds_a_trigger, the look that spares a text the key patterns' search: the same answer as the look it
replaced (a vendor's prefix looked up where each separator stands, or in the whole text for each prefix once the text
held more than 32 of a separator) on every text, in a number of passes over the text that no count of separators
changes. (A property: 600 examples.)"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from magsag_mcp import key_triggers
from magsag_mcp.key_triggers import _TRIGGERS, _VENDOR_TRIGGERS, holds_a_trigger


def _holds_a_trigger_as_before(folded: str) -> bool:
    """The look as it was before it read the text backwards (its answers are the reference)."""
    if any(trigger in folded for trigger in _TRIGGERS):
        return True
    longest = max(len(t) for ts in _VENDOR_TRIGGERS.values() for t in ts)
    for separator, prefixes in _VENDOR_TRIGGERS.items():
        at = folded.find(separator)
        while at != -1:
            if folded.endswith(prefixes, max(0, at + 1 - longest), at + 1):
                return True
            at = folded.find(separator, at + 1)
    return False


_PREFIXES = [prefix for prefixes in _VENDOR_TRIGGERS.values() for prefix in prefixes]
_PARTS = st.one_of(
    st.text(alphabet="_-abghiklnoprstuvwxjfz128 .", max_size=10),
    st.sampled_from(_PREFIXES),
    st.sampled_from([prefix[1:] for prefix in _PREFIXES] + [prefix[:-1] for prefix in _PREFIXES]),
    st.sampled_from(["_" * 40, "-" * 40, "a_" * 20, "gh_", "github_", "lsv2_pt", "tgp_v1", "sk", "ke", "to"]),
)


@settings(max_examples=600)
@given(text=st.lists(_PARTS, max_size=12).map("".join))
def test_holds_a_trigger_answers_as_the_look_it_replaced(text: str) -> None:
    assert holds_a_trigger(text) == _holds_a_trigger_as_before(text), repr(text)


class _CountedText(str):
    """A text counting the passes made over it: each look-up, count, search from a place, and copy."""

    passes = 0

    def _pass(name: str):  # type: ignore[no-untyped-def]
        def counted(self, *args):  # type: ignore[no-untyped-def]
            type(self).passes += 1
            return getattr(str, name)(self, *args)

        return counted

    __contains__ = _pass("__contains__")
    find = _pass("find")
    count = _pass("count")
    endswith = _pass("endswith")
    __getitem__ = _pass("__getitem__")


class _CountedSearch:
    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern

    def search(self, text: str) -> re.Match[str] | None:
        _CountedText.passes += 1
        return self.pattern.search(text)


@pytest.mark.parametrize("separators", [0, 1, 20, 33, 40, 2000])
@pytest.mark.parametrize("separator", ["_", "-"])
def test_holds_a_trigger_passes_over_a_text_as_often_whatever_its_separators(
    separators: int, separator: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A text holding more than 32 underscores was looked up again for each of 14 prefixes (a third to a half of its
    # redaction), and one holding fewer at each of its underscores: a trigger word each, a look-up of each separator,
    # one copy read backwards and a search for each separator it holds (5 at most), whatever their number
    searches = getattr(key_triggers, "_VENDOR_TRIGGERS_BACKWARDS", {})  # (the look before had none: its passes counted)
    for key, pattern in searches.items():
        monkeypatch.setitem(searches, key, _CountedSearch(pattern))
    _CountedText.passes = 0
    text = _CountedText(("error in my" + separator) * separators + "request failed")
    assert not holds_a_trigger(text)
    assert _CountedText.passes <= len(_TRIGGERS) + 5, _CountedText.passes
