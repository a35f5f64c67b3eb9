"""``magsag flow daily``: each agent's spend on each day, as CSV or JSON, in a zone's days (a month's report)."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from typing import Any

from . import CommandGroups, given, print_json, write_utf8

#: the CSV's columns, in order (a column is only ever added at the end)
DAILY_FIELDS = (
    "date",
    "agent",
    "known_cost_usd",
    "unknown_cost_bound_usd",
    "at_most_usd",
    "unbounded_attempts",
)


def daily_csv(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV (RFC 4180, "\\n" line ends), an agent's name that a spreadsheet would run as a formula made
    inert as `data query`'s export makes it; ``at_most_usd`` empty where the day holds a cost nothing bounds."""
    from .csv_rows import _inert

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=DAILY_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _inert(row[k]) for k in DAILY_FIELDS})
    return buf.getvalue()


def _daily(args: argparse.Namespace) -> int:
    from .data import filters_from, print_notes, print_zone_notes, settle_output
    from .ledger_reading import with_ledger

    filters = filters_from(args, zone=args.timezone)
    settle_output(args)

    async def read(ledger: Any) -> None:
        rows = await ledger.agent_days(filters, args.timezone)
        matched = bool(rows)
        await print_notes(ledger, filters, {"agent": matched, "run": matched, "names": matched})
        print_zone_notes(args.timezone)
        unbounded = sum(1 for row in rows if row["at_most_usd"] is None)
        if unbounded:
            from ..plurals import agreeing, counted

            print(
                f"note: {counted(unbounded, 'agent-day')} {agreeing(unbounded, 'holds', 'hold')} an attempt of no "
                "known price (at_most_usd empty), which known_cost_usd leaves out; price its model in prices.yaml "
                "to count the calls made after that",
                file=sys.stderr,
            )
        text = daily_csv(rows) if args.format == "csv" else None
        if not args.output:
            if text is None:
                print_json(rows)
            else:
                write_utf8(text)
            return
        from .output import output_errors, replacing

        with output_errors(args.output), replacing(args.output, like=ledger.path) as fh:
            if text is None:
                print_json(rows, stream=fh)
            else:
                fh.write(text)

    with_ledger(args, read)
    if args.output:
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def register(groups: CommandGroups) -> None:
    from .data import add_filters

    p = groups.add(
        groups.group("flow"),
        "daily",
        help="each agent's spend on each day it spent, as CSV or JSON",
        description="Each agent's spend on each day it spent, by day then agent: known_cost_usd, "
        "unknown_cost_bound_usd (the bound on attempts cut after the vendor had them), at_most_usd (their sum; "
        "empty where the day holds an attempt of no known price) and unbounded_attempts. Days are UTC days, or "
        "with --timezone that zone's, as a policy's day limits and `flow summarize --timezone` count them; a "
        "--since or --until date is then that zone's midnight (last month's report: --since 2026-11-01 --until "
        "2026-12-01 --timezone Europe/Berlin --output november.csv).",
    )
    add_filters(p, zoned=True)  # (its --timezone is added below)
    p.add_argument(
        "--timezone", type=given, help="count days in this IANA zone (default UTC), e.g. the policy's timezone"
    )
    p.add_argument("--format", choices=("csv", "json"), default="csv", help="csv (default) or json")
    p.add_argument(
        "--output",
        type=given,
        help="write it to this file instead of stdout: beside it, then renamed over it once whole",
    )
    p.set_defaults(func=_daily)
