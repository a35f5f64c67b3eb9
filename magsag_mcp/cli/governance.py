"""``magsag budget`` and ``magsag flow gate``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .. import plurals
from ..errors import CatalogError, InputError, redact
from ..governance.refusals import scope_name
from . import CommandGroups, count, given, print_json
from .data import agent_known
from .json_input import EMPTY_FILE, EMPTY_STDIN, file_bytes, json_object
from .ledger_reading import with_service
from .runs_table import shown


def _in_flight(status: dict[str, Any], kind: str) -> bool:
    """Whether calls in flight hold reservations under the ``kind`` limit: a run or an agent none of whose calls is
    recorded yet (its first call under way, or a stopped process's hold until it expires) is not an id mistyped."""
    return any(lim["limit"] == kind and (lim.get("reserved_by") or {}).get("calls") for lim in status["limits"])


def _budget(args: argparse.Namespace) -> int:
    if args.skill is None and (
        args.model is not None or args.max_tokens is not None or args.context or args.model_config
    ):
        # said here, in the command's terms: the service's refusal names the skill as Python passes it
        # (skill='skill.analysis'), which no command line takes
        raise InputError(
            "--model and --max-tokens (and --model-config, --context) say what a call of a skill would reserve: add "
            "--skill SKILL (e.g. --skill skill.analysis), or leave them out to see the limits alone"
        )
    # as `magsag invoke` reads them: a JSON object each
    context = json_object(args.context, "--context") if args.context else None
    model_config = json_object(args.model_config, "--model-config") if args.model_config else None
    kinds: set[str] = set()  # the kinds of limit the policies set, for the hint when none applies
    where = ""
    run_in_flight: str | None = None  # the note for a run none of whose calls is recorded yet, all in flight
    expired: str | None = None  # a read-only ledger's calls of dead processes (LedgerReports.expired_unrecorded_note)
    run_meant: str | None = None  # the recorded run id that an unrecorded one nearly is (LedgerReports.run_meant)

    async def read(svc: Any) -> Any:
        nonlocal where, run_in_flight, run_meant, expired
        status = await svc.check_budget(
            agent=args.agent,
            run_id=args.run_id,
            skill=args.skill,
            model=args.model,
            max_tokens=args.max_tokens,
            model_config=model_config,
            context=context,
        )
        expired = await svc.ledger.expired_unrecorded_note()
        # a misspelled --agent showed its whole daily limit left ("spent $0"), with no word that no run has it; one
        # whose calls are all in flight (a first call, a stopped process's hold) is no misspelling
        known = status.get("agent_recorded") is not False or any(
            _in_flight(status, kind) for kind in ("agent_day", "agent_month")
        )
        await agent_known(svc.ledger, args.agent, known)
        if status.get("run_recorded") is False and not _in_flight(status, "run"):
            # no run limit shows its calls in flight (none set, or not for this run): read from the reservations,
            # as the agent's note is, or a run whose first call is under way is told to check its id
            run_in_flight = await svc.ledger.in_flight_note("run", args.run_id)
            if run_in_flight is None:
                run_meant = await svc.ledger.run_meant(args.run_id)
        kinds.update(lim.kind for lim in svc.governance.policies.limits)
        where = str(svc.catalog.root / "policies")
        return status

    status = with_service(args, read)
    if expired is not None:  # on stderr, as the other notes: stdout is the limits a script reads
        print(f"note: {shown(expired)}", file=sys.stderr)
    if status.get("run_recorded") is False and not _in_flight(status, "run"):
        # a note, on stderr as --agent's is: stdout is the limits (or their JSON) a script reads; the id as given,
        # escaped for the terminal
        # with the run it nearly names (another case, stray spaces, a slip of the keys)
        meant = f"did you mean {run_meant!r}? Otherwise check" if run_meant is not None else "check"
        note = run_in_flight or (
            f"run {scope_name(args.run_id)} has no recorded calls (nor delegated runs): {meant} the id "
            "(`magsag data query`)"
        )
        print(f"note: {shown(redact(note))}", file=sys.stderr)
    from ..governance.status import PRUNED_COUNTS

    for note in status.get("notes", []):
        if note.startswith(PRUNED_COUNTS):  # (the others are said above, or are a tool's alone)
            print(f"note: {shown(note)}", file=sys.stderr)
    if args.json:
        print_json(status)
        return _budget_exit(status)
    if not status["limits"]:
        print(f"no budget limits apply: {_what_would_add_one(kinds, args, where)}")
    for lim in status["limits"]:
        unpriced = lim.get("unpriced_attempts") or 0
        bound = lim.get("unknown_cost_bound_usd") or "0"
        # An unknown cost is never shown as a plain number: the spend is then a lower bound. The limit
        # counts a bounded one at its bound; one with no bound (an unknown price) makes the remaining
        # figure an upper bound.
        unbounded = lim.get("unbounded_attempts", unpriced)
        counted = f", counted at up to ${bound}" if bound != "0" else ""
        if counted and 0 < unbounded < unpriced:
            # the bound is the bounded ones' alone, as the runs table says it: "(2 attempts of unknown cost, counted at
            # up to $0.45)" read as a bound on both where one was of no known price
            counted = f": {unpriced - unbounded} counted at up to ${bound}, {unbounded} with no bound"
        spent = (
            f"at least ${lim['spent_usd']} ({plurals.counted(unpriced, 'attempt')} of unknown cost{counted})"
            if unpriced
            # a window a prune cut: its deleted attempts' unknown costs are not known (the note says why)
            else f"at least ${lim['spent_usd']} (pruned attempts' unknown costs not known)"
            if not lim.get("cost_complete", True)
            else f"${lim['spent_usd']}"
        )
        holders = lim.get("reserved_by")
        # a call in flight of no known price holds $0 and has no bound, as an attempt of it recorded has none
        no_bound = (holders or {}).get("unbounded", 0)
        remaining = f"at most ${lim['remaining_usd']}" if unbounded or no_bound else f"${lim['remaining_usd']}"
        reserved = f"${lim['reserved_usd']}"
        if holders:
            stale = f", {holders['expired']} of them past expiry (a stopped process)" if holders["expired"] else ""
            stale += f", {no_bound} of them of no known price" if no_bound else ""
            in_flight = plurals.counted(holders["calls"], "call")
            reserved += f" (by {in_flight} in flight{stale}, until {holders['held_until']})"
        # the scope names a run and an agent, and a run's parent, that callers chose: escaped for the terminal
        print(
            shown(
                f"{lim['status']:<9} {lim['policy']}: {lim['limit']} limit ${lim['limit_usd']} for {lim['scope']}: "
                f"spent {spent}, reserved {reserved}, remaining {remaining}"
            )
        )
    call = status.get("call")
    if call is not None:
        # a limit's remaining is not what a call may spend: each reserves its worst case first
        reserves = f" ({call['target']} reserves ${call['reservation_usd']})" if call["reservation_usd"] else ""
        # a call of no known price is let through with no bound on its cost: not a bare "fits", read as one of $0
        fits = f"is let through at no known price: {call['reason']}" if call.get("unpriced") else f"fits{reserves}"
        said = fits if call["fits"] else f"does not fit: {call['reason']}"
        if call.get("unsendable"):  # no provider configured: the budget's word is for once one is
            if not call["fits"]:
                said = f"{said}; and {call['unsendable']}"
            elif call.get("unpriced"):  # why no limit bounds it, as the configured case says (the reason is long)
                said = (
                    f"would be let through at no known price once a provider is configured: {call['reason']}; but "
                    f"{call['unsendable']}"
                )
            else:
                said = f"would fit{reserves} once a provider is configured, but {call['unsendable']}"
        # the data classes it is held to (the skill's and --context's): which policies' requirements judged it
        classes = call.get("data_classes") or []
        held = f" ({plurals.listed('data class', classes, 'data classes')})" if classes else ""
        print(shown(f"call of {call['skill']}{held} {said}"))
    return _budget_exit(status)


def _budget_exit(status: dict[str, Any]) -> int:
    """1 where the answer is no, as ``flow gate``'s violation is, so a script can gate on it (``magsag budget --skill S
    && magsag invoke S``): with --skill, the call does not fit; without, a limit is exceeded (no call under it is
    let through). A call that fits but cannot be sent now (``unsendable``: no key) is the budget's yes: the send's
    own error says that, and a CI job without keys may still ask whether the limits leave room."""
    call = status.get("call")
    if call is not None:
        return 0 if call["fits"] else 1
    return 1 if any(lim["status"] == "exceeded" for lim in status["limits"]) else 0


def _what_would_add_one(kinds: set[str], args: argparse.Namespace, where: str) -> str:
    """What would show a limit when none applies: the option a run or agent limit of the policies needs, or
    the thresholds the policies lack. (Call, day and month limits apply to every budget, so none is set.)"""
    # each option once, with the thresholds it shows (an agent's day and month limits both take --agent)
    shown: dict[str, list[str]] = {}
    for kind, option, given_, threshold in (
        ("run", "--run-id", args.run_id, "max_cost_per_run_usd"),
        ("agent_day", "--agent", args.agent, "max_cost_per_agent_daily_usd"),
        ("agent_month", "--agent", args.agent, "max_cost_per_agent_monthly_usd"),
    ):
        if kind in kinds and not given_:
            shown.setdefault(option, []).append(threshold)
    if shown:
        return "pass " + " and ".join(f"{option} for {' and '.join(names)}" for option, names in shown.items())
    return (
        "the catalog's policies set no cost thresholds; add thresholds (max_cost_per_call_usd, max_cost_per_run_usd, "
        "max_cost_per_agent_daily_usd, max_cost_per_day_usd, max_cost_per_agent_monthly_usd, max_cost_per_month_usd) "
        f"to a policy in {where}"
    )


def _gate(args: argparse.Namespace) -> int:
    from ..governance import load_policy_file
    from ..governance.gate import HOW, check_summary_with_notes

    shown_as = "the summary on stdin" if args.summary == "-" else args.summary
    try:
        # read as RFC 8259 allows: UTF-8, with or without a byte order mark (PowerShell 5's Out-File -Encoding
        # utf8), or the UTF-16 or UTF-32 its byte order mark names (PowerShell 5's `> summary.json`); '-' is
        # stdin (`magsag flow summarize | magsag flow gate - --policy P`), as --payload-file and --output take it
        raw = file_bytes(args.summary)
        if _blank(raw):
            why = EMPTY_STDIN if args.summary == "-" else EMPTY_FILE
            print(f"gate: {shown_as} is empty{why}; {HOW}", file=sys.stderr)
            return 2
        summary: Any = json.loads(raw, parse_int=_integer)
    except OSError as exc:
        # stdin's own error says how to give it; a file's (none there, a folder, unreadable) says which file to give
        fix = "; give the file `magsag flow summarize --output FILE` wrote ('-' for stdin)"
        fix = "" if args.summary == "-" else fix
        print(f"gate: cannot read {shown_as}: {exc.strerror}{fix}", file=sys.stderr)
        return 2
    except UnicodeDecodeError as exc:
        print(f"gate: {shown_as} is not UTF-8 text ({exc.reason}); pass a summary JSON file", file=sys.stderr)
        return 2
    except json.JSONDecodeError as exc:
        print(f"gate: {shown_as} is not JSON: {exc}; {HOW}", file=sys.stderr)
        return 2
    except _TooLong as exc:
        print(f"gate: {shown_as} holds an integer of {exc.digits} digits, too long to read; {HOW}", file=sys.stderr)
        return 2
    except RecursionError:
        print(f"gate: {shown_as} is nested too deeply to be a summary; {HOW}", file=sys.stderr)
        return 2
    try:
        policies = load_policy_file(args.policy)
        violations, notes = check_summary_with_notes(summary, policies)
    except (InputError, CatalogError) as exc:
        # a policy file's problems name the file themselves
        print(
            f"gate: {shown_as}: {exc.message}" if isinstance(exc, InputError) else f"gate: {exc.message}",
            file=sys.stderr,
        )
        return 2
    # run ids and model names in them come from callers: escaped, as the table shows them
    for note in notes:
        print(f"NOTE {shown(note)}")
    if violations:
        for v in violations:
            print(f"FAIL {shown(v)}")
        print(f"gate: {plurals.counted(len(violations), 'violation')}")
        return 1
    print("gate: pass")
    return 0


class _TooLong(Exception):
    def __init__(self, digits: int) -> None:
        self.digits = digits


def _integer(literal: str) -> int:
    """An integer of the summary. One of more digits than Python converts (4,300) made json.loads raise a bare
    ValueError, a traceback and exit 1 (the gate's "fail") for a summary it cannot read (bad input: 2)."""
    try:
        return int(literal)
    except ValueError:
        raise _TooLong(len(literal)) from None


def _blank(raw: bytes) -> bool:
    """Whether a summary's bytes hold nothing but white space (and a byte order mark), in the encoding JSON reads."""
    if len(raw) > 64:  # a summary is longer; white space this long is still refused, as JSON that is not there
        return False
    # the codec detect_encoding names takes off the byte order mark (utf-8-sig, utf-16, utf-32); a second one is text
    return not raw.decode(json.detect_encoding(raw), "replace").strip()


def register(groups: CommandGroups) -> None:
    p = groups.add(
        groups.top,
        "budget",
        help="limits, spent, reserved, remaining and status",
        description="Each budget limit the catalog's policies set that applies (per call, per day, per month; per run "
        "with --run-id, per agent and day or month with --agent): its limit, what was spent, what calls in flight "
        "reserve, what remains, and its status (ok, near, exceeded), read from the ledger; with --skill, whether such "
        "a call fits. Nothing is called or recorded. Exit 1 where the answer is no (with --skill, the call does not "
        "fit; without, a limit is exceeded), as flow gate's on a violation.",
    )
    p.add_argument(
        "--agent",
        type=given,
        help="also the agent's daily and monthly limits (max_cost_per_agent_daily_usd, max_cost_per_agent_monthly_usd)",
    )
    p.add_argument(
        "--run-id",
        type=given,
        help="also the run's limit (max_cost_per_run_usd), its delegated runs included (a delegated run's limit is "
        "its parent's, over the parent's whole tree)",
    )
    p.add_argument(
        "--skill",
        type=given,
        help="also whether a call of this skill fits what is left: the least it reserves (its prompt with an empty "
        "payload, its max_tokens at the target's price), against every limit",
    )
    p.add_argument("--model", type=given, help="with --skill: the model the call names (as model_config.model)")
    p.add_argument(
        "--max-tokens",
        type=count("tokens", 1),
        help="with --skill: the max_tokens the call gives, 1 or more (default: its target's params.max_tokens, else "
        "the skill's, else 1024)",
    )
    p.add_argument(
        "--context",
        type=given,
        help="with --skill: the call's context as JSON, as `magsag invoke --context` takes it, e.g. '{\"data_class\": "
        '"pii_processing", "tier": "economy"}\': the target the router picks for it and whether the policies allow it',
    )
    p.add_argument(
        "--model-config",
        type=given,
        help='with --skill: the call\'s model_config as JSON (its payload\'s), e.g. \'{"model": "gpt-4o-mini", '
        '"fallbacks": ["claude-3-haiku-20240307"]}\'',
    )
    p.add_argument("--json", action="store_true", help="the limits as JSON, USD as exact decimal strings")
    p.set_defaults(func=_budget)
    flow = groups.group("flow")
    p = flow.add_parser(
        "gate",
        help="check a summary against a policy (exit 0 pass, 1 fail, 2 bad input)",
        description="Check a `flow summarize` JSON against a policy: allowed_models; max_cost_per_run_usd against "
        "the summary's costliest run (with the runs it delegated); max_cost_per_day_usd and "
        "max_cost_per_agent_daily_usd against its costliest day, overall and per agent (UTC days, or the zone's of "
        "a summary written with --timezone: a NOTE says when they are not the policy's timezone's); "
        "max_cost_per_month_usd and max_cost_per_agent_monthly_usd against a summary of one calendar month's calls "
        "whole, overall and per agent (of several months, or of no period, against its costliest day alone: a NOTE "
        "says so); max_cost_per_call_usd against each model's costliest call (its retries and fallbacks together, an "
        "unknown cost at its bound), named by its run id and time. A summary written by an older magsag has no "
        "costliest run, day or call: its totals (for the call limit, each model's average) are checked instead, and a "
        "NOTE line says so; so does one for a "
        "summary narrowed by --agent, --skill, ... (its runs and days hold only the calls selected) or by the --run-id "
        "of a delegated run (its run limit is its parent's), and one whose "
        "--since or --until falls inside a UTC day (--since 24h: its day limits saw part of that day; give dates to "
        "check whole days). A policy's requirements (data class -> models) against where each class's calls went "
        "(the summary's by_data_class): a target a class's models do not allow fails; a summary written before calls' "
        "data classes were recorded gets a NOTE naming the policy whose requirements went unchecked. A summary of no "
        "calls passes, "
        "with a NOTE that nothing was checked.",
    )
    p.add_argument(
        "summary", help="a JSON file written by `magsag flow summarize --output` ('-' for stdin, piped from it)"
    )
    p.add_argument("--policy", required=True, type=given, help="a governance policy file")
    p.set_defaults(func=_gate)
