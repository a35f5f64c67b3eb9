"""What text shaped like a credential looks like, for :func:`~magsag_mcp.redaction.redact` to remove it whether or not
the process knows it: an ``sk-`` or ``AIza`` key, a JWT, a token after ``Bearer`` (``Bearer:...``, or glued), a value
labelled ``api_key``, ``password``, ``?token=``... (:data:`_SECRET_PATTERNS`, each match replaced by :func:`_redacted`);
the words one of them always holds (:data:`_TRIGGERS`: a text holding none is not searched); and whether a match in a
name is a key (:func:`_key_shaped`).
"""

from __future__ import annotations

import base64
import binascii
import re

from .key_triggers import _A_TRIGGER as _A_TRIGGER
from .key_triggers import _MID_WORD, _RE_ALSO_ASCII, _TRIGGERS, _VENDOR_TRIGGERS, MID_WORD_LOOKS
from .key_triggers import _folded as _folded
from .key_triggers import holds_a_trigger as holds_a_trigger
from .lazy_pattern import compiled_on_first_use

#: ``label`` is what names the value (``api_key": "``, ``x-api-key: ``): it is kept, and only the value
#: replaced. Replacing the label too took quotes with it, and the JSON of an event was no JSON any more.
#: ``sk-`` (OpenAI's and Anthropic's keys) starts a key only where no letter comes before it, or an escape
#: such as ``%3D`` or, in JSON or a ``repr``, ``\n``, ``\t``, ``\x1b``, ``\u001b`` (an event's stored data, a log
#: line's %r): "risk-assessment", "task-analysis" and "disk-quota-exceeded" are names, not keys. Nor ``Bearer``:
#: a gateway echoing the header with its space dropped (``Bearersk-...``) showed the key whole. Those look behinds
#: are tried only where ``sk-`` starts (the look ahead before them): tried at every character, each a letter follows,
#: they were some 17% of the pattern's cost on a text holding a trigger word.
#: A JWT (an Entra ID token: header.payload.signature, both first parts JSON, so ``eyJ``) needs no label. It is looked
#: for once in each run of its alphabet, from the run's first ``eyJ`` (the run's characters before it, ``glued``, are
#: redacted on their own): tried at every ``eyJ``, a body of ``eyJeyJeyJ...`` with no dot made each one scan the rest
#: of the run, quadratic in the text (a vendor's 64 KB error body took 4 s of the event loop to redact, each time an
#: error, a record or a log line was made of it). Should the first fail, every later one of the run fails too: its
#: header runs to the same end, then the same payload and signature.
#: A label names a credential: an API key's header or field, ``Authorization`` with its scheme (``Basic``,
#: ``Bearer``, ``Token``: "authorization: required" is no credential), a password, a client secret, an
#: OAuth token (``access_token``, ``accessToken``), a gateway's ``x-auth-token``, an API Management subscription key,
#: a private key, or a URL's ``?key=`` / ``&token=`` / ``&sig=``.
_LABEL_WORD = (
    r"api[-_]?key|x-api-key|x-goog-api-key|passw(?:or)?d|(?:client[-_])?secret|(?:access|refresh|id|auth)[-_]?token"
    r"|subscription[-_]?key|private[-_]?key"
)
#: A label's quotes, spaces and ``:`` or ``=`` are also written escaped: its quotes as ``\"`` (a vendor's JSON body
#: quoted in a string, an exception's message, and so in an event's stored JSON; ``\\\"`` when that string was JSON in
#: a string), or all of them URL-encoded (``%22``, ``%20``, ``%3A``, ``%3D``: a URL quoted in a query, a login page's
#: ``next``): the label took neither, and the credential after it stayed in the ledger. JSON's encoders write some of
#: them as ``\\u`` escapes by default (Go's ``encoding/json`` an ``&`` as ``\\u0026``, Gson an ``=`` as ``\\u003d`` and
#: an ``&`` so too), which a body quoted as text keeps (one not in its vendor's shape, one quoted in another's
#: message): a URL's ``\\u0026token\\u003d<value>`` in such a body was no label, and its value was kept.
_QUOTE = r"(?:\\{0,3}[\"']|%2[27])?"
_SPACE = r"(?:\s|%20)"
_EQUALS = r"(?:=|%3[Dd]|\\{1,3}u003[Dd])"
_LABEL_SEPARATOR = _QUOTE + _SPACE + r"*(?:[:=]|%3[AaDd]|\\{1,3}u003[Dd])" + _SPACE + "*" + _QUOTE
#: (an ``=`` glued to "bearer" ends the token: ``Bearer <token>bearer=<word>``, headers echoed joined, took the second
#: scheme and the word after it for the rest of a base64 token, where ``bearer:`` and ``bearer%3D`` ended it)
_BEARER_VALUE = r"(?:[A-Za-z0-9._~+/\-]|(?<!(?i:bearer))=){8,}"
#: what comes between ``Bearer`` and its token: a space, or else (the scheme is then kept with it, as a label is) a
#: ``:`` or ``=`` or a ``%20`` (a proxy's echo, ``Bearer:<token>``), or nothing, the token glued to it (the header
#: echoed with its space dropped). Whichever, the token holds among its first 32 characters a digit, or what no word
#: holds (a ``~``, ``+`` or ``/``, a ``.`` or ``=`` inside it; glued, it starts with a letter or digit): a word glued
#: to the scheme is a name (``BearerTokenCredentialPolicy``, the specs' ``BearerAuthResponse``), one after it prose
#: ("Bearer: expected a token", ``Bearer=required``, "Bearer    expected", "Bearer authentication failed"), where a
#: random token all but never lacks both (a length no word has took long names, ``TokenCredentialPolicy``, and kept
#: short tokens). Taking only a space, a token glued or after a colon stayed whole; after a space, any 8 characters
#: were a token, and the prose lost its word (a name holding it was refused). (``\s*`` first, not ``_SPACE*``: tried
#: after each "Bearer" a word follows, some 2,000 instructions each)
_BEARER_SPACED = r"\s*(?:[:=]|%3[AaDd])" + _SPACE + "*|(?:%20)+"
#: Nor is a CamelCase name a token, digit or not (``BearerTokenAuth2``, ``skill.BearerAuthV2Handler``): capitalised
#: words (a capital, then lower case letters or digits: ``Auth``, ``V2``), a digit only at a word's end (followed by
#: no lower case letter), a lower case letter among its first 32 characters (``DEADBEEF1234``, hex in capitals, is a
#: token), and either 32 characters so or ending so at what no token goes on with (a space, a ``(``, the text's end;
#: not a ``.``: ``EB7IrsHp0Nl8RgOn.7hZf...``, a token68, starts as a name to its first ``.``). A random token all but
#: never starts so (1 in 1,000 of 20 base64url characters, counted: two capitals side by side past its first, as
#: ``OAuth2Client`` has, a digit with a lower case letter after it, a ``_``). Looked at over 32 characters at most, as
#: the digit is: a longer look, from each "Bearer" of ``BearerBearerBearer...``, read the rest of the run each time
_CAMEL = r"(?:[A-Z](?=[a-z0-9])|[a-z]|[0-9](?![a-z]))"
#: A ``.`` with a method's name and a ``(`` after it ends a name too: code calling a method of the class
#: (``BearerAuthV2Handler.handle()``, which lost the name to ``Bearer[REDACTED]()``). The method's name is written as
#: one is, in snake_case or camelCase (a lower case start, a capital or a digit only before a lower case letter or at a
#: word's end: ``get_token``, ``refreshToken2``): any identifier took a token68 glued to a ``(``
#: (``FFt.fjiyBoaBSaZz7Njd...(``, its start a name to its first ``.``, the rest of it read as a method's). Looked at
#: over 64 characters at most: each "Bearer" then reads a bounded stretch, not the rest of a run
_METHOD = r"\.[a-z_](?:[a-z_]|[A-Z](?=[a-z_])|[0-9](?![a-z])){0,63}\("
_END_OF_A_NAME = r"(?:(?![A-Za-z0-9._~+/=\-])|(?=" + _METHOD + "))"
_A_NAME = r"[A-Z](?=[A-Za-z0-9]{0,31}[a-z])(?:" + _CAMEL + "{31}|" + _CAMEL + "{0,30}" + _END_OF_A_NAME + ")"
_TOKEN_AHEAD = r"(?=[A-Za-z._~+/=\-]{0,31}(?:[0-9~+/]|[.=][A-Za-z0-9]))(?!" + _A_NAME + ")"
_BEARER_SEPARATOR = r"(?:(?:\s+|" + _BEARER_SPACED + ")" + _TOKEN_AHEAD + r"|(?=[A-Za-z0-9])" + _TOKEN_AHEAD + ")"
#: A Basic credential is base64 of "user-id:password" (RFC 7617): after ``Basic``, a value all of base64's alphabet (its
#: ``=`` padding written as it is or as ``%3D``) is taken here, and :func:`_redacted` keeps it unless it decodes to
#: printable text holding a ``:`` (:func:`_a_basic_credential`) or is a token by the Bearer rule. A guess at the
#: ``:`` from base64's letters (``O`` and one of ``g``-``v`` where a group starts...) took words ("Authorization: Basic
#: Overview of the API" lost "Overview"), and missed a credential whose user-id was longer than 47 characters
_BASIC_WHOLE = r"(?=[A-Za-z0-9+/]{4,}+(?:=|%3[Dd]){0,2}(?![A-Za-z0-9_~+/=%\-]|\.(?!\s|\Z)))"
_BASIC_AHEAD = "(?:" + _TOKEN_AHEAD + "|" + _BASIC_WHOLE + ")"
_BASIC_SEPARATOR = r"(?:(?:\s+|" + _BEARER_SPACED + ")" + _BASIC_AHEAD + r"|(?=[A-Za-z0-9])" + _BASIC_AHEAD + ")"
#: the scheme and what follows it that :func:`_redacted` keeps, found in the match again: a group in the pattern for it
#: cost some 5,000 instructions more for each 200-character text the pattern searched (counted), matching or not
#: (the scheme's space may be missing: a gateway echoing the header without it, ``Authorization: Basicd2hv...``).
#: After ``Bearer`` and ``Token`` a token is told from a word by the same rule as with no label (one Bearer rule for
#: what follows under every separator, :data:`_BEARER_SEPARATOR`, its case kept: ``(?-i:...)``): any 8 characters
#: were a token, and "Authorization: Bearer expected", "Authorization: Token authentication required" lost their
#: word. After ``Basic``, what that rule takes, or a base64 credential (:data:`_BASIC_WHOLE`)
_AUTHORIZATION = (
    "authorization" + _LABEL_SEPARATOR + "(?:(?:bearer|token)(?-i:" + _BEARER_SEPARATOR + ")"
    "|basic(?-i:" + _BASIC_SEPARATOR + "))"
)
_BEARER_KEPT = re.compile("(?i:bearer)(?:" + _BEARER_SPACED + ")?")
#: A key a vendor masks in its own message shows its first and last characters around the mask (OpenAI's 401:
#: "Incorrect API key provided: sk-proj-****...****wxyz"; a key shortened for display, ``sk-abc...wxyz``): the mask is
#: 3 ``*`` or bullets or more, or an ellipsis (``...``, or its one character) with more of the key after it. An ``sk-``
#: or ``AIza`` key (or a label's value) so written is removed whole, mask and all: the pattern took the characters
#: before the mask for the key (or, fewer than its 8 or 20, none) and the key's last characters stayed in the text. A
#: ``.`` ends it where no more of the key follows (the sentence's, "...wxyz. You can find"); "sk-..." alone (the guide's
#: placeholder) has none after it and is no key
_MASK = r"(?:\*{3,}|\u2022{3,}|(?:\.{3}|\u2026)(?=[A-Za-z0-9_\-]))"
_MASKED_REST = _MASK + r"(?>(?:[A-Za-z0-9_\-*\u2022]|(?:\.{3}|\u2026)(?=[A-Za-z0-9_\-*\u2022]))*)"
#: A value unmasked is 8 of its characters or more, its ``.`` among them, and ends before a ``.`` that ends a sentence
#: (a space or the text's end after it, where no key goes on): "provided: gw-key-12345678. You can find" lost the
#: period to the redaction ("[REDACTED] You can find"). The 8 are counted with that period, as before, so a 7-character
#: value before it is still removed, whole ("password: hunter2." is "password: [REDACTED].")
_PLAIN_VALUE = r"(?=[A-Za-z0-9._~+/=%\-]{8})(?>(?:[A-Za-z0-9_~+/=%\-]|\.(?!\s|\Z))+)"
_LABELLED_VALUE = r"(?:(?>[A-Za-z0-9_~+/=%\-]*)" + _MASKED_REST + "|" + _PLAIN_VALUE + ")"
#: OpenAI's 401 names the key it was sent after these words ("Incorrect API key provided: <key>. You can find your
#: API key at ..."), masked (see :data:`_MASK`) or not, whatever its shape (a gateway's own, no ``sk-``): a label
_KEY_PROVIDED = r"api key provided" + _LABEL_SEPARATOR
_JWT_SIGNATURE = r"[A-Za-z0-9_\-]{8,}"
#: What a credential's match goes on over, glued to its end. A JWT's header, ``<key>eyJ...``: an ``sk-`` or ``AIza`` key
#: (or the start of one) or another JWT's signature is of the header's alphabet and runs on through it to its first
#: dot, and the JWT's payload and signature after it (the token: its header is every token's of its issuer) were left
#: in the text, no JWT without it. A label, ``<token>Bearer <value>``, ``<key>x-api-key: <value>`` (headers echoed
#: joined without a separator): of the credential's alphabet too, its match took the label in and stopped at its
#: separator, and the value after it was kept. Each is looked for where a match ends (a look behind, once a match:
#: linear).
_GLUED = (
    r"(?:\.eyJ[A-Za-z0-9_\-]{8,}\." + _JWT_SIGNATURE
    + r"|(?i:(?<=bearer))(?:\s+|" + _BEARER_SPACED + ")" + _TOKEN_AHEAD + _BEARER_VALUE
    # (every label word ends so: a word ending so that is no label merely goes on over a credential's value)
    + r"|(?i:(?<=key)|(?<=token)|(?<=secret)|(?<=passwd)|(?<=password))" + _LABEL_SEPARATOR + _LABELLED_VALUE
    + r"|(?i:(?<=authorization)" + _AUTHORIZATION.removeprefix("authorization") + ")" + _LABELLED_VALUE
    + r")*"
)
#: A key of a vendor the process may never have been given (a ``compat`` endpoint's user holds several, and a gateway
#: or an agent's tool quotes them) starts with that vendor's prefix, and is removed unlabelled as ``sk-`` keys are:
#: Groq's ``gsk_``, xAI's ``xai-``, Perplexity's ``pplx-``, NVIDIA's ``nvapi-``, Cerebras's ``csk-``, Together's
#: ``tgp_v1_``, Fireworks's ``fw_``, Replicate's ``r8_``, Anyscale's ``esecret_``, Jina's ``jina_``, LangSmith's
#: ``lsv2_pt_``/``lsv2_sk_``, GitHub's ``ghp_``/``gho_``/``ghu_``/``ghs_``/``ghr_`` and
#: ``github_pat_``, GitLab's ``glpat-``, Hugging Face's ``hf_`` (OpenRouter's ``sk-or-``, DeepSeek's and Moonshot's
#: ``sk-`` are ``sk-`` keys). What follows the prefix is told from a name by its length and its mix: 20 characters
#: or more (the vendors' are 20 to 82) of the key's alphabet, holding a digit and a letter or both cases among its
#: first 64 (``xai-grok-2``, ``pplx-70b-online``, ``gsk_sample`` are names); Fireworks's and Replicate's prefixes
#: are words of code too (``fw_`` is firmware's), so theirs holds a digit and both cases, and Hugging Face's is 34
#: letters exactly, in both cases, and no more (``hf_model``, ``hf_hub_download``: its names are snake_case). No
#: letter or digit comes before the prefix, but an escape may (``\n``, ``%3D``) or a glued ``Bearer``, as before an
#: ``sk-``. Each look ahead reads 64 characters at most: from each prefix of ``nvapi-nvapi-...`` it read the rest of
#: the run
_VENDOR_PREFIX = r"gsk_|xai-|pplx-|csk-|r8_|fw_|esecret_|jina_|gh[pousr]_|nvapi-|glpat-|tgp_v1_|github_pat_|lsv2_|hf_"
#: (the prefix looked for first: the look behinds before it, tried at every character, cost more than the whole)
_BEFORE_A_PREFIX = (
    "(?=" + _VENDOR_PREFIX + r")(?:(?<![A-Za-z0-9])|(?<=%[0-9A-Fa-f]{2})|(?<=\\[nrtbf])|(?<=\\x[0-9A-Fa-f]{2})"
    r"|(?<=\\u[0-9A-Fa-f]{4})|(?i:(?<=bearer)))"
)


