"""What ``magsag`` says of the arguments a command does not take: the option it meant (a misspelling's nearest, one
written after ``--``, another command's output option said as this command's), or a JSON payload given bare."""

from __future__ import annotations

import argparse
import re
import shlex

#: the output each output option of another command asks for (``--format`` alone: the JSON it is most often given)
_OUTPUT_OPTIONS = {"--json": "json", "--csv": "csv", "--table": "table", "--format": "json"}
#: the commands that write JSON and take no option saying so
_JSON_ALWAYS = ("magsag flow summarize", "magsag data search", "magsag explain", "magsag invoke", "magsag run")


def _asked_output(name: str, value: str | None) -> str | None:
    """The output another command's option ``name`` asks for: ``--format``'s the value given it (``--format csv``
    was told ``--json``), JSON where none is."""
    if name == "--format" and value is not None and value.strip().lower() in ("json", "csv", "table", "text"):
        return value.strip().lower()
    return _OUTPUT_OPTIONS.get(name)


def _output_option(parser: argparse.ArgumentParser, name: str, value: str | None = None) -> str | None:
    """How this command is asked for the output another command's option asks for (``name``, not one of its own;
    ``value``: the one given it): ``--format json`` where ``--json`` is given (``data query``, ``flow daily``),
    ``--json`` where ``--format json`` is (``budget``, ``doctor``); "" where it has no such output, or writes JSON
    already, which a note then says. None for any other option. Spelt alike, ``--json`` was offered ``--since``,
    an option of another meaning."""
    asked = _asked_output(name, value)
    if asked is None:
        return None
    formats = next((a.choices for a in parser._actions if "--format" in a.option_strings), None)
    if formats is not None:
        return f"--format {asked}" if asked in formats else f"--format {' or '.join(formats)}"
    if asked == "json" and any("--json" in a.option_strings for a in parser._actions):
        return "--json"
    return ""


def unrecognized(parser: argparse.ArgumentParser, extras: list[str]) -> str:
    import difflib

    options = [o for action in parser._actions for o in action.option_strings if o.startswith("--")]
    hints: list[str] = []
    said: list[str] = []
    for i, extra in enumerate(extras):
        if extra.startswith("--"):
            name, eq, value = extra.partition("=")
            given = value if eq else (extras[i + 1] if i + 1 < len(extras) else None)
            if name in options:  # the command takes it: it came after "--", which ends the options
                hints.append(f"{name} before '--' (what follows '--' is never an option)")
            elif (other := _output_option(parser, name, given)) is not None:
                if other:
                    hints.append(other)
                elif parser.prog in _JSON_ALWAYS:
                    said.append("; its output is JSON already: leave that option out")
                elif "--json" in options:  # (budget --format csv: told --json, JSON, which was not asked)
                    said.append(f"; it writes no {_asked_output(name, given)}: text, or JSON with --json")
            else:  # (compared without the dashes every option shares: --sinse was offered --json)
                hints += ["--" + n for n in difflib.get_close_matches(name[2:], [o[2:] for o in options], n=1)]
        elif "--payload" in options and extra.lstrip().startswith(("{", "[")):
            hints.append("--payload JSON (or --payload-file FILE)")
    hint = f"; did you mean {', '.join(dict.fromkeys(hints))}?" if hints else ""
    if not (hints or said):  # (nothing near it: where what it takes is listed)
        hint = f"; `{parser.prog} --help` lists what it takes"
    return f"unrecognized arguments: {' '.join(extras)}{hint}{''.join(dict.fromkeys(said))}"


def server_unrecognized(parser: argparse.ArgumentParser, extras: list[str]) -> str:
    """What ``magsag-mcp`` says of the arguments it does not take: an option and its value written as one string, as
    an MCP client's ``"args": ["--agent claude-desktop"]`` passes them (a shell splits them; a client passes each
    string whole), with the strings to write (each option it holds, and each one's value); else a misspelt option's
    nearest. argparse said "unrecognized arguments: --agent claude-desktop", naming an option the server takes."""
    import difflib
    import json

    options = [o for action in parser._actions for o in action.option_strings if o.startswith("--")]
    hints: list[str] = []
    said: list[str] = []

    def option_named(word: str) -> str | None:
        if not word.startswith("--"):
            return None
        return word if word in options else next(iter(difflib.get_close_matches(word, options, n=1)), None)

    for extra in extras:
        words = list(re.finditer(r"\S+", extra))
        if len(words) > 1 and option_named(words[0].group()) is not None:
            # each option written in it begins a string of its own, its value the next one (`"--transport http
            # --port 8000"` is four strings; a value with a space in it, a path's, one, its spaces as given: `/my  path`
            # with two was told `/my path`, another folder)
            groups: list[list[str]] = []
            value_from = 0  # where in ``extra`` the last group's value begins
            for word in words:
                option = option_named(word.group())
                if option is not None or not groups:
                    groups.append([option or word.group()])
                elif len(groups[-1]) == 1:
                    groups[-1].append(word.group())
                    value_from = word.start()
                else:
                    groups[-1][-1] = extra[value_from : word.end()]
            strings = [string for group in groups for string in group]
            count = {2: "two", 3: "three", 4: "four"}.get(len(strings), str(len(strings)))
            held = "an option and its value" if len(groups) == 1 else "options and their values"
            said.append(
                f'; {extra!r} is one argument holding {held}, as an MCP client\'s "args" passes '
                f'each of its strings whole: write them as {count} strings, "args": {json.dumps(strings)}'
            )
        elif extra.startswith("--"):
            hints += difflib.get_close_matches(extra.partition("=")[0], options, n=1)
    hint = f"; did you mean {', '.join(dict.fromkeys(hints))}?" if hints else ""
    if extras and (command := _magsag_command(extras[0])) is not None:
        # `python -m magsag_mcp flow summarize`: the server's module run with the command-line tool's command, told
        # "unrecognized arguments" (and "did you mean --version?") with no word of the tool that has it; quoted as a
        # shell reads it (a --payload's JSON, a --since with a time: its space split them)
        hint = (
            f"; {command!r} is a command of magsag, the command-line tool: run `magsag {shlex.join(extras)}`; "
            "magsag-mcp (python -m magsag_mcp) is the MCP server, which takes options only"
        )
    return f"unrecognized arguments: {' '.join(extras)}{hint}{''.join(said)}"


def _magsag_command(word: str) -> str | None:
    """``word`` where it is a command of ``magsag`` (flow, data, invoke, doctor, ...), else None."""
    from . import build_parser

    commands = next((a.choices for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)), None)
    return word if commands is not None and word in commands else None
