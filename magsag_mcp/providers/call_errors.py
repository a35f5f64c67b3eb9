"""What :class:`~.base.HTTPProvider` tells an error of the call it failed: the provider and model it was for
(:func:`_stamp`: a transport error knows only the URL), the setting a base URL came from (:func:`_name_the_source`),
and the usage a 2xx body that was no answer reported (:func:`_reported_usage`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ProviderError
from ..transport import HttpResponse
from ..types import Target

if TYPE_CHECKING:
    from .endpoint import Endpoint
    from .wire_format import WireFormat


#: how a transport error's fix names the base URL, not knowing which setting it came from
_UNNAMED_SOURCE = "the provider's base URL"


def _name_the_source(exc: ProviderError, endpoint: Endpoint, target: Target) -> None:
    """A transport error's fix names the setting the base URL came from ("correct the host and port in the base URL
    (OLLAMA_HOST)"), which the transport does not know."""
    source = endpoint.base_url_source(target)
    if source == _UNNAMED_SOURCE:
        source = endpoint.unset_base_url() or ""
    if source:
        exc.message = exc.message.replace(_UNNAMED_SOURCE, f"the base URL ({source})")
        exc.args = (exc.message,)


def _stamp(exc: ProviderError, provider: str, model: str) -> ProviderError:
    if exc.provider is None:
        exc.provider = provider
    if exc.model is None:
        exc.model = model
    return exc


def _reported_usage(wire: WireFormat, resp: HttpResponse) -> Any:
    """The usage in a 2xx body that could not be parsed as an answer, or None."""
    try:
        data = resp.json()
    except ProviderError:
        return None
    usage = wire.usage_in(data) if isinstance(data, dict) else None
    return usage if usage is not None and usage.reported else None