def _mixed(others: str) -> str:
    """A look ahead: among the next 64 characters of a key's alphabet (letters, digits and ``others``), a digit and a
    letter, or a lower case letter and a capital."""
    return (
        f"(?:(?=[A-Za-z{others}]{{0,63}}[0-9])(?=[0-9{others}]{{0,63}}[A-Za-z])"
        f"|(?=[0-9A-Z{others}]{{0,63}}[a-z])(?=[0-9a-z{others}]{{0,63}}[A-Z]))"
    )


#: (NVIDIA's, GitLab's, Together's, GitHub's fine-grained and LangSmith's, whose alphabet holds ``-`` and ``_``: both
#: cases among the first 64, or a run of 20 with neither mixing as :func:`_mixed` does. A digit and a letter anywhere
#: in the first 64 took a slug of words and a date, ``nvapi-docs-reference-v1-2024``, ``lsv2_pt_upload_batch_2024``,
#: for a key; the vendors' keys are base64url, both cases all but always, or LangSmith's 32 hex digits in one run)
_SLUG_OR_KEY = r"(?:(?=[0-9a-z_\-]{0,63}[A-Z])(?=[0-9A-Z_\-]{0,63}[a-z])|(?=[A-Za-z0-9]{20})" + _mixed("") + ")"
#: (Fireworks's and Replicate's: a digit, a lower case letter and a capital)
_ALL_THREE = r"(?=[A-Za-z]{0,63}[0-9])(?=[0-9A-Z]{0,63}[a-z])(?=[0-9a-z]{0,63}[A-Z])"
#: (GitLab's routable tokens go on after their payload over a ``.``, as GitLab's generator writes them
#: (``lib/authn/token_field/generator/routable_token.rb``): a version, 2 base36 digits (``01``), a ``.``, then the
#: payload's length, 2 base36 digits, and its CRC32, 7 (``glpat-<payload>.01.<2><7>``); or, as the design and GitLab's
#: own secret-detection rule have them, without the version (``glpat-<payload>.<2><7>``). The match stopped at the
#: first dot, and the version and checksum stayed in the text. The tail is exactly its 9 lower case base36 digits: any
#: run of letters took a word glued after it (``glpat-<payload>.01.<9>excellent`` lost "excellent"). Without the
#: version, a ``.`` and 9 such characters are also a sentence's end glued to a word (``.configuration``): taken only
#: where no more of a token follows)
_GITLAB_ROUTABLE = r"(?:\.[0-9a-z]{2}\.[0-9a-z]{9}|\.[0-9a-z]{9}(?![0-9A-Za-z_\-]))?"
_VENDOR_KEY = (
    _BEFORE_A_PREFIX
    + r"(?:(?:gsk_|xai-|pplx-|csk-|r8_" + _ALL_THREE + r"|fw_" + _ALL_THREE + r"|esecret_|jina_|gh[pousr]_)"
    r"(?=[A-Za-z0-9]{20})" + _mixed("") + r"(?>[A-Za-z0-9]+)"
    r"|(?:nvapi-|tgp_v1_|github_pat_|lsv2_(?:pt|sk)_)(?=[A-Za-z0-9_\-]{20})" + _SLUG_OR_KEY
    + r"(?>[A-Za-z0-9_\-]+)"
    r"|glpat-(?=[A-Za-z0-9_\-]{20})" + _SLUG_OR_KEY + r"(?>[A-Za-z0-9_\-]+)" + _GITLAB_ROUTABLE
    + r"|hf_(?=[A-Za-z]{0,33}[a-z])(?=[A-Za-z]{0,33}[A-Z])[A-Za-z]{34}(?![A-Za-z0-9]))"
)
#: (compiled when a text first holds a trigger word: some 20 ms of a start that searches none, see lazy_pattern)
_SECRET_PATTERNS = compiled_on_first_use(
    r"(?:(?=sk-)(?:(?<![A-Za-z])|(?<=%[0-9A-Fa-f]{2})|(?<=\\[nrtbf])|(?<=\\x[0-9A-Fa-f]{2})|(?<=\\u[0-9A-Fa-f]{4})"
    r"|(?i:(?<=bearer)))sk-(?=[A-Za-z0-9_\-]{8}|[A-Za-z0-9_\-]{0,7}" + _MASK + r")(?>[A-Za-z0-9_\-]*)"
    + "(?:" + _MASKED_REST + ")?"
    + r"|AIza(?=[0-9A-Za-z_\-]{20}|[0-9A-Za-z_\-]{0,19}" + _MASK + r")(?>[0-9A-Za-z_\-]*)(?:" + _MASKED_REST + ")?"
    + "|" + _VENDOR_KEY
    + r"|(?i:bearer)" + _BEARER_SEPARATOR + _BEARER_VALUE
    + r"|(?<![A-Za-z0-9_\-])(?>(?P<glued>[A-Za-z0-9_\-]*?)(?=eyJ))"
    r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\." + _JWT_SIGNATURE
    + r"|(?P<label>(?i:(?:" + _LABEL_WORD + ")" + _LABEL_SEPARATOR + "|" + _AUTHORIZATION + "|" + _KEY_PROVIDED
    + r"|(?:[?&]|%3[Ff]|%26|\\{1,3}u0026)(?:key|token|access_token|sig|signature)" + _EQUALS + "))" + _LABELLED_VALUE
    + ")" + _GLUED
)


