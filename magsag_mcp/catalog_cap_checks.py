"""The check of routing's ``request_caps`` against the targets routing names, which ``magsag catalog validate`` and
``magsag doctor`` give as notes: an entry (a name or a glob) that matches no target of the default chain, a tier, a
route or ``provider_defaults`` caps nothing a routed call sends. A misspelt model (``claude-sonet-4-5``) or a glob
that reaches none of the models meant (``local:llama*`` beside ``local:Llama-3.1-8B``) was read, kept and enforced on
nothing, without a word, and the account's limit was met by 429s as before.

A note, not a problem: such an entry still caps a call that names its model itself (a call's ``preferred_model``,
``MAGSAG_MODEL``), which may be what it was written for; the catalog works as written.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from .catalog import Catalog
from .governance.model_patterns import nearest_model
from .request_caps import RequestCap
from .types import Target


def unreached_request_caps(catalog: Catalog) -> list[str]:
    """A note for each ``request_caps`` entry that matches no target routing names (see the module's docstring),
    with the file and key it is written at and the routed target nearest its key."""
    targets = catalog.routing.all_targets()
    notes = []
    for cap in catalog.request_caps:
        if any(cap.matches(target.provider, target.model) for target in targets):
            continue
        nearest = _nearest_target(cap, targets)
        said = f"did you mean {nearest!r}?" if nearest else f"routing names no {cap.provider} target"
        notes.append(
            f"{cap.where}: {cap.key!r} matches no target of routing (its default chain, tiers, routes or "
            f"provider_defaults), so it caps only calls that name such a model themselves; {said}"
        )
    return notes


#: how alike a key's model and another provider's target must be to be offered (difflib's ratio): ``openai:my-gpt4o``
#: for ``azure:my-gpt4o``, a deployment's name under the wrong provider; not any model at all
_OTHER_PROVIDER_ALIKE = 0.75


def _nearest_target(cap: RequestCap, targets: list[Target]) -> str | None:
    """The routed target ``cap``'s key is nearest: a misspelling of one of its provider's (:func:`nearest_model`, the
    one did-you-mean of a model's name), else the most alike of its provider's targets; with none of its provider's,
    another provider's target of a model much like it; else None."""
    models = list(dict.fromkeys(target.model for target in targets if target.provider == cap.provider))
    if models:
        nearest = nearest_model(cap.model, models) or difflib.get_close_matches(cap.model, models, 1, 0)[0]
        return f"{cap.provider}:{nearest}"
    others = {target.model: target.label for target in reversed(targets)}  # (each model's first target)
    close = difflib.get_close_matches(cap.model, list(others), 1, _OTHER_PROVIDER_ALIKE)
    return others[close[0]] if close else None


def request_cap_notes(catalog_root: Any, env: Mapping[str, str] | None = None) -> list[str]:
    """The notes :func:`unreached_request_caps` makes of the catalog at ``catalog_root`` (``magsag catalog
    validate``'s): none where it cannot be loaded, which validate lists as problems."""
    from .catalog import load_catalog
    from .errors import CatalogError

    try:
        catalog = load_catalog(catalog_root, env)
    except CatalogError:
        return []
    return unreached_request_caps(catalog)
