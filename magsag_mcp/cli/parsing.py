"""How the ``magsag`` command line reads its arguments: the parsers every command is built with, the options
every command takes (``--catalog``, ``--db``), the types of option values that refuse a bad one naming its fix
(:func:`given`, :func:`count`), and the hints added to argparse's own errors (an argument that begins with '-', a
command given without its group).

Separate from the package's ``__init__``, which assembles the commands (:func:`~magsag_mcp.cli.build_parser`), runs
one and writes its output and errors: this is what the command modules and the MCP server's parser build on, and holds
no command's behaviour.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from typing import Any, Protocol, cast

from ..errors import InputError
from .stdout_errors import OUTPUT_FULL, cannot_write, reader_left


class CommandGroups:
    """Gives command modules the top-level subparsers and shared groups such as ``flow``/``data``.

    A command's ``--help`` opens with what it does: its ``description``, or else its one-line ``help`` (the line
    ``magsag --help`` lists it by) as a sentence. argparse shows a subcommand's ``help`` only in its parent's
    listing: ``magsag budget --help`` showed the usage and the options, and not what the command does."""

    def __init__(self, top: Any) -> None:
        self.top = top
        self._groups: dict[str, Any] = {}
        self.parents: list[argparse.ArgumentParser] = [_common()]

    def group(self, name: str, help: str | None = None) -> Any:
        if name not in self._groups:
            helptext = help or f"{name} commands"
            parser = self.top.add_parser(name, help=helptext, description=as_sentence(helptext))
            self._groups[name] = parser.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")
        return self._groups[name]

    def add(
        self, subparsers: Any, name: str, *, reads: tuple[str, ...] = ("catalog", "db"), **kwargs: Any
    ) -> argparse.ArgumentParser:
        """A subcommand that carries the common options (--catalog, --db). Those it does not ``read`` are still
        taken (a script that passes --db to every command keeps working) but left out of its ``--help``, which
        would say they choose something the command never looks at."""
        if "description" not in kwargs and kwargs.get("help"):
            kwargs["description"] = as_sentence(kwargs["help"])
        parents = self.parents if set(reads) >= {"catalog", "db"} else [_common(shown=reads)]
        return subparsers.add_parser(name, parents=parents, **kwargs)


def as_sentence(helptext: str) -> str:
    """A command's one-line ``help`` as the sentence its ``--help`` opens with."""
    text = helptext.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def given(value: str) -> str:
    """An option's value that must name something (a file, a catalog, an agent, a run). Given empty, as
    ``--db "$LEDGER"`` with the variable unset gives it, it was taken for the option left out: the
    command read or pruned the default ledger, or ran under another catalog's policies, saying nothing."""
    if not value.strip():
        raise argparse.ArgumentTypeError(
            f"is empty ({value!r}: an unset shell variable?); give a value, or leave the option out for its default"
        )
    return value


class _Count(Protocol):
    """An option's parser of a count (:func:`count`), with the range its --help must name."""

    span: str

    def __call__(self, value: str) -> int: ...


def count(what: str, low: int, high: int | None = None, *, unset: str = "") -> _Count:
    """An option's whole number from ``low`` to ``high`` (no bound above when None), refused by the parser naming
    the option and its range. ``data query --limit 0`` reached the ledger's filters, whose refusal ("invalid filters:
    limit: Input should be greater than or equal to 1") named neither the option nor the most it takes. ``what`` is
    what the number counts ("runs per page"); ``unset``, what leaving the option out does, for one who meant none."""
    span = f"{low} to {high}" if high is not None else f"{low} or more"
    hint = f" ({unset})" if unset else ""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number: give {span}{hint}") from None
        if number < low or (high is not None and number > high):
            raise argparse.ArgumentTypeError(f"{number} {what}: give {span}{hint}")
        return number

    counted = cast(_Count, parse)
    counted.span = span  # what its --help must say it takes (test_docs checks every such option's help says it)
    return counted


