"""What ``magsag doctor --probe`` says of a reachable local server: the models it serves (its ``GET /models``, read
as a model-not-found reads it: bounded in time, bytes and names, :func:`~.providers.local_models.served_models`), and
which of the configured local targets name a model it lacks, each with the fix a call to it would be told."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .errors import redact
from .providers.base_urls import _shown
from .providers.local_models import LISTED, missing_model_fix, served_models
from .types import Target

#: a model Ollama serves under its name with ``:latest``, which a target may write without it (``llama3``)
_LATEST = ":latest"


def _serves(served: set[str], model: str) -> bool:
    """Whether ``model`` is among ``served``, as Ollama takes a name: ``llama3`` is ``llama3:latest``."""
    if model in served:
        return True
    return ":" not in model.rpartition("/")[2] and model + _LATEST in served


async def local_models(provider: Any, targets: Iterable[Target]) -> dict[str, Any] | None:
    """``{base_url, models, more, missing}`` of the local server the environment names (as messages show its URL):
    the first :data:`~.providers.local_models.LISTED` model names, how many more, and each configured local target
    sent there (no base_url of its own) whose model it does not serve, with its fix. None where its list cannot be
    read (no such route, not JSON, too large, not in time): the probe's own status says the server."""
    probe = Target("local", "probe")
    endpoint = provider.endpoint
    served = await served_models(provider.transport, endpoint.probe_url(probe), endpoint.headers("probe"))
    if served is None:
        return None
    shown = redact(_shown(endpoint.base_url(probe)))
    names = set(served)
    missing: dict[str, str] = {}
    for target in targets:
        if target.provider != "local" or target.base_url or target.label in missing or _serves(names, target.model):
            continue
        missing[target.label] = missing_model_fix(target.model, served, shown)
    return {"base_url": shown, "models": served[:LISTED], "more": max(0, len(served) - LISTED), "missing": missing}
