"""search_usage's hits with a logged event's long data cut, for a client whose answer goes into a model's context.

``obs.log`` (and the service's ``log_event``) records an event's data of any size: an agent that logged a whole answer
or prompt in one got it back whole in each hit, fifty to a page by default, all of it in the calling model's context
window. A hit whose data's JSON is longer than :data:`EVENT_DATA_CHARS` carries the start of that JSON, as text, with
``data_chars`` its whole length, and a note says where it is read whole (``magsag data search``, which prints it). The
search itself still matches the whole data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..plurals import agreeing

#: the most characters of an event's data's JSON a hit carries
EVENT_DATA_CHARS = 2000


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)


def cut_event_data(page: Mapping[str, Any]) -> dict[str, Any]:
    """``page`` (a search page: ``hits``, ``notes``...) with each event hit's data longer than :data:`EVENT_DATA_CHARS`
    as JSON cut to that (``data_chars``: its whole length), and a note of how many were."""
    hits: list[Any] = []
    cut = 0
    for hit in page.get("hits", []):
        if isinstance(hit, Mapping) and hit.get("kind") == "event":
            text = _json(hit.get("data"))
            if len(text) > EVENT_DATA_CHARS:
                hit = {**hit, "data": text[:EVENT_DATA_CHARS], "data_chars": len(text)}
                cut += 1
        hits.append(hit)
    if not cut:
        return dict(page)
    note = (
        f"{cut} {agreeing(cut, 'event')}' data longer than {EVENT_DATA_CHARS} characters of JSON "
        f"{'is' if cut == 1 else 'are'} cut to {'its' if cut == 1 else 'their'} start, as text (data_chars: the whole "
        "length); `magsag data search` with the same pattern prints the data whole"
    )
    return {**page, "hits": hits, "notes": [*page.get("notes", []), note]}