def _redacted(match: re.Match[str]) -> str:
    start, end = match.span("glued")
    if start != end:  # (it holds no eyJ: no JWT, whatever else it may hold)
        return _redacted_between(match.string, start, end) + "[REDACTED]"
    found = match.group()
    if found[:6].lower() == "bearer" and not found[6].isspace():  # (the scheme kept: see _BEARER_SEPARATOR)
        kept = _BEARER_KEPT.match(found)
        return (kept[0] if kept else "") + "[REDACTED]"
    label = match["label"] or ""
    if label and _AFTER_BASIC.search(label) and _words_after_basic(match.string, match.end("label")):
        return label + _redacted_between(match.string, match.end("label"), match.end())
    return label + "[REDACTED]"


#: a label that ends with the ``Basic`` scheme and its separator (``Authorization: Basic``, ``%20Basic%20``)
_AFTER_BASIC = re.compile(r"(?i:basic)(?:\s|%20|[:=]|%3[AaDd])*\Z")
_A_VALUE = re.compile(_LABELLED_VALUE)
_A_TOKEN = re.compile(_TOKEN_AHEAD)
_BASE64 = re.compile(r"([A-Za-z0-9+/]+)(?:=|%3[Dd]){0,2}")


def _words_after_basic(text: str, at: int) -> bool:
    """Whether the value at ``at`` of ``text``, after a ``Basic`` scheme, is words, not a credential: no token by the
    Bearer rule (:data:`_TOKEN_AHEAD`), nor masked, nor base64 of a printable ``user-id:password``."""
    value = _A_VALUE.match(text, at)
    if value is None or _A_TOKEN.match(text, at):
        return False
    whole = _BASE64.fullmatch(value[0])
    return whole is not None and not _a_basic_credential(whole[1])


