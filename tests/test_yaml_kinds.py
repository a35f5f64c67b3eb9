"""Every kind of value PyYAML's safe loader makes, named in a catalog author's words: "the number 1000.0" where a
whole number was wanted did not say it was a decimal one, and "a bytes", "a datetime", "a NoneType" and "a set" were
Python's names for what a tag or an unquoted date made."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from magsag_mcp.catalog import validate_catalog
from magsag_mcp.yaml_kinds import yaml_kind, yaml_kind_word

#: one value of each kind the safe loader makes, as written -> what it is said to be, with it and alone
KINDS = [
    ("~", "no value (YAML reads a value left empty, ~ and null as none)", "no value"),
    ("yes", "the value true", "true or false"),
    ("off", "the value false", "true or false"),
    ("1000", "the whole number 1000", "a whole number"),
    ("1_000", "the whole number 1000", "a whole number"),
    ("1000.0", "the decimal number 1000.0", "a decimal number"),
    ("0.25", "the decimal number 0.25", "a decimal number"),
    (".inf", "infinity (.inf)", "a number that is not finite"),
    ("-.inf", "minus infinity (-.inf)", "a number that is not finite"),
    (".nan", "not-a-number (.nan)", "a number that is not finite"),
    ("gpt-4o", "the text 'gpt-4o'", "a text"),
    ("!!str 5", "the text '5'", "a text"),
    ("x" * 45, f"the text '{'x' * 40}'...", "a text"),
    ("!!binary aGVsbG8=", "binary data of 5 bytes, tagged !!binary", "binary data"),
    ("2025-01-01", "the date 2025-01-01", "a date"),
    ("2025-01-01 10:00:00", "the date and time 2025-01-01 10:00:00", "a date and time"),
    ("2025-01-01T10:00:00Z", "the date and time 2025-01-01 10:00:00+00:00", "a date and time"),
    ("!!set {a}", "a set of 1 value, tagged !!set", "a set"),
    ("!!set {a, b}", "a set of 2 values, tagged !!set", "a set"),
    ("!!omap [a: 1]", "a list of pairs, tagged !!omap or !!pairs", "a list"),
    ("!!pairs [a: 1, a: 2]", "a list of pairs, tagged !!omap or !!pairs", "a list"),
    ("[a, b]", "a list", "a list"),
    ("[]", "a list", "a list"),
    ("{a: 1}", "a mapping", "a mapping"),
]


@pytest.mark.parametrize(("written", "said", "word"), KINDS)
def test_each_kind_yaml_reads_is_said_in_words(written: str, said: str, word: str):
    value = yaml.safe_load(written)
    assert yaml_kind(value) == said
    assert yaml_kind_word(value) == word
    for text in (said, word):  # none of Python's type names
        assert not any(f"a {name}" in text for name in ("NoneType", "bytes", "datetime", "float", "int", "dict"))


@pytest.mark.parametrize(
    ("written", "got"),
    [
        ("1000.5", "got the decimal number 1000.5"),
        ("!!binary aGVsbG8=", "got binary data of 5 bytes, tagged !!binary"),
        ("2025-01-01", "got the date 2025-01-01"),
        ("!!set {a}", "got a set of 1 value, tagged !!set"),
    ],
)
def test_a_whole_number_key_says_the_kind_it_got(catalog_copy: Path, written: str, got: str):
    # "max_tokens: Input should be a valid integer, got a number with a fractional part (got 1000.5)", or
    # "(got b'1000')": Python's repr of bytes, no text the file held
    skill = catalog_copy / "skills" / "coding.yaml"
    skill.write_text(skill.read_text().replace("max_tokens: 4000", f"max_tokens: {written}"))
    problems = [p for p in validate_catalog(catalog_copy, env={}) if p.startswith(f"{skill}:")]
    assert len(problems) == 1, problems
    assert f"({got}); write a whole number, digits alone (e.g. 10)" in problems[0], problems


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("2025-01-01 10:00:00", "(got 2025-01-01 10:00:00, which YAML reads as a date and time); write it in quotes"),
        ("12", "(got 12, which YAML reads as a whole number); write it in quotes"),
        ("1000.0", "(got 1000.0, which YAML reads as a decimal number); write it in quotes"),
    ],
)
def test_a_text_key_says_what_yaml_read_instead(catalog_copy: Path, written: str, said: str):
    skill = catalog_copy / "skills" / "coding.yaml"
    skill.write_text(skill.read_text().replace("task_type: coding", f"task_type: {written}"))
    problems = [p for p in validate_catalog(catalog_copy, env={}) if p.startswith(f"{skill}:")]
    assert any(said in p for p in problems), problems
