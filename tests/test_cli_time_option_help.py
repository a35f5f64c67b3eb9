"""Each command's --since/--until help says the zone that command reads a date in (start87): the shared help said
"UTC unless it says otherwise" on `flow summarize`, `flow daily` and `data query`, each of which reads a date without
an offset in its --timezone (`--since 2026-12-01 --timezone Europe/Berlin` is Berlin's midnight), and on `data
search`, which has no --timezone and reads it in UTC."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from magsag_mcp.cli import build_parser


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[str, dict]]:
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield " ".join(path), {o: a for a in parser._actions for o in a.option_strings}
    for action in subparsers:
        for name, sub in action.choices.items():
            yield from commands(sub, (*path, name))


def test_each_commands_time_options_say_the_zone_it_reads_a_date_in():
    seen = {}
    for command, options in commands(build_parser()):
        for option in ("--since", "--until"):
            if option not in options:
                continue
            said = options[option].help
            seen[f"{command} {option}"] = "--timezone" in options
            if "--timezone" in options:
                assert "in --timezone's zone, default UTC, unless it gives its offset" in said, (command, said)
            else:
                assert "in UTC unless it gives its offset" in said and "--timezone" not in said, (command, said)
    # the commands this was found on, each still checked
    assert seen == {
        "flow summarize --since": True,
        "flow summarize --until": True,
        "flow daily --since": True,
        "flow daily --until": True,
        "data query --since": True,
        "data query --until": True,
        "data search --since": False,
    }
