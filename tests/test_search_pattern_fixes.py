"""A refused search pattern with a parenthesis that opens or closes nothing is told a pattern that does what was meant.
``(a|b`` was told "to find the text as written: search '\\(a\\|b'", which escaped the alternation too: a search for
the text '(a|b', where a group of two words left open was meant. A group left open that holds an operator is closed
now; a parenthesis alone is escaped alone, the pattern's other operators kept; and each says where it stands."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp.errors import InputError
from magsag_mcp.ledger import Ledger
from magsag_mcp.ledger.patterns import _unbalanced, compile_pattern


@pytest.mark.parametrize(
    ("pattern", "fix"),
    [
        ("(a|b", "the ( at character 1 is never closed; to close it: search '(a|b)'"),
        ("claude (opus|sonnet", "the ( at character 8 is never closed; to close it: search 'claude (opus|sonnet)'"),
        ("(error.*timeout", "the ( at character 1 is never closed; to close it: search '(error.*timeout)'"),
        ("((a|b)", "the ( at character 1 is never closed; to close it: search '((a|b))'"),
        # no operator in the group: the parenthesis is text, escaped alone ('.' still any character, as written)
        ("gpt-4.1 (mini", r"the ( at character 9 is never closed; to find it as written: search 'gpt-4.1 \(mini'"),
        # a ')' that closes nothing, beside an alternation kept as meant
        ("a|b)", r"the ) at character 4 closes no group; to find it as written: search 'a|b\)'"),
        # a group left open beside a ')' that closes nothing: the group closed, the ')' alone escaped (before: both
        # parentheses escaped, 'a\)\(b|c', the group meant lost, as closing alone left the ')' and was refused)
        (
            "a)(b|c",
            r"the ( at character 3 is never closed; the ) at character 2 closes no group; "
            r"to close the ( at character 3 and find the other as written: search 'a\)(b|c)'",
        ),
        # a group left open, and a ( after it before plain text: that one is text (before: '(a|b ())', an empty group)
        (
            "(a|b (",
            r"the ( at characters 1, 6 are never closed; "
            r"to close the ( at character 1 and find the other as written: search '(a|b \()'",
        ),
        ("x) (a|b (", r"to close the ( at character 4 and find the others as written: search 'x\) (a|b \()'"),
    ],
)
def test_an_unbalanced_parenthesis_is_told_a_pattern_that_does_what_was_meant(pattern: str, fix: str):
    with pytest.raises(InputError) as info:
        compile_pattern(pattern)
    said = info.value.message
    assert fix in said, said  # before: every operator escaped ('\(a\|b'), the alternation lost
    meant = fix.split("search ", 1)[1].strip("'")
    compile_pattern(meant)  # what it is told to search is a pattern RE2 takes


@pytest.mark.anyio
async def test_the_closed_group_finds_what_either_word_names(tmp_path: Path):
    async with Ledger(tmp_path / "l.db") as ledger:
        await ledger.log_event("run-1", "ag", "note", {"message": "timeout at the vendor"})
        await ledger.log_event("run-2", "ag", "note", {"message": "overloaded"})
        with pytest.raises(InputError) as info:
            await ledger.search("(timeout|overloaded", 10)
        meant = info.value.message.split("to close it: search ", 1)[1].split("'")[1]
        hits = await ledger.search(meant, 10)
    assert sorted(h["run_id"] for h in hits) == ["run-1", "run-2"]


def test_the_group_closed_beside_a_stray_parenthesis_finds_either_word_after_it():
    with pytest.raises(InputError) as info:
        compile_pattern("gpt-4o)(timeout|overloaded")
    meant = compile_pattern(info.value.message.split("as written: search ", 1)[1].split("'")[1])
    assert meant.search("gpt-4o)timeout") and meant.search("GPT-4o)overloaded")
    assert not meant.search("gpt-4o)(timeout|overloaded")


def test_a_parenthesis_escaped_or_in_a_class_is_balanced():
    assert _unbalanced(r"\(a|[()]b(c)") == ([], [])
    assert _unbalanced("(a(b)") == ([0], [])
    assert _unbalanced("a)(b") == ([2], [1])