def _a_basic_credential(digits: str) -> bool:
    """Whether base64 ``digits`` (unpadded; its start only, when a message cut it) decode to printable text holding
    a ``:``: a ``user-id:password`` (RFC 7617), in UTF-8, or else in Latin-1 whose characters past ASCII are letters,
    a third of it at most (``jos\u00e9:m\u00f6t\u00f6rhead``). Any printable Latin-1 took 1 word in 800 after ``Basic``
    (one starting with ``O`` and one of ``g``-``v`` decodes to a ``:`` first: "Overview" to ``:`` and five
    symbols); so, 1 in 9,600, where the guess at the ``:`` this replaces took 1 in 90 (counted on 134,626 words of
    Python's library, capitalised too: 169, 14 and 1,505 of them)."""
    digits = digits[: len(digits) - (len(digits) % 4 == 1)]
    try:
        raw = base64.b64decode(digits + "=" * (-len(digits) % 4), validate=True)
    except binascii.Error:
        return False
    try:
        said = raw.decode("utf-8")
    except UnicodeDecodeError:
        said = raw.decode("latin-1")
        beyond = [c for c in said if not c.isascii()]
        if 3 * len(beyond) > len(said) or not all(c.isalpha() for c in beyond):
            return False
    return ":" in said and said.isprintable()


