"""A wrong argument to a command is said with its fix (start87's walk of every command): an option nothing is near
was "unrecognized arguments: --bogus" alone; a missing argument was named with nothing of what it is, and an option
given beside it that the command does not take went unsaid; and an option compared with its two dashes was offered
another of no likeness (`magsag budget --sinse 2d`: "did you mean --json?")."""

from __future__ import annotations

import pytest

from magsag_mcp.cli import main


def said(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as info:
        main(list(argv))
    assert info.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_an_option_nothing_is_near_is_told_where_the_commands_options_are_listed(capsys):
    assert said(capsys, "doctor", "--bogus-flag") == (
        "magsag doctor: error: unrecognized arguments: --bogus-flag; `magsag doctor --help` lists what it takes"
    )
    assert said(capsys, "doctor", "stray").endswith(
        "unrecognized arguments: stray; `magsag doctor --help` lists what it takes"
    )


def test_an_option_is_offered_only_a_name_like_its_own(capsys):
    assert said(capsys, "budget", "--sinse", "2d").endswith(
        "unrecognized arguments: --sinse 2d; `magsag budget --help` lists what it takes"
    )
    assert said(capsys, "budget", "--agnet", "ops").endswith(
        "unrecognized arguments: --agnet ops; did you mean --agent?"
    )
    assert said(capsys, "data", "query", "--sinse", "2d").endswith("; did you mean --since?")


def test_a_missing_argument_is_said_with_what_it_is_and_an_option_not_taken_beside_it(capsys):
    assert said(capsys, "invoke") == (
        "magsag invoke: error: the following arguments are required: skill_id; give skill_id: e.g. skill.analysis "
        "(`magsag catalog skills` lists them)"
    )
    assert said(capsys, "flow", "gate", "--bogus-flag") == (
        "magsag flow gate: error: the following arguments are required: summary, --policy; give summary: a JSON "
        "file written by `magsag flow summarize --output` ('-' for stdin, piped from it); give --policy: a governance "
        "policy file; --bogus-flag is no option of magsag flow gate (`magsag flow gate --help`)"
    )


def test_an_option_argparse_took_by_its_beginning_is_not_said_to_be_no_option(capsys):
    """Review of start87: argparse takes an option's beginning for it (``--pol`` is ``--policy``): beside a missing
    argument, ``flow gate --pol p.yaml`` was told "--pol is no option of magsag flow gate", though it was read as
    --policy, and only the summary was missing; ``--`` (the end of the options) was said so too."""
    assert said(capsys, "flow", "gate", "--pol", "p.yaml") == (
        "magsag flow gate: error: the following arguments are required: summary; give summary: a JSON file written "
        "by `magsag flow summarize --output` ('-' for stdin, piped from it)"
    )
    assert said(capsys, "flow", "gate", "--pol", "p.yaml", "--bogus-flag").endswith(
        "; --bogus-flag is no option of magsag flow gate (`magsag flow gate --help`)"
    )


def test_a_group_given_no_command_is_told_its_commands(capsys):
    """Review of start87: `magsag data` was told "the following arguments are required: COMMAND" alone, naming none
    of the commands it meant."""
    assert said(capsys, "data") == (
        "magsag data: error: the following arguments are required: COMMAND; give COMMAND: one of query, search, "
        "prune, backup (`magsag data COMMAND --help` says what it does)"
    )
    assert said(capsys, "flow").startswith(
        "magsag flow: error: the following arguments are required: COMMAND; give COMMAND: one of summarize, "
    )
