"""``magsag flow summarize`` and ``magsag data query|search``: the ledger, formatted (``data prune``: prunes.py)."""

from __future__ import annotations

import argparse
import shlex
import sys
from types import SimpleNamespace
from typing import Any

from ..errors import InputError, redact
from ..ledger.filters import MAX_OFFSET
from ..summary_top import TOP_MAX
from . import CommandGroups, count, given, print_json
from .csv_rows import _FORMULA_START as _FORMULA_START  # where callers have read them
from .csv_rows import CSV_FIELDS as CSV_FIELDS
from .csv_rows import csv_pieces as csv_pieces
from .csv_rows import runs_to_csv as runs_to_csv
from .ledger_reading import existing_ledger as existing_ledger  # where callers have read them
from .ledger_reading import note_no_ledger_yet as note_no_ledger_yet
from .ledger_reading import with_ledger as with_ledger
from .ledger_reading import with_service as with_service
from .runs_table import runs_to_table, shown


def time_forms(zoned: bool) -> str:
    """What --since and --until take (:func:`~magsag_mcp.ledger.filters.parse_since`), said for a command with a
    --timezone (``zoned``: a date without an offset is that zone's) or without one (UTC's): every command's help said
    UTC, and three of the four read a date in their --timezone."""
    zone = "--timezone's zone, default UTC," if zoned else "UTC"
    return f"24h, 7d, 30m, an ISO date or date/time (in {zone} unless it gives its offset) or unix seconds"


#: what --since takes on a command without --timezone
TIME_FORMS = time_forms(zoned=False)


#: the filters add_filters adds, as UsageFilters names them
#: the most runs or hits a page holds: the ledger's own bound (UsageFilters.limit, search_page), which the parser
#: checks first to name the option
MOST_PER_PAGE = 10_000
#: what `data query` does without --limit, for one who wrote --limit 0 meaning "no limit"
ALL_RUNS = "leave --limit out for the table's 50 newest runs, or for every matching run with --format json or csv"
FILTER_KEYS = ("agent", "run_id", "skill", "model", "provider", "status", "since", "until")
#: a filter the library refuses is named as the command line gives it (its refusal said "since=", "status:", the
#: keyword a Python caller writes, where the user typed --since, --status)
#: (timezone: not a filter, but read with them, its refusal named as the flag: see UsageFilters.build's ``names``)
FILTER_FLAGS = {key: "--" + key.replace("_", "-") for key in (*FILTER_KEYS, "limit", "offset", "cursor", "timezone")}


def add_filters(p: argparse.ArgumentParser, *, zoned: bool) -> None:
    """The filters' options; ``zoned``: the command has a --timezone, its --since and --until dates read in it."""
    p.add_argument("--agent", help="the agent's name, as calls recorded it")
    p.add_argument("--skill", help="a skill id, e.g. skill.analysis")
    p.add_argument("--model", help="a model (gpt-4o) or a target (openai:gpt-4o: that provider's model only)")
    p.add_argument("--provider", help="a provider or an alias, in any case (gemini is google, claude is anthropic)")
    p.add_argument("--run-id", help="the run and the runs delegated from it (as `magsag budget --run-id` counts)")
    p.add_argument("--status", help="ok, error, policy_denied, budget_exceeded, cancelled, running, in any case")
    # empty (`--since "$START"`, START unset) is refused: the filter read it as no bound, all time
    p.add_argument("--since", type=given, help=f"from this time on: {time_forms(zoned)}")
    p.add_argument("--until", type=given, help=f"before this time (exclusive): {time_forms(zoned)}")


def filters_from(args: argparse.Namespace, **extra: Any) -> Any:
    from ..ledger import UsageFilters

    given_filters = {k: getattr(args, k) for k in FILTER_KEYS if getattr(args, k, None) is not None}
    checked_cursor(extra.get("cursor"), "magsag data query", "run", "the same filters")
    filters = UsageFilters.build(given_filters, names=FILTER_FLAGS, **extra)
    if extra.get("cursor"):  # another filters' cursor, said in the command line's words (the ledger says "cursor")
        from ..ledger.paging import check_same_filters, filters_digest

        check_same_filters(extra["cursor"], filters_digest(filters), flag="--")
    return filters