def _redacted_between(text: str, start: int, end: int) -> str:
    """``text[start:end]`` redacted where it stands, not as a string of its own: an ``sk-`` key in it may be one by
    the escape before it (``\\nsk-...``, ``%3Dsk-...``: its ``n``, its ``D`` are letters), which the pattern's look
    behind reads before ``start`` (a JWT glued after such a key left the key in the text)."""
    parts: list[str] = []
    done = start
    for found in _SECRET_PATTERNS.finditer(text, start, end):
        parts += (text[done : found.start()], _redacted(found))
        done = found.end()
    return "".join(parts) + text[done:end]


#: a piece of an ``sk-`` key after its prefix: 8 characters or more between dashes and underscores mixing letters with
#: digits, or a lower case letter with a capital after it (``Ab3dEf6h``, ``3f9a1c7e``; never ``instruct``, ``Legal``)
_RANDOM_PIECE = re.compile(r"(?=[^-_]*[0-9])(?=[^-_]*[A-Za-z])[^-_]{8,}|(?=[^-_]*[a-z][^-_]*[A-Z])[^-_]{8,}")


def _key_shaped(match: re.Match[str]) -> bool:
    """Whether a match of :data:`_SECRET_PATTERNS` in a name is a key. Redacting, "sk-" and 8 characters is
    enough (a word masked costs little); refusing a name, it is not: "mistral-sk-7b-instruct-v1" (Slovak),
    "sk-planner-agent" and a fine-tune's suffix "sk-classifier-v2" are names. A key of any vendor's that starts
    with "sk-" (OpenAI's, Anthropic's, DeepSeek's, Moonshot's, OpenRouter's, a LiteLLM proxy's) has 20 characters
    or more after it, random ones among them; any other shape (a label's value, a JWT, ``AIza...``) is a key."""
    found = match.group()
    if match["label"] is not None or not found.startswith("sk-"):
        return True
    return len(found) >= 23 and _RANDOM_PIECE.search(found, 3) is not None