def _common(shown: tuple[str, ...] = ("catalog", "db")) -> argparse.ArgumentParser:
    """The options every command takes; those not ``shown`` are taken and left out of its ``--help``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--catalog",
        type=given,
        help="catalog directory (default: $MAGSAG_CATALOG, ./catalog, or the bundled one)"
        if "catalog" in shown
        else argparse.SUPPRESS,
    )
    common.add_argument(
        "--db",
        type=given,
        help="ledger database file (default: $MAGSAG_DB or the user data directory)"
        if "db" in shown
        else argparse.SUPPRESS,
    )
    return common


class RedactingParser(argparse.ArgumentParser):
    """argparse quotes the arguments it refuses ("unrecognized arguments: ...", "invalid choice: ..."): a key
    pasted where an argument goes (``magsag data query sk-...``) reached stderr and the CI log that keeps it.
    Its message goes through :func:`~..errors.redact`, with the environment's keys known to it first."""

    def error(self, message: str) -> Any:
        import os

        from ..redaction import redact, register_env_secrets

        register_env_secrets(os.environ)
        super().error(redact(message))

    def _print_message(self, message: str, file: Any = None) -> None:
        """Help and usage on stdout end as a command's output does where it cannot be written (see :func:`main`):
        argparse dropped a failed write's OSError, and what stayed buffered failed at exit ("Exception ignored
        ... BrokenPipeError", exit 120, for `magsag --help | head -1`; the same, or exit 0 with nothing written, for
        `--help > help.txt` on a full disk)."""
        if not message:
            return
        file = file or sys.stderr
        try:
            file.write(message)
            file.flush()
        except BrokenPipeError:
            if file is sys.stdout:
                reader_left()
        except OSError as exc:
            if file is not sys.stdout or exc.errno not in OUTPUT_FULL:
                return  # stderr's own failure: nowhere left to say it (argparse's way)
            reader_left()  # what is still buffered goes nowhere, with no second error at exit
            print(f"{self.prog.split()[0]}: {cannot_write(exc)}", file=sys.stderr)
            sys.exit(1)


class _Parser(RedactingParser):
    """A command's parser reports the arguments it does not take itself. argparse handed them up to the
    top-level parser, whose error showed its own usage ("magsag [-h] [--version] COMMAND ...", none of the
    command's options) with no hint of the option meant."""

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self._given = list(sys.argv[1:] if args is None else args)  # for error(): what this parser was given
        namespace, extras = super().parse_known_args(args, namespace)
        if extras and self._subparsers is None:  # a command, not a group: the arguments were for it
            from .unrecognized import unrecognized

            self.error(unrecognized(self, extras))
        return namespace, extras

    def error(self, message: str) -> Any:
        hints = _dashed_hint(self, message) + _dashed_value_hint(self, message) + _group_hint(self, message)
        super().error(message + (hints or _required_hint(self, message)))


def _required_hint(parser: argparse.ArgumentParser, message: str) -> str:
    """What each argument said to be missing is (its help), and the options given that the command does not take:
    argparse said "the following arguments are required: skill_id" alone, and of `magsag invoke --bogus` nothing of
    the option it was given (it names what is missing first)."""
    if not message.startswith("the following arguments are required:"):
        return ""
    named = {a.dest: a for a in parser._actions if not a.option_strings}
    # (argparse names a positional by its metavar: a group's COMMAND)
    named.update({a.metavar: a for a in parser._actions if not a.option_strings and isinstance(a.metavar, str)})
    named.update({o: a for a in parser._actions for o in a.option_strings})
    missing = [n.strip() for n in message.partition(":")[2].split(",")]
    said = [_what_to_give(parser, n, named[n]) for n in missing if n in named]
    said = [s for s in said if s]
    given = getattr(parser, "_given", [])
    unknown = [a.partition("=")[0] for a in given if a.startswith("--") and not _taken(parser, a.partition("=")[0])]
    if unknown:
        said.append(f"{', '.join(dict.fromkeys(unknown))} is no option of {parser.prog} (`{parser.prog} --help`)")
    return "; " + "; ".join(said) if said else ""


