"""The table ``magsag data query`` prints for a terminal: a run a row, every value as a terminal may show it."""

from __future__ import annotations

from typing import Any


def shown(value: Any) -> str:
    """``value`` for a terminal: a character that is not printable (an escape sequence's ESC, a line break, a
    carriage return) is shown as its escape (``\\x1b``), never sent. Run ids, agent and model names come from
    callers, and the terminal would act on them: write the clipboard, clear the screen, draw a row of its own."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def runs_to_table(runs: list[dict[str, Any]], models: dict[str, list[str]] | None = None) -> str:
    """One line per run. ``models``: each run's models (``Ledger.run_models``), else read from its attempts."""
    header = ("started", "run_id", "agent", "skill", "status", "calls", "tokens", "cost_usd", "models")
    rows: list[tuple[str, ...]] = [header]
    for r in runs:
        called = (
            models[r["run_id"]]
            if models is not None
            else dict.fromkeys(a["model"] for a in r["attempts"] if a["outcome"] in ("ok", "error"))
        )
        # its cost is its row's, its attempts (all or some) gone: an empty cell read as a run that called nothing, and
        # the models left as all it called
        pruned = "(attempts pruned)" if r.get("attempts_pruned") else ""
        # a finished run none of whose calls reached a provider (no key set, a policy refused it, a payload refused):
        # an empty cell beside `error` and its calls said nothing of why it cost nothing
        unsent = "(no request sent)" if not called and not pruned and r["status"] != "running" else ""
        models_shown = " ".join(filter(None, (",".join(called), pruned, unsent)))
        rows.append(
            (
                r["started_at"] or "",
                r["run_id"],
                r["agent"] or "",
                r["skill"] or "",
                r["status"],
                str(r["calls"]),
                str(r["total_tokens"]),
                _cost_cell(r),
                models_shown,
            )
        )
    rows = [tuple(shown(v) for v in row) for row in rows]
    widths = [max(columns(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(v + " " * (w - columns(v)) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def columns(text: str) -> int:
    """The columns ``text`` takes on a terminal: a wide character (CJK, most emoji) two, a combining mark none. An
    agent named 数据分析师 was padded as 5 columns where it takes 10, and every cell after it in its row was pushed
    out of line with the header's."""
    if text.isascii():
        return len(text)
    import unicodedata

    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text
    )


def _cost_cell(run: dict[str, Any]) -> str:
    """A run's cost for the table. An unknown cost is never shown as a plain number: the known part is a lower
    bound, and the worst case of the attempts of unknown cost (a stream cut after the vendor counted its prompt, a
    timeout) what the limits count them at, as `magsag budget` says it; only an unknown price has none, and those
    beside bounded ones are counted apart (the bound is none of theirs)."""
    if not run["unpriced_calls"]:
        return run["cost_usd"]
    unpriced, bound = run["unpriced_calls"], run.get("cost_bound_usd", "0")
    if bound == "0":
        return f">={run['known_cost_usd']} ({unpriced} unpriced)"
    # the bound bounds only the attempts of a known price: one of no known price beside them has none, said apart
    unbounded = run.get("unbounded_calls") or 0
    if unbounded:
        return (
            f">={run['known_cost_usd']} ({unpriced} of unknown cost: {unpriced - unbounded} counted at up to {bound}, "
            f"{unbounded} with no bound)"
        )
    return f">={run['known_cost_usd']} ({unpriced} of unknown cost, counted at up to {bound})"