#: how much of a text :data:`_SECRET_PATTERNS` reads whole, from its start (as much as
#: :func:`~magsag_mcp.redaction.excerpt` keeps of an error's body: a body quoted whole is read whole). The pattern has
#: no literal start to skip to, and tries each of its alternatives at every character: 350 ms to 1.2 s a MB of base64
#: (an image's data in a request quoted back), each time a message, a record or a log line was made of it. Past it,
#: only windows around where a key's shape could start are read (see :func:`without_key_shapes`)
_SHAPES_READ = 65536
#: how many characters of a text the pattern reads at most, its first :data:`_SHAPES_READ` and its windows together.
#: Past them, the text is masked from where a key's shape could start (:data:`_A_VALUES_RUN`). Masked so from its first
#: trigger word past 64 KB, an ``obs.log`` event over 64 KB lost its words to a "sig" in "design", a "key" in
#: "monkey", a "token" in ``input_tokens`` (``{"usage": {"input_tokens": 10}}`` was stored ``{"[REDACTED]": 10}``)
_SHAPES_READ_MOST = 262144
#: how far a window reads past where a shape could start (a label, its separator and its value, and the
#: :data:`_SHAPES_OVERLAP` its end leaves unsettled); one whose end leaves all of it unsettled reads twice as far
_WINDOW = 512
#: how far a window goes on over shapes' starts each within its end before it is searched (a JSON log's
#: ``input_tokens`` read in one window, not in one a word: each window's end is read again by the next)
_WINDOW_LONGEST = 16384
#: how far before the end of what the pattern read a shape may start that it did not find there (its look aheads
#: read past that end, 64 characters at most): what follows is judged as the unread text is
_SHAPES_OVERLAP = 128
#: how far before its trigger word a shape's match may start: a label's words before it (``x-goog-api-key``,
#: ``subscription-key``, ``\\\\u0026access_token``, ``api key provided``), a JWT's glued run aside
_BEFORE_TRIGGER = 32
#: the trigger words and the vendors' prefixes, each looked for in the unread text (lower-cased) on its own, in C
_ALL_TRIGGERS = (*_TRIGGERS, *(t for ts in _VENDOR_TRIGGERS.values() for t in ts))
#: the characters of a JWT's header and of what is glued before it
_RUN_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
#: what a label's or a ``Bearer``'s separator is written with (see :data:`_LABEL_SEPARATOR`, :data:`_BEARER_SPACED`):
#: the pattern's ``\\s`` (every character ``str.isspace()`` holds: a literal, as a test checks, for the search of every
#: code point for them took some 1 ms of each start), quotes, escapes' backslashes, ``:``, ``=`` and ``%20``'s
#: characters. A run of them reaching the end of what the pattern read may be a match's, its label before it (by
#: :data:`_BEFORE_SEPARATOR` at most) and its value past the bound: read from its label, not from its spaces
_SEPARATOR_CHARACTERS = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000" + "\"'\\:=%20"
)
#: how far before its separator a label may start (``\\\\u0026access_token``, ``api key provided``, a trigger word
#: with :data:`_BEFORE_TRIGGER` before it)
_BEFORE_SEPARATOR = 64
#: the characters of a JWT (its three parts and what is glued before it): one whose payload's ``.eyJ`` the pattern
#: read but whose end it did not is a run of them reaching the end of what it read
_JWT_CHARACTERS = _RUN_CHARACTERS + "."
#: what a shape's start is looked for by: its trigger word, or for a JWT its payload's ``.eyJ`` (an ``eyJ`` with no
#: ``.eyJ`` after it is no JWT: a body of ``eyJeyJ...`` with no dot is kept whole), from the start of its run
_SHAPE_WORDS = (*(t for t in _ALL_TRIGGERS if t != "eyj"), ".eyj")


