"""The words every key shape of :data:`~magsag_mcp.key_shapes._SECRET_PATTERNS` holds, casefolded: a text holding none
is not searched by the pattern (:func:`holds_a_trigger`), and past what the pattern reads of a long text whole, it reads
only around them (:func:`~magsag_mcp.key_shapes.without_key_shapes`).
"""

from __future__ import annotations

import re

#: every match of :data:`~magsag_mcp.key_shapes._SECRET_PATTERNS` holds one of these, casefolded (``api-key`` and
#: ``?key=`` hold "key", ``access_token`` "token", ``&sig=`` "sig"...). A text holding none (most error messages:
#: "HTTP 500: The server had an error...") skips the pattern, which tries each of its alternatives at every character:
#: about 15 us for 100 characters, against 1 us for these lookups, and a failed call redacts four texts.
_TRIGGERS = ("sk-", "aiza", "bearer", "eyj", "key", "passw", "secret", "token", "authorization", "sig")
#: the vendors' prefixes of :data:`~magsag_mcp.key_shapes._VENDOR_KEY`, casefolded, by the separator each ends with
#: (Cerebras's ``csk-`` holds "sk-" and Anyscale's ``esecret_`` "secret": triggers already). Looked for where that
#: separator stands, not each in the whole text: eighteen look-ups more made an 8 KB error's redaction some 2.5 times
#: as long (counted)
_VENDOR_TRIGGERS = {
    "_": ("gsk_", "r8_", "fw_", "jina_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "tgp_v1_", "lsv2_pt_",
          "lsv2_sk_", "hf_"),
    "-": ("xai-", "pplx-", "nvapi-", "glpat-"),
}  # fmt: skip
#: each separator's prefixes as the text read backwards holds them, from the separator on: one search (its first
#: character a literal, which the search skips to) finds any of them ending at any of the separator's places. Looked up
#: forwards where each separator stands, a text holding many (a run of ``____``, a dump of snake_case names) was looked
#: up again for each prefix instead: eighteen passes over the text, a third to a half of its redaction (counted)
_VENDOR_TRIGGERS_BACKWARDS = {
    separator: re.compile(
        re.escape(separator) + "(?:" + "|".join(re.escape(prefix[-2::-1]) for prefix in prefixes) + ")"
    )
    for separator, prefixes in _VENDOR_TRIGGERS.items()
}


def holds_a_trigger(folded: str) -> bool:
    """Whether ``folded`` (:func:`_folded`) holds a word every match of
    :data:`~magsag_mcp.key_shapes._SECRET_PATTERNS` holds: one of :data:`_TRIGGERS`, or a vendor's prefix
    (:data:`_VENDOR_TRIGGERS`) ending at one of its ``_`` or ``-``. A pass over the text for each trigger word, one
    to read it backwards and one for each separator it holds."""
    for trigger in _TRIGGERS:
        if trigger in folded:
            return True
    backwards = ""
    for separator, prefixes_backwards in _VENDOR_TRIGGERS_BACKWARDS.items():
        if separator in folded:
            backwards = backwards or folded[::-1]
            if prefixes_backwards.search(backwards):
                return True
    return False


#: whether a casefolded text holds one of :data:`_TRIGGERS`: one search, for a name (a few dozen characters, where
#: ten lookups cost more; an error's message, longer, is looked up in as redact() does)
_A_TRIGGER = re.compile("|".join(map(re.escape, (*_TRIGGERS, *(t for ts in _VENDOR_TRIGGERS.values() for t in ts)))))
#: the letters besides ASCII's that (?i:...) takes for one of them (re's docs name four), as casefold() does not: the
#: Kelvin sign and the long s casefold to "k" and "s", but the dotless i stays itself and the dotted capital I
#: becomes "i" and a combining dot. "?s\u0131g=..." and "Author\u0130zation: Basic ..." matched the patterns and,
#: holding no trigger so folded, were never searched: the credential stayed in the text
_RE_ALSO_ASCII = {0x130: "i", 0x131: "i", 0x17F: "s", 0x212A: "k"}


def _folded(text: str) -> str:
    """``text`` as :data:`_TRIGGERS` are looked up in: casefolded, each letter that (?i:...) matches to an ASCII one
    made that letter first."""
    return text.lower() if text.isascii() else text.translate(_RE_ALSO_ASCII).casefold()


#: the trigger words that every shape holding them ends a label with (``api_key``, ``?key=``, ``&sig=``), a separator
#: after it (a quote, a space, ``:``, ``=``, an escape's ``\\`` or ``%``), or goes on with its label's own ending
#: (``signature=``): where letters, digits, ``+``, ``/``, ``_`` or ``-`` follow instead, they stand inside a word that
#: no shape hinges on (base64's random letters, ``monkeys``, ``design``), any shape around them holding a trigger word
#: of its own. Taken for shapes' starts, base64's "key" and "sig" (some 1 in 16,000 of its characters) spent what the
#: patterns may read on windows around them: an embeddings answer of 12 MB or more (OpenAI's ``encoding_format:
#: "base64"``, 2,048 vectors of 1,536 floats) was masked from there on, its vectors lost. Each word's pattern finds its
#: next place outside a word (in a lower-cased text) in one search, in C: passed over one by one in Python, a text
#: dense with them (16 MB of ``sigs``) took 3 s, four times what the windows around them had cost
_MID_WORD = {
    word: re.compile(re.escape(word) + "(?:" + "".join(ending + "|" for ending in endings) + r"(?![a-z0-9+/_\-]))")
    for word, endings in (("key", ()), ("sig", ("nature",)))
}
#: how far past a word of :data:`_MID_WORD` its pattern reads: its label's longest ending (``nature``)
MID_WORD_LOOKS = len("nature")