def _what_to_give(parser: argparse.ArgumentParser, name: str, action: argparse.Action) -> str:
    """What to give for the missing argument ``name``: its help, or a group's commands (`magsag data` was told
    "the following arguments are required: COMMAND" alone, naming none)."""
    if isinstance(action, argparse._SubParsersAction):
        return f"give {name}: one of {', '.join(action.choices)} (`{parser.prog} {name} --help` says what it does)"
    return f"give {name}: {action.help}" if action.help and action.help != argparse.SUPPRESS else ""


def _taken(parser: argparse.ArgumentParser, option: str) -> bool:
    """Whether ``parser`` reads ``option``: one of its options, or (argparse's ``allow_abbrev``) the beginning of one,
    which argparse took as that option (``flow gate --pol p.yaml`` was said to give "no option" --pol, which it read
    as --policy; one beginning several is refused as ambiguous before any other error)."""
    options = [o for action in parser._actions for o in action.option_strings]
    return option in options or (parser.allow_abbrev and any(o.startswith(option) for o in options if o != "--"))


def _dashed_hint(parser: argparse.ArgumentParser, message: str) -> str:
    """Why a positional given was said to be missing: it begins with '-' (`magsag data search -preview`), which
    argparse reads as an option, and how to give it (after '--', which ends the options)."""
    if not message.startswith("the following arguments are required:"):
        return ""
    given = getattr(parser, "_given", [])
    taken = {o for action in parser._actions for o in action.option_strings}
    dashed = [a for a in given if a[:1] == "-" and a[1:2] not in ("-", "") and a not in taken]
    if "--" in given or not dashed:
        return ""
    argv = [*parser.prog.split(), *(a for a in given if a != dashed[0]), "--", dashed[0]]
    return (
        f"; {dashed[0]!r} begins with '-', so it was read as an option: put '--' before it "
        f"({' '.join(shlex.quote(a) for a in argv)})"
    )


def _dashed_value_hint(parser: argparse.ArgumentParser, message: str) -> str:
    """Why an option given a value was said to have none: the value begins with '-' (`--older-than -5d`), which
    argparse reads as an option; a negative duration is said to be given positive, any other value with '='."""
    m = re.match(r"argument (--[\w-]+)(?:/\S+)?: expected one argument", message)
    given = getattr(parser, "_given", [])
    if m is None or m.group(1) not in given:
        return ""
    option = m.group(1)
    at = given.index(option) + 1
    value = given[at] if at < len(given) else ""
    if value[:1] != "-" or value == "-":
        return ""
    from ..ledger.times import parse_duration_seconds

    try:
        parse_duration_seconds(value[1:])
    except InputError:
        return f"; {value!r} begins with '-', so it was read as an option: give it as {option}={shlex.quote(value)}"
    return (
        f"; {value!r} begins with '-', so it was read as an option: a duration is positive (how far back from now): "
        f"give {option} {value[1:]}"
    )


def _group_hint(parser: argparse.ArgumentParser, message: str) -> str:
    """The group a command given at the top belongs to (`magsag prune`: `magsag data prune`)."""
    m = re.match(r"argument COMMAND: invalid choice: '([^']*)'", message)
    if m is None or parser._subparsers is None:
        return ""
    for action in parser._subparsers._group_actions:
        for group, sub in (getattr(action, "choices", None) or {}).items():
            inner = getattr(sub, "_subparsers", None)
            for inner_action in inner._group_actions if inner is not None else ():
                if m.group(1) in (getattr(inner_action, "choices", None) or {}):
                    given = list(getattr(parser, "_given", []))
                    rest = given[given.index(m.group(1)) + 1 :] if m.group(1) in given else []
                    argv = ["magsag", group, m.group(1), *rest]
                    return f"; {m.group(1)} is a command of `magsag {group}`: {' '.join(shlex.quote(a) for a in argv)}"
    return ""
