"""What a ledger query may ask for: the filters shared by summarize, query_runs, the MCP tools and the CLI
(:class:`UsageFilters`), turned into SQL once (:func:`sql_where`). The times and durations they take, as people
write them, are read in times.py (:func:`parse_since` and its kin, re-exported here for their callers)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..errors import InputError
from ..status_filter import StatusFilter, status_refusal
from ..text import check_text
from .times import (
    MAX_DURATION_SECONDS,
    TIME_TEXT_MAX,
    cuts_a_day,
    in_zone,
    is_duration,
    parse_duration_seconds,
    parse_since,
    python_time,
    read_window_start,
)

__all__ = [
    "MAX_DURATION_SECONDS",
    "MAX_OFFSET",
    "PAGING",
    "TIME_TEXT_MAX",
    "UsageFilters",
    "cuts_a_day",
    "is_duration",
    "parse_duration_seconds",
    "parse_since",
    "python_time",
    "read_window_start",
    "rows_in_range",
    "sql_where",
]

#: the most rows a query may skip (SQLite's integers end at 2**63)
MAX_OFFSET = 10**12
#: what pages a list of runs, and is no filter of a summary
PAGING = ("limit", "offset", "cursor")


def _recorded_model(model: str, provider: str | None) -> str:
    """A model filter as the ledger records the model: Gemini's resource name (``models/gemini-1.5-pro``, as Google's
    docs write it) is recorded as the model it names since 0dc9d6e (rates.bare_model), so the filter written that way
    selected nothing while the calls were there. Read so where the call would be Google's: the provider filter is
    google, or none is given and the name is Google's as a call infers it (another provider's ``models/...``,
    kept as written, is selected with its provider filter)."""
    from ..errors import ConfigError
    from ..rates import bare_model
    from ..targets import infer_provider

    if provider is None:
        try:
            provider = infer_provider(model)
        except ConfigError:
            return model
    return bare_model(provider, model)


class UsageFilters(BaseModel):
    """Filters shared by summarize, query and the MCP tools. Unknown filters are errors."""

    model_config = ConfigDict(extra="forbid")

    agent: str | None = None
    run_id: str | None = None
    skill: str | None = None
    model: str | None = None
    provider: str | None = None
    #: in any case, as --provider is (see status_filter.py)
    status: StatusFilter = None
    since: str | float | None = Field(default=None, description="24h, 7d or an ISO date")
    until: str | float | None = Field(default=None, description="24h, 7d or an ISO date")
    limit: int = Field(default=50, ge=1, le=10_000)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)
    #: query_runs: start after the run this names (a page's ``next_cursor``, see paging.py); '' = none
    cursor: str | None = None
    #: the model filter as written, where it was read as Google's model with no provider given (``models/...``):
    #: another provider's calls recorded under it are not selected, which a note says (see reports.filter_notes)
    _model_as_google: str | None = PrivateAttr(default=None)
    #: what the caller calls each filter (build's ``names``), for a refusal made in the read (see spaced_names.py)
    _names: Mapping[str, str] = PrivateAttr(default_factory=dict)
    #: the runs a read-only ledger's dead calls would turn to 'error' as they are recorded (recorded 'ok' or
    #: 'running'), which a status filter reads as 'error' then, as it would read the ledger writable (see dead_runs.py)
    _errored_runs: tuple[str, ...] = PrivateAttr(default=())
    #: the runs a read-only ledger's dead calls would add a call within the window to (see run_window.begun_before)
    _called_runs: tuple[str, ...] = PrivateAttr(default=())
    #: filter name (agent, skill, model, provider, until) -> the recorded runs a read-only ledger's dead calls would
    #: make it select on runs, once recorded (a stand-in of that model in a run whose recorded attempts are of another,
    #: or begun before ``until`` in a run recorded as begun after it), which a list of runs lists as a writable read
    #: does (see dead_runs.selected_by_name)
    _named_runs: Mapping[str, tuple[str, ...]] = PrivateAttr(default_factory=dict)

    def caller_names(self) -> Mapping[str, str]:
        return self._names

    def with_dead_calls(
        self, errored: tuple[str, ...], called: tuple[str, ...] = (), named: Mapping[str, tuple[str, ...]] | None = None
    ) -> UsageFilters:
        """These filters selecting as if a read-only ledger's dead calls were recorded (see dead_runs.py), as a
        writable read would: a status filter reading the runs ``errored`` as 'error' (:attr:`_errored_runs`), a
        window reading the runs ``called`` as runs that called within it (:attr:`_called_runs`), and a filter on runs
        by agent, skill, model, provider or until selecting the runs ``named`` by it too (:attr:`_named_runs`).
        (Named ``with_errored_runs`` until 2026-12: it was more than the errored runs.)"""
        out = self.model_copy()
        out._errored_runs, out._called_runs, out._named_runs = errored, called, dict(named or {})
        return out

    def with_errored_runs(
        self, runs: tuple[str, ...], called: tuple[str, ...] = (), named: Mapping[str, tuple[str, ...]] | None = None
    ) -> UsageFilters:
        """:meth:`with_dead_calls`'s former name, kept working for code that called it (a public class's method)."""
        import warnings

        warnings.warn(
            "UsageFilters.with_errored_runs is now with_dead_calls (it reads every dead call, not only the errored "
            "runs); call that",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.with_dead_calls(runs, called, named)

    @field_validator("agent", "run_id", "skill", "model", "provider", "since", "until")
    @classmethod
    def _text(cls, value: Any, info: ValidationInfo) -> Any:
        # named as the caller gave it (build's ``names``): "the value is not valid Unicode text" named no filter of
        # the several a `data query` may give
        field = cast(str, info.field_name)  # (a field validator's info names its field: None is a model validator's)
        check_text(value, ((info.context or {}).get("names") or {}).get(field, field))
        return value

    @field_validator("limit", "offset", mode="before")
    @classmethod
    def _count(cls, value: Any) -> Any:
        # before pydantic's coercion, which reads True as 1: a page of one run, or one skipped, that nobody asked for
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is no number of runs; give a whole number")
        return value

    @field_validator("agent", "run_id", "skill", "model", "provider")
    @classmethod
    def _named(cls, value: Any) -> Any:
        # The usage rollup keeps a call without an agent or skill under '', the attempts under NULL: an
        # empty name would count those calls in whole days and not at a range's edges. It names nothing.
        if value == "":
            raise ValueError("an empty name selects nothing; leave the filter out to select every one")
        # nor does one of only whitespace, which no name is recorded as (text.py refuses it): '  ' was taken, and
        # a summary said nothing was spent, while '' was refused
        if isinstance(value, str) and not value.strip():
            raise ValueError(
                f"a name of only whitespace ({value!r}) selects nothing; leave the filter out to select every one"
            )
        return value

    @field_validator("provider")
    @classmethod
    def _provider(cls, value: Any) -> Any:
        # The ledger records the registry's name: an alias or another case, as a target may write it
        # (gemini, Claude), selected nothing. A name this process does not know is read as written: the
        # ledger may hold a provider another process registered.
        from ..errors import ConfigError
        from ..providers import canonical_provider

        try:
            return canonical_provider(value) if value is not None else None
        except ConfigError:
            return value

    @field_validator("since", "until", mode="before")
    @classmethod
    def _time(cls, value: Any, info: Any) -> Any:
        # before pydantic's coercion, which would make True the float 1.0; a Python time is kept as the text
        # it is (see python_time), and any other type refused naming what would do. Named as the caller gave it
        # (see build's ``names``): `--since 7D` was told "since='7D' is not a time", a name it never wrote
        field = ((info.context or {}).get("names") or {}).get(info.field_name, info.field_name)
        value = python_time(value, field)
        parse_since(value, field=field)  # refuses any other type, naming what would do
        return value

    @model_validator(mode="after")
    def _target(self, info: ValidationInfo) -> UsageFilters:
        # A model written as a target (openai:gpt-4o, as routing and model_config write them) names its
        # provider: the ledger keeps the two apart, and the whole label matched no attempt at all.
        from ..targets import provider_prefix

        prefixed = provider_prefix(self.model) if self.model else None
        if prefixed is not None:
            if self.provider is not None and self.provider != prefixed[0]:
                names = (info.context or {}).get("names") or {}  # as the caller wrote them (see build's ``names``)
                raise ValueError(
                    f"{names.get('model', 'model')} {self.model!r} names provider {prefixed[0]!r}, but "
                    f"{names.get('provider', 'the provider filter')} is {self.provider!r}; drop one of them"
                )
            self.provider, self.model = prefixed
        if self.model is not None and self.provider in (None, "google"):
            written, self.model = self.model, _recorded_model(self.model, self.provider)
            if self.provider is None and self.model != written:
                self._model_as_google = written
        return self

    @property
    def model_read_as_google(self) -> str | None:
        """The model filter as written, where, given no provider, it was read as Google's (``models/gemini-1.5-pro``
        as ``gemini-1.5-pro``, as a call naming it would be Google's); else None."""
        return self._model_as_google

    @model_validator(mode="after")
    def _window(self, info: ValidationInfo) -> UsageFilters:
        self._check_window((info.context or {}).get("names") or {})
        return self

    def _check_window(self, names: Mapping[str, str]) -> None:
        # A window that ends before it starts selects nothing: a summary of it said $0 and `flow gate` passed
        # it, whatever the limits (two dates swapped, or one day given as since and until, until exclusive).
        now = time.time()
        since, until = parse_since(self.since, now=now), parse_since(self.until, field="until", now=now)
        if since is not None and until is not None and since >= until:
            shown = [
                f"{v!r} ({datetime.fromtimestamp(t, UTC).isoformat(timespec='seconds')})"
                for v, t in ((self.since, since), (self.until, until))
            ]
            # named as the caller gave them (build's ``names``), as a time that cannot be read is: `--since 1h
            # --until 2h` was told "since='1h' ... is not before until='2h'", names it never wrote
            first, last = names.get("since", "since"), names.get("until", "until")
            if first.startswith("--"):
                example = f"{first} 2025-11-01 {last} 2025-11-02 (the 1st of November), or {first} 2d {last} 1d"
            else:
                example = (
                    f"{first}='2025-11-01' and {last}='2025-11-02' (the 1st of November), or {first}='2d' and "
                    f"{last}='1d'"
                )
            raise InputError(
                f"invalid filters: {first}={shown[0]} is not before {last}={shown[1]}, so the window holds nothing: "
                f"{last} is exclusive and must come after {first}; for one day give its date and the next, e.g. "
                f"{example}"
            )

    def in_zone(self, zone: str | None) -> UsageFilters:
        """These filters with ``since`` and ``until`` read in ``zone`` (a summary's ``timezone``): a date or time
        without an offset is that zone's wall time (see :func:`~.times.in_zone`); the same filters for UTC or none."""
        zone = _known_zone(zone, self._names)
        if zone is None:
            return self
        zoned = {k: in_zone(getattr(self, k), zone, self._names.get(k, k)) for k in ("since", "until")}
        if zoned == {"since": self.since, "until": self.until}:
            return self
        copy = self.model_copy(update=zoned)
        copy._check_window(self._names)  # two bounds of different kinds may cross once one of them moved
        return copy

    @classmethod
    def build(
        cls,
        data: dict[str, Any] | UsageFilters | None = None,
        *,
        paged: bool = True,
        names: Mapping[str, str] | None = None,
        zone: str | None = None,
        **kwargs: Any,
    ) -> UsageFilters:
        """Filters from ``data`` and ``kwargs``. ``paged=False``: for a summary, which counts every matching call,
        and so refuses ``limit``, ``offset`` and ``cursor`` (taken, they were ignored, and its totals read as
        those of the page asked for). ``names``: what the caller calls each filter, by its name here (the CLI's
        ``{"status": "--status"}``, an MCP tool's ``{"status": "filters.status"}``), which a refusal names; without
        them, the name here, a Python caller's keyword. ``zone``: the zone a summary counts its days in, in which a
        ``since`` or ``until`` date (or time) without an offset is read (see :meth:`in_zone`)."""
        if isinstance(data, UsageFilters):
            return data.in_zone(zone)
        merged = {**(data or {}), **{k: v for k, v in kwargs.items() if v is not None}}
        known = sorted(name for name in cls.model_fields if paged or name not in PAGING)
        if not paged and (given := [name for name in PAGING if name in merged]):
            raise InputError(
                f"invalid filters: {', '.join(given)}: a summary counts every matching call, so it takes no "
                f"{'/'.join(PAGING)} (those page a list of runs: query_runs); use the filters {known}"
            )
        if zone is not None and (zone := _known_zone(zone, names or {})) is not None:
            # before the window is checked: a date and a time with an offset may be in order only in the zone
            for key in ("since", "until"):
                if isinstance(merged.get(key), str | date):
                    merged[key] = in_zone(merged[key], zone, (names or {}).get(key, key))
        try:
            built = cls.model_validate(merged, context={"names": names or {}})
        except ValidationError as exc:
            problems = []
            shown = names or {}
            for err in exc.errors():
                # named as the caller wrote it: the CLI's "status: ..." was told of a flag it calls --status
                loc = ".".join(str(p) for p in err["loc"])
                if err["loc"] and err["type"] != "extra_forbidden":
                    loc = ".".join([shown.get(str(err["loc"][0]), str(err["loc"][0])), *map(str, err["loc"][1:])])
                msg = err["msg"]
                if err["type"] == "extra_forbidden":
                    from ..suggest import nearest

                    close = nearest(err["loc"][-1] if err["loc"] else None, known)
                    msg = f"unknown filter{f' (did you mean {close!r}?)' if close else ''}; use one of {known}"
                elif err["type"] == "literal_error" and tuple(err["loc"]) == ("status",):
                    # in these words, not pydantic's "Input should be ...", which never said what was given
                    problems.append(status_refusal(err["input"], loc))
                    continue
                elif err["type"] in _OUT_OF_RANGE and tuple(err["loc"]) in _COUNTS:
                    # both bounds, as `data query --limit` and the query_runs tool say them: pydantic's "Input
                    # should be greater than or equal to 1" named the one missed, and a caller that then tried
                    # a million for "all of them" met the other
                    field = cast(str, err["loc"][0])
                    problems.append(f"{loc}: {_counted(err['input'], _COUNTS[(field,)])}: give {_bounds(cls, field)}")
                    continue
                msg = msg.removeprefix("Value error, ")
                problems.append(f"{loc}: {msg}" if loc else msg)
            raise InputError("invalid filters: " + "; ".join(problems)) from None
        built._names = names or {}
        return built