def checked_cursor(cursor: str | None, command: str, item: str, given_with: str) -> None:
    """Refuse a --cursor no page of ``command`` named, before the ledger is opened, in the command line's words:
    the ledger's refusal names the MCP tool and its next_cursor, which `magsag data query` never shows."""
    if not cursor:
        return
    from ..errors import excerpt
    from ..ledger.paging import decode_cursor, decode_hit_cursor

    try:
        (decode_hit_cursor if item == "hit" else decode_cursor)(cursor)
    except InputError:
        raise InputError(
            f"--cursor {excerpt(cursor, 80)!r} is not one `{command}` gave: give the --cursor its note on stderr "
            f'named ("more match; the next ones: --cursor ..."), unchanged and with {given_with}, or leave '
            f"--cursor out to start from the newest {item}"
        ) from None


def print_zone_notes(zone: str | None) -> None:
    """What a report's days in ``zone`` need said of the zone, on stderr (:func:`~..zones.zone_notes`: EST and MST keep
    no summer time), as the tools say it in their notes."""
    from ..zones import zone_notes

    for note in zone_notes(zone):
        print(f"note: {note}", file=sys.stderr)


async def print_notes(ledger: Any, filters: Any, matched: dict[str, bool]) -> None:
    """A note on stderr for each filter that names what no call of the ledger recorded (a mistyped agent, run id,
    model or skill: an empty audit export, a summary of nothing that `flow gate` passes), with what it nearly is."""
    for note in await ledger.filter_notes(filters, **matched):
        print(f"note: {shown(note)}", file=sys.stderr)


async def agent_known(ledger: Any, agent: str | None, matched: bool) -> None:
    """:func:`print_notes` for an agent alone (``magsag budget --agent``)."""
    if agent is not None and not matched:
        filters = SimpleNamespace(agent=agent, run_id=None, model=None, provider=None, skill=None, since=None)
        await print_notes(ledger, filters, {"agent": False, "run": True, "names": True})


def _summarize(args: argparse.Namespace) -> int:
    # the filters the notes read too, their dates read in --timezone as the summary reads them
    filters = filters_from(args, zone=args.timezone)
    settle_output(args)  # stdout for "-" (it wrote a file named "-") and /dev/stdout

    async def read(ledger: Any) -> None:
        from ..ledger.reports import summary_matched

        summary = await ledger.summarize(filters, args.timezone)
        await print_notes(ledger, filters, summary_matched(summary))
        print_zone_notes(args.timezone)
        if (unsent := await ledger.unsent_note(filters, summary)) is not None:
            print(f"note: {shown(unsent)}", file=sys.stderr)
        note_unknown_costs(summary)
        if args.top is not None:  # the tool's and mg.summarize(top=)'s cut, its notes (on stderr) naming the options
            from ..summary_top import CLI_NAMES, top_entries

            summary = top_entries(summary, args.top, names=CLI_NAMES)
            for note in summary.pop("notes", []):
                print(f"note: {shown(note)}", file=sys.stderr)
        if not args.output:
            print_json(summary)
            return
        from .output import output_errors, replacing

        # written while a SIGTERM is watched for (with_ledger), as an export's is: once the ledger was closed, a
        # background job (SIGINT ignored, SIGTERM's default) stopped mid-write left its `.FILE.*.tmp` beside --output
        with output_errors(args.output), replacing(args.output, like=ledger.path) as fh:
            print_json(summary, stream=fh)

    with_ledger(args, read)
    if args.output:
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def settle_output(args: argparse.Namespace) -> None:
    """``--output``: made None where it names stdout (``-``, as ``--payload-file``'s is stdin, or the file stdout writes
    to: see :func:`.output.names_stdout`), else refused before anything is read if it would overwrite the ledger or the
    catalog (:func:`check_output`)."""
    from .output import names_stdout

    if args.output == "-" or (args.output and names_stdout(args.output)):
        args.output = None
    if args.output:
        check_output(args)


