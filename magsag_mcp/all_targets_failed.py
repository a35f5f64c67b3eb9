"""``AllTargetsFailed``, the error of a call whose every target failed or was skipped: raised by the cascade, an
instance of *both* it and the last attempt's class (one class per last class, made on first use), so that ``except
RateLimitError`` still catches it; pickled as that class. It builds on the tree in :mod:`.errors`, which imports it
back: import it from there (``from magsag_mcp.errors import AllTargetsFailed``), as every module does."""

from __future__ import annotations

from typing import Any, ClassVar

from .errors import BudgetExceeded, InternalError, MagsagError, PolicyDenied, _rebuilt


class AllTargetsFailed(MagsagError):
    """Every candidate was tried or skipped and none answered.

    Use :meth:`build`: the instance is also of the last attempt's error class.
    """

    kind = "all_targets_failed"
    # named where it is imported from, in a traceback too (the combined classes below as well)
    __module__ = "magsag_mcp.errors"
    _combined: ClassVar[dict[type[BaseException], type[AllTargetsFailed]]] = {}

    attempts: list[Any]
    last_error: BaseException | None

    @classmethod
    def build(cls, message: str, *, attempts: list[Any], last_error: BaseException | None) -> AllTargetsFailed:
        if not isinstance(last_error, MagsagError) or isinstance(last_error, AllTargetsFailed):
            err = cls(message)
        else:
            combined = cls._combined_with(type(last_error))
            err = combined.__new__(combined)
            MagsagError.__init__(err, message)
            # Carry the last error's provider fields so `except RateLimitError as e: e.retry_after` works.
            for attr in ("provider", "model", "status", "retry_after", "policy"):
                if hasattr(last_error, attr):
                    setattr(err, attr, getattr(last_error, attr))
            err.details.update({k: v for k, v in last_error.details.items() if k not in err.details})
        err.attempts = attempts
        err.last_error = last_error
        err.details["last_error_type"] = getattr(last_error, "kind", type(last_error).__name__) if last_error else None
        return err

    @classmethod
    def _combined_with(cls, base: type[MagsagError]) -> type[AllTargetsFailed]:
        """The class of an AllTargetsFailed whose last error was a ``base``: one per base, made on first use."""
        combined = cls._combined.get(base)
        if combined is None:
            # A refusal by governance keeps its own kind: the call was stopped by policy, not by providers; and so
            # does a bug of ours, which stopped it as none of the targets did.
            kind = base.kind if issubclass(base, PolicyDenied | BudgetExceeded | InternalError) else cls.kind
            combined = type(
                f"AllTargetsFailed[{base.__name__}]", (cls, base), {"kind": kind, "__module__": cls.__module__}
            )
            cls._combined[base] = combined
        return combined

    def __reduce__(self) -> tuple[Any, ...]:
        # A combined class is made at run time and cannot be found by name: it is pickled as its base.
        base = next((b for b in type(self).__bases__ if b is not AllTargetsFailed), None)
        if base is None:
            return super().__reduce__()
        return (_rebuilt_all_failed, (base, self.message), self.__dict__)

    def to_dict(self) -> dict[str, Any]:
        data = MagsagError.to_dict(self)
        data["type"] = self.kind
        # the wait the last provider asked for (a 429's Retry-After), as its own error says it: the call was
        # not retried (past the cap or the deadline), and a client of the MCP server or the CLI sees only this
        retry_after = getattr(self, "retry_after", None)
        if retry_after is not None:
            data["retry_after"] = retry_after
        data["attempts"] = [a.to_dict() if hasattr(a, "to_dict") else a for a in self.attempts]
        return data


def _rebuilt_all_failed(base: type[MagsagError], message: str) -> MagsagError:
    return _rebuilt(AllTargetsFailed._combined_with(base), message)
