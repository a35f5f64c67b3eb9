"""What a local server serves, said where a model it does not have was asked for.

Ollama answers an unknown model 404 ``model "x" not found, try pulling it first``, vLLM ``The model `x` does not
exist.``: neither says the names it does serve, which differ from one server to another (Ollama's ``llama3.1:8b``,
vLLM's ``meta-llama/Llama-3.1-8B-Instruct`` or its ``--served-model-name``, LM Studio's ``qwen2.5-7b-instruct``). The
server's own list (``GET /models``, which every one of them serves) is read once the call has failed, and said with
the fix.

The list is read after the call has failed, inside the attempt's deadline: it is bounded in time (a server that
trickles it must not turn the model-not-found into the call's deadline running out, recorded as a timeout), in
bytes, and in the names compared for "did you mean" (difflib's comparisons run on the event loop: a gateway listing
100,000 long names similar to the one asked for held it for minutes)."""

from __future__ import annotations

import difflib

from ..deadline import Deadline, before_the_deadline
from ..errors import ProviderError, redact
from ..text import MODEL_MAX
from ..transport import Timeouts, Transport

#: how many of the server's names a message lists (a server with hundreds of models is said as "and N more")
LISTED = 10
#: a name longer than this is no model's name a message should carry
_LONGEST_NAME = min(200, MODEL_MAX)
#: the list is a loopback GET the server answers at once, loaded model or not; a slow one is not waited for
_LIST_TIMEOUTS = Timeouts(3.0, 5.0, from_settings=False)
#: the longest the list is waited for in all (a server that trickles it resets a read timeout with every byte), and
#: never more than half what is left of the call's deadline (see :func:`~.deadline.before_the_deadline`)
LIST_WAIT_S = 5.0
#: the most of the list's body read: some 10,000 models as Ollama, vLLM or a gateway describe them
LIST_MAX_BYTES = 2 * 1024 * 1024
#: the most names compared with the one asked for, for "did you mean" (the first the server lists)
COMPARED = 1000


def ollama_cloud_model(model: str) -> bool:
    """Whether ``model``, named on a local server, is an Ollama cloud model (tag ``cloud`` or ``...-cloud``:
    ``gpt-oss:120b-cloud``, ``gemma4:cloud``, in any case, as Ollama's names are): named on the local server as its
    downloaded models are, it runs on ollama.com, to which the server sends the prompt, and is billed there (a plan's
    usage, not tokens on the operator's machine). A digest or build after the tag (``...:120b-cloud@sha256-...``,
    ``+Q4_0``, as Ollama's names may carry them) names the same model."""
    name = model.partition("@")[0]
    _, sep, tag = name.rpartition(":")
    tag = tag.partition("+")[0].lower()
    return bool(sep) and "/" not in tag and (tag == "cloud" or tag.endswith("-cloud"))


async def served_models(transport: Transport, url: str, headers: dict[str, str]) -> list[str] | None:
    """The model ids the OpenAI model list at ``url`` names (``{"data": [{"id": ...}]}``), or None where it cannot
    be read (no such route, not JSON, not reachable, too large, not whole within :data:`LIST_WAIT_S`): the failed
    call's own error is then said alone. Only the names a target could give are kept (printable, and no longer than
    a model's name is): a server's escape sequence or line break would reach the caller's terminal and log lines."""
    try:
        async with Deadline(before_the_deadline(LIST_WAIT_S)):
            resp = await transport.get(url, headers=headers, timeouts=_LIST_TIMEOUTS, max_body_bytes=LIST_MAX_BYTES)
        if resp.status != 200:
            return None
        body = resp.json()
    except (ProviderError, ValueError, TimeoutError):  # (TimeoutError: the wait above, not the call's deadline)
        return None
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return None
    ids = (item.get("id") for item in data if isinstance(item, dict))
    return list(dict.fromkeys(i for i in ids if isinstance(i, str) and _nameable(i)))


def _nameable(name: str) -> bool:
    """Whether a target could name ``name`` (see ``targets._check_printable``): what the fix says to write."""
    return 0 < len(name) <= _LONGEST_NAME and name.isprintable() and name.strip() == name


def missing_model_fix(model: str, served: list[str] | None, shown_base: str, *, none_loaded: bool = False) -> str:
    """The fix for ``model`` not found at the server at ``shown_base`` (as messages show it), which serves
    ``served`` (None: unknown). ``none_loaded``: the server said it has no model loaded (LM Studio's "No models
    loaded"), the model on its disk perhaps: loading it is the fix, not fetching it (told `ollama pull`, an LM Studio
    user downloaded again what they had)."""
    pull = (
        f"fetch it (Ollama: `ollama pull {model}`; vLLM serves the model it was started with, LM Studio the ones "
        "loaded)"
    )
    if none_loaded:
        return redact(
            f"the server at {shown_base} has no model loaded (LM Studio, without just-in-time loading, answers only "
            f"the models loaded): load it with `lms load {model}` or in LM Studio's Developer tab, or turn on "
            "Just-in-Time Model Loading in its Developer settings, then call again"
        )
    if served is None:
        return redact(pull)
    if not served:
        return redact(f"the server at {shown_base} serves no model yet: {pull}")
    near = difflib.get_close_matches(model, served[:COMPARED], n=1, cutoff=0.6)
    listed = ", ".join(served[:LISTED]) + (f" and {len(served) - LISTED} more" if len(served) > LISTED else "")
    said = f"the server at {shown_base} serves {listed}"
    if near:
        said += f" (did you mean {near[0]}?)"
    return redact(f"{said}: name one of them, or {pull}")
