"""What an attempt has sent: the evidence the cascade reads, once an attempt has ended without its answer, of whether
any of its request may have reached the network (and so may be billed)."""

from __future__ import annotations

from typing import Any

from .deadline import attempt_in_force

__all__ = ["Sends", "sending"]


class Sends:
    """Whether an attempt has handed a request to the network yet. The cascade gives a fresh one to the
    :class:`~.deadline.Deadline` around each attempt (:func:`~.deadline.attempt_in_force` finds it); the transport
    marks it as it sends (:func:`sending`), and its connector where it waits for a connection and where it opens one
    (``resolver.BoundedConnector``; a pooled connection taken at once is not marked). A bug of ours that ends an
    attempt before it was marked (while its body was built) sent nothing, and nothing can be billed for it; nor for
    one that ended while its requests still waited for a connection (a pool full of other calls' requests, a
    connection being opened): none of its bytes had left."""

    __slots__ = ("began", "connecting", "connected", "body")

    def __init__(self) -> None:
        #: a request was handed to aiohttp, which may write it
        self.began = False
        #: the transport's own connector took one of its requests: it says when a connection is given
        self.connecting = False
        #: one of its requests was given a connection, on which it may have been written
        self.connected = False
        #: the JSON body of the last request handed to aiohttp (a request a model refused a setting of is sent again
        #: without it: the last is the one answered), None before any: what the attempt's OpenTelemetry span says it
        #: asked (``gen_ai.request.*``, read only where the call is traced: see otel_requests.py)
        self.body: Any = None

    @property
    def left(self) -> bool:
        """Whether any of the attempt's requests may have left: handed to aiohttp and, where the transport's connector
        tells, given a connection (a session of a test's own, whose connector tells nothing, is taken at its word)."""
        return self.began and (self.connected or not self.connecting)


def sending(body: Any = None) -> None:
    """Mark the attempt under way as sent, with the JSON ``body`` it sends: called just before a request is handed to
    aiohttp, which may write it. (The body is kept, not read: a reference, what its span reads once the call ends.)"""
    sends = attempt_in_force()  # (None outside an attempt: a probe, a caller of the transport's own)
    if sends is not None:
        sends.began = True
        sends.body = body
