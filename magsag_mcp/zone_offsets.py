"""What a time zone written as an offset from UTC ('GMT+3', '+05:30') is told: its IANA name (Etc/GMT, the sign the
other way round), or the places on it (from tzdata's tables of zones) for an offset with no Etc name; and one written
as a clock's abbreviation ('PST', 'IST') the IANA zones it is said for."""

from __future__ import annotations

import time
from typing import Any

__all__ = ["abbreviation_hint", "offset_hint"]


#: abbreviations people (and models) write for a zone that IANA has no zone of that name for, each with the zones it is
#: said for and where. (EST, MST, HST, CET, EET, WET are IANA zones of their own, and are taken as written.)
_ABBREVIATIONS: dict[str, tuple[tuple[str, str], ...]] = {
    **dict.fromkeys(("PST", "PDT", "PT"), (("America/Los_Angeles", "US Pacific time"),)),
    **dict.fromkeys(("MDT", "MT"), (("America/Denver", "US Mountain time"),)),
    # (China keeps no summer time: CDT and CT are US Central time's alone; Cuba's clock is CST too)
    "CST": (("America/Chicago", "US Central time"), ("Asia/Shanghai", "China"), ("America/Havana", "Cuba")),
    **dict.fromkeys(("CDT", "CT"), (("America/Chicago", "US Central time"),)),
    **dict.fromkeys(("EDT", "ET"), (("America/New_York", "US Eastern time"),)),
    **dict.fromkeys(("AKST", "AKDT"), (("America/Anchorage", "Alaska"),)),
    "BST": (("Europe/London", "the UK"), ("Asia/Dhaka", "Bangladesh")),
    "IST": (("Asia/Kolkata", "India"), ("Europe/Dublin", "Ireland"), ("Asia/Jerusalem", "Israel")),
    "CEST": (("Europe/Berlin", "Central Europe, or the city's own zone: Europe/Paris, Europe/Madrid, ..."),),
    "EEST": (("Europe/Athens", "Eastern Europe, or the city's own zone: Europe/Helsinki, Europe/Kyiv, ..."),),
    "WEST": (("Europe/Lisbon", "Portugal"),),
    "JST": (("Asia/Tokyo", "Japan"),),
    "KST": (("Asia/Seoul", "Korea"),),
    "SGT": (("Asia/Singapore", "Singapore"),),
    "HKT": (("Asia/Hong_Kong", "Hong Kong"),),
    **dict.fromkeys(
        ("AEST", "AEDT"), (("Australia/Sydney", "Australia's east coast; Queensland: Australia/Brisbane"),)
    ),
    "AWST": (("Australia/Perth", "Western Australia"),),
    **dict.fromkeys(("NZST", "NZDT"), (("Pacific/Auckland", "New Zealand"),)),
    "BRT": (("America/Sao_Paulo", "Brazil"),),
}


def abbreviation_hint(name: str) -> str:
    """`` (PST is an abbreviation, not an IANA zone: 'America/Los_Angeles' (US Pacific time))`` for a zone written as
    a clock's abbreviation (:data:`_ABBREVIATIONS`), else ``""``: 'PST' was told only to use an IANA name. The zone
    keeps summer time as the abbreviation's place does, so a day's report is that place's day all year."""
    zones = _ABBREVIATIONS.get(name.strip().upper())
    if not zones:
        return ""
    named = [f"{zone!r} ({where})" for zone, where in zones]
    said = named[0] if len(named) == 1 else f"{', '.join(named[:-1])} or {named[-1]}"
    several = ", and is said for several" if len(zones) > 1 else ""
    return f" ({name.strip().upper()} is an abbreviation, not an IANA zone{several}: {said})"