#: pydantic's errors of a number out of its field's bounds (one too large to read as a whole number included)
_OUT_OF_RANGE = frozenset(
    {"greater_than", "greater_than_equal", "less_than", "less_than_equal", "int_parsing_size"}
)
#: the paging counts a refusal names with what they count
_COUNTS = {("limit",): "runs per page", ("offset",): "runs to skip"}


def _counted(value: Any, what: str) -> str:
    """A count refused as out of range, quoted before what it counts (``0 runs per page``); one too long to quote
    (an int of thousands of digits) is said to be too many."""
    return f"{value!r} {what}" if len(repr(value)) <= 32 else f"too many {what}"


def _bounds(model: type[BaseModel], name: str) -> str:
    """The numbers ``model``'s field ``name`` takes, by its bounds: ``1 to 10000``."""
    metadata = model.model_fields[name].metadata
    low = next(m.ge for m in metadata if getattr(m, "ge", None) is not None)
    high = next(m.le for m in metadata if getattr(m, "le", None) is not None)
    return f"{low} to {high}"


def _known_zone(zone: str | None, names: Mapping[str, str]) -> str | None:
    """``zone`` as :func:`~.peaks.known_zone` takes it, a refusal naming it as the caller does (the CLI's
    ``--timezone``: build's ``names``)."""
    from .peaks import known_zone  # (peaks reads these filters)

    return known_zone(zone, names.get("timezone", "timezone"))


