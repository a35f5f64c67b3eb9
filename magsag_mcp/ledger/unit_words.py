"""A duration whose unit is a word magsag has no letter for, told the duration it means (:func:`unit_word_hint`): a
fortnight, a quarter (``1q``), or a unit in another language (``7 Tage``, ``3 semaines``, ``7 días``, ``2 ore``). They
were told the general forms a time takes, which left the reader to work out that ``7 Tage`` is ``7d``. Only words
that name one unit in every language listed are here (``min`` is English's, read as minutes; no bare letter but
French's ``j`` for days, which means nothing else), so the hint is never a guess."""

from __future__ import annotations

import re
from collections.abc import Callable

from .duration_amounts import LEDGER_LONGEST, Longest, out_of_range, plain_amount

__all__ = ["unit_word_hint"]

#: a unit's word, folded to lower case, as the letter magsag takes for it (s, m, h, d, w), or as days for a unit
#: magsag has none of (a month is about 30 days, a year 365, a quarter 90): German, French, Spanish, Italian,
#: Portuguese and Dutch, and English's fortnight and quarter
_LETTERS = {
    **dict.fromkeys(("sekunde", "sekunden", "sek", "seconde", "secondes", "segundo", "segundos", "secondo"), "s"),
    **dict.fromkeys(("secondi", "seconden"), "s"),
    **dict.fromkeys(("minuten", "minuto", "minutos", "minuti", "minuut"), "m"),
    **dict.fromkeys(("stunde", "stunden", "std", "heure", "heures", "hora", "horas", "ora", "ore", "uur"), "h"),
    **dict.fromkeys(("uren",), "h"),
    **dict.fromkeys(("tag", "tage", "tagen", "jour", "jours", "j", "día", "días", "dia", "dias", "giorno"), "d"),
    **dict.fromkeys(("giorni", "dag", "dagen"), "d"),
    **dict.fromkeys(("woche", "wochen", "semaine", "semaines", "semana", "semanas", "settimana", "settimane"), "w"),
    **dict.fromkeys(("weken",), "w"),
}
_DAYS = {
    **dict.fromkeys(("fortnight", "fortnights"), 14),
    **dict.fromkeys(("q", "qtr", "qtrs", "quarter", "quarters", "quartal", "quartale", "trimestre", "trimestres"), 90),
    **dict.fromkeys(("monat", "monate", "monaten", "mois", "mes", "meses", "mese", "mesi", "mês", "maand"), 30),
    **dict.fromkeys(("maanden",), 30),
    **dict.fromkeys(("jahr", "jahre", "jahren", "an", "ans", "année", "années", "año", "años", "anno", "anni"), 365),
    **dict.fromkeys(("ano", "anos", "jaar", "jaren"), 365),
}
#: what a unit's word is called where magsag has no letter for it (said: "there is no unit of quarters")
_CALLED = {14: "fortnights", 90: "quarters", 30: "months", 365: "years"}
_LETTER_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

#: an amount, then a word (letters of any script: día, année): what this module reads
_AMOUNT_WORD = re.compile(r"^(\d+(?:\.\d+)?)?\s*([^\W\d_]+)\.?$")


def unit_word_hint(text: str, takes: Callable[[str], bool], longest: Longest = LEDGER_LONGEST) -> str:
    """What a duration written with a unit's word magsag has no letter for is written as (``7 Tage``: 7d;
    ``fortnight``: 14d, which 2w is too), said with ``; `` after it, or ``""`` for any other text. ``takes``: whether
    the refusing read takes a duration so written; a hint it would refuse too is not given (``2000 Jahre`` was told
    it is about 730000d, longer than any ledger, and ``0.00000000001 Jahre`` that it is about 0d, nothing): one
    past ``longest`` (the reader's) is told that, with the longest it takes."""
    m = _AMOUNT_WORD.match(text.strip())
    if m is None:
        return ""
    amount, word = m.group(1), m.group(2).lower()
    if amount is None and word in ("fortnight", "quarter"):  # ("a fortnight": one)
        amount = "1"
    if amount is None:
        return ""
    if (letter := _LETTERS.get(word)) is not None:
        if beyond := out_of_range(text.strip(), float(amount) * _LETTER_SECONDS[letter], longest):
            return beyond
        if not takes(f"{amount}{letter}"):
            return ""
        return f"{text.strip()} is written {amount}{letter} (a unit is one of s, m, h, d and w); "
    if (days := _DAYS.get(word)) is not None:
        total = float(amount) * days
        if beyond := out_of_range(text.strip(), total * 86400, longest):  # (as the parser says: one rule)
            return beyond
        written = plain_amount(total)
        if not takes(f"{written}d"):
            return ""
        if days == 14:
            return f"{text.strip()} is {written}d (2w is a fortnight; a unit is one of s, m, h, d and w); "
        return f"there is no unit of {_CALLED[days]}: {text.strip()} is about {written}d; "
    return ""
