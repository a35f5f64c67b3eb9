"""The time zones a policy's days and a summary's days may be counted in: IANA names whose days read the same on
every machine. ``zoneinfo`` also opens what the machine's own zone folder holds beside them: ``localtime`` (this
machine's zone, another machine's elsewhere: a policy's day limit would reset at a different hour on the server than
on the laptop that wrote it), ``posixrules``, ``Factory`` (no zone: offset 0 named "-00") and the ``posix/`` and
``right/`` copies (``right/`` counts leap seconds, which the ledger's Unix times do not)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: names zoneinfo opens from the machine's zone folder that are no place's zone (see the module's docstring)
_MACHINE_NAMES = {
    "localtime": "is this machine's own zone, which another machine reads as its own",
    "posixrules": "is the machine's rule for zones written as POSIX strings, no place's zone",
    "factory": "is no zone (offset 0, named '-00')",
}
_MACHINE_FOLDERS = {
    "posix/": "is the machine's copy of the IANA zone",
    "right/": "counts leap seconds, which Unix times (the ledger's) do not: its days end some 27 seconds off",
}


#: UTC by its other names, each a link to it in the IANA database: days in any of them are UTC days
UTC_NAMES = frozenset(
    {
        "UTC", "Etc/UTC", "UCT", "Etc/UCT", "Universal", "Etc/Universal", "Zulu", "Etc/Zulu", "GMT", "Etc/GMT",
        "GMT0", "Etc/GMT0", "GMT+0", "Etc/GMT+0", "GMT-0", "Etc/GMT-0", "Greenwich", "Etc/Greenwich",
    }
)  # fmt: skip


def is_utc(name: str) -> bool:
    """Whether the zone ``name`` is UTC (by any of :data:`UTC_NAMES`): a policy with ``timezone: GMT`` counts the days
    a summary of UTC days holds."""
    return name in UTC_NAMES


def zone_problem(name: str) -> str | None:
    """What is wrong with ``name`` as a time zone to count days in, with the fix; None if it is an IANA zone."""
    from .suggest import zone_hint
    from .text import NAME_MAX, of_length

    use = "use an IANA name such as 'UTC' or 'Europe/Berlin'"
    if len(name) > NAME_MAX:  # no zone's name is near as long: quoted, a megabyte sent was the error's (and log's) text
        return f"unknown time zone {of_length(name)}; {use}"
    folded = name.strip().casefold()
    if folded in _MACHINE_NAMES:
        return f"time zone {name!r} {_MACHINE_NAMES[folded]}; {use}, the zone whose days you mean"
    for folder, why in _MACHINE_FOLDERS.items():
        if folded.startswith(folder):
            return f"time zone {name!r} {why}; write {name[len(folder):]!r}"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # (OSError: a region, "Europe", is a folder of the tzdata package, which zoneinfo opens as a file: on Linux an
        # IsADirectoryError, on Windows a PermissionError)
        return f"unknown time zone {name!r}{zone_hint(name)}; {use}"
    return None


#: zones IANA keeps under a US abbreviation that hold one offset all year, where the region people mean by the
#: abbreviation keeps summer time: taken as written (Panama's and Arizona's clocks), and said so, with the zone meant
_FIXED_ABBREVIATIONS = {
    "EST": ("UTC-5", "US Eastern", "EDT", "America/New_York"),
    "MST": ("UTC-7", "US Mountain", "MDT", "America/Denver"),
}


def zone_notes(name: str | None) -> list[str]:
    """What a report counted in zone ``name`` says of the zone: for 'EST' and 'MST', which IANA keeps as one offset
    all year, that its days are not US Eastern (or Mountain) days in summer, and the zone that is; else nothing. A
    caller writing EST for New York got days an hour off from March to November, and no word of it."""
    fixed = _FIXED_ABBREVIATIONS.get(name) if name else None
    if fixed is None:
        return []
    offset, region, summer, zone = fixed
    return [
        f"timezone {name!r} is {offset} all year, with no summer time: while {region} time is on summer time "
        f"({summer}, March to November) its days start an hour off {region} days; for {region} days all year, "
        f"give timezone {zone!r}"
    ]