def check_output(args: argparse.Namespace) -> None:
    """Refuse, before anything is read, an ``--output`` that would overwrite the ledger or the catalog."""
    from ..catalog import find_catalog
    from ..errors import MagsagError
    from .output import check_output

    try:
        catalog = find_catalog(args.catalog)
    except MagsagError:  # no catalog to keep safe: summarizing needs none
        catalog = None
    check_output(args.output, ledger=existing_ledger(args), catalog=catalog)


def note_unknown_costs(summary: dict[str, Any]) -> None:
    """A note on stderr when some attempt's cost is unknown: the summary's ``cost_usd`` is null for its models and in
    the totals, and the guide's ``jq '.model_stats[].cost_usd' | awk '{s+=$1} ...'`` adds null as 0, so that one
    timeout took its model's whole known spend out of the sum, and a model of no known price counted as $0, without
    a word (stderr stays on the terminal)."""
    totals = summary["totals"]
    unknown = totals.get("unpriced_calls") or 0
    models = [m for m, stats in summary["model_stats"].items() if stats.get("unpriced_calls")]
    if not models:
        return
    unbounded = totals.get("unbounded_calls") or 0
    bound = f"at most ${totals['unknown_cost_bound_usd']} more (unknown_cost_bound_usd)"
    if unbounded:
        bound += f", and {unbounded} of them of no known price, with no bound"
    print(
        f"note: {unknown} attempt{'s' if unknown != 1 else ''} of unknown cost ({shown(', '.join(models))}: cut after "
        "the vendor had it, which may bill it, or of no known price), so cost_usd is null for "
        f"{'those models' if len(models) != 1 else 'that model'} and in the totals, and a sum of "
        "model_stats[].cost_usd that reads null as 0 (jq | awk) counts them as $0, their known spend too; spent: "
        f"${totals['known_cost_usd']} known (known_cost_usd), {bound}",
        file=sys.stderr,
    )


#: runs read at a time by an export of every matching run
EXPORT_PAGE = 1000


def _query(args: argparse.Namespace) -> int:
    if args.format != "table":  # json, csv: every matching run, or a page of them, written as they are read
        from .exports import export_all

        return export_all(args, limit=args.limit)
    if args.output not in (None, "-"):
        raise InputError(
            f"--output {args.output} takes an export: give --format csv or json (the table is for a terminal)"
        )
    filters = filters_from(
        args,
        limit=50 if args.limit is None else args.limit,
        offset=args.offset,
        cursor=args.cursor,
        zone=args.timezone,
    )

    # the page query_runs (the MCP tool) reads, with has_more
    async def read(ledger: Any) -> dict[str, Any]:
        # the table's line of a run needs its models, not its attempts (a long-lived Magsag's run holds every call)
        page = await ledger.query_runs_page(filters, 0)
        from ..ledger.reports import page_matched

        await print_notes(ledger, filters, page_matched(page))
        page["models"] = await ledger.run_models([r["run_id"] for r in page["runs"]])
        return page

    page = with_ledger(args, read)
    if page["has_more"]:
        note_more_runs(len(page["runs"]), filters, page["next_cursor"])
    print(runs_to_table(page["runs"], page["models"]))
    return 0


