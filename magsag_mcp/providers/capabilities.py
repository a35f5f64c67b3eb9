"""What a target can do (tools, JSON output, a JSON schema, streaming): :class:`Capabilities`, as a provider
class declares it and as a target's ``params.capabilities`` narrows it for a server that lacks a feature."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from ..types import Target


@dataclass(slots=True, frozen=True)
class Capabilities:
    tools: bool = True
    json: bool = True
    json_schema: bool = True
    streaming: bool = True
    #: a picture by its https URL, which the vendor fetches (Gemini takes a picture's bytes alone)
    image_urls: bool = True
    #: a GIF picture (Gemini reads PNG, JPEG, WebP, HEIC and HEIF alone)
    gif_images: bool = True

    def missing(self, needs: set[str]) -> list[str]:
        if not needs:  # most calls need none of them: no generator to sort
            return []
        return sorted(n for n in needs if not getattr(self, n))


CAPABILITY_NAMES = frozenset(f.name for f in fields(Capabilities))
#: what a target that lacks a feature is told to do instead, where there is something (a skip's reason says it)
FEATURE_FIXES = {
    "image_urls": "send each picture as a data: URL (data:image/png;base64,...), which every vendor takes",
    "gif_images": "send the picture as a PNG, JPEG or WebP, which every vendor takes",
}


def cannot_honour(missing: list[str]) -> str:
    """Why a target is passed over for the features ``missing`` that the call needs, with the fix where there is one:
    the words a cascade's skip and a plan's (``explain``'s) warning both say."""
    fixes = "".join(f"; {FEATURE_FIXES[need]}" for need in missing if need in FEATURE_FIXES)
    return f"cannot honour {', '.join(missing)} (the call needs it){fixes}"


def capabilities_for(caps: Capabilities, target: Target) -> Capabilities:
    """A target may declare what its server lacks: ``params: {capabilities: {tools: false}}``."""
    declared = target.param("capabilities") if target.params else None
    if isinstance(declared, dict):
        return replace(caps, **{k: bool(v) for k, v in declared.items() if k in CAPABILITY_NAMES})
    return caps
