"""A catalog file's layout mistakes said with their fix (magsag_mcp/yaml_layout.py), held to the rule that wrong
advice is worse than none: where the fix is not known, PyYAML's own words are kept."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from magsag_mcp.catalog_yaml import read_yaml


def _said(tmp_path: Path, text: str) -> str:
    path = tmp_path / "file.yaml"
    path.write_bytes(text.encode())
    problems: list[str] = []
    read_yaml(path, {}, problems)
    [problem] = problems
    assert problem.startswith(f"{path}: malformed YAML (line "), problem
    return problem.removeprefix(f"{path}: ")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        # (a backslash in double quotes, a Windows path, is an escape PyYAML refuses in a quote that is closed: no
        # word of a quote left open)
        (
            'path: "C:\\Users\\me"\n',
            "malformed YAML (line 1, column 12): expected escape sequence of 8 hexadecimal numbers, but found 's'",
        ),
        ('a: "x\\qy"\nb: 1\n', "malformed YAML (line 1, column 7): found unknown escape character 'q'"),
        # a [list] written over lines with a comma left out: it was "the [ opened at line 1 ... is not closed before
        # line 4: close it with ]", and it is closed, at line 5
        (
            'models: [\n  "a",\n  "b"\n  "c",\n]\n',
            "malformed YAML (line 4, column 3): the list opened with [ at line 1, column 9 has two items with no comma "
            "between them (before line 4, column 3): separate its items with commas (expected ',' or ']', but got "
            "'<scalar>')",
        ),
        (
            "limits: {\n  a: 1,\n  b: 2\n  c: 3\n}\n",
            "malformed YAML (line 4, column 4): the mapping opened with { at line 1, column 9 has two items with no "
            "comma between them (before line 4, column 4): separate its items with commas (expected ',' or '}', but "
            "got ':')",
        ),
        # left open at the file's end (no line break after it): it was "two items with no comma between them"
        (
            "models: [a, b",
            "malformed YAML (line 1, column 14): the [ opened at line 1, column 9 is never closed: close it with ] "
            "where its list ends (expected ',' or ']', but got '<stream end>')",
        ),
        # (the next key read as an item, its colon what YAML stopped at)
        (
            "x: 1\nmodels: [a, b\nn: 2\n",
            "malformed YAML (line 3, column 2): the [ opened at line 2, column 9 is not closed before line 3: close it "
            "with ] where its list ends (expected ',' or ']', but got ':')",
        ),
        # closed with the other bracket: which was meant is not known (it was "two items with no comma")
        ("models: [a, b}\n", "malformed YAML (line 1, column 14): expected ',' or ']', but got '}'"),
        ("limits: {a: [1, 2}\n", "malformed YAML (line 1, column 18): expected ',' or ']', but got '}'"),
        # a value holding ': ' in a {mapping}: not two items (it was "no comma between them")
        (
            "limits: {description: Costs: per call}\n",
            "malformed YAML (line 1, column 28): the ':' at line 1, column 28 is in a value of the mapping opened at "
            "line 1, column 9, where YAML takes a ',' or }: write a value holding ': ' in quotes (expected ',' or '}', "
            "but got ':')",
        ),
        # a quote left open in a {mapping} over lines, which a quote on the next line closes: the quote, not the
        # bracket, is what is wrong (it was "the { opened at line 2 ... is not closed before line 3")
        (
            'p:\n  data: {description: "What: text}\n  model: {type: string, description: "the model"}\n',
            "malformed YAML (line 3, column 39): expected ',' or '}', but got '<scalar>'",
        ),
        # a key whose colon lost its space before a {mapping}: no key's value holding ': ' (it was "the value of
        # 'model:{type', 'string', ...")
        (
            "p:\n  model:{type: string, description: text}\n",
            "malformed YAML (line 2, column 35): mapping values are not allowed here",
        ),
        # text going on over a line, holding ': ': no key to indent (it was "indent it as the keys beside it", which
        # makes "and then" a key)
        (
            "description: Line one\n  and then: more\n",
            "malformed YAML (line 2, column 11): line 2 goes on with the value of line 1 ('description: Line one'), "
            "and holds ': ', which YAML reads as a key's end: write the whole value in quotes, across its lines "
            "(mapping values are not allowed here)",
        ),
        # a key after a list of text items: none to indent it under (it was "or indent it under the item it belongs
        # to", of '- a')
        (
            "items:\n  - a\n  b: 1\n",
            "malformed YAML (line 3, column 3): line 3 is a key where the list begun at line 2 takes '- ' items: begin "
            "it with '- ' for an item of its own, or indent it as the keys of the mapping the list is in (expected "
            "<block end>, but found '?')",
        ),
        # a quoted key holding ': ': its key is the whole of it (it was the key '"a', the value 'b": c: d')
        (
            '"a: b": c: d\n',
            "malformed YAML (line 1, column 10): the value of '\"a: b\"', 'c: d', holds ': ', which YAML reads as a "
            'key\'s end; write the value in quotes: "a: b": "c: d" (mapping values are not allowed here)',
        ),
        # a UTF-8 byte order mark, which PyYAML's columns leave out: the key was '\ufeffdescription', the fix
        # written with the mark in it
        (
            "\ufeffdescription: Costs: per call\n",
            "malformed YAML (line 1, column 19): the value of 'description', 'Costs: per call', holds ': ', which YAML "
            'reads as a key\'s end; write the value in quotes: description: "Costs: per call" (mapping values are not '
            "allowed here)",
        ),
        # a Windows path's drive is no key whose colon lost its space: it was "write C: \\tools"; and "indent it as
        # the keys beside it" was said of a line where they would go, under an item of text that has none
        (
            "paths:\n  - C:\\tools\n    x: 1\n",
            "malformed YAML (line 3, column 6): line 3 is indented deeper (4 spaces) than line 2 (2), which has a "
            "value already ('- C:\\\\tools'), so YAML read line 3 as more of that value: an item of text has no keys "
            "to indent it among; indent it as the keys of the mapping the list is in (by 0) (mapping values are not "
            "allowed here)",
        ),
    ],
)
def test_a_layout_fix_is_said_only_where_it_is_the_fix(tmp_path: Path, text: str, said: str):
    assert _said(tmp_path, text) == said


_KEYS = st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True)
#: text a value written without quotes may hold: ': ' among it, quotes, backslashes, a Windows path's drive
_WORDS = st.text(alphabet="ab :\"'\\/-.#", min_size=1, max_size=10).map(str.strip).filter(bool)
_VALUES = st.builds(lambda head, tail: f"{head}: {tail}", _WORDS, _WORDS).filter(
    lambda v: not v.startswith(("-", ":", '"', "'", "#", "?")) and " #" not in v
)


@settings(max_examples=300, deadline=None)
@given(key=_KEYS, value=_VALUES, above=_KEYS)
def test_the_quotes_a_value_holding_a_colon_is_told_to_take_load_it_as_written(key: str, value: str, above: str):
    # the fix said for `key: text: more` is followed as written: the file then loads, the value the text meant
    import yaml

    from magsag_mcp.yaml_layout import layout_fix

    assume(above != key)
    text = f"{above}: 1\n{key}: {value}\n"
    try:
        yaml.safe_load(text)
    except yaml.YAMLError as exc:
        fix = layout_fix(exc, text)
    else:
        return
    if fix is None or "write the value in quotes: " not in fix:
        return
    written = fix.rpartition("write the value in quotes: ")[2]
    assert yaml.safe_load(f"{above}: 1\n{written}\n") == {above: 1, key: value}


@pytest.mark.parametrize(
    ("text", "said"),
    [
        # an item of allowed_models left of the others: it was "expected <block end>, but found '-'" and no word more
        (
            "policies:\n  - name: p\n    allowed_models:\n      - gpt-4o\n    - gpt-4o-mini\n",
            "malformed YAML (line 5, column 5): line 5 is a '- ' item indented by 4 spaces, left of the items of the "
            "list above it, so it belongs to no list: indent it as the other items of its list, by 6 (as the item at "
            "line 4) (expected <block end>, but found '-')",
        ),
        # a second policy written at the file's left edge, below one whose keys hold a list: it was told "by 2 (as
        # the item at line 2) or by 6 (as the item at line 4)", and by 6 loaded it as a model that is a mapping; an
        # item is told the lists whose items have its shape (keys, here), where one has
        (
            "policies:\n  - name: p\n    allowed_models:\n      - a\n- name: q\n",
            "malformed YAML (line 5, column 1): line 5 is a '- ' item indented by 0 spaces, left of the items of the "
            "list above it, so it belongs to no list: indent it as the other items of its list, by 2 (as the item at "
            "line 2) (expected <block end>, but found '-')",
        ),
        # two lists whose items are text: both still named, which was meant not being known
        (
            "k:\n  - x\n  - sub:\n      - y\n- z\n",
            "malformed YAML (line 5, column 1): line 5 is a '- ' item indented by 0 spaces, left of the items of the "
            "lists above it, so it belongs to no list: indent it as the other items of its list, by 2 (as the item at "
            "line 3) or by 6 (as the item at line 4) (expected <block end>, but found '-')",
        ),
    ],
)
def test_an_item_left_of_its_lists_items_is_told_their_indent(tmp_path: Path, text: str, said: str):
    import yaml

    assert _said(tmp_path, text) == said
    # each indent it names is a fix: the file then loads
    lines = text.splitlines(keepends=True)
    at = int(said.split("line ", 2)[2].split(" ", 1)[0]) - 1
    for column in (int(c) for c in re.findall(r"by (\d+) \(as the item", said)):
        fixed = [*lines[:at], " " * column + lines[at].lstrip(" "), *lines[at + 1 :]]
        yaml.safe_load("".join(fixed))


@pytest.mark.parametrize(
    ("text", "said"),
    [
        # allowed_models' list was closed by requirements: its indent (4) was named, which does not load; the list
        # still open is the policies' (0), to the left
        (
            "policies:\n- name: p\n  allowed_models:\n    - gpt-4o\n  requirements:\n    pii: [a]\n  - name: q\n",
            "malformed YAML (line 7, column 3): line 7 is a '- ' item indented by 2 spaces, out of line with the items "
            "of the list above it, so it belongs to no list: indent it as the other items of its list, by 0 (as the "
            "item at line 2) (expected <block end>, but found '-')",
        ),
        # the first item of allowed_models too far left: by 2 (the policies' items) was named, which loads as a
        # policy 'gpt-4o - gpt-4o-mini' (the line below read as more of its text); PyYAML's words are kept
        (
            "policies:\n  - name: p\n    allowed_models:\n- gpt-4o\n      - gpt-4o-mini\n",
            "malformed YAML (line 4, column 1): expected <block end>, but found '-'",
        ),
        # a line of a description's text (a block scalar) too far left: its '- ' lines above are no list's items
        (
            "policies:\n  - name: p\n    description: |\n      - note one\n- note two\n    allowed_models: [a]\n",
            "malformed YAML (line 5, column 1): expected <block end>, but found '-'",
        ),
    ],
)
def test_an_outdented_item_is_told_only_an_indent_that_loads(tmp_path: Path, text: str, said: str):
    assert _said(tmp_path, text) == said


_FILES_WITH_LISTS = [
    # nested lists, an indentless list (items at their key's indent), a flow list, comments between and after
    # (`- x` moved into the policies' list: `- y` below it was told "by 2 (as the item at line 10)", which loaded x
    # and y as policies; it is told nothing now, the item out of place being the one above it)
    (
        "policies:\n  - name: p\n    allowed_models:\n      - gpt-4o\n      - gpt-4o-mini  # cheap\n    requirements:\n"
        "      pii: [a, b]\n  - name: q\n    allowed_models:\n    - x\n    # between\n    - y\n",
        2,
    ),
    ("x:\n    - a\ny:\n  z: 1\n  w:\n    - b\n    - c\n", 2),
    # a block scalar whose text has '- ' lines, and a list after it: none told (the text's lines are no list's)
    (
        "policies:\n  - name: p\n    description: |\n      - note one\n      - note two\n    allowed_models:\n"
        "      - a\n      - b\n  - name: r\n    tags: [t1, t2]\n",
        0,
    ),
    # lists in lists (`- - a`), written compact
    ("top:\n  - name: a\n    items:\n      - - n1\n        - n2\n      - - n3\n        - n4\n  - name: b\n", 2),
    ("list:\n- a\n- b:\n  - c\n  - d\n- e\n", 0),
    ("k:\n  - \"- quoted\"\n  - 'x: y'\n  - z\n", 1),
]


@pytest.mark.parametrize(("text", "hints"), _FILES_WITH_LISTS)
def test_every_indent_an_outdented_item_is_told_loads_the_file_as_it_was(text: str, hints: int):
    """Each '- ' line with nothing under it moved left, to every column: where the hint names indents, each loads
    the file, and one of them loads it as it was written (the others, lists the item may have been meant for)."""
    import yaml

    from magsag_mcp.yaml_layout import layout_fix

    meant = yaml.safe_load(text)
    lines = text.splitlines()
    hinted = 0
    for at, line in enumerate(lines):
        indent = len(line) - len(line.lstrip(" "))
        below = next((x for x in lines[at + 1 :] if x.strip() and not x.lstrip().startswith("#")), "")
        if not line.lstrip().startswith("- ") or (below and len(below) - len(below.lstrip(" ")) > indent):
            continue
        for column in range(indent):
            moved = "\n".join([*lines[:at], line[indent - column :], *lines[at + 1 :]]) + "\n"
            try:
                yaml.safe_load(moved)
                continue
            except yaml.YAMLError as exc:
                fix = layout_fix(exc, moved)
            if fix is None or "is a '- ' item indented" not in fix:
                continue
            hinted += 1
            # (the line it names may be a later one, out of line with the moved one: `- x` moved left of `- y`)
            told = int(fix.split(" ", 2)[1]) - 1
            wrong = moved.splitlines()
            loaded = []
            for named in (int(c) for c in re.findall(r"by (\d+) \(as the item", fix)):
                fixed = [*wrong[:told], " " * named + wrong[told].lstrip(" "), *wrong[told + 1 :]]
                loaded.append(yaml.safe_load("\n".join(fixed) + "\n"))
            assert loaded, (moved, fix)
            if told == at:
                assert meant in loaded, (moved, fix)
    assert hinted == hints, text


@pytest.mark.parametrize(
    ("text", "said"),
    [
        # `system:` moved out from under `prompt:`: it was "line 3 ... indent it as the keys beside it", of `user:`,
        # which loaded as `prompt:` with no value and `user:` beside it
        (
            "id: s\nprompt:\nsystem: Be brief.\n  user: Hi\n",
            "line 4 is indented deeper (2 spaces) than line 3 (0), which has a value already ('system: Be brief.'), "
            "so YAML read line 4 as more of that value: indent line 3 by 2, its key lined up with line 4's",
        ),
        # a policy's item moved right by its dash's width: "indent it under the item it belongs to" named its first
        # key, under which the next key was refused in turn
        (
            "policies:\n    - name: p\n    allowed_models: [a]\n    allow_unpriced: false\n",
            "line 2, a '- ' item, is indented by 4 spaces, so its keys go at 6, and line 3, at 4, is read as a key "
            "where its list takes '- ' items: indent line 2 by 2, its key lined up with line 3's",
        ),
        # a route's item moved right, with models' lists above: it was "by 6 (as the item at line 4)", which loaded
        # the route as a model of the chain above it
        (
            "routes:\n  - match: a\n    chain:\n      - openai:gpt-4o\n    - match: b\n    chain: [x]\n",
            "line 5 is a '- ' item indented by 4 spaces, out of line with the items of the list above it, so it "
            "belongs to no list: indent it as the other items of its list, by 2 (as the item at line 2)",
        ),
        # `tiers:` moved in under the keys of the mapping above it: "indent it as the keys beside it" loaded it
        # there with no value, its keys beside it; nothing right is known
        ("provider_defaults:\n  openai: gpt-4o\n    tiers:\n  economy: [a]\n", None),
        # a key between two lined up with each other: either was moved, and each move loads: both are named
        (
            "thresholds:\n  a: 1\nb: 2\n  c: 3\n",
            "line 4 is indented deeper (2 spaces) than line 3 (0), which has a value already ('b: 2'), so YAML read "
            "line 4 as more of that value: indent it as the keys beside it (by 0), or, if line 3 belongs with line 2 "
            "above it, indent line 3 by 2, its key lined up with line 4's",
        ),
    ],
)
def test_a_line_moved_off_its_neighbours_is_told_the_move_that_mends_it(text: str, said: str | None):
    import yaml

    from magsag_mcp.yaml_layout import layout_fix

    with pytest.raises(yaml.YAMLError) as refused:
        yaml.safe_load(text)
    assert layout_fix(refused.value, text) == said


def _shipped_yaml() -> list[Path]:
    root = Path(__file__).resolve().parent.parent
    return sorted((root / "catalog").rglob("*.yaml"))


@pytest.mark.parametrize("path", _shipped_yaml(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_indent_named_for_a_shipped_file_with_one_line_moved_is_a_fix(path: Path):
    """Each line of a shipped catalog file moved one indent level (2 spaces) and two, either way: where the hint names
    a move (a line "by N"), the file then loads, and one of the moves named loads it as it was written. An indent
    named that loaded as something else (a policy as one of the models above it, `prompt:` left empty) was worse
    than PyYAML's words."""
    import yaml

    from magsag_mcp.yaml_layout import layout_fix

    text = path.read_text()
    meant = yaml.safe_load(text)
    lines = text.splitlines()
    named = 0
    for at, line in enumerate(lines):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        for by in (2, -2, 4, -4):
            if indent + by < 0:
                continue
            moved = [*lines[:at], " " * (indent + by) + line.lstrip(" "), *lines[at + 1 :]]
            try:
                yaml.safe_load("\n".join(moved) + "\n")
                continue
            except yaml.YAMLError as exc:
                fix = layout_fix(exc, "\n".join(moved) + "\n")
            if fix is None:
                continue
            told = int(fix.split(" ", 2)[1].rstrip(",")) - 1 if fix.startswith("line ") else None
            moves = [(told, int(n)) for n in re.findall(r"by (\d+) \(as the item at line", fix)]
            moves += [(int(n) - 1, int(c)) for n, c in re.findall(r"indent line (\d+) by (\d+)", fix)]
            moves += [
                (told, int(c)) for c in re.findall(r"indent it as the (?:keys|items) beside it \(by (\d+)\)", fix)
            ]
            moves += [(told, int(c)) for c in re.findall(r"keys of the mapping the list is in \(by (\d+)\)", fix)]
            loaded = []
            for line_at, column in moves:
                assert line_at is not None, fix
                fixed = [*moved[:line_at], " " * column + moved[line_at].lstrip(" "), *moved[line_at + 1 :]]
                loaded.append(yaml.safe_load("\n".join(fixed) + "\n"))  # (each loads: no YAMLError)
            if moves:
                named += 1
                assert meant in loaded, (at + 1, by, fix)
    assert named or "\n  " not in text, path  # (a file with nested lines has one whose move is told its fix)