def note_more_runs(shown_runs: int, filters: Any, next_cursor: str) -> None:
    """A note on stderr that a page of runs (``shown_runs`` of them) is not all that match, and how to read on:
    an export cut at --limit must not pass for the whole."""
    # the cursor first: runs recorded between two pages push the older ones down by as many, so
    # the next --offset began with runs already exported (the same rows twice in an audit file)
    offset = (
        "" if filters.cursor else f" (or --offset {filters.offset + filters.limit}, which runs recorded since shift)"
    )
    print(
        f"note: {shown_runs} run{'' if shown_runs == 1 else 's'} shown (newest first) and more match; the next "
        f"ones: --cursor {next_cursor}{offset}{_same_filters(filters)}; --limit takes up to 10000",
        file=sys.stderr,
    )


def _same_filters(filters: Any, keys: tuple[str, ...] = FILTER_KEYS) -> str:
    """The filters a page was read with, to give again with its --cursor, which holds where the page ended and
    none of them: the note said "the next ones: --cursor C" alone, and a next page read so was of every run, those
    before a --since window and of every agent included."""
    given_flags = [
        f"--{key.replace('_', '-')} {shlex.quote(shown(redact(str(value))))}"
        for key in keys
        if (value := getattr(filters, key, None)) is not None
    ]
    return f"; give it with the same filters ({' '.join(given_flags)})" if given_flags else ""


def _search(args: argparse.Namespace) -> int:
    from ..ledger import parse_since

    parse_since(args.since, field="--since")  # refused as given, before the ledger is opened (the read says since=)
    checked_cursor(args.cursor, "magsag data search", "hit", "the same pattern")
    if args.cursor:  # another pattern's cursor, refused in the command line's words (the ledger's says "cursor")
        from ..ledger.paging import check_same_pattern, pattern_digest

        check_same_pattern(args.cursor, pattern_digest(args.pattern), flag="--")
    page = with_ledger(args, lambda ledger: ledger.search_page(args.pattern, args.limit, args.since, args.cursor))
    for note in page["notes"]:  # a since ahead of now (a year mistyped), as `data query` says it
        print(f"note: {shown(note)}", file=sys.stderr)
    hits = page["hits"]
    if page["has_more"]:
        print(
            f"note: {len(hits)} hit{'' if len(hits) == 1 else 's'} shown (newest first) and more match; the "
            f"next ones: --cursor {page['next_cursor']}; give it with the same pattern"
            f"{'' if args.since is None else f' and --since {shlex.quote(shown(args.since))}'}; "
            "--limit takes up to 10000",
            file=sys.stderr,
        )
    print_json(hits)
    return 0


