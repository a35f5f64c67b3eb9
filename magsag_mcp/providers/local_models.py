"""What a local server serves, said where a model it does not have was asked for.

Ollama answers an unknown model 404 ``model "x" not found, try pulling it first``, vLLM ``The model `x` does not
exist.``: neither says the names it does serve, which differ from one server to another (Ollama's ``llama3.1:8b``,
vLLM's ``meta-llama/Llama-3.1-8B-Instruct`` or its ``--served-model-name``, LM Studio's ``qwen2.5-7b-instruct``). The
server's own list (``GET /models``, which every one of them serves) is read once the call has failed, and said with
the fix."""

from __future__ import annotations

import difflib

from ..errors import ProviderError, redact
from ..transport import Timeouts, Transport

#: how many of the server's names a message lists (a server with hundreds of models is said as "and N more")
LISTED = 10
#: a name longer than this is no model's name a message should carry
_LONGEST_NAME = 200
#: the list is a loopback GET the server answers at once, loaded model or not; a slow one is not waited for
_LIST_TIMEOUTS = Timeouts(3.0, 5.0, from_settings=False)


async def served_models(transport: Transport, url: str, headers: dict[str, str]) -> list[str] | None:
    """The model ids the OpenAI model list at ``url`` names (``{"data": [{"id": ...}]}``), or None where it cannot
    be read (no such route, not JSON, not reachable): the failed call's own error is then said alone."""
    try:
        resp = await transport.get(url, headers=headers, timeouts=_LIST_TIMEOUTS)
        if resp.status != 200:
            return None
        body = resp.json()
    except (ProviderError, ValueError):
        return None
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return None
    ids = (item.get("id") for item in data if isinstance(item, dict))
    return list(dict.fromkeys(i for i in ids if isinstance(i, str) and i and len(i) <= _LONGEST_NAME))


def missing_model_fix(model: str, served: list[str] | None, shown_base: str) -> str:
    """The fix for ``model`` not found at the server at ``shown_base`` (as messages show it), which serves
    ``served`` (None: unknown)."""
    pull = (
        f"fetch it (Ollama: `ollama pull {model}`; vLLM serves the model it was started with, LM Studio the ones "
        "loaded)"
    )
    if served is None:
        return redact(pull)
    if not served:
        return redact(f"the server at {shown_base} serves no model yet: {pull}")
    near = difflib.get_close_matches(model, served, n=1, cutoff=0.6)
    listed = ", ".join(served[:LISTED]) + (f" and {len(served) - LISTED} more" if len(served) > LISTED else "")
    said = f"the server at {shown_base} serves {listed}"
    if near:
        said += f" (did you mean {near[0]}?)"
    return redact(f"{said}: name one of them, or {pull}")
