"""Whether a value set where a key or a token goes is a placeholder copied from an example, not a key: asked of a
provider's key before a request (:mod:`.providers.endpoint`), and of the HTTP server's tokens as it starts and as a
request brings one (:mod:`.mcp_server.client_tokens`, :mod:`.mcp_server.bearer`). A module of its own, importing
nothing: the server's start read a token per client (``MAGSAG_MCP_TOKENS_FILE``) through the provider's endpoint,
which imported the transport and aiohttp (some 110 modules) before the answer to ``initialize``."""

from __future__ import annotations

import re

#: what the users' guide and the examples write where a key goes ("sk-...", "sk-ant-...", "...", "sk-your-openai-key",
#: "YOUR_API_KEY", "<your-key>"), and a key shown shortened ("sk-proj-abc...wxyz"): no vendor's key holds '...',
#: nor is "your" followed by words alone. Sent, it would cost a round trip to be refused with a 401, and
#: `magsag doctor` would call the provider ready.
_YOUR_KEY = re.compile(r"(?i)(sk-(ant-)?)?<?your[-_ ][a-z_ -]*>?")


def not_a_whole_key(value: str) -> bool:
    """Whether ``value``, set where a key goes, is a placeholder copied from an example rather than a key."""
    return "..." in value or "\u2026" in value or _YOUR_KEY.fullmatch(value.strip()) is not None
