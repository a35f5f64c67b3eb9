"""Per-client bearer tokens, each pinned to an agent: the file ``MAGSAG_MCP_TOKENS_FILE`` names.

One server for a team has one shared token otherwise: every client can name any agent, so the policy's per-agent
limits bind nobody, the ledger's agent column is whatever a client claims, and one leaked token is rotated for
everyone. Here each client has its own token, and the token says which agent its calls are recorded under and held
to (as ``magsag-mcp --agent`` pins a server's one client).

The file, one entry a line::

    # AGENT TOKEN  (a space or tab between them)
    research-bot  Fh3kQ8wZx2Nr7mTb5vLc9pJ
    ops-team      pV4nR8xK2wM6qT9bZ3cL7yH

Lines starting with ``#`` and blank lines are skipped. A variable of its own, not ``MAGSAG_MCP_TOKEN_FILE``'s
format extended: a single token may hold a space or begin with ``#`` (both printable ASCII, sent as they are), and
such a file, read as entries, would have changed meaning with no word said.

Refused, each naming its line and never quoting a token: a line that is not two words, a character other than
printable ASCII, an agent name the ledger would refuse, a token two lines share (it could not say whose a call
is), and beyond loopback a token under :data:`.http.MIN_TOKEN_LENGTH` characters. Two tokens for one agent are
allowed: a new token beside the old while clients move to it, or two people sharing one agent's budget.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..errors import ConfigError, InputError
from .secret_files import marked_encoding, read_secret_file, unmarked

TOKENS_FILE_ENV = "MAGSAG_MCP_TOKENS_FILE"
#: the most the file is read of: some 50 bytes an entry, so thousands of clients (see
#: :func:`.secret_files.read_secret_file`)
MAX_TOKENS_FILE_BYTES = 256 * 1024
#: the command every refusal of a token (this file's, and MAGSAG_MCP_TOKEN's: see .http) says makes one: in double
#: quotes, which every shell takes (cmd.exe passes single quotes on as they are, and Python ran "'import": a
#: SyntaxError)
NEW_TOKEN = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
#: an entry: the agent, a run of spaces or tabs, the token (neither holds a space)
_ENTRY = re.compile(r"(?P<agent>[^ \t]+)[ \t]+(?P<token>[^ \t]+)")


@dataclass(frozen=True)
class ClientToken:
    """One client's entry: the agent its calls are recorded under, its token (never shown: not in ``repr``), and
    the line of the file it is on (refusals name the line, never the token)."""

    agent: str
    token: str = field(repr=False)
    line: int


def client_tokens_setting(env: Mapping[str, str]) -> tuple[ClientToken, ...]:
    """The entries of the file ``MAGSAG_MCP_TOKENS_FILE`` names (none: the variable is unset). Not beside
    ``MAGSAG_MCP_TOKEN`` or ``MAGSAG_MCP_TOKEN_FILE``: a shared token beside them would let its holder name any
    agent, which is what the file is there to stop."""
    from .http import TOKEN_ENV
    from .token_setting import TOKEN_FILE_ENV

    named = (env.get(TOKENS_FILE_ENV) or "").strip()
    if not named:
        return ()
    for other in (TOKEN_ENV, TOKEN_FILE_ENV):
        if env.get(other):
            raise ConfigError(
                f"both {TOKENS_FILE_ENV} and {other} are set; set one of them: {TOKENS_FILE_ENV}'s file gives each "
                f"client a token of its own, pinned to its agent (write a shared token there as an entry, if one is "
                f"still needed), or unset {TOKENS_FILE_ENV} for the one token"
            )
    return read_client_tokens(named)


def read_client_tokens(named: str) -> tuple[ClientToken, ...]:
    """The entries of the file ``named`` (``MAGSAG_MCP_TOKENS_FILE``'s value), each line checked: at the start, and
    again where the file changes under a running server (:mod:`.token_reload`)."""
    data = read_secret_file(TOKENS_FILE_ENV, named, limit=MAX_TOKENS_FILE_BYTES, holds="the AGENT TOKEN lines")
    return parse_client_tokens(data)


def parse_client_tokens(data: bytes) -> tuple[ClientToken, ...]:
    """The entries of a tokens file's ``data``, each line checked (see the module's docstring)."""
    entries: list[ClientToken] = []
    first_line_of: dict[str, int] = {}
    for number, raw in enumerate(_unmarked(data).split(b"\n"), start=1):
        raw = raw.removesuffix(b"\r")  # a file written on Windows
        where = f"line {number} of the file {TOKENS_FILE_ENV} names"
        if any(not 0x20 <= byte <= 0x7E and byte != 0x09 for byte in raw):
            raise ConfigError(
                f"{where} has a character other than printable ASCII (no client can send one in a header, and "
                f"agent names here are ASCII too); write its token anew with {NEW_TOKEN}"
            )
        text = raw.decode("ascii")
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        if text != text.strip():
            raise ConfigError(
                f"{where} begins or ends with a space or tab; write it as AGENT TOKEN with nothing around them"
            )
        match = _ENTRY.fullmatch(text)
        if match is None:
            words = len(text.split())
            raise ConfigError(
                f"{where} is {words} word{'s' if words != 1 else ''}, not AGENT TOKEN: write the agent's name, a "
                "space, then its token (neither holds a space; a comment line begins with #)"
            )
        agent, token = match["agent"], match["token"]
        _check_agent(agent, where)
        _check_token(token, where)
        if token in first_line_of:
            raise ConfigError(
                f"{where} has the token line {first_line_of[token]} has: a token names one client's agent; give "
                f"each line a token of its own ({NEW_TOKEN})"
            )
        first_line_of[token] = number
        entries.append(ClientToken(agent=agent, token=token, line=number))
    if not entries:
        raise ConfigError(
            f"the file {TOKENS_FILE_ENV} names has no entry; write one AGENT TOKEN line a client, the token the "
            f"output of {NEW_TOKEN}"
        )
    return tuple(entries)


def _unmarked(data: bytes) -> bytes:
    """The file's bytes as UTF-8 without a byte order mark (:func:`.secret_files.unmarked`: as
    ``MAGSAG_MCP_TOKEN_FILE``'s file is read). Each line's characters are then checked as ever (a character past
    ASCII refused naming its line)."""
    try:
        return unmarked(data)
    except UnicodeError:
        encoding = marked_encoding(data)
        raise ConfigError(
            f"the file {TOKENS_FILE_ENV} names begins with {encoding}'s byte order mark but is no {encoding} text: "
            f"write it anew as ASCII, one AGENT TOKEN line a client ({NEW_TOKEN})"
        ) from None


def _check_agent(agent: str, where: str) -> None:
    """An agent name the ledger records (:func:`~magsag_mcp.text.check_name`), refused without quoting it: a line
    written TOKEN AGENT has the token first."""
    from ..text import NAME_MAX, check_name

    try:
        check_name(agent, "agent")
    except InputError:
        raise ConfigError(
            f"{where}: its agent name (the first word) is not one the ledger records: at most {NAME_MAX} "
            "characters, and nothing shaped like a key or token; is the line written TOKEN AGENT? The agent comes "
            "first"
        ) from None


def _check_token(token: str, where: str) -> None:
    from ..key_placeholders import not_a_whole_key

    if not_a_whole_key(token) or token.startswith(("${", "<")):
        raise ConfigError(f"{where}: its token is a placeholder (an example's); write a token there: {NEW_TOKEN}")


def check_client_tokens(host: str, entries: Sequence[ClientToken]) -> None:
    """Beyond loopback, every token at least :data:`.http.MIN_TOKEN_LENGTH` characters (as the one token): it is
    all that stands between the network and the budget."""
    from .http import MIN_TOKEN_LENGTH, is_loopback

    if is_loopback(host):
        return
    for entry in entries:
        if len(entry.token) < MIN_TOKEN_LENGTH:
            raise ConfigError(
                f"line {entry.line} of the file {TOKENS_FILE_ENV} names has a token of {len(entry.token)} "
                f"characters; to listen on {host} each must be at least {MIN_TOKEN_LENGTH}: write the output of "
                f"{NEW_TOKEN}"
            )

