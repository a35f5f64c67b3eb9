"""A minimal SSE reader, independent of the one in ``magsag_mcp.transport``, for tests that check what a
fake streams with a plain aiohttp client (so a bug in the code under test cannot hide one in a fake)."""

from __future__ import annotations

import aiohttp


async def sse_blocks(resp: aiohttp.ClientResponse) -> list[tuple[str | None, str]]:
    """(event name, data) per blank-line-terminated block of ``resp``; a block's data lines are joined by
    newlines, and blocks without data (comments, keep-alives) are skipped."""
    events: list[tuple[str | None, str]] = []
    name: str | None = None
    data: list[str] = []
    async for raw in resp.content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data:
                events.append((name, "\n".join(data)))
            name, data = None, []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
    return events