def without_key_shapes(text: str) -> str:
    """``text`` less what :data:`_SECRET_PATTERNS` matches (each match replaced by :func:`_redacted`), the pattern
    reading its first :data:`_SHAPES_READ` characters, then windows from each place past them where a key's shape
    could start (:class:`_ShapeStarts`), each read on until its end cuts no shape (:func:`_settled_to`): a match
    starting in one is taken whole. What no window holds is kept. Past :data:`_SHAPES_READ_MOST` characters read,
    the rest is masked from where the next shape could start (:data:`_A_VALUES_RUN`): a key is never passed through
    unread."""
    if len(text) <= _SHAPES_READ:
        return _SECRET_PATTERNS.sub(_redacted, text)
    parts: list[str] = []
    done = read = 0
    start, end = 0, _SHAPES_READ
    starts = _ShapeStarts(text)
    while True:
        read += end - start
        # (a match ending past where the window is settled may have been cut by its end: a look ahead, a \\Z, or what
        # _GLUED takes after it, a Bearer's or a label's spaces, a JWT's payload, running past it: taken whole. Judged
        # only from the matches' ends, a key's match ended before a glued Bearer's long spaces, and its token was kept)
        settled = _settled_to(text, start, end)
        for found in _SECRET_PATTERNS.finditer(text, start, end):
            if found.start() < done:  # (inside a match before it, taken whole past the window)
                continue
            if found.end() > settled:
                found = _SECRET_PATTERNS.match(text, found.start()) or found
                read += max(0, found.end() - end)
            parts += (text[done : found.start()], _redacted(found))
            done = found.end()
        if end >= len(text):
            return "".join((*parts, text[done:]))
        following = starts.next_start(_settled_to(text, max(done, start), end), done)
        if following is None:
            return "".join((*parts, text[done:]))
        if following <= start:  # (the window's end cut all of it: a label's spaces, a JWT's run; read further)
            start, end = following, min(len(text), start + 2 * (end - start))
        else:
            start, end = following, starts.window_end(following)
        if starts.lowered is None or read + end - start > _SHAPES_READ_MOST:
            return _masked_from(text, parts, done, start)


def _settled_to(text: str, start: int, end: int) -> int:
    """Up to where ``text``, searched by the pattern from ``start`` up to ``end`` (its matches up to ``start`` taken),
    is settled: what follows may hold a shape the window's end cut. Its last :data:`_SHAPES_OVERLAP` characters (a look
    ahead reads past them); before them, a run of separators reaching them, and its label (a value after more spaces
    than they are); a JWT whose payload's ``.eyJ`` is in a run reaching them, from its run's start. (Read back to
    ``start`` at most: read from the last match's end, a window's look back read all the text since, once a window;
    a run reaching back past it settles nothing, and the window is read again, twice as long, from the run's start.)"""
    at = max(start, end - _SHAPES_OVERLAP)
    at = max(start, start + len(text[start:at].rstrip(_SEPARATOR_CHARACTERS)) - _BEFORE_SEPARATOR)
    run_from = start + len(text[start:at].rstrip(_JWT_CHARACTERS))
    payload = text.find(".eyJ", run_from, at + 3)
    if payload != -1:
        at = min(at, start + len(text[start:payload].rstrip(_RUN_CHARACTERS)))
    return at