def register(groups: CommandGroups) -> None:
    flow = groups.group("flow", help="run summaries and the policy gate")
    p = groups.add(
        flow,
        "summarize",
        help="usage per model (model_stats), provider, agent and skill",
        description="Usage per model (model_stats), provider, agent and skill, with totals; also the costliest "
        "run with its delegated runs (largest_run), the costliest UTC day (largest_day) and each agent's "
        "(by_agent[A].largest_day), which `flow gate` checks the per-run and per-day limits against, and the "
        "costliest call, overall (largest_call) and of each model (model_stats[M].largest_call: a call counts under "
        "the model of its last attempt that reached a provider), its retries and fallbacks together, with its run "
        "id and time, which `flow gate` checks max_cost_per_call_usd against. Beside the tokens and cost, the parts "
        "of a bill the tokens alone do not give: output_image_tokens, us_inference_attempts (inference_geo 'us') and "
        "server_tool_uses (by the tool's API name), summed over the attempts whose answers said them, null where none "
        "did, with the attempts that did not say each (*_unsaid_attempts).",
    )
    add_filters(p, zoned=True)  # (its --timezone is added below)
    p.add_argument("--output", type=given, help="write the summary to this file instead of stdout ('-' for stdout)")
    p.add_argument(
        "--timezone",
        type=given,
        help="the days of largest_day and by_agent[A].largest_day in this IANA zone (default UTC): give the "
        "policy's timezone for `flow gate` to check its day limits on the days it counts; a --since or --until date "
        "(or time) without an offset is then this zone's (--since 2026-12-01: its midnight there)",
    )
    p.add_argument(
        "--top",
        type=count("entries per map", 1, TOP_MAX, unset="leave --top out for every entry"),
        help=f"list the N costliest entries (1 to {TOP_MAX}) of each of model_stats, by_provider, by_agent and "
        "by_skill (known cost plus the bound on unknown costs, then calls), as summarize_usage's top does; omitted "
        "counts those left out, totals and the largest call, run and day still count every call. `flow gate` "
        "refuses a summary cut so: give it one without --top",
    )
    p.set_defaults(func=_summarize)

    data = groups.group("data", help="query, search, prune and back up the usage ledger")
    p = groups.add(
        data,
        "query",
        help="runs with their attempts, newest first",
        description="Runs with their attempts, newest first. --since/--until select the runs begun in that window "
        "and those begun before it that made a call in it (a long-lived run), each with all its attempts.",
    )
    add_filters(p, zoned=True)  # (its --timezone is added below)
    p.add_argument(
        "--timezone",
        type=given,
        help="a --since or --until date (or time) without an offset is this IANA zone's (default UTC), as `flow "
        "daily --timezone` and `flow summarize --timezone` read theirs: --since 2026-10-01 --until 2026-11-01 "
        "--timezone Europe/Berlin is Berlin's October, its two ends at different offsets; times are still "
        "written in UTC",
    )
    p.add_argument(
        "--limit",
        type=count("runs per page", 1, MOST_PER_PAGE, unset=ALL_RUNS),
        help=f"runs per page, 1 to {MOST_PER_PAGE} (default: 50 for the table; json and csv export every matching run)",
    )
    p.add_argument(
        "--offset",
        type=count("runs to skip", 0, MAX_OFFSET),
        default=0,
        help=f"runs to skip, 0 to {MAX_OFFSET} (newest first, after --cursor if given; default: 0)",
    )
    p.add_argument(
        "--cursor",
        type=given,
        help="start after the run this names: the --cursor that stderr names when more runs match (runs recorded "
        "since do not shift it, as they shift --offset); give the same filters with it, which it does not hold",
    )
    p.add_argument(
        "--format",
        choices=("json", "csv", "table"),
        default="table",
        help="table (default), json, or csv (one row per attempt)",
    )
    p.add_argument(
        "--output",
        type=given,
        help="write the json or csv export to this file instead of stdout ('-' for stdout): beside it, then renamed "
        "over it once whole, so an export stopped part way leaves the file as it was",
    )
    p.set_defaults(func=_query)
    p = groups.add(
        data,
        "search",
        reads=("db",),
        help="regular-expression (RE2, at most 1000 characters) search over errors, warnings, events, names and run "
        "ids",
        description="Attempts, logged events and runs' own errors whose text matches, newest first. A row's text is "
        "its fields joined by spaces: an attempt's provider, model, outcome, error class and message, skill, agent "
        "and run id ('claude.*error' spans them; '^' is the provider's start, so search 'timeout' rather than "
        "'^timeout'), then its warnings where it has any (as JSON, each string as written: 'answered as' finds an "
        "Azure deployment's answer from another model); an event's name, data (as JSON, each string as written: a "
        "quote or a line break in a value is itself, not its escape), agent and run id; a run's error, skill, agent "
        "and run id.",
    )
    p.add_argument(
        "pattern", help="an RE2 regular expression, matched in any case ('(?-i)' to match case), e.g. 'timeout|429'"
    )
    p.add_argument(
        "--limit",
        type=count("hits", 1, MOST_PER_PAGE, unset="leave --limit out for 50"),
        default=50,
        help=f"most hits shown, newest first, 1 to {MOST_PER_PAGE} (default: 50)",
    )
    p.add_argument("--since", type=given, help=f"only look this far back: {TIME_FORMS}")
    p.add_argument(
        "--cursor",
        type=given,
        help="start after the hit this names: the --cursor that stderr names when more match (with the same pattern "
        "and --since)",
    )
    p.set_defaults(func=_search)