def offset_hint(sign: str, hours: str, minutes: str | None, now: float | None = None) -> str:
    """IANA names a whole hour's offset Etc/GMT with the sign the other way round (POSIX's: Etc/GMT+3 is three hours
    behind UTC): 'GMT+3', meant as three hours ahead, was asked 'did you mean Etc/GMT+3?', whose days end six hours
    off the ones meant. An offset with minutes ('+05:30') has no Etc name: the places on it at ``now`` (else at some
    time of the year) are named, as the fix; an offset no place keeps gets the rule for writing a zone."""
    import zoneinfo

    whole, past = int(hours), int(minutes or 0)
    if whole == 0 and past == 0:
        return " (did you mean 'UTC'?)"
    written = f"UTC{sign}{whole}" + (f":{past:02d}" if past else "")
    if past >= 60 or whole * 60 + past > _OFFSET_MAX_MINUTES:
        return f" ({written} is no offset: a place's is at most 14 hours from UTC, its minutes under 60)"
    offset = (1 if sign == "+" else -1) * (whole * 3600 + past * 60)
    places = _places_on(offset, time.time() if now is None else now)
    posix = f"Etc/GMT{'-' if sign == '+' else '+'}{whole}"
    if past or posix not in zoneinfo.available_timezones():
        if not places:
            # (no table of places read, and none named: not told no place keeps it, which the table did not say)
            kept = ", and no place keeps it" if places is not None else ""
            return (
                f" ({written} has no IANA name of its own{kept}: write the IANA name (Area/City) "
                "of the place whose days you mean, as 'Asia/Kolkata'; its offset then follows its summer time)"
            )
        return f" ({written} has no IANA name of its own: use the zone of the place you mean; {places})"
    place = "the zone of a place on that offset, which keeps its summer time too"
    if places:
        place = f"the zone of the place you mean; {places}"
    return f" ({written} is {posix!r} in IANA's names, whose sign is inverted; or use {place})"


#: the farthest a place's offset is from UTC (Kiribati's Line Islands: +14:00)
_OFFSET_MAX_MINUTES = 14 * 60
#: the places named for an offset, at most
_PLACES_NAMED = 3


def _places_on(offset: int, now: float) -> str | None:
    """IANA zones on ``offset`` (seconds east of UTC) at ``now``, as "'Asia/Kolkata' (India (IST)), ..."; else the
    ones on it at some time of the coming year, said so (Newfoundland is on UTC-2:30 in its summer only); "" if none,
    None if no table of places is there. Read from tzdata's zonenow.tab: one zone for each way of keeping time now,
    with the places it is for."""
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    zones = _present_zones()
    if zones is None:
        return None
    today = datetime.fromtimestamp(now, UTC)

    def on(zone: str, when: datetime) -> bool:
        try:
            shift = when.astimezone(ZoneInfo(zone)).utcoffset()
        except (ValueError, OSError, KeyError):  # (a zone the table lists and no zone file has: ZoneInfoNotFoundError)
            return False
        return shift is not None and shift == timedelta(seconds=offset)

    named = [(z, where) for z, where in zones if on(z, today)]
    if named:
        return "places on it today: " + _listed(named)
    months = [today + timedelta(days=30 * k) for k in range(1, 13)]
    named = [(z, where) for z, where in zones if any(on(z, m) for m in months)]
    return "places on it part of the year: " + _listed(named) if named else ""


def _listed(zones: list[tuple[str, str]]) -> str:
    return ", ".join(f"{z!r}" + (f" ({where})" if where else "") for z, where in zones[:_PLACES_NAMED])


def _present_zones() -> list[tuple[str, str]] | None:
    """(zone, the places it is for) of tzdata's zonenow.tab (zone1970.tab before tzdata 2023d), from the tzdata
    package or the machine's zone folders (zoneinfo.TZPATH: a Linux machine's without the package); None if no table
    is there (the places are unknown: not that none keeps an offset)."""
    import zoneinfo
    from importlib import resources
    from pathlib import Path

    for table in ("zonenow.tab", "zone1970.tab"):
        sources: list[Any] = []
        try:
            sources.append(resources.files("tzdata.zoneinfo").joinpath(table))
        except (ModuleNotFoundError, OSError):
            pass
        sources += [Path(folder) / table for folder in zoneinfo.TZPATH]
        for source in sources:
            try:
                text = source.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            rows = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
            return [(row[2], row[3] if len(row) > 3 else "") for row in rows if len(row) > 2]
    return None