class _ShapeStarts:
    """Where in a text a key's shape could start: :data:`_BEFORE_TRIGGER` before each of its trigger words, or a JWT's
    run's start before each ``.eyJ`` (:data:`_SHAPE_WORDS`), found in it lower-cased as the pattern's (?i:...) reads it.
    Each word's next place is remembered: the windows' look-ups, in order, pass over the text once for each word (one
    looked up anew from each window's end passed over a word the text lacks once a window)."""

    def __init__(self, text: str) -> None:
        self.text = text
        lowered = text.lower() if text.isascii() else text.translate(_RE_ALSO_ASCII).lower()
        #: None where a letter lower-cased to two (where the words stand is not known: masked from the bound)
        self.lowered = lowered if len(lowered) == len(text) else None
        #: each word's place: the first at or after where it was looked for from (-1: none)
        self._seen = dict.fromkeys(_SHAPE_WORDS, (len(text) + 1, -1))
        self._run_starts: dict[int, int] = {}

    def _found(self, word: str, at: int) -> int:
        assert self.lowered is not None
        looked_from, found = self._seen[word]
        if at < looked_from:  # (a window's end cut a shape before where it was last looked for from)
            earlier = self._find(word, at, looked_from + len(word) - 1)
            found = found if earlier == -1 else earlier
        elif found != -1 and found < at:
            found = self._find(word, at, len(self.lowered))
        else:
            return found
        self._seen[word] = (at, found)
        return found

    def _find(self, word: str, at: int, end: int) -> int:
        """The first place of ``word`` from ``at`` (ending by ``end``) where a shape could hold it: one of
        :data:`_MID_WORD` that a word's characters go on after (but for its label's own ending) is passed over."""
        assert self.lowered is not None
        outside = _MID_WORD.get(word)
        if outside is None:
            return self.lowered.find(word, at, end)
        # (read past ``end`` as far as the pattern looks: cut there, a word going on past it was taken as ended)
        found = outside.search(self.lowered, at, end + MID_WORD_LOOKS)
        return -1 if found is None or found.start() + len(word) > end else found.start()

    def _run_start(self, end: int) -> int:
        """Where the run of a JWT's header's characters (and what is glued before it) ending at ``end`` starts: read
        back in spans twice as long each (the run before each ``.eyJ`` once)."""
        if end not in self._run_starts:
            span = 256
            while (lo := max(0, end - span)) and not self.text[lo:end].rstrip(_RUN_CHARACTERS):
                span *= 2
            self._run_starts[end] = lo + len(self.text[lo:end].rstrip(_RUN_CHARACTERS))
        return self._run_starts[end]

    def next_start(self, at: int, done: int) -> int | None:
        """Where, ``done`` at the earliest, the first shape could start whose word is at ``at`` or after it; None where
        none could (the text masked from ``at`` where the words' places are not known)."""
        if self.lowered is None:
            return at
        places = [found for word in _SHAPE_WORDS[:-1] if (found := self._found(word, at)) != -1]
        first = min(places) - _BEFORE_TRIGGER if places else None
        if (payload := self._found(".eyj", at)) != -1:
            header = self._run_start(payload)
            first = header if first is None else min(first, header)
        return None if first is None else max(done, first)

    def window_end(self, start: int) -> int:
        """The end of the window read from ``start``: :data:`_WINDOW` on, and on past each shape's start within its end
        (:data:`_WINDOW_LONGEST` at most)."""
        end = start + _WINDOW
        while end - start < _WINDOW_LONGEST and end < len(self.text):
            places = [f for word in _SHAPE_WORDS if (f := self._found(word, end - _SHAPES_OVERLAP)) != -1]
            following = min(places, default=-1)
            if following == -1 or following >= end:
                break
            end = following + _WINDOW
        return min(end, len(self.text))


def _masked_from(text: str, parts: list[str], done: int, cut: int) -> str:
    """``text`` redacted: ``parts`` up to ``done``, its text kept up to ``cut``, and each run of :data:`_A_VALUES_RUN`
    from there on masked."""
    parts.append(text[done:cut])
    for run in _A_VALUES_RUN.finditer(text, cut):  # (from the text's own place: the character before a run is read)
        parts += (text[cut : run.start()], _masked_run(run))
        cut = run.end()
    return "".join((*parts, text[cut:]))


#: what of the text past :data:`_SHAPES_READ_MOST` is masked, from where a key's shape could start: each run of 8 or
#: more characters a credential's value is written with (a label's, a Bearer token's, a vendor's key, a JWT, a key
#: masked by its vendor with ``*``, ``\u2022`` or an ellipsis), all of it, a word too. Its punctuation, quotes, spaces
#: and line breaks are kept: cut there, an event's data stored as JSON was no JSON (a strict parser refused it), and a
#: log line lost its end
_A_VALUES_RUN = re.compile(r"[A-Za-z0-9._~+/=%*\-\u2022\u2026]{8,}")


def _masked_run(run: re.Match[str]) -> str:
    """``[REDACTED]`` for ``run``, less an escape's letters at its start (JSON's ``\\n``, ``\\u00e9``: the
    backslash before the run kept, the escape written whole, or the JSON would be none)."""
    found, at = run[0], run.start()
    if at and run.string[at - 1] == "\\":
        kept = 5 if found[0] == "u" else 1
        return found[:kept] + ("[REDACTED]" if len(found) > kept else "")
    return "[REDACTED]"