def rows_in_range(conn: Any, table: str, since: float | None, until: float | None, cap: int) -> int:
    """How many rows of ``table`` (runs or attempts) started in [since, until), counted up to ``cap``:
    one range of its started_at index, for choosing how to read a time range. Both bounds None: ``cap``."""
    bounds = [(c, t) for c, t in (("started_at >= ?", since), ("started_at < ?", until)) if t is not None]
    if not bounds:
        return cap
    return conn.execute(
        f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} WHERE {' AND '.join(c for c, _ in bounds)} LIMIT ?)",
        [*(t for _, t in bounds), cap],
    ).fetchone()[0]


def sql_where(
    f: UsageFilters, *, table: str, status_per_row: bool = False, attempt_per_run: bool = False
) -> tuple[str, list[Any]]:
    """WHERE clause over ``attempts`` (a) or ``runs`` (r).

    A run filter selects the run and the runs delegated from it (their ``parent_run_id`` is the top
    run of the tree, at any depth): the scope of the run's budget limit and ``magsag budget --run-id``.

    A skill filter on runs selects the runs that called the skill: a run that called several (a
    session, a MAG) records no skill of its own, and is selected by its attempts.

    A status filter on attempts reads each run's status: by default as the list of every run with
    that status (what a status over all time wants); ``status_per_row`` looks up each attempt's run
    instead, for a time range with few attempts (see :func:`~.rollup_reads.attempts_where`). A
    model or provider filter on runs likewise reads the list of runs with such an attempt, or with
    ``attempt_per_run`` looks each run's attempts up (a page of runs, see ``run_pages.query_runs``).
    """
    clauses: list[str] = []
    args: list[Any] = []
    col_time = "started_at"
    if f.agent is not None:
        clauses.append(f"{table}.agent = ?")
        args.append(f.agent)
        _named(f, "agent", table, clauses, args)
    if f.skill is not None:
        if table == "a":
            clauses.append("a.skill = ?")
        else:  # a run that called several skills records none (NULL): its attempts name theirs
            clauses.append(
                f"({table}.skill = ? OR ({table}.skill IS NULL AND EXISTS"
                f" (SELECT 1 FROM attempts WHERE run_id = {table}.run_id AND skill = ?)))"
            )
            args.append(f.skill)
        args.append(f.skill)
        _named(f, "skill", table, clauses, args)
    if f.run_id is not None:
        if table == "a":  # attempts_run_cost and runs_parent: both indexed
            clauses.append("(a.run_id = ? OR a.run_id IN (SELECT run_id FROM runs WHERE parent_run_id = ?))")
        else:
            clauses.append(f"({table}.run_id = ? OR {table}.parent_run_id = ?)")
        args += [f.run_id, f.run_id]
    if table == "a":
        for name in ("model", "provider"):
            value = getattr(f, name)
            if value is not None:
                clauses.append(f"a.{name} = ?")
                args.append(value)
        if f.status is not None:
            if status_per_row:  # a scalar subquery: the planner cannot turn it into the list of runs
                clauses.append("(SELECT status FROM runs WHERE runs.run_id = a.run_id) = ?")
            else:
                clauses.append("a.run_id IN (SELECT run_id FROM runs WHERE status = ?)")
            args.append(f.status)
            _errored(f, "a", clauses, args)
    else:
        if f.status is not None:
            clauses.append(f"{table}.status = ?")
            args.append(f.status)
            _errored(f, table, clauses, args)
        for name in ("model", "provider"):
            value = getattr(f, name)
            if value is not None:
                if attempt_per_run:  # attempts_run_cost: the run's own attempts
                    clauses.append(f"EXISTS (SELECT 1 FROM attempts WHERE run_id = {table}.run_id AND {name} = ?)")
                else:
                    clauses.append(f"{table}.run_id IN (SELECT run_id FROM attempts WHERE {name} = ?)")
                args.append(value)
                _named(f, name, table, clauses, args)
    since, until = parse_since(f.since), parse_since(f.until, field="until")
    if since is not None:
        clauses.append(f"{table}.{col_time} >= ?")
        args.append(since)
    if until is not None:
        clauses.append(f"{table}.{col_time} < ?")
        args.append(until)
        _named(f, "until", table, clauses, args)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def _errored(f: UsageFilters, table: str, clauses: list[str], args: list[Any]) -> None:
    """The status filter's clause (the last of ``clauses``) with the runs a read-only ledger's dead calls would turn
    to 'error' (:attr:`UsageFilters._errored_runs`) read as 'error': selected by a filter of 'error', no other."""
    if not f._errored_runs:
        return
    listed = f"{table}.run_id IN (SELECT value FROM json_each(?))"
    clauses[-1] = f"({clauses[-1]} OR {listed})" if f.status == "error" else f"({clauses[-1]} AND NOT {listed})"
    args.append(json.dumps(f._errored_runs))


def _named(f: UsageFilters, name: str, table: str, clauses: list[str], args: list[Any]) -> None:
    """The ``name`` filter's clause over runs (the last of ``clauses``) selecting too the runs a read-only ledger's
    dead calls would make it select once recorded (:attr:`UsageFilters._named_runs`); over attempts, none: a
    summary adds the dead calls' stand-ins as rows of their own (unrecorded.dead_calls)."""
    named = f._named_runs.get(name)
    if not named or table == "a":
        return
    clauses[-1] = f"({clauses[-1]} OR {table}.run_id IN (SELECT value FROM json_each(?)))"
    args.append(json.dumps(named))
